// Coupons applied to payments (API.md "Coupons"): PERCENT rounds down, a discount never exceeds the
// amount, a coupon is used exactly once under parallel orders through two instances, every refusal
// changes nothing, repeats follow the first request, and the reconciler finishes (or undoes) a coupon
// payment a crash cut — checked in Redis and, after the worker's drain, in PostgreSQL.
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

final class CouponUseTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "coupon-use-admin-key"

    override func tearDown() {
        fixture?.shutdown()
    }

    private func start(instances: Int = 2, holdSeconds: Int = 300, stopAfterDebit: Bool = false) throws {
        fixture = try GatewayFixture(instances: instances) {
            $0.adminKey = "coupon-use-admin-key"
            $0.holdTTLSeconds = holdSeconds
            $0.testStopPaymentAfterDebit = stopAfterDebit
        }
    }

    private func product(stock: Int, price: Int) throws -> (event: String, product: String) {
        let eventID = try fixture.json(try fixture.request("POST", "/admin/events", body: #"{"name":"Coupon sale","kind":"sale"}"#,
                                                           headers: ["X-Admin-Key": key]))["eventId"]!.stringValue!
        let response = try fixture.request("POST", "/admin/products", body: #"{"name":"P","price":\#(price),"stock":\#(stock),"eventId":"\#(eventID)"}"#,
                                           headers: ["X-Admin-Key": key])
        return (eventID, try fixture.json(response)["productId"]!.stringValue!)
    }

    private func coupon(_ body: String) throws -> String {
        let response = try fixture.request("POST", "/admin/coupons", body: body, headers: ["X-Admin-Key": key])
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try fixture.json(response)["couponId"]!.stringValue!
    }

    /// Users with `balance` in their wallets, each issued every coupon in `coupons`.
    private func buyers(_ count: Int, balance: Int, coupons: [String] = []) throws -> [(id: String, token: String)] {
        let users = try fixture.seedUsers(count, balance: balance)
        for couponID in coupons {
            let issues = users.map { RawHTTPClient.requestText("POST", "/coupons/\(couponID)/issue", headers: ["Authorization": "Bearer \($0.token)"]) }
            XCTAssertEqual(try fixture.burst(issues).filter { $0?.status == 201 }.count, count)
        }
        return users
    }

    private func balance(_ userID: String) throws -> Int64 {
        try fixture.redis.command(["GET", UserKeys(userID: userID).wallet]).int ?? 0
    }

    private func stock(_ eventID: String, _ productID: String) throws -> Int64? {
        try fixture.redis.command(["HGET", EventKeys(eventID: eventID).product(productID), "stock"]).int
    }

    private func holding(_ couponID: String, _ userID: String) throws -> CouponHolding {
        CouponHolding(state: try fixture.redis.command(["HGET", CouponKeys(couponID: couponID).holders, userID]).string)
    }

    private func order(_ productID: String, quantity: Int = 1, couponID: String?, pay: Bool = true, token: String,
                       key idempotencyKey: String? = nil) -> String {
        var headers = ["Authorization": "Bearer \(token)"]
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        let coupon = couponID.map { #","couponId":"\#($0)""# } ?? ""
        return RawHTTPClient.requestText("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":\#(quantity)}],"pay":\#(pay)\#(coupon)}"#,
                                         headers: headers)
    }

    private func payment(_ orderID: String, couponID: String?, token: String, key idempotencyKey: String? = nil) -> String {
        var headers = ["Authorization": "Bearer \(token)"]
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        let coupon = couponID.map { #","couponId":"\#($0)""# } ?? ""
        return RawHTTPClient.requestText("POST", "/payments", body: #"{"orderId":"\#(orderID)"\#(coupon)}"#, headers: headers)
    }

    private func one(_ request: String) throws -> RawResponse {
        try XCTUnwrap(try fixture.burst([request], connectionsPerInstance: 1)[0])
    }

    private func errorCode(_ response: RawResponse) -> String? { (try? fixture.json(response))?["error"]?["code"]?.stringValue }
    private func reason(_ response: RawResponse) -> String? { (try? fixture.json(response))?["error"]?["details"]?["reason"]?.stringValue }

    func testPercentRoundsDownAndAnAmountNeverExceedsWhatIsPaid() throws {
        try start()
        let (eventID, productID) = try product(stock: 10, price: 1_001)
        let percent = try coupon(#"{"name":"33 off","discountType":"PERCENT","discountValue":33,"quantity":10}"#)
        let amount = try coupon(#"{"name":"5000 off","discountType":"AMOUNT","discountValue":5000,"quantity":10}"#)
        let user = try buyers(1, balance: 10_000, coupons: [percent, amount])[0]

        // 33% of 1,001 is 330.33: 330 off, 671 paid.
        let first = try one(order(productID, couponID: percent, token: user.token))
        XCTAssertEqual(first.status, 201, first.bodyText)
        let firstBody = try fixture.json(first)
        XCTAssertEqual(firstBody["totalAmount"]?.intValue, 1_001)
        XCTAssertEqual(firstBody["discountAmount"]?.intValue, 330)
        XCTAssertEqual(firstBody["paidAmount"]?.intValue, 671)
        XCTAssertEqual(firstBody["couponId"]?.stringValue, percent)
        XCTAssertEqual(try balance(user.id), 10_000 - 671)

        // 5,000 off an order of 3,003: the discount stops at 3,003 and nothing is paid.
        let second = try one(order(productID, quantity: 3, couponID: amount, token: user.token))
        XCTAssertEqual(second.status, 201, second.bodyText)
        XCTAssertEqual(try fixture.json(second)["discountAmount"]?.intValue, 3_003)
        XCTAssertEqual(try fixture.json(second)["paidAmount"]?.intValue, 0)
        XCTAssertEqual(try balance(user.id), 10_000 - 671)
        XCTAssertEqual(try stock(eventID, productID), 6)

        // The order shows its discount; the user's coupons show USED with the time.
        let shown = try fixture.json(try fixture.request("GET", "/orders/\(firstBody["orderId"]!.stringValue!)", token: user.token, instance: 1))
        XCTAssertEqual(shown["discountAmount"]?.intValue, 330)
        XCTAssertEqual(shown["paidAmount"]?.intValue, 671)
        let mine = try fixture.json(try fixture.request("GET", "/users/me/coupons", token: user.token))["items"]!.arrayValue!
        XCTAssertEqual(mine.count, 2)
        XCTAssertTrue(mine.allSatisfy { $0["status"]?.stringValue == "USED" && $0["usedAt"]?.stringValue.flatMap(Timestamp.parseRFC3339) != nil })

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let rows = try db.query("""
            SELECT discount_amount, paid_amount, coupon_id FROM orders WHERE user_id = $1 AND status = 'PAID' ORDER BY paid_amount DESC
            """, [user.id])
        XCTAssertEqual(try rows.map { try $0.int64("discount_amount") }, [330, 3_003])
        XCTAssertEqual(try rows.map { try $0.int64("paid_amount") }, [671, 0])
        XCTAssertEqual(try rows.map { try $0.string("coupon_id") }, [percent, amount])
        let uses = try db.query("SELECT coupon_id, status, payment_id, discount_amount FROM coupon_issues WHERE user_id = $1 ORDER BY discount_amount", [user.id])
        XCTAssertEqual(try uses.map { try $0.string("status") }, ["USED", "USED"])
        XCTAssertEqual(try uses.map { try $0.int64("discount_amount") }, [330, 3_003])
        XCTAssertTrue(try uses.allSatisfy { try $0.string("payment_id").hasPrefix("pay_ord_") })
        XCTAssertEqual(try db.query("SELECT coalesce(sum(amount), 0) AS n FROM wallet_transactions WHERE user_id = $1 AND type = 'PAYMENT'",
                                    [user.id]).first?.int64("n"), 671)
        // Once Redis has forgotten the order, PostgreSQL's copy shows the same discount.
        let firstID = firstBody["orderId"]!.stringValue!
        _ = try fixture.redis.command(["DEL", EventKeys(eventID: eventID).order(firstID)])
        let stored = try fixture.json(try fixture.request("GET", "/orders/\(firstID)", token: user.token))
        XCTAssertEqual(stored["discountAmount"]?.intValue, 330)
        XCTAssertEqual(stored["paidAmount"]?.intValue, 671)
        XCTAssertEqual(stored["couponId"]?.stringValue, percent)
    }

    func testTwentyParallelOrdersWithOneCouponUseItOnce() throws {
        try start()
        let (eventID, productID) = try product(stock: 50, price: 1_000)
        let couponID = try coupon(#"{"name":"Once only","discountType":"AMOUNT","discountValue":300,"quantity":5}"#)
        let user = try buyers(1, balance: 100_000, coupons: [couponID])[0]
        let responses = try fixture.burst((0..<20).map { _ in order(productID, couponID: couponID, token: user.token) }, connectionsPerInstance: 10)
        let paid = responses.filter { $0?.status == 201 }
        XCTAssertEqual(paid.count, 1, "\(responses.map { $0?.bodyText ?? "-" })")
        XCTAssertEqual(try fixture.json(paid[0]!)["discountAmount"]?.intValue, 300)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 19)
        XCTAssertTrue(responses.filter { $0?.status == 409 }.allSatisfy { errorCode($0!) == "COUPON_NOT_USABLE" })
        // One discount, one payment; every refused order was cancelled, its stock back.
        XCTAssertEqual(try balance(user.id), 100_000 - 700)
        XCTAssertEqual(try stock(eventID, productID), 49)
        guard case .used(_, let paymentID) = try holding(couponID, user.id) else { return XCTFail("the coupon is USED") }
        XCTAssertEqual(paymentID, try fixture.json(paid[0]!)["orderId"].map { PaymentID.of(ref: $0.stringValue!) })

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM orders WHERE event_id = $1 AND status = 'PAID' AND discount_amount = 300",
                                    [eventID]).first?.int("n"), 1)
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM orders WHERE event_id = $1 AND status = 'PAID'", [eventID]).first?.int("n"), 1)
        XCTAssertEqual(try db.query("SELECT status FROM coupon_issues WHERE coupon_id = $1", [couponID]).map { try $0.string("status") }, ["USED"])
        // Money: whatever was debited and refunded along the way, 700 left the wallet in all.
        let moved = try db.query("""
            SELECT coalesce(sum(CASE type WHEN 'PAYMENT' THEN amount WHEN 'REFUND' THEN -amount ELSE 0 END), 0) AS n
            FROM wallet_transactions WHERE user_id = $1
            """, [user.id]).first?.int64("n")
        XCTAssertEqual(moved, 700)
    }

    func testEveryRefusalIsClearAndChangesNothing() throws {
        try start(instances: 1)
        let (eventID, productID) = try product(stock: 10, price: 1_000)
        let minimum = try coupon(#"{"name":"Big orders","discountType":"AMOUNT","discountValue":500,"quantity":5,"minOrderAmount":2000}"#)
        let soonOver = Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) + 1_500)
        let shortLived = try coupon(#"{"name":"Brief","discountType":"PERCENT","discountValue":10,"quantity":5,"validUntil":"\#(soonOver)"}"#)
        let notMine = try coupon(#"{"name":"Someone else's","discountType":"AMOUNT","discountValue":100,"quantity":5}"#)
        let user = try buyers(1, balance: 10_000, coupons: [minimum, shortLived])[0]

        func refused(_ request: String, _ status: Int, _ code: String, _ why: String?, file: StaticString = #filePath, line: UInt = #line) throws {
            let response = try one(request)
            XCTAssertEqual(response.status, status, response.bodyText, file: file, line: line)
            XCTAssertEqual(errorCode(response), code, file: file, line: line)
            if let why { XCTAssertEqual(reason(response), why, file: file, line: line) }
            XCTAssertEqual(try balance(user.id), 10_000, "no money moved", file: file, line: line)
            XCTAssertEqual(try stock(eventID, productID), 10, "no stock taken", file: file, line: line)
        }
        try refused(order(productID, couponID: minimum, token: user.token), 409, "COUPON_NOT_USABLE", "BELOW_MINIMUM")
        try refused(order(productID, couponID: notMine, token: user.token), 409, "COUPON_NOT_USABLE", "NOT_ISSUED")
        try refused(order(productID, couponID: "cpn_000000000000000000000000", token: user.token), 404, "NOT_FOUND", nil)
        try refused(order(productID, couponID: "nope", token: user.token), 404, "NOT_FOUND", nil)
        try refused(order(productID, couponID: minimum, pay: false, token: user.token), 400, "VALIDATION_FAILED", nil)
        try refused(RawHTTPClient.requestText("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":1}],"couponId":7}"#,
                                              headers: ["Authorization": "Bearer \(user.token)"]), 400, "VALIDATION_FAILED", nil)
        XCTAssertTrue(try holding(minimum, user.id).isIssued, "still the user's, unused")

        // At the minimum it applies.
        let big = try one(order(productID, quantity: 2, couponID: minimum, token: user.token))
        XCTAssertEqual(big.status, 201, big.bodyText)
        XCTAssertEqual(try fixture.json(big)["paidAmount"]?.intValue, 1_500)
        XCTAssertEqual(try balance(user.id), 8_500)
        // Used: refused from now on, with nothing taken.
        let again = try one(order(productID, quantity: 2, couponID: minimum, token: user.token))
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(reason(again), "USED")
        XCTAssertEqual(try stock(eventID, productID), 8)

        // Past its window: 410 COUPON_EXPIRED, at POST /payments too; the order stays payable without it.
        usleep(1_600_000)
        let pending = try fixture.json(try one(order(productID, couponID: nil, pay: false, token: user.token)))["orderId"]!.stringValue!
        let late = try one(payment(pending, couponID: shortLived, token: user.token))
        XCTAssertEqual(late.status, 410, late.bodyText)
        XCTAssertEqual(errorCode(late), "COUPON_EXPIRED")
        XCTAssertEqual(try balance(user.id), 8_500)
        let plain = try one(payment(pending, couponID: nil, token: user.token))
        XCTAssertEqual(plain.status, 201, plain.bodyText)
        XCTAssertEqual(try balance(user.id), 7_500)
    }

    func testRepeatsOfACouponPaymentDebitOnceAndFollowTheFirstRequest() throws {
        try start()
        let (_, productID) = try product(stock: 10, price: 2_000)
        let couponID = try coupon(#"{"name":"Half","discountType":"PERCENT","discountValue":50,"quantity":5}"#)
        let user = try buyers(1, balance: 10_000, coupons: [couponID])[0]
        let orderID = try fixture.json(try one(order(productID, couponID: nil, pay: false, token: user.token)))["orderId"]!.stringValue!
        let responses = try fixture.burst(Array(repeating: payment(orderID, couponID: couponID, token: user.token, key: "half-once"), count: 30),
                                          connectionsPerInstance: 15)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 30, "\(Set(responses.map { $0?.bodyText ?? "-" }))")
        XCTAssertEqual(Set(responses.map { $0?.bodyText ?? "" }).count, 1, "30 identical answers")
        XCTAssertEqual(try fixture.json(responses[0]!)["discountAmount"]?.intValue, 1_000)
        XCTAssertEqual(try fixture.json(responses[0]!)["paidAmount"]?.intValue, 1_000)
        XCTAssertEqual(try balance(user.id), 9_000, "one debit, one discount")
        // Without the key, the paid order is ALREADY_PAID whatever coupon is named; the coupon stays USED once.
        let repeatWithout = try one(payment(orderID, couponID: couponID, token: user.token))
        XCTAssertEqual(repeatWithout.status, 409)
        XCTAssertEqual(errorCode(repeatWithout), "ALREADY_PAID")
        // The same key with another coupon choice is another request: 422.
        XCTAssertEqual(try one(payment(orderID, couponID: nil, token: user.token, key: "half-once")).status, 422)
        XCTAssertEqual(try balance(user.id), 9_000)
    }

    func testTheReconcilerFinishesOrUndoesCouponPaymentsACrashCut() throws {
        try start(instances: 1, holdSeconds: 3, stopAfterDebit: true)
        let (eventID, productID) = try product(stock: 10, price: 1_000)
        let couponID = try coupon(#"{"name":"Crash","discountType":"AMOUNT","discountValue":400,"quantity":5}"#)
        let users = try buyers(2, balance: 5_000, coupons: [couponID])
        let orderIDs = try users.map { try fixture.json(try one(order(productID, couponID: nil, pay: false, token: $0.token)))["orderId"]!.stringValue! }
        for (user, orderID) in zip(users, orderIDs) {
            XCTAssertEqual(try one(payment(orderID, couponID: couponID, token: user.token)).status, 500, "the hook stops the flow after the debit")
            XCTAssertEqual(try balance(user.id), 4_400, "debited less the discount")
            XCTAssertEqual(try holding(couponID, user.id).isIssued, true, "not reserved yet")
        }
        let reconciler = PaymentReconciler(redis: try TestServices.redis(), graceSeconds: 1)
        usleep(1_100_000)
        let open = { (i: Int) in PaymentKeys(tag: UserKeys(userID: users[i].id).tag).open }
        _ = try fixture.redis.command(["ZADD", open(1), "XX", "9999999999999", PaymentID.of(ref: orderIDs[1])])  // not in this pass
        XCTAssertGreaterThanOrEqual(try reconciler.reconcileOnce(), 1)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).order(orderIDs[0]), "status"]).string, "PAID")
        guard case .used = try holding(couponID, users[0].id) else { return XCTFail("the first coupon is USED") }
        XCTAssertEqual(try balance(users[0].id), 4_400)

        usleep(2_500_000)  // the second hold runs out: its payment is refunded and its coupon given back
        _ = try fixture.redis.command(["ZADD", open(1), "XX", "1", PaymentID.of(ref: orderIDs[1])])
        XCTAssertGreaterThanOrEqual(try reconciler.reconcileOnce(), 1)
        XCTAssertEqual(try balance(users[1].id), 5_000, "refunded")
        XCTAssertEqual(try holding(couponID, users[1].id).isIssued, true, "the coupon is the user's to use again")
        XCTAssertEqual(try reconciler.reconcileOnce(), 0, "nothing left open")
    }
}

private extension CouponHolding {
    var isIssued: Bool {
        if case .issued = self { return true }
        return false
    }
}
