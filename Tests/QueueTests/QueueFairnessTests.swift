// The queue is exactly fair under concurrency: arrival order at Redis is waiting order is admission
// order, positions are unique and never grow, and active never passes maxActive — with the requests
// and the admission rounds spread over several gateway instances. Checked in Redis and in PostgreSQL.
import Foundation
@testable import Gateway
import JSON
import Persistence
import Queue
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class QueueFairnessTests: XCTestCase {
    var fixture: GatewayFixture!

    override func tearDown() {
        fixture?.shutdown()
    }

    func testTwoThousandConcurrentEntrantsAreAdmittedExactlyInArrivalOrder() throws {
        fixture = try queueFixture(instances: 2)
        // The doors are held (maxActive 0) while everyone arrives, so positions are taken at one moment.
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":600"#)
        let users = try fixture.seedUsers(2_000)
        let enters = users.map { RawHTTPClient.requestText("POST", "/events/\(eventID)/queue", headers: ["Authorization": "Bearer \($0.token)"]) }
        let responses = try fixture.burst(enters, connectionsPerInstance: 100)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 2_000)
        let places = try responses.map { Place(try fixture.json($0!)) }
        let tokens = places.map { $0.token ?? "" }

        // No two users share a position or a seq; at entry, position = how many arrived before + 1.
        XCTAssertEqual(Set(places.map(\.position)), Set(1...2_000))
        XCTAssertEqual(Set(tokens.map(seq(of:))).count, 2_000)
        for place in places { XCTAssertEqual(place.position, seq(of: place.token!) - seq(of: tokens.min { seq(of: $0) < seq(of: $1) }!) + 1) }

        // Polled now (through both instances), the positions are the same permutation.
        let polls = try fixture.burst(zip(users, tokens).map { fixture.pollRequest(eventID, token: $0.0.token, queueToken: $0.1) })
        let polled = try polls.map { Place(try fixture.json($0!)) }
        XCTAssertEqual(polled.map(\.position), places.map(\.position))

        // Open the doors in rounds of 150 per second from both instances' tickers.
        XCTAssertEqual(try fixture.patchQueue(eventID, #"{"maxActive":2000,"admitPerSecond":1000}"#).status, 200)
        XCTAssertTrue(waitUntil(20) { ((try? self.fixture.admissions(eventID).count) ?? 0) >= 2_000 })
        let admitted = try fixture.admissions(eventID)
        XCTAssertEqual(admitted.count, 2_000, "each user admitted once")
        XCTAssertEqual(admitted.map(\.seq), admitted.map(\.seq).sorted(), "admission order is seq order")
        XCTAssertEqual(Set(admitted.map(\.user)), Set(users.map(\.id)))
        let seqByUser = Dictionary(uniqueKeysWithValues: zip(users.map(\.id), tokens.map(seq(of:))))
        for admission in admitted { XCTAssertEqual(admission.seq, seqByUser[admission.user]) }
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).waiting]).int, 0)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).active]).int, 2_000)

        // The worker finds the event's stream in the registry and writes the admissions to PostgreSQL;
        // there too, time order is seq order.
        let consumer = try startConsumer()
        defer { _ = consumer.stop() }
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        XCTAssertTrue(waitUntil(20) {
            ((try? db.query("SELECT count(*) AS n FROM queue_admissions WHERE event_id = $1", [eventID]).first?.int("n")) ?? 0) == 2_000
        })
        let rows = try db.query("SELECT user_id, seq FROM queue_admissions WHERE event_id = $1 ORDER BY admitted_at, seq", [eventID])
        XCTAssertEqual(try rows.map { try $0.int64("seq") }, admitted.map(\.seq))
        XCTAssertEqual(try rows.map { try $0.string("user_id") }, admitted.map(\.user))
    }

    func testPositionsNeverGrowAndActiveNeverPassesMaxActiveWhileThreeInstancesAdmit() throws {
        fixture = try queueFixture(instances: 3, admissionIntervalMs: 20)
        let maxActive = 40
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":\#(maxActive),"activeTtlSeconds":1"#)
        let users = try fixture.seedUsers(400)
        let enters = users.map { RawHTTPClient.requestText("POST", "/events/\(eventID)/queue", headers: ["Authorization": "Bearer \($0.token)"]) }
        let tokens = try fixture.burst(enters).map { Place(try fixture.json($0!)).token! }
        let keys = EventKeys(eventID: eventID)

        var lastPosition = [Int64](repeating: .max, count: users.count)
        var rounds = 0
        var maxSeenActive: Int64 = 0
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline {
            rounds += 1
            let active = try fixture.redis.command(["ZCARD", keys.active]).int ?? -1
            maxSeenActive = max(maxSeenActive, active)
            XCTAssertLessThanOrEqual(active, Int64(maxActive), "active passed maxActive")
            let stillWaiting = users.indices.filter { lastPosition[$0] > 0 }
            if stillWaiting.isEmpty { break }
            let polls = try fixture.burst(stillWaiting.map { fixture.pollRequest(eventID, token: users[$0].token, queueToken: tokens[$0]) },
                                          connectionsPerInstance: 20)
            for (i, response) in zip(stillWaiting, polls) {
                let place = Place(try fixture.json(response!))
                switch place.status {
                case "WAITING":
                    XCTAssertLessThanOrEqual(place.position, lastPosition[i], "a position grew")
                    lastPosition[i] = place.position
                case "ACTIVE", "EXPIRED":
                    lastPosition[i] = 0
                default:
                    XCTFail("unexpected status \(place.status)")
                }
            }
        }
        XCTAssertTrue(lastPosition.allSatisfy { $0 == 0 }, "everyone was admitted within the time")
        XCTAssertGreaterThan(rounds, 5)
        XCTAssertEqual(maxSeenActive, Int64(maxActive), "the active set was filled to the cap at some point")
        let admitted = try fixture.admissions(eventID)
        XCTAssertEqual(admitted.count, users.count)
        XCTAssertEqual(admitted.map(\.seq), admitted.map(\.seq).sorted())
    }

    func testFiftyConcurrentEntersByOneUserGiveOneToken() throws {
        fixture = try queueFixture(instances: 2)
        let eventID = try fixture.createEvent(#""enabled":true,"maxActive":0,"activeTtlSeconds":60"#)
        let user = try fixture.newUser()
        let enter = RawHTTPClient.requestText("POST", "/events/\(eventID)/queue", headers: ["Authorization": "Bearer \(user.accessToken)"])
        let responses = try fixture.burst(Array(repeating: enter, count: 50), connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 1, "one entry is new")
        XCTAssertEqual(responses.filter { $0?.status == 200 }.count, 49, "the others get it back")
        let tokens = Set(try responses.map { Place(try fixture.json($0!)).token ?? "" })
        XCTAssertEqual(tokens.count, 1)
        XCTAssertEqual(try fixture.redis.command(["ZCARD", EventKeys(eventID: eventID).waiting]).int, 1)
    }

    /// An outbox consumer with the worker's defaults (user shards plus the stream registry).
    private func startConsumer() throws -> OutboxConsumer {
        let settings = OutboxConsumer.Settings(redis: try TestServices.redis(), postgresURL: try TestServices.postgresURL())
        let consumer = OutboxConsumer(settings: settings)
        consumer.start()
        return consumer
    }
}
