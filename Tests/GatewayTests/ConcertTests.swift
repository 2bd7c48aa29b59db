// Seat holds through two instances: one winner among a thousand for one seat (Redis, outbox and, after the
// drain, PostgreSQL agree), fifty seats for fifty users, the per-user limit under one user's parallel
// requests, the catalogue of bookable dates, and bad input that changes nothing.
import Foundation
@testable import Gateway
import Inventory
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
import XCTest

final class ConcertTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    func testAThousandUsersRaceForOneSeatAndExactlyOneHoldsIt() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(seats: 50)
        let performanceID = performances[0]
        let users = try fixture.seedUsers(1_000)
        let responses = try fixture.burst(users.map { fixture.holdText(performanceID, 7, token: $0.token) }, connectionsPerInstance: 50)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 1)
        XCTAssertEqual(responses.filter { $0?.status == 409 && fixture.errorCode($0) == "SEAT_UNAVAILABLE" }.count, 999)
        let winner = try XCTUnwrap(responses.firstIndex { $0?.status == 201 })
        let held = try fixture.json(responses[winner]!)
        let reservationID = try XCTUnwrap(held["reservationId"]?.stringValue)
        XCTAssertEqual(held["status"]?.stringValue, "HELD")
        XCTAssertEqual(held["seatNo"]?.intValue, 7)
        XCTAssertEqual(held["amount"]?.intValue, 50_000)
        XCTAssertNotNil(held["expiresAt"]?.stringValue)

        let seats = try fixture.seatHash(concertID, performanceID)
        XCTAssertEqual(seats.count, 1)
        XCTAssertTrue(seats["7"]?.hasPrefix("HELD \(reservationID) ") == true, "\(seats)")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 1)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: concertID).reservation(reservationID), "user"]).string, users[winner].id)
        let outbox = try fixture.eventOutbox(concertID, type: "RESERVATION_HELD")
        XCTAssertEqual(outbox.count, 1)
        XCTAssertEqual(outbox.first?["id"], "hld_\(reservationID)")
        XCTAssertEqual(try fixture.seatStatuses(performanceID)[7], "HELD")

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let rows = try db.query("SELECT reservation_id, user_id, seat_no, status, amount FROM reservations WHERE performance_id = $1", [performanceID])
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(try rows.first?.string("reservation_id"), reservationID)
        XCTAssertEqual(try rows.first?.string("user_id"), users[winner].id)
        XCTAssertEqual(try rows.first?.int64("seat_no"), 7)
        XCTAssertEqual(try rows.first?.string("status"), "HELD")
        XCTAssertEqual(try rows.first?.int64("amount"), 50_000)
    }

    func testFiftyUsersOnFiftySeatsAllHoldAndTheSoldOutDateLeavesTheList() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(seats: 50, performances: 2)
        let users = try fixture.seedUsers(50)
        let responses = try fixture.burst(users.enumerated().map { fixture.holdText(performances[0], $0.offset + 1, token: $0.element.token) },
                                          connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 50, responses.first { $0?.status != 201 }??.bodyText ?? "")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]).count, 50)
        let statuses = try fixture.seatStatuses(performances[0], token: users[0].token)
        XCTAssertEqual(statuses.count, 50)
        XCTAssertTrue(statuses.values.allSatisfy { $0 == "HELD" })
        XCTAssertEqual(try fixture.seatStatuses(performances[1]).values.filter { $0 == "AVAILABLE" }.count, 50)

        // Only the date with a free seat is bookable; one hold there shows in its count.
        XCTAssertEqual(try fixture.hold(performances[1], 1, token: users[0].token).status, 201)
        let dates = try fixture.json(try fixture.request("GET", "/concerts/\(concertID)/performances", instance: 1))["items"]?.arrayValue ?? []
        XCTAssertEqual(dates.compactMap { $0["performanceId"]?.stringValue }, [performances[1]])
        XCTAssertEqual(dates.first?["availableSeats"]?.intValue, 49)
        XCTAssertEqual(dates.first?["totalSeats"]?.intValue, 50)
        let listed = try fixture.json(try fixture.request("GET", "/concerts"))["items"]?.arrayValue ?? []
        XCTAssertEqual(listed.first { $0["concertId"]?.stringValue == concertID }?["artist"]?.stringValue, "Band")
    }

    func testOneUserInParallelHoldsNoMoreThanTheLimit() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(seats: 50)
        let user = try fixture.newUser()
        let responses = try fixture.burst((1...20).map { fixture.holdText(performances[0], $0, token: user.accessToken) }, connectionsPerInstance: 10)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 4)
        XCTAssertEqual(responses.filter { fixture.errorCode($0) == "SEAT_LIMIT_REACHED" }.count, 16)
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]).count, 4)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).seatsOfUser(performances[0], user.id)]).int, 4)
        // Letting one go makes room for exactly one more.
        let first = try fixture.json(responses.first { $0?.status == 201 }!!)["reservationId"]!.stringValue!
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/\(first)", token: user.accessToken).status, 204)
        XCTAssertEqual(try fixture.hold(performances[0], 40, token: user.accessToken).status, 201)
        XCTAssertEqual(fixture.errorCode(try fixture.hold(performances[0], 41, token: user.accessToken)), "SEAT_LIMIT_REACHED")
        // The limit is the concert's: a concert allowing 1 refuses the second seat.
        let (_, strict) = try fixture.concert(seats: 10, extra: #","maxSeatsPerUser":1"#)
        XCTAssertEqual(try fixture.hold(strict[0], 1, token: user.accessToken).status, 201)
        XCTAssertEqual(fixture.errorCode(try fixture.hold(strict[0], 2, token: user.accessToken)), "SEAT_LIMIT_REACHED")
    }

    func testBadInputIsRefusedAndChangesNothing() throws {
        fixture = try startConcertFixture(instances: 1)
        let (concertID, performances) = try fixture.concert(seats: 50)
        let user = try fixture.newUser()
        for seat in ["0", "51", "abc", "1.5", "-1", "00000", "99999"] {
            let response = try fixture.request("POST", "/performances/\(performances[0])/seats/\(seat)/hold", token: user.accessToken)
            XCTAssertEqual(response.status, 400, seat)
            XCTAssertEqual(fixture.errorCode(response), "VALIDATION_FAILED", seat)
        }
        for performance in ["prf_000000000000000000000000", "prf_nope", "evt_000000000000000000000001"] {
            let response = try fixture.request("POST", "/performances/\(performance)/seats/1/hold", token: user.accessToken)
            XCTAssertEqual(response.status, 404, performance)
            XCTAssertEqual(try fixture.request("GET", "/performances/\(performance)/seats").status, 404, performance)
        }
        XCTAssertEqual(try fixture.request("GET", "/concerts/evt_000000000000000000000000/performances").status, 404)
        XCTAssertEqual(try fixture.request("POST", "/performances/\(performances[0])/seats/1/hold").status, 401)
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/rsv_nope", token: user.accessToken).status, 404)
        XCTAssertEqual(try fixture.request("DELETE", "/reservations/rsv_\(concertID.dropFirst(4))000000000000", token: user.accessToken).status, 404)

        let soon = Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        let bodies: [(String, String)] = [
            (#"{"artist":"A","performances":[{"startsAt":"\#(soon)","price":1}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","performances":[{"startsAt":"\#(soon)","price":1}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","performances":[]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","performances":[{"startsAt":"tomorrow","price":1}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","performances":[{"startsAt":"\#(soon)","price":-1}]}"#, "INVALID_AMOUNT"),
            (#"{"name":"N","artist":"A","performances":[{"startsAt":"\#(soon)","price":1,"seats":0}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","performances":[{"startsAt":"\#(soon)","price":1,"seats":1001}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","maxSeatsPerUser":0,"performances":[{"startsAt":"\#(soon)","price":1}]}"#, "VALIDATION_FAILED"),
            (#"{"name":"N","artist":"A","queue":{"maxActive":-1},"performances":[{"startsAt":"\#(soon)","price":1}]}"#, "VALIDATION_FAILED"),
        ]
        for (body, code) in bodies {
            let response = try fixture.request("POST", "/admin/concerts", body: body, headers: ["X-Admin-Key": concertAdminKey])
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(fixture.errorCode(response), code, body)
        }
        XCTAssertEqual(try fixture.request("POST", "/admin/concerts", body: bodies[0].0).status, 403, "admin only")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]), [:])
        XCTAssertEqual(try fixture.eventOutbox(concertID, type: "RESERVATION_HELD").count, 0)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: concertID).holds]).int, 0)
    }

    func testSeatsOfAQueuedConcertNeedAnActiveTokenOfThatConcert() throws {
        fixture = try startConcertFixture()
        let (concertID, performances) = try fixture.concert(queue: #""enabled":true,"maxActive":1,"activeTtlSeconds":600"#)
        let (first, second) = (try fixture.newUser(), try fixture.newUser())
        let missing = try fixture.hold(performances[0], 1, token: first.accessToken)
        XCTAssertEqual(missing.status, 403)
        XCTAssertEqual(fixture.errorCode(missing), "QUEUE_TOKEN_REQUIRED")
        XCTAssertEqual(fixture.errorCode(try fixture.request("GET", "/performances/\(performances[0])/seats")), "QUEUE_TOKEN_REQUIRED")
        XCTAssertEqual(fixture.errorCode(try fixture.request("GET", "/performances/\(performances[0])/seats", token: first.accessToken)),
                       "QUEUE_TOKEN_REQUIRED")

        func enter(_ user: GatewayFixture.User) throws -> String {
            try fixture.json(try fixture.request("POST", "/events/\(concertID)/queue", token: user.accessToken))["queueToken"]!.stringValue!
        }
        let firstToken = try enter(first)
        XCTAssertTrue(waitUntil(5) {
            (try? self.fixture.json(self.fixture.request("GET", "/events/\(concertID)/queue", token: first.accessToken,
                                                         headers: ["X-Queue-Token": firstToken]))["status"]?.stringValue) == "ACTIVE"
        })
        let secondToken = try enter(second)
        let waiting = try fixture.hold(performances[0], 1, token: second.accessToken, queueToken: secondToken)
        XCTAssertEqual(fixture.errorCode(waiting), "QUEUE_NOT_ACTIVE")
        XCTAssertEqual(try fixture.json(waiting)["error"]?["details"]?["status"]?.stringValue, "WAITING")
        XCTAssertEqual(try fixture.json(try fixture.hold(performances[0], 1, token: second.accessToken, queueToken: firstToken))["error"]?["details"]?["status"]?.stringValue,
                       "INVALID")
        let seatsWaiting = try fixture.request("GET", "/performances/\(performances[0])/seats", token: second.accessToken,
                                               headers: ["X-Queue-Token": secondToken])
        XCTAssertEqual(fixture.errorCode(seatsWaiting), "QUEUE_NOT_ACTIVE")
        XCTAssertEqual(try fixture.seatHash(concertID, performances[0]), [:], "no refusal held anything")

        XCTAssertEqual(try fixture.hold(performances[0], 1, token: first.accessToken, queueToken: firstToken).status, 201)
        let seats = try fixture.request("GET", "/performances/\(performances[0])/seats", token: first.accessToken,
                                        headers: ["X-Queue-Token": firstToken], instance: 1)
        XCTAssertEqual(seats.status, 200)
        XCTAssertEqual(try fixture.json(seats)["seats"]?.arrayValue?.first?["status"]?.stringValue, "HELD")
    }
}
