// `floodgate recover`: rebuilds Redis state (wallets, event settings, product stock) from PostgreSQL after
// Redis lost its data. PostgreSQL is the durable record only once the outbox has drained, so recovery
// refuses while any outbox stream still holds events the writer group has not acknowledged. Idempotent:
// it sets values, never adds.
import Persistence
import Queue
import Runtime

public enum Recovery {
    public struct Refused: Error, CustomStringConvertible {
        public let backlog: [String: Int]
        public var description: String {
            "the outbox still holds unwritten events (" + backlog.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + "); let the worker drain it, then run recover again"
        }
    }

    public struct Report {
        public var wallets = 0
        /// Events whose queue settings (and registry entries) were written back.
        public var events = 0
        /// Products whose stock and price were written back.
        public var products = 0
    }

    /// Events not yet written by the `writer` group, per stream (only streams with a backlog).
    public static func backlog(_ redis: RedisBlockingConnection, streams: [String] = UserKeys.allOutboxes) throws -> [String: Int] {
        var backlog: [String: Int] = [:]
        for stream in streams {
            guard case .integer(let length) = try redis.command(["XLEN", stream]), length > 0 else { continue }
            let groups = try redis.command(["XINFO", "GROUPS", stream])
            guard case .array(let entries) = groups,
                  let writer = entries.compactMap({ fields($0) }).first(where: { $0["name"]?.string == "writer" }) else {
                backlog[stream] = Int(length)  // events exist and no writer has ever read them
                continue
            }
            let pending = Int(writer["pending"]?.int ?? 0)
            // `lag` is nil when Redis cannot tell (after deletions): count it as a backlog to be safe.
            let lag = writer["lag"].flatMap { $0.isNull ? nil : $0.int }.map(Int.init) ?? Int(length)
            if pending + lag > 0 { backlog[stream] = pending + lag }
        }
        return backlog
    }

    /// Every outbox stream: the user shards' and the registered ones (events).
    public static func outboxStreams(_ redis: RedisBlockingConnection) throws -> [String] {
        var streams = UserKeys.allOutboxes
        if case .array(let registered) = try redis.command(["SMEMBERS", EventKeys.outboxRegistry]) {
            streams += registered.compactMap(\.string).sorted()
        }
        return streams
    }

    public static func run(configuration: Configuration) throws -> Report {
        let redis = RedisBlockingConnection(endpoint: configuration.redisEndpoint)
        let backlog = try backlog(redis, streams: try outboxStreams(redis))
        guard backlog.isEmpty else { throw Refused(backlog: backlog) }
        let db = try PostgresConnection(url: configuration.postgresURL)
        defer { db.close() }
        var report = Report()
        let rows = try db.query("""
            SELECT user_id, sum(CASE type WHEN 'PAYMENT' THEN -amount ELSE amount END) AS balance
            FROM wallet_transactions GROUP BY user_id
            """)
        var commands: [[String]] = []
        for row in rows {
            let userID = try row.string("user_id")
            commands.append(["SET", UserKeys(userID: userID).wallet, String(try row.int64("balance"))])
            if commands.count == 1_000 {
                try send(commands, redis)
                commands.removeAll()
            }
            report.wallets += 1
        }
        if !commands.isEmpty { try send(commands, redis) }

        // Events: their queue settings and registry entries (the queues themselves were Redis-only state
        // and start empty; whoever was waiting enters again).
        for event in try EventStore.all(db) {
            let script = QueueScript(eventID: event.id)
            try send([["SADD", EventKeys.registry, event.id], ["SADD", EventKeys.outboxRegistry, script.keys.outbox]], redis)
            _ = try script.run(script.configure(event.queue, secret: event.queueSecret, version: event.queueVersion), on: redis)
            report.events += 1
        }

        // Products: stock = initial + every stock change the worker wrote (orders will subtract what they
        // took), with the price of the newest version. Set, not added: running twice changes nothing.
        var productCommands: [[String]] = []
        for (product, supply) in try ProductStore.supply(db) {
            productCommands.append(["HSET", EventKeys(eventID: product.eventID).product(product.id), "stock", String(supply),
                                    "price", String(product.price), "version", String(product.priceVersion)])
            report.products += 1
            if productCommands.count == 1_000 {
                try send(productCommands, redis)
                productCommands.removeAll()
            }
        }
        if !productCommands.isEmpty { try send(productCommands, redis) }
        return report
    }

    private static func send(_ commands: [[String]], _ redis: RedisBlockingConnection) throws {
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError(.protocolError, message) }
        }
    }

    private static func fields(_ value: RedisValue) -> [String: RedisValue]? {
        guard case .array(let items) = value else { return nil }
        var out: [String: RedisValue] = [:]
        var i = 0
        while i + 1 < items.count {
            if let key = items[i].string { out[key] = items[i + 1] }
            i += 2
        }
        return out
    }
}
