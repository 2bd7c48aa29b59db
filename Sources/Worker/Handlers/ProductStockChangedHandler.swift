// PRODUCT_STOCK_CHANGED (lua/catalog.lua, `restock`) → one `product_stock_changes` row (migration 4), so
// PostgreSQL knows each product's supply: initial_stock + Σ delta.
// data: {"productId", "eventId", "delta", "stockAfter"}.
import Persistence

public struct ProductStockChangedHandler: OutboxEventHandler {
    public init() {}

    public var eventType: String { "PRODUCT_STOCK_CHANGED" }

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(), products = PostgresArrayLiteral(), deltas = PostgresArrayLiteral()
        var after = PostgresArrayLiteral(), times = PostgresArrayLiteral()
        for event in events {
            let row = try row(event)
            ids.append(text: event.id)
            products.append(text: row.productID)
            deltas.append(integer: row.delta)
            after.append(integer: row.stockAfter)
            times.append(integer: event.atMilliseconds)
        }
        return try db.query("""
            INSERT INTO product_stock_changes (id, product_id, delta, stock_after, created_at)
            SELECT t.id, t.product_id, t.delta, t.stock_after, 'epoch'::timestamptz + t.at_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(id, product_id, delta, stock_after, at_ms)
            ON CONFLICT (id) DO NOTHING
            """, [ids, products, deltas, after, times]).affectedRows
    }

    private func row(_ event: OutboxEvent) throws -> (productID: String?, delta: Int64?, stockAfter: Int64?) {
        (try Payload.text(event.data, "productId"), try Payload.integer(event.data, "delta"), try Payload.integer(event.data, "stockAfter"))
    }
}
