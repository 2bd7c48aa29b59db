// The gate that protected routes pass through (lua/queue_gate.lua, and the identical block inside every
// script that acts on a queued event): only the holder of an ACTIVE token of that event may act.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import Scripts
import TestSupport
import XCTest

final class QueueGateTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try queueFixture(instances: 1)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func check(_ eventID: String, _ userID: String, _ token: String?) throws -> QueueGateVerdict {
        let script = QueueGateScript(eventID: eventID)
        return try script.run(script.check(userID: userID, token: token), on: fixture.redis)
    }

    func testOnlyAnActiveTokenOfThisEventAndUserPasses() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":1,"activeTtlSeconds":600"#)
        let otherEventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":600"#)
        let (first, second) = (try fixture.newUser(), try fixture.newUser())
        let firstToken = try fixture.enter(eventID, token: first.accessToken).place.token!
        XCTAssertEqual(try fixture.pollUntil(eventID, token: first.accessToken, queueToken: firstToken) { $0.status == "ACTIVE" }.status, "ACTIVE")
        let secondToken = try fixture.enter(eventID, token: second.accessToken).place.token!
        let otherEventToken = try fixture.enter(otherEventID, token: first.accessToken).place.token!

        XCTAssertEqual(try check(eventID, first.id, firstToken), .pass)
        XCTAssertEqual(try check(eventID, first.id, nil), .tokenRequired)
        XCTAssertEqual(try check(eventID, second.id, secondToken), .notActive(status: "WAITING", position: 1))
        XCTAssertEqual(try check(eventID, second.id, firstToken), .notActive(status: "INVALID", position: 0), "someone else's token")
        XCTAssertEqual(try check(eventID, first.id, otherEventToken), .notActive(status: "INVALID", position: 0), "another event's token")
        XCTAssertEqual(try check(eventID, first.id, "1.000000000000000000000000"), .notActive(status: "INVALID", position: 0))

        // Payment completed: the token is EXPIRED, the slot is free and the next in line gets it.
        let script = QueueGateScript(eventID: eventID)
        XCTAssertEqual(try script.run(script.expire(userID: first.id), on: fixture.redis), .pass)
        XCTAssertEqual(try script.run(script.expire(userID: first.id), on: fixture.redis), .pass, "idempotent")
        XCTAssertEqual(try check(eventID, first.id, firstToken), .notActive(status: "EXPIRED", position: 0))
        XCTAssertEqual(try fixture.poll(eventID, token: first.accessToken, queueToken: firstToken).status, "EXPIRED")
        XCTAssertEqual(try fixture.pollUntil(eventID, token: second.accessToken, queueToken: secondToken) { $0.status == "ACTIVE" }.status, "ACTIVE")
        XCTAssertEqual(try check(eventID, second.id, secondToken), .pass)
    }

    func testAnEventWithoutAQueuePassesEveryoneAndMissingSettingsAskForAReload() throws {
        let openEventID = try fixture.createEvent(#""enabled":false"#)
        let user = try fixture.newUser()
        XCTAssertEqual(try check(openEventID, user.id, nil), .pass)
        XCTAssertEqual(try check(openEventID, user.id, "garbage"), .pass)
        _ = try fixture.redis.command(["DEL", EventKeys(eventID: openEventID).queueConfiguration])
        XCTAssertEqual(try check(openEventID, user.id, nil), .noEvent, "never passes on missing settings")
    }

    func testRefusalsBecomeTheAPIErrors() throws {
        XCTAssertNil(QueueGate.error(for: .pass))
        let required = try XCTUnwrap(QueueGate.error(for: .tokenRequired))
        XCTAssertEqual(required.status, 403)
        XCTAssertEqual(required.code, "QUEUE_TOKEN_REQUIRED")
        let waiting = try XCTUnwrap(QueueGate.error(for: .notActive(status: "WAITING", position: 12)))
        XCTAssertEqual(waiting.status, 403)
        XCTAssertEqual(waiting.code, "QUEUE_NOT_ACTIVE")
        XCTAssertEqual(waiting.details?["status"], .string("WAITING"))
        XCTAssertEqual(waiting.details?["position"], .int(12))
    }

    func testEveryScriptCarryingTheGateCarriesItUnchanged() throws {
        func block(_ text: String) -> String? {
            guard let start = text.range(of: "-- >>> shared: queue_gate"), let end = text.range(of: "-- <<< shared: queue_gate") else { return nil }
            return String(text[start.lowerBound..<end.upperBound])
        }
        let original = try XCTUnwrap(block(LuaScript.named("queue_gate").source))
        let carriers = LuaScript.embedded.values.filter { block($0.source) != nil }
        XCTAssertGreaterThanOrEqual(carriers.count, 2)
        for script in carriers { XCTAssertEqual(block(script.source), original, script.name) }
    }
}
