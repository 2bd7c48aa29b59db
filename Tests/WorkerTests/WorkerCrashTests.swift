// The real `floodgate worker` binary, SIGKILLed while it drains a large backlog, then a second one
// started: every event is written exactly once.
import Foundation
import Persistence
import Runtime
import TestSupport
@testable import Worker
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class WorkerCrashTests: XCTestCase {
    func testAWorkerKilledMidBatchAndRestartedWritesEveryEventExactlyOnce() throws {
        guard let binary = ChildProcess.floodgateBinary() else {
            XCTFail("no floodgate executable beside the test bundle (\(CommandLine.arguments[0])) or in .build/debug")
            return
        }
        let redis = RedisBlockingConnection(endpoint: try TestServices.redis())
        let db = try WorkerTestSupport.migratedPostgres()
        defer { db.close() }
        let prefix = WorkerTestSupport.runTag("c")
        let users = (0..<100).map { "usr_\(prefix)_\($0)" }
        var charges: [(user: String, amount: Int64)] = []
        for round in 0..<1_000 { for user in users { charges.append((user, Int64(1 + round % 50))) } }
        let ids = try WorkerTestSupport.charge(charges, clients: 8)
        XCTAssertEqual(ids.count, 100_000)

        let environment = [
            "FLOODGATE_REDIS_URL": try TestServices.redis().description,
            "FLOODGATE_PG_URL": try TestServices.postgresURL(),
            "FLOODGATE_WORKER_PORT": "0",
            "FLOODGATE_WORKER_CLAIM_IDLE_MS": "1000",
            // Small rounds: the kill lands inside a batch, with entries delivered and not yet acknowledged.
            "FLOODGATE_WORKER_BATCH": "200",
        ]
        let logDir = NSTemporaryDirectory()
        let first = try ChildProcess(binary: binary, arguments: ["worker"], environment: environment,
                                     logPath: "\(logDir)/\(prefix)-first.log")
        // Kill it while it is well into the backlog and far from its end.
        let midway = waitUntil(120) {
            let n = (try? WorkerTestSupport.rowCount(users: users, db)) ?? 0
            return n >= 10_000 || !first.isRunning
        }
        first.kill(signal: SIGKILL)
        let atKill = try WorkerTestSupport.rowCount(users: users, db)
        XCTAssertTrue(midway, "the first worker wrote \(atKill) rows in 120 s; log:\n\(first.log.suffix(2_000))")
        XCTAssertLessThan(atKill, 100_000, "the kill came too late to test anything")
        let leftPending = try WorkerTestSupport.pending(OutboxStreams.userOutboxes, redis).values.reduce(0, +)
        print("killed the first worker at \(atKill) rows with \(leftPending) entries pending")

        let second = try ChildProcess(binary: binary, arguments: ["worker"], environment: environment,
                                      logPath: "\(logDir)/\(prefix)-second.log")
        defer { second.kill(signal: SIGKILL) }
        XCTAssertTrue(waitUntil(180) { (try? WorkerTestSupport.rowCount(users: users, db)) == 100_000 },
                      "rows: \((try? WorkerTestSupport.rowCount(users: users, db)) ?? -1); log:\n\(second.log.suffix(2_000))")
        XCTAssertTrue(waitUntil(30) { (try? WorkerTestSupport.pendingEntries(mentioning: prefix, redis).isEmpty) == true },
                      "entries of this test still pending")
        if leftPending > 0 {
            XCTAssertTrue(second.log.contains("took over entries left by idle consumers"), "the second worker reclaimed nothing")
        }
        let port = second.listeningPort
        second.kill(signal: SIGTERM)

        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: ids, db), 100_000, "every event is a row")
        XCTAssertEqual(try WorkerTestSupport.rowCount(users: users, db), 100_000, "and no row is there twice")
        let rows = try WorkerTestSupport.perUser(users, db)
        let balances = try WorkerTestSupport.balances(users, redis)
        for user in users {
            XCTAssertEqual(rows[user]?.count, 1_000, user)
            XCTAssertEqual(rows[user]?.sum, balances[user], user)
            XCTAssertEqual(rows[user]?.maxBalance, balances[user], user)
        }
        XCTAssertNotNil(port, "the worker logged its port")
        XCTAssertFalse(second.log.contains("dead-letter"), "nothing was dead-lettered:\n\(second.log.suffix(2_000))")
    }
}
