// `floodgate recover`: rebuilds Redis state (wallets, event settings, stock, unpaid orders, coupons, seats) from
// PostgreSQL after Redis lost its data. PostgreSQL is the durable record only once the outbox has drained, so recovery
// refuses while any outbox stream still holds events the writer group has not acknowledged. Idempotent:
// it sets values, never adds.
import Foundation
import JSON
import Inventory
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
        /// Unpaid orders whose hold was still running, put back with it.
        public var orders = 0
        /// Coupons whose remaining count and holders were written back.
        public var coupons = 0
        /// Concert performances whose facts and seat states were written back.
        public var performances = 0
        /// Seat reservations put back: HELD ones whose hold still runs, and CONFIRMED ones (their seat SOLD).
        public var reservations = 0
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

        // Live orders: unpaid orders whose hold has not run out get their order hash and hold back (the
        // sweepers expire them on time); those already past it are EXPIRED in PostgreSQL too.
        try db.query("UPDATE orders SET status = 'EXPIRED', updated_at = now() WHERE status = 'PENDING_PAYMENT' AND expires_at <= now()")
        var held: [String: Int64] = [:]
        var orderCommands: [[String]] = []
        for live in try liveOrders(db) {
            let keys = EventKeys(eventID: live.eventID)
            orderCommands.append(["HSET", keys.order(live.orderID), "user", live.userID, "status", "PENDING_PAYMENT", "record", live.record])
            orderCommands.append(["ZADD", keys.holds, String(live.expiresAt), live.orderID])
            for (product, quantity) in live.items { held[product, default: 0] += quantity }
            report.orders += 1
        }
        if !orderCommands.isEmpty { try send(orderCommands, redis) }

        // Products: stock = initial + every stock change − units sold − units held, with the price of
        // the newest version. Set, not added: running twice changes nothing.
        let sold = try Dictionary(uniqueKeysWithValues: db.query("""
            SELECT i.product_id, sum(i.quantity)::bigint AS units FROM order_items i JOIN orders o ON o.id = i.order_id
            WHERE o.status = 'PAID' GROUP BY i.product_id
            """).map { (try $0.string("product_id"), try $0.int64("units")) })
        var productCommands: [[String]] = []
        for (product, supply) in try ProductStore.supply(db) {
            let stock = supply - (sold[product.id] ?? 0) - (held[product.id] ?? 0)
            productCommands.append(["HSET", EventKeys(eventID: product.eventID).product(product.id), "stock", String(max(0, stock)),
                                    "price", String(product.price), "version", String(product.priceVersion)])
            report.products += 1
            if productCommands.count == 1_000 {
                try send(productCommands, redis)
                productCommands.removeAll()
            }
        }
        if !productCommands.isEmpty { try send(productCommands, redis) }

        // Coupons: the window and terms, remaining = quantity − issues, and every holder (ISSUED, or USED by
        // its payment).
        var couponCommands: [[String]] = []
        for coupon in try CouponStore.all(db) {
            let scripts = CouponScripts(couponID: coupon.id)
            let holders = try db.query("""
                SELECT user_id, (extract(epoch FROM issued_at) * 1000)::bigint AS at_ms,
                       (extract(epoch FROM used_at) * 1000)::bigint AS used_ms, payment_id
                FROM coupon_issues WHERE coupon_id = $1
                """, [coupon.id])
            couponCommands += scripts.create(coupon.draft)
            couponCommands.append(["HSET", scripts.keys.coupon, "remaining", String(coupon.draft.quantity - Int64(holders.count))])
            couponCommands.append(["DEL", scripts.keys.holders])
            for holder in holders {
                let used = try holder.isNull("used_ms") ? nil : try holder.int64("used_ms")
                let payment = try holder.isNull("payment_id") ? nil : try holder.string("payment_id")
                let state = CouponHolding.state(issuedAtMs: try holder.int64("at_ms"), usedAtMs: used, paymentID: payment)
                couponCommands.append(["HSET", scripts.keys.holders, try holder.string("user_id"), state])
            }
            couponCommands.append(["SADD", EventKeys.outboxRegistry, scripts.keys.outbox])
            report.coupons += 1
        }
        if !couponCommands.isEmpty { try send(couponCommands, redis) }
        try SeatRecovery.run(db, redis, &report)
        return report
    }

    private struct LiveOrder {
        let orderID: String, eventID: String, userID: String, expiresAt: Int64
        let items: [(String, Int64)]
        /// The order's record as order_place.lua writes it.
        let record: String
    }

    private static func liveOrders(_ db: PostgresConnection) throws -> [LiveOrder] {
        let rows = try db.query("""
            SELECT o.id, o.event_id, o.user_id, o.total_amount,
                   (extract(epoch FROM o.created_at) * 1000)::bigint AS created_ms, (extract(epoch FROM o.expires_at) * 1000)::bigint AS expires_ms,
                   array_agg(i.product_id ORDER BY i.product_id) AS products, array_agg(i.quantity ORDER BY i.product_id) AS quantities,
                   array_agg(i.unit_price ORDER BY i.product_id) AS prices
            FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE o.status = 'PENDING_PAYMENT' AND o.expires_at > now()
            GROUP BY o.id
            """)
        return try rows.map { row in
            let products = parseArray(try row.string("products"))
            let quantities = parseArray(try row.string("quantities")).compactMap { Int64($0) }
            let prices = parseArray(try row.string("prices")).compactMap { Int64($0) }
            let items = zip(products, zip(quantities, prices)).map { ($0.0, $0.1.0, $0.1.1) }
            let id = try row.string("id"), eventID = try row.string("event_id"), userID = try row.string("user_id")
            let created = try row.int64("created_ms"), expires = try row.int64("expires_ms")
            let record: JSONValue = ["orderId": .string(id), "eventId": .string(eventID), "userId": .string(userID),
                                     "items": .array(items.map { ["productId": .string($0.0), "quantity": .int($0.1), "unitPrice": .int($0.2)] }),
                                     "totalAmount": .int(try row.int64("total_amount")), "createdAt": .int(created), "expiresAt": .int(expires)]
            return LiveOrder(orderID: id, eventID: eventID, userID: userID, expiresAt: expires, items: items.map { ($0.0, $0.1) },
                             record: record.jsonText)
        }
    }

    /// The elements of a one-dimensional PostgreSQL array literal of plain words (ids, integers).
    private static func parseArray(_ text: String) -> [String] {
        text.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
    }

    static func send(_ commands: [[String]], _ redis: RedisBlockingConnection) throws {
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
