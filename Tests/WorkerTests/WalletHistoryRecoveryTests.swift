// What the worker's rows are for: GET /wallet/transactions reads them, and `floodgate recover` rebuilds
// wallet balances from them after Redis lost its data — refusing while the outbox still has a backlog.
import Foundation
@testable import Gateway
import JSON
import Inventory
import Persistence
import Queue
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class WalletHistoryRecoveryTests: XCTestCase {
    var fixture: GatewayFixture!
    var consumer: OutboxConsumer?

    override func setUpWithError() throws {
        _ = try WorkerTestSupport.migratedPostgres()
        fixture = try GatewayFixture(instances: 1)
    }

    override func tearDown() {
        consumer?.stop()
        fixture?.shutdown()
    }

    /// A consumer like the worker's: the user shards and every registered (event) stream.
    private func startConsumer() throws {
        let consumer = OutboxConsumer(settings: try WorkerTestSupport.consumerSettings { $0.streamRegistry = OutboxStreams.registry })
        consumer.start()
        self.consumer = consumer
    }

    private func history(_ user: GatewayFixture.User, _ query: String = "") throws -> (status: Int, json: JSONValue) {
        let response = try fixture.request("GET", "/wallet/transactions\(query)", token: user.accessToken)
        return (response.status, try fixture.json(response))
    }

    func testChargesAreListedNewestFirstInCursorPages() throws {
        let user = try fixture.newUser()
        let other = try fixture.newUser()
        var chargeIDs: [String] = []
        for amount in 1...7 {
            let charged = try fixture.request("POST", "/wallet/charge", body: #"{"amount":\#(amount)}"#, token: user.accessToken)
            chargeIDs.append(try fixture.json(charged)["chargeId"]!.stringValue!)
            usleep(3_000)  // distinct event times, so "newest first" has one right answer
        }
        XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":99}"#, token: other.accessToken).status, 200)
        try startConsumer()
        XCTAssertTrue(waitUntil(15) { ((try? self.history(user).json["items"]?.arrayValue?.count) ?? 0) == 7 },
                      "the worker wrote the charges")

        var seen: [JSONValue] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try history(user, "?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
            XCTAssertEqual(page.status, 200)
            seen += page.json["items"]?.arrayValue ?? []
            cursor = page.json["nextCursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 10
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(seen.compactMap { $0["amount"]?.intValue }, [7, 6, 5, 4, 3, 2, 1])
        XCTAssertEqual(seen.compactMap { $0["id"]?.stringValue }, chargeIDs.reversed())
        XCTAssertEqual(seen.compactMap { $0["balanceAfter"]?.intValue }, [28, 21, 15, 10, 6, 3, 1])
        XCTAssertTrue(seen.allSatisfy { $0["type"]?.stringValue == "CHARGE" && $0["createdAt"]?.stringValue?.hasSuffix("Z") == true })
        XCTAssertEqual(seen.first?["ref"]?.stringValue, chargeIDs.last)

        for bad in ["?limit=0", "?limit=101", "?limit=x", "?cursor=not-ours", "?cursor=" + SecureRandom.base64URL(Array("x|y".utf8))] {
            let response = try history(user, bad)
            XCTAssertEqual(response.status, 400, bad)
            XCTAssertEqual(response.json["error"]?["code"]?.stringValue, "VALIDATION_FAILED", bad)
        }
        XCTAssertEqual(try fixture.request("GET", "/wallet/transactions").status, 401)
    }

    func testRecoverRefusesWithABacklogThenRestoresEveryBalanceAfterFlushAll() throws {
        let users = try (0..<4).map { _ in try fixture.newUser() }
        var requests: [String] = []
        for (i, user) in users.enumerated() {
            for _ in 0..<(50 * (i + 1)) {
                requests.append(RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":\#(i + 3)}"#,
                                                          headers: ["Authorization": "Bearer \(user.accessToken)"]))
            }
        }
        XCTAssertEqual(try fixture.burst(requests, connectionsPerInstance: 20).filter { $0?.status == 200 }.count, requests.count)
        let configuration = fixture.gateways[0].services.configuration

        // No worker yet: the events are only in Redis, so PostgreSQL is not the whole record.
        XCTAssertFalse(try Recovery.backlog(fixture.redis).isEmpty)
        XCTAssertThrowsError(try Recovery.run(configuration: configuration)) { error in
            XCTAssertTrue(error is Recovery.Refused, "\(error)")
        }

        // An event (PostgreSQL only, as after a Redis loss): recovery writes its queue settings back.
        let event = StoredEvent(id: EventID.make(), name: "Recovered sale", kind: "sale", startsAtMs: nil, queue: QueueSettings(),
                                queueSecret: "s3cret", queueVersion: 4, createdAtMs: 0)
        let db = try WorkerTestSupport.migratedPostgres()
        _ = try EventStore.insert(event, db)
        // A product of that event whose stock moved twice: 10 + 7 − 4 = 13 once recovered.
        let product = StoredProduct(id: ProductID.make(), eventID: event.id, name: "Recovered", price: 700, initialStock: 10, priceVersion: 1)
        try ProductStore.insert(product, db)
        db.close()
        let catalog = CatalogScript(eventID: event.id, productID: product.id)
        _ = try catalog.run(catalog.put(stock: 10, price: 700, version: 1), on: fixture.redis)
        _ = try catalog.run(catalog.restock(delta: 7, changeID: "stk_" + SecureRandom.hex(bytes: 12)), on: fixture.redis)
        _ = try catalog.run(catalog.restock(delta: -4, changeID: "stk_" + SecureRandom.hex(bytes: 12)), on: fixture.redis)
        _ = try fixture.redis.command(["SADD", EventKeys.outboxRegistry, EventKeys(eventID: event.id).outbox])
        // Orders of a second product (20 units at 10): one paid (2 units), one unpaid and still held (3).
        let sold = StoredProduct(id: ProductID.make(), eventID: event.id, name: "Sold", price: 10, initialStock: 20, priceVersion: 1)
        let soldDB = try WorkerTestSupport.migratedPostgres()
        try ProductStore.insert(sold, soldDB)
        soldDB.close()
        let soldCatalog = CatalogScript(eventID: event.id, productID: sold.id)
        _ = try soldCatalog.run(soldCatalog.put(stock: 20, price: 10, version: 1), on: fixture.redis)
        let paid = try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(sold.id)","quantity":2}]}"#, token: users[3].accessToken)
        XCTAssertEqual(paid.status, 201, paid.bodyText)
        let pending = try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(sold.id)","quantity":3}],"pay":false}"#,
                                          token: users[3].accessToken)
        XCTAssertEqual(pending.status, 201, pending.bodyText)
        let pendingID = try fixture.json(pending)["orderId"]!.stringValue!
        // A coupon of 5, one issued.
        let coupon = StoredCoupon(id: CouponID.make(), draft: CouponDraft(name: "Kept", discountType: "AMOUNT", discountValue: 100, quantity: 5,
                                                                          validFromMs: nil, validUntilMs: nil, minOrderAmount: 0))
        let couponDB = try WorkerTestSupport.migratedPostgres()
        try CouponStore.insert(coupon, couponDB)
        couponDB.close()
        let couponScripts = CouponScripts(couponID: coupon.id)
        _ = try fixture.redis.pipeline(couponScripts.create(coupon.draft) + [["SADD", EventKeys.outboxRegistry, couponScripts.keys.outbox]])
        XCTAssertEqual(try fixture.request("POST", "/coupons/\(coupon.id)/issue", token: users[0].accessToken).status, 201)
        // The last user gets one too and uses it on a third order (1 unit at 10: all of it off).
        XCTAssertEqual(try fixture.request("POST", "/coupons/\(coupon.id)/issue", token: users[3].accessToken).status, 201)
        let discounted = try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(sold.id)","quantity":1}],"couponId":"\#(coupon.id)"}"#,
                                             token: users[3].accessToken)
        XCTAssertEqual(discounted.status, 201, discounted.bodyText)
        XCTAssertEqual(try fixture.json(discounted)["paidAmount"]?.intValue, 0)

        try startConsumer()
        XCTAssertTrue(waitUntil(60) {
            (try? Recovery.backlog(self.fixture.redis, streams: Recovery.outboxStreams(self.fixture.redis)).isEmpty) == true
        }, "the outbox drained")
        consumer?.stop()
        consumer = nil
        let expected = try users.map { try fixture.redis.command(["GET", UserKeys(userID: $0.id).wallet]).int }
        XCTAssertEqual(expected, [150, 400, 750, 1_180], "the last user paid 20 for an order")

        XCTAssertEqual(try fixture.redis.command(["FLUSHALL"]), .status("OK"))
        XCTAssertEqual(try fixture.redis.command(["GET", UserKeys(userID: users[0].id).wallet]), .null)

        let report = try Recovery.run(configuration: configuration)
        XCTAssertGreaterThanOrEqual(report.wallets, 4)
        XCTAssertGreaterThanOrEqual(report.events, 1)
        let conf = EventKeys(eventID: event.id).queueConfiguration
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "version"]).string, "4")
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "secret"]).string, "s3cret")
        XCTAssertEqual(try fixture.redis.command(["SISMEMBER", EventKeys.registry, event.id]).int, 1)
        XCTAssertGreaterThanOrEqual(report.products, 1)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: event.id).product(product.id), "stock"]).int, 13)
        XCTAssertEqual(try users.map { try fixture.redis.command(["GET", UserKeys(userID: $0.id).wallet]).int }, expected)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: event.id).product(sold.id), "stock"]).int, 14, "20 − 3 sold − 3 held")
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: event.id).order(pendingID), "status"]).string, "PENDING_PAYMENT")
        XCTAssertNotNil(try fixture.redis.command(["ZSCORE", EventKeys(eventID: event.id).holds, pendingID]).string, "its hold is back")
        XCTAssertGreaterThanOrEqual(report.orders, 1)
        XCTAssertEqual(try fixture.redis.command(["HGET", couponScripts.keys.coupon, "remaining"]).int, 3)
        XCTAssertEqual(try fixture.redis.command(["HGET", couponScripts.keys.coupon, "discountType"]).string, "AMOUNT", "its terms are back")
        XCTAssertEqual(try fixture.redis.command(["HGET", couponScripts.keys.holders, users[0].id]).string?.hasPrefix("ISSUED "), true)
        let used = CouponHolding(state: try fixture.redis.command(["HGET", couponScripts.keys.holders, users[3].id]).string)
        guard case .used(_, let paymentID) = used else { return XCTFail("the used coupon is USED again, not \(used)") }
        XCTAssertEqual(paymentID, PaymentID.of(ref: try fixture.json(discounted)["orderId"]!.stringValue!))
        _ = try Recovery.run(configuration: configuration)  // idempotent
        XCTAssertEqual(try users.map { try fixture.redis.command(["GET", UserKeys(userID: $0.id).wallet]).int }, expected)
    }
}
