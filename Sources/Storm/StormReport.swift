// The end of a storm: what was sent, how fast and how long it took, what came back, and whether every
// invariant held — as text for people and as JSON (`--json FILE`) for machines.
import Foundation
import JSON

public struct StormReport {
    public var scenario: String
    public var targets: [String]
    public var clients: Int
    /// Rounds each part ran (--rounds): each against fresh resources, the same users.
    public var rounds: [(scenario: String, rounds: Int)] = []
    var mostRounds: Int { rounds.map(\.rounds).max() ?? 1 }
    /// Set-up before the load (all rounds together).
    public var setupSeconds = 0.0
    /// The load phase: from the first request to the last client done (or the deadline).
    public var loadSeconds = 0.0
    public var stoppedByDeadline = false
    /// From the end of the load until PostgreSQL held what was expected (or the wait gave up).
    public var drainSeconds = 0.0
    public var traffic = TrafficStats()
    public var invariants: [InvariantResult] = []
    /// Per scenario: what its clients saw.
    public var observations: [(scenario: String, facts: JSONObject)] = []

    /// True only if there were invariants to check and every one of them held.
    public var passed: Bool { !invariants.isEmpty && invariants.allSatisfy(\.holds) }
    public var exitStatus: Int32 { passed ? 0 : 1 }
    public var throughput: Double { loadSeconds > 0 ? Double(traffic.requests) / loadSeconds : 0 }

    static let percentiles: [(label: String, fraction: Double)] = [
        ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0),
    ]

    public var text: String {
        var lines: [String] = []
        lines.append("floodgate storm \(scenario): \(clients) clients against \(targets.joined(separator: ", "))")
        lines.append(String(format: "  load        %.2f s%@%@ (set-up %.2f s, drain wait %.2f s)", loadSeconds,
                            mostRounds > 1 ? " (rounds: " + rounds.map { "\($0.scenario) \($0.rounds)" }.joined(separator: ", ") + ")" : "", stoppedByDeadline ? " — stopped at --duration" : "",
                            setupSeconds, drainSeconds))
        lines.append("  requests    \(traffic.requests)  (\(String(format: "%.0f", throughput))/s), errors \(traffic.errors) (\(traffic.transportErrors) without answer, \(traffic.serverErrors) 5xx)")
        let latency = Self.percentiles.map { "\($0.label) \(Self.milliseconds(traffic.latency.value(atFraction: $0.fraction)))" }
        lines.append("  latency     " + latency.joined(separator: "  "))
        lines.append("  statuses    " + traffic.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        let width = traffic.operations.keys.map(\.count).max() ?? 0
        for (operation, counts) in traffic.operations.sorted(by: { $0.key < $1.key }) {
            lines.append("    \(operation.padding(toLength: width, withPad: " ", startingAt: 0))  "
                         + counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        }
        // Many rounds: what each round's clients saw is in the JSON; the text keeps the first and the last.
        let shown = observations.count <= 8 ? observations : Array(observations.prefix(4)) + Array(observations.suffix(4))
        for (i, (name, facts)) in shown.enumerated() {
            if observations.count > 8 && i == 4 { lines.append("  … \(observations.count - 8) more (--json has every round)") }
            lines.append("  \(name): " + facts.members.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        lines.append("  invariants")
        for result in Self.collapsed(invariants, rounds: mostRounds) {
            lines.append("    [\(result.holds ? "ok" : "FAIL")] \(result.scenario): \(result.name) — \(result.detail)")
        }
        lines.append(passed ? "  result      every invariant holds" : "  result      INVARIANT VIOLATED (exit 1)")
        return lines.joined(separator: "\n")
    }

    /// With several rounds, one line per invariant that held in every round ("flash-sale #3" → "flash-sale",
    /// the last round's numbers); every violation keeps its own line.
    static func collapsed(_ results: [InvariantResult], rounds: Int) -> [InvariantResult] {
        guard rounds > 1 else { return results }
        func base(_ scenario: String) -> String { scenario.split(separator: "#").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? scenario }
        var order: [String] = []
        var groups: [String: [InvariantResult]] = [:]
        for result in results {
            let key = base(result.scenario) + "\u{0}" + result.name
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(result)
        }
        return order.flatMap { key -> [InvariantResult] in
            let group = groups[key]!
            guard group.allSatisfy(\.holds), let last = group.last else { return group.filter { !$0.holds } }
            let scope = group.count > 1 ? "all \(group.count) rounds; last: " : ""
            return [InvariantResult(base(last.scenario), last.name, true, scope + last.detail)]
        }
    }

    public var json: JSONValue {
        let latency = JSONObject(Self.percentiles.map { ($0.label + "Ms", Self.millisecondsJSON(traffic.latency.value(atFraction: $0.fraction))) }
                                 + [("meanMs", JSONValue((traffic.latency.mean / 10).rounded() / 100))])
        let statuses = JSONObject(traffic.statuses.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })
        let operations = JSONObject(traffic.operations.sorted { $0.key < $1.key }.map { operation, counts in
            (operation, JSONValue.object(JSONObject(counts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })))
        })
        return [
            "scenario": .string(scenario),
            "targets": .array(targets.map { .string($0) }),
            "clients": JSONValue(clients),
            "rounds": .object(JSONObject(rounds.map { ($0.scenario, JSONValue($0.rounds)) })),
            "setupSeconds": Self.rounded(setupSeconds),
            "loadSeconds": Self.rounded(loadSeconds),
            "stoppedByDeadline": .bool(stoppedByDeadline),
            "drainSeconds": Self.rounded(drainSeconds),
            "requests": JSONValue(traffic.requests),
            "requestsPerSecond": Self.rounded(throughput),
            "errors": ["total": JSONValue(traffic.errors), "noAnswer": JSONValue(traffic.transportErrors), "serverError": JSONValue(traffic.serverErrors)],
            "latency": .object(latency),
            "statuses": .object(statuses),
            "operations": .object(operations),
            "observations": .object(JSONObject(observations.map { ($0.scenario, .object($0.facts)) })),
            "invariants": .array(invariants.map {
                ["scenario": .string($0.scenario), "name": .string($0.name), "holds": .bool($0.holds), "detail": .string($0.detail)]
            }),
            "passed": .bool(passed),
        ]
    }

    static func milliseconds(_ microseconds: Int64) -> String {
        String(format: "%.2f ms", Double(microseconds) / 1_000)
    }

    static func millisecondsJSON(_ microseconds: Int64) -> JSONValue {
        JSONValue((Double(microseconds) / 10).rounded() / 100)
    }

    static func rounded(_ value: Double) -> JSONValue { JSONValue((value * 100).rounded() / 100) }
}
