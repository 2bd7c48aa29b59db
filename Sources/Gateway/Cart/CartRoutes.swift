// GET /cart, PUT and DELETE /cart/items/{productId} (API.md "Cart"). A cart is one Redis hash per user
// under the user's shard tag, productId → quantity, kept 30 days from its last change. What the cart shows
// besides quantities — name, price, stock — is read when it is shown: the name from PostgreSQL, the
// price and stock from Redis, so the total is what an order placed now would cost.
import HTTP
import JSON
import Queue
import Runtime

struct CartRoutes {
    static let maxProducts = 20  // what one order may hold
    static let quantityRange: ClosedRange<Int64> = 1...100
    static let ttlSeconds = 30 * 86_400

    func register(into router: inout RouteTable) {
        router.add(.GET, "/cart", show)
        router.add(.PUT, "/cart/items/{productId}", put)
        router.add(.DELETE, "/cart/items/{productId}", remove)
    }

    private func show(_ request: APIRequest) throws {
        Authenticator.authenticate(request) { userID in Self.render(request, userID) }
    }

    private func put(_ request: APIRequest) throws {
        let productID = request.parameters["productId"] ?? ""
        let body = try request.jsonObject()
        guard case .int(let quantity)? = body["quantity"], Self.quantityRange.contains(quantity) else {
            throw APIError(400, "INVALID_QUANTITY", "quantity must be a JSON integer from 1 to 100", details: ["field": "quantity"])
        }
        Authenticator.authenticate(request) { userID in
            guard ProductID.isWellFormed(productID) else { return request.fail(APIError.notFound("product")) }
            request.postgres({ db in try ProductStore.find(id: productID, db) }) { found in
                switch found {
                case .success(nil): request.fail(APIError.notFound("product"))
                case .failure(let error): request.fail(error)
                case .success(.some):
                    let cart = UserKeys(userID: userID).cart
                    request.script("cart_put", keys: [cart], arguments: [productID, String(quantity), String(Self.maxProducts),
                                                                        String(Self.ttlSeconds)]) { result in
                        switch result {
                        case .success(.integer(1)): Self.render(request, userID)
                        case .success(.integer(0)):
                            request.fail(APIError(400, "VALIDATION_FAILED", "a cart holds at most \(Self.maxProducts) products",
                                                  details: ["field": "productId", "maxProducts": .int(Int64(Self.maxProducts))]))
                        default: request.fail(APIError.unexpected(result))
                        }
                    }
                }
            }
        }
    }

    private func remove(_ request: APIRequest) throws {
        let productID = request.parameters["productId"] ?? ""
        Authenticator.authenticate(request) { userID in
            request.redis.send(["HDEL", UserKeys(userID: userID).cart, productID]) { result in
                if case .failure(let error) = result { return request.fail(error) }
                Self.render(request, userID)
            }
        }
    }

    /// The cart as the API shows it.
    static func render(_ request: APIRequest, _ userID: String) {
        request.redis.send(["HGETALL", UserKeys(userID: userID).cart]) { result in
            guard case .success(let value) = result else { return request.fail(APIError.unexpected(result)) }
            var quantities: [(String, Int64)] = []
            let fields = value.array ?? []
            for i in stride(from: 0, to: fields.count - 1, by: 2) {
                if let id = fields[i].string, let quantity = fields[i + 1].int { quantities.append((id, quantity)) }
            }
            quantities.sort { $0.0 < $1.0 }
            request.postgres({ db in try ProductStore.find(ids: quantities.map(\.0), db) }) { found in
                guard case .success(let products) = found else { return request.fail(found.failureError) }
                let byID = Dictionary(uniqueKeysWithValues: products.map { ($0.id, $0) })
                let lines = quantities.compactMap { id, quantity in byID[id].map { ($0, quantity) } }
                let commands = lines.map { ["HMGET", EventKeys(eventID: $0.0.eventID).product($0.0.id), "price", "stock"] }
                let finish = { (replies: [RedisValue]) in
                    var items: [JSONValue] = []
                    var total: Int64 = 0
                    for ((product, quantity), reply) in zip(lines, replies) {
                        guard let live = reply.array, live.count == 2, let price = live[0].int, let stock = live[1].int else {
                            return request.fail(ProductRoutes.notLoaded)
                        }
                        total += price * quantity
                        items.append(["productId": .string(product.id), "name": .string(product.name), "price": .int(price),
                                      "quantity": .int(quantity), "stock": .int(stock)])
                    }
                    request.respond(200, json: ["items": .array(items), "totalAmount": .int(total)])
                }
                if commands.isEmpty { return finish([]) }
                request.pipeline(commands) { live in
                    switch live {
                    case .success(let replies): finish(replies)
                    case .failure(let error): request.fail(error)
                    }
                }
            }
        }
    }
}
