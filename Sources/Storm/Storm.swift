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
        // A part's round: fresh things to race for, the same users (their wallets carry over). The parts go
        // at their own pace; with --rounds 0 (or N) each part goes again while --duration has time left.
        func makeScenario(_ part: Int, round: Int) -> Scenario {
            let tag = round == 1 ? run : "\(run)r\(round)"
            let offset = shares[..<part].reduce(0, +)
            let slice = Array(users[offset..<offset + shares[part]])
            switch kinds[part] {
            case .queueFlood: return QueueFlood(users: slice, maxActive: options.maxActive, admitPerSecond: options.admitPerSecond, price: options.price, run: tag)
            case .flashSale: return FlashSale(users: slice, stock: options.stock, price: options.price, run: tag)
            case .seatRace: return SeatRace(users: slice, seats: options.seats, price: options.price, run: tag)
            case .couponRace, .mixed: return CouponRace(users: slice, quantity: options.coupons, run: tag)
            }
        }
        // Every part's first round is set up before the load starts (set-up time is not load time).
        var rounds: [[Scenario]] = kinds.indices.map { [makeScenario($0, round: 1)] }
        for part in rounds { try part[0].prepare(api) }
        var report = StormReport(scenario: options.scenario.rawValue, targets: options.targets, clients: users.count)
        report.setupSeconds = since(began)

        // --- The load.
        var loadStart: UInt64 = 0
        var started = Set<Int>()
        let parts = kinds.indices.map { part in
            StormPart {
                if started.insert(part).inserted { return rounds[part][0].makeClients(targets: endpoints.count) }
                let round = rounds[part].count
                let left = options.durationSeconds - since(loadStart)
                guard options.rounds == 0 || round < options.rounds, left >= 1 else { return nil }
                let scenario = makeScenario(part, round: round + 1)
                try scenario.prepare(api)
                rounds[part].append(scenario)
                return scenario.makeClients(targets: endpoints.count)
            }
        }
        let driver = StormDriver(targets: endpoints, loops: options.loops, connectionsPerTarget: options.connectionsPerTarget,
                                 requestTimeoutMilliseconds: options.requestTimeoutMilliseconds)
        var lastTick = 0.0
        loadStart = monotonicNanos()
        let load = try driver.run(parts, seconds: options.durationSeconds, progressEvery: options.progressIntervalSeconds) { window, elapsed, total in
            progress?.update(scenario: options.scenario.rawValue, window: window, interval: elapsed - lastTick, elapsed: elapsed, total: total)
            lastTick = elapsed
        }
        progress?.end()
        report.loadSeconds = load.seconds
        report.stoppedByDeadline = load.stoppedByDeadline
        report.traffic = load.stats
        report.rounds = rounds.map { ($0[0].name, $0.count) }
        let labelled = rounds.flatMap { part in
            part.enumerated().map { round, scenario in (part.count == 1 ? scenario.name : "\(scenario.name) #\(round + 1)", scenario) }
        }

        // --- Read-back: what the server shows now, then PostgreSQL until it holds what was seen.
        let drainStart = monotonicNanos()
        var readFailures: [InvariantResult] = []
        for (name, scenario) in labelled {
            do { try scenario.readServer(api) } catch {
                readFailures.append(InvariantResult(name, "server read-back", false, "\(error)"))
            }
        }
        let wallets = WalletLedger(users: users)
        wallets.readServer(api)
        report.invariants = readFailures + checkUntilSettled(labelled, wallets, postgresURL: configuration.postgresURL,
                                                             timeout: options.drainTimeoutSeconds, settle: options.settleSeconds)
        report.drainSeconds = since(drainStart)
        report.observations = labelled.map { ($0.0, $0.1.observations()) }
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
    static func checkUntilSettled(_ scenarios: [(label: String, scenario: Scenario)], _ wallets: WalletLedger, postgresURL: String,
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
                results = try scenarios.flatMap { label, scenario in
                    try scenario.check(db!).map { InvariantResult(label, $0.name, $0.holds, $0.detail) }
                } + [wallets.check(db!)]
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
