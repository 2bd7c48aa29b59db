// One-line structured logs to stderr: `2026-11-21T09:00:00.000Z level=warn msg="..." key=value`.
// Loop threads never write to stderr themselves (a blocking call): lines go to an in-memory queue that a
// background thread flushes. Level from FLOODGATE_LOG_LEVEL (debug, info, warn, error; default info).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum LogLevel: Int, Comparable, Sendable {
    case debug = 0, info, warn, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        default: return nil
        }
    }

    var label: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warn: return "warn"
        case .error: return "error"
        }
    }
}

public enum Log {
    nonisolated(unsafe) public static var level: LogLevel =
        LogLevel(name: ProcessInfo.processInfo.environment["FLOODGATE_LOG_LEVEL"] ?? "") ?? .info

    public static func debug(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [String: String] = [:]) {
        if level <= .debug { write(.debug, message(), fields()) }
    }
    public static func info(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [String: String] = [:]) {
        if level <= .info { write(.info, message(), fields()) }
    }
    public static func warn(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [String: String] = [:]) {
        if level <= .warn { write(.warn, message(), fields()) }
    }
    public static func error(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [String: String] = [:]) {
        write(.error, message(), fields())
    }

    private static func write(_ level: LogLevel, _ message: String, _ fields: [String: String]) {
        var line = "\(Timestamp.rfc3339(millis: wallClockMillis())) level=\(level.label) msg=\(quote(message))"
        for key in fields.keys.sorted() { line += " \(key)=\(quote(fields[key]!))" }
        line += "\n"
        LogSink.shared.enqueue(line)
    }

    private static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.utf8.allSatisfy { $0 > 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 < 0x7f }
        if plain { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Blocks until every queued line is written (for process exit).
    public static func flush() { LogSink.shared.flush() }
}

/// The background writer behind `Log`. Bounded: past 10,000 queued lines new lines are counted and dropped,
/// so a log storm cannot eat memory; the count is reported when the queue drains.
final class LogSink: @unchecked Sendable {
    static let shared = LogSink()
    private let condition = NSCondition()
    private var lines: [String] = []
    private var dropped = 0
    private var writing = false

    private init() {
        let thread = Thread { [unowned self] in self.drain() }
        thread.name = "log"
        thread.start()
    }

    func enqueue(_ line: String) {
        condition.lock()
        if lines.count >= 10_000 { dropped += 1 } else { lines.append(line) }
        condition.signal()
        condition.unlock()
    }

    func flush() {
        condition.lock()
        while !lines.isEmpty || writing { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
        condition.unlock()
    }

    private func drain() {
        while true {
            condition.lock()
            while lines.isEmpty { condition.wait() }
            var batch = lines
            lines.removeAll(keepingCapacity: true)
            if dropped > 0 {
                batch.append("level=warn msg=\"log lines dropped\" count=\(dropped)\n")
                dropped = 0
            }
            writing = true
            condition.unlock()
            let text = batch.joined()
            text.utf8CString.withUnsafeBufferPointer { buffer in
                var offset = 0
                let total = buffer.count - 1
                while offset < total {
                    let n = Glibc.write(2, buffer.baseAddress! + offset, total - offset)
                    if n <= 0 { if errno == EINTR { continue }; break }
                    offset += n
                }
            }
            condition.lock()
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
