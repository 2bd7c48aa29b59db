// The subcommands' bodies. Long-running ones block the main thread until SIGTERM/SIGINT.
import Foundation
import Gateway
import Worker
import Persistence
import Runtime
import Storm
#if canImport(Glibc)
import Glibc
#endif

enum Commands {
    static func configuration(_ arguments: [String]) throws -> Configuration {
        let (configuration, rest) = try Configuration.load(arguments: arguments)
        if !rest.isEmpty { throw Configuration.Invalid(description: "unknown option(s): \(rest.joined(separator: " "))") }
        return configuration
    }

    static func serve(_ arguments: [String]) throws -> Int32 {
        let configuration = try configuration(arguments)
        raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        let gateway = try Gateway(configuration: configuration)
        try gateway.start()
        waitForTerminationSignal()
        Log.info("shutting down gateway")
        gateway.shutdown()
        return 0
    }

    static func worker(_ arguments: [String]) throws -> Int32 {
        let configuration = try configuration(arguments)
        signal(SIGPIPE, SIG_IGN)
        let worker = try WorkerProcess(configuration: configuration)
        try worker.start()
        waitForTerminationSignal()
        Log.info("shutting down worker")
        worker.shutdown()
        return 0
    }

    /// `floodgate mock-platform --port P [--host H] [--fail-share 0.5] [--fail-status 503] [--delay-ms N]`
    static func mockPlatform(_ arguments: [String]) throws -> Int32 {
        var port = 8082, host = "127.0.0.1"
        var behaviour = MockPlatformReceiver.Behaviour()
        var i = 0
        while i < arguments.count {
            let value = i + 1 < arguments.count ? arguments[i + 1] : ""
            switch arguments[i] {
            case "--port":
                guard let n = Int(value), (0...65_535).contains(n) else { throw Configuration.Invalid(description: "--port takes 0...65535") }
                port = n
            case "--host":
                guard !value.isEmpty else { throw Configuration.Invalid(description: "--host takes an IPv4 address") }
                host = value
            case "--fail-share":
                guard let share = Double(value), (0...1).contains(share) else { throw Configuration.Invalid(description: "--fail-share takes 0...1") }
                behaviour.failShare = share
            case "--fail-status":
                guard let status = Int(value), (400...599).contains(status) else { throw Configuration.Invalid(description: "--fail-status takes 400...599") }
                behaviour.failStatus = status
            case "--delay-ms":
                guard let delay = Int(value), (0...600_000).contains(delay) else { throw Configuration.Invalid(description: "--delay-ms takes 0...600000") }
                behaviour.delayMilliseconds = delay
            default:
                throw Configuration.Invalid(description: "unknown option \(arguments[i])")
            }
            i += 2
        }
        signal(SIGPIPE, SIG_IGN)
        let receiver = try MockPlatformReceiver(host: host, port: port, behaviour: behaviour)
        try receiver.listen()
        Log.info("mock data platform listening", ["url": receiver.url, "failShare": "\(behaviour.failShare)",
                                                  "failStatus": "\(behaviour.failStatus)", "delayMs": "\(behaviour.delayMilliseconds)"])
        waitForTerminationSignal()
        let counts = receiver.snapshot.counts
        Log.info("mock data platform stopping", ["received": "\(counts.received)", "unique": "\(counts.unique)",
                                                 "duplicates": "\(counts.duplicates)", "failed": "\(counts.failed)"])
        receiver.shutdown()
        return 0
    }

    static func migrate(_ arguments: [String]) throws -> Int32 {
        let configuration = try configuration(arguments)
        let connection = try PostgresConnection(url: configuration.postgresURL)
        defer { connection.close() }
        let applied = try Migrator.migrate(connection)
        Log.info("migrations applied", ["applied": applied.map(String.init).joined(separator: ","),
                                        "current": "\(Migrations.all.map(\.version).max() ?? 0)"])
        return 0
    }

    static func seed(_ arguments: [String]) throws -> Int32 {
        if arguments.first == "users" { return try seedUsers(Array(arguments.dropFirst())) }
        let configuration = try configuration(arguments)
        let done = try DemoSeeder.seed(configuration: configuration)
        Log.info("demo data seeded", ["added": done.isEmpty ? "nothing (already there)" : done.joined(separator: ", "),
                                      "login": "\(DemoSeeder.email) / \(DemoSeeder.password)"])
        return 0
    }

    static func recover(_ arguments: [String]) throws -> Int32 {
        let configuration = try configuration(arguments)
        do {
            let report = try Recovery.run(configuration: configuration)
            Log.info("recovered Redis state from PostgreSQL", ["wallets": "\(report.wallets)", "events": "\(report.events)", "products": "\(report.products)", "orders": "\(report.orders)", "coupons": "\(report.coupons)", "performances": "\(report.performances)", "reservations": "\(report.reservations)"])
            return 0
        } catch let refused as Recovery.Refused {
            Log.error("recover refused", ["reason": refused.description])
            return 3
        }
    }

    /// `floodgate seed users --count N --out FILE [--token-ttl-seconds S]`
    static func seedUsers(_ arguments: [String]) throws -> Int32 {
        let (configuration, rest) = try Configuration.load(arguments: arguments)
        var count = 1_000, output = "users.csv", ttl = 3_600
        var i = 0
        while i < rest.count {
            let value = i + 1 < rest.count ? rest[i + 1] : ""
            switch rest[i] {
            case "--count":
                guard let n = Int(value), (1...10_000_000).contains(n) else { throw Configuration.Invalid(description: "--count takes 1...10000000") }
                count = n
            case "--out":
                guard !value.isEmpty else { throw Configuration.Invalid(description: "--out takes a file path") }
                output = value
            case "--token-ttl-seconds":
                guard let n = Int(value), (1...(30 * 86_400)).contains(n) else { throw Configuration.Invalid(description: "--token-ttl-seconds takes 1...2592000") }
                ttl = n
            default:
                throw Configuration.Invalid(description: "unknown option \(rest[i])")
            }
            i += 2
        }
        let report = try UserSeeder.seed(count: count, output: output, tokenTTLSeconds: ttl, configuration: configuration)
        Log.info("users seeded", ["count": "\(report.users)", "file": output, "seconds": String(format: "%.2f", report.seconds),
                                  "perSecond": String(format: "%.0f", Double(report.users) / max(report.seconds, 0.001)),
                                  "password": UserSeeder.testPassword])
        return 0
    }

    /// `floodgate storm SCENARIO [options]`: the report on stdout, progress on stderr; exit 0 only if every
    /// invariant held. The admin key: --admin-key, FLOODGATE_ADMIN_KEY, or scripts/run's dev key file.
    static func storm(_ arguments: [String]) throws -> Int32 {
        let (configuration, rest) = try Configuration.load(arguments: arguments)
        let devKey = (try? String(contentsOfFile: ".data/run/admin-key", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let options = try StormOptions.parse(rest, adminKey: configuration.adminKey ?? devKey.flatMap { $0.isEmpty ? nil : $0 })
        raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        let report = try Storm.run(options, configuration: configuration, progress: StormProgress.standardError())
        print(report.text)
        return report.exitStatus
    }

    /// The gateway holds one descriptor per connection: lift the soft limit to the hard one.
    static func raiseFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Blocks until SIGTERM or SIGINT. The signals are blocked in every thread and taken with sigwait
    /// here, so no handler runs in a random thread.
    static func waitForTerminationSignal() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        var received: Int32 = 0
        sigwait(&signals, &received)
    }

    /// Call first thing, before any thread starts, so every thread inherits the blocked mask.
    static func blockTerminationSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }
}
