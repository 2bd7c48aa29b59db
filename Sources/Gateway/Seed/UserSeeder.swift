// `floodgate seed users`: many users fast, for load tests. Every seeded user shares one precomputed
// yescrypt hash of the documented test password (hashing each would cap seeding at a few hundred per
// second); users go into PostgreSQL 1,000 rows per statement, sessions into Redis through one pipelined
// connection, and `userId,accessToken` lines into the output file.
import Foundation
import Persistence
import Runtime
import Scripts

public enum UserSeeder {
    /// The password of every seeded user (documented in the README).
    public static let testPassword = "floodgate-test-password"

    public struct Report {
        public let users: Int
        public let seconds: Double
    }

    public static func seed(count: Int, output: String, tokenTTLSeconds: Int, configuration: Configuration) throws -> Report {
        let started = Date()
        FileManager.default.createFile(atPath: output, contents: nil)
        guard let file = FileHandle(forWritingAtPath: output) else {
            throw Configuration.Invalid(description: "cannot write \(output)")
        }
        defer { try? file.close() }
        try seed(count: count, tokenTTLSeconds: tokenTTLSeconds, configuration: configuration) { batch in
            file.write(batch.map { "\($0.userID),\($0.accessToken)\n" }.joined().data(using: .utf8)!)
        }
        return Report(users: count, seconds: Date().timeIntervalSince(started))
    }

    /// Seeds `count` users and hands each batch of (userID, accessToken) to `batchDone` as soon as it is in
    /// PostgreSQL and Redis — `floodgate storm` keeps them in memory instead of writing a file.
    public static func seed(count: Int, tokenTTLSeconds: Int, configuration: Configuration,
                            batchDone: ([(userID: String, accessToken: String)]) throws -> Void) throws {
        guard let hash = PasswordHasher.hash(testPassword) else { throw APIError.internalError }
        let db = try PostgresConnection(url: configuration.postgresURL)
        defer { db.close() }
        let redis = RedisBlockingConnection(endpoint: configuration.redisEndpoint)
        let script = LuaScript.named("session_open")
        _ = try redis.command(["SCRIPT", "LOAD", script.source])
        let run = SecureRandom.hex(bytes: 4)

        var done = 0
        while done < count {
            let batch = min(1_000, count - done)
            let ids = (0..<batch).map { _ in "usr_" + SecureRandom.hex(bytes: 12) }
            let emails = (0..<batch).map { "seed-\(run)-\(done + $0)@floodgate.test" }
            try db.query("""
                INSERT INTO users (id, email, name, password_hash)
                SELECT id, email, 'Seed user', $3 FROM unnest($1::text[], $2::text[]) AS t(id, email)
                """, [ids, emails, hash])
            var commands: [[String]] = []
            var seeded: [(userID: String, accessToken: String)] = []
            for id in ids {
                let access = SessionToken(userID: id, sessionID: SessionToken.newSessionID(), secret: SessionToken.newSecret())
                commands.append(["EVALSHA", script.sha1, "1", UserKeys(userID: id).session(access.sessionID), id, access.secret,
                                 SessionToken.newSecret(), String(tokenTTLSeconds), String(tokenTTLSeconds)])
                seeded.append((id, access.text))
            }
            for reply in try redis.pipeline(commands) {
                if case .error(let message) = reply { throw RedisError(.protocolError, message) }
            }
            try batchDone(seeded)
            done += batch
        }
    }
}
