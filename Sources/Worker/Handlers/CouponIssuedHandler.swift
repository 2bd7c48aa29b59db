// COUPON_ISSUED (lua/coupon_issue.lua) → one `coupon_issues` row (migration 6), keyed by the event id
// iss_<couponId>_<userId>. data: {"couponId", "userId", "issuedAt"}.
import Persistence

public struct CouponIssuedHandler: OutboxEventHandler {
    public init() {}

    public var eventType: String { "COUPON_ISSUED" }

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(), coupons = PostgresArrayLiteral(), users = PostgresArrayLiteral(), times = PostgresArrayLiteral()
        for event in events {
            let row = try row(event)
            ids.append(text: event.id)
            coupons.append(text: row.couponID)
            users.append(text: row.userID)
            times.append(integer: row.issuedAt ?? event.atMilliseconds)
        }
        return try db.query("""
            INSERT INTO coupon_issues (id, coupon_id, user_id, issued_at)
            SELECT t.id, t.coupon_id, t.user_id, 'epoch'::timestamptz + t.at_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(id, coupon_id, user_id, at_ms)
            ON CONFLICT DO NOTHING
            """, [ids, coupons, users, times]).affectedRows
    }

    private func row(_ event: OutboxEvent) throws -> (couponID: String?, userID: String?, issuedAt: Int64?) {
        (try Payload.text(event.data, "couponId"), try Payload.text(event.data, "userId"), try Payload.integer(event.data, "issuedAt"))
    }
}
