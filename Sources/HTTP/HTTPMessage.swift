// The request as the rest of the gateway sees it: method, raw target split into path and query,
// version, ordered headers, the decoded body and the keep-alive decision.
//
// Plain Swift stdlib only (no Foundation, no Runtime): the fuzz target compiles this file on its own
// together with HTTPParser.swift and Router.swift.
//
// Header lookups are ASCII case-insensitive comparisons over the UTF-8 views, never a lowercased
// copy: a handler looks up several headers per request and none of that may allocate.

public enum HTTPMethod: Equatable, Hashable, CustomStringConvertible {
    case GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
    /// Any other token, exactly as received (methods are case-sensitive: "get" is not GET).
    case other(String)

    /// Maps the well-known names to their cases (as the parser does): build methods this way, since
    /// `.other("GET")` would not equal `.GET`.
    public init(_ token: String) {
        switch token {
        case "GET": self = .GET
        case "HEAD": self = .HEAD
        case "POST": self = .POST
        case "PUT": self = .PUT
        case "PATCH": self = .PATCH
        case "DELETE": self = .DELETE
        case "OPTIONS": self = .OPTIONS
        default: self = .other(token)
        }
    }

    public var name: String {
        switch self {
        case .GET: return "GET"
        case .HEAD: return "HEAD"
        case .POST: return "POST"
        case .PUT: return "PUT"
        case .PATCH: return "PATCH"
        case .DELETE: return "DELETE"
        case .OPTIONS: return "OPTIONS"
        case .other(let token): return token
        }
    }

    public var description: String { name }
}

public struct HTTPVersion: Equatable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http10 = HTTPVersion(major: 1, minor: 0)
    public static let http11 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// Header fields in arrival order. Names keep the client's spelling; lookups ignore ASCII case.
public struct HTTPHeaders: Equatable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public typealias Field = (name: String, value: String)

    public private(set) var fields: [Field]

    public init() { fields = [] }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    /// For the parser, which already builds labelled tuples.
    init(fields: [Field]) { self.fields = fields }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) { return field.value }
        return nil
    }

    /// Every value of `name` in arrival order (repeated fields are not joined).
    public func values(for name: String) -> [String] {
        var result: [String] = []
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) { result.append(field.value) }
        return result
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// True if any `name` field holds `token` as one element of its comma-separated list (Connection,
    /// Expect, ...), ignoring ASCII case and optional whitespace around elements.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) {
            var value = field.value
            var token = token
            let found = value.withUTF8 { bytes in
                token.withUTF8 { tokenBytes in
                    var found = false
                    forEachListElement(bytes) { element in
                        if asciiCaseInsensitiveEquals(element, tokenBytes) { found = true }
                    }
                    return found
                }
            }
            if found { return true }
        }
        return false
    }

    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Removes every `name` field, then adds one with `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        for (a, b) in zip(lhs.fields, rhs.fields) where a.name != b.name || a.value != b.value { return false }
        return true
    }

    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

public struct HTTPRequest: Equatable {
    public var method: HTTPMethod
    /// The raw request-target: origin-form ("/a/b?c=d") or "*" (OPTIONS only).
    public var target: String
    /// The target before '?', still percent-encoded (the router decodes parameters).
    public var path: String
    /// The target after the first '?', "" if none; feed it to `parseQuery`.
    public var query: Substring
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// The body after transfer decoding (chunked bodies arrive here de-chunked).
    public var body: [UInt8]
    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool

    /// Memberwise: the caller vouches that path/query/keepAlive agree with the rest.
    public init(method: HTTPMethod, target: String, path: String, query: Substring, version: HTTPVersion,
                headers: HTTPHeaders, body: [UInt8], keepAlive: Bool) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// Derives path, query and keep-alive from the target, version and headers (for tests and tools).
    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http11,
                headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        let (path, query) = splitTarget(target)
        self.init(method: method, target: target, path: path, query: query, version: version, headers: headers,
                  body: body, keepAlive: HTTPRequest.defaultKeepAlive(version: version, headers: headers))
    }

    /// RFC 9112 §9.3: HTTP/1.1 persists unless "close" is listed in Connection; HTTP/1.0 closes unless
    /// "keep-alive" is listed (and "close" is not).
    public static func defaultKeepAlive(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if headers.containsToken("close", in: "Connection") { return false }
        if version.major == 1 && version.minor == 0 { return headers.containsToken("keep-alive", in: "Connection") }
        return version.major == 1 && version.minor >= 1
    }

    public var http10: Bool { version.major == 1 && version.minor == 0 }
}

/// Splits a request-target at its first '?'. Without '?' the path shares the target's storage.
func splitTarget(_ target: String) -> (path: String, query: Substring) {
    guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, target[target.endIndex...]) }
    return (String(target[..<q]), target[target.index(after: q)...])
}

// MARK: ASCII helpers shared by the HTTP files (internal: the JSON module has its own). Concrete
// types only: generic versions would run unspecialized from other modules and debug builds.

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte &- 0x41) < 26 ? byte | 0x20 : byte
}

func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    let a = a.utf8
    let b = b.utf8
    guard a.count == b.count else { return false }
    var i = a.makeIterator()
    var j = b.makeIterator()
    while let x = i.next(), let y = j.next() {
        if asciiLower(x) != asciiLower(y) { return false }
    }
    return true
}

@inline(__always)
func asciiCaseInsensitiveEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0 ..< a.count where asciiLower(a[i]) != asciiLower(b[i]) { return false }
    return true
}

/// `bytes` equals `lowercase` (which must be lowercase ASCII) ignoring ASCII case.
@inline(__always)
func asciiCaseInsensitiveEquals(_ bytes: UnsafeBufferPointer<UInt8>, lowercase: StaticString) -> Bool {
    guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
    let expected = lowercase.utf8Start
    for i in 0 ..< bytes.count where asciiLower(bytes[i]) != expected[i] { return false }
    return true
}

@inline(__always)
func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

/// Drops leading and trailing SP/HTAB.
func trimmingOWS(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    var start = 0
    var end = bytes.count
    while start < end && isOWS(bytes[start]) { start += 1 }
    while end > start && isOWS(bytes[end - 1]) { end -= 1 }
    return UnsafeBufferPointer(rebasing: bytes[start ..< end])
}

/// Calls `body` with each comma-separated element, OWS trimmed. Empty elements are skipped (RFC 9110
/// §5.6.1 list syntax) unless `keepEmpty`.
func forEachListElement(_ value: UnsafeBufferPointer<UInt8>, keepEmpty: Bool = false,
                        _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
    var start = 0
    while start <= value.count {
        var end = start
        while end < value.count && value[end] != 0x2C { end += 1 }
        let element = trimmingOWS(UnsafeBufferPointer(rebasing: value[start ..< end]))
        if keepEmpty || !element.isEmpty { try body(element) }
        start = end + 1
    }
}
