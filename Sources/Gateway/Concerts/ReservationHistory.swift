// GET /reservations: the bearer's reservations, newest first, read-your-writes (HistoryPage): the user's
// recent-reservations index in Redis, whose live state is read from their events' reservation hashes,
// merged with PostgreSQL. A live hold past its deadline is released on the way (LapsedHolds) and shown
// EXPIRED.
import Foundation
import Inventory
import JSON
import Persistence
import Queue
import Runtime

enum ReservationHistory {
    typealias Entry = HistoryEntry

    static let page = HistoryPage(recentKey: { UserKeys(userID: $0).recentReservations },
                                  isWellFormed: { ReservationID.eventID(of: $0) != nil }, defaultLimit: 50)

    /// Adds a just-made reservation to the user's recent index, then calls `next`.
    static func remember(_ request: APIRequest, _ record: ReservationRecord, then next: @escaping () -> Void) {
        page.remember(request, userID: record.userID, createdAt: record.createdAtMs, id: record.reservationID, then: next)
    }

    static func handle(_ request: APIRequest) throws {
        try page.respond(request, live: { ids, next in recent(request, ids, next) }, stored: { userID, before, limit, db in
            try stored(userID: userID, before: before, limit: limit, db)
        })
    }

    /// The live state of the user's recent reservations, with lapsed holds released.
    private static func recent(_ request: APIRequest, _ ids: [String], _ next: @escaping ([Entry]) -> Void) {
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
}
