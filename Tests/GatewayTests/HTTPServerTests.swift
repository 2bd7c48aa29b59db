// The HTTP server over real sockets: concurrency, pipelining, limits, slow and vanishing clients,
// the connection cap and graceful shutdown. Handlers here are test handlers, not the gateway's routes.
import Foundation
@testable import HTTP
import Runtime
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HTTPServerTests: XCTestCase {
    var group: EventLoopGroup!
    var server: HTTPServer!

    override class func setUp() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        signal(SIGPIPE, SIG_IGN)
    }

    override func tearDown() {
        server?.shutdown(graceSeconds: 1)
        group?.shutdown()
    }

    /// Echo handler: answers `path` as the body; `/slow/N` answers after N ms; `/big` answers 8 MiB.
    private func start(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        group = try EventLoopGroup(threads: 2)
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        server = HTTPServer(configuration: configuration, group: group) { request, context, respond in
            if request.path.hasPrefix("/slow/"), let ms = Int(request.path.dropFirst(6)) {
                context.loop.scheduleTimer(afterMilliseconds: ms) {
                    respond(HTTPResponse(status: 200, body: Array(request.path.utf8)))
                }
            } else if request.path == "/big" {
                respond(HTTPResponse(status: 200, body: [UInt8](repeating: 120, count: 8 << 20)))
            } else {
                let body = request.body.isEmpty ? Array(request.path.utf8) : request.body
                respond(HTTPResponse(status: 200, body: body))
            }
        }
        try server.start()
    }

    func testAThousandConcurrentKeepAliveClientsGetTheirOwnAnswers() throws {
        try start()
        let clients = try (0..<1_000).map { _ in try RawHTTPClient(port: server.port) }
        for round in 0..<3 {
            for (i, client) in clients.enumerated() { client.send(RawHTTPClient.requestText("GET", "/c\(i)/r\(round)")) }
            for (i, client) in clients.enumerated() {
                let response = client.readResponse()
                XCTAssertEqual(response?.status, 200)
                XCTAssertEqual(response?.bodyText, "/c\(i)/r\(round)")
            }
        }
        XCTAssertEqual(server.openConnectionCount, 1_000, "keep-alive: the same 1,000 connections served all rounds")
    }

    func testPipelinedRequestsAreAnsweredInOrderEvenWhenHandlersFinishOutOfOrder() throws {
        try start()
        let client = try RawHTTPClient(port: server.port)
        client.send(RawHTTPClient.requestText("GET", "/slow/200") + RawHTTPClient.requestText("GET", "/slow/1")
                    + RawHTTPClient.requestText("POST", "/echo", body: "{\"a\":1}") + RawHTTPClient.requestText("GET", "/last"))
        XCTAssertEqual(client.readResponse()?.bodyText, "/slow/200")
        XCTAssertEqual(client.readResponse()?.bodyText, "/slow/1")
        XCTAssertEqual(client.readResponse()?.bodyText, "{\"a\":1}")
        XCTAssertEqual(client.readResponse()?.bodyText, "/last")
    }

    func testInputSplitIntoSingleBytesGivesTheSameAnswers() throws {
        try start()
        let client = try RawHTTPClient(port: server.port)
        let text = RawHTTPClient.requestText("POST", "/x", body: "{\"k\":\"v\"}") + RawHTTPClient.requestText("GET", "/y")
        for byte in Array(text.utf8) { client.send([byte]) }
        XCTAssertEqual(client.readResponse()?.bodyText, "{\"k\":\"v\"}")
        XCTAssertEqual(client.readResponse()?.bodyText, "/y")
    }

    func testHTTP10AndConnectionCloseEndTheConnectionAfterTheAnswer() throws {
        try start()
        let old = try RawHTTPClient(port: server.port)
        old.send("GET /ten HTTP/1.0\r\n\r\n")
        let response = old.readResponse()
        XCTAssertEqual(response?.bodyText, "/ten")
        XCTAssertEqual(response?.headers["connection"], "close")
        XCTAssertTrue(old.isClosedByServer())

        let closing = try RawHTTPClient(port: server.port)
        closing.send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(closing.readResponse()?.bodyText, "/bye")
        XCTAssertNil(closing.readResponse(), "nothing after Connection: close")

        let keep = try RawHTTPClient(port: server.port)
        keep.send("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(keep.readResponse()?.headers["connection"], "keep-alive")
        keep.send("GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(keep.readResponse()?.bodyText, "/k2")
    }

    func testHeadAnswersHeadersWithoutTheBody() throws {
        try start()
        let client = try RawHTTPClient(port: server.port)
        client.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        // The HEAD answer carries Content-Length 6 but no body: the next bytes are the next response.
        var raw = [UInt8](repeating: 0, count: 4096)
        usleep(100_000)
        let n = recv(client.fd, &raw, raw.count, 0)
        let text = String(decoding: raw[0..<max(0, n)], as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nHTTP/1.1 200 OK"), text)
        XCTAssertTrue(text.hasSuffix("/after"), text)
    }

    func testLimitViolationsAnswerTheirStatusAndClose() throws {
        try start()
        let cases: [(String, Int)] = [
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 17 * 1024))\r\n\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<101).map { "X-H\($0): v\r\n" }.joined() + "\r\n", 431),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(2 << 20)\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ]
        for (request, status) in cases {
            let client = try RawHTTPClient(port: server.port)
            client.send(request)
            let response = client.readResponse()
            XCTAssertEqual(response?.status, status, request.prefix(60).description)
            XCTAssertEqual(response?.headers["connection"], "close")
            XCTAssertTrue(client.isClosedByServer(), "closed after \(status)")
        }
        // And the server still answers.
        XCTAssertEqual(try RawHTTPClient.request(port: server.port, "GET", "/alive")?.bodyText, "/alive")
    }

    func testChunkedRequestBodiesAreDecoded() throws {
        try start()
        let client = try RawHTTPClient(port: server.port)
        client.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.bodyText, "{\"a\":1}")
    }

    func testASlowLorisIsCutAt408WithoutDelayingOthers() throws {
        try start { $0.requestTimeoutSeconds = 1 }
        let loris = try RawHTTPClient(port: server.port)
        loris.send("GET /slow HTTP/1.1\r\nHost: x\r\n")
        let started = Date()
        var fastAnswers = 0
        while Date().timeIntervalSince(started) < 0.8 {
            loris.send("X-Drip: 1\r\n")
            if try RawHTTPClient.request(port: server.port, "GET", "/fast")?.bodyText == "/fast" { fastAnswers += 1 }
            usleep(100_000)
        }
        XCTAssertGreaterThan(fastAnswers, 5)
        let response = loris.readResponse()
        XCTAssertEqual(response?.status, 408)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3.5)
        XCTAssertTrue(loris.isClosedByServer())
    }

    func testIdleKeepAliveConnectionsAreClosed() throws {
        try start { $0.idleTimeoutSeconds = 1 }
        let client = try RawHTTPClient(port: server.port)
        client.send(RawHTTPClient.requestText("GET", "/once"))
        XCTAssertEqual(client.readResponse()?.status, 200)
        let started = Date()
        XCTAssertTrue(client.isClosedByServer())
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.5)
        XCTAssertTrue(waitUntil(2) { self.server.openConnectionCount == 0 })
    }

    func testAClientVanishingMidResponseDoesNotHurtTheLoop() throws {
        try start()
        for _ in 0..<20 {
            let client = try RawHTTPClient(port: server.port)
            client.send(RawHTTPClient.requestText("GET", "/big"))
            var chunk = [UInt8](repeating: 0, count: 1024)
            _ = recv(client.fd, &chunk, chunk.count, 0)  // read a little of the 8 MiB, then vanish
            var linger = linger(l_onoff: 1, l_linger: 0)
            setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            client.close()
        }
        XCTAssertEqual(try RawHTTPClient.request(port: server.port, "GET", "/still-here")?.bodyText, "/still-here")
        XCTAssertTrue(waitUntil(3) { self.server.openConnectionCount == 0 })
    }

    func testConnectionsBeyondTheCapGet503AndTheOthersAreServed() throws {
        try start { $0.maxConnections = 5 }
        let held = try (0..<5).map { _ in try RawHTTPClient(port: server.port) }
        for client in held { client.send(RawHTTPClient.requestText("GET", "/held")) }
        for client in held { XCTAssertEqual(client.readResponse()?.status, 200) }
        let extra = try RawHTTPClient(port: server.port)
        let refused = extra.readResponse()
        XCTAssertEqual(refused?.status, 503)
        XCTAssertEqual(refused?.headers["retry-after"], "1")
        held[0].send(RawHTTPClient.requestText("GET", "/again"))
        XCTAssertEqual(held[0].readResponse()?.bodyText, "/again")
    }

    func testGracefulShutdownFinishesInFlightRequestsThenCloses() throws {
        try start()
        let client = try RawHTTPClient(port: server.port)
        client.send(RawHTTPClient.requestText("GET", "/slow/300"))
        usleep(50_000)
        let port = server.port
        let shutdownDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            self.server.shutdown(graceSeconds: 5)
            shutdownDone.signal()
        }
        let response = client.readResponse()
        XCTAssertEqual(response?.bodyText, "/slow/300")
        XCTAssertEqual(response?.headers["connection"], "close")
        XCTAssertEqual(shutdownDone.wait(timeout: .now() + 5), .success)
        XCTAssertThrowsError(try RawHTTPClient(port: port), "no longer accepting")
        server = nil
    }
}
