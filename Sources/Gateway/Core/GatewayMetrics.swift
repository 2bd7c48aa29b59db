// Per-loop request metrics (no lock on the hot path: each loop counts its own), merged when /metrics is
// scraped, and the Prometheus text rendering.
import Runtime

public struct RouteKey: Hashable {
    public let method: String
    public let route: String
    public let status: Int
}

public struct GatewayMetrics {
    /// Upper bounds of the latency histogram in seconds.
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    public var requests: [RouteKey: Int] = [:]
    public var bucketCounts = [Int](repeating: 0, count: GatewayMetrics.buckets.count + 1)
    public var latencySum: Double = 0
    public var latencyCount = 0
    /// Queue polls answered from plain reads / through queue.lua (QueuePollCache).
    public var queuePollsFast = 0
    public var queuePollsScripted = 0

    public mutating func record(method: String, route: String, status: Int, nanos: UInt64) {
        requests[RouteKey(method: method, route: route, status: status), default: 0] += 1
        let seconds = Double(nanos) / 1e9
        var index = GatewayMetrics.buckets.count
        for (i, bound) in GatewayMetrics.buckets.enumerated() where seconds <= bound {
            index = i
            break
        }
        bucketCounts[index] += 1
        latencySum += seconds
        latencyCount += 1
    }

    public mutating func merge(_ other: GatewayMetrics) {
        for (key, count) in other.requests { requests[key, default: 0] += count }
        for i in bucketCounts.indices { bucketCounts[i] += other.bucketCounts[i] }
        latencySum += other.latencySum
        latencyCount += other.latencyCount
        queuePollsFast += other.queuePollsFast
        queuePollsScripted += other.queuePollsScripted
    }
}

extension GatewayMetrics {
    public func render(into out: inout PrometheusText) {
        out.family("floodgate_http_requests_total", "counter", "HTTP requests answered, by route and status.")
        for (key, count) in requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out.sample("floodgate_http_requests_total",
                       [("method", key.method), ("route", key.route), ("status", String(key.status))], count)
        }
        out.family("floodgate_http_request_duration_seconds", "histogram", "Time from parsed request to response.")
        var cumulative = 0
        for (i, bound) in GatewayMetrics.buckets.enumerated() {
            cumulative += bucketCounts[i]
            out.sample("floodgate_http_request_duration_seconds_bucket", [("le", String(bound))], cumulative)
        }
        cumulative += bucketCounts[GatewayMetrics.buckets.count]
        out.sample("floodgate_http_request_duration_seconds_bucket", [("le", "+Inf")], cumulative)
        out.sample("floodgate_http_request_duration_seconds_sum", [], latencySum)
        out.sample("floodgate_http_request_duration_seconds_count", [], latencyCount)
    }
}
