// COUPON_USED (lua/coupon_settle.lua) → the user's `coupon_issues` row becomes USED, with the payment,
// what it paid for and the discount (migration 7). data: {"couponId", "userId", "paymentId", "ref",
// "discountAmount", "usedAt", "issuedAt"}. An upsert: the issue's own row (COUPON_ISSUED, earlier in the
// same stream) may be written in the same batch after this one, and its insert never undoes USED.
import Persistence

public struct CouponUsedHandler: OutboxEventHandler {
    public init() {}

    public var eventType: String { "COUPON_USED" }

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(), coupons = PostgresArrayLiteral(), users = PostgresArrayLiteral()
        var payments = PostgresArrayLiteral(), refs = PostgresArrayLiteral(), discounts = PostgresArrayLiteral()
        var used = PostgresArrayLiteral(), issued = PostgresArrayLiteral()
        for event in events {
            let row = try row(event)
            ids.append(text: "iss_\(row.couponID)_\(row.userID)")
            coupons.append(text: row.couponID)
            users.append(text: row.userID)
            payments.append(text: row.paymentID)
            refs.append(text: row.ref)
            discounts.append(integer: row.discount)
            used.append(integer: row.usedAt ?? event.atMilliseconds)
            issued.append(integer: row.issuedAt ?? row.usedAt ?? event.atMilliseconds)
        }
        return try db.query("""
            INSERT INTO coupon_issues (id, coupon_id, user_id, status, issued_at, used_at, payment_id, ref, discount_amount)
            SELECT t.id, t.coupon_id, t.user_id, 'USED', 'epoch'::timestamptz + t.issued_ms * interval '1 millisecond',
                   'epoch'::timestamptz + t.used_ms * interval '1 millisecond', t.payment_id, t.ref, t.discount
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
                 AS t(id, coupon_id, user_id, payment_id, ref, discount, used_ms, issued_ms)
            ON CONFLICT (id) DO UPDATE SET status = 'USED', used_at = EXCLUDED.used_at, payment_id = EXCLUDED.payment_id,
                ref = EXCLUDED.ref, discount_amount = EXCLUDED.discount_amount
            WHERE coupon_issues.status = 'ISSUED'
            """, [ids, coupons, users, payments, refs, discounts, used, issued]).affectedRows
    }

    private struct Row {
        var couponID: String, userID: String, paymentID: String, ref: String?, discount: Int64?, usedAt: Int64?, issuedAt: Int64?
    }

    private func row(_ event: OutboxEvent) throws -> Row {
        let data = event.data
        guard let couponID = try Payload.text(data, "couponId"), let userID = try Payload.text(data, "userId"),
              let paymentID = try Payload.text(data, "paymentId") else {
            throw OutboxDecodeError("COUPON_USED needs data.couponId, data.userId and data.paymentId")
        }
        return Row(couponID: couponID, userID: userID, paymentID: paymentID, ref: try Payload.text(data, "ref"),
                   discount: try Payload.integer(data, "discountAmount"), usedAt: try Payload.integer(data, "usedAt"),
                   issuedAt: try Payload.integer(data, "issuedAt"))
    }
}
