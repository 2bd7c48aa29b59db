// GET /products/popular?days=3&limit=5: the products with the most units in PAID orders over the last
// `days` days, from PostgreSQL (what the worker has written), each answer kept for one second per loop —
// a storm of identical requests costs one query a second per loop, and the list is exact up to what the
// worker has written a second ago.
import JSON
import Persistence
import Runtime

enum PopularProducts {
    static let cacheNanos: UInt64 = 1_000_000_000

    static func handle(_ request: APIRequest) throws {
        let days = try request.queryInteger("days", 1...30, default: 3)
        let limit = try request.queryInteger("limit", 1...50, default: 5)
        let cacheKey = "\(days)|\(limit)"
        let state = request.loopState
        if let cached = state.popular[cacheKey], monotonicNanos() &- cached.at < cacheNanos {
            return request.respond(.json(200, cached.body))
        }
        request.postgres({ db in try query(days: days, limit: limit, db) }) { result in
            switch result {
            case .success(let items):
                var bytes: [UInt8] = []
                JSONWriter.serialize(["items": .array(items)], into: &bytes)
                state.popular[cacheKey] = (bytes, monotonicNanos())
                request.respond(.json(200, bytes))
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    static func query(days: Int, limit: Int, _ db: PostgresConnection) throws -> [JSONValue] {
        let rows = try db.query("""
            SELECT p.id, p.name, p.price, sum(i.quantity)::bigint AS units
            FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id
            WHERE o.status = 'PAID' AND o.paid_at >= now() - make_interval(days => $1)
            GROUP BY p.id, p.name, p.price
            ORDER BY units DESC, p.id
            LIMIT $2
            """, [days, limit])
        return try rows.enumerated().map { rank, row in
            ["rank": .int(Int64(rank + 1)), "productId": .string(try row.string("id")), "name": .string(try row.string("name")),
             "price": .int(try row.int64("price")), "unitsSold": .int(try row.int64("units"))]
        }
    }
}
