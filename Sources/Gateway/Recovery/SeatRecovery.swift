// `floodgate recover`, concerts: every performance's facts, and its seats as PostgreSQL knows them — SOLD
// for CONFIRMED reservations, HELD for HELD ones whose hold still runs (with their reservation hash, their
// deadline in the holds ZSET, so the sweepers expire them on time), AVAILABLE otherwise — and each user's
// reservations per performance, which the per-user limit counts. HELD rows already past their deadline
// become EXPIRED in PostgreSQL too. Sets, never adds: running it twice changes nothing.
import JSON
import Persistence
import Queue
import Runtime

enum SeatRecovery {
    static func run(_ db: PostgresConnection, _ redis: RedisBlockingConnection, _ report: inout Recovery.Report) throws {
        try db.query("UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE status = 'HELD' AND expires_at <= now()")
        var commands: [[String]] = []
        for performance in try ConcertStore.allPerformances(db) {
            commands.append(performance.factsCommand)
            commands.append(["DEL", EventKeys(eventID: performance.eventID).seats(performance.id)])
            report.performances += 1
        }
        let rows = try db.query("""
            SELECT reservation_id, performance_id, event_id, seat_no, user_id, amount, status, payment_id, discount_amount, paid_amount,
                   (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms,
                   (extract(epoch FROM paid_at) * 1000)::bigint AS paid_ms
            FROM reservations WHERE status = 'CONFIRMED' OR (status = 'HELD' AND expires_at > now())
            """)
        // Each user's reservations of a performance are rebuilt whole: cleared once, then filled.
        var cleared = Set<String>()
        for row in rows {
            let id = try row.string("reservation_id"), performanceID = try row.string("performance_id")
            let eventID = try row.string("event_id"), userID = try row.string("user_id"), seatNo = try row.int64("seat_no")
            let status = try row.string("status"), expires = try row.int64("expires_ms")
            let keys = EventKeys(eventID: eventID)
            var record: JSONObject = ["reservationId": .string(id), "eventId": .string(eventID), "performanceId": .string(performanceID),
                                      "seatNo": .int(seatNo), "userId": .string(userID), "amount": .int(try row.int64("amount")),
                                      "createdAt": .int(try row.int64("created_ms")), "expiresAt": .int(expires)]
            let mine = keys.seatsOfUser(performanceID, userID)
            if cleared.insert(mine).inserted { commands.append(["DEL", mine]) }
            if status == "CONFIRMED" {
                let paymentID = try row.isNull("payment_id") ? "" : try row.string("payment_id")
                let paidAt = try row.isNull("paid_ms") ? 0 : try row.int64("paid_ms")
                record["paymentId"] = .string(paymentID)
                record["paidAt"] = .int(paidAt)
                record["discountAmount"] = .int(try row.int64("discount_amount"))
                record["paidAmount"] = .int(try row.int64("paid_amount"))
                commands.append(["HSET", keys.reservation(id), "user", userID, "status", "CONFIRMED", "record", JSONValue.object(record).jsonText,
                                 "paymentId", paymentID, "paidAt", String(paidAt)])
                commands.append(["HSET", keys.seats(performanceID), String(seatNo), "SOLD \(id)"])
                commands.append(["ZADD", mine, "+inf", id])
            } else {
                commands.append(["HSET", keys.reservation(id), "user", userID, "status", "HELD", "record", JSONValue.object(record).jsonText])
                commands.append(["HSET", keys.seats(performanceID), String(seatNo), "HELD \(id) \(expires)"])
                commands.append(["ZADD", mine, String(expires), id])
                commands.append(["ZADD", keys.holds, String(expires), id])
            }
            report.reservations += 1
            if commands.count >= 1_000 {
                try Recovery.send(commands, redis)
                commands.removeAll()
            }
        }
        if !commands.isEmpty { try Recovery.send(commands, redis) }
    }
}
