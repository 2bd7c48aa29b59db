// GET /orders: the bearer's orders, newest first, read-your-writes. PostgreSQL has every order the worker
// has written; the user's recent-orders index in Redis (written before POST /orders answers) has the ones
// placed since, whose live state is read from their event's order hash. The two are merged by order id,
// Redis's state winning (it is never older). The cursor is base64url of "<createdAtMs>|<orderId>".
import Foundation
import Inventory
import JSON
import Persistence
import Queue
import Runtime

enum OrderHistory {
    static let defaultLimit = 20
    static let maxLimit = 100
    static let recentKept = 100
    static let recentTTLSeconds = 86_400

    struct Entry {
        let createdAt: Int64
        let orderID: String
        let body: JSONValue
    }

    /// Adds a just-placed order to the user's recent index, then calls `next` (whatever the outcome: the
    /// order exists either way and reaches PostgreSQL through the worker).
    static func remember(_ request: APIRequest, _ record: OrderRecord, then next: @escaping () -> Void) {
        let key = UserKeys(userID: record.userID).recentOrders
        request.redis.send(["ZADD", key, String(record.createdAtMs), record.orderID]) { _ in }
        request.redis.send(["ZREMRANGEBYRANK", key, "0", String(-recentKept - 1)]) { _ in }
        request.redis.send(["EXPIRE", key, String(recentTTLSeconds)]) { _ in next() }
    }

    static func handle(_ request: APIRequest) throws {
        let limit = try request.queryInteger("limit", 1...maxLimit, default: defaultLimit)
        var before: (Int64, String)?
        if let cursor = request.query("cursor"), !cursor.isEmpty {
            guard let decoded = decodeCursor(cursor) else { throw APIError.validation("cursor", "cursor is not one this API issued") }
            before = decoded
        }
        Authenticator.authenticate(request) { userID in
            recent(request, userID: userID, before: before, limit: limit) { live in
                request.postgres({ db in try stored(userID: userID, before: before, limit: limit, db) }) { result in
                    switch result {
                    case .failure(let error): request.fail(error)
                    case .success(let rows):
                        var byID: [String: Entry] = [:]
                        for entry in rows { byID[entry.orderID] = entry }
                        for entry in live { byID[entry.orderID] = entry }
                        let sorted = byID.values.sorted { ($0.createdAt, $0.orderID) > ($1.createdAt, $1.orderID) }
                        let page = sorted.prefix(limit)
                        let next = sorted.count > limit ? page.last.map { encodeCursor($0.createdAt, $0.orderID) } : nil
                        request.respond(200, json: ["items": .array(page.map(\.body)), "nextCursor": next.map { .string($0) } ?? .null])
                    }
                }
            }
        }
    }

    /// The user's recent orders from Redis, older than `before`.
    private static func recent(_ request: APIRequest, userID: String, before: (Int64, String)?, limit: Int,
                               _ next: @escaping ([Entry]) -> Void) {
        let key = UserKeys(userID: userID).recentOrders
        request.redis.send(["ZREVRANGEBYSCORE", key, before.map { String($0.0) } ?? "+inf", "-inf", "WITHSCORES",
                            "LIMIT", "0", String(limit + 1)]) { result in
            guard case .success(.array(let flat)) = result else { return next([]) }
            var ids: [(String, Int64)] = []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let id = flat[i].string, let at = flat[i + 1].int, before.map({ (at, id) < $0 }) ?? true { ids.append((id, at)) }
            }
            let commands = ids.compactMap { id, _ in OrderID.eventID(of: id).map { ["HMGET", EventKeys(eventID: $0).order(id), "status", "record"] } }
            guard commands.count == ids.count, !commands.isEmpty else { return next([]) }
            request.pipeline(commands) { replies in
                guard case .success(let values) = replies else { return next([]) }
                var entries: [Entry] = []
                for value in values {
                    guard let fields = value.array, fields.count == 2, let status = fields[0].string,
                          let record = fields[1].string.flatMap(OrderRecord.init(json:)) else { continue }
                    entries.append(Entry(createdAt: record.createdAtMs, orderID: record.orderID, body: OrderRoutes.body(record, status: status)))
                }
                next(entries)
            }
        }
    }

    /// The user's orders in PostgreSQL, older than `before`, with their items.
    static func stored(userID: String, before: (Int64, String)?, limit: Int, _ db: PostgresConnection) throws -> [Entry] {
        let rows = try db.query("""
            SELECT id, event_id, status, total_amount, paid_amount, discount_amount, coupon_id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
                   (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms
            FROM orders
            WHERE user_id = $1 AND ($2::bigint IS NULL OR (created_at, id) < ('epoch'::timestamptz + $2::bigint * interval '1 millisecond', $3::text))
            ORDER BY created_at DESC, id DESC LIMIT $4
            """, [userID, before?.0, before?.1, limit + 1])
        return try entries(rows, db)
    }

    /// One order from PostgreSQL (nil when it is not there).
    static func stored(orderID: String, _ db: PostgresConnection) throws -> (userID: String, entry: Entry)? {
        let rows = try db.query("""
            SELECT id, event_id, user_id, status, total_amount, paid_amount, discount_amount, coupon_id, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
                   (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms
            FROM orders WHERE id = $1
            """, [orderID])
        guard let row = rows.first, let entry = try entries(rows, db).first else { return nil }
        return (try row.string("user_id"), entry)
    }

    private static func entries(_ rows: PostgresRows, _ db: PostgresConnection) throws -> [Entry] {
        guard !rows.isEmpty else { return [] }
        let ids = try rows.map { try $0.string("id") }
        var items: [String: [JSONValue]] = [:]
        for row in try db.query("SELECT order_id, product_id, quantity, unit_price FROM order_items WHERE order_id = ANY($1::text[]) ORDER BY product_id",
                                [ids]) {
            items[try row.string("order_id"), default: []].append(["productId": .string(try row.string("product_id")),
                                                                    "quantity": .int(try row.int64("quantity")),
                                                                    "unitPrice": .int(try row.int64("unit_price"))])
        }
        return try rows.map { row in
            let id = try row.string("id")
            let status = try row.string("status")
            var body: JSONObject = ["orderId": .string(id), "status": .string(status), "items": .array(items[id] ?? []),
                                    "totalAmount": .int(try row.int64("total_amount")), "discountAmount": .int(try row.int64("discount_amount")),
                                    "paidAmount": .int(try row.int64("paid_amount")), "eventId": .string(try row.string("event_id")),
                                    "createdAt": .string(Timestamp.rfc3339(millis: try row.int64("created_ms")))]
            if status == "PENDING_PAYMENT" { body["expiresAt"] = .string(Timestamp.rfc3339(millis: try row.int64("expires_ms"))) }
            if !(try row.isNull("coupon_id")) { body["couponId"] = .string(try row.string("coupon_id")) }
            return Entry(createdAt: try row.int64("created_ms"), orderID: id, body: .object(body))
        }
    }

    static func encodeCursor(_ createdAt: Int64, _ orderID: String) -> String {
        SecureRandom.base64URL(Array("\(createdAt)|\(orderID)".utf8))
    }

    static func decodeCursor(_ cursor: String) -> (Int64, String)? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.count <= 200, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|")
        guard parts.count == 2, let at = Int64(parts[0]), OrderID.eventID(of: String(parts[1])) != nil else { return nil }
        return (at, String(parts[1]))
    }
}
