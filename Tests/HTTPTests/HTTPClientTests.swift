// The event-loop HTTP client against the project's own HTTP server over real sockets: keep-alive reuse,
// many requests at once over a bounded pool, timeouts, refused connections, a server that closes.
import Foundation
import HTTP
import Runtime
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HTTPClientTests: XCTestCase {
    var serverGroup: EventLoopGroup!
    var server: HTTPServer!
    var clientGroup: EventLoopGroup!
    var client: HTTPClient!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        clientGroup = try EventLoopGroup(threads: 1, name: "client")
    }

    override func tearDown() {
        if let client, let loop = clientGroup?.loops[0] {
            let done = DispatchSemaphore(value: 0)
            loop.execute { client.shutdown(); done.signal() }
            done.wait()
        }
        clientGroup?.shutdown()
        server?.shutdown(graceSeconds: 1)
        serverGroup?.shutdown()
    }

    /// A server that echoes method, path, Idempotency-Key and body; `/slow/N` answers after N ms;
    /// `/close` answers with Connection: close.
    private func startServer(idleTimeoutSeconds: Int = 60) throws {
        serverGroup = try EventLoopGroup(threads: 1, name: "server")
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.idleTimeoutSeconds = idleTimeoutSeconds
        server = HTTPServer(configuration: configuration, group: serverGroup) { request, context, respond in
            let text = "\(request.method.name) \(request.path) \(request.headers["Idempotency-Key"] ?? "-") \(String(decoding: request.body, as: UTF8.self))"
            let response = HTTPResponse(status: request.path == "/missing" ? 404 : 200, headers: request.path == "/close" ? [("Connection", "close")] : [],
                                        body: Array(text.utf8))
            if request.path.hasPrefix("/slow/"), let ms = Int(request.path.dropFirst(6)) {
                context.loop.scheduleTimer(afterMilliseconds: ms) { respond(response) }
            } else {
                respond(response)
            }
        }
        try server.start()
    }

    private func makeClient(_ configure: (inout HTTPClient.Configuration) -> Void = { _ in }) {
        var configuration = HTTPClient.Configuration()
        configure(&configuration)
        client = HTTPClient(loop: clientGroup.loops[0], configuration: configuration)
    }

    /// Sends every request at once on the client's loop and waits for all answers.
    private func send(_ requests: [HTTPClientRequest], port: Int) -> [Result<HTTPClientResponse, HTTPClientError>] {
        let results = LockedResults(count: requests.count)
        let done = DispatchGroup()
        for _ in requests { done.enter() }
        let endpoint = HTTPEndpoint(address: "127.0.0.1", port: port)
        clientGroup.loops[0].execute { [client] in
            for (i, request) in requests.enumerated() {
                client!.execute(request, on: endpoint) { result in
                    results.set(i, result)
                    done.leave()
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        return results.values
    }

    private func acceptedConnections() -> Int {
        let box = DispatchSemaphore(value: 0)
        var total = 0
        server.counters { counters in
            total = counters.reduce(0) { $0 + $1.accepted }
            box.signal()
        }
        box.wait()
        return total
    }

    // MARK: -

    func testRequestsReuseKeepAliveConnections() throws {
        try startServer()
        makeClient { $0.maxConnectionsPerEndpoint = 2 }
        for round in 0..<5 {
            let results = send([HTTPClientRequest(method: .POST, target: "/deliveries", headers: [("Idempotency-Key", "k\(round)")],
                                                  body: Array("{\"n\":\(round)}".utf8))], port: server.port)
            let response = try results[0].get()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.bodyText, "POST /deliveries k\(round) {\"n\":\(round)}")
        }
        XCTAssertEqual(acceptedConnections(), 1, "five requests one after another share one connection")
    }

    func testAThousandConcurrentRequestsOverABoundedPoolAllComplete() throws {
        try startServer()
        makeClient { $0.maxConnectionsPerEndpoint = 8 }
        let requests = (0..<1_000).map { HTTPClientRequest(method: .GET, target: "/item/\($0)") }
        let results = send(requests, port: server.port)
        for (i, result) in results.enumerated() {
            XCTAssertEqual(try result.get().bodyText, "GET /item/\(i) - ", "request \(i)")
        }
        XCTAssertLessThanOrEqual(acceptedConnections(), 8)
    }

    func testStatusesAndConnectionCloseArePassedThrough() throws {
        try startServer()
        makeClient()
        let results = send([HTTPClientRequest(method: .GET, target: "/missing"), HTTPClientRequest(method: .GET, target: "/close"),
                            HTTPClientRequest(method: .GET, target: "/after")], port: server.port)
        XCTAssertEqual(try results.map { try $0.get().status }, [404, 200, 200])
        XCTAssertFalse(try results[1].get().keepAlive)
    }

    func testASlowServerTimesOutAndARefusedPortFailsToConnect() throws {
        try startServer()
        makeClient { $0.requestTimeoutMilliseconds = 200 }
        let slow = send([HTTPClientRequest(method: .GET, target: "/slow/2000")], port: server.port)
        XCTAssertEqual((slow[0].failureValue)?.kind, .timeout)

        let closedPort = server.port
        server.shutdown(graceSeconds: 0)
        server = nil
        let refused = send([HTTPClientRequest(method: .POST, target: "/", body: [1])], port: closedPort)
        XCTAssertEqual(refused[0].failureValue?.kind, .connect)
    }

    func testAKeepAliveConnectionTheServerClosedIsReplacedTransparently() throws {
        try startServer(idleTimeoutSeconds: 1)
        makeClient()
        XCTAssertEqual(try send([HTTPClientRequest(method: .GET, target: "/one")], port: server.port)[0].get().status, 200)
        // The server's idle sweep (every 0.5 s) closes the connection after 1 s of idleness.
        XCTAssertTrue(waitFor(5) { self.server.openConnectionCount == 0 })
        XCTAssertEqual(try send([HTTPClientRequest(method: .GET, target: "/two")], port: server.port)[0].get().bodyText, "GET /two - ")
        XCTAssertEqual(acceptedConnections(), 2)
    }

    private func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}

private final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<HTTPClientResponse, HTTPClientError>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ result: Result<HTTPClientResponse, HTTPClientError>) { lock.lock(); results[i] = result; lock.unlock() }
    var values: [Result<HTTPClientResponse, HTTPClientError>] { lock.lock(); defer { lock.unlock() }; return results.map { $0! } }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
