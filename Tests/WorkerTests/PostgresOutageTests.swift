// PostgreSQL stopped while charges keep flowing through two gateways: no charge fails (nothing on the
// hot path waits on PostgreSQL), and once it is back every charge arrives, none twice.
import Foundation
@testable import Gateway
import Persistence
import Runtime
import TestSupport
@testable import Worker
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class PostgresOutageTests: XCTestCase {
    /// How long PostgreSQL stays down. The issue asks for 30 s; the suite uses 10 s by default to keep
    /// the run short — set FLOODGATE_TEST_PG_OUTAGE_SECONDS=30 for the full-length outage.
    static var outageSeconds: Double {
        Double(ProcessInfo.processInfo.environment["FLOODGATE_TEST_PG_OUTAGE_SECONDS"] ?? "") ?? 10
    }

    func testChargesDuringAPostgresOutageAllArriveOnceItIsBack() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let stopCommand = environment["FLOODGATE_TEST_PG_STOP_CMD"], !stopCommand.isEmpty,
              let startCommand = environment["FLOODGATE_TEST_PG_START_CMD"], !startCommand.isEmpty else {
            XCTFail("FLOODGATE_TEST_PG_STOP_CMD and FLOODGATE_TEST_PG_START_CMD must be set (commands that stop and start the test PostgreSQL)")
            return
        }
        let fixture = try GatewayFixture(instances: 2)
        defer { fixture.shutdown() }
        let users = try (0..<10).map { _ in try fixture.newUser() }
        let consumer = OutboxConsumer(settings: try WorkerTestSupport.consumerSettings { $0.claimIdleMilliseconds = 30_000 })
        consumer.start()
        defer { consumer.stop() }

        // Charges in bursts of 10 per user, until told to stop.
        let requests = users.flatMap { user in
            (0..<10).map { _ in RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":7}"#,
                                                          headers: ["Authorization": "Bearer \(user.accessToken)"]) }
        }
        let outcome = LockedBox<(ids: [String], failures: [String], bursts: Int)>(([], [], 0))
        let stopCharging = LockedBox(false)
        let charging = DispatchGroup()
        charging.enter()
        Thread {
            defer { charging.leave() }
            while !stopCharging.snapshot {
                let responses = (try? fixture.burst(requests, connectionsPerInstance: 5)) ?? []
                var ids: [String] = [], failures: [String] = []
                for response in responses {
                    if let response, response.status == 200, let id = try? fixture.json(response)["chargeId"]?.stringValue {
                        ids.append(id)
                    } else {
                        failures.append(response.map { "\($0.status) \($0.bodyText)" } ?? "no response")
                    }
                }
                if responses.isEmpty { failures.append("burst failed") }
                outcome.with { $0.ids += ids; $0.failures += failures; $0.bursts += 1 }
                usleep(20_000)
            }
        }.start()

        sleep(1)
        var postgresDown = true
        XCTAssertEqual(runShell(stopCommand), 0, "FLOODGATE_TEST_PG_STOP_CMD failed")
        defer { if postgresDown { _ = runShell(startCommand) } }
        let chargedBefore = outcome.snapshot.ids.count
        usleep(UInt32(Self.outageSeconds * 1_000_000))
        let chargedDuring = outcome.snapshot.ids.count - chargedBefore
        XCTAssertEqual(runShell(startCommand), 0, "FLOODGATE_TEST_PG_START_CMD failed")
        postgresDown = false
        sleep(2)
        stopCharging.with { $0 = true }
        charging.wait()

        let result = outcome.snapshot
        XCTAssertEqual(result.failures.count, 0, "charges failed: \(result.failures.prefix(3))")
        XCTAssertGreaterThan(chargedDuring, 0, "no charge went through while PostgreSQL was down")
        let userIDs = users.map(\.id)
        let db = try WorkerTestSupport.migratedPostgres()
        defer { db.close() }
        XCTAssertTrue(waitUntil(60) { (try? WorkerTestSupport.rowCount(users: userIDs, db)) == result.ids.count },
                      "rows \((try? WorkerTestSupport.rowCount(users: userIDs, db)) ?? -1) of \(result.ids.count)")
        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: result.ids, db), result.ids.count, "every answered charge is a row")
        XCTAssertEqual(Set(result.ids).count, result.ids.count)
        let rows = try WorkerTestSupport.perUser(userIDs, db)
        let balances = try WorkerTestSupport.balances(userIDs, fixture.redis)
        for user in userIDs {
            XCTAssertEqual(rows[user]?.sum, balances[user], user)
            XCTAssertEqual(rows[user]?.maxBalance, balances[user], user)
        }
        let metrics = consumer.metrics.snapshot
        XCTAssertGreaterThan(metrics.postgresRetries, 0, "the consumer noticed the outage")
        XCTAssertEqual(metrics.deadLetters, 0, "an outage never dead-letters anything")
        print("outage \(Self.outageSeconds) s: \(result.ids.count) charges (\(chargedDuring) during the outage), \(metrics.postgresRetries) batch retries")
    }
}
