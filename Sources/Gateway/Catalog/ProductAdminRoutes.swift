// POST /admin/products and PATCH /admin/products/{productId} (API.md "Catalog and flash-sale orders").
// The definition goes to PostgreSQL first; the product then gets its live stock and price in Redis
// (catalog.lua). Stock changes happen in Redis, atomically and never below zero, and reach PostgreSQL
// through the outbox; price changes go to PostgreSQL first and carry a version, so Redis keeps the newest.
import Inventory
import JSON
import Queue
import Runtime
import Scripts

struct ProductAdminRoutes {
    func register(into router: inout RouteTable) {
        router.add(.POST, "/admin/products", create)
        router.add(.PATCH, "/admin/products/{productId}", update)
    }

    private func create(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let draft = try Self.validated { try ProductDraft(try request.jsonObject()) }
        let eventID = draft.eventID ?? ProductStore.storeEventID
        guard EventID.isWellFormed(eventID) else { throw APIError.notFound("event") }
        let product = StoredProduct(id: ProductID.make(), eventID: eventID, name: draft.name, price: draft.price,
                                    initialStock: draft.stock, priceVersion: 1)
        request.postgres({ db -> StoredEvent? in
            guard let event = try EventStore.find(id: eventID, db) else { return nil }
            try ProductStore.insert(product, db)
            return event
        }) { result in
            switch result {
            case .success(nil):
                request.fail(APIError.notFound("event"))
            case .success(let event?):
                // The event's settings and outbox registration first (the worker must drain its stream),
                // then the product's live state.
                EventCache.store(event, on: request.redis) { _ in
                    let script = CatalogScript(eventID: eventID, productID: product.id)
                    script.run(script.put(stock: product.initialStock, price: product.price, version: 1), on: request.redis) { put in
                        switch put {
                        case .success(.put(let stock, _, _)):
                            request.respond(201, json: product.json(stock: stock))
                        case .success, .failure:
                            // Without its stock in Redis the product cannot be sold: undo, and let the
                            // admin repeat the request when Redis is back.
                            let failure: Error
                            switch put {
                            case .success(let other): failure = ScriptReplyError("catalog", reply: "\(other)")
                            case .failure(let error): failure = error
                            }
                            request.postgres({ db in try ProductStore.delete(id: product.id, db) }) { _ in request.fail(failure) }
                        }
                    }
                }
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    private func update(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let productID = request.parameters["productId"] ?? ""
        let body = try request.jsonObject()
        for key in body.keys where key != "price" && key != "stockDelta" {
            throw APIError.validation(key, "\(key) cannot be changed here (price, stockDelta)")
        }
        let price = try Self.validated { try ProductDraft.integer(body, "price", ProductDraft.priceRange, required: false) }
        let delta = try Self.validated { try ProductDraft.integer(body, "stockDelta", ProductDraft.stockDeltaRange, required: false) }
        guard price != nil || delta != nil else { throw APIError.validation("body", "send price, stockDelta or both") }
        guard ProductID.isWellFormed(productID) else { throw APIError.notFound("product") }

        request.postgres({ db in try ProductStore.find(id: productID, db) }) { found in
            switch found {
            case .success(nil): request.fail(APIError.notFound("product"))
            case .failure(let error): request.fail(error)
            case .success(let product?):
                let script = CatalogScript(eventID: product.eventID, productID: product.id)
                Self.applyStockDelta(request, script, delta) { stock in
                    guard let price else { return request.respond(200, json: product.json(stock: stock)) }
                    request.postgres({ db in try ProductStore.updatePrice(id: product.id, price: price, db) }) { updated in
                        guard case .success(let changed?) = updated else {
                            return request.fail((try? updated.get()) == nil ? updated.failureError : APIError.notFound("product"))
                        }
                        script.run(script.put(stock: changed.initialStock, price: changed.price, version: changed.priceVersion),
                                   on: request.redis) { put in
                            switch put {
                            case .success(.put(let stock, _, _)): request.respond(200, json: changed.json(stock: stock))
                            case .success(let other): request.fail(ScriptReplyError("catalog", reply: "\(other)"))
                            case .failure(let error): request.fail(error)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves the stock by `delta` (when given) and passes on the stock after it.
    private static func applyStockDelta(_ request: APIRequest, _ script: CatalogScript, _ delta: Int64?,
                                        then: @escaping (Int64) -> Void) {
        guard let delta else {
            request.redis.send(["HGET", script.keys[0], "stock"]) { result in
                switch result {
                case .success(let value):
                    guard let stock = value.int else { return request.fail(ProductRoutes.notLoaded) }
                    then(stock)
                case .failure(let error): request.fail(error)
                }
            }
            return
        }
        script.run(script.restock(delta: delta, changeID: "stk_" + SecureRandom.hex(bytes: 12)), on: request.redis) { result in
            switch result {
            case .success(.restocked(let after)): then(after)
            case .success(.short(let stock)):
                request.fail(APIError(409, "OUT_OF_STOCK", "the stock (\(stock)) cannot go below zero",
                                      details: ["productId": .string(script.productID), "stock": .int(stock)]))
            case .success(.noProduct): request.fail(ProductRoutes.notLoaded)
            case .success(let other): request.fail(ScriptReplyError("catalog", reply: "\(other)"))
            case .failure(let error): request.fail(error)
            }
        }
    }

    private static func validated<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let invalid as ProductDraft.Invalid { throw APIError.validation(invalid.field, invalid.message) }
    }
}
