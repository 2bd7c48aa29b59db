// GET /reservations: the bearer's reservations, newest first, read-your-writes (like OrderHistory).
// PostgreSQL has every reservation the worker has written; the user's recent-reservations index in Redis
// (written before the hold answers) has the ones made since, whose live state is read from their event's
// reservation hash. The two are merged by id, Redis's state winning (it is never older). A live hold past
// its deadline is released on the way (LapsedHolds) and shown EXPIRED. The cursor is base64url of
// "<createdAtMs>|<reservationId>".
import Foundation
import Inventory
import JSON
import Persistence
import Queue
import Runtime

enum ReservationHistory {
    static let defaultLimit = 50
    static let maxLimit = 100
    static let recentKept = 100
    static let recentTTLSeconds = 86_400

    struct Entry {
        let createdAt: Int64
        let id: String
        let body: JSONValue
    }

    /// Adds a just-made reservation to the user's recent index, then calls `next` (whatever the outcome:
    /// the reservation exists either way and reaches PostgreSQL through the worker).
    static func remember(_ request: APIRequest, _ record: ReservationRecord, then next: @escaping () -> Void) {
        let key = UserKeys(userID: record.userID).recentReservations
        request.redis.send(["ZADD", key, String(record.createdAtMs), record.reservationID]) { _ in }
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
                        for entry in rows { byID[entry.id] = entry }
                        for entry in live { byID[entry.id] = entry }
                        let sorted = byID.values.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
                        let page = sorted.prefix(limit)
                        let next = sorted.count > limit ? page.last.map { encodeCursor($0.createdAt, $0.id) } : nil
                        request.respond(200, json: ["items": .array(page.map(\.body)), "nextCursor": next.map { .string($0) } ?? .null])
                    }
                }
            }
        }
    }

    /// The user's recent reservations from Redis, older than `before`, with lapsed holds released.
    private static func recent(_ request: APIRequest, userID: String, before: (Int64, String)?, limit: Int,
                               _ next: @escaping ([Entry]) -> Void) {
        let key = UserKeys(userID: userID).recentReservations
        request.redis.send(["ZREVRANGEBYSCORE", key, before.map { String($0.0) } ?? "+inf", "-inf", "WITHSCORES",
                            "LIMIT", "0", String(limit + 1)]) { result in
            guard case .success(.array(let flat)) = result else { return next([]) }
            var ids: [String] = []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let id = flat[i].string, let at = flat[i + 1].int, before.map({ (at, id) < $0 }) ?? true, ReservationID.eventID(of: id) != nil {
                    ids.append(id)
                }
            }
            guard !ids.isEmpty else { return next([]) }
            let commands = [["TIME"]] + ids.map { ["HMGET", EventKeys(eventID: ReservationID.eventID(of: $0)!).reservation($0), "status", "record"] }
            request.pipeline(commands) { replies in
                guard case .success(let values) = replies, let now = ConcertRoutes.milliseconds(values[0]) else { return next([]) }
                var shown: [(ReservationRecord, String)] = []
                for value in values.dropFirst() {
                    guard let fields = value.array, fields.count == 2, let status = fields[0].string,
                          let record = fields[1].string.flatMap(ReservationRecord.init(json:)) else { continue }
                    shown.append((record, status))
                }
                let lapsed = shown.filter { $0.1 == "HELD" && $0.0.expiresAtMs <= now }.map(\.0)
                let finish = {
                    next(shown.map { record, status in
                        let current = status == "HELD" && record.expiresAtMs <= now ? "EXPIRED" : status
                        return Entry(createdAt: record.createdAtMs, id: record.reservationID, body: ReservationRoutes.body(record, status: current))
                    })
                }
                // Each lapsed hold is released under its own event's tag.
                var remaining = lapsed.count
                guard remaining > 0 else { return finish() }
                for record in lapsed {
                    LapsedHolds.release(request, eventID: record.eventID, [record.reservationID]) {
                        remaining -= 1
                        if remaining == 0 { finish() }
                    }
                }
            }
        }
    }

    /// The user's reservations in PostgreSQL, older than `before`. A HELD row past its deadline shows
    /// EXPIRED: the hold is over whether or not its release has reached PostgreSQL yet.
    static func stored(userID: String, before: (Int64, String)?, limit: Int, _ db: PostgresConnection) throws -> [Entry] {
        let rows = try db.query("""
            SELECT reservation_id, performance_id, event_id, seat_no, amount, payment_id, discount_amount, paid_amount,
                   CASE WHEN status = 'HELD' AND expires_at <= now() THEN 'EXPIRED' ELSE status END AS shown,
                   (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms,
                   (extract(epoch FROM paid_at) * 1000)::bigint AS paid_ms
            FROM reservations
            WHERE user_id = $1 AND ($2::bigint IS NULL OR (created_at, reservation_id) < ('epoch'::timestamptz + $2::bigint * interval '1 millisecond', $3::text))
            ORDER BY created_at DESC, reservation_id DESC LIMIT $4
            """, [userID, before?.0, before?.1, limit + 1])
        return try rows.map { row in
            let id = try row.string("reservation_id"), status = try row.string("shown"), created = try row.int64("created_ms")
            var body: JSONObject = ["reservationId": .string(id), "performanceId": .string(try row.string("performance_id")),
                                    "concertId": .string(try row.string("event_id")), "seatNo": .int(try row.int64("seat_no")),
                                    "amount": .int(try row.int64("amount")), "status": .string(status),
                                    "createdAt": .string(Timestamp.rfc3339(millis: created))]
            if status == "HELD" { body["expiresAt"] = .string(Timestamp.rfc3339(millis: try row.int64("expires_ms"))) }
            if status == "CONFIRMED" {
                if !(try row.isNull("paid_ms")) { body["paidAt"] = .string(Timestamp.rfc3339(millis: try row.int64("paid_ms"))) }
                if !(try row.isNull("payment_id")) { body["paymentId"] = .string(try row.string("payment_id")) }
                body["discountAmount"] = .int(try row.int64("discount_amount"))
                body["paidAmount"] = .int(try row.int64("paid_amount"))
            }
            return Entry(createdAt: created, id: id, body: .object(body))
        }
    }

    static func encodeCursor(_ createdAt: Int64, _ reservationID: String) -> String {
        SecureRandom.base64URL(Array("\(createdAt)|\(reservationID)".utf8))
    }

    static func decodeCursor(_ cursor: String) -> (Int64, String)? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.count <= 200, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|")
        guard parts.count == 2, let at = Int64(parts[0]), ReservationID.eventID(of: String(parts[1])) != nil else { return nil }
        return (at, String(parts[1]))
    }
}
