// Prometheus text exposition (format 0.0.4), for every /metrics the project serves: the gateway's, the
// worker's outbox consumer and its data-platform feed.

/// Builds Prometheus text exposition format 0.0.4.
public struct PrometheusText {
    public private(set) var text = ""

    public init() {}

    public mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        let rendered = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        text += " \(rendered)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, Double(value))
    }

    /// A family and its samples at once: `samples` are (labels, value).
    public mutating func metric(_ name: String, _ type: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        family(name, type, help)
        for (labels, value) in samples { sample(name, labels, value) }
    }

    /// A family with one unlabelled sample.
    public mutating func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
        metric(name, type, help, [([], value)])
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
