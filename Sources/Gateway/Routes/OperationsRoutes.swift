// GET /health and GET /metrics.
import HTTP
import JSON
import Runtime

struct OperationsRoutes {
    unowned let gateway: Gateway

    func register(into router: inout RouteTable) {
        router.add(.GET, "/health") { request in health(request) }
        router.add(.GET, "/metrics") { request in metrics(request) }
    }

    /// A real PING through the loop's pipelined connection; PostgreSQL as last seen by the background
    /// check. Redis down is 503 (the hot path needs it); PostgreSQL down is reported with 200.
    private func health(_ request: APIRequest) {
        let postgres = gateway.services.postgres.lastHealthy ? "ok" : "down"
        request.redis.send(["PING"]) { result in
            if case .success(.status("PONG")) = result {
                request.respond(200, json: ["status": "ok", "redis": "ok", "postgres": .string(postgres)])
            } else {
                request.respond(503, json: ["status": "unavailable", "redis": "down", "postgres": .string(postgres)],
                                headers: [("Retry-After", "1")])
            }
        }
    }

    private func metrics(_ request: APIRequest) {
        let server = gateway.server!
        let loop = request.loop
        gateway.gatherMetrics { merged, redisStates in
            server.counters { counters in
                var out = PrometheusText()
                merged.render(into: &out)
                out.family("floodgate_http_open_connections", "gauge", "Open client connections.")
                out.sample("floodgate_http_open_connections", [], server.openConnectionCount)
                out.family("floodgate_http_connections_accepted_total", "counter", "Connections accepted.")
                out.sample("floodgate_http_connections_accepted_total", [], counters.reduce(0) { $0 + $1.accepted })
                out.family("floodgate_http_connections_rejected_total", "counter", "Connections refused over the cap.")
                out.sample("floodgate_http_connections_rejected_total", [], counters.reduce(0) { $0 + $1.rejectedOverCap })
                out.family("floodgate_http_malformed_requests_total", "counter", "Requests refused by the parser.")
                out.sample("floodgate_http_malformed_requests_total", [], counters.reduce(0) { $0 + $1.malformed })
                out.family("floodgate_http_request_timeouts_total", "counter", "Requests cut at the request timeout (408).")
                out.sample("floodgate_http_request_timeouts_total", [], counters.reduce(0) { $0 + $1.timedOut })
                out.family("floodgate_redis_in_flight", "gauge", "Redis commands awaiting a reply, per loop.")
                for (i, state) in redisStates.enumerated() {
                    out.sample("floodgate_redis_in_flight", [("loop", String(i))], state.inFlight)
                }
                out.family("floodgate_redis_reconnects_total", "counter", "Redis reconnections, per loop.")
                for (i, state) in redisStates.enumerated() {
                    out.sample("floodgate_redis_reconnects_total", [("loop", String(i))], state.reconnects)
                }
                out.family("floodgate_postgres_up", "gauge", "1 when the last PostgreSQL check succeeded.")
                out.sample("floodgate_postgres_up", [], self.gateway.services.postgres.lastHealthy ? 1 : 0)
                let finish = { (out: PrometheusText) in
                    let body = Array(out.text.utf8)
                    loop.execute {
                        request.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: body))
                    }
                }
                guard let admission = self.gateway.services.admission else { return finish(out) }
                admission.lastRounds { rounds in
                    QueueMetrics.render(rounds, polls: merged, into: &out)
                    finish(out)
                }
            }
        }
    }
}
