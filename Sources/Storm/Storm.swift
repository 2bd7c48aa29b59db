// `floodgate storm` as a library call: set-up (users, wallets, what each scenario needs), the load on the
// storm's own loops, the read-back over HTTP, then the invariants against PostgreSQL once the worker has
// written what the clients saw. Returns the report; its `exitStatus` is 0 only if every invariant held.
//
// Nothing here runs on an event loop: seeding, the PostgreSQL reads and the waiting happen on the calling
// thread, before and after the loops carry the load.
import Foundation
import HTTP
import JSON
import Persistence
import Runtime

public enum Storm {
    public static func run(_ options: StormOptions, configuration: Configuration,
                           progress: StormProgress? = nil) throws -> StormReport {
        let began = monotonicNanos()
        func since(_ start: UInt64) -> Double { Double(monotonicNanos() - start) / 1e9 }
        let endpoints = try options.targets.map { try HTTPURL($0).endpoint }
        let run = SecureRandom.hex(bytes: 4)
        let api = try StormAPI(targets: endpoints, adminKey: options.adminKey, requestTimeoutMilliseconds: options.requestTimeoutMilliseconds)
        defer { api.shutdown() }

        // --- Set-up: users with money, and what each scenario races for.
        let kinds: [StormScenarioKind] = options.scenario == .mixed ? [.queueFlood, .flashSale, .seatRace, .couponRace] : [options.scenario]
        let shares = kinds.indices.map { max(1, options.clients / kinds.count + ($0 < options.clients % kinds.count ? 1 : 0)) }
        let users = try StormSetup.users(count: shares.reduce(0, +), options: options, configuration: configuration)
        try StormSetup.chargeWallets(users, amount: options.charge, run: run, api: api)
        var offset = 0
        let scenarios: [Scenario] = zip(kinds, shares).map { kind, share in
            let slice = Array(users[offset..<offset + share])
            offset += share
            switch kind {
            case .queueFlood: return QueueFlood(users: slice, maxActive: options.maxActive, admitPerSecond: options.admitPerSecond, price: options.price, run: run)
            case .flashSale: return FlashSale(users: slice, stock: options.stock, price: options.price, run: run)
            case .seatRace: return SeatRace(users: slice, seats: options.seats, price: options.price, run: run)
            case .couponRace, .mixed: return CouponRace(users: slice, quantity: options.coupons, run: run)
            }
        }
        for scenario in scenarios { try scenario.prepare(api) }
        var report = StormReport(scenario: options.scenario.rawValue, targets: options.targets, clients: users.count)
        report.setupSeconds = since(began)

        // --- The load.
        let driver = StormDriver(targets: endpoints, loops: options.loops, connectionsPerTarget: options.connectionsPerTarget,
                                 requestTimeoutMilliseconds: options.requestTimeoutMilliseconds)
        let clients = scenarios.flatMap { $0.makeClients(targets: endpoints.count) }
        var lastTick = 0.0
        let load = try driver.run(clients, seconds: options.durationSeconds, progressEvery: options.progressIntervalSeconds) { window, elapsed, total in
            progress?.update(scenario: options.scenario.rawValue, window: window, interval: elapsed - lastTick, elapsed: elapsed, total: total)
            lastTick = elapsed
        }
        progress?.end()
        report.loadSeconds = load.seconds
        report.stoppedByDeadline = load.stoppedByDeadline
        report.traffic = load.stats

        // --- Read-back: what the server shows now, then PostgreSQL until it holds what was seen.
        let drainStart = monotonicNanos()
        var readFailures: [InvariantResult] = []
        for scenario in scenarios {
            do { try scenario.readServer(api) } catch {
                readFailures.append(InvariantResult(scenario.name, "server read-back", false, "\(error)"))
            }
        }
        let wallets = WalletLedger(users: users)
        wallets.readServer(api)
        report.invariants = readFailures + checkUntilSettled(scenarios, wallets, postgresURL: configuration.postgresURL,
                                                             timeout: options.drainTimeoutSeconds, settle: options.settleSeconds)
        report.drainSeconds = since(drainStart)
        report.observations = scenarios.map { ($0.name, $0.observations()) }
        if let path = options.jsonPath {
            let text = report.json.description + "\n"
            guard FileManager.default.createFile(atPath: path, contents: text.data(using: .utf8)) else {
                throw StormSetupError("cannot write \(path)")
            }
        }
        return report
    }

    /// The checks, repeated while the worker drains: done when all hold, when nothing changed for
    /// `settle` seconds (a verdict that stays the same is the verdict), or after `timeout`.
    static func checkUntilSettled(_ scenarios: [Scenario], _ wallets: WalletLedger, postgresURL: String,
                                  timeout: Double, settle: Double) -> [InvariantResult] {
        let start = monotonicNanos()
        func elapsed() -> Double { Double(monotonicNanos() - start) / 1e9 }
        var db: PostgresConnection?
        defer { db?.close() }
        var last: [InvariantResult] = []
        var unchangedSince = 0.0
        while true {
            var results: [InvariantResult]
            do {
                if db == nil { db = try PostgresConnection(url: postgresURL) }
                results = try scenarios.flatMap { try $0.check(db!) } + [wallets.check(db!)]
            } catch {
                results = [InvariantResult("all", "PostgreSQL read-back", false, "\(error)")]
                db?.close()
                db = nil
            }
            if results.allSatisfy(\.holds) { return results }
            if results != last {
                last = results
                unchangedSince = elapsed()
            }
            if elapsed() - unchangedSince >= settle || elapsed() >= timeout { return results }
            usleep(250_000)
        }
    }
}
