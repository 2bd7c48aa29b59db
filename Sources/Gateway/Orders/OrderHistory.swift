// GET /orders: the bearer's orders, newest first, read-your-writes (HistoryPage): the user's recent-orders
// index in Redis, whose live state is read from their events' order hashes, merged with PostgreSQL.
import Foundation
import Inventory
import JSON
import Persistence
import Queue
import Runtime

enum OrderHistory {
    typealias Entry = HistoryEntry

    static let page = HistoryPage(recentKey: { UserKeys(userID: $0).recentOrders }, isWellFormed: { OrderID.eventID(of: $0) != nil },
                                  defaultLimit: 20)

    /// Adds a just-placed order to the user's recent index, then calls `next`.
    static func remember(_ request: APIRequest, _ record: OrderRecord, then next: @escaping () -> Void) {
        page.remember(request, userID: record.userID, createdAt: record.createdAtMs, id: record.orderID, then: next)
    }

    static func handle(_ request: APIRequest) throws {
        try page.respond(request, live: { ids, next in recent(request, ids, next) }, stored: { userID, before, limit, db in
            try stored(userID: userID, before: before, limit: limit, db)
        })
    }

    /// The live state of the user's recent orders, from their events' order hashes.
    private static func recent(_ request: APIRequest, _ ids: [String], _ next: @escaping ([Entry]) -> Void) {
        let commands = ids.map { ["HMGET", EventKeys(eventID: OrderID.eventID(of: $0)!).order($0), "status", "record"] }
        request.pipeline(commands) { replies in
            guard case .success(let values) = replies else { return next([]) }
            var entries: [Entry] = []
            for value in values {
                guard let fields = value.array, fields.count == 2, let status = fields[0].string,
                      let record = fields[1].string.flatMap(OrderRecord.init(json:)) else { continue }
                entries.append(Entry(createdAt: record.createdAtMs, id: record.orderID, body: OrderRoutes.body(record, status: status)))
            }
            next(entries)
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
            return Entry(createdAt: try row.int64("created_ms"), id: id, body: .object(body))
        }
    }
}
