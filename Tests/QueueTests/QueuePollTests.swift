// The poll's fast path (plain reads, no script, once this loop's script confirmed the token in the
// current window) answers exactly what the script would, and gives up nothing: logout, leave, admission
// and expiry show at once.
import Foundation
@testable import Gateway
import JSON
import Queue
import Runtime
import TestSupport
import XCTest

final class QueuePollTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try queueFixture(instances: 1)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    /// Polls `count` times on one keep-alive connection (so on one loop); the bodies and statuses.
    private func polls(_ eventID: String, _ token: String, _ queueToken: String, count: Int,
                       on client: RawHTTPClient) -> [RawResponse] {
        (0..<count).compactMap { _ in
            client.send(fixture.pollRequest(eventID, token: token, queueToken: queueToken))
            return client.readResponse()
        }
    }

    private func pollCounts() throws -> (fast: Int, script: Int) {
        let text = try fixture.request("GET", "/metrics").bodyText
        func value(_ path: String) -> Int {
            let prefix = "floodgate_queue_polls_total{path=\"\(path)\"} "
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? -1
        }
        return (value("fast"), value("script"))
    }

    func testTheFastPathAnswersWhatTheScriptAnswers() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let users = try fixture.seedUsers(3)
        let tokens = try users.map { try fixture.enter(eventID, token: $0.token).place.token! }
        XCTAssertTrue(waitUntil(5) {  // an admission round has stored the rate the fast path reads
            (try? self.fixture.redis.command(["HGET", EventKeys(eventID: eventID).queueState, "etaRate"]).string) != nil
        })
        let before = try pollCounts()
        let client = try RawHTTPClient(port: fixture.ports[0])
        let answers = polls(eventID, users[2].token, tokens[2], count: 20, on: client)
        XCTAssertEqual(answers.count, 20)
        XCTAssertTrue(answers.allSatisfy { $0.status == 200 })
        XCTAssertEqual(Set(answers.map(\.bodyText)).count, 1, "script and fast path give the same body: \(Set(answers.map(\.bodyText)))")
        XCTAssertEqual(Place(try fixture.json(answers[0])).position, 3)
        let after = try pollCounts()
        XCTAssertGreaterThanOrEqual(after.fast - before.fast, 18, "after the first poll on this loop, polls skip the script")
        XCTAssertLessThanOrEqual(after.script - before.script, 2)

        // Someone ahead leaves: the fast path sees it at once.
        XCTAssertEqual(try fixture.request("DELETE", "/events/\(eventID)/queue", token: users[0].token,
                                           headers: ["X-Queue-Token": tokens[0]]).status, 204)
        XCTAssertEqual(Place(try fixture.json(polls(eventID, users[2].token, tokens[2], count: 1, on: client)[0])).position, 2)

        // Admission: the fast path reports ACTIVE with activeUntil, like the script.
        XCTAssertEqual(try fixture.patchQueue(eventID, #"{"maxActive":5}"#).status, 200)
        var active: RawResponse?
        XCTAssertTrue(waitUntil(5) {
            active = self.polls(eventID, users[2].token, tokens[2], count: 1, on: client).first
            return active.map { Place((try? self.fixture.json($0)) ?? .null).status } == "ACTIVE"
        })
        XCTAssertNotNil(try fixture.json(active!)["activeUntil"]?.stringValue)

        // Leaving the active slot: EXPIRED at once.
        XCTAssertEqual(try fixture.request("DELETE", "/events/\(eventID)/queue", token: users[2].token,
                                           headers: ["X-Queue-Token": tokens[2]]).status, 204)
        XCTAssertEqual(Place(try fixture.json(polls(eventID, users[2].token, tokens[2], count: 1, on: client)[0])).status, "EXPIRED")
    }

    func testLogoutStopsFastPollsAtOnceAndForeignTokensNeverTakeTheFastPath() throws {
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let (user, other) = (try fixture.newUser(), try fixture.newUser())
        let token = try fixture.enter(eventID, token: user.accessToken).place.token!
        _ = try fixture.enter(eventID, token: other.accessToken)
        let client = try RawHTTPClient(port: fixture.ports[0])
        XCTAssertTrue(polls(eventID, user.accessToken, token, count: 5, on: client).allSatisfy { $0.status == 200 })
        // Another user presenting this (confirmed) token is refused: the cache is keyed by user and token.
        let stolen = polls(eventID, other.accessToken, token, count: 3, on: client)
        XCTAssertTrue(stolen.allSatisfy { $0.status == 403 }, "\(stolen.map(\.status))")
        // A token that merely carries the right seq is not confirmed, so the script checks its MAC.
        let forged = token.split(separator: ".")[0] + "." + String(repeating: "0", count: 24)
        XCTAssertEqual(polls(eventID, user.accessToken, String(forged), count: 1, on: client).first?.status, 403)

        XCTAssertEqual(try fixture.request("POST", "/auth/logout", token: user.accessToken).status, 204)
        XCTAssertEqual(polls(eventID, user.accessToken, token, count: 1, on: client).first?.status, 401)
    }
}
