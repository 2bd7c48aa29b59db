// GET /products?eventId= and GET /products/{productId}: definitions from PostgreSQL, stock from Redis at
// read time (one pipelined HGET per product), so `stock` is exact when it is read.
import Inventory
import JSON
import Queue
import Runtime

struct ProductRoutes {
    /// A product PostgreSQL knows but Redis does not: Redis lost its data and `floodgate recover` has
    /// not run yet (stock is never guessed, so nothing can be oversold).
    static let notLoaded = APIError(503, "UNAVAILABLE", "the catalog's live stock is not in Redis; run floodgate recover",
                                    headers: [("Retry-After", "5")])

    func register(into router: inout RouteTable) {
        router.add(.GET, "/products", list)
        router.add(.GET, "/products/popular", PopularProducts.handle)
        router.add(.GET, "/products/{productId}", one)
    }

    private func list(_ request: APIRequest) throws {
        let eventID = request.query("eventId")
        if let eventID, !EventID.isWellFormed(eventID) {
            throw APIError.validation("eventId", "eventId must be an event id (evt_ and 24 hex digits)")
        }
        request.postgres({ db in try ProductStore.list(eventID: eventID, db) }) { result in
            switch result {
            case .success(let products):
                Self.withStock(request, products) { items in request.respond(200, json: ["items": .array(items)]) }
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    private func one(_ request: APIRequest) throws {
        let productID = request.parameters["productId"] ?? ""
        guard ProductID.isWellFormed(productID) else { throw APIError.notFound("product") }
        request.postgres({ db in try ProductStore.find(id: productID, db) }) { result in
            switch result {
            case .success(nil): request.fail(APIError.notFound("product"))
            case .success(let product?): Self.withStock(request, [product]) { items in request.respond(200, json: items[0]) }
            case .failure(let error): request.fail(error)
            }
        }
    }

    /// The products as the API shows them, each with its stock read from Redis now.
    private static func withStock(_ request: APIRequest, _ products: [StoredProduct], _ done: @escaping ([JSONValue]) -> Void) {
        guard !products.isEmpty else { return done([]) }
        let commands = products.map { ["HGET", EventKeys(eventID: $0.eventID).product($0.id), "stock"] }
        request.pipeline(commands) { result in
            switch result {
            case .success(let replies):
                var items: [JSONValue] = []
                for (product, reply) in zip(products, replies) {
                    guard let stock = reply.int else { return request.fail(notLoaded) }
                    items.append(product.json(stock: stock))
                }
                done(items)
            case .failure(let error):
                request.fail(error)
            }
        }
    }
}
