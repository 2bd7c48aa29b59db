// `floodgate seed`: the demo data set, idempotent. For now a demo user with a charged wallet; the
// catalog and concert join it with their features.
import Persistence
import Runtime
import Scripts

public enum DemoSeeder {
    public static let email = "demo@floodgate.local"
    public static let password = "floodgate-demo"
    public static let userID = "usr_demo000000000000000001"
    public static let walletCredit: Int64 = 1_000_000

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
        return done
    }
}
