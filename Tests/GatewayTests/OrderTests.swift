// Orders that hold stock (pay:false): all items or none under concurrency through two instances, holds
// that run out and give the stock back once, idempotent retries, bad input, and the queue gate.
import Foundation
@testable import Gateway
import Inventory
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

final class OrderTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "order-admin-key"

    override func tearDown() {
        fixture?.shutdown()
    }

    private func start(instances: Int = 2, holdSeconds: Int = 300) throws {
        fixture = try GatewayFixture(instances: instances) {
            $0.adminKey = "order-admin-key"
            $0.holdTTLSeconds = holdSeconds
            $0.admissionIntervalMilliseconds = 50
        }
    }

    private func event(queue: String = #""enabled":false"#) throws -> String {
        try fixture.json(try fixture.request("POST", "/admin/events", body: #"{"name":"Sale","kind":"sale","queue":{\#(queue)}}"#,
                                             headers: ["X-Admin-Key": key]))["eventId"]!.stringValue!
    }

    private func product(_ eventID: String, stock: Int, price: Int = 1_000) throws -> String {
        let response = try fixture.request("POST", "/admin/products", body: #"{"name":"P","price":\#(price),"stock":\#(stock),"eventId":"\#(eventID)"}"#,
                                           headers: ["X-Admin-Key": key])
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try fixture.json(response)["productId"]!.stringValue!
    }

    private func stock(_ eventID: String, _ productID: String) throws -> Int64? {
        try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int
    }

    private func orderText(_ items: [(String, Int)], token: String, headers: [String: String] = [:]) -> String {
        let list = items.map { #"{"productId":"\#($0.0)","quantity":\#($0.1)}"# }.joined(separator: ",")
        return RawHTTPClient.requestText("POST", "/orders", body: #"{"items":[\#(list)],"pay":false}"#,
                                         headers: headers.merging(["Authorization": "Bearer \(token)"]) { a, _ in a })
    }

    func testStockForSBuyersAmongSPlusKIsTakenExactlyOnce() throws {
        try start()
        let eventID = try event()
        let productID = try product(eventID, stock: 100)
        let users = try fixture.seedUsers(150)
        let responses = try fixture.burst(users.map { orderText([(productID, 1)], token: $0.token) }, connectionsPerInstance: 50)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 100)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 50)
        XCTAssertEqual(try stock(eventID, productID), 0)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).holds]).int, 100)
        let placed = try responses.compactMap { $0 }.filter { $0.status == 201 }.map { try fixture.json($0) }
        XCTAssertEqual(Set(placed.compactMap { $0["orderId"]?.stringValue }).count, 100)
        let odd = placed.filter { $0["status"]?.stringValue != "PENDING_PAYMENT" || $0["totalAmount"]?.intValue != 1_000 }
        XCTAssertEqual(odd.count, 0, "\(odd.first.map(\.description) ?? "")")
    }

    func testAnOrderTakesAllOfItsItemsOrNone() throws {
        try start()
        let eventID = try event()
        let (a, b) = (try product(eventID, stock: 10), try product(eventID, stock: 2))
        let user = try fixture.newUser()
        let short = try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(a)","quantity":1},{"productId":"\#(b)","quantity":3}],"pay":false}"#,
                                        token: user.accessToken)
        XCTAssertEqual(short.status, 409)
        XCTAssertEqual(try fixture.json(short)["error"]?["details"]?["productId"]?.stringValue, b, "names the short product")
        XCTAssertEqual(try stock(eventID, a), 10, "A untouched")
        XCTAssertEqual(try stock(eventID, b), 2)
        // Concurrent orders of B×2 (with A×1) from 20 buyers: exactly one fits, and only it takes A.
        let users = try fixture.seedUsers(20)
        let responses = try fixture.burst(users.map { orderText([(a, 1), (b, 2)], token: $0.token) }, connectionsPerInstance: 10)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 1)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 19)
        XCTAssertEqual(try stock(eventID, a), 9)
        XCTAssertEqual(try stock(eventID, b), 0)
    }

    func testBadOrdersAreRefusedAndChangeNothing() throws {
        try start(instances: 1)
        let (one, two) = (try event(), try event())
        let (a, b) = (try product(one, stock: 5), try product(two, stock: 5))
        let user = try fixture.newUser()
        func post(_ body: String) throws -> RawResponse { try fixture.request("POST", "/orders", body: body, token: user.accessToken) }
        let many = (0..<21).map { _ in #"{"productId":"\#(a)","quantity":1}"# }.joined(separator: ",")
        let cases: [(String, Int, String)] = [
            (#"{"items":[],"pay":false}"#, 400, "VALIDATION_FAILED"),
            (#"{"pay":false}"#, 400, "VALIDATION_FAILED"),
            (#"{"items":[\#(many)],"pay":false}"#, 400, "VALIDATION_FAILED"),
            (#"{"items":[{"productId":"\#(a)","quantity":0}],"pay":false}"#, 400, "INVALID_QUANTITY"),
            (#"{"items":[{"productId":"\#(a)","quantity":101}],"pay":false}"#, 400, "INVALID_QUANTITY"),
            (#"{"items":[{"productId":"\#(a)","quantity":1.5}],"pay":false}"#, 400, "INVALID_QUANTITY"),
            (#"{"items":[{"productId":"\#(a)","quantity":1},{"productId":"\#(a)","quantity":1}],"pay":false}"#, 400, "VALIDATION_FAILED"),
            (#"{"items":[{"productId":"\#(a)","quantity":1},{"productId":"\#(b)","quantity":1}],"pay":false}"#, 400, "VALIDATION_FAILED"),
            (#"{"items":[{"productId":"prd_000000000000000000000000","quantity":1}],"pay":false}"#, 404, "NOT_FOUND"),
            (#"{"items":[{"productId":"\#(a)","quantity":1}],"pay":"no"}"#, 400, "VALIDATION_FAILED"),
            // A coupon is applied when paying: with pay:true, or at POST /payments (CouponUseTests).
            (#"{"items":[{"productId":"\#(a)","quantity":1}],"pay":false,"couponId":"cpn_000000000000000000000000"}"#, 400, "VALIDATION_FAILED"),
            (#"{"items":[{"productId":"\#(a)","quantity":1}],"couponId":"cpn_000000000000000000000000"}"#, 404, "NOT_FOUND"),
        ]
        for (body, status, code) in cases {
            let response = try post(body)
            XCTAssertEqual(response.status, status, body)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, code, body)
        }
        XCTAssertEqual(try stock(one, a), 5)
        XCTAssertEqual(try stock(two, b), 5)
        XCTAssertEqual(try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(a)","quantity":1}],"pay":false}"#).status, 401)
    }

    func testFiftyParallelRepeatsOfOneKeyPlaceOneOrder() throws {
        try start()
        let eventID = try event()
        let productID = try product(eventID, stock: 10)
        let user = try fixture.newUser()
        let request = orderText([(productID, 2)], token: user.accessToken, headers: ["Idempotency-Key": "order-once"])
        let responses = try fixture.burst(Array(repeating: request, count: 50), connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 50)
        XCTAssertEqual(Set(responses.map { $0?.bodyText ?? "" }).count, 1, "50 identical answers")
        XCTAssertEqual(try stock(eventID, productID), 8)
        let other = orderText([(productID, 3)], token: user.accessToken, headers: ["Idempotency-Key": "order-once"])
        XCTAssertEqual(try fixture.burst([other], connectionsPerInstance: 1)[0]?.status, 422)
        XCTAssertEqual(try stock(eventID, productID), 8)
    }

    func testUnpaidHoldsRunOutAndFiveSweepersReturnTheStockOnce() throws {
        try start(instances: 5, holdSeconds: 1)
        let eventID = try event()
        let productID = try product(eventID, stock: 30)
        let users = try fixture.seedUsers(10)
        let responses = try fixture.burst(users.map { orderText([(productID, 3)], token: $0.token) }, connectionsPerInstance: 2)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 10)
        XCTAssertEqual(try stock(eventID, productID), 0)
        XCTAssertTrue(waitUntil(10) { (try? self.stock(eventID, productID)) == 30 }, "the holds came back")
        usleep(1_500_000)  // more sweeper rounds on all five instances
        XCTAssertEqual(try stock(eventID, productID), 30, "returned once, not five times")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).holds]).int, 0)
        let orderID = try fixture.json(responses[0]!)["orderId"]!.stringValue!
        let shown = try fixture.json(try fixture.request("GET", "/orders/\(orderID)", token: users[0].token))
        XCTAssertEqual(shown["status"]?.stringValue, "EXPIRED")
        XCTAssertNil(shown["expiresAt"])
        // Someone else's order is not theirs to see.
        XCTAssertEqual(try fixture.request("GET", "/orders/\(orderID)", token: users[1].token).status, 403)
        XCTAssertEqual(try fixture.request("GET", "/orders/ord_nope", token: users[1].token).status, 404)
    }

    func testOrdersOfAQueuedEventNeedAnActiveTokenOfThatEvent() throws {
        try start()
        let eventID = try event(queue: #""enabled":true,"maxActive":1,"activeTtlSeconds":600"#)
        let productID = try product(eventID, stock: 10)
        let (first, second) = (try fixture.newUser(), try fixture.newUser())
        func order(_ user: GatewayFixture.User, _ token: String?) throws -> RawResponse {
            try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":1}],"pay":false}"#,
                                token: user.accessToken, headers: token.map { ["X-Queue-Token": $0] } ?? [:])
        }
        let missing = try order(first, nil)
        XCTAssertEqual(missing.status, 403)
        XCTAssertEqual(try fixture.json(missing)["error"]?["code"]?.stringValue, "QUEUE_TOKEN_REQUIRED")

        let firstToken = try fixture.json(try fixture.request("POST", "/events/\(eventID)/queue", token: first.accessToken))["queueToken"]!.stringValue!
        XCTAssertTrue(waitUntil(5) {
            (try? self.fixture.json(self.fixture.request("GET", "/events/\(eventID)/queue", token: first.accessToken,
                                                         headers: ["X-Queue-Token": firstToken]))["status"]?.stringValue) == "ACTIVE"
        })
        let secondToken = try fixture.json(try fixture.request("POST", "/events/\(eventID)/queue", token: second.accessToken))["queueToken"]!.stringValue!
        let waiting = try order(second, secondToken)
        XCTAssertEqual(waiting.status, 403)
        XCTAssertEqual(try fixture.json(waiting)["error"]?["code"]?.stringValue, "QUEUE_NOT_ACTIVE")
        XCTAssertEqual(try fixture.json(waiting)["error"]?["details"]?["status"]?.stringValue, "WAITING")
        XCTAssertEqual(try fixture.json(waiting)["error"]?["details"]?["position"]?.intValue, 1)
        let stolen = try order(second, firstToken)
        XCTAssertEqual(try fixture.json(stolen)["error"]?["details"]?["status"]?.stringValue, "INVALID")
        XCTAssertEqual(try stock(eventID, productID), 10, "no refusal took anything")

        XCTAssertEqual(try order(first, firstToken).status, 201)
        XCTAssertEqual(try stock(eventID, productID), 9)

        // Paying expires the payer's token; a repeat of the paid request (same key) still gets its answer.
        XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":5000}"#, token: first.accessToken).status, 200)
        let paidBody = #"{"items":[{"productId":"\#(productID)","quantity":1}]}"#
        let headers = ["X-Queue-Token": firstToken, "Idempotency-Key": "queued-paid"]
        let paid = try fixture.request("POST", "/orders", body: paidBody, token: first.accessToken, headers: headers)
        XCTAssertEqual(paid.status, 201, paid.bodyText)
        XCTAssertEqual(try fixture.json(paid)["status"]?.stringValue, "PAID")
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/events/\(eventID)/queue", token: first.accessToken,
                                                            headers: ["X-Queue-Token": firstToken]))["status"]?.stringValue, "EXPIRED")
        let repeated = try fixture.request("POST", "/orders", body: paidBody, token: first.accessToken, headers: headers)
        XCTAssertEqual(repeated.status, 201)
        XCTAssertEqual(repeated.bodyText, paid.bodyText)
        XCTAssertEqual(try order(first, firstToken).status, 403, "a new order needs a new place in line")
        XCTAssertEqual(try stock(eventID, productID), 8)
    }
}
