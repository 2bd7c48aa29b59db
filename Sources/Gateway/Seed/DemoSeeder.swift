// `floodgate seed`: the demo data set, idempotent. A demo user with a charged wallet, a queued demo sale
// event and its small catalog, and a queued demo concert with two performances (DemoConcert).
import Inventory
import Persistence
import Queue
import Runtime
import Scripts

public enum DemoSeeder {
    public static let email = "demo@floodgate.local"
    public static let password = "floodgate-demo"
    public static let userID = "usr_demo000000000000000001"
    public static let walletCredit: Int64 = 1_000_000
    /// The demo flash sale: its queue is on (100 inside at once, 5 minutes each, 50 admitted per second).
    public static let eventID = "evt_00000000000000000000de01"
    /// The demo sale's and the demo concert's queue: 100 inside at once, 50 admitted per second.
    static var demoQueue: QueueSettings {
        var queue = QueueSettings()
        queue.enabled = true
        queue.maxActive = 100
        queue.activeTtlSeconds = 300
        queue.admitPerSecond = 50
        return queue
    }
    /// The demo catalog of the demo sale: (id, name, price, stock).
    public static let products: [(id: String, name: String, price: Int64, stock: Int64)] = [
        ("prd_00000000000000000000de01", "Demo sneakers", 89_000, 100),
        ("prd_00000000000000000000de02", "Demo hoodie", 59_000, 200),
        ("prd_00000000000000000000de03", "Demo cap", 19_000, 500),
    ]

    public static func seed(configuration: Configuration) throws -> [String] {
        var done: [String] = []
        let db = try PostgresConnection(url: configuration.postgresURL)
        defer { db.close() }
        if try UserStore.find(email: email, db) == nil {
            guard let hash = PasswordHasher.hash(password) else { throw APIError.internalError }
            try db.query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                         [userID, email, "Demo User", hash])
            done.append("user \(email)")
        }
        // Charged through the wallet script with a fixed idempotency key: re-seeding charges nothing twice.
        let keys = UserKeys(userID: userID)
        let reply = try RedisBlockingConnection(endpoint: configuration.redisEndpoint).run(
            LuaScript.named("wallet_charge"),
            keys: [keys.wallet, keys.idempotency("charge", "demo-seed"), keys.outbox],
            arguments: [userID, String(walletCredit), "chg_demoseed000000000000001", "amount=\(walletCredit)", "1",
                        String(365 * 86_400), "10000000", "1000000000"])
        if case .array(let parts) = reply, parts.first?.string == "OK" { done.append("wallet credit \(walletCredit)") }
        if case .error(let message) = reply { throw RedisError(.protocolError, message) }

        if try EventStore.find(id: eventID, db) == nil {
            _ = try EventStore.insert(StoredEvent(id: eventID, name: "Demo flash sale", kind: "sale", startsAtMs: nil, queue: demoQueue,
                                                  queueSecret: SecureRandom.hex(bytes: 20), queueVersion: 1, createdAtMs: 0), db)
            done.append("event \(eventID)")
        }
        // The gateway would load the settings on first use; storing them now lets the tickers start at once.
        if let event = try EventStore.find(id: eventID, db) {
            let redis = RedisBlockingConnection(endpoint: configuration.redisEndpoint)
            let script = QueueScript(eventID: eventID)
            _ = try redis.pipeline([["SADD", EventKeys.registry, eventID], ["SADD", EventKeys.outboxRegistry, script.keys.outbox]])
            _ = try script.run(script.configure(event.queue, secret: event.queueSecret, version: event.queueVersion), on: redis)
            for product in products {
                if try ProductStore.find(id: product.id, db) == nil {
                    try ProductStore.insert(StoredProduct(id: product.id, eventID: eventID, name: product.name, price: product.price,
                                                          initialStock: product.stock, priceVersion: 1), db)
                    done.append("product \(product.name)")
                }
                // Never overwrites live stock (catalog.lua `put`), so re-seeding a running demo is harmless.
                let catalog = CatalogScript(eventID: eventID, productID: product.id)
                _ = try catalog.run(catalog.put(stock: product.stock, price: product.price, version: 1), on: redis)
            }
        }
        done += try DemoConcert.seed(db, RedisBlockingConnection(endpoint: configuration.redisEndpoint))
        return done
    }
}
