// The Swift side of lua/catalog.lua: a product's stock and price in Redis, under its event's tag.
import Queue
import Runtime
import Scripts

public enum CatalogReply: Equatable, Sendable {
    case put(stock: Int64, price: Int64, version: Int64)
    case restocked(stockAfter: Int64)
    /// The change would take the stock below zero; nothing changed.
    case short(stock: Int64)
    case noProduct
}

public struct CatalogScript {
    public static let script = LuaScript.named("catalog")

    public let eventID: String
    public let productID: String
    public let keys: [String]

    public init(eventID: String, productID: String) {
        self.eventID = eventID
        self.productID = productID
        let event = EventKeys(eventID: eventID)
        keys = [event.product(productID), event.outbox]
    }

    public func put(stock: Int64, price: Int64, version: Int64) -> [String] {
        ["put", productID, String(stock), String(price), String(version)]
    }

    public func restock(delta: Int64, changeID: String) -> [String] {
        ["restock", productID, String(delta), eventID, changeID]
    }

    public func run(_ arguments: [String], on redis: RedisConnection, completion: @escaping (Result<CatalogReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    public func run(_ arguments: [String], on redis: RedisBlockingConnection) throws -> CatalogReply {
        try Self.decode(redis.run(Self.script, keys: keys, arguments: arguments)).get()
    }

    static func decode(_ value: RedisValue) -> Result<CatalogReply, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("catalog", reply: value.description)) }
        func int(_ i: Int) -> Int64? { i < items.count ? items[i].int : nil }
        switch kind {
        case "PUT":
            if let stock = int(1), let price = int(2), let version = int(3) { return .success(.put(stock: stock, price: price, version: version)) }
        case "RESTOCKED":
            if let after = int(1) { return .success(.restocked(stockAfter: after)) }
        case "SHORT":
            if let stock = int(1) { return .success(.short(stock: stock)) }
        case "NO_PRODUCT":
            return .success(.noProduct)
        default:
            break
        }
        return .failure(ScriptReplyError("catalog", reply: value.description))
    }
}
