// Every scenario at small scale against two real gateways (real Redis, real PostgreSQL) with an outbox
// consumer writing behind, as `floodgate worker` would: the storm must pass, and the counts in its report
// must be what the server recorded — read here independently, from PostgreSQL and Redis-backed routes.
import Foundation
import Gateway
import JSON
import Persistence
import Runtime
@testable import Storm
import TestSupport
import Worker
import XCTest

final class StormScenarioTests: XCTestCase {
    private static let adminKey = "storm-test-admin-key"
    private var fixture: GatewayFixture!
    private var consumer: OutboxConsumer!
    private var db: PostgresConnection!

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 2) { $0.adminKey = Self.adminKey }
        consumer = OutboxConsumer(settings: OutboxConsumer.Settings(redis: try TestServices.redis(), postgresURL: try TestServices.postgresURL()))
        consumer.start()
        db = try PostgresConnection(url: try TestServices.postgresURL())
    }

    override func tearDown() {
        _ = consumer?.stop()
        db?.close()
        fixture?.shutdown()
    }

    private func options(_ scenario: StormScenarioKind, clients: Int) -> StormOptions {
        var options = StormOptions(scenario: scenario)
        options.targets = fixture.ports.map { "http://127.0.0.1:\($0)" }
        options.adminKey = Self.adminKey
        options.clients = clients
        options.stock = 7
        options.seats = 6
        options.coupons = 5
        options.maxActive = 4
        options.durationSeconds = 60
        options.drainTimeoutSeconds = 30
        options.settleSeconds = 5
        options.connectionsPerTarget = 16
        return options
    }

    private func storm(_ options: StormOptions) throws -> StormReport {
        let report = try Storm.run(options, configuration: fixture.gateways[0].services.configuration)
        XCTAssertTrue(report.passed, report.text)
        XCTAssertEqual(report.exitStatus, 0)
        XCTAssertFalse(report.stoppedByDeadline, "each scenario ends by itself when its work is done")
        XCTAssertEqual(report.traffic.transportErrors, 0, report.text)
        return report
    }

    private func facts(_ report: StormReport, _ scenario: String) throws -> JSONObject {
        try XCTUnwrap(report.observations.first { $0.scenario == scenario }?.facts)
    }

    private func count(_ report: StormReport, _ operation: String, _ status: String) -> Int {
        report.traffic.operations[operation]?[status] ?? 0
    }

    private func paidUnits(_ productID: String) throws -> Int {
        try db.integer("""
            SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
            WHERE oi.product_id = $1 AND o.status = 'PAID'
            """, [productID])
    }

    func testFlashSaleSellsExactlyTheStockAndTheReportSaysSo() throws {
        let report = try storm(options(.flashSale, clients: 20))
        let sale = try facts(report, "flash-sale")
        let product = try XCTUnwrap(sale["productId"]?.stringValue)
        XCTAssertEqual(count(report, "POST /orders", "201"), 7)
        XCTAssertEqual(count(report, "POST /orders", "409"), 13)
        XCTAssertEqual(try paidUnits(product), 7, "PostgreSQL holds the 7 PAID units the report counted")
        let stock = try fixture.json(try fixture.request("GET", "/products/\(product)"))["stock"]
        XCTAssertEqual(stock, 0)
        XCTAssertEqual(report.traffic.requests, 20)
        XCTAssertEqual(report.traffic.latency.count, 20)
    }

    func testRoundsRaceForFreshStockWithTheSameUsers() throws {
        var three = options(.flashSale, clients: 10)
        three.rounds = 3
        let report = try storm(three)
        XCTAssertEqual(report.rounds.map(\.rounds), [3])
        XCTAssertEqual(count(report, "POST /orders", "201"), 21, "7 units in each of 3 rounds")
        XCTAssertEqual(count(report, "POST /orders", "409"), 9)
        var products = Set<String>()
        for round in 1...3 {
            let sale = try facts(report, "flash-sale #\(round)")
            let product = try XCTUnwrap(sale["productId"]?.stringValue)
            products.insert(product)
            XCTAssertEqual(try paidUnits(product), 7, "round \(round)")
        }
        XCTAssertEqual(products.count, 3, "each round its own product")
        // Every invariant is checked per round; the text collapses the ones that held in all of them.
        XCTAssertTrue(report.invariants.contains { $0.scenario == "flash-sale #3" })
        XCTAssertTrue(report.text.contains("all 3 rounds"), report.text)
    }

    func testQueueFloodAdmitsEveryoneInArrivalOrder() throws {
        let report = try storm(options(.queueFlood, clients: 12))
        let flood = try facts(report, "queue-flood")
        let event = try XCTUnwrap(flood["eventId"]?.stringValue)
        let product = try XCTUnwrap(flood["productId"]?.stringValue)
        XCTAssertEqual(count(report, "POST /events/{eventId}/queue", "201"), 12)
        XCTAssertEqual(count(report, "POST /orders", "201"), 12)
        XCTAssertEqual(try db.integer("SELECT count(DISTINCT user_id) FROM queue_admissions WHERE event_id = $1", [event]), 12)
        XCTAssertEqual(try paidUnits(product), 12)
        XCTAssertEqual(flood["admitted"], 12)
        // maxActive 4 < 12: some had to wait and poll.
        XCTAssertGreaterThan(count(report, "GET /events/{eventId}/queue", "200"), 0)
    }

    func testSeatRaceSellsEachSeatOnce() throws {
        let report = try storm(options(.seatRace, clients: 15))
        let race = try facts(report, "seat-race")
        let performance = try XCTUnwrap(race["performanceId"]?.stringValue)
        XCTAssertEqual(count(report, "POST /payments", "201"), 6)
        XCTAssertEqual(try db.integer("SELECT count(*) FROM reservations WHERE performance_id = $1 AND status = 'CONFIRMED'", [performance]), 6)
        XCTAssertEqual(try db.integer("SELECT count(DISTINCT seat_no) FROM reservations WHERE performance_id = $1 AND status = 'CONFIRMED'", [performance]), 6)
        XCTAssertEqual(race["confirmed"], 6)
    }

    func testCouponRaceIssuesExactlyTheQuantity() throws {
        let report = try storm(options(.couponRace, clients: 12))
        let race = try facts(report, "coupon-race")
        let coupon = try XCTUnwrap(race["couponId"]?.stringValue)
        XCTAssertEqual(count(report, "POST /coupons/{couponId}/issue", "201"), 5)
        XCTAssertEqual(count(report, "POST /coupons/{couponId}/issue", "409"), 7)
        XCTAssertEqual(try db.integer("SELECT count(*) FROM coupon_issues WHERE coupon_id = $1", [coupon]), 5)
        let remaining = try fixture.json(try fixture.request("GET", "/coupons/\(coupon)"))["remaining"]
        XCTAssertEqual(remaining, 0)
    }

    func testMixedRunsEveryScenarioAtOnceThroughBothGateways() throws {
        var options = options(.mixed, clients: 40)
        options.jsonPath = NSTemporaryDirectory() + "storm-\(getpid())-\(SecureRandom.hex(bytes: 4)).json"
        defer { try? FileManager.default.removeItem(atPath: options.jsonPath!) }
        let report = try storm(options)
        XCTAssertEqual(Set(report.observations.map(\.scenario)), ["queue-flood", "flash-sale", "seat-race", "coupon-race"])
        XCTAssertEqual(report.clients, 40)
        let written = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: options.jsonPath!))))
        XCTAssertEqual(written["passed"], true)
        XCTAssertEqual(written["requests"]?.intValue, Int64(report.traffic.requests))
        XCTAssertEqual(written["invariants"]?.arrayValue?.count, report.invariants.count)
        let sale = try facts(report, "flash-sale")
        XCTAssertEqual(try paidUnits(try XCTUnwrap(sale["productId"]?.stringValue)), 7)
    }

    func testEachPartOfMixedRunsItsOwnRounds() throws {
        var twice = options(.mixed, clients: 32)
        twice.rounds = 2
        let report = try storm(twice)
        XCTAssertEqual(report.rounds.map(\.scenario), ["queue-flood", "flash-sale", "seat-race", "coupon-race"])
        XCTAssertEqual(report.rounds.map(\.rounds), [2, 2, 2, 2])
        XCTAssertEqual(count(report, "POST /coupons/{couponId}/issue", "201"), 10, "5 coupons in each of 2 rounds")
        for round in 1...2 {
            let sale = try facts(report, "flash-sale #\(round)")
            XCTAssertEqual(try paidUnits(try XCTUnwrap(sale["productId"]?.stringValue)), 7, "round \(round)")
        }
    }
}
