// ORDER_PLACED, ORDER_PAID and ORDER_RELEASED (order_place.lua, order_confirm.lua, order_release.lua)
// → `orders` and `order_items` (migration 5). Each event carries the whole order record, so they may be
// written in any order: the first inserts, and a status moves on from PENDING_PAYMENT only once.
// data: {"orderId", "eventId", "userId", "items": [{"productId", "quantity", "unitPrice"}], "totalAmount",
//        "createdAt", "expiresAt", and "paymentId", "paidAt", "discountAmount", "couponId" (PAID) or "status"
//        (RELEASED)}.
import JSON
import Persistence

public struct OrderEventHandler: OutboxEventHandler {
    public let eventType: String

    public static let placed = OrderEventHandler(eventType: "ORDER_PLACED")
    public static let paid = OrderEventHandler(eventType: "ORDER_PAID")
    public static let released = OrderEventHandler(eventType: "ORDER_RELEASED")

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(), eventIDs = PostgresArrayLiteral(), users = PostgresArrayLiteral()
        var statuses = PostgresArrayLiteral(), totals = PostgresArrayLiteral(), payments = PostgresArrayLiteral()
        var created = PostgresArrayLiteral(), expires = PostgresArrayLiteral(), paid = PostgresArrayLiteral()
        var discounts = PostgresArrayLiteral(), coupons = PostgresArrayLiteral()
        var itemOrders = PostgresArrayLiteral(), itemProducts = PostgresArrayLiteral()
        var itemQuantities = PostgresArrayLiteral(), itemPrices = PostgresArrayLiteral()
        for event in events {
            let row = try row(event)
            ids.append(text: row.id)
            eventIDs.append(text: row.eventID)
            users.append(text: row.userID)
            statuses.append(text: row.status)
            totals.append(integer: row.total)
            payments.append(text: row.paymentID)
            created.append(integer: row.createdAt)
            expires.append(integer: row.expiresAt)
            paid.append(integer: row.paidAt)
            discounts.append(integer: row.discount)
            coupons.append(text: row.couponID)
            for item in row.items {
                itemOrders.append(text: row.id)
                itemProducts.append(text: item.0)
                itemQuantities.append(integer: item.1)
                itemPrices.append(integer: item.2)
            }
        }
        let written = try db.query("""
            INSERT INTO orders (id, event_id, user_id, status, total_amount, paid_amount, discount_amount, coupon_id, payment_id,
                                created_at, expires_at, paid_at)
            SELECT t.id, t.event_id, t.user_id, t.status, t.total,
                   CASE WHEN t.status = 'PAID' THEN t.total - coalesce(t.discount, 0) ELSE 0 END,
                   CASE WHEN t.status = 'PAID' THEN coalesce(t.discount, 0) ELSE 0 END, t.coupon_id, t.payment_id,
                   'epoch'::timestamptz + t.created_ms * interval '1 millisecond',
                   'epoch'::timestamptz + t.expires_ms * interval '1 millisecond',
                   'epoch'::timestamptz + t.paid_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],
                        $10::bigint[], $11::text[])
                 AS t(id, event_id, user_id, status, total, payment_id, created_ms, expires_ms, paid_ms, discount, coupon_id)
            ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, paid_amount = EXCLUDED.paid_amount,
                discount_amount = EXCLUDED.discount_amount, coupon_id = EXCLUDED.coupon_id,
                payment_id = EXCLUDED.payment_id, paid_at = EXCLUDED.paid_at, updated_at = now()
            WHERE orders.status = 'PENDING_PAYMENT' AND EXCLUDED.status <> 'PENDING_PAYMENT'
            """, [ids, eventIDs, users, statuses, totals, payments, created, expires, paid, discounts, coupons]).affectedRows
        try db.query("""
            INSERT INTO order_items (order_id, product_id, quantity, unit_price)
            SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
            ON CONFLICT DO NOTHING
            """, [itemOrders, itemProducts, itemQuantities, itemPrices])
        return written
    }

    private struct Row {
        var id: String, eventID: String?, userID: String?, status: String, total: Int64?, paymentID: String?
        var createdAt: Int64?, expiresAt: Int64?, paidAt: Int64?, discount: Int64?, couponID: String?
        var items: [(String, Int64, Int64)]
    }

    private func row(_ event: OutboxEvent) throws -> Row {
        let data = event.data
        guard let id = try Payload.text(data, "orderId") else { throw OutboxDecodeError("missing data.orderId") }
        let status: String
        switch eventType {
        case "ORDER_PLACED": status = "PENDING_PAYMENT"
        case "ORDER_PAID": status = "PAID"
        default: status = try Payload.text(data, "status") ?? "EXPIRED"
        }
        guard case .array(let rawItems)? = data["items"] else { throw OutboxDecodeError("data.items must be an array") }
        var items: [(String, Int64, Int64)] = []
        for raw in rawItems {
            guard case .object(let item) = raw, let product = try Payload.text(item, "productId"),
                  let quantity = try Payload.integer(item, "quantity"), let price = try Payload.integer(item, "unitPrice") else {
                throw OutboxDecodeError("data.items holds an item without productId, quantity or unitPrice")
            }
            items.append((product, quantity, price))
        }
        return Row(id: id, eventID: try Payload.text(data, "eventId"), userID: try Payload.text(data, "userId"), status: status,
                   total: try Payload.integer(data, "totalAmount"), paymentID: try Payload.text(data, "paymentId"),
                   createdAt: try Payload.integer(data, "createdAt"), expiresAt: try Payload.integer(data, "expiresAt"),
                   paidAt: try Payload.integer(data, "paidAt"), discount: try Payload.integer(data, "discountAmount"),
                   couponID: try Payload.text(data, "couponId"), items: items)
    }
}
