// Products in PostgreSQL (migration 4): definitions, prices with their version, and the initial stock.
// The live stock is Redis's (lua/catalog.lua); PostgreSQL learns of stock changes through the outbox.
import Inventory
import JSON
import Persistence
import Runtime

struct StoredProduct {
    let id: String
    let eventID: String
    var name: String
    var price: Int64
    var initialStock: Int64
    var priceVersion: Int64

    /// The API's product, with `stock` as Redis holds it now.
    func json(stock: Int64) -> JSONValue {
        ["productId": .string(id), "name": .string(name), "price": .int(price), "stock": .int(stock), "eventId": .string(eventID)]
    }
}

enum ProductStore {
    /// The event every product without an event belongs to (created by migration 4, no queue).
    static let storeEventID = "evt_000000000000000000000001"

    private static let columns = "id, event_id, name, price, initial_stock, price_version"

    static func insert(_ product: StoredProduct, _ db: PostgresConnection) throws {
        try db.query("""
            INSERT INTO products (id, event_id, name, price, initial_stock, price_version) VALUES ($1, $2, $3, $4, $5, $6)
            """, [product.id, product.eventID, product.name, product.price, product.initialStock, product.priceVersion])
    }

    static func delete(id: String, _ db: PostgresConnection) throws {
        try db.query("DELETE FROM products WHERE id = $1", [id])
    }

    static func find(id: String, _ db: PostgresConnection) throws -> StoredProduct? {
        try db.query("SELECT \(columns) FROM products WHERE id = $1", [id]).first.map(decode)
    }

    /// Every product, or those of one event, oldest first (at most `limit`).
    static func list(eventID: String?, limit: Int = 1_000, _ db: PostgresConnection) throws -> [StoredProduct] {
        try db.query("""
            SELECT \(columns) FROM products WHERE ($1::text IS NULL OR event_id = $1) ORDER BY created_at, id LIMIT $2
            """, [eventID, limit]).map(decode)
    }

    /// The products of `ids` that exist, in no particular order.
    static func find(ids: [String], _ db: PostgresConnection) throws -> [StoredProduct] {
        guard !ids.isEmpty else { return [] }
        return try db.query("SELECT \(columns) FROM products WHERE id = ANY($1::text[])", [ids]).map(decode)
    }

    /// Sets the price and bumps its version; nil when there is no such product.
    static func updatePrice(id: String, price: Int64, _ db: PostgresConnection) throws -> StoredProduct? {
        try db.query("""
            UPDATE products SET price = $2, price_version = price_version + 1, updated_at = now() WHERE id = $1
            RETURNING \(columns)
            """, [id, price]).first.map(decode)
    }

    /// initial_stock + Σ delta of the stock changes the worker has written, per product (for recover).
    static func supply(_ db: PostgresConnection) throws -> [(product: StoredProduct, supply: Int64)] {
        try db.query("""
            SELECT p.id, p.event_id, p.name, p.price, p.initial_stock, p.price_version,
                   p.initial_stock + coalesce((SELECT sum(delta) FROM product_stock_changes c WHERE c.product_id = p.id), 0) AS supply
            FROM products p ORDER BY p.created_at, p.id
            """).map { (try decode($0), try $0.int64("supply")) }
    }

    private static func decode(_ row: PostgresRow) throws -> StoredProduct {
        StoredProduct(id: try row.string("id"), eventID: try row.string("event_id"), name: try row.string("name"),
                      price: try row.int64("price"), initialStock: try row.int64("initial_stock"),
                      priceVersion: try row.int64("price_version"))
    }
}
