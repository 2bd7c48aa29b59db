// Users and money for a storm: users seeded in-process the way `floodgate seed users` does it (one
// shared password hash, PostgreSQL and Redis directly, from FLOODGATE_PG_URL and FLOODGATE_REDIS_URL) or
// read from a `userId,accessToken` file; wallets charged through the API like any client would.
import Foundation
import Gateway
import HTTP
import JSON
import Runtime

enum StormSetup {
    static func users(count: Int, options: StormOptions, configuration: Configuration) throws -> [StormUser] {
        if let given = options.users {
            guard given.count >= count else { throw StormSetupError("\(given.count) users given, the storm needs \(count)") }
            return Array(given.prefix(count))
        }
        if let file = options.usersFile {
            let read = try StormOptions.readUsers(file)
            guard read.count >= count else { throw StormSetupError("\(file) has \(read.count) users, the storm needs \(count)") }
            return Array(read.prefix(count))
        }
        var users: [StormUser] = []
        users.reserveCapacity(count)
        // Tokens outlive any bounded storm plus its drain wait.
        try UserSeeder.seed(count: count, tokenTTLSeconds: 6 * 3_600, configuration: configuration) { batch in
            users += batch.map { StormUser(id: $0.userID, token: $0.accessToken) }
        }
        return users
    }

    /// Charges every wallet with `amount` (one Idempotency-Key per user and run, so a repeat after a lost
    /// answer charges once); a few rounds for the calls that got no answer or a 5xx.
    static func chargeWallets(_ users: [StormUser], amount: Int, run: String, api: StormAPI) throws {
        var pending = Array(users.indices)
        for _ in 0..<5 where !pending.isEmpty {
            var failed: [Int] = []
            for chunk in stride(from: 0, to: pending.count, by: 2_000).map({ Array(pending[$0..<min($0 + 2_000, pending.count)]) }) {
                let calls = chunk.map { i in
                    APICall(.POST, "/wallet/charge", token: users[i].token,
                            headers: [("Idempotency-Key", "storm-\(run)-charge")], json: ["amount": JSONValue(amount)])
                }
                let outcomes = api.callAll(calls, target: { chunk[$0] })
                for (k, outcome) in outcomes.enumerated() {
                    switch outcome {
                    case .success(let response) where response.status == 200: continue
                    case .success(let response) where response.status < 500:
                        throw StormSetupError("POST /wallet/charge for \(users[chunk[k]].id) answered \(response.status): \(response.text)")
                    default: failed.append(chunk[k])
                    }
                }
            }
            pending = failed
        }
        if !pending.isEmpty { throw StormSetupError("\(pending.count) wallets could not be charged (no answer or 5xx five times)") }
    }

    /// RFC 3339 time `days` from now, for performances that must lie in the future.
    static func daysFromNow(_ days: Int) -> String {
        Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1_000) + Int64(days) * 86_400_000)
    }
}
