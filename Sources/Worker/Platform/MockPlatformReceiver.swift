// `floodgate mock-platform`: a stand-in data platform for local runs and tests, on the project's own
// HTTP server. It keeps what a real receiver must keep to make at-least-once delivery exactly-once for
// its readers — the set of Idempotency-Keys it has accepted — and counts what arrives twice.
//
//   POST /            (any path but the two below) a delivery: 400 without an Idempotency-Key or with a
//                     body that is not a JSON object; else, with probability failShare, `failStatus`
//                     (503 unless set) and nothing recorded; else 200 (first time) or 200 again with
//                     "duplicate": true (every later time). Answers after delayMs.
//   GET /deliveries   {received, unique, duplicates, failed, rejected, ids:[unique keys in arrival order]}
//   GET /deliveries/{key}  the first accepted body for that key (404 if none)
//   POST /control     {failShare?, delayMs?, failStatus?} changes them while running; answers the settings
//   DELETE /deliveries     forgets everything recorded
//
// `stopListening()` / `listen()` take the port away and give it back (tests: "the receiver is down").
import Foundation
import HTTP
import JSON
import Runtime

public final class MockPlatformReceiver: @unchecked Sendable {
    public struct Counts: Equatable, Sendable {
        /// Every delivery POST, whatever its answer.
        public var received = 0
        public var unique = 0
        public var duplicates = 0
        /// Answered with failStatus on purpose.
        public var failed = 0
        /// Refused as malformed (400).
        public var rejected = 0
    }

    public struct Behaviour: Equatable, Sendable {
        /// Share of deliveries answered with `failStatus`, chosen at random: 0…1.
        public var failShare = 0.0
        public var failStatus = 503
        /// Every answer waits this long.
        public var delayMilliseconds = 0
        public init(failShare: Double = 0, failStatus: Int = 503, delayMilliseconds: Int = 0) {
            self.failShare = failShare
            self.failStatus = failStatus
            self.delayMilliseconds = delayMilliseconds
        }
    }

    private let lock = NSLock()
    private var counts = Counts()
    private var behaviourValue: Behaviour
    private var ids: [String] = []
    private var bodies: [String: [UInt8]] = [:]
    private let group: EventLoopGroup
    private var server: HTTPServer?
    public let host: String
    public private(set) var port: Int

    /// `port` 0 picks a free port on the first `listen()`; later ones reuse it.
    public init(host: String = "127.0.0.1", port: Int, behaviour: Behaviour = Behaviour()) throws {
        self.host = host
        self.port = port
        behaviourValue = behaviour
        group = try EventLoopGroup(threads: 1, name: "mock-platform")
    }

    public var url: String { "http://\(host):\(port)/" }

    public func listen() throws {
        guard server == nil else { return }
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxConnections = 4_096
        let server = HTTPServer(configuration: configuration, group: group) { [unowned self] request, context, completion in
            self.respond(request, context.loop, completion)
        }
        try server.start()
        port = server.port
        self.server = server
    }

    /// Closes the listener and every connection: senders see refused connections until `listen()`.
    public func stopListening() {
        server?.shutdown(graceSeconds: 0)
        server = nil
    }

    public func shutdown() {
        stopListening()
        group.shutdown()
    }

    public var behaviour: Behaviour {
        get { lock.lock(); defer { lock.unlock() }; return behaviourValue }
        set { lock.lock(); behaviourValue = newValue; lock.unlock() }
    }

    public var snapshot: (counts: Counts, ids: [String]) {
        lock.lock()
        defer { lock.unlock() }
        return (counts, ids)
    }

    public func body(for key: String) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        return bodies[key]
    }

    // MARK: - Requests (on the loop)

    private func respond(_ request: HTTPRequest, _ loop: EventLoop, _ completion: @escaping (HTTPResponse) -> Void) {
        switch (request.method, request.path) {
        case (.GET, "/deliveries"):
            completion(.json(200, countsJSON()))
        case (.DELETE, "/deliveries"):
            lock.lock()
            counts = Counts()
            ids = []
            bodies = [:]
            lock.unlock()
            completion(.json(200, countsJSON()))
        case (.GET, let path) where path.hasPrefix("/deliveries/"):
            let key = String(path.dropFirst("/deliveries/".count))
            if let body = body(for: key) { completion(.json(200, body)) } else {
                completion(.error(404, code: "NOT_FOUND", message: "no delivery with that key", detailsJSON: #"{"resource":"delivery"}"#))
            }
        case (.POST, "/control"):
            control(request, completion)
        case (.POST, _):
            let answer = deliver(request)
            let delay = behaviour.delayMilliseconds
            if delay > 0 { loop.scheduleTimer(afterMilliseconds: delay) { completion(answer) } } else { completion(answer) }
        default:
            completion(.error(404, code: "NOT_FOUND", message: "not found", detailsJSON: #"{"resource":"route"}"#))
        }
    }

    private func deliver(_ request: HTTPRequest) -> HTTPResponse {
        let key = request.headers["Idempotency-Key"] ?? ""
        let parsed = try? request.body.withUnsafeBytes { try JSONParser.parse($0) }
        lock.lock()
        defer { lock.unlock() }
        counts.received += 1
        guard !key.isEmpty, case .object? = parsed else {
            counts.rejected += 1
            return .error(400, code: "VALIDATION_FAILED", message: "a delivery needs an Idempotency-Key and a JSON object body")
        }
        if behaviourValue.failShare > 0 && Double.random(in: 0..<1) < behaviourValue.failShare {
            counts.failed += 1
            return .error(behaviourValue.failStatus, code: "UNAVAILABLE", message: "failing on purpose (mock-platform failShare)",
                          headers: [("Retry-After", "1")])
        }
        if bodies[key] != nil {
            counts.duplicates += 1
            return .json(200, Array(#"{"status":"ok","duplicate":true}"#.utf8))
        }
        bodies[key] = request.body
        ids.append(key)
        counts.unique += 1
        return .json(200, Array(#"{"status":"ok","duplicate":false}"#.utf8))
    }

    private func control(_ request: HTTPRequest, _ completion: (HTTPResponse) -> Void) {
        guard case .object(let changes)? = try? request.body.withUnsafeBytes({ try JSONParser.parse($0) }) else {
            completion(.error(400, code: "MALFORMED_JSON", message: "a JSON object is expected"))
            return
        }
        var next = behaviour
        if let share = changes["failShare"] {
            guard let value = share.doubleValue, (0...1).contains(value) else {
                completion(.error(400, code: "VALIDATION_FAILED", message: "failShare is 0...1", detailsJSON: #"{"field":"failShare"}"#))
                return
            }
            next.failShare = value
        }
        if let delay = changes["delayMs"] {
            guard let value = delay.intValue, (0...600_000).contains(value) else {
                completion(.error(400, code: "VALIDATION_FAILED", message: "delayMs is 0...600000", detailsJSON: #"{"field":"delayMs"}"#))
                return
            }
            next.delayMilliseconds = Int(value)
        }
        if let status = changes["failStatus"] {
            guard let value = status.intValue, (400...599).contains(value) else {
                completion(.error(400, code: "VALIDATION_FAILED", message: "failStatus is 400...599", detailsJSON: #"{"field":"failStatus"}"#))
                return
            }
            next.failStatus = Int(value)
        }
        behaviour = next
        completion(.json(200, Array(#"{"failShare":\#(next.failShare),"delayMs":\#(next.delayMilliseconds),"failStatus":\#(next.failStatus)}"#.utf8)))
    }

    private func countsJSON() -> [UInt8] {
        let (c, keys) = snapshot
        let object: JSONValue = .object([
            "received": .int(Int64(c.received)), "unique": .int(Int64(c.unique)), "duplicates": .int(Int64(c.duplicates)),
            "failed": .int(Int64(c.failed)), "rejected": .int(Int64(c.rejected)), "ids": .array(keys.map { .string($0) }),
        ])
        return object.encoded()
    }
}
