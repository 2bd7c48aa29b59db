// Paying for a held seat (API.md "Payments" with reservationId) through two instances: the seat SOLD to
// the payer and the wallet debited once, however many payments race; 403 for someone else's hold; the
// queue token required before and EXPIRED after; a payment just before the deadline succeeds and one just
// after is 410 with nothing taken; payments racing expiry end in exactly one outcome; a coupon applies;
// the reconciler finishes a seat payment a crash cut — checked in Redis and, after the drain, PostgreSQL.
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

final class SeatPaymentTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    private func start(instances: Int = 2, holdSeconds: Int = 300, stopAfterDebit: Bool = false) throws {
        fixture = try GatewayFixture(instances: instances) {
            $0.adminKey = concertAdminKey
            $0.holdTTLSeconds = holdSeconds
            $0.admissionIntervalMilliseconds = 50
            $0.testStopPaymentAfterDebit = stopAfterDebit
        }
    }

    private func balance(_ userID: String) throws -> Int64 {
        try fixture.redis.command(["GET", UserKeys(userID: userID).wallet]).int ?? 0
    }

    private func payText(_ reservationID: String, token: String, queueToken: String? = nil, couponID: String? = nil, key: String? = nil) -> String {
        var headers = ["Authorization": "Bearer \(token)"]
        if let queueToken { headers["X-Queue-Token"] = queueToken }
        if let key { headers["Idempotency-Key"] = key }
        let coupon = couponID.map { #","couponId":"\#($0)""# } ?? ""
        return RawHTTPClient.requestText("POST", "/payments", body: #"{"reservationId":"\#(reservationID)"\#(coupon)}"#, headers: headers)
    }

    private func one(_ text: String) throws -> RawResponse { try XCTUnwrap(try fixture.burst([text], connectionsPerInstance: 1)[0]) }

    private func holdSeat(_ performanceID: String, _ seat: Int, _ token: String, queueToken: String? = nil) throws -> String {
        let held = try fixture.hold(performanceID, seat, token: token, queueToken: queueToken)
        XCTAssertEqual(held.status, 201, held.bodyText)
        return try fixture.json(held)["reservationId"]!.stringValue!
    }

    private func status(_ eventID: String, _ reservationID: String) throws -> String? {
        try fixture.redis.command(["HGET", EventKeys(eventID: eventID).reservation(reservationID), "status"]).string
    }

    func testFiveParallelPaymentsForOneHoldDebitOnceAndSellTheSeatToThePayer() throws {
        try start()
        let (concertID, performances) = try fixture.concert(price: 40_000)
        let users = try fixture.seedUsers(2, balance: 100_000)
        let reservationID = try holdSeat(performances[0], 7, users[0].token)
        // Someone else's hold: 403, nothing changes.
        let stranger = try one(payText(reservationID, token: users[1].token))
        XCTAssertEqual(stranger.status, 403)
        XCTAssertEqual(try balance(users[1].id), 100_000)

        let responses = try fixture.burst(Array(repeating: payText(reservationID, token: users[0].token), count: 5), connectionsPerInstance: 3)
        // Without an Idempotency-Key, a request that reads the reservation after it was paid is 409
        // ALREADY_PAID; those that started before drive the same payment id to the same PAID answer.
        let succeeded = responses.compactMap { $0 }.filter { $0.status == 201 }
        XCTAssertGreaterThanOrEqual(succeeded.count, 1)
        XCTAssertEqual(Set(succeeded.map(\.bodyText)).count, 1, "one payment")
        XCTAssertTrue(responses.allSatisfy { $0?.status == 201 || fixture.errorCode($0) == "ALREADY_PAID" }, "\(responses.map { $0?.bodyText ?? "-" })")
        let paid = try fixture.json(succeeded[0])
        XCTAssertEqual(paid["reservationId"]?.stringValue, reservationID)
        XCTAssertEqual(paid["paymentId"]?.stringValue, PaymentID.of(ref: reservationID))
        XCTAssertEqual(paid["amount"]?.intValue, 40_000)
        XCTAssertEqual(paid["paidAmount"]?.intValue, 40_000)
        XCTAssertEqual(try balance(users[0].id), 60_000, "one debit")
        XCTAssertEqual(try status(concertID, reservationID), "CONFIRMED")
        XCTAssertEqual(try fixture.seatStatuses(performances[0], token: users[0].token)[7], "SOLD")
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_CONFIRMED").count, 1)
        // Paid: a later payment without the key is 409; the seat cannot be held or released any more.
        XCTAssertEqual(fixture.errorCode(try one(payText(reservationID, token: users[0].token))), "ALREADY_PAID")
        XCTAssertEqual(fixture.errorCode(try fixture.hold(performances[0], 7, token: users[1].token)), "SEAT_UNAVAILABLE")
        let listed = try fixture.json(try fixture.request("GET", "/reservations", token: users[0].token, instance: 1))["items"]!.arrayValue!
        XCTAssertEqual(listed.first?["status"]?.stringValue, "CONFIRMED")
        XCTAssertNotNil(listed.first?["paidAt"]?.stringValue)

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT status, paid_amount FROM reservations WHERE reservation_id = $1", [reservationID])
                        .map { "\(try $0.string("status")) \(try $0.int64("paid_amount"))" }, ["CONFIRMED 40000"])
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM wallet_transactions WHERE user_id = $1 AND type = 'PAYMENT' AND ref = $2",
                                    [users[0].id, reservationID]).first?.int("n"), 1)
    }

    func testAQueuedConcertNeedsAnActiveTokenToPayAndPayingExpiresIt() throws {
        try start()
        let (concertID, performances) = try fixture.concert(queue: #""enabled":true,"maxActive":5,"activeTtlSeconds":600"#)
        let user = try fixture.seedUsers(1, balance: 100_000)[0]
        let queueToken = try fixture.json(try fixture.request("POST", "/events/\(concertID)/queue", token: user.token))["queueToken"]!.stringValue!
        XCTAssertTrue(waitUntil(5) {
            (try? self.fixture.json(self.fixture.request("GET", "/events/\(concertID)/queue", token: user.token,
                                                         headers: ["X-Queue-Token": queueToken]))["status"]?.stringValue) == "ACTIVE"
        })
        let reservationID = try holdSeat(performances[0], 3, user.token, queueToken: queueToken)
        let missing = try one(payText(reservationID, token: user.token))
        XCTAssertEqual(missing.status, 403)
        XCTAssertEqual(fixture.errorCode(missing), "QUEUE_TOKEN_REQUIRED")
        XCTAssertEqual(try balance(user.id), 100_000)
        let paid = try one(payText(reservationID, token: user.token, queueToken: queueToken, key: "seat-3"))
        XCTAssertEqual(paid.status, 201, paid.bodyText)
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/events/\(concertID)/queue", token: user.token,
                                                            headers: ["X-Queue-Token": queueToken]))["status"]?.stringValue, "EXPIRED")
        // A repeat with the key still gets its answer (the token has expired since), and debits nothing more.
        let repeated = try one(payText(reservationID, token: user.token, queueToken: queueToken, key: "seat-3"))
        XCTAssertEqual(repeated.status, 201)
        XCTAssertEqual(repeated.bodyText, paid.bodyText)
        XCTAssertEqual(try balance(user.id), 50_000)
    }

    func testPayingJustBeforeTheDeadlineSucceedsAndJustAfterIs410WithNothingTaken() throws {
        try start(instances: 1, holdSeconds: 2)
        let (concertID, performances) = try fixture.concert(price: 1_000)
        let users = try fixture.seedUsers(2, balance: 5_000)
        let early = try holdSeat(performances[0], 1, users[0].token)
        let late = try holdSeat(performances[0], 2, users[1].token)
        usleep(1_500_000)  // half a second before both deadlines
        XCTAssertEqual(try one(payText(early, token: users[0].token)).status, 201)
        usleep(800_000)  // both deadlines have passed
        let refused = try one(payText(late, token: users[1].token))
        XCTAssertEqual(refused.status, 410, refused.bodyText)
        XCTAssertEqual(fixture.errorCode(refused), "HOLD_EXPIRED")
        XCTAssertEqual(try balance(users[0].id), 4_000)
        XCTAssertEqual(try balance(users[1].id), 5_000, "not debited, or refunded")
        XCTAssertEqual(try status(concertID, early), "CONFIRMED")
        // The lapsed hold shows AVAILABLE at once (its reader releases it if no sweeper has yet).
        let seats = try fixture.seatStatuses(performances[0], token: users[0].token)
        XCTAssertEqual(seats[1], "SOLD")
        XCTAssertEqual(seats[2], "AVAILABLE")
        XCTAssertEqual(try status(concertID, late), "EXPIRED")
    }

    func testPaymentsRacingTheirHoldsDeadlineEndInExactlyOneOutcome() throws {
        try start(holdSeconds: 1)
        let (concertID, performances) = try fixture.concert(seats: 40, price: 1_000)
        let users = try fixture.seedUsers(40, balance: 1_000)
        let holds = try fixture.burst(users.enumerated().map { fixture.holdText(performances[0], $0.offset + 1, token: $0.element.token) },
                                      connectionsPerInstance: 20)
        let reservationIDs = try holds.map { try fixture.json($0!)["reservationId"]!.stringValue! }
        usleep(950_000)  // pay right around the deadline
        let payments = try fixture.burst(zip(users, reservationIDs).map { payText($0.1, token: $0.0.token) }, connectionsPerInstance: 20)
        XCTAssertTrue(payments.allSatisfy { $0?.status == 201 || $0?.status == 410 }, "\(payments.map { $0?.status ?? 0 })")
        XCTAssertTrue(waitUntil(10) {
            (try? self.fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int) == 0
        }, "every hold ended")
        let seats = try fixture.seatHash(concertID, performances[0])
        var sold = 0
        for (i, user) in users.enumerated() {
            let state = try status(concertID, reservationIDs[i])
            if state == "CONFIRMED" {
                sold += 1
                XCTAssertEqual(try balance(user.id), 0, "paid once")
                XCTAssertEqual(payments[i]?.status, 201)
                XCTAssertEqual(seats[String(i + 1)], "SOLD \(reservationIDs[i])")
            } else {
                XCTAssertEqual(state, "EXPIRED")
                XCTAssertEqual(try balance(user.id), 1_000, "expired: not debited, or refunded")
                XCTAssertNil(seats[String(i + 1)], "the seat is available again")
            }
        }
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_CONFIRMED").count, sold)
    }

    func testACouponAppliesToASeat() throws {
        try start()
        let (_, performances) = try fixture.concert(price: 80_000)
        let user = try fixture.seedUsers(1, balance: 100_000)[0]
        let created = try fixture.request("POST", "/admin/coupons", body: #"{"name":"Fan club","discountType":"PERCENT","discountValue":15,"quantity":3}"#,
                                          headers: ["X-Admin-Key": concertAdminKey])
        let couponID = try fixture.json(created)["couponId"]!.stringValue!
        XCTAssertEqual(try fixture.request("POST", "/coupons/\(couponID)/issue", token: user.token).status, 201)
        let reservationID = try holdSeat(performances[0], 10, user.token)
        let paid = try one(payText(reservationID, token: user.token, couponID: couponID))
        XCTAssertEqual(paid.status, 201, paid.bodyText)
        XCTAssertEqual(try fixture.json(paid)["discountAmount"]?.intValue, 12_000)
        XCTAssertEqual(try fixture.json(paid)["paidAmount"]?.intValue, 68_000)
        XCTAssertEqual(try balance(user.id), 32_000)
        let mine = try fixture.json(try fixture.request("GET", "/users/me/coupons", token: user.token))["items"]!.arrayValue!
        XCTAssertEqual(mine.first?["status"]?.stringValue, "USED")
    }

    func testTheReconcilerFinishesASeatPaymentACrashCut() throws {
        try start(instances: 1, holdSeconds: 30, stopAfterDebit: true)
        let (concertID, performances) = try fixture.concert(price: 2_000)
        let user = try fixture.seedUsers(1, balance: 5_000)[0]
        let reservationID = try holdSeat(performances[0], 4, user.token)
        XCTAssertEqual(try one(payText(reservationID, token: user.token)).status, 500, "the hook stops the flow after the debit")
        XCTAssertEqual(try balance(user.id), 3_000)
        XCTAssertEqual(try status(concertID, reservationID), "HELD")
        let reconciler = PaymentReconciler(redis: try TestServices.redis(), graceSeconds: 1)
        usleep(1_100_000)
        XCTAssertGreaterThanOrEqual(try reconciler.reconcileOnce(), 1)
        XCTAssertEqual(try status(concertID, reservationID), "CONFIRMED")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0])["4"], "SOLD \(reservationID)")
        XCTAssertEqual(try balance(user.id), 3_000, "debited once, not refunded")
        XCTAssertEqual(try reconciler.reconcileOnce(), 0, "nothing left open")
    }
}
