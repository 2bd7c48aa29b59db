// A Redis reply copied out of hiredis's `redisReply` (which is freed when the callback returns).
import CHiredis

public enum RedisValue: Equatable, Sendable, CustomStringConvertible {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply, e.g. "NOSCRIPT No matching script" or a script's "OUT_OF_STOCK p1".
    case error(String)

    init(reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: r.len)) } ?? [])
        case REDIS_REPLY_STATUS:
            self = .status(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(RedisValue(reply: element)) } else { items.append(.null) }
            }
            self = .array(items)
        default:
            self = .null
        }
    }

    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var isNull: Bool { self == .null }

    public var description: String {
        switch self {
        case .bulk(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .status(let text): return text
        case .integer(let value): return "(integer) \(value)"
        case .array(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .null: return "(nil)"
        case .error(let text): return "(error) \(text)"
        }
    }
}

/// Why a command produced no reply. `unavailable` means Redis could not be reached or answered too late:
/// the HTTP edge turns it into 503 with Retry-After.
public struct RedisError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable { case unavailable, timeout, protocolError }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "redis \(kind): \(message)" }
}

public struct RedisEndpoint: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `redis://host:port` (host defaults to 127.0.0.1, port to 6379).
    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.isEmpty { self.init(host: "127.0.0.1", port: 6379); return }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            let host = rest[..<colon]
            self.init(host: host.isEmpty ? "127.0.0.1" : String(host), port: port)
        } else {
            self.init(host: String(rest), port: 6379)
        }
    }

    public var description: String { "redis://\(host):\(port)" }
}
