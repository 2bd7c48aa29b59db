// The admin side of events: the X-Admin-Key gate, validation, settings in PostgreSQL and Redis.
import Foundation
@testable import Gateway
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
import XCTest

final class QueueAdminTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    func testAdminRoutesNeedTheConfiguredKey() throws {
        fixture = try queueFixture(instances: 1)
        let body = #"{"name":"Sale","kind":"sale"}"#
        XCTAssertEqual(try fixture.request("POST", "/admin/events", body: body).status, 403)
        XCTAssertEqual(try fixture.request("POST", "/admin/events", body: body, headers: ["X-Admin-Key": "wrong"]).status, 403)
        XCTAssertEqual(try fixture.request("POST", "/admin/events", body: body, headers: ["X-Admin-Key": adminKey]).status, 201)
        fixture.shutdown()

        // No key configured at all: every admin route is closed, whatever is sent.
        fixture = try GatewayFixture(instances: 1)
        let closed = try fixture.request("POST", "/admin/events", body: body, headers: ["X-Admin-Key": ""])
        XCTAssertEqual(closed.status, 403)
        XCTAssertEqual(try fixture.json(closed)["error"]?["code"]?.stringValue, "FORBIDDEN")
    }

    func testCreateStoresTheEventAndItsSettings() throws {
        fixture = try queueFixture(instances: 1)
        let response = try fixture.request("POST", "/admin/events", body: """
            {"name":"  Black Friday  ","kind":"sale","startsAt":"2026-11-27T00:00:00.000Z",
             "queue":{"enabled":true,"maxActive":250,"activeTtlSeconds":120,"admitPerSecond":50}}
            """, headers: ["X-Admin-Key": adminKey])
        XCTAssertEqual(response.status, 201, response.bodyText)
        let json = try fixture.json(response)
        let eventID = json["eventId"]!.stringValue!
        XCTAssertTrue(eventID.hasPrefix("evt_"))
        XCTAssertEqual(json["name"]?.stringValue, "Black Friday")
        XCTAssertEqual(json["startsAt"]?.stringValue, "2026-11-27T00:00:00.000Z")
        XCTAssertEqual(json["queue"]?["maxActive"]?.intValue, 250)
        XCTAssertEqual(json["queue"]?["admitPerSecond"]?.intValue, 50)
        XCTAssertEqual(json["queue"]?["abandonAfterSeconds"]?.intValue, 300)
        XCTAssertNil(json["queueSecret"], "the secret never leaves the server")

        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let row = try db.query("SELECT max_active, queue_enabled, queue_version FROM events WHERE id = $1", [eventID]).first!
        XCTAssertEqual(try row.int("max_active"), 250)
        XCTAssertEqual(try row.bool("queue_enabled"), true)
        let conf = EventKeys(eventID: eventID).queueConfiguration
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "maxActive"]).string, "250")
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "version"]).string, "1")
        XCTAssertEqual(try fixture.redis.command(["SISMEMBER", EventKeys.registry, eventID]).int, 1)
        XCTAssertEqual(try fixture.redis.command(["SISMEMBER", EventKeys.outboxRegistry, EventKeys(eventID: eventID).outbox]).int, 1)
    }

    func testBadBodiesAre400AndCreateNothing() throws {
        fixture = try queueFixture(instances: 1)
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let before = try db.query("SELECT count(*) AS n FROM events").first!.int("n")
        let cases: [(String, String)] = [
            (#"{"kind":"sale"}"#, "name"),
            (#"{"name":"","kind":"sale"}"#, "name"),
            (#"{"name":"x","kind":"party"}"#, "kind"),
            (#"{"name":"x","kind":"sale","queue":{"maxActive":-1}}"#, "queue.maxActive"),
            (#"{"name":"x","kind":"sale","queue":{"maxActive":1.5}}"#, "queue.maxActive"),
            (#"{"name":"x","kind":"sale","queue":{"activeTtlSeconds":0}}"#, "queue.activeTtlSeconds"),
            (#"{"name":"x","kind":"sale","queue":{"admitPerSecond":0}}"#, "queue.admitPerSecond"),
            (#"{"name":"x","kind":"sale","queue":{"enabled":"yes"}}"#, "queue.enabled"),
            (#"{"name":"x","kind":"sale","queue":{"maxActiv":5}}"#, "queue.maxActiv"),
            (#"{"name":"x","kind":"sale","queue":[]}"#, "queue"),
            (#"{"name":"x","kind":"sale","startsAt":"tomorrow"}"#, "startsAt"),
        ]
        for (body, field) in cases {
            let response = try fixture.request("POST", "/admin/events", body: body, headers: ["X-Admin-Key": adminKey])
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "VALIDATION_FAILED", body)
            XCTAssertEqual(try fixture.json(response)["error"]?["details"]?["field"]?.stringValue, field, body)
        }
        XCTAssertEqual(try fixture.request("POST", "/admin/events", body: "{", headers: ["X-Admin-Key": adminKey]).status, 400)
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM events").first!.int("n"), before)
    }

    func testPatchChangesTheSettingsEverywhereAndGetReportsTheQueue() throws {
        fixture = try queueFixture(instances: 2)
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60,"admitPerSecond":5"#)
        let patched = try fixture.patchQueue(eventID, #"{"maxActive":7,"admitPerSecond":null}"#)
        XCTAssertEqual(patched.status, 200, patched.bodyText)
        let settings = try fixture.json(patched)
        XCTAssertEqual(settings["maxActive"]?.intValue, 7)
        XCTAssertEqual(settings["admitPerSecond"], .null)
        XCTAssertEqual(settings["enabled"], .bool(true))
        XCTAssertEqual(settings["activeTtlSeconds"]?.intValue, 60)
        let conf = EventKeys(eventID: eventID).queueConfiguration
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "maxActive"]).string, "7")
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "admitPerSecond"]).string, "0")
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "version"]).string, "2")

        // Bad PATCH bodies change nothing; abandonAfterSeconds is fixed at creation.
        for body in [#"{"maxActive":"9"}"#, #"{"abandonAfterSeconds":10}"#, #"{"enabled":1}"#] {
            let response = try fixture.patchQueue(eventID, body)
            XCTAssertEqual(response.status, 400, body)
        }
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "version"]).string, "2")
        XCTAssertEqual(try fixture.patchQueue("evt_000000000000000000000000", #"{"maxActive":1}"#).status, 404)

        // 20 racing PATCHes through two instances: Redis ends at PostgreSQL's last version.
        let requests = (1...20).map { RawHTTPClient.requestText("PATCH", "/admin/events/\(eventID)/queue",
                                                                 body: #"{"maxActive":\#($0)}"#, headers: ["X-Admin-Key": adminKey]) }
        XCTAssertEqual(try fixture.burst(requests, connectionsPerInstance: 10).filter { $0?.status == 200 }.count, 20)
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        let row = try db.query("SELECT max_active, queue_version FROM events WHERE id = $1", [eventID]).first!
        XCTAssertEqual(try row.int64("queue_version"), 22)
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "version"]).string, "22")
        XCTAssertEqual(try fixture.redis.command(["HGET", conf, "maxActive"]).string, String(try row.int("max_active")))

        let user = try fixture.newUser()
        _ = try fixture.enter(eventID, token: user.accessToken)
        let status = try fixture.json(try fixture.request("GET", "/admin/events/\(eventID)/queue", headers: ["X-Admin-Key": adminKey]))
        XCTAssertNotNil(status["waiting"]?.intValue)
        XCTAssertNotNil(status["active"]?.intValue)
        XCTAssertNotNil(status["admittedTotal"]?.intValue)
        XCTAssertNotNil(status["admitRatePerSecond"]?.doubleValue)
        XCTAssertEqual(status["enteredTotal"]?.intValue, 1)
        XCTAssertEqual(try fixture.request("GET", "/admin/events/evt_000000000000000000000000/queue", headers: ["X-Admin-Key": adminKey]).status, 404)
    }
}
