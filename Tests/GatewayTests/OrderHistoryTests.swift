// Reading orders back: read-your-writes before the worker has written them, PostgreSQL's copy after,
// cursor pages; orders from the cart; the popular-products ranking from PAID orders.
import Foundation
@testable import Gateway
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class OrderHistoryTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "history-admin-key"

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 2) { $0.adminKey = "history-admin-key" }
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func product(_ eventID: String, stock: Int, price: Int = 1_000) throws -> String {
        try fixture.json(try fixture.request("POST", "/admin/products", body: #"{"name":"P\#(price)","price":\#(price),"stock":\#(stock),"eventId":"\#(eventID)"}"#,
                                             headers: ["X-Admin-Key": key]))["productId"]!.stringValue!
    }

    private func event() throws -> String {
        try fixture.json(try fixture.request("POST", "/admin/events", body: #"{"name":"History","kind":"sale"}"#, headers: ["X-Admin-Key": key]))["eventId"]!.stringValue!
    }

    private func order(_ user: GatewayFixture.User, _ body: String, instance: Int = 0) throws -> RawResponse {
        try fixture.request("POST", "/orders", body: body, token: user.accessToken, instance: instance)
    }

    func testOrdersAreListedAtOnceAndStillAfterTheWorkerWroteThem() throws {
        let eventID = try event()
        let productID = try product(eventID, stock: 10)
        let user = try fixture.newUser()
        var placed: [String] = []
        for (i, instance) in [0, 1, 0].enumerated() {
            let response = try order(user, #"{"items":[{"productId":"\#(productID)","quantity":\#(i + 1)}],"pay":false}"#, instance: instance)
            XCTAssertEqual(response.status, 201)
            placed.append(try fixture.json(response)["orderId"]!.stringValue!)
            // Read-your-writes, on the other instance, before any worker ran.
            let listed = try fixture.json(try fixture.request("GET", "/orders", token: user.accessToken, instance: 1 - instance))
            XCTAssertEqual(listed["items"]?.arrayValue?.first?["orderId"]?.stringValue, placed.last)
        }
        let fresh = try fixture.json(try fixture.request("GET", "/orders", token: user.accessToken))["items"]!.arrayValue!
        XCTAssertEqual(fresh.compactMap { $0["orderId"]?.stringValue }, placed.reversed(), "newest first")

        // After the worker wrote them, and with the Redis index gone, PostgreSQL answers the same.
        try fixture.drainOutbox()
        _ = try fixture.redis.command(["DEL", UserKeys(userID: user.id).recentOrders])
        let page1 = try fixture.json(try fixture.request("GET", "/orders?limit=2", token: user.accessToken))
        XCTAssertEqual(page1["items"]?.arrayValue?.compactMap { $0["orderId"]?.stringValue }, [placed[2], placed[1]])
        XCTAssertEqual(page1["items"]?.arrayValue?.first?["items"]?[0]?["quantity"]?.intValue, 3)
        let cursor = try XCTUnwrap(page1["nextCursor"]?.stringValue)
        let page2 = try fixture.json(try fixture.request("GET", "/orders?limit=2&cursor=\(cursor)", token: user.accessToken))
        XCTAssertEqual(page2["items"]?.arrayValue?.compactMap { $0["orderId"]?.stringValue }, [placed[0]])
        XCTAssertEqual(page2["nextCursor"], .null)
        XCTAssertEqual(try fixture.request("GET", "/orders?limit=0", token: user.accessToken).status, 400)
        XCTAssertEqual(try fixture.request("GET", "/orders?cursor=bogus", token: user.accessToken).status, 400)
        // Another user sees none of them.
        let other = try fixture.newUser()
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/orders", token: other.accessToken))["items"]?.arrayValue?.count, 0)
    }

    func testAnOrderFromTheCartEmptiesItOnlyWhenItStands() throws {
        let eventID = try event()
        let (a, b) = (try product(eventID, stock: 5, price: 1_000), try product(eventID, stock: 1, price: 2_000))
        let user = try fixture.newUser()
        XCTAssertEqual(try fixture.request("PUT", "/cart/items/\(a)", body: #"{"quantity":2}"#, token: user.accessToken).status, 200)
        XCTAssertEqual(try fixture.request("PUT", "/cart/items/\(b)", body: #"{"quantity":2}"#, token: user.accessToken).status, 200)
        let short = try order(user, #"{"fromCart":true,"pay":false}"#)
        XCTAssertEqual(short.status, 409, "B has 1 left")
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken))["items"]?.arrayValue?.count, 2, "kept")
        XCTAssertEqual(try fixture.request("PUT", "/cart/items/\(b)", body: #"{"quantity":1}"#, token: user.accessToken).status, 200)
        let placed = try order(user, #"{"fromCart":true,"pay":false}"#)
        XCTAssertEqual(placed.status, 201)
        XCTAssertEqual(try fixture.json(placed)["totalAmount"]?.intValue, 4_000)
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/cart", token: user.accessToken))["items"]?.arrayValue?.count, 0, "emptied")
        XCTAssertEqual(try order(user, #"{"fromCart":true,"pay":false}"#).status, 400, "the cart is empty")
        XCTAssertEqual(try order(user, #"{"fromCart":true,"items":[{"productId":"\#(a)","quantity":1}]}"#).status, 400)
    }

    func testPopularProductsRankUnitsInPaidOrders() throws {
        let eventID = try event()
        let products = try [3, 1, 2].map { _ in try product(eventID, stock: 100, price: 100) }
        let user = try fixture.newUser()
        XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":100000}"#, token: user.accessToken).status, 200)
        for (productID, units) in zip(products, [30, 10, 20]) {
            XCTAssertEqual(try order(user, #"{"items":[{"productId":"\#(productID)","quantity":\#(units)}]}"#).status, 201)
        }
        // An unpaid order counts for nothing.
        XCTAssertEqual(try order(user, #"{"items":[{"productId":"\#(products[1])","quantity":50}],"pay":false}"#).status, 201)
        try fixture.drainOutbox()
        let ranking = try fixture.json(try fixture.request("GET", "/products/popular?days=1&limit=50"))["items"]!.arrayValue!
        let mine = ranking.filter { products.contains($0["productId"]?.stringValue ?? "") }
        XCTAssertEqual(mine.compactMap { $0["productId"]?.stringValue }, [products[0], products[2], products[1]])
        XCTAssertEqual(mine.compactMap { $0["unitsSold"]?.intValue }, [30, 20, 10])
        XCTAssertTrue(ranking.enumerated().allSatisfy { $0.element["rank"]?.intValue == Int64($0.offset + 1) })
        XCTAssertEqual(try fixture.request("GET", "/products/popular?days=0").status, 400)
        XCTAssertEqual(try fixture.request("GET", "/products/popular?limit=51").status, 400)
    }
}
