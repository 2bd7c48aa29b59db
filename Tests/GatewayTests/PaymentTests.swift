// Paying from the wallet: orders paid at once or later, exactly once under concurrency through two
// instances, refunds when a hold dies, and the reconciler finishing a payment a crash cut — checked in
// Redis and, after the worker's drain, in PostgreSQL.
import Foundation
@testable import Gateway
import Inventory
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class PaymentTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "payment-admin-key"

    override func tearDown() {
        fixture?.shutdown()
    }

    private func start(instances: Int = 2, holdSeconds: Int = 300, stopAfterDebit: Bool = false) throws {
        fixture = try GatewayFixture(instances: instances) {
            $0.adminKey = "payment-admin-key"
            $0.holdTTLSeconds = holdSeconds
            $0.testStopPaymentAfterDebit = stopAfterDebit
        }
    }

    private func product(stock: Int, price: Int) throws -> (event: String, product: String) {
        let eventID = try fixture.json(try fixture.request("POST", "/admin/events", body: #"{"name":"Pay sale","kind":"sale"}"#,
                                                           headers: ["X-Admin-Key": key]))["eventId"]!.stringValue!
        let response = try fixture.request("POST", "/admin/products", body: #"{"name":"P","price":\#(price),"stock":\#(stock),"eventId":"\#(eventID)"}"#,
                                           headers: ["X-Admin-Key": key])
        return (eventID, try fixture.json(response)["productId"]!.stringValue!)
    }

    private func balance(_ userID: String) throws -> Int64 {
        try fixture.redis.command(["GET", UserKeys(userID: userID).wallet]).int ?? 0
    }

    private func order(_ productID: String, quantity: Int = 1, pay: Bool, token: String, key idempotencyKey: String? = nil) -> String {
        var headers = ["Authorization": "Bearer \(token)"]
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        return RawHTTPClient.requestText("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":\#(quantity)}],"pay":\#(pay)}"#,
                                         headers: headers)
    }

    private func drain() throws -> PostgresConnection {
        try fixture.drainOutbox()
        return try PostgresConnection(url: TestServices.postgresURL())
    }

    func testEightyBuyersForFiftyUnitsMakeExactlyFiftyPaidOrders() throws {
        try start()
        let (eventID, productID) = try product(stock: 50, price: 3_000)
        let users = try fixture.seedUsers(80, balance: 10_000)
        let responses = try fixture.burst(users.map { order(productID, pay: true, token: $0.token) }, connectionsPerInstance: 40)
        let paid = responses.filter { $0?.status == 201 }
        XCTAssertEqual(paid.count, 50)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 30)
        XCTAssertTrue(try paid.allSatisfy { try fixture.json($0!)["status"]?.stringValue == "PAID" && fixture.json($0!)["paidAmount"]?.intValue == 3_000 })
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int, 0)
        // Settled orders and payments stay in Redis a week (PostgreSQL keeps them): memory does not grow forever.
        let someOrder = try fixture.json(paid[0]!)["orderId"]!.stringValue!
        XCTAssertGreaterThan(try fixture.redis.command(["TTL", EventKeys(eventID: eventID).order(someOrder)]).int ?? -1, 6 * 86_400)
        let buyer = try XCTUnwrap(users.first { (try? balance($0.id)) == 7_000 })
        let payments = try fixture.redis.command(["KEYS", PaymentKeys(tag: UserKeys(userID: buyer.id).tag).payment("*")]).array ?? []
        XCTAssertTrue(try payments.allSatisfy { try fixture.redis.command(["TTL", $0.string ?? ""]).int ?? -1 > 6 * 86_400 })
        let balances = try users.map { try balance($0.id) }
        XCTAssertEqual(balances.filter { $0 == 7_000 }.count, 50)
        XCTAssertEqual(balances.filter { $0 == 10_000 }.count, 30)

        let db = try drain()
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM orders WHERE event_id = $1 AND status = 'PAID'", [eventID]).first?.int("n"), 50)
        XCTAssertEqual(try db.query("SELECT coalesce(sum(quantity), 0) AS n FROM order_items WHERE product_id = $1", [productID]).first?.int("n"), 50)
        XCTAssertEqual(try db.query("""
            SELECT count(*) AS n FROM wallet_transactions WHERE type = 'PAYMENT' AND user_id = ANY($1::text[]) AND amount = 3000
            """, [users.map(\.id)]).first?.int("n"), 50)
    }

    func testAShortWalletIs402AndTakesNothing() throws {
        try start(instances: 1)
        let (eventID, productID) = try product(stock: 5, price: 1_000)
        let user = try fixture.seedUsers(1, balance: 500)[0]
        let response = try fixture.burst([order(productID, pay: true, token: user.token)], connectionsPerInstance: 1)[0]!
        XCTAssertEqual(response.status, 402)
        XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "INSUFFICIENT_BALANCE")
        XCTAssertEqual(try fixture.json(response)["error"]?["details"]?["balance"]?.intValue, 500)
        XCTAssertEqual(try fixture.json(response)["error"]?["details"]?["required"]?.intValue, 1_000)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int, 5)
        XCTAssertEqual(try balance(user.id), 500)
    }

    func testOneWalletPayingThreeOrdersItCanAffordOnceMakesOnePaid() throws {
        try start()
        let (eventID, productID) = try product(stock: 10, price: 30_000)
        let user = try fixture.seedUsers(1, balance: 50_000)[0]
        let placed = try fixture.burst((0..<3).map { _ in order(productID, pay: false, token: user.token) }, connectionsPerInstance: 3)
        let orderIDs = try placed.map { try fixture.json($0!)["orderId"]!.stringValue! }
        let payments = try fixture.burst(orderIDs.map {
            RawHTTPClient.requestText("POST", "/payments", body: #"{"orderId":"\#($0)"}"#, headers: ["Authorization": "Bearer \(user.token)"])
        }, connectionsPerInstance: 3)
        XCTAssertEqual(payments.filter { $0?.status == 201 }.count, 1)
        XCTAssertEqual(payments.filter { $0?.status == 402 }.count, 2)
        XCTAssertEqual(try balance(user.id), 20_000)
        // The unpaid holds stay until they expire (API.md: a 402 on POST /payments keeps the hold).
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int, 7)
        // Paying a paid order again: 409.
        let paidID = orderIDs[payments.firstIndex { $0?.status == 201 }!]
        let again = try fixture.request("POST", "/payments", body: #"{"orderId":"\#(paidID)"}"#, token: user.token)
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(try fixture.json(again)["error"]?["code"]?.stringValue, "ALREADY_PAID")
    }

    func testFiftyParallelRepeatsOfOnePaidOrderPlaceAndDebitOnce() throws {
        try start()
        let (eventID, productID) = try product(stock: 10, price: 2_500)
        let user = try fixture.seedUsers(1, balance: 100_000)[0]
        let request = order(productID, quantity: 2, pay: true, token: user.token, key: "paid-once")
        let responses = try fixture.burst(Array(repeating: request, count: 50), connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 50, "\(Set(responses.map { $0?.bodyText ?? "" }))")
        XCTAssertEqual(Set(responses.map { $0?.bodyText ?? "" }).count, 1, "50 identical answers")
        XCTAssertEqual(try balance(user.id), 95_000, "one debit")
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int, 8)
    }

    func testFiftyParallelRepeatsOfOnePaymentDebitOnceWithOneAnswer() throws {
        try start()
        let (_, productID) = try product(stock: 5, price: 4_000)
        let user = try fixture.seedUsers(1, balance: 10_000)[0]
        let orderID = try fixture.json(try fixture.burst([order(productID, pay: false, token: user.token)], connectionsPerInstance: 1)[0]!)["orderId"]!.stringValue!
        let pay = RawHTTPClient.requestText("POST", "/payments", body: #"{"orderId":"\#(orderID)"}"#,
                                            headers: ["Authorization": "Bearer \(user.token)", "Idempotency-Key": "pay-once"])
        let responses = try fixture.burst(Array(repeating: pay, count: 50), connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 50, "\(Set(responses.map { $0?.bodyText ?? "" }))")
        XCTAssertEqual(Set(responses.map { $0?.bodyText ?? "" }).count, 1, "50 identical answers")
        XCTAssertEqual(try balance(user.id), 6_000, "one debit")
        // The same key for another order: 422, nothing changes.
        let second = try fixture.json(try fixture.burst([order(productID, pay: false, token: user.token)], connectionsPerInstance: 1)[0]!)["orderId"]!.stringValue!
        let reused = try fixture.request("POST", "/payments", body: #"{"orderId":"\#(second)"}"#, token: user.token, headers: ["Idempotency-Key": "pay-once"])
        XCTAssertEqual(reused.status, 422)
        XCTAssertEqual(try balance(user.id), 6_000)
    }

    func testPaymentErrors() throws {
        try start(instances: 1, holdSeconds: 1)
        let (_, productID) = try product(stock: 10, price: 1_000)
        let users = try fixture.seedUsers(2, balance: 10_000)
        let orderID = try fixture.json(try fixture.burst([order(productID, pay: false, token: users[0].token)], connectionsPerInstance: 1)[0]!)["orderId"]!.stringValue!
        func pay(_ body: String, _ token: String) throws -> RawResponse { try fixture.request("POST", "/payments", body: body, token: token) }
        XCTAssertEqual(try pay(#"{"orderId":"\#(orderID)"}"#, users[1].token).status, 403, "someone else's order")
        XCTAssertEqual(try pay(#"{"orderId":"ord_0000000000000000000000000000000000000000"}"#, users[0].token).status, 404)
        XCTAssertEqual(try pay(#"{"orderId":"nope"}"#, users[0].token).status, 404)
        XCTAssertEqual(try pay(#"{"orderId":7}"#, users[0].token).status, 400)
        XCTAssertEqual(try pay(#"{"reservationId":"r"}"#, users[0].token).status, 404)
        XCTAssertEqual(try fixture.request("POST", "/payments", body: #"{"orderId":"\#(orderID)"}"#).status, 401)
        usleep(1_300_000)  // the hold runs out
        let late = try pay(#"{"orderId":"\#(orderID)"}"#, users[0].token)
        XCTAssertEqual(late.status, 410)
        XCTAssertEqual(try fixture.json(late)["error"]?["code"]?.stringValue, "HOLD_EXPIRED")
        XCTAssertEqual(try balance(users[0].id), 10_000, "nothing taken, or taken and given back")
    }

    func testPaymentsRacingTheirHoldsDeadlineEndPaidOrExpiredNeverBoth() throws {
        try start(holdSeconds: 1)
        let (eventID, productID) = try product(stock: 40, price: 1_000)
        let users = try fixture.seedUsers(40, balance: 1_000)
        let placed = try fixture.burst(users.map { order(productID, pay: false, token: $0.token) }, connectionsPerInstance: 20)
        let orderIDs = try placed.map { try fixture.json($0!)["orderId"]!.stringValue! }
        usleep(950_000)  // pay right around the deadline
        let payments = try fixture.burst(zip(users, orderIDs).map {
            RawHTTPClient.requestText("POST", "/payments", body: #"{"orderId":"\#($0.1)"}"#, headers: ["Authorization": "Bearer \($0.0.token)"])
        }, connectionsPerInstance: 20)
        XCTAssertTrue(payments.allSatisfy { $0?.status == 201 || $0?.status == 410 }, "\(payments.map { $0?.status ?? 0 })")
        XCTAssertTrue(waitUntil(10) {
            (try? self.fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).holds]).int) == 0
        }, "every hold ended")
        var paidCount = 0
        for (i, user) in users.enumerated() {
            let status = try fixture.redis.command(["HGET", EventKeys(eventID: eventID).order(orderIDs[i]), "status"]).string
            let money = try balance(user.id)
            if status == "PAID" {
                paidCount += 1
                XCTAssertEqual(money, 0, "paid once")
                XCTAssertEqual(payments[i]?.status, 201)
            } else {
                XCTAssertEqual(status, "EXPIRED")
                XCTAssertEqual(money, 1_000, "expired: not debited, or refunded")
            }
        }
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int, Int64(40 - paidCount))
    }

    func testTheReconcilerFinishesPaymentsACrashCutBetweenDebitAndConfirm() throws {
        try start(instances: 1, holdSeconds: 3, stopAfterDebit: true)
        let (eventID, productID) = try product(stock: 10, price: 1_000)
        let users = try fixture.seedUsers(2, balance: 5_000)
        let orderIDs = try users.map { try fixture.json(try fixture.burst([order(productID, pay: false, token: $0.token)], connectionsPerInstance: 1)[0]!)["orderId"]!.stringValue! }
        for (user, orderID) in zip(users, orderIDs) {
            let cut = try fixture.request("POST", "/payments", body: #"{"orderId":"\#(orderID)"}"#, token: user.token)
            XCTAssertEqual(cut.status, 500, "the hook stops the flow after the debit")
            XCTAssertEqual(try balance(user.id), 4_000, "debited")
        }
        let reconciler = PaymentReconciler(redis: try TestServices.redis(), graceSeconds: 1)
        // The first payment is finished while its hold lives: PAID. The second only after its hold died: refunded.
        usleep(1_100_000)
        _ = try fixture.redis.command(["ZADD", PaymentKeys(tag: UserKeys(userID: users[1].id).tag).open, "XX", "9999999999999",
                                       PaymentID.of(ref: orderIDs[1])])  // keep the second out of this pass
        XCTAssertGreaterThanOrEqual(try reconciler.reconcileOnce(), 1)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).order(orderIDs[0]), "status"]).string, "PAID")
        XCTAssertEqual(try balance(users[0].id), 4_000)

        usleep(2_500_000)  // the second hold runs out
        _ = try fixture.redis.command(["ZADD", PaymentKeys(tag: UserKeys(userID: users[1].id).tag).open, "XX", "1", PaymentID.of(ref: orderIDs[1])])
        XCTAssertGreaterThanOrEqual(try reconciler.reconcileOnce(), 1)
        XCTAssertNotEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).order(orderIDs[1]), "status"]).string, "PAID")
        XCTAssertEqual(try balance(users[1].id), 5_000, "refunded")
        XCTAssertEqual(try reconciler.reconcileOnce(), 0, "nothing left open")
        XCTAssertEqual(try balance(users[0].id), 4_000, "never both")
    }
}
