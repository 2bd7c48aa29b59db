// The `floodgate` executable: a thin dispatcher over the modules. Each subcommand has --help.
import Foundation
import Gateway
import Persistence
import Runtime
import Storm
#if canImport(Glibc)
import Glibc
#endif

let version = "0.1.0"

struct Subcommand {
    let name: String
    let summary: String
    let usage: String
    let run: ([String]) throws -> Int32
}

let subcommands: [Subcommand] = [
    Subcommand(name: "serve", summary: "run the HTTP gateway",
               usage: "floodgate serve [options]\n\nRuns the gateway: N event-loop threads, each with its own listener and Redis connection.\nStops gracefully on SIGTERM/SIGINT (stops accepting, finishes in-flight requests).",
               run: Commands.serve),
    Subcommand(name: "worker", summary: "run the background worker (health and metrics on the worker port)",
               usage: "floodgate worker [options]\n\nRuns the background worker and its GET /health and GET /metrics on FLOODGATE_WORKER_PORT.",
               run: Commands.worker),
    Subcommand(name: "migrate", summary: "apply pending PostgreSQL migrations",
               usage: "floodgate migrate [options]\n\nApplies each versioned migration once, in order; safe to run from two processes at once.",
               run: Commands.migrate),
    Subcommand(name: "seed", summary: "load demo data",
               usage: "floodgate seed [options]\n  floodgate seed users --count N --out FILE [--token-ttl-seconds S]\n\nWithout a subcommand: loads the demo data set (idempotent): user demo@floodgate.local / floodgate-demo with a charged wallet.\nseed users: creates N users for load tests (password floodgate-test-password) and writes `userId,accessToken` lines to FILE\n(tokens live --token-ttl-seconds, default 3600).",
               run: Commands.seed),
    Subcommand(name: "recover", summary: "rebuild Redis state from PostgreSQL after Redis lost its data",
               usage: "floodgate recover [options]\n\nRefuses while any outbox stream holds events the worker has not written; then restores every\nwallet balance from PostgreSQL. Idempotent: running it twice changes nothing.",
               run: Commands.recover),
    Subcommand(name: "mock-platform", summary: "run a stand-in data-platform receiver (local runs and tests)",
               usage: "floodgate mock-platform --port P [--host 127.0.0.1] [--fail-share 0.5] [--fail-status 503] [--delay-ms N]\n\nReceives the worker's deliveries (POST with Idempotency-Key), deduplicates them by key and counts duplicates;\nfails --fail-share of them at random with --fail-status and answers after --delay-ms.\nGET /deliveries: {received, unique, duplicates, failed, rejected, ids}; GET /deliveries/{key}: the body;\nPOST /control {failShare?, delayMs?, failStatus?} changes the behaviour while running; DELETE /deliveries resets.",
               run: Commands.mockPlatform),
    Subcommand(name: "storm", summary: "load-test a running Floodgate and check its invariants",
               usage: StormOptions.usage, run: Commands.storm),
    Subcommand(name: "version", summary: "print the version", usage: "floodgate version",
               run: { _ in print("floodgate \(version)"); return 0 }),
]

func printUsage() {
    print("usage: floodgate <command> [options]\n\ncommands:")
    for command in subcommands { print("  \(command.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(command.summary)") }
    print("\nEvery command takes --help. Options (flag, environment variable, meaning, default):\n\(Configuration.helpText)")
}

Commands.blockTerminationSignals()
let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, name != "--help", name != "-h", name != "help" else {
    printUsage()
    exit(arguments.isEmpty ? 2 : 0)
}
guard let command = subcommands.first(where: { $0.name == name }) else {
    FileHandle.standardError.write("floodgate: unknown command '\(name)'\n".data(using: .utf8)!)
    printUsage()
    exit(2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
    print(command.usage)
    print("\noptions:\n\(Configuration.helpText)")
    exit(0)
}
do {
    let status = try command.run(rest)
    Log.flush()
    exit(status)
} catch {
    Log.error("\(name) failed", ["error": String(describing: error)])
    Log.flush()
    exit(1)
}
