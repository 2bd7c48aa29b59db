// What the queue suites share: a fixture with the admin key set, event creation, and the place-in-line
// requests of one user.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

let adminKey = "test-admin-key"

/// Gateways with an admin key and fast admission rounds (tests wait on admissions).
func queueFixture(instances: Int = 2, admissionIntervalMs: Int = 50) throws -> GatewayFixture {
    try GatewayFixture(instances: instances) { configuration in
        configuration.adminKey = adminKey
        configuration.admissionIntervalMilliseconds = admissionIntervalMs
    }
}

struct Place {
    let status: String
    let token: String?
    let position: Int64
    let etaSeconds: Int64?
    let pollAfterMs: Int64

    init(_ json: JSONValue) {
        status = json["status"]?.stringValue ?? "?"
        token = json["queueToken"]?.stringValue
        position = json["position"]?.intValue ?? -1
        etaSeconds = json["etaSeconds"]?.intValue
        pollAfterMs = json["pollAfterMs"]?.intValue ?? -1
    }
}

extension GatewayFixture {
    /// Creates an event whose queue has `queue` (a JSON object's members) and returns its id.
    func createEvent(_ queue: String, kind: String = "sale") throws -> String {
        let response = try request("POST", "/admin/events", body: #"{"name":"Test sale","kind":"\#(kind)","queue":{\#(queue)}}"#,
                                   headers: ["X-Admin-Key": adminKey])
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try json(response)["eventId"]!.stringValue!
    }

    func patchQueue(_ eventID: String, _ body: String) throws -> RawResponse {
        try request("PATCH", "/admin/events/\(eventID)/queue", body: body, headers: ["X-Admin-Key": adminKey])
    }

    func enter(_ eventID: String, token: String, instance: Int = 0) throws -> (status: Int, place: Place) {
        let response = try request("POST", "/events/\(eventID)/queue", token: token, instance: instance)
        return (response.status, Place(try json(response)))
    }

    func poll(_ eventID: String, token: String, queueToken: String, instance: Int = 0) throws -> Place {
        let response = try request("GET", "/events/\(eventID)/queue", token: token, headers: ["X-Queue-Token": queueToken],
                                   instance: instance)
        XCTAssertEqual(response.status, 200, response.bodyText)
        return Place(try json(response))
    }

    func pollRequest(_ eventID: String, token: String, queueToken: String) -> String {
        RawHTTPClient.requestText("GET", "/events/\(eventID)/queue",
                                  headers: ["Authorization": "Bearer \(token)", "X-Queue-Token": queueToken])
    }

    /// Polls until `condition` holds for the place (or `seconds` pass); returns the last place seen.
    func pollUntil(_ eventID: String, token: String, queueToken: String, seconds: Double = 10,
                   _ condition: (Place) -> Bool) throws -> Place {
        var last = try poll(eventID, token: token, queueToken: queueToken)
        let deadline = Date().addingTimeInterval(seconds)
        while !condition(last) && Date() < deadline {
            usleep(50_000)
            last = try poll(eventID, token: token, queueToken: queueToken)
        }
        return last
    }

    /// QUEUE_ADMITTED events of the event's outbox, in stream (admission) order, as (userId, seq).
    func admissions(_ eventID: String) throws -> [(user: String, seq: Int64)] {
        guard case .array(let entries) = try redis.command(["XRANGE", EventKeys(eventID: eventID).outbox, "-", "+"]) else { return [] }
        return entries.compactMap { entry in
            guard case .array(let parts) = entry, parts.count == 2, case .array(let fields) = parts[1] else { return nil }
            var event: [String: String] = [:]
            for i in stride(from: 0, to: fields.count - 1, by: 2) { event[fields[i].string ?? ""] = fields[i + 1].string ?? "" }
            guard event["type"] == "QUEUE_ADMITTED", let data = event["data"],
                  let json = try? JSONParser.parse(Array(data.utf8)) else { return nil }
            return (json["userId"]?.stringValue ?? "", json["seq"]?.intValue ?? -1)
        }
    }
}

/// The seq a queue token carries (`<seq>.<mac>`).
func seq(of token: String) -> Int64 { Int64(token.split(separator: ".")[0]) ?? -1 }
