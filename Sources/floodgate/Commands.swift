// The subcommands' bodies. Long-running ones block the main thread until SIGTERM/SIGINT.
import Foundation
import Gateway
import Worker
import Persistence
import Runtime
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
        _ = try configuration(arguments)
        Log.info("seed: this build defines no demo data yet")
        return 0
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
