// What one loop's virtual clients sent and got back. Each loop keeps its own (touched only on that loop,
// so recording takes no lock); progress lines copy a loop's window from the loop itself, and the report
// adds every loop's totals up once the loops have stopped.
public struct TrafficStats {
    public var requests = 0
    /// Calls that got no answer at all (refused, timed out, closed): counted under "error:<kind>".
    public var transportErrors = 0
    /// 5xx answers: the server failed, as opposed to refusing (4xx), which the scenarios expect.
    public var serverErrors = 0
    /// Answers by status ("201", "409", "error:timeout").
    public var statuses: [String: Int] = [:]
    /// Answers by route and status ("POST /orders" → "201" → n).
    public var operations: [String: [String: Int]] = [:]
    public var latency = LatencyHistogram()

    public init() {}

    mutating func record(operation: String, outcome: APIOutcome, microseconds: Int64) {
        requests += 1
        latency.record(microseconds)
        let key: String
        switch outcome {
        case .success(let response):
            key = String(response.status)
            if response.status >= 500 { serverErrors += 1 }
        case .failure(let error):
            key = "error:\(error.kind)"
            transportErrors += 1
        }
        statuses[key, default: 0] += 1
        operations[operation, default: [:]][key, default: 0] += 1
    }

    public var errors: Int { transportErrors + serverErrors }

    public mutating func merge(_ other: TrafficStats) {
        requests += other.requests
        transportErrors += other.transportErrors
        serverErrors += other.serverErrors
        for (key, n) in other.statuses { statuses[key, default: 0] += n }
        for (operation, counts) in other.operations {
            for (key, n) in counts { operations[operation, default: [:]][key, default: 0] += n }
        }
        latency.merge(other.latency)
    }
}
