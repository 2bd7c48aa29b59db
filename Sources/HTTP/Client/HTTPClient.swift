// An HTTP/1.1 client on one Runtime event loop: non-blocking sockets, keep-alive connections reused per
// endpoint, a connect timeout and a request timeout, responses framed by HTTPResponseParser.
//
// Loop-confined like everything else on a loop: `execute` and `shutdown` are called on the client's
// loop, and completions run there. That is what lets one loop drive thousands of requests at once (the
// load generator) with no lock, and what the worker's data-platform delivery does from its own loop.
//
// Per endpoint at most `maxConnectionsPerEndpoint` connections; further requests wait in FIFO order for
// one to come free. One request per connection at a time (no pipelining: a failed request would take
// the ones behind it down with it, and the receivers we talk to answer quickly).
//
// A request written on a reused keep-alive connection that the server closed meanwhile (it timed the
// idle connection out just as we wrote) fails with no response byte at all; such a request is sent once
// more on a fresh connection. Only then: a request that got any byte back, or ran into a timeout, is not
// repeated by the client — the caller decides (the platform delivery repeats with an Idempotency-Key).
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public struct HTTPClientRequest {
    public var method: HTTPMethod
    /// Origin-form target: `/path?query`.
    public var target: String
    /// Sent as given; Host and Content-Length are added by the client.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: HTTPMethod, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    func serialized(host: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + body.count)
        out += Array("\(method.name) \(target) HTTP/1.1\r\nHost: \(host)\r\n".utf8)
        if !body.isEmpty || method == .POST || method == .PUT || method == .PATCH {
            out += Array("Content-Length: \(body.count)\r\n".utf8)
        }
        for header in headers { out += Array("\(header.name): \(header.value)\r\n".utf8) }
        out += [13, 10]
        out += body
        return out
    }
}

public struct HTTPClientError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        /// Refused, unreachable, reset while connecting.
        case connect
        case connectTimeout
        /// No complete response within the request timeout.
        case timeout
        /// The server closed the connection before a complete response.
        case closed
        case malformedResponse
        /// The client was shut down with the request outstanding.
        case shutdown
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind): \(message)" }
}

public final class HTTPClient {
    public struct Configuration {
        public var connectTimeoutMilliseconds = 2_000
        /// From the moment the request is written to its complete response.
        public var requestTimeoutMilliseconds = 10_000
        public var maxConnectionsPerEndpoint = 8
        /// An unused keep-alive connection is closed after this long.
        public var idleTimeoutMilliseconds = 30_000
        public var limits = HTTPResponseParser.Limits()
        public init() {}
    }

    public typealias Completion = (Result<HTTPClientResponse, HTTPClientError>) -> Void

    public let loop: EventLoop
    public let configuration: Configuration
    private var pools: [String: Pool] = [:]
    private var isShutdown = false
    /// One read buffer for every connection of this client: reads never interleave on a loop.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Requests waiting for a connection plus those on one; for gauges.
    public var outstandingRequests: Int { pools.values.reduce(0) { $0 + $1.waiting.count + $1.busy } }
    public var openConnections: Int { pools.values.reduce(0) { $0 + $1.open } }

    public init(loop: EventLoop, configuration: Configuration = Configuration()) {
        self.loop = loop
        self.configuration = configuration
    }

    deinit { readBuffer.deallocate() }

    /// Sends `request` to `endpoint`; `completion` runs once, on the loop. Loop thread only.
    public func execute(_ request: HTTPClientRequest, on endpoint: HTTPEndpoint, completion: @escaping Completion) {
        precondition(loop.inEventLoop, "HTTPClient.execute off its loop")
        guard !isShutdown else {
            completion(.failure(HTTPClientError(.shutdown, "the client is shut down")))
            return
        }
        let exchange = Exchange(bytes: request.serialized(host: endpoint.hostHeader), head: request.method == .HEAD,
                                completion: completion)
        pool(for: endpoint).submit(exchange)
    }

    /// Closes every connection and fails every outstanding request with `.shutdown`. Loop thread only.
    public func shutdown() {
        isShutdown = true
        for pool in pools.values { pool.closeAll() }
        pools.removeAll()
    }

    private func pool(for endpoint: HTTPEndpoint) -> Pool {
        if let pool = pools[endpoint.key] { return pool }
        let pool = Pool(client: self, endpoint: endpoint)
        pools[endpoint.key] = pool
        return pool
    }

    /// One request in flight: its bytes, and the completion called exactly once.
    final class Exchange {
        let bytes: [UInt8]
        let head: Bool
        private var completion: Completion?
        /// Sent once more on a fresh connection after a stale keep-alive one (see the note on top).
        var resent = false

        init(bytes: [UInt8], head: Bool, completion: @escaping Completion) {
            self.bytes = bytes
            self.head = head
            self.completion = completion
        }

        func finish(_ result: Result<HTTPClientResponse, HTTPClientError>) {
            guard let completion else { return }
            self.completion = nil
            completion(result)
        }
    }

    /// The connections to one endpoint and the requests waiting for one.
    final class Pool {
        unowned let client: HTTPClient
        let endpoint: HTTPEndpoint
        var idle: [HTTPClientConnection] = []
        /// Every open connection, idle or busy.
        var connections: [HTTPClientConnection] = []
        var waiting: [Exchange] = []
        var waitingHead = 0
        var open = 0
        var busy = 0

        init(client: HTTPClient, endpoint: HTTPEndpoint) {
            self.client = client
            self.endpoint = endpoint
        }

        func submit(_ exchange: Exchange) {
            if let connection = idle.popLast() {
                busy += 1
                connection.send(exchange)
            } else if open < client.configuration.maxConnectionsPerEndpoint {
                open += 1
                busy += 1
                connections.append(HTTPClientConnection(pool: self, first: exchange))
            } else {
                waiting.append(exchange)
            }
        }

        /// A connection finished its request and may take another.
        func release(_ connection: HTTPClientConnection) {
            busy -= 1
            if let next = takeWaiting() {
                busy += 1
                connection.send(next)
            } else {
                idle.append(connection)
                connection.becomeIdle()
            }
        }

        /// A connection is gone (closed, failed). `wasBusy`: it carried a request.
        func closed(_ connection: HTTPClientConnection, wasBusy: Bool) {
            open -= 1
            if wasBusy { busy -= 1 }
            idle.removeAll { $0 === connection }
            connections.removeAll { $0 === connection }
            if let next = takeWaiting() { submit(next) }
        }

        private func takeWaiting() -> Exchange? {
            guard waitingHead < waiting.count else { return nil }
            let next = waiting[waitingHead]
            waitingHead += 1
            if waitingHead > 64 && waitingHead * 2 > waiting.count {
                waiting.removeFirst(waitingHead)
                waitingHead = 0
            }
            return next
        }

        func closeAll() {
            let pending = waiting[waitingHead...]
            waiting = []
            waitingHead = 0
            for exchange in pending { exchange.finish(.failure(HTTPClientError(.shutdown, "the client is shut down"))) }
            for connection in connections { connection.fail(HTTPClientError(.shutdown, "the client is shut down")) }
        }
    }
}

/// Where requests go: an IPv4 address and port, and the Host header to send.
public struct HTTPEndpoint: Hashable, CustomStringConvertible {
    /// Numeric IPv4 address.
    public let address: String
    public let port: Int
    public let hostHeader: String

    var key: String { "\(address):\(port)" }
    public var description: String { "http://\(hostHeader)" }

    public init(address: String, port: Int, hostHeader: String? = nil) {
        self.address = address
        self.port = port
        self.hostHeader = hostHeader ?? (port == 80 ? address : "\(address):\(port)")
    }
}

/// An `http://host[:port][/path][?query]` URL split into the endpoint and the request target. The host
/// name is resolved here, once (getaddrinfo blocks: parse URLs off the loops, at start-up).
public struct HTTPURL: CustomStringConvertible {
    public let endpoint: HTTPEndpoint
    public let target: String
    public let text: String
    public var description: String { text }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws {
        self.text = text
        guard text.lowercased().hasPrefix("http://") else { throw Invalid(description: "only http:// URLs are supported: \(text)") }
        let rest = text.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        guard !authority.isEmpty, !authority.contains("@") else { throw Invalid(description: "no host (or userinfo, unsupported) in \(text)") }
        var host = String(authority), port = 80
        if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(parsed) else {
                throw Invalid(description: "bad port in \(text)")
            }
            port = parsed
        }
        guard let address = Self.resolve(host) else { throw Invalid(description: "cannot resolve \(host) to an IPv4 address") }
        endpoint = HTTPEndpoint(address: address, port: port, hostHeader: String(authority))
        self.target = target
    }

    private static func resolve(_ host: String) -> String? {
        var probe = in_addr()
        if inet_pton(AF_INET, host, &probe) == 1 { return host }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        guard let sockaddr = first.pointee.ai_addr else { return nil }
        var address = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
        return String(cString: text)
    }
}
