// Router and the URL decoding helpers, called directly (no server).
import HTTP
import XCTest

final class RouterTests: XCTestCase {
    func makeRouter() -> Router<String> {
        var router = Router<String>()
        router.add(.GET, "/", "root")
        router.add(.GET, "/health", "health")
        router.add(.GET, "/products", "listProducts")
        router.add(.GET, "/products/{productId}", "getProduct")
        router.add(.GET, "/products/popular", "popular")
        router.add(.PATCH, "/admin/products/{productId}", "patchProduct")
        router.add(.GET, "/products/{productId}/reviews", "reviews")
        router.add(.POST, "/events/{eventId}/queue", "enterQueue")
        router.add(.GET, "/events/{eventId}/queue", "queueStatus")
        router.add(.DELETE, "/events/{eventId}/queue", "leaveQueue")
        router.add(.POST, "/performances/{performanceId}/seats/{seatNo}/hold", "hold")
        router.add(.GET, "/performances/{id}/seats", "seats")
        router.add(.PUT, "/cart/items/{productId}", "putCartItem")
        router.add(.DELETE, "/cart/items/{productId}", "deleteCartItem")
        router.add(.HEAD, "/custom-head", "customHead")
        router.add(.GET, "/custom-head", "customGet")
        router.add(.other("PURGE"), "/cache", "purge")
        return router
    }

    func assertFound(_ match: RouteMatch<String>, _ handler: String, _ parameters: [String: String] = [:],
                     pattern: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        guard case .found(let found, let foundParameters, let foundPattern) = match else {
            return XCTFail("expected \(handler), got \(match)", file: file, line: line)
        }
        XCTAssertEqual(found, handler, file: file, line: line)
        XCTAssertEqual(foundParameters, parameters, file: file, line: line)
        if let pattern { XCTAssertEqual(foundPattern, pattern, file: file, line: line) }
    }

    func assertNotFound(_ match: RouteMatch<String>, file: StaticString = #filePath, line: UInt = #line) {
        guard case .notFound = match else { return XCTFail("expected notFound, got \(match)", file: file, line: line) }
    }

    func assertNotAllowed(_ match: RouteMatch<String>, _ allowed: [HTTPMethod],
                          file: StaticString = #filePath, line: UInt = #line) {
        guard case .methodNotAllowed(let got) = match else {
            return XCTFail("expected methodNotAllowed, got \(match)", file: file, line: line)
        }
        XCTAssertEqual(got, allowed, file: file, line: line)
    }

    func testLiteralRoutes() {
        let router = makeRouter()
        assertFound(router.match(.GET, path: "/"), "root", pattern: "/")
        assertFound(router.match(.GET, path: "/health"), "health", pattern: "/health")
        assertFound(router.match(.GET, path: "/products"), "listProducts")
        assertFound(router.match(.other("PURGE"), path: "/cache"), "purge")
    }

    func testParameters() {
        let router = makeRouter()
        assertFound(router.match(.GET, path: "/products/p-42"), "getProduct", ["productId": "p-42"],
                    pattern: "/products/{productId}")
        assertFound(router.match(.POST, path: "/events/ev1/queue"), "enterQueue", ["eventId": "ev1"],
                    pattern: "/events/{eventId}/queue")
        assertFound(router.match(.POST, path: "/performances/perf9/seats/17/hold"), "hold",
                    ["performanceId": "perf9", "seatNo": "17"])
        // Two routes share the parameter node under different names.
        assertFound(router.match(.GET, path: "/performances/perf9/seats"), "seats", ["id": "perf9"])
    }

    func testLiteralBeatsParameter() {
        let router = makeRouter()
        assertFound(router.match(.GET, path: "/products/popular"), "popular", [:], pattern: "/products/popular")
        assertFound(router.match(.GET, path: "/products/popularity"), "getProduct", ["productId": "popularity"])
        // The literal branch has no "reviews" child: the parameter branch still matches.
        assertFound(router.match(.GET, path: "/products/popular/reviews"), "reviews", ["productId": "popular"])
    }

    func testLiteralVsParameterRegardlessOfRegistrationOrder() {
        var router = Router<Int>()
        router.add(.GET, "/a/b", 1)
        router.add(.GET, "/a/{x}", 2)
        var reversed = Router<Int>()
        reversed.add(.GET, "/a/{x}", 2)
        reversed.add(.GET, "/a/b", 1)
        for r in [router, reversed] {
            guard case .found(1, _, _) = r.match(.GET, path: "/a/b") else { return XCTFail() }
            guard case .found(2, _, _) = r.match(.GET, path: "/a/c") else { return XCTFail() }
        }
    }

    func testNotFound() {
        let router = makeRouter()
        assertNotFound(router.match(.GET, path: "/nope"))
        assertNotFound(router.match(.GET, path: "/products/p1/reviews/extra"))
        assertNotFound(router.match(.GET, path: "/events/ev1"))
        assertNotFound(router.match(.GET, path: "/health/"))  // trailing slash is another path
        assertNotFound(router.match(.GET, path: "/products//reviews"))  // empty segment is no parameter
        assertNotFound(router.match(.POST, path: "/events//queue"))
        assertNotFound(router.match(.GET, path: ""))
        assertNotFound(router.match(.GET, path: "*"))
        assertNotFound(router.match(.GET, path: "health"))
        assertNotFound(router.match(.GET, path: "//"))
    }

    func testMethodNotAllowedListsTheAllowedMethods() {
        let router = makeRouter()
        assertNotAllowed(router.match(.PUT, path: "/events/ev1/queue"), [.POST, .GET, .HEAD, .DELETE])
        assertNotAllowed(router.match(.POST, path: "/health"), [.GET, .HEAD])
        assertNotAllowed(router.match(.GET, path: "/cart/items/p1"), [.PUT, .DELETE])
        assertNotAllowed(router.match(.GET, path: "/admin/products/p1"), [.PATCH])
        assertNotAllowed(router.match(.POST, path: "/custom-head"), [.HEAD, .GET])
    }

    func testMethodNotAllowedUnionsLiteralAndParameterMatches() {
        // "/products/popular" (GET) and "/products/{productId}" (GET) both match; a DELETE on a route
        // that only the parameter branch offers is still found.
        var router = Router<String>()
        router.add(.GET, "/items/special", "special")
        router.add(.DELETE, "/items/{id}", "delete")
        assertFound(router.match(.DELETE, path: "/items/special"), "delete", ["id": "special"])
        assertFound(router.match(.GET, path: "/items/special"), "special")
        assertNotAllowed(router.match(.PUT, path: "/items/special"), [.GET, .HEAD, .DELETE])
    }

    func testHeadUsesGetRouteUnlessItHasItsOwn() {
        let router = makeRouter()
        assertFound(router.match(.HEAD, path: "/products/p1"), "getProduct", ["productId": "p1"])
        assertFound(router.match(.HEAD, path: "/health"), "health")
        assertFound(router.match(.HEAD, path: "/custom-head"), "customHead")
        assertFound(router.match(.GET, path: "/custom-head"), "customGet")
        assertNotAllowed(router.match(.HEAD, path: "/cart/items/p1"), [.PUT, .DELETE])
    }

    func testParametersArePercentDecoded() {
        let router = makeRouter()
        assertFound(router.match(.GET, path: "/products/a%20b"), "getProduct", ["productId": "a b"])
        assertFound(router.match(.GET, path: "/products/a%2Fb"), "getProduct", ["productId": "a/b"])
        assertFound(router.match(.GET, path: "/products/caf%C3%A9"), "getProduct", ["productId": "café"])
        assertFound(router.match(.GET, path: "/products/a+b"), "getProduct", ["productId": "a+b"])
        assertNotFound(router.match(.GET, path: "/products/%ZZ"))
        assertNotFound(router.match(.GET, path: "/products/%E9"))  // not UTF-8
        assertNotFound(router.match(.GET, path: "/products/%4"))
    }

    func testPercentDecode() {
        XCTAssertEqual(percentDecode("plain"), "plain")
        XCTAssertEqual(percentDecode(""), "")
        XCTAssertEqual(percentDecode("a%20b%2fc%2Fd"), "a b/c/d")
        XCTAssertEqual(percentDecode("%F0%9F%98%80"), "😀")
        XCTAssertEqual(percentDecode("1+1"), "1+1")
        XCTAssertEqual(percentDecode("%00"), "\u{0}")
        XCTAssertNil(percentDecode("%"))
        XCTAssertNil(percentDecode("%2"))
        XCTAssertNil(percentDecode("%g0"))
        XCTAssertNil(percentDecode("%C3"))  // truncated sequence
        XCTAssertNil(percentDecode("%ED%A0%80"))  // encoded surrogate
        XCTAssertNil(percentDecode("%C0%AF"))  // overlong '/'
    }

    func testParseQuery() {
        XCTAssertEqual(parseQuery(""), [:])
        XCTAssertEqual(parseQuery("days=3&limit=5"), ["days": "3", "limit": "5"])
        XCTAssertEqual(parseQuery("q=a+b%2Bc&x=%26%3D"), ["q": "a b+c", "x": "&="])
        XCTAssertEqual(parseQuery("a=1&a=2"), ["a": "1"], "first value wins")
        XCTAssertEqual(parseQuery("flag&empty=&=nokey&&x=1"), ["flag": "", "empty": "", "x": "1"])
        XCTAssertEqual(parseQuery("bad=%ZZ&ok=1&bad2=%FF&a=b=c"), ["ok": "1", "a": "b=c"])
        XCTAssertEqual(parseQuery("bad=%ZZ&bad=2"), ["bad": "2"], "a malformed pair does not claim the key")
        XCTAssertEqual(parseQuery("caf%C3%A9=cr%C3%A8me"), ["café": "crème"])
        let request = HTTPRequest(method: .GET, target: "/wallet/transactions?limit=50&cursor=abc%3D")
        XCTAssertEqual(parseQuery(request.query), ["limit": "50", "cursor": "abc="])
    }

    func testManyRoutesStillMatchByTrie() {
        var router = Router<Int>()
        for i in 0 ..< 2000 { router.add(.GET, "/r\(i)/{id}/x\(i % 7)", i) }
        guard case .found(1234, let parameters, "/r1234/{id}/x2") = router.match(.GET, path: "/r1234/abc/x2") else {
            return XCTFail()
        }
        XCTAssertEqual(parameters, ["id": "abc"])
        assertNotFoundInt(router.match(.GET, path: "/r1234/abc/x3"))
    }

    private func assertNotFoundInt(_ match: RouteMatch<Int>, file: StaticString = #filePath, line: UInt = #line) {
        guard case .notFound = match else { return XCTFail("expected notFound", file: file, line: line) }
    }
}
