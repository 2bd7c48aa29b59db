// The gateway process: event loops, one pipelined Redis connection per loop, a PostgreSQL pool kept
// off the loops, the HTTP server, and the router that turns requests into route handlers. Route
// families register themselves in `Routes/`; this file only wires and dispatches.
import Foundation
import HTTP
import JSON
import Persistence
import Inventory
import Queue
import Runtime

public typealias RouteHandler = (APIRequest) throws -> Void

/// The router plus the list of what was registered (for the OpenAPI coverage test and diagnostics).
public struct RouteTable {
    var router = Router<RouteHandler>()
    public private(set) var routes: [(method: HTTPMethod, pattern: String)] = []

    mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping RouteHandler) {
        router.add(method, pattern, handler)
        routes.append((method, pattern))
    }
}

/// What handlers share: configuration and clients. Everything here is safe to use from any loop.
public final class GatewayServices: @unchecked Sendable {
    public let configuration: Configuration
    public let group: EventLoopGroup
    public let redis: RedisClient
    public let postgres: PostgresPool
    /// Password hashing and other blocking work, never on a loop.
    public let blocking: BlockingPool
    /// Runs queue admission on the first loop; set by `Gateway.start()`.
    public internal(set) var admission: AdmissionTicker?
    /// Releases the holds of unpaid orders past their deadline; set by `Gateway.start()`.
    public internal(set) var holdSweeper: HoldSweeper?

    init(configuration: Configuration, group: EventLoopGroup) {
        self.configuration = configuration
        self.group = group
        redis = RedisClient(group: group, endpoint: configuration.redisEndpoint,
                            commandTimeoutMilliseconds: configuration.redisTimeoutMilliseconds)
        postgres = PostgresPool(url: configuration.postgresURL, size: configuration.postgresPoolSize)
        blocking = BlockingPool(threads: max(2, EventLoopGroup.coreCount), queueCapacity: 2_000, name: "blocking")
    }
}

/// Per-loop mutable state, touched only on its loop.
final class LoopState {
    var metrics = GatewayMetrics()
    /// What this loop's queue polls remember between requests (QueuePollCache explains).
    let queuePolls = QueuePollCache()
    /// productId → eventId, learned from PostgreSQL once per product (a product never changes event), so
    /// placing an order does not wait on PostgreSQL after the first order of a product on this loop.
    var productEvents: [String: String] = [:]
    /// Lookups of productEvents in flight, with the requests waiting on each.
    var productLookups: [String: [(Error?) -> Void]] = [:]
    /// performanceId → eventId, learned from PostgreSQL once per performance (PerformanceDirectory), with
    /// the lookups in flight and the requests waiting on each.
    var performanceEvents: [String: String] = [:]
    var performanceLookups: [String: [(Error?) -> Void]] = [:]
    /// GET /products/popular answers by "days|limit", with when they were computed (monotonic).
    var popular: [String: (body: [UInt8], at: UInt64)] = [:]
}

public final class Gateway: @unchecked Sendable {
    public let services: GatewayServices
    public private(set) var routeTable = RouteTable()
    private var loopStates: [LoopState]
    public private(set) var server: HTTPServer!

    public var port: Int { server.port }

    public init(configuration: Configuration) throws {
        let group = try EventLoopGroup(threads: configuration.threads, name: "gateway")
        services = GatewayServices(configuration: configuration, group: group)
        loopStates = group.loops.map { _ in LoopState() }
        OperationsRoutes(gateway: self).register(into: &routeTable)
        IdentityRoutes().register(into: &routeTable)
        WalletRoutes().register(into: &routeTable)
        EventAdminRoutes().register(into: &routeTable)
        QueueRoutes().register(into: &routeTable)
        ProductAdminRoutes().register(into: &routeTable)
        ProductRoutes().register(into: &routeTable)
        CartRoutes().register(into: &routeTable)
        OrderRoutes().register(into: &routeTable)
        PaymentRoutes().register(into: &routeTable)
        CouponRoutes().register(into: &routeTable)
        ConcertAdminRoutes().register(into: &routeTable)
        ConcertRoutes().register(into: &routeTable)
        ReservationRoutes().register(into: &routeTable)
    }

    /// Adds a route; used by the route families before `start()`.
    func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping RouteHandler) {
        routeTable.add(method, pattern, handler)
    }

    public func start() throws {
        var serverConfiguration = HTTPServerConfiguration()
        let configuration = services.configuration
        serverConfiguration.host = configuration.host
        serverConfiguration.port = configuration.port
        serverConfiguration.maxConnections = configuration.maxConnections
        serverConfiguration.requestTimeoutSeconds = configuration.requestTimeoutSeconds
        serverConfiguration.idleTimeoutSeconds = configuration.idleTimeoutSeconds
        server = HTTPServer(configuration: serverConfiguration, group: services.group) { [unowned self] request, context, completion in
            self.dispatch(request, context, completion)
        }
        try server.start()
        // PostgreSQL's state for /health comes from this background check, never from a query per request.
        let postgres = services.postgres
        postgres.checkHealth()
        services.group.loops[0].execute {
            self.services.group.loops[0].scheduleRepeating(everyMilliseconds: 1_000) {
                postgres.checkHealth()
                return true
            }
        }
        let ticker = AdmissionTicker(loop: services.group.loops[0], redis: services.redis.on(services.group.loops[0]),
                                     intervalMilliseconds: configuration.admissionIntervalMilliseconds)
        services.admission = ticker
        ticker.start()
        let sweeper = HoldSweeper(loop: services.group.loops[0], redis: services.redis.on(services.group.loops[0]))
        services.holdSweeper = sweeper
        sweeper.start()
        Log.info("gateway listening", ["port": "\(server.port)", "threads": "\(services.group.loops.count)",
                                       "redis": configuration.redisURL])
    }

    /// Graceful: stop accepting, finish in-flight requests, close clients, stop loops.
    public func shutdown() {
        server?.shutdown()
        services.admission?.stop()
        services.holdSweeper?.stop()
        services.redis.close()
        services.group.shutdown()
        services.postgres.shutdown()
        services.blocking.shutdown()
    }

    private func dispatch(_ http: HTTPRequest, _ context: HTTPRequestContext, _ completion: @escaping (HTTPResponse) -> Void) {
        let loop = context.loop
        switch routeTable.router.match(http.method, path: http.path) {
        case .found(let handler, let parameters, let pattern):
            let state = loopStates[loop.index]
            let method = http.method.name
            let request = APIRequest(http: http, parameters: parameters, loop: loop, loopState: state, services: services) { response in
                state.metrics.record(method: method, route: pattern, status: response.status,
                                     nanos: monotonicNanos() - context.receivedAt)
                completion(response)
            }
            do {
                try handler(request)
            } catch {
                if !request.responded { request.fail(error) }
            }
        case .methodNotAllowed(let allowed):
            loopStates[loop.index].metrics.record(method: http.method.name, route: "unmatched", status: 405,
                                                  nanos: monotonicNanos() - context.receivedAt)
            completion(APIError(405, "METHOD_NOT_ALLOWED", "\(http.method.name) is not allowed here",
                                headers: [("Allow", allowed.map(\.name).joined(separator: ", "))]).response)
        case .notFound:
            loopStates[loop.index].metrics.record(method: http.method.name, route: "unmatched", status: 404,
                                                  nanos: monotonicNanos() - context.receivedAt)
            completion(APIError.notFound("route").response)
        }
    }

    /// Metrics of all loops merged, gathered on the loops themselves.
    func gatherMetrics(_ completion: @escaping (GatewayMetrics, [(inFlight: Int, reconnects: Int)]) -> Void) {
        let states = loopStates
        let redis = services.redis
        services.group.gather({ loop -> (GatewayMetrics, (Int, Int)) in
            let connection = redis.on(loop)
            return (states[loop.index].metrics, (connection.inFlightCount, connection.reconnects))
        }) { results in
            var merged = GatewayMetrics()
            for (metrics, _) in results { merged.merge(metrics) }
            completion(merged, results.map { (inFlight: $0.1.0, reconnects: $0.1.1) })
        }
    }
}
