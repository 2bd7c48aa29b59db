// What the worker suites share: charges made the way the gateway makes them (wallet_charge.lua with the
// same keys and arguments), PostgreSQL checks scoped to a test's own users, and running the real
// `floodgate` binary as a child process (posix_spawn, not Foundation's Process, whose wait can hang on
// children that linger).
import Foundation
@testable import Gateway
import Persistence
import Runtime
import Scripts
import TestSupport
@testable import Worker
import XCTest
#if canImport(Glibc)
import Glibc
#endif

enum WorkerTestSupport {
    /// A prefix no other run shares: user ids and private stream names start with it.
    static func runTag(_ name: String) -> String { "wt\(getpid())x\(SecureRandom.hex(bytes: 4))\(name)" }

    static func migratedPostgres() throws -> PostgresConnection {
        let db = try PostgresConnection(url: try TestServices.postgresURL())
        try Migrator.migrate(db)
        return db
    }

    static func consumerSettings(_ configure: (inout OutboxConsumer.Settings) -> Void = { _ in }) throws -> OutboxConsumer.Settings {
        var settings = OutboxConsumer.Settings(redis: try TestServices.redis(), postgresURL: try TestServices.postgresURL())
        settings.claimIdleMilliseconds = 1_000
        // Only the streams a test names: the registry holds other suites' event streams.
        settings.streamRegistry = nil
        configure(&settings)
        return settings
    }

    // MARK: Charges, as the gateway makes them

    /// Charges every (user, amount) pair through wallet_charge.lua, pipelined `pipeline` at a time, from
    /// `clients` threads with a connection each. Returns the charge ids (event ids) in no order.
    static func charge(_ charges: [(user: String, amount: Int64)], clients: Int = 8, pipeline: Int = 500) throws -> [String] {
        let endpoint = try TestServices.redis()
        let script = LuaScript.named("wallet_charge")
        let results = LockedBox<(ids: [String], errors: [String])>(([], []))
        let group = DispatchGroup()
        let perClient = (charges.count + clients - 1) / max(1, clients)
        for client in 0..<clients {
            let slice = Array(charges.dropFirst(client * perClient).prefix(perClient))
            guard !slice.isEmpty else { continue }
            group.enter()
            Thread {
                defer { group.leave() }
                let redis = RedisBlockingConnection(endpoint: endpoint)
                var ids: [String] = [], errors: [String] = []
                do {
                    _ = try redis.command(["SCRIPT", "LOAD", script.source])
                    for start in stride(from: 0, to: slice.count, by: pipeline) {
                        var commands: [[String]] = []
                        var batchIDs: [String] = []
                        for (user, amount) in slice[start..<min(slice.count, start + pipeline)] {
                            let keys = UserKeys(userID: user)
                            let chargeID = "chg_" + SecureRandom.hex(bytes: 12)
                            batchIDs.append(chargeID)
                            commands.append(["EVALSHA", script.sha1, "3", keys.wallet, keys.idempotency("charge", "-"), keys.outbox,
                                             user, String(amount), chargeID, "amount=\(amount)", "",
                                             String(IdempotencyKey.ttlSeconds), String(WalletRoutes.maxChargeAmount),
                                             String(WalletRoutes.maxBalance)])
                        }
                        for (reply, id) in zip(try redis.pipeline(commands), batchIDs) {
                            if case .array(let parts) = reply, parts.first?.string == "OK" { ids.append(id) } else { errors.append("\(reply)") }
                        }
                    }
                } catch {
                    errors.append("\(error)")
                }
                results.with { $0.ids += ids; $0.errors += errors }
            }.start()
        }
        group.wait()
        let outcome = results.snapshot
        XCTAssertEqual(outcome.errors.count, 0, "charges failed: \(outcome.errors.prefix(3))")
        return outcome.ids
    }

    /// A hand-made WALLET_CHARGED entry's fields (for private streams and poison tests).
    static func chargeFields(id: String, user: String?, amount: Int64 = 100, balanceAfter: Int64 = 100,
                             at: Int64 = wallClockMillis()) -> [String] {
        var data = "{"
        if let user { data += "\"userId\":\"\(user)\"," }
        data += "\"amount\":\(amount),\"balanceAfter\":\(balanceAfter),\"chargeId\":\"\(id)\"}"
        return ["v", "1", "type", "WALLET_CHARGED", "id", id, "at", String(at), "data", data]
    }

    @discardableResult
    static func xadd(_ redis: RedisBlockingConnection, _ stream: String, _ fields: [String]) throws -> String {
        let reply = try redis.command(["XADD", stream, "*"] + fields)
        guard let id = reply.string else { throw NSError(domain: "xadd", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(reply)"]) }
        return id
    }

    // MARK: Checks

    /// Rows of `wallet_transactions` among `ids`.
    static func rowCount(ids: [String], _ db: PostgresConnection) throws -> Int {
        try db.query("SELECT count(*) AS n FROM wallet_transactions WHERE id = ANY($1::text[])", [ids])[0].int("n")
    }

    /// Rows for `users`: per user (count, sum of amounts, max balance_after).
    static func perUser(_ users: [String], _ db: PostgresConnection) throws -> [String: (count: Int, sum: Int64, maxBalance: Int64)] {
        var out: [String: (Int, Int64, Int64)] = [:]
        for row in try db.query("""
            SELECT user_id, count(*) AS n, sum(amount)::bigint AS total, max(balance_after) AS top
            FROM wallet_transactions WHERE user_id = ANY($1::text[]) AND type = 'CHARGE' GROUP BY user_id
            """, [users]) {
            out[try row.string("user_id")] = (try row.int("n"), try row.int64("total"), try row.int64("top"))
        }
        return out
    }

    static func rowCount(users: [String], _ db: PostgresConnection) throws -> Int {
        try db.query("SELECT count(*) AS n FROM wallet_transactions WHERE user_id = ANY($1::text[])", [users])[0].int("n")
    }

    /// The writer group's pending count per stream (streams without the group count 0).
    static func pending(_ streams: [String], _ redis: RedisBlockingConnection, group: String = OutboxStreams.writerGroup) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for (stream, reply) in zip(streams, try redis.pipeline(streams.map { ["XPENDING", $0, group] })) {
            out[stream] = Int(StreamReplies.pendingSummary(reply)?.count ?? 0)
        }
        return out
    }

    /// Every writer-pending entry across the user outboxes whose data mentions `marker` (a test's user
    /// prefix): what "nothing of mine is left unacknowledged" means on streams other suites share.
    static func pendingEntries(mentioning marker: String, _ redis: RedisBlockingConnection) throws -> [String] {
        var found: [String] = []
        for stream in OutboxStreams.userOutboxes {
            guard case .array(let rows) = try redis.command(["XPENDING", stream, OutboxStreams.writerGroup, "-", "+", "100000"]) else { continue }
            for row in rows {
                guard let id = row.array?.first?.string else { continue }
                let entries = StreamReplies.entries(try redis.command(["XRANGE", stream, id, id]), stream: stream, deliveries: 0)
                if let data = entries.first?.field("data"), data.contains(marker) { found.append("\(stream) \(id)") }
            }
        }
        return found
    }

    static func balances(_ users: [String], _ redis: RedisBlockingConnection) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for (user, reply) in zip(users, try redis.pipeline(users.map { ["GET", UserKeys(userID: $0).wallet] })) {
            out[user] = reply.int ?? 0
        }
        return out
    }

    static func entries(_ stream: String, _ redis: RedisBlockingConnection) throws -> [OutboxEntry] {
        StreamReplies.entries(try redis.command(["XRANGE", stream, "-", "+"]), stream: stream, deliveries: 0)
    }
}

// MARK: - The floodgate binary as a child process

final class ChildProcess {
    let pid: pid_t
    let logPath: String
    private var reaped = false

    /// Starts `binary arguments…` with the current environment plus `environment`, output to `logPath`.
    init(binary: String, arguments: [String], environment: [String: String], logPath: String) throws {
        self.logPath = logPath
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var child: pid_t = 0
        let status = posix_spawn(&child, binary, &actions, nil, argv, envp)
        guard status == 0 else {
            throw NSError(domain: "spawn", code: Int(status), userInfo: [NSLocalizedDescriptionKey: "posix_spawn \(binary): \(String(cString: strerror(status)))"])
        }
        pid = child
    }

    deinit { kill(signal: SIGKILL) }

    /// Sends `signal` and reaps the child (blocking), unless it was reaped already.
    func kill(signal: Int32) {
        guard !reaped else { return }
        Glibc.kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
    }

    var isRunning: Bool {
        guard !reaped else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = true; return false }
        return true
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The port from the worker's "worker listening" log line.
    var listeningPort: Int? {
        for line in log.split(separator: "\n") where line.contains("msg=\"worker listening\"") {
            if let range = line.range(of: "port=") {
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }
        }
        return nil
    }

    /// The `floodgate` executable built beside the test bundle (same scratch path), else the default
    /// .build/debug one under the repository root.
    static func floodgateBinary(file: StaticString = #filePath) -> String? {
        var candidates: [String] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = argv0.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("floodgate").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent().appendingPathComponent("floodgate").path)
        let root = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/floodgate").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
