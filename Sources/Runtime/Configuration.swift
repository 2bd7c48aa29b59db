// The configuration contract of DESIGN.md, read from environment variables, each overridable by a
// command-line flag of the same meaning (`floodgate serve --port 9000`). README lists them all.
import Foundation

public struct Configuration {
    public var redisURL = "redis://127.0.0.1:6379"
    public var postgresURL = "postgresql://floodgate@127.0.0.1:5432/floodgate"
    public var host = "127.0.0.1"
    public var port = 8080
    public var threads = EventLoopGroup.coreCount
    /// nil: admin routes answer 403 (production default; the run command sets a dev key).
    public var adminKey: String?
    public var workerPort = 8081
    public var dataPlatformURL: String?
    public var holdTTLSeconds = 300
    public var maxConnections = 16_384
    public var requestTimeoutSeconds = 10
    public var idleTimeoutSeconds = 60
    public var redisTimeoutMilliseconds = 2_000
    public var postgresPoolSize = 4
    public var accessTokenTTLSeconds = 900
    public var refreshTokenTTLSeconds = 14 * 86_400
    /// Outbox entries the worker reads per stream per round (XREADGROUP COUNT); one transaction holds a round.
    public var workerBatch = 1_000
    /// Failed attempts (or deliveries) after which an outbox entry goes to its dead-letter stream.
    public var workerMaxAttempts = 5
    /// How long an outbox entry must sit unacknowledged before another worker takes it over (XAUTOCLAIM).
    public var workerClaimIdleMilliseconds = 30_000
    /// How often each gateway runs the admission script of every queued event.
    public var admissionIntervalMilliseconds = 200
    /// How long a payment may stay debited-but-unsettled before the worker's reconciler finishes it.
    public var reconcileAfterSeconds = 10
    /// Test hook: every payment stops right after its debit, as if the gateway crashed there.
    public var testStopPaymentAfterDebit = false

    /// One entry per setting: environment name, flag, default text, meaning (for --help and the README).
    public static let settings: [(env: String, flag: String, defaultText: String, meaning: String)] = [
        ("FLOODGATE_REDIS_URL", "--redis-url", "redis://127.0.0.1:6379", "Redis address"),
        ("FLOODGATE_PG_URL", "--pg-url", "postgresql://floodgate@127.0.0.1:5432/floodgate", "PostgreSQL libpq URI"),
        ("FLOODGATE_HOST", "--host", "127.0.0.1", "address the gateway listens on"),
        ("FLOODGATE_PORT", "--port", "8080", "gateway HTTP port"),
        ("FLOODGATE_THREADS", "--threads", "number of cores", "event-loop threads"),
        ("FLOODGATE_ADMIN_KEY", "--admin-key", "none (admin routes 403)", "key for X-Admin-Key"),
        ("FLOODGATE_WORKER_PORT", "--worker-port", "8081", "worker's metrics/health port"),
        ("FLOODGATE_DATA_PLATFORM_URL", "--data-platform-url", "none: no delivery (scripts/run: its mock receiver)", "where paid orders and confirmed reservations are delivered"),
        ("FLOODGATE_HOLD_TTL_SECONDS", "--hold-ttl-seconds", "300", "seat and pending-order hold time"),
        ("FLOODGATE_MAX_CONNECTIONS", "--max-connections", "16384", "open HTTP connections before new ones get 503"),
        ("FLOODGATE_REQUEST_TIMEOUT_SECONDS", "--request-timeout-seconds", "10", "a request must arrive within this (408)"),
        ("FLOODGATE_IDLE_TIMEOUT_SECONDS", "--idle-timeout-seconds", "60", "idle keep-alive connections close after this"),
        ("FLOODGATE_REDIS_TIMEOUT_MS", "--redis-timeout-ms", "2000", "a Redis command without reply fails after this (503)"),
        ("FLOODGATE_PG_POOL_SIZE", "--pg-pool-size", "4", "PostgreSQL connections per process"),
        ("FLOODGATE_ACCESS_TOKEN_TTL_SECONDS", "--access-token-ttl-seconds", "900", "access token lifetime"),
        ("FLOODGATE_REFRESH_TOKEN_TTL_SECONDS", "--refresh-token-ttl-seconds", "1209600", "refresh token lifetime (14 days)"),
        ("FLOODGATE_LOG_LEVEL", "--log-level", "info", "debug, info, warn or error"),
        ("FLOODGATE_WORKER_BATCH", "--worker-batch", "1000", "outbox entries the worker reads per stream per round"),
        ("FLOODGATE_WORKER_MAX_ATTEMPTS", "--worker-max-attempts", "5", "attempts before an outbox entry is dead-lettered"),
        ("FLOODGATE_WORKER_CLAIM_IDLE_MS", "--worker-claim-idle-ms", "30000", "idle time before a worker takes over another's outbox entries"),
        ("FLOODGATE_ADMISSION_INTERVAL_MS", "--admission-interval-ms", "200", "how often each gateway runs queue admission"),
        ("FLOODGATE_RECONCILE_AFTER_SECONDS", "--reconcile-after-seconds", "10", "a payment debited but not settled this long is finished by the worker"),
        ("FLOODGATE_TEST_STOP_AFTER_DEBIT", "--test-stop-after-debit", "0", "test hook: 1 stops every payment after its debit (the reconciler finishes it)"),
    ]

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public init() {}

    /// Reads the environment, then `arguments` (flags as `--name value` or `--name=value`). Unknown flags
    /// and malformed values are errors: a typo must not silently fall back to a default.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            arguments: [String]) throws -> (Configuration, rest: [String]) {
        var values: [String: String] = [:]
        for setting in settings { if let value = environment[setting.env] { values[setting.env] = value } }
        var rest: [String] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            if let setting = settings.first(where: { $0.flag == parts[0] }) {
                if parts.count == 2 {
                    values[setting.env] = parts[1]
                } else {
                    guard i + 1 < arguments.count else { throw Invalid(description: "\(argument) needs a value") }
                    values[setting.env] = arguments[i + 1]
                    i += 1
                }
            } else {
                rest.append(argument)
            }
            i += 1
        }
        var config = Configuration()
        func int(_ env: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = values[env] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw Invalid(description: "\(env)=\(text): expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        if let v = values["FLOODGATE_REDIS_URL"] {
            guard RedisEndpoint(url: v) != nil else { throw Invalid(description: "FLOODGATE_REDIS_URL=\(v): expected redis://host:port") }
            config.redisURL = v
        }
        if let v = values["FLOODGATE_PG_URL"] { config.postgresURL = v }
        if let v = values["FLOODGATE_HOST"] { config.host = v }
        if let v = try int("FLOODGATE_PORT", 0...65535) { config.port = v }
        if let v = try int("FLOODGATE_THREADS", 1...256) { config.threads = v }
        if let v = values["FLOODGATE_ADMIN_KEY"], !v.isEmpty { config.adminKey = v }
        if let v = try int("FLOODGATE_WORKER_PORT", 0...65535) { config.workerPort = v }
        if let v = values["FLOODGATE_DATA_PLATFORM_URL"], !v.isEmpty { config.dataPlatformURL = v }
        if let v = try int("FLOODGATE_HOLD_TTL_SECONDS", 1...86_400) { config.holdTTLSeconds = v }
        if let v = try int("FLOODGATE_MAX_CONNECTIONS", 1...1_000_000) { config.maxConnections = v }
        if let v = try int("FLOODGATE_REQUEST_TIMEOUT_SECONDS", 1...3_600) { config.requestTimeoutSeconds = v }
        if let v = try int("FLOODGATE_IDLE_TIMEOUT_SECONDS", 1...86_400) { config.idleTimeoutSeconds = v }
        if let v = try int("FLOODGATE_REDIS_TIMEOUT_MS", 10...60_000) { config.redisTimeoutMilliseconds = v }
        if let v = try int("FLOODGATE_PG_POOL_SIZE", 1...64) { config.postgresPoolSize = v }
        if let v = try int("FLOODGATE_ACCESS_TOKEN_TTL_SECONDS", 1...86_400) { config.accessTokenTTLSeconds = v }
        if let v = try int("FLOODGATE_REFRESH_TOKEN_TTL_SECONDS", 1...(365 * 86_400)) { config.refreshTokenTTLSeconds = v }
        if let v = try int("FLOODGATE_WORKER_BATCH", 1...100_000) { config.workerBatch = v }
        if let v = try int("FLOODGATE_WORKER_MAX_ATTEMPTS", 1...1_000) { config.workerMaxAttempts = v }
        if let v = try int("FLOODGATE_WORKER_CLAIM_IDLE_MS", 100...86_400_000) { config.workerClaimIdleMilliseconds = v }
        if let v = try int("FLOODGATE_ADMISSION_INTERVAL_MS", 10...10_000) { config.admissionIntervalMilliseconds = v }
        if let v = try int("FLOODGATE_RECONCILE_AFTER_SECONDS", 1...86_400) { config.reconcileAfterSeconds = v }
        if let v = try int("FLOODGATE_TEST_STOP_AFTER_DEBIT", 0...1) { config.testStopPaymentAfterDebit = v == 1 }
        if let v = values["FLOODGATE_LOG_LEVEL"] {
            guard let level = LogLevel(name: v) else { throw Invalid(description: "FLOODGATE_LOG_LEVEL=\(v): expected debug, info, warn or error") }
            Log.level = level
        }
        return (config, rest)
    }

    public var redisEndpoint: RedisEndpoint { RedisEndpoint(url: redisURL)! }

    /// Text for `--help`.
    public static var helpText: String {
        settings.map { "  \($0.flag.padding(toLength: 28, withPad: " ", startingAt: 0)) \($0.env) — \($0.meaning) (default: \($0.defaultText))" }
            .joined(separator: "\n")
    }
}
