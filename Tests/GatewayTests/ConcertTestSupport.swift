// What the concert suites share: creating a concert through the admin route, the hold request's text for
// bursts, and reading an event's outbox stream and seat hash straight from Redis.
import Foundation
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

let concertAdminKey = "concert-admin-key"

func startConcertFixture(instances: Int = 2, holdSeconds: Int = 300) throws -> GatewayFixture {
    try GatewayFixture(instances: instances) {
        $0.adminKey = concertAdminKey
        $0.holdTTLSeconds = holdSeconds
        $0.admissionIntervalMilliseconds = 50
    }
}

extension GatewayFixture {
    /// A concert with `performances` performances of `seats` seats, starting tomorrow and after; its id
    /// and its performance ids.
    func concert(seats: Int = 50, performances: Int = 1, price: Int = 50_000, queue: String = #""enabled":false"#,
                 extra: String = "") throws -> (id: String, performances: [String]) {
        let starts = (0..<performances).map { Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) + Int64($0 + 1) * 86_400_000) }
        let list = starts.map { #"{"startsAt":"\#($0)","price":\#(price),"seats":\#(seats)}"# }.joined(separator: ",")
        let response = try request("POST", "/admin/concerts",
                                   body: #"{"name":"Tour","artist":"Band","queue":{\#(queue)},"performances":[\#(list)]\#(extra)}"#,
                                   headers: ["X-Admin-Key": concertAdminKey])
        XCTAssertEqual(response.status, 201, response.bodyText)
        let json = try self.json(response)
        return (json["concertId"]!.stringValue!, json["performances"]!.arrayValue!.map { $0["performanceId"]!.stringValue! })
    }

    func holdText(_ performanceID: String, _ seat: Int, token: String, queueToken: String? = nil) -> String {
        var headers = ["Authorization": "Bearer \(token)"]
        if let queueToken { headers["X-Queue-Token"] = queueToken }
        return RawHTTPClient.requestText("POST", "/performances/\(performanceID)/seats/\(seat)/hold", headers: headers)
    }

    func hold(_ performanceID: String, _ seat: Int, token: String, queueToken: String? = nil) throws -> RawResponse {
        try request("POST", "/performances/\(performanceID)/seats/\(seat)/hold", token: token,
                    headers: queueToken.map { ["X-Queue-Token": $0] } ?? [:])
    }

    /// The seat statuses GET /performances/{id}/seats shows, by seat number.
    func seatStatuses(_ performanceID: String, token: String? = nil) throws -> [Int64: String] {
        let response = try request("GET", "/performances/\(performanceID)/seats", token: token)
        XCTAssertEqual(response.status, 200, response.bodyText)
        var statuses: [Int64: String] = [:]
        for seat in try json(response)["seats"]?.arrayValue ?? [] { statuses[seat["seatNo"]!.intValue!] = seat["status"]!.stringValue! }
        return statuses
    }

    /// The event's outbox entries of `type` (their fields).
    func eventOutbox(_ eventID: String, type: String) throws -> [[String: String]] {
        guard case .array(let entries) = try redis.command(["XRANGE", EventKeys(eventID: eventID).outbox, "-", "+"]) else { return [] }
        return entries.compactMap { entry -> [String: String]? in
            guard case .array(let parts) = entry, parts.count == 2, case .array(let fields) = parts[1] else { return nil }
            var event: [String: String] = [:]
            for i in stride(from: 0, to: fields.count - 1, by: 2) { event[fields[i].string ?? ""] = fields[i + 1].string ?? "" }
            return event["type"] == type ? event : nil
        }
    }

    /// The raw seat hash: seat number → "HELD <id> <deadline>" / "SOLD <id>".
    func seatHash(_ eventID: String, _ performanceID: String) throws -> [String: String] {
        guard case .array(let fields) = try redis.command(["HGETALL", EventKeys(eventID: eventID).seats(performanceID)]) else { return [:] }
        var out: [String: String] = [:]
        for i in stride(from: 0, to: fields.count - 1, by: 2) { out[fields[i].string ?? ""] = fields[i + 1].string ?? "" }
        return out
    }

    /// Redis's clock, in milliseconds.
    func redisNow() throws -> Int64 {
        guard case .array(let clock) = try redis.command(["TIME"]), let seconds = clock[0].int, let micros = clock[1].int else { return 0 }
        return seconds * 1000 + micros / 1000
    }

    /// Stops every instance's hold sweeper and waits until each loop has taken the stop, so from here on
    /// only readers release lapsed holds.
    func stopSweepers() {
        for gateway in gateways {
            guard let sweeper = gateway.services.holdSweeper else { continue }
            sweeper.stop()
            let taken = DispatchSemaphore(value: 0)
            sweeper.loop.execute { taken.signal() }
            taken.wait()
        }
    }

    func errorCode(_ response: RawResponse?) -> String? {
        guard let response else { return nil }
        return (try? json(response))?["error"]?["code"]?.stringValue
    }
}
