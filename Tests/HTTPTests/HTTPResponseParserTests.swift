// The client's response parser, byte by byte, without sockets.
import HTTP
import XCTest

final class HTTPResponseParserTests: XCTestCase {
    /// Feeds `text` in pieces of `step` bytes and collects every response.
    private func parse(_ text: String, step: Int = .max, toHead: Bool = false, finish: Bool = false) throws -> [HTTPClientResponse] {
        var parser = HTTPResponseParser()
        var out: [HTTPClientResponse] = []
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            parser.append(Array(bytes[offset..<end]))
            offset = end
            while let response = try parser.nextResponse(toHead: toHead) { out.append(response) }
        }
        if finish, let last = try parser.finish() { out.append(last) }
        return out
    }

    func testContentLengthBodiesInOnePieceAndByteByByte() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
            + "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
        for step in [Int.max, 1, 7] {
            let responses = try parse(text, step: step)
            XCTAssertEqual(responses.map(\.status), [200, 503], "step \(step)")
            XCTAssertEqual(responses[0].bodyText, "{\"ok\":true}")
            XCTAssertEqual(responses[0].headers["content-type"], "application/json")
            XCTAssertEqual(responses[1].headers["Retry-After"], "1")
            XCTAssertTrue(responses.allSatisfy(\.keepAlive))
        }
    }

    func testChunkedBodiesWithExtensionsAndTrailers() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\n\r\n"
        for step in [Int.max, 1, 3] {
            let responses = try parse(text, step: step)
            XCTAssertEqual(responses.map(\.status), [200, 204], "step \(step)")
            XCTAssertEqual(responses[0].bodyText, "hello, world")
            XCTAssertEqual(responses[1].body, [])
        }
    }

    func testABodyWithoutLengthRunsUntilTheServerCloses() throws {
        var parser = HTTPResponseParser()
        parser.append(Array("HTTP/1.1 200 OK\r\n\r\nall of ".utf8))
        XCTAssertNil(try parser.nextResponse())
        parser.append(Array("this".utf8))
        XCTAssertNil(try parser.nextResponse())
        let response = try XCTUnwrap(try parser.finish())
        XCTAssertEqual(response.bodyText, "all of this")
        XCTAssertFalse(response.keepAlive)
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() throws {
        XCTAssertFalse(try parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[0].keepAlive)
        XCTAssertFalse(try parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")[0].keepAlive)
        XCTAssertTrue(try parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")[0].keepAlive)
    }

    func testInterimResponsesAreSkippedAndHeadAnswersHaveNoBody() throws {
        let interim = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(interim.map(\.status), [201])
        XCTAssertEqual(interim[0].bodyText, "ok")
        let head = try parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", toHead: true)
        XCTAssertEqual(head.count, 2, "a HEAD answer's Content-Length announces no body bytes")
    }

    func testBareLineFeedsAreAccepted() throws {
        let responses = try parse("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
        XCTAssertEqual(responses.first?.bodyText, "ok")
    }

    func testMalformedResponsesThrowAndStayFailed() throws {
        for bad in [
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            var parser = HTTPResponseParser()
            parser.append(Array(bad.utf8))
            XCTAssertThrowsError(try parser.nextResponse(), bad)
            XCTAssertThrowsError(try parser.nextResponse(), "stays failed: \(bad)")
        }
    }

    func testLimitsBoundHeadAndBody() throws {
        var limits = HTTPResponseParser.Limits()
        limits.maxHeadBytes = 64
        limits.maxBodyBytes = 10
        var head = HTTPResponseParser(limits: limits)
        head.append(Array(("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 100)).utf8))
        XCTAssertThrowsError(try head.nextResponse())
        var body = HTTPResponseParser(limits: limits)
        body.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n".utf8))
        XCTAssertThrowsError(try body.nextResponse())
        var chunked = HTTPResponseParser(limits: limits)
        chunked.append(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n".utf8))
        XCTAssertThrowsError(try chunked.nextResponse())
    }

    func testACloseMidResponseIsAnErrorAndACloseBetweenResponsesIsNot() throws {
        var cut = HTTPResponseParser()
        cut.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8))
        XCTAssertNil(try cut.nextResponse())
        XCTAssertTrue(cut.hasPartialResponse)
        XCTAssertThrowsError(try cut.finish())
        var clean = HTTPResponseParser()
        clean.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8))
        XCTAssertNotNil(try clean.nextResponse())
        XCTAssertFalse(clean.hasPartialResponse)
        XCTAssertNil(try clean.finish())
    }
}
