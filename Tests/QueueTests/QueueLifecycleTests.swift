// A place in line from entry to the end: admission when a slot frees (leave, active time over), the
// abandonment of a silent user, EXPIRED afterwards, and the settings' reload when Redis lost them.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

final class QueueLifecycleTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try queueFixture(instances: 2)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    func testLeavingFreesTheSlotAndTheNextInLineGetsIt() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":1,"activeTtlSeconds":600"#)
        let (a, b) = (try fixture.newUser(), try fixture.newUser())
        let tokenA = try fixture.enter(eventID, token: a.accessToken).place.token!
        XCTAssertEqual(try fixture.pollUntil(eventID, token: a.accessToken, queueToken: tokenA) { $0.status == "ACTIVE" }.status, "ACTIVE")
        let entered = try fixture.enter(eventID, token: b.accessToken, instance: 1)
        XCTAssertEqual(entered.status, 201)
        let tokenB = entered.place.token!
        usleep(300_000)  // several admission rounds: B stays behind the full slot
        let waiting = try fixture.poll(eventID, token: b.accessToken, queueToken: tokenB)
        XCTAssertEqual(waiting.status, "WAITING")
        XCTAssertEqual(waiting.position, 1)

        let leave = try fixture.request("DELETE", "/events/\(eventID)/queue", token: a.accessToken, headers: ["X-Queue-Token": tokenA])
        XCTAssertEqual(leave.status, 204)
        XCTAssertEqual(try fixture.poll(eventID, token: a.accessToken, queueToken: tokenA).status, "EXPIRED")
        XCTAssertEqual(try fixture.pollUntil(eventID, token: b.accessToken, queueToken: tokenB) { $0.status == "ACTIVE" }.status, "ACTIVE")
        // Leaving again is still 204 and frees nothing more.
        XCTAssertEqual(try fixture.request("DELETE", "/events/\(eventID)/queue", token: a.accessToken,
                                           headers: ["X-Queue-Token": tokenA]).status, 204)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).active]).int, 1)
        // A new entry after leaving is a new token at the back.
        let again = try fixture.enter(eventID, token: a.accessToken)
        XCTAssertEqual(again.status, 201)
        XCTAssertNotEqual(again.place.token, tokenA)
    }

    func testActiveTimeRunningOutFreesTheSlot() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":1,"activeTtlSeconds":1"#)
        let (a, b) = (try fixture.newUser(), try fixture.newUser())
        let tokenA = try fixture.enter(eventID, token: a.accessToken).place.token!
        let first = try fixture.pollUntil(eventID, token: a.accessToken, queueToken: tokenA) { $0.status == "ACTIVE" }
        XCTAssertEqual(first.status, "ACTIVE")
        let tokenB = try fixture.enter(eventID, token: b.accessToken).place.token!
        let admittedB = try fixture.pollUntil(eventID, token: b.accessToken, queueToken: tokenB) { $0.status == "ACTIVE" }
        XCTAssertEqual(admittedB.status, "ACTIVE", "B is admitted once A's second is over")
        XCTAssertEqual(try fixture.poll(eventID, token: a.accessToken, queueToken: tokenA).status, "EXPIRED")
        let activeUntil = try fixture.json(try fixture.request("GET", "/events/\(eventID)/queue", token: b.accessToken,
                                                                headers: ["X-Queue-Token": tokenB]))["activeUntil"]?.stringValue
        XCTAssertNotNil(activeUntil.flatMap(Timestamp.parseRFC3339), "ACTIVE carries activeUntil")
    }

    func testASilentUserIsDroppedAndThoseBehindMoveUp() throws {
        // Doors held, so only abandonment can change positions. Abandoned after 2 to 2.5 s of silence.
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60,"abandonAfterSeconds":2"#)
        let users = try (0..<3).map { _ in try fixture.newUser() }
        let tokens = try users.map { try fixture.enter(eventID, token: $0.accessToken).place.token! }
        XCTAssertEqual(try fixture.poll(eventID, token: users[2].accessToken, queueToken: tokens[2]).position, 3)
        // users[1] and users[2] keep polling; users[0] says nothing.
        var positions: [Int64] = []
        let deadline = Date().addingTimeInterval(6)
        while Date() < deadline {
            let p1 = try fixture.poll(eventID, token: users[1].accessToken, queueToken: tokens[1])
            let p2 = try fixture.poll(eventID, token: users[2].accessToken, queueToken: tokens[2])
            XCTAssertEqual(p1.status, "WAITING")
            XCTAssertEqual(p2.status, "WAITING")
            positions = [p1.position, p2.position]
            if positions == [1, 2] { break }
            usleep(250_000)
        }
        XCTAssertEqual(positions, [1, 2], "the sweep dropped the silent head and the others moved up")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).waiting]).int, 2)
        XCTAssertEqual(try fixture.poll(eventID, token: users[0].accessToken, queueToken: tokens[0]).status, "EXPIRED")
    }

    func testASilentHeadIsSkippedByAdmission() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60,"abandonAfterSeconds":2"#)
        let (silent, polling) = (try fixture.newUser(), try fixture.newUser())
        let silentToken = try fixture.enter(eventID, token: silent.accessToken).place.token!
        let pollingToken = try fixture.enter(eventID, token: polling.accessToken).place.token!
        for _ in 0..<12 {  // 3 s of polling by the second user only
            _ = try fixture.poll(eventID, token: polling.accessToken, queueToken: pollingToken)
            usleep(250_000)
        }
        XCTAssertEqual(try fixture.patchQueue(eventID, #"{"maxActive":1}"#).status, 200)
        XCTAssertEqual(try fixture.pollUntil(eventID, token: polling.accessToken, queueToken: pollingToken) { $0.status == "ACTIVE" }.status,
                       "ACTIVE")
        XCTAssertEqual(try fixture.poll(eventID, token: silent.accessToken, queueToken: silentToken).status, "EXPIRED")
        XCTAssertEqual(try fixture.admissions(eventID).map(\.user), [polling.id], "the silent head was never admitted")
    }

    func testEtaAndPollAdviceGrowWithThePlaceInLine() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":1"#)
        let users = try fixture.seedUsers(300)
        let places = try users.map { try fixture.enter(eventID, token: $0.token).place }
        XCTAssertEqual(places.map(\.position), Array(1...300))
        XCTAssertNil(places[0].etaSeconds, "admission is paused (maxActive 0): no estimate")

        // One slot that frees itself every second: about one admission per second.
        XCTAssertEqual(try fixture.patchQueue(eventID, #"{"maxActive":1}"#).status, 200)
        let front = try fixture.poll(eventID, token: users[3].token, queueToken: places[3].token!)
        let middle = try fixture.poll(eventID, token: users[150].token, queueToken: places[150].token!)
        let back = try fixture.poll(eventID, token: users[299].token, queueToken: places[299].token!)
        XCTAssertLessThan(front.etaSeconds ?? .max, middle.etaSeconds ?? 0)
        XCTAssertLessThan(middle.etaSeconds ?? .max, back.etaSeconds ?? 0)
        XCTAssertLessThan(front.pollAfterMs, middle.pollAfterMs, "further back polls less often")
        XCTAssertLessThanOrEqual(middle.pollAfterMs, back.pollAfterMs)
        XCTAssertGreaterThanOrEqual(front.pollAfterMs, 500)
        XCTAssertLessThanOrEqual(back.pollAfterMs, 30_000)

        // After some admissions the rate is measured, and the admin view shows it.
        XCTAssertTrue(waitUntil(10) {
            let status = try? self.fixture.json(self.fixture.request("GET", "/admin/events/\(eventID)/queue", headers: ["X-Admin-Key": adminKey]))
            return (status?["admitRatePerSecond"]?.doubleValue ?? 0) > 0
        })
    }

    func testSettingsLostFromRedisAreReloadedFromPostgreSQL() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let user = try fixture.newUser()
        let token = try fixture.enter(eventID, token: user.accessToken).place.token!
        _ = try fixture.redis.command(["DEL", EventKeys(eventID: eventID).queueConfiguration])
        let place = try fixture.poll(eventID, token: user.accessToken, queueToken: token)
        XCTAssertEqual(place.status, "WAITING", "the same secret came back, so the token still verifies")
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).queueConfiguration, "maxActive"]).string, "0")
    }

    func testMetricsShowEachQueue() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let user = try fixture.newUser()
        _ = try fixture.enter(eventID, token: user.accessToken)
        XCTAssertTrue(waitUntil(5) {
            let text = (try? self.fixture.request("GET", "/metrics").bodyText) ?? ""
            return text.contains("floodgate_queue_waiting{event=\"\(eventID)\"} 1")
        })
        let text = try fixture.request("GET", "/metrics").bodyText
        XCTAssertTrue(text.contains("floodgate_queue_active{event=\"\(eventID)\"} 0"))
        XCTAssertTrue(text.contains("floodgate_queue_admitted_per_second{event=\"\(eventID)\"}"))
    }
}
