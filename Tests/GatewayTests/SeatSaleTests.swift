// The event's side of paying for a seat (lua/reservation_confirm.lua, driven here at script level until
// POST /payments takes reservations), `floodgate recover` rebuilding seats after FLUSHALL, and the demo
// concert of `floodgate seed`.
import Foundation
@testable import Gateway
@testable import Inventory
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
import XCTest

final class SeatSaleTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    private func record(_ eventID: String, _ reservationID: String) throws -> ReservationRecord {
        try XCTUnwrap(fixture.redis.command(["HGET", EventKeys(eventID: eventID).reservation(reservationID), "record"]).string
            .flatMap(ReservationRecord.init(json:)))
    }

    private func confirm(_ record: ReservationRecord, payment: String, userID: String? = nil, discount: Int64 = 0,
                         coupon: String? = nil) throws -> Result<Int64, ConfirmRefused> {
        let reply = try fixture.redis.run(ReservationConfirm.script, keys: ReservationConfirm.keys(record),
                                          arguments: ReservationConfirm.arguments(reservationID: record.reservationID, paymentID: payment,
                                                                                  userID: userID ?? record.userID, discountAmount: discount,
                                                                                  couponID: coupon))
        return try ReservationConfirm.decode(reply).get()
    }

    func testAConfirmedSeatIsSoldOnceForOnePayment() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(seats: 10, price: 80_000,
                                                            queue: #""enabled":true,"maxActive":5,"activeTtlSeconds":600"#)
        let (buyer, other) = (try fixture.newUser(), try fixture.newUser())
        let queueToken = try fixture.json(try fixture.request("POST", "/events/\(concertID)/queue", token: buyer.accessToken))["queueToken"]!.stringValue!
        XCTAssertTrue(waitUntil(5) {
            (try? self.fixture.json(self.fixture.request("GET", "/events/\(concertID)/queue", token: buyer.accessToken,
                                                         headers: ["X-Queue-Token": queueToken]))["status"]?.stringValue) == "ACTIVE"
        })
        let held = try fixture.hold(performances[0], 4, token: buyer.accessToken, queueToken: queueToken)
        XCTAssertEqual(held.status, 201, held.bodyText)
        let reservation = try record(concertID, try fixture.json(held)["reservationId"]!.stringValue!)

        XCTAssertEqual(try confirm(reservation, payment: "pay_x", userID: other.id), .failure(ConfirmRefused(status: "HELD")), "not the owner's")
        let paidAt = try XCTUnwrap(try? confirm(reservation, payment: "pay_1", discount: 5_000, coupon: "cpn_000000000000000000000001").get())
        XCTAssertEqual(try confirm(reservation, payment: "pay_1"), .success(paidAt), "the same payment again: the same answer")
        XCTAssertEqual(try confirm(reservation, payment: "pay_2"), .failure(ConfirmRefused(status: "CONFIRMED")))

        XCTAssertEqual(try fixture.seatHash(concertID, performances[0])["4"], "SOLD \(reservation.reservationID)")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 0)
        XCTAssertEqual(try fixture.json(try fixture.request("GET", "/events/\(concertID)/queue", token: buyer.accessToken,
                                                            headers: ["X-Queue-Token": queueToken]))["status"]?.stringValue, "EXPIRED",
                       "paying expires the payer's queue token")
        let confirmed = try record(concertID, reservation.reservationID)
        XCTAssertEqual(confirmed.paymentID, "pay_1")
        XCTAssertEqual(confirmed.paidAtMs, paidAt)
        XCTAssertEqual(confirmed.discountAmount, 5_000)
        XCTAssertEqual(confirmed.paidAmount, 75_000)
        let events = try fixture.eventOutbox(concertID, type: "RESERVATION_CONFIRMED")
        XCTAssertEqual(events.count, 1)
        let data = try JSONParser.parse(Array(events[0]["data"]!.utf8))
        XCTAssertEqual(data["paidAmount"]?.intValue, 75_000)
        XCTAssertEqual(data["seatNo"]?.intValue, 4)
        XCTAssertEqual(data["performanceId"]?.stringValue, performances[0])
        XCTAssertEqual(events[0]["id"], "cnf_\(reservation.reservationID)")

        // A sold seat cannot be released or held; it still counts toward its buyer's limit.
        XCTAssertEqual(fixture.errorCode(try fixture.request("DELETE", "/reservations/\(reservation.reservationID)", token: buyer.accessToken)),
                       "ALREADY_PAID")
        XCTAssertEqual(try fixture.redis.command(["ZCOUNT", EventKeys(eventID: concertID).seatsOfUser(performances[0], buyer.id), "0", "+inf"]).int, 1)
        let mine = try fixture.json(try fixture.request("GET", "/reservations", token: buyer.accessToken))["items"]?.arrayValue?.first
        XCTAssertEqual(mine?["status"]?.stringValue, "CONFIRMED")
        XCTAssertEqual(mine?["paidAt"]?.stringValue, Timestamp.rfc3339(millis: paidAt))

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let row = try XCTUnwrap(try db.query("SELECT status, payment_id, discount_amount, paid_amount FROM reservations WHERE reservation_id = $1",
                                             [reservation.reservationID]).first)
        XCTAssertEqual(try row.string("status"), "CONFIRMED")
        XCTAssertEqual(try row.string("payment_id"), "pay_1")
        XCTAssertEqual(try row.int64("discount_amount"), 5_000)
        XCTAssertEqual(try row.int64("paid_amount"), 75_000)
    }

    func testAHoldPastItsDeadlineTakesNoPayment() throws {
        fixture = try startConcertFixture(holdSeconds: 1)
        fixture.stopSweepers()  // so the hold is still HELD in Redis, only past its deadline
        let (concertID, performances) = try fixture.concert(seats: 10)
        let user = try fixture.newUser()
        let held = try fixture.json(try fixture.hold(performances[0], 1, token: user.accessToken))
        let reservation = try record(concertID, held["reservationId"]!.stringValue!)
        XCTAssertTrue(waitUntil(10) { ((try? self.fixture.redisNow()) ?? 0) > reservation.expiresAtMs + 1 })
        XCTAssertEqual(try confirm(reservation, payment: "pay_late"), .failure(ConfirmRefused(status: "EXPIRED")))
        XCTAssertTrue(try fixture.seatHash(concertID, performances[0])["1"]?.hasPrefix("HELD ") == true, "nothing was sold")
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_CONFIRMED").count, 0)
    }

    func testRecoverRestoresSeatsAndLimitsAfterFlushAll() throws {
        fixture = try startConcertFixture(instances: 1)
        let (concertID, performances) = try fixture.concert(seats: 10)
        let (buyer, other) = (try fixture.newUser(), try fixture.newUser())
        var reservations: [String] = []
        for seat in 1...4 {
            let held = try fixture.hold(performances[0], seat, token: buyer.accessToken)
            XCTAssertEqual(held.status, 201, held.bodyText)
            reservations.append(try fixture.json(held)["reservationId"]!.stringValue!)
        }
        _ = try confirm(try record(concertID, reservations[0]), payment: "pay_r").get()
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(reservations[3])", token: buyer.accessToken).status, 204)
        XCTAssertEqual(try fixture.hold(performances[0], 9, token: other.accessToken).status, 201)
        let before = try fixture.seatStatuses(performances[0])

        try fixture.drainOutbox()
        XCTAssertEqual(try fixture.redis.command(["FLUSHALL"]), .status("OK"))
        let report = try Recovery.run(configuration: fixture.gateways[0].services.configuration)
        XCTAssertGreaterThanOrEqual(report.performances, 1)
        XCTAssertGreaterThanOrEqual(report.reservations, 4)

        XCTAssertEqual(try fixture.seatStatuses(performances[0]), before)
        XCTAssertEqual(before[1], "SOLD")
        XCTAssertEqual(before[2], "HELD")
        XCTAssertEqual(before[4], "AVAILABLE")
        XCTAssertEqual(before[9], "HELD")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 3)
        // Sessions were Redis-only: log in again. The buyer's count is back (1 sold + 2 held), so one more
        // seat fits and the next does not; a sold seat stays sold; the recovered hold can still be paid.
        func login(_ user: GatewayFixture.User) throws -> String {
            try fixture.json(try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"\#(user.password)"}"#))["accessToken"]!.stringValue!
        }
        let (buyerToken, otherToken) = (try login(buyer), try login(other))
        XCTAssertEqual(fixture.errorCode(try fixture.hold(performances[0], 1, token: otherToken)), "SEAT_UNAVAILABLE")
        XCTAssertEqual(try fixture.hold(performances[0], 5, token: buyerToken).status, 201)
        XCTAssertEqual(fixture.errorCode(try fixture.hold(performances[0], 6, token: buyerToken)), "SEAT_LIMIT_REACHED")
        XCTAssertNotNil(try? confirm(try record(concertID, reservations[1]), payment: "pay_after").get())
        // Once drained again, recovering a Redis that lost nothing changes nothing.
        try fixture.drainOutbox()
        let now = try fixture.seatStatuses(performances[0])
        _ = try Recovery.run(configuration: fixture.gateways[0].services.configuration)
        XCTAssertEqual(try fixture.seatStatuses(performances[0]), now)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).seatsOfUser(performances[0], buyer.id)]).int, 4)
    }

    func testTheDemoSeedHasABookableConcert() throws {
        fixture = try startConcertFixture(instances: 1)
        _ = try DemoSeeder.seed(configuration: fixture.gateways[0].services.configuration)
        XCTAssertEqual(try DemoSeeder.seed(configuration: fixture.gateways[0].services.configuration), [], "a second seed adds nothing")
        let concerts = try fixture.json(try fixture.request("GET", "/concerts"))["items"]?.arrayValue ?? []
        let demo = try XCTUnwrap(concerts.first { $0["concertId"]?.stringValue == DemoConcert.eventID })
        XCTAssertEqual(demo["queued"], .bool(true))
        let dates = try fixture.json(try fixture.request("GET", "/concerts/\(DemoConcert.eventID)/performances"))["items"]?.arrayValue ?? []
        XCTAssertEqual(dates.count, 2)
        XCTAssertTrue(dates.allSatisfy { ($0["availableSeats"]?.intValue ?? 0) > 0 && $0["totalSeats"]?.intValue == 50 })
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: DemoConcert.eventID).performance(DemoConcert.performanceIDs[0]), "total"]).int, 50)
    }
}
