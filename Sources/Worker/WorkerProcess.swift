// `floodgate worker`: the background process beside the gateways. It serves GET /health and
// GET /metrics on its own port (FLOODGATE_WORKER_PORT) from one event loop; the jobs it runs
// (outbox write-behind, reconciler, data-platform delivery) attach to it as they are built.
// The outbox write-behind is an OutboxConsumer on a thread of its own: it never runs on the loop, and
// the loop renders its metrics from a snapshot without waiting on Redis or PostgreSQL. The data-platform
// delivery (PlatformFeed) runs only when FLOODGATE_DATA_PLATFORM_URL is set, on threads of its own.
import Foundation
import HTTP
import Persistence
import Runtime

public final class WorkerProcess: @unchecked Sendable {
    public let configuration: Configuration
    private let group: EventLoopGroup
    private let redis: RedisClient
    private let postgres: PostgresPool
    private var server: HTTPServer!
    private let startedAt = monotonicNanos()
    /// Drains the outbox streams into PostgreSQL.
    public let outbox: OutboxConsumer
    /// Finishes payments left debited by a crash.
    public let reconciler: PaymentReconciler
    /// Delivers paid orders and confirmed reservations; nil when no data-platform URL is configured.
    public let platformFeed: PlatformFeed?

    public var port: Int { server.port }

    public init(configuration: Configuration) throws {
        self.configuration = configuration
        group = try EventLoopGroup(threads: 1, name: "worker")
        redis = RedisClient(group: group, endpoint: configuration.redisEndpoint,
                            commandTimeoutMilliseconds: configuration.redisTimeoutMilliseconds)
        postgres = PostgresPool(url: configuration.postgresURL, size: 1)
        outbox = OutboxConsumer(settings: OutboxConsumer.Settings(configuration: configuration))
        reconciler = PaymentReconciler(redis: configuration.redisEndpoint, graceSeconds: configuration.reconcileAfterSeconds)
        platformFeed = try PlatformFeed.Settings(configuration: configuration).map { PlatformFeed(settings: $0) }
    }

    public func start() throws {
        var serverConfiguration = HTTPServerConfiguration()
        serverConfiguration.host = configuration.host
        serverConfiguration.port = configuration.workerPort
        serverConfiguration.maxConnections = 256
        server = HTTPServer(configuration: serverConfiguration, group: group) { [unowned self] request, context, completion in
            self.respond(request, context.loop, completion)
        }
        try server.start()
        let loop = group.loops[0]
        postgres.checkHealth()
        loop.execute { [postgres] in
            loop.scheduleRepeating(everyMilliseconds: 1_000) { postgres.checkHealth(); return true }
        }
        outbox.start()
        reconciler.start()
        if let platformFeed {
            try platformFeed.start()
        } else {
            Log.info("data-platform delivery is off (FLOODGATE_DATA_PLATFORM_URL is not set)")
        }
        Log.info("worker listening", ["port": "\(server.port)"])
    }

    public func shutdown() {
        // First: a batch being written is committed and acknowledged before the process goes.
        reconciler.stop()
        platformFeed?.stop()
        outbox.stop()
        server?.shutdown(graceSeconds: 2)
        redis.close()
        group.shutdown()
        postgres.shutdown()
    }

    /// The feed's metrics, or a single gauge saying delivery is off.
    private func platformMetricsText() -> String {
        let on = platformFeed != nil
        let enabled = "# HELP floodgate_platform_delivery_enabled 1 when FLOODGATE_DATA_PLATFORM_URL is set and the feed runs.\n"
            + "# TYPE floodgate_platform_delivery_enabled gauge\nfloodgate_platform_delivery_enabled \(on ? 1 : 0)\n"
        return enabled + (platformFeed?.metrics.prometheusText() ?? "")
    }

    private func respond(_ request: HTTPRequest, _ loop: EventLoop, _ completion: @escaping (HTTPResponse) -> Void) {
        let postgresUp = postgres.lastHealthy
        switch (request.method, request.path) {
        case (.GET, "/health"), (.HEAD, "/health"):
            redis.on(loop).send(["PING"]) { result in
                let redisUp = (try? result.get()) == .status("PONG")
                let body = "{\"status\":\"\(redisUp && postgresUp ? "ok" : "degraded")\",\"redis\":\"\(redisUp ? "ok" : "down")\",\"postgres\":\"\(postgresUp ? "ok" : "down")\"}"
                // The worker needs both to do its job: either one down is 503.
                completion(.json(redisUp && postgresUp ? 200 : 503, Array(body.utf8),
                                 headers: redisUp && postgresUp ? [] : [("Retry-After", "1")]))
            }
        case (.GET, "/metrics"):
            let uptime = Double(monotonicNanos() - startedAt) / 1e9
            let text = """
            # HELP floodgate_worker_uptime_seconds Seconds since the worker started.
            # TYPE floodgate_worker_uptime_seconds gauge
            floodgate_worker_uptime_seconds \(uptime)
            # HELP floodgate_postgres_up 1 when the last PostgreSQL check succeeded.
            # TYPE floodgate_postgres_up gauge
            floodgate_postgres_up \(postgresUp ? 1 : 0)

            # HELP floodgate_payments_reconciled_total Payments a crash left debited, finished by this worker.
            # TYPE floodgate_payments_reconciled_total counter
            floodgate_payments_reconciled_total{outcome="paid"} \(reconciler.counts.paid)
            floodgate_payments_reconciled_total{outcome="refunded"} \(reconciler.counts.refunded)

            """ + outbox.metrics.prometheusText() + platformMetricsText()
            completion(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                    body: Array(text.utf8)))
        default:
            completion(.error(404, code: "NOT_FOUND", message: "not found", detailsJSON: "{\"resource\":\"route\"}"))
        }
    }
}
