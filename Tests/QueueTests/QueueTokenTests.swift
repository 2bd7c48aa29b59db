// Every misuse of the queue routes and tokens gets its own status and code, and changes nothing.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

final class QueueTokenTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try queueFixture(instances: 1)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func code(_ response: RawResponse) -> String? {
        (try? fixture.json(response))?["error"]?["code"]?.stringValue
    }

    func testTokenMisuseIsRefusedWithItsCode() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let otherEventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let (alice, bob) = (try fixture.newUser(), try fixture.newUser())
        let aliceToken = try fixture.enter(eventID, token: alice.accessToken).place.token!
        let aliceOtherToken = try fixture.enter(otherEventID, token: alice.accessToken).place.token!
        let waitingBefore = try fixture.redis.command(["ZRANGE", EventKeys(eventID: eventID).waiting, "0", "-1", "WITHSCORES"])

        for method in ["GET", "DELETE"] {
            let path = "/events/\(eventID)/queue"
            // No bearer: 401 before anything about the queue.
            let anonymous = try fixture.request(method, path, headers: ["X-Queue-Token": aliceToken])
            XCTAssertEqual(anonymous.status, 401)
            // No queue token.
            let missing = try fixture.request(method, path, token: alice.accessToken)
            XCTAssertEqual(missing.status, 403)
            XCTAssertEqual(code(missing), "QUEUE_TOKEN_REQUIRED")
            // Someone else's token, another event's token, a forged or garbled one.
            let forged = "1." + String(repeating: "ab", count: 12)
            for token in [aliceToken, aliceOtherToken, forged, "not a token", String(repeating: "1", count: 100)] {
                let as_ = token == aliceToken ? bob.accessToken : alice.accessToken
                let response = try fixture.request(method, path, token: as_, headers: ["X-Queue-Token": token])
                XCTAssertEqual(response.status, 403, "\(method) with \(token)")
                XCTAssertEqual(code(response), "QUEUE_NOT_ACTIVE")
                XCTAssertEqual((try? fixture.json(response))?["error"]?["details"]?["status"]?.stringValue, "INVALID")
                XCTAssertEqual((try? fixture.json(response))?["error"]?["details"]?["position"]?.intValue, 0)
            }
        }
        XCTAssertEqual(try fixture.redis.command(["ZRANGE", EventKeys(eventID: eventID).waiting, "0", "-1", "WITHSCORES"]), waitingBefore,
                       "nothing changed")
        // Alice's own token still works.
        XCTAssertEqual(try fixture.poll(eventID, token: alice.accessToken, queueToken: aliceToken).status, "WAITING")
    }

    func testUnknownEventsAndDisabledQueues() throws {
        let user = try fixture.newUser()
        for eventID in ["evt_000000000000000000000000", "nope", "evt_%7B%7D"] {
            let enter = try fixture.request("POST", "/events/\(eventID)/queue", token: user.accessToken)
            XCTAssertEqual(enter.status, 404, eventID)
            XCTAssertEqual((try? fixture.json(enter))?["error"]?["details"]?["resource"]?.stringValue, "event")
            let poll = try fixture.request("GET", "/events/\(eventID)/queue", token: user.accessToken, headers: ["X-Queue-Token": "1.abc"])
            XCTAssertEqual(poll.status, 404, eventID)
        }
        XCTAssertEqual(try fixture.request("POST", "/events/evt_000000000000000000000000/queue").status, 401)

        let closed = try fixture.createEvent(#""enabled":false"#)
        let enter = try fixture.request("POST", "/events/\(closed)/queue", token: user.accessToken)
        XCTAssertEqual(enter.status, 409)
        XCTAssertEqual(code(enter), "QUEUE_DISABLED")
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: closed).waiting]).int, 0)
    }
}
