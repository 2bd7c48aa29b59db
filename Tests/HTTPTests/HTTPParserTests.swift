// HTTPParser driven without sockets: framing, limits, every refusal with its status, keep-alive
// rules, and the property the connection code relies on — however the bytes are split into appends,
// the same requests and the same error come out.
import HTTP
import XCTest

final class HTTPParserTests: XCTestCase {
    // MARK: helpers

    struct Outcome: Equatable {
        var requests: [HTTPRequest] = []
        var error: HTTPParseError?
    }

    /// Feeds `bytes` in pieces ending at `cuts` (plus the end), draining after every append.
    func feed(_ bytes: [UInt8], cuts: [Int] = [], limits: HTTPLimits = HTTPLimits()) -> Outcome {
        var parser = HTTPParser(limits: limits)
        var outcome = Outcome()
        var start = 0
        for cut in cuts + [bytes.count] {
            parser.append(Array(bytes[start ..< cut]))
            start = cut
            do {
                while let request = try parser.nextRequest() { outcome.requests.append(request) }
            } catch let error as HTTPParseError {
                outcome.error = error
                return outcome
            } catch {
                XCTFail("unexpected error \(error)")
                return outcome
            }
        }
        return outcome
    }

    func feed(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Outcome {
        feed(Array(text.utf8), limits: limits)
    }

    func single(_ text: String, limits: HTTPLimits = HTTPLimits(),
                file: StaticString = #filePath, line: UInt = #line) -> HTTPRequest? {
        let outcome = feed(text, limits: limits)
        XCTAssertNil(outcome.error, "unexpected error", file: file, line: line)
        XCTAssertEqual(outcome.requests.count, 1, "request count", file: file, line: line)
        return outcome.requests.first
    }

    func assertRefused(_ text: String, _ status: Int, limits: HTTPLimits = HTTPLimits(),
                       file: StaticString = #filePath, line: UInt = #line) {
        assertRefused(Array(text.utf8), status, limits: limits, file: file, line: line)
    }

    func assertRefused(_ bytes: [UInt8], _ status: Int, limits: HTTPLimits = HTTPLimits(),
                       file: StaticString = #filePath, line: UInt = #line) {
        let outcome = feed(bytes, limits: limits)
        XCTAssertEqual(outcome.error?.status, status, "error: \(String(describing: outcome.error))", file: file, line: line)
        XCTAssertTrue(outcome.requests.isEmpty, "no request before the refusal", file: file, line: line)
        if let error = outcome.error {
            let expectedCode = [400: "MALFORMED_REQUEST", 411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE",
                                431: "HEADERS_TOO_LARGE", 501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED"][status]
            XCTAssertEqual(error.code, expectedCode, file: file, line: line)
            XCTAssertFalse(error.message.isEmpty, file: file, line: line)
        }
        // The same refusal whatever the packet boundaries.
        XCTAssertEqual(feed(bytes, cuts: Array(0 ..< bytes.count), limits: limits), outcome,
                       "byte-at-a-time differs", file: file, line: line)
    }

    // MARK: basics

    func testSimpleGet() throws {
        let request = try XCTUnwrap(single("GET /products/p1?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Empty:\r\n\r\n"))
        XCTAssertEqual(request.method, .GET)
        XCTAssertEqual(request.target, "/products/p1?x=1&y=%20")
        XCTAssertEqual(request.path, "/products/p1")
        XCTAssertEqual(request.query, "x=1&y=%20")
        XCTAssertEqual(request.version, .http11)
        XCTAssertEqual(request.headers.count, 3)
        XCTAssertEqual(request.headers["host"], "example.com")
        XCTAssertEqual(request.headers["ACCEPT"], "*/*")
        XCTAssertEqual(request.headers["X-Empty"], "")
        XCTAssertNil(request.headers["Missing"])
        XCTAssertEqual(request.body, [])
        XCTAssertTrue(request.keepAlive)
    }

    func testTargetWithoutQueryAndEmptyQuery() throws {
        let plain = try XCTUnwrap(single("GET /a/b HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(plain.path, "/a/b")
        XCTAssertEqual(plain.query, "")
        let empty = try XCTUnwrap(single("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(empty.path, "/a")
        XCTAssertEqual(empty.query, "")
        let twice = try XCTUnwrap(single("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(twice.query, "b?c")
    }

    func testHeaderValuesAreTrimmedAndKeptInOrder() throws {
        let request = try XCTUnwrap(single(
            "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one \t\r\nx-a: two\r\nX-B:three\r\nX-Obs: caf\u{E9}\r\n\r\n"))
        XCTAssertEqual(request.headers["X-A"], "one")
        XCTAssertEqual(request.headers.values(for: "x-A"), ["one", "two"])
        XCTAssertEqual(request.headers["x-b"], "three")
        XCTAssertTrue(request.headers.contains("X-OBS"))
        XCTAssertEqual(request.headers.map(\.name), ["Host", "X-A", "x-a", "X-B", "X-Obs"])
    }

    func testObsTextInValueIsAccepted() throws {
        var bytes = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Latin1: ".utf8)
        bytes += [0xE9, 0xFF, 0x80]
        bytes += Array("\r\n\r\n".utf8)
        let outcome = feed(bytes)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.requests.count, 1)
    }

    func testPostWithContentLength() throws {
        let request = try XCTUnwrap(single("POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{\"pay\":true}"))
        XCTAssertEqual(request.method, .POST)
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), "{\"pay\":true}")
    }

    func testContentLengthZero() throws {
        let request = try XCTUnwrap(single("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertEqual(request.body, [])
    }

    func testBodyExactlyAtLimit() throws {
        let limits = HTTPLimits(maxBodyBytes: 10)
        let request = try XCTUnwrap(single("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits))
        XCTAssertEqual(request.body.count, 10)
    }

    func testMethods() throws {
        let cases: [(String, HTTPMethod)] = [("GET", .GET), ("HEAD", .HEAD), ("POST", .POST), ("PUT", .PUT),
                                             ("PATCH", .PATCH), ("DELETE", .DELETE), ("OPTIONS", .OPTIONS),
                                             ("PURGE", .other("PURGE")), ("get", .other("get")), ("M-SEARCH", .other("M-SEARCH"))]
        for (token, method) in cases {
            let request = try XCTUnwrap(single("\(token) / HTTP/1.1\r\nHost: a\r\n\r\n"))
            XCTAssertEqual(request.method, method)
            XCTAssertEqual(HTTPMethod(token), method)
            XCTAssertEqual(method.name, token)
        }
    }

    func testOptionsStar() throws {
        let request = try XCTUnwrap(single("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(request.method, .OPTIONS)
        XCTAssertEqual(request.target, "*")
        XCTAssertEqual(request.path, "*")
        assertRefused("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400)
    }

    func testHTTP10() throws {
        let request = try XCTUnwrap(single("GET /x HTTP/1.0\r\n\r\n"))  // no Host needed
        XCTAssertEqual(request.version, .http10)
        XCTAssertFalse(request.keepAlive)
        XCTAssertTrue(request.http10)
        let post = try XCTUnwrap(single("POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"))
        XCTAssertEqual(post.body, Array("abc".utf8))
    }

    // MARK: keep-alive

    func testKeepAliveRules() throws {
        func keepAlive(_ version: String, _ connection: String?) throws -> Bool {
            let header = connection.map { "Connection: \($0)\r\n" } ?? ""
            return try XCTUnwrap(single("GET / \(version)\r\nHost: a\r\n\(header)\r\n")).keepAlive
        }
        XCTAssertTrue(try keepAlive("HTTP/1.1", nil))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "close"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "CLOSE"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "keep-alive, Close"))
        XCTAssertTrue(try keepAlive("HTTP/1.1", "upgrade"))
        XCTAssertTrue(try keepAlive("HTTP/1.1", "closed"))  // a token list, not a substring match
        XCTAssertFalse(try keepAlive("HTTP/1.0", nil))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "keep-alive"))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "Keep-Alive"))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "foo ,  keep-alive  "))
        XCTAssertFalse(try keepAlive("HTTP/1.0", "keep-alive, close"))
        XCTAssertFalse(try keepAlive("HTTP/1.0", "keep-alive-ish"))

        // Several Connection fields are one list.
        let two = try XCTUnwrap(single("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n"))
        XCTAssertFalse(two.keepAlive)
        // The derived initializer follows the same rules.
        XCTAssertFalse(HTTPRequest(method: .GET, target: "/", version: .http10).keepAlive)
        XCTAssertFalse(HTTPRequest(method: .GET, target: "/", headers: ["Connection": "close"]).keepAlive)
        XCTAssertTrue(HTTPRequest(method: .GET, target: "/").keepAlive)
    }

    // MARK: pipelining and incremental feeding

    static let pipeline: String =
        "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
        + "POST /orders?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        + "\r\n"  // an empty line between requests is tolerated
        + "PUT /cart/items/p1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n"
        + "GET /body-ignored HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
        + "HEAD /chunked-ignored HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        + "DELETE /reservations/r1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        + "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

    func testPipelinedRequestsInOneBuffer() throws {
        var parser = HTTPParser()
        parser.append(Array(HTTPParserTests.pipeline.utf8))
        var requests: [HTTPRequest] = []
        while let request = try parser.nextRequest() { requests.append(request) }
        XCTAssertEqual(requests.map(\.path), ["/health", "/orders", "/cart/items/p1", "/body-ignored",
                                              "/chunked-ignored", "/reservations/r1", "/last"])
        XCTAssertEqual(requests.map(\.method), [.GET, .POST, .PUT, .GET, .HEAD, .DELETE, .GET])
        XCTAssertEqual(requests[1].body, Array("hello".utf8))
        XCTAssertEqual(requests[1].query, "x=1")
        XCTAssertEqual(String(decoding: requests[2].body, as: UTF8.self), "Wikipedia in\r\n\r\nchunks.")
        XCTAssertNil(requests[2].headers["X-Trailer"], "trailers are not merged into the headers")
        XCTAssertEqual(requests[3].body, [], "a GET body is read per framing and dropped")
        XCTAssertEqual(requests[4].body, [])
        XCTAssertEqual(requests.map(\.keepAlive), [true, true, true, true, true, true, false])
        XCTAssertEqual(parser.bufferedByteCount, 0)
        XCTAssertFalse(parser.hasPartialRequest)
        XCTAssertNil(try parser.nextRequest())
    }

    /// Inputs whose parse must not depend on packet boundaries: valid pipelines, and pipelines that
    /// end in each kind of refusal (so the error is raised at the same request, with the same text).
    static let splitCases: [(String, HTTPLimits)] = [
        (pipeline, HTTPLimits()),
        (pipeline + "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPLimits()),
        (pipeline + "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", HTTPLimits()),
        (pipeline + "GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTPLimits()),
        (pipeline + "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeX", HTTPLimits()),
        (pipeline + "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HTTPLimits()),
        (pipeline + "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", HTTPLimits(maxBodyBytes: 50)),
        (pipeline + "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "v", count: 300), HTTPLimits(maxHeaderBytes: 256)),
        ("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X: y\r\n", count: 5) + "\r\n", HTTPLimits(maxHeaderCount: 4)),
        (pipeline + "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", HTTPLimits(maxBodyBytes: 12)),
        (pipeline + "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\nC: d\r\nE: f\r\nG: h\r\n", HTTPLimits(maxHeaderBytes: 256, maxHeaderCount: 3)),
        (pipeline + "G\u{1}T / HTTP/1.1\r\n\r\n", HTTPLimits()),
        (pipeline + "GET /partial HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", HTTPLimits()),
        ("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\r\n", HTTPLimits()),
    ]

    func testEverySplitPointGivesTheSameResult() {
        for (text, limits) in HTTPParserTests.splitCases {
            let bytes = Array(text.utf8)
            let whole = feed(bytes, limits: limits)
            for cut in 0 ... bytes.count {
                let split = feed(bytes, cuts: [cut], limits: limits)
                if split != whole {
                    XCTFail("split at \(cut) differs for \(text.debugDescription.prefix(80))…: \(split.requests.count) vs \(whole.requests.count) requests, \(String(describing: split.error)) vs \(String(describing: whole.error))")
                    break
                }
            }
            // Two cuts, at a spread of positions.
            let step = max(1, bytes.count / 23)
            for a in stride(from: 0, through: bytes.count, by: step) {
                for b in stride(from: a, through: bytes.count, by: step) {
                    XCTAssertEqual(feed(bytes, cuts: [a, b], limits: limits), whole, "cuts \(a), \(b)")
                }
            }
        }
    }

    func testOneByteAtATimeGivesTheSameResult() {
        for (text, limits) in HTTPParserTests.splitCases {
            let bytes = Array(text.utf8)
            XCTAssertEqual(feed(bytes, cuts: Array(0 ..< bytes.count), limits: limits), feed(bytes, limits: limits),
                           "byte-at-a-time differs for \(text.debugDescription.prefix(80))")
        }
    }

    func testErrorsLandOnTheRightRequest() {
        let outcome = feed(HTTPParserTests.pipeline + "GET / HTTP/2.0\r\nHost: a\r\n\r\n")
        XCTAssertEqual(outcome.requests.count, 7)
        XCTAssertEqual(outcome.error?.status, 505)
    }

    func testPartialRequestTracking() throws {
        var parser = HTTPParser()
        XCTAssertFalse(parser.hasPartialRequest)
        parser.append(Array("GE".utf8))
        XCTAssertNil(try parser.nextRequest())
        XCTAssertTrue(parser.hasPartialRequest)
        XCTAssertEqual(parser.bufferedByteCount, 2)
        parser.append(Array("T / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab".utf8))
        XCTAssertNil(try parser.nextRequest())
        XCTAssertTrue(parser.hasPartialRequest, "mid-body")
        parser.append(Array("cd".utf8))
        XCTAssertNotNil(try parser.nextRequest())
        XCTAssertFalse(parser.hasPartialRequest)
        XCTAssertEqual(parser.bufferedByteCount, 0)

        // Skipped empty lines between requests are not a request in progress.
        parser.append(Array("\r\n".utf8))
        XCTAssertNil(try parser.nextRequest())
        XCTAssertFalse(parser.hasPartialRequest)
    }

    func testPostBodyInPieces() throws {
        var parser = HTTPParser()
        parser.append(Array("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n".utf8))
        XCTAssertNil(try parser.nextRequest())
        for byte in "abcde".utf8 {
            parser.append([byte])
            XCTAssertNil(try parser.nextRequest())
        }
        parser.append(Array("fGET".utf8))
        XCTAssertEqual(try parser.nextRequest()?.body, Array("abcdef".utf8))
        XCTAssertNil(try parser.nextRequest())
        XCTAssertEqual(parser.bufferedByteCount, 3)
        XCTAssertTrue(parser.hasPartialRequest)
    }

    func testLongKeepAliveConnectionDoesNotAccumulate() throws {
        var parser = HTTPParser()
        let request = Array("GET /health HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        for i in 0 ..< 5000 {
            // Alternate whole requests and requests straddling two appends.
            if i % 2 == 0 {
                parser.append(request)
            } else {
                parser.append(Array(request[..<10]))
                XCTAssertNil(try parser.nextRequest())
                parser.append(Array(request[10...]))
            }
            XCTAssertEqual(try parser.nextRequest()?.path, "/health")
            XCTAssertEqual(parser.bufferedByteCount, 0)
        }
        // A big body, then small requests again.
        let body = [UInt8](repeating: 0x61, count: 500_000)
        parser.append(Array("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 500000\r\n\r\n".utf8) + body + request)
        XCTAssertEqual(try parser.nextRequest()?.body.count, 500_000)
        XCTAssertEqual(parser.bufferedByteCount, request.count)
        XCTAssertEqual(try parser.nextRequest()?.path, "/health")
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    func testErrorIsSticky() throws {
        var parser = HTTPParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n".utf8))
        XCTAssertThrowsError(try parser.nextRequest()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 400) }
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        XCTAssertThrowsError(try parser.nextRequest()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 400) }
        XCTAssertFalse(parser.hasPartialRequest)
    }

    // MARK: leading empty lines

    func testLeadingEmptyLinesAreSkippedButBounded() throws {
        let request = try XCTUnwrap(single("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(request.path, "/")
        XCTAssertNotNil(single(String(repeating: "\r\n", count: 8) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        assertRefused(String(repeating: "\r\n", count: 9) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused(String(repeating: "\r\n", count: 1000), 400)
        assertRefused("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
    }

    // MARK: request line

    func testMalformedRequestLines() {
        assertRefused("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET / http/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", 400)
    }

    func testGarbageIsRefusedAtItsFirstByte() throws {
        // A TLS ClientHello on the plain port: refused without waiting for a CRLF or the head limit.
        var parser = HTTPParser()
        parser.append([0x16, 0x03, 0x01])
        XCTAssertThrowsError(try parser.nextRequest()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 400) }
    }

    func testUnsupportedVersions() {
        assertRefused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505)
        assertRefused("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505)
        assertRefused("GET / HTTP/0.9\r\n\r\n", 505)
        assertRefused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
    }

    func testRequestTargets() {
        assertRefused("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400)
        assertRefused("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400)
        assertRefused("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        assertRefused("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        XCTAssertNotNil(single("GET /a/%7Bb%7D;c=d!$&'()*+,:@~ HTTP/1.1\r\nHost: a\r\n\r\n"))
    }

    // MARK: header fields

    func testMissingOrRepeatedHost() {
        assertRefused("GET / HTTP/1.1\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400)
        XCTAssertNotNil(single("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n"))
    }

    func testObsFoldIsRefused() {
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400)
    }

    func testMalformedHeaderNames() {
        assertRefused("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-\u{E9}: z\r\n\r\n", 400)
    }

    func testControlCharactersInValues() {
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{0}b\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{7F}\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{1B}[0m\r\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\r\n\r\n", 400)
        XCTAssertEqual(single("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\n\r\n")?.headers["X-A"], "a\tb")
    }

    func testControlCharacterAtEveryPositionOfALongValue() {
        // The value check skips clean 8-byte words: a bad byte must be caught wherever it sits.
        for position in 0 ..< 21 {
            for (bad, status) in [(UInt8(0x00), 400), (0x0D, 400), (0x7F, 400), (0x1F, 400), (0x09, 0), (0x80, 0)] {
                var value = [UInt8](repeating: 0x61, count: 21)
                value[position] = bad
                let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: ".utf8) + value + Array("z\r\n\r\n".utf8)
                let outcome = feed(bytes)
                if status == 0 {
                    XCTAssertNil(outcome.error, "byte \(bad) at \(position)")
                    // 0x80 decodes as U+FFFD (3 bytes); a leading HTAB is trimmed as OWS.
                    let expected = bad == 0x80 ? 24 : (position == 0 ? 21 : 22)
                    XCTAssertEqual(outcome.requests.first?.headers["x-long"]?.utf8.count, expected,
                                   "byte \(bad) at \(position)")
                } else {
                    XCTAssertEqual(outcome.error?.status, status, "byte \(bad) at \(position)")
                }
            }
        }
    }

    func testBareLineFeedAtEveryPositionOfALongLine() {
        for position in 1 ..< 30 {
            var line = Array("X-Long: " + String(repeating: "b", count: 30))
            line[min(position, line.count - 1)] = "\n"
            let outcome = feed("GET / HTTP/1.1\r\nHost: a\r\n" + String(line) + "\r\n\r\n")
            XCTAssertEqual(outcome.error?.status, 400, "LF at \(position)")
        }
    }

    func testHeadersAPI() {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Set-Cookie": "a=1"]
        headers.add(name: "set-cookie", value: "b=2")
        XCTAssertEqual(headers.values(for: "SET-COOKIE"), ["a=1", "b=2"])
        XCTAssertEqual(headers["content-type"], "application/json")
        headers.replaceOrAdd(name: "SET-COOKIE", value: "c=3")
        XCTAssertEqual(headers.values(for: "set-cookie"), ["c=3"])
        headers.remove(name: "Content-Type")
        XCTAssertFalse(headers.contains("content-type"))
        XCTAssertEqual(headers.count, 1)
        headers.add(name: "Connection", value: "Upgrade, Keep-Alive")
        XCTAssertTrue(headers.containsToken("keep-alive", in: "connection"))
        XCTAssertTrue(headers.containsToken("upgrade", in: "Connection"))
        XCTAssertFalse(headers.containsToken("keep", in: "Connection"))
        XCTAssertEqual(HTTPHeaders([("A", "1")]), ["A": "1"])
        XCTAssertNotEqual(HTTPHeaders([("A", "1")]), ["a": "1"], "equality keeps the spelling")
    }

    func testBareLineFeedsAreRefused() {
        assertRefused("GET / HTTP/1.1\nHost: a\n\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\n\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\n\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400)
    }

    // MARK: limits

    func testHeaderBytesLimit() throws {
        let limits = HTTPLimits(maxHeaderBytes: 64)
        func head(padding: Int) -> String {
            "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: padding) + "\r\n\r\n"  // 32 + padding
        }
        XCTAssertEqual(head(padding: 32).utf8.count, 64)
        XCTAssertNotNil(single(head(padding: 32), limits: limits))
        assertRefused(head(padding: 33), 431, limits: limits)
    }

    func testHeaderBytesLimitBeforeTheHeadEnds() throws {
        // No CRLFCRLF ever arrives: refused once the buffered head passes the limit, not at a timeout.
        var parser = HTTPParser(limits: HTTPLimits(maxHeaderBytes: 1024))
        parser.append(Array(("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "a", count: 900)).utf8))
        XCTAssertNil(try parser.nextRequest())
        parser.append(Array(String(repeating: "a", count: 200).utf8))
        XCTAssertThrowsError(try parser.nextRequest()) {
            XCTAssertEqual($0 as? HTTPParseError, HTTPParseError(status: 431, code: "HEADERS_TOO_LARGE",
                                                                 message: "request line and headers exceed 1024 bytes"))
        }
        // Default limit: 16 KiB of request line alone.
        assertRefused("GET /" + String(repeating: "a", count: 16 * 1024) + " HTTP/1.1\r\nHost: a\r\n\r\n", 431)
    }

    func testHeaderCountLimit() throws {
        func request(headers: Int) -> String {
            "GET / HTTP/1.1\r\nHost: a\r\n" + (1 ..< headers).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        }
        XCTAssertEqual(single(request(headers: 100))?.headers.count, 100)
        assertRefused(request(headers: 101), 431)
        // Detected before the head ends.
        var parser = HTTPParser()
        parser.append(Array(request(headers: 101).utf8.dropLast(2)))
        XCTAssertThrowsError(try parser.nextRequest()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 431) }
    }

    func testBodyLimitFromContentLengthBeforeTheBody() throws {
        var parser = HTTPParser(limits: HTTPLimits(maxBodyBytes: 1 << 20))
        parser.append(Array("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n".utf8))
        XCTAssertThrowsError(try parser.nextRequest()) {
            XCTAssertEqual(($0 as? HTTPParseError)?.status, 413)
            XCTAssertEqual(($0 as? HTTPParseError)?.code, "PAYLOAD_TOO_LARGE")
        }
        // Also for a GET whose body would only be discarded.
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 413, limits: HTTPLimits(maxBodyBytes: 10))
    }

    // MARK: Content-Length

    func testContentLengthVariants() throws {
        XCTAssertEqual(single("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")?.body.count, 3)
        XCTAssertEqual(single("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc")?.body.count, 3)
        XCTAssertEqual(single("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:   3  \r\n\r\nabc")?.body.count, 3)
        XCTAssertEqual(single("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc")?.body.count, 3)
    }

    func testInvalidContentLength() {
        for value in ["", "abc", "-1", "+3", "3a", "0x3", "3 3", "3,", ",3", "1.0", "99999999999999999999", "9223372036854775808"] {
            assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\nabc", 400)
        }
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400)
    }

    // MARK: Transfer-Encoding and chunked bodies

    func testChunkedWithExtensionsAndTrailers() throws {
        let text = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "5;name=value;flag;q=\"quoted \\\" ; string\"\r\nhello\r\n"
            + "006 ; spaced = ext\r\n world\r\n"
            + "A\r\n0123456789\r\n"
            + "0;last\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n"
        let request = try XCTUnwrap(single(text))
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), "hello world0123456789")
        XCTAssertNil(request.headers["X-Checksum"])
        XCTAssertEqual(request.headers["Transfer-Encoding"], "Chunked")
    }

    func testEmptyChunkedBody() throws {
        XCTAssertEqual(single("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")?.body, [])
    }

    func testChunkedBodyLimitIsOnTheDecodedSize() {
        let limits = HTTPLimits(maxBodyBytes: 10)
        XCTAssertEqual(single("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n123456\r\n4\r\n7890\r\n0\r\n\r\n",
                              limits: limits)?.body.count, 10)
        // Refused at the chunk-size line that would pass the limit, before its data arrives.
        assertRefused("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n123456\r\n5\r\n", 413, limits: limits)
        assertRefused("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n", 413)
    }

    func testMalformedChunks() {
        let head = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertRefused(head + "g\r\n", 400)
        assertRefused(head + "\r\n", 400)
        assertRefused(head + "-1\r\n", 400)
        assertRefused(head + "0x5\r\n", 400)
        assertRefused(head + "5 \r\nhello\r\n0\r\n\r\n", 400)
        assertRefused(head + "10000000000000000\r\n", 400)  // overflows Int
        assertRefused(head + "5\r\nhelloX\r\n0\r\n\r\n", 400)  // data longer than the size
        assertRefused(head + "5\r\nhello\n0\r\n\r\n", 400)
        assertRefused(head + "5\nhello\r\n0\r\n\r\n", 400)
        assertRefused(head + "5;\r\nhello\r\n", 400)
        assertRefused(head + "5;a=\"open\r\nhello\r\n", 400)
        assertRefused(head + "5;a=b c\r\nhello\r\n", 400)
        assertRefused(head + "5;a=\u{1}\r\nhello\r\n", 400)
        assertRefused(head + "5;" + String(repeating: "x", count: 5000) + "\r\n", 400)
        assertRefused(head + "0\r\nBad Trailer: x\r\n\r\n", 400)
        assertRefused(head + "0\r\n folded\r\n\r\n", 400)
        assertRefused(head + "0\r\nX: \u{0}\r\n\r\n", 400)
    }

    func testTrailerLimits() {
        let head = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        assertRefused(head + (0 ..< 101).map { "T\($0): v\r\n" }.joined() + "\r\n", 431)
        assertRefused(head + "T: " + String(repeating: "v", count: 300) + "\r\n\r\n", 431, limits: HTTPLimits(maxHeaderBytes: 256))
    }

    func testTransferEncodingRefusals() {
        let start = "POST /a HTTP/1.1\r\nHost: a\r\n"
        let body = "\r\n\r\n0\r\n\r\n"
        assertRefused(start + "Content-Length: 5\r\nTransfer-Encoding: chunked" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked\r\nContent-Length: 5" + body, 400)
        assertRefused(start + "Transfer-Encoding: gzip" + body, 501)
        assertRefused(start + "Transfer-Encoding: gzip, chunked" + body, 501)
        assertRefused(start + "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked" + body, 501)
        assertRefused(start + "Transfer-Encoding: chunked, gzip" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked, chunked" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked;x=1" + body, 400)
        assertRefused(start + "Transfer-Encoding:" + body, 400)
        assertRefused(start + "Transfer-Encoding: ," + body, 400)
        assertRefused(start + "Transfer-Encoding: \"chunked\"" + body, 400)
        assertRefused(start + "Transfer-Encoding: chunked\u{B}" + body, 400)
        assertRefused("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked" + body, 400)
        XCTAssertEqual(single(start + "Transfer-Encoding: , chunked ,\r\n\r\n3\r\nabc\r\n0\r\n\r\n")?.body.count, 3)
    }

    func testBodiesOfGetAndHeadAreSkippedPerFraming() throws {
        let outcome = feed("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /"
            + "HEAD /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n"
            + "GET /c HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.requests.map(\.path), ["/a", "/b", "/c"])
        XCTAssertEqual(outcome.requests.map(\.body), [[], [], []])
    }
}
