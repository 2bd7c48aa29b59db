// Seat holds ending: on time through the sweepers, lazily through readers when no sweeper runs, by their
// owner (once, and only by their owner), and GET /reservations showing each state at once and after
// the worker has written it.
import Foundation
@testable import Gateway
import Inventory
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
import XCTest

final class ReservationTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    func testUnpaidHoldsRunOutAndTheSweepersFreeEachSeatOnce() throws {
        fixture = try startConcertFixture(holdSeconds: 1)
        let (concertID, performances) = try fixture.concert(seats: 10)
        let users = try fixture.seedUsers(5)
        let responses = try fixture.burst(users.enumerated().map { fixture.holdText(performances[0], $0.offset + 1, token: $0.element.token) },
                                          connectionsPerInstance: 3)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 5)
        XCTAssertTrue(waitUntil(10) { (try? self.fixture.seatHash(concertID, performances[0]).isEmpty) == true }, "the sweepers freed the seats")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 0)
        let released = try fixture.eventOutbox(concertID, type: "RESERVATION_RELEASED")
        XCTAssertEqual(released.count, 5, "each hold released once, by whichever sweeper came first")
        XCTAssertTrue(released.allSatisfy { $0["data"]?.contains(#""status":"EXPIRED""#) == true })
        for user in users {
            XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).seatsOfUser(performances[0], user.id)]).int, 0)
        }
        XCTAssertTrue(try fixture.seatStatuses(performances[0]).values.allSatisfy { $0 == "AVAILABLE" })
        let mine = try fixture.json(try fixture.request("GET", "/reservations", token: users[0].token))["items"]?.arrayValue ?? []
        XCTAssertEqual(mine.count, 1)
        XCTAssertEqual(mine.first?["status"]?.stringValue, "EXPIRED")
        XCTAssertNil(mine.first?["expiresAt"])
        XCTAssertEqual(try fixture.hold(performances[0], 1, token: users[1].token).status, 201, "the seat is for sale again")

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let statuses = try db.query("SELECT status FROM reservations WHERE performance_id = $1", [performances[0]]).map { try $0.string("status") }
        XCTAssertEqual(statuses.sorted(), ["EXPIRED", "EXPIRED", "EXPIRED", "EXPIRED", "EXPIRED", "HELD"])
    }

    func testWithoutSweepersALapsedHoldIsReleasedByItsReaders() throws {
        fixture = try startConcertFixture(holdSeconds: 1)
        fixture.stopSweepers()
        let (concertID, performances) = try fixture.concert(seats: 10)
        let (owner, other) = (try fixture.newUser(), try fixture.newUser())
        let first = try fixture.json(try fixture.hold(performances[0], 1, token: owner.accessToken))
        let second = try fixture.json(try fixture.hold(performances[0], 2, token: owner.accessToken))
        let deadline = try XCTUnwrap(Timestamp.parseRFC3339(second["expiresAt"]!.stringValue!))
        XCTAssertTrue(waitUntil(10) { ((try? self.fixture.redisNow()) ?? 0) > deadline + 1 }, "Redis's clock passed the deadlines")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]).count, 2, "no sweeper released anything")

        // Reading the seats shows the truth and releases seat 1's hold on the way.
        let statuses = try fixture.seatStatuses(performances[0])
        XCTAssertEqual(statuses[1], "AVAILABLE")
        XCTAssertEqual(statuses[2], "AVAILABLE")
        let keys = EventKeys(eventID: concertID)
        XCTAssertEqual(try fixture.redis.command(["HGET", keys.reservation(first["reservationId"]!.stringValue!), "status"]).string, "EXPIRED")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]), [:])

        // A hold on a lapsed seat releases the old hold first (the seat_hold STALE path).
        let third = try fixture.json(try fixture.hold(performances[0], 3, token: owner.accessToken))
        let thirdDeadline = try XCTUnwrap(Timestamp.parseRFC3339(third["expiresAt"]!.stringValue!))
        XCTAssertTrue(waitUntil(10) { ((try? self.fixture.redisNow()) ?? 0) > thirdDeadline + 1 })
        XCTAssertEqual(try fixture.hold(performances[0], 3, token: other.accessToken).status, 201)
        XCTAssertEqual(try fixture.redis.command(["HGET", keys.reservation(third["reservationId"]!.stringValue!), "status"]).string, "EXPIRED")
        // Its owner letting go of a hold that already ran out ends it as EXPIRED, not RELEASED.
        let fourth = try fixture.json(try fixture.hold(performances[0], 4, token: owner.accessToken))
        let fourthID = fourth["reservationId"]!.stringValue!
        let fourthDeadline = try XCTUnwrap(Timestamp.parseRFC3339(fourth["expiresAt"]!.stringValue!))
        XCTAssertTrue(waitUntil(10) { ((try? self.fixture.redisNow()) ?? 0) > fourthDeadline + 1 })
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(fourthID)", token: owner.accessToken).status, 204)
        XCTAssertEqual(try fixture.redis.command(["HGET", keys.reservation(fourthID), "status"]).string, "EXPIRED")
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_RELEASED").count, 4)
        let listed = try fixture.json(try fixture.request("GET", "/reservations", token: owner.accessToken))["items"]?.arrayValue ?? []
        XCTAssertEqual(listed.compactMap { $0["status"]?.stringValue }, ["EXPIRED", "EXPIRED", "EXPIRED", "EXPIRED"])
    }

    func testAHoldIsReleasedOnceAndOnlyByItsOwner() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(seats: 10)
        let (owner, other) = (try fixture.newUser(), try fixture.newUser())
        let held = try fixture.json(try fixture.hold(performances[0], 5, token: owner.accessToken))
        let reservationID = held["reservationId"]!.stringValue!
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(reservationID)", token: other.accessToken).status, 403)
        XCTAssertEqual(try fixture.seatStatuses(performances[0])[5], "HELD", "someone else's DELETE changed nothing")

        let release = RawHTTPClient.requestText("DELETE", "/reservations/\(reservationID)", headers: ["Authorization": "Bearer \(owner.accessToken)"])
        let responses = try fixture.burst(Array(repeating: release, count: 20), connectionsPerInstance: 10)
        XCTAssertEqual(responses.filter { $0?.status == 204 }.count, 20)
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_RELEASED").count, 1, "released once")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]), [:])
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 0)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).seatsOfUser(performances[0], owner.id)]).int, 0)
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(reservationID)", token: other.accessToken).status, 403)
        // The seat went back once: one new hold takes it, the next finds it taken.
        XCTAssertEqual(try fixture.hold(performances[0], 5, token: other.accessToken).status, 201)
        XCTAssertEqual(fixture.errorCode(try fixture.hold(performances[0], 5, token: owner.accessToken)), "SEAT_UNAVAILABLE")
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(reservationID)").status, 401)
    }

    func testReservationsAreListedAtOnceAndStillAfterTheWorkerWroteThem() throws {
        fixture = try startConcertFixture()
        let (_, performances) = try fixture.concert(seats: 10, performances: 2)
        let user = try fixture.newUser()
        let a = try fixture.json(try fixture.hold(performances[0], 1, token: user.accessToken))["reservationId"]!.stringValue!
        usleep(3_000)  // distinct creation times, so "newest first" has one right answer
        let b = try fixture.json(try fixture.hold(performances[1], 2, token: user.accessToken))["reservationId"]!.stringValue!
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(a)", token: user.accessToken).status, 204)
        func list(_ query: String = "") throws -> JSONValue {
            try fixture.json(try fixture.request("GET", "/reservations\(query)", token: user.accessToken, instance: 1))
        }
        var items = try list()["items"]?.arrayValue ?? []
        XCTAssertEqual(items.compactMap { $0["reservationId"]?.stringValue }, [b, a])
        XCTAssertEqual(items.compactMap { $0["status"]?.stringValue }, ["HELD", "RELEASED"])
        XCTAssertEqual(items.first?["seatNo"]?.intValue, 2)
        XCTAssertEqual(items.first?["performanceId"]?.stringValue, performances[1])
        XCTAssertNotNil(items.first?["expiresAt"]?.stringValue)

        // Once written by the worker, PostgreSQL alone answers the same (the recent index gone).
        try fixture.drainOutbox()
        XCTAssertEqual(try fixture.redis.command(["DEL", UserKeys(userID: user.id).recentReservations]).int, 1)
        items = try list()["items"]?.arrayValue ?? []
        XCTAssertEqual(items.compactMap { $0["reservationId"]?.stringValue }, [b, a])
        XCTAssertEqual(items.compactMap { $0["status"]?.stringValue }, ["HELD", "RELEASED"])
        let page = try list("?limit=1")
        XCTAssertEqual(page["items"]?.arrayValue?.count, 1)
        let next = try XCTUnwrap(page["nextCursor"]?.stringValue)
        XCTAssertEqual(try list("?limit=1&cursor=\(next)")["items"]?.arrayValue?.first?["reservationId"]?.stringValue, a)
        XCTAssertEqual(try fixture.request("GET", "/reservations?cursor=nope", token: user.accessToken).status, 400)
        XCTAssertEqual(try fixture.request("GET", "/reservations").status, 401)
    }
}
