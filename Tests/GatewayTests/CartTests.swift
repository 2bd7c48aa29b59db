// The cart: quantities per user in Redis, shown with live names, prices and stock; its bounds hold under
// parallel requests through two instances.
import Foundation
@testable import Gateway
import JSON
import Runtime
import TestSupport
import XCTest

final class CartTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "cart-admin-key"

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 2) { $0.adminKey = "cart-admin-key" }
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func product(_ name: String, price: Int, stock: Int) throws -> String {
        let response = try fixture.request("POST", "/admin/products", body: #"{"name":"\#(name)","price":\#(price),"stock":\#(stock)}"#,
                                           headers: ["X-Admin-Key": key])
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try fixture.json(response)["productId"]!.stringValue!
    }

    private func put(_ user: GatewayFixture.User, _ productID: String, _ body: String) throws -> RawResponse {
        try fixture.request("PUT", "/cart/items/\(productID)", body: body, token: user.accessToken)
    }

    func testTheCartShowsLiveProductsAndItsTotal() throws {
        let user = try fixture.newUser()
        let (tea, mug) = (try product("Tea", price: 4_000, stock: 10), try product("Mug", price: 12_000, stock: 3))
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken)), ["items": [], "totalAmount": 0])
        XCTAssertEqual(try put(user, tea, #"{"quantity":2}"#).status, 200)
        let cart = try fixture.json(try put(user, mug, #"{"quantity":1}"#))
        XCTAssertEqual(cart["totalAmount"]?.intValue, 20_000)
        XCTAssertEqual(cart["items"]?.arrayValue?.count, 2)
        let mugLine = cart["items"]?.arrayValue?.first { $0["productId"]?.stringValue == mug }
        XCTAssertEqual(mugLine?["name"]?.stringValue, "Mug")
        XCTAssertEqual(mugLine?["price"]?.intValue, 12_000)
        XCTAssertEqual(mugLine?["stock"]?.intValue, 3)
        XCTAssertEqual(mugLine?["quantity"]?.intValue, 1)

        // A new quantity replaces the old; a price change shows at once.
        XCTAssertEqual(try fixture.json(try put(user, tea, #"{"quantity":5}"#))["totalAmount"]?.intValue, 32_000)
        XCTAssertEqual(try fixture.request("PATCH", "/admin/products/\(mug)", body: #"{"price":10000}"#, headers: ["X-Admin-Key": key]).status, 200)
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken, instance: 1))["totalAmount"]?.intValue, 30_000)

        let removed = try fixture.json(try fixture.request("DELETE", "/cart/items/\(tea)", token: user.accessToken))
        XCTAssertEqual(removed["items"]?.arrayValue?.map { $0["productId"]?.stringValue }, [mug])
        XCTAssertEqual(removed["totalAmount"]?.intValue, 10_000)
        // Each user has their own cart.
        let other = try fixture.newUser()
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/cart", token: other.accessToken))["items"]?.arrayValue?.count, 0)
    }

    func testBadRequestsAreRefusedAndChangeNothing() throws {
        let user = try fixture.newUser()
        let tea = try product("Tea", price: 4_000, stock: 10)
        XCTAssertEqual(try put(user, tea, #"{"quantity":1}"#).status, 200)
        for body in [#"{"quantity":0}"#, #"{"quantity":101}"#, #"{"quantity":1.5}"#, #"{"quantity":"2"}"#, #"{}"#] {
            let response = try put(user, tea, body)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "INVALID_QUANTITY", body)
        }
        XCTAssertEqual(try put(user, "prd_000000000000000000000000", #"{"quantity":1}"#).status, 404)
        XCTAssertEqual(try put(user, "nope", #"{"quantity":1}"#).status, 404)
        XCTAssertEqual(try fixture.request("GET", "/cart").status, 401)
        XCTAssertEqual(try fixture.request("PUT", "/cart/items/\(tea)", body: #"{"quantity":1}"#).status, 401)
        let cart = try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken))
        XCTAssertEqual(cart["items"]?.arrayValue?.first?["quantity"]?.intValue, 1)
    }

    func testFiftyParallelAddsOfDifferentProductsFillTheCartToTwentyExactly() throws {
        let user = try fixture.newUser()
        let products = try (0..<50).map { try product("Item \($0)", price: 100, stock: 1) }
        let requests = products.map {
            RawHTTPClient.requestText("PUT", "/cart/items/\($0)", body: #"{"quantity":1}"#, headers: ["Authorization": "Bearer \(user.accessToken)"])
        }
        let responses = try fixture.burst(requests, connectionsPerInstance: 10)
        XCTAssertEqual(responses.filter { $0?.status == 200 }.count, 20)
        XCTAssertEqual(responses.filter { $0?.status == 400 }.count, 30)
        XCTAssertEqual(try fixture.redis.command(["HLEN", UserKeys(userID: user.id).cart]).int, 20)
        // Changing a product already in a full cart still works.
        let inCart = try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken))["items"]!.arrayValue![0]["productId"]!.stringValue!
        XCTAssertEqual(try put(user, inCart, #"{"quantity":7}"#).status, 200)
    }
}
