// Coupons in PostgreSQL (migration 6): the definitions, and the issues the worker wrote.
import Inventory
import JSON
import Persistence
import Runtime

struct StoredCoupon {
    let id: String
    let draft: CouponDraft

    /// The API's coupon, with `remaining` as Redis holds it now.
    func json(remaining: Int64) -> JSONValue {
        ["couponId": .string(id), "name": .string(draft.name), "discountType": .string(draft.discountType),
         "discountValue": .int(draft.discountValue), "quantity": .int(draft.quantity), "remaining": .int(remaining),
         "validFrom": draft.validFromMs.map { .string(Timestamp.rfc3339(millis: $0)) } ?? .null,
         "validUntil": draft.validUntilMs.map { .string(Timestamp.rfc3339(millis: $0)) } ?? .null,
         "minOrderAmount": .int(draft.minOrderAmount)]
    }
}

enum CouponStore {
    private static let columns = """
        id, name, discount_type, discount_value, quantity, min_order_amount,
        (extract(epoch FROM valid_from) * 1000)::bigint AS from_ms, (extract(epoch FROM valid_until) * 1000)::bigint AS until_ms
        """

    static func insert(_ coupon: StoredCoupon, _ db: PostgresConnection) throws {
        let d = coupon.draft
        try db.query("""
            INSERT INTO coupons (id, name, discount_type, discount_value, quantity, valid_from, valid_until, min_order_amount)
            VALUES ($1, $2, $3, $4, $5, 'epoch'::timestamptz + $6::bigint * interval '1 millisecond',
                    'epoch'::timestamptz + $7::bigint * interval '1 millisecond', $8)
            """, [coupon.id, d.name, d.discountType, d.discountValue, d.quantity, d.validFromMs, d.validUntilMs, d.minOrderAmount])
    }

    static func delete(id: String, _ db: PostgresConnection) throws {
        try db.query("DELETE FROM coupons WHERE id = $1", [id])
    }

    static func find(ids: [String], _ db: PostgresConnection) throws -> [StoredCoupon] {
        guard !ids.isEmpty else { return [] }
        return try db.query("SELECT \(columns) FROM coupons WHERE id = ANY($1::text[])", [ids]).map(decode)
    }

    static func all(_ db: PostgresConnection) throws -> [StoredCoupon] {
        try db.query("SELECT \(columns) FROM coupons").map(decode)
    }

    /// The coupons the worker has recorded as issued to `userID`: couponId → issued at (ms).
    static func issued(to userID: String, _ db: PostgresConnection) throws -> [String: Int64] {
        var issued: [String: Int64] = [:]
        for row in try db.query("""
            SELECT coupon_id, (extract(epoch FROM issued_at) * 1000)::bigint AS at FROM coupon_issues WHERE user_id = $1
            """, [userID]) {
            issued[try row.string("coupon_id")] = try row.int64("at")
        }
        return issued
    }

    private static func decode(_ row: PostgresRow) throws -> StoredCoupon {
        StoredCoupon(id: try row.string("id"), draft: CouponDraft(
            name: try row.string("name"), discountType: try row.string("discount_type"), discountValue: try row.int64("discount_value"),
            quantity: try row.int64("quantity"), validFromMs: try row.isNull("from_ms") ? nil : try row.int64("from_ms"),
            validUntilMs: try row.isNull("until_ms") ? nil : try row.int64("until_ms"), minOrderAmount: try row.int64("min_order_amount")))
    }
}

/// Coupon ids: `cpn_` and 24 hex digits.
enum CouponID {
    static func make() -> String { ResourceID.make("cpn_") }
    static func isWellFormed(_ id: String) -> Bool { ResourceID.isWellFormed(id, prefix: "cpn_") }
}
