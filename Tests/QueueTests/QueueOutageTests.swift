// Redis going away: queue routes answer 503 with Retry-After, never hang; when Redis comes back empty,
// the event survives (its settings reload from PostgreSQL), the line starts afresh, and admission
// resumes by itself.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

final class QueueOutageTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    func testQueueRoutesAre503WithRetryAfterWhileRedisIsUnreachable() throws {
        fixture = try GatewayFixture(instances: 1) { configuration in
            configuration.adminKey = adminKey
            configuration.redisURL = "redis://127.0.0.1:1"
        }
        let bearer = ["Authorization": "Bearer usr_x.0123456789abcdef.secret"]
        let path = "/events/evt_000000000000000000000000/queue"
        for (method, headers) in [("POST", bearer), ("GET", bearer.merging(["X-Queue-Token": "1.abc"]) { $1 }),
                                  ("DELETE", bearer.merging(["X-Queue-Token": "1.abc"]) { $1 })] {
            let response = try fixture.request(method, path, headers: headers)
            XCTAssertEqual(response.status, 503, method)
            XCTAssertNotNil(response.headers["retry-after"], method)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "UNAVAILABLE")
        }
    }

    func testAfterARedisRestartTheEventReloadsAndAdmissionResumes() throws {
        fixture = try queueFixture(instances: 2)
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":1,"activeTtlSeconds":600"#)
        let user = try fixture.newUser()
        let token = try fixture.enter(eventID, token: user.accessToken).place.token!
        XCTAssertEqual(try fixture.pollUntil(eventID, token: user.accessToken, queueToken: token) { $0.status == "ACTIVE" }.status, "ACTIVE")

        // The test Redis keeps nothing across a restart: sessions, lines and cached settings are gone.
        try TestServices.runCommand(from: "FLOODGATE_TEST_REDIS_RESTART_CMD")
        var login: RawResponse?
        XCTAssertTrue(waitUntil(15) {
            login = try? self.fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"\#(user.password)"}"#)
            return login?.status == 200
        }, "the gateways reconnected by themselves")
        let accessToken = try fixture.json(login!)["accessToken"]!.stringValue!

        // The event is still there (PostgreSQL); entering loads its settings back, the tickers find it in
        // the registry again and admit the new place.
        let entered = try fixture.enter(eventID, token: accessToken, instance: 1)
        XCTAssertEqual(entered.status, 201)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: eventID).queueConfiguration, "maxActive"]).string, "1")
        XCTAssertEqual(try fixture.pollUntil(eventID, token: accessToken, queueToken: entered.place.token!) { $0.status == "ACTIVE" }.status,
                       "ACTIVE")
    }
}
