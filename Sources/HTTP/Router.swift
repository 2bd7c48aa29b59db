// Path routing over a segment trie: one node per path segment, literal children by exact text plus at
// most one `{parameter}` child. Matching walks the request path once (literals first, backtracking
// into the parameter child only when the literal branch finds no route), so "/products/popular"
// beats "/products/{productId}" while "/products/popular/reviews" can still reach
// "/products/{productId}/reviews". Cost is the path's depth, not the number of routes.
//
// Literal segments compare against the raw (still percent-encoded) path; parameter values are
// percent-decoded once a route is chosen. Plain Swift stdlib only (compiled into the fuzz target).

public enum RouteMatch<Handler> {
    case found(Handler, parameters: [String: String], pattern: String)
    /// The path exists but not for this method; `allowed` is what an Allow header should list.
    case methodNotAllowed(allowed: [HTTPMethod])
    case notFound
}

public struct Router<Handler> {
    // The trie is not generic: code generic over Handler would run unspecialized (through metadata
    // lookups) when called from another module. Only this thin wrapper knows the handler type.
    private var trie = RouteTrie()
    private var handlers: [Handler] = []

    public init() {}

    /// Registers `handler` for `method` on `pattern`, e.g. "/events/{eventId}/queue". A `{name}` segment
    /// matches one non-empty segment. Registering the same method and pattern twice is a programming
    /// error.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: Handler) {
        trie.add(method, pattern, handler: handlers.count)
        handlers.append(handler)
    }

    public func match(_ method: HTTPMethod, path: String) -> RouteMatch<Handler> {
        switch trie.match(method, path: path) {
        case .found(let index, let parameters, let pattern):
            return .found(handlers[index], parameters: parameters, pattern: pattern)
        case .methodNotAllowed(let allowed):
            return .methodNotAllowed(allowed: allowed)
        case .notFound:
            return .notFound
        }
    }
}

/// The non-generic trie over path bytes. Matching borrows the path's UTF-8 and the node array in
/// place, keeps captures as byte ranges in stack memory, and allocates only the parameter strings and
/// their dictionary.
struct RouteTrie {
    struct Route {
        let method: HTTPMethod
        /// Index into the router's handlers.
        let handler: Int
        let pattern: String
        let parameterNames: [String]
    }

    struct Node {
        /// Few per node in practice, so a scan comparing lengths first beats hashing the segment.
        var literals: [(segment: [UInt8], child: Int)] = []
        var parameterChild: Int?
        /// In registration order, which is also the order of a 405's Allow list.
        var routes: [Route] = []

        /// A HEAD request is served by the GET route unless HEAD has its own (RFC 9110 §9.3.2).
        func route(for method: HTTPMethod) -> Route? {
            if let exact = routes.first(where: { $0.method == method }) { return exact }
            if method == .HEAD { return routes.first { $0.method == .GET } }
            return nil
        }

        func literalChild(_ segment: UnsafeBufferPointer<UInt8>) -> Int? {
            for literal in literals where literal.segment.count == segment.count {
                if literal.segment.withUnsafeBufferPointer({ $0.elementsEqual(segment) }) { return literal.child }
            }
            return nil
        }
    }

    /// nodes[0] is the root ("/").
    private var nodes: [Node] = [Node()]
    /// The most segments of any pattern: bounds the recursion and the captures.
    private var depth = 0

    mutating func add(_ method: HTTPMethod, _ pattern: String, handler: Int) {
        precondition(pattern.hasPrefix("/"), "route pattern must start with '/': \(pattern)")
        var node = 0
        var names: [String] = []
        let segments = pathSegments(pattern[...])
        for segment in segments {
            if segment.count > 2 && segment.hasPrefix("{") && segment.hasSuffix("}") {
                names.append(String(segment.dropFirst().dropLast()))
                if let child = nodes[node].parameterChild {
                    node = child
                } else {
                    nodes.append(Node())
                    nodes[node].parameterChild = nodes.count - 1
                    node = nodes.count - 1
                }
            } else {
                let bytes = Array(segment.utf8)
                if let child = nodes[node].literals.first(where: { $0.segment == bytes })?.child {
                    node = child
                } else {
                    nodes.append(Node())
                    nodes[node].literals.append((segment: bytes, child: nodes.count - 1))
                    node = nodes.count - 1
                }
            }
        }
        precondition(!nodes[node].routes.contains { $0.method == method }, "duplicate route \(method) \(pattern)")
        nodes[node].routes.append(Route(method: method, handler: handler, pattern: pattern, parameterNames: names))
        depth = max(depth, segments.count)
    }

    enum Match {
        case found(handler: Int, parameters: [String: String], pattern: String)
        case methodNotAllowed([HTTPMethod])
        case notFound
    }

    func match(_ method: HTTPMethod, path: String) -> Match {
        var path = path  // withUTF8 may need to make a foreign string contiguous
        return path.withUTF8 { bytes in
            nodes.withUnsafeBufferPointer { nodes in
                withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: depth + 1) { captures in
                    match(method, bytes, nodes, captures)
                }
            }
        }
    }

    private func match(_ method: HTTPMethod, _ path: UnsafeBufferPointer<UInt8>, _ nodes: UnsafeBufferPointer<Node>,
                       _ captures: UnsafeMutableBufferPointer<Range<Int>>) -> Match {
        guard path.first == UInt8(ascii: "/") else { return .notFound }
        var walker = Walker(path: path, nodes: nodes, method: method, captures: captures)
        guard let route = walker.walk(0, path.count > 1 ? 1 : nil) else {
            if !walker.pathMatched { return .notFound }
            var allowed = walker.allowed
            if allowed.contains(.GET) && !allowed.contains(.HEAD) {
                allowed.insert(.HEAD, at: allowed.firstIndex(of: .GET)! + 1)
            }
            return .methodNotAllowed(allowed)
        }
        var parameters: [String: String] = [:]
        if walker.captureCount > 0 {
            parameters.reserveCapacity(walker.captureCount)
            for k in 0 ..< walker.captureCount {
                // A malformed escape cannot name any resource.
                guard let value = decodeComponent(UnsafeBufferPointer(rebasing: path[captures[k]]), plusAsSpace: false)
                else { return .notFound }
                parameters[route.parameterNames[k]] = value
            }
        }
        return .found(handler: route.handler, parameters: parameters, pattern: route.pattern)
    }

    private struct Walker {
        let path: UnsafeBufferPointer<UInt8>
        let nodes: UnsafeBufferPointer<Node>
        let method: HTTPMethod
        let captures: UnsafeMutableBufferPointer<Range<Int>>
        var captureCount = 0
        var allowed: [HTTPMethod] = []
        var pathMatched = false

        init(path: UnsafeBufferPointer<UInt8>, nodes: UnsafeBufferPointer<Node>, method: HTTPMethod,
             captures: UnsafeMutableBufferPointer<Range<Int>>) {
            self.path = path
            self.nodes = nodes
            self.method = method
            self.captures = captures
        }

        /// `start` is where the current segment begins; nil once every segment is consumed.
        mutating func walk(_ nodeIndex: Int, _ start: Int?) -> Route? {
            guard let start else {
                let node = nodes[nodeIndex]
                if let route = node.route(for: method) { return route }
                if !node.routes.isEmpty {
                    pathMatched = true
                    for route in node.routes where !allowed.contains(route.method) { allowed.append(route.method) }
                }
                return nil
            }
            var end = start
            while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
            let next: Int? = end < path.count ? end + 1 : nil
            if let child = nodes[nodeIndex].literalChild(UnsafeBufferPointer(rebasing: path[start ..< end])),
               let route = walk(child, next) {
                return route
            }
            if let child = nodes[nodeIndex].parameterChild, end > start, captureCount < captures.count {
                captures[captureCount] = start ..< end
                captureCount += 1
                if let route = walk(child, next) { return route }
                captureCount -= 1
            }
            return nil
        }
    }
}

/// "/" has no segments; "/a/b" has "a", "b"; "/a/" has "a", "" (a trailing slash is its own route).
private func pathSegments(_ path: Substring) -> [Substring] {
    let rest = path.dropFirst()
    if rest.isEmpty { return [] }
    return rest.split(separator: "/", omittingEmptySubsequences: false)
}

/// Decodes %XX escapes. Nil for a malformed escape or bytes that are not UTF-8. '+' stays '+'
/// (it means space only in form-encoded queries: see `parseQuery`).
public func percentDecode(_ text: Substring) -> String? {
    decodeComponent(text, plusAsSpace: false)
}

/// application/x-www-form-urlencoded: pairs split on '&', '+' is a space, the first value of a
/// repeated key wins, a pair that does not decode is skipped, "flag" alone is "flag" = "".
public func parseQuery(_ query: Substring) -> [String: String] {
    var result: [String: String] = [:]
    for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
        let key: Substring
        let value: Substring
        if let equals = pair.firstIndex(of: "=") {
            key = pair[..<equals]
            value = pair[pair.index(after: equals)...]
        } else {
            key = pair
            value = pair[pair.endIndex...]
        }
        guard !key.isEmpty,
              let decodedKey = decodeComponent(key, plusAsSpace: true),
              result[decodedKey] == nil,
              let decodedValue = decodeComponent(value, plusAsSpace: true)
        else { continue }
        result[decodedKey] = decodedValue
    }
    return result
}

private func decodeComponent(_ text: Substring, plusAsSpace: Bool) -> String? {
    if let decoded = text.utf8.withContiguousStorageIfAvailable({ decodeComponent($0, plusAsSpace: plusAsSpace) }) {
        return decoded
    }
    var copy = String(text)
    return copy.withUTF8 { decodeComponent($0, plusAsSpace: plusAsSpace) }
}

/// `bytes` must be valid UTF-8 (a slice of a String at ASCII boundaries), so the fast path needs no
/// validation; decoded bytes are validated.
private func decodeComponent(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> String? {
    if !bytes.contains(where: { $0 == 0x25 || (plusAsSpace && $0 == 0x2B) }) {
        return String(decoding: bytes, as: UTF8.self)
    }
    var decoded: [UInt8] = []
    decoded.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        let byte = bytes[i]
        if byte == 0x25 {
            guard i + 2 < bytes.count, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) else { return nil }
            decoded.append(UInt8(high << 4 | low))
            i += 3
        } else {
            decoded.append(plusAsSpace && byte == 0x2B ? 0x20 : byte)
            i += 1
        }
    }
    return String(validating: decoded, as: UTF8.self)
}
