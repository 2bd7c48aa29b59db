// RESERVATION_HELD, RESERVATION_RELEASED and RESERVATION_CONFIRMED (seat_hold.lua, seat_release.lua,
// reservation_confirm.lua) → `reservations` (migration 8). Each event carries the whole reservation, so
// whichever is written first inserts the row; a status moves on from HELD once (to RELEASED, EXPIRED or
// CONFIRMED) and never back, so redelivery and any order of writing end in the same row.
// data: {"reservationId", "eventId", "performanceId", "seatNo", "userId", "amount", "createdAt", "expiresAt",
//        and "status" (RELEASED: RELEASED or EXPIRED) or "paymentId", "paidAt", "discountAmount", "paidAmount" (CONFIRMED)}.
import JSON
import Persistence

public struct ReservationEventHandler: OutboxEventHandler {
    public let eventType: String

    public static let held = ReservationEventHandler(eventType: "RESERVATION_HELD")
    public static let released = ReservationEventHandler(eventType: "RESERVATION_RELEASED")
    public static let confirmed = ReservationEventHandler(eventType: "RESERVATION_CONFIRMED")

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        // One row per reservation in one statement (ON CONFLICT DO UPDATE may not touch a row twice); a
        // redelivered duplicate carries the same state.
        var rows: [String: Row] = [:]
        for event in events {
            let row = try row(event)
            rows[row.id] = row
        }
        var ids = PostgresArrayLiteral(), performances = PostgresArrayLiteral(), eventIDs = PostgresArrayLiteral()
        var seats = PostgresArrayLiteral(), users = PostgresArrayLiteral(), amounts = PostgresArrayLiteral()
        var statuses = PostgresArrayLiteral(), expires = PostgresArrayLiteral(), paid = PostgresArrayLiteral()
        var payments = PostgresArrayLiteral(), discounts = PostgresArrayLiteral(), paidAmounts = PostgresArrayLiteral()
        var created = PostgresArrayLiteral()
        for row in rows.values {
            ids.append(text: row.id)
            performances.append(text: row.performanceID)
            eventIDs.append(text: row.eventID)
            seats.append(integer: row.seatNo)
            users.append(text: row.userID)
            amounts.append(integer: row.amount)
            statuses.append(text: row.status)
            expires.append(integer: row.expiresAt)
            paid.append(integer: row.paidAt)
            payments.append(text: row.paymentID)
            discounts.append(integer: row.discountAmount ?? 0)
            paidAmounts.append(integer: row.paidAmount ?? 0)
            created.append(integer: row.createdAt)
        }
        return try db.query("""
            INSERT INTO reservations (reservation_id, performance_id, event_id, seat_no, user_id, amount, status, expires_at,
                                      paid_at, payment_id, discount_amount, paid_amount, created_at)
            SELECT t.id, t.performance_id, t.event_id, t.seat_no, t.user_id, t.amount, t.status,
                   'epoch'::timestamptz + t.expires_ms * interval '1 millisecond',
                   'epoch'::timestamptz + t.paid_ms * interval '1 millisecond', t.payment_id, t.discount, t.paid_amount,
                   'epoch'::timestamptz + t.created_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[], $7::text[], $8::bigint[],
                        $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[])
                 AS t(id, performance_id, event_id, seat_no, user_id, amount, status, expires_ms, paid_ms, payment_id,
                      discount, paid_amount, created_ms)
            ON CONFLICT (reservation_id) DO UPDATE SET status = EXCLUDED.status, paid_at = EXCLUDED.paid_at,
                payment_id = EXCLUDED.payment_id, discount_amount = EXCLUDED.discount_amount,
                paid_amount = EXCLUDED.paid_amount, updated_at = now()
            WHERE reservations.status = 'HELD' AND EXCLUDED.status <> 'HELD'
            """, [ids, performances, eventIDs, seats, users, amounts, statuses, expires, paid, payments, discounts,
                  paidAmounts, created]).affectedRows
    }

    private struct Row {
        var id: String, performanceID: String?, eventID: String?, seatNo: Int64?, userID: String?, amount: Int64?
        var status: String, expiresAt: Int64?, paidAt: Int64?, paymentID: String?, discountAmount: Int64?
        var paidAmount: Int64?, createdAt: Int64?
    }

    private func row(_ event: OutboxEvent) throws -> Row {
        let data = event.data
        guard let id = try Payload.text(data, "reservationId") else { throw OutboxDecodeError("missing data.reservationId") }
        let status: String
        switch eventType {
        case "RESERVATION_HELD": status = "HELD"
        case "RESERVATION_CONFIRMED": status = "CONFIRMED"
        default: status = try Payload.text(data, "status") ?? "EXPIRED"
        }
        return Row(id: id, performanceID: try Payload.text(data, "performanceId"), eventID: try Payload.text(data, "eventId"),
                   seatNo: try Payload.integer(data, "seatNo"), userID: try Payload.text(data, "userId"),
                   amount: try Payload.integer(data, "amount"), status: status, expiresAt: try Payload.integer(data, "expiresAt"),
                   paidAt: try Payload.integer(data, "paidAt"), paymentID: try Payload.text(data, "paymentId"),
                   discountAmount: try Payload.integer(data, "discountAmount"), paidAmount: try Payload.integer(data, "paidAmount"),
                   createdAt: try Payload.integer(data, "createdAt"))
    }
}
