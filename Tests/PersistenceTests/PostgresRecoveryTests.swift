// The pool after the server goes away: backends terminated under it (needs nothing but SQL), and a real
// restart of PostgreSQL through FLOODGATE_TEST_PG_RESTART_CMD. In both, a job caught in flight must
// fail with a broken-connection error, and the same pool must serve queries afterwards.
import Dispatch
import Foundation
import Persistence
import TestSupport
import XCTest

final class PostgresRecoveryTests: PostgresTestCase {
    var pool: PostgresPool?
    var applicationName = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        applicationName = TestEnvironment.uniqueName("recovery")
    }

    override func tearDownWithError() throws {
        pool?.shutdown()
        try super.tearDownWithError()
    }

    func makePool(size: Int) -> PostgresPool {
        let pool = PostgresPool(url: poolURL(applicationName: applicationName), size: size)
        self.pool = pool
        return pool
    }

    /// The pool's backends, as pg_stat_activity sees them from a separate connection.
    func poolBackends(state: String? = nil) throws -> Int {
        let admin = try PostgresConnection(url: url)
        let rows = try admin.query("""
            SELECT count(*) AS n FROM pg_stat_activity
            WHERE application_name = $1 AND ($2::text IS NULL OR state = $2)
            """, [applicationName, state])
        return try rows[0].int("n")
    }

    func terminatePoolBackends() throws -> Int {
        let admin = try PostgresConnection(url: url)
        let rows = try admin.query("""
            SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1
            """, [applicationName])
        return rows.count
    }

    /// Submits a job that sleeps server-side and waits until it is running; returns its outcome box.
    func startSleepingJob(_ pool: PostgresPool, done: DispatchSemaphore) throws -> Locked<Result<Void, Error>?> {
        let outcome = Locked<Result<Void, Error>?>(nil)
        pool.submit({ conn in _ = try conn.query("SELECT pg_sleep(60)") },
                    completion: { result in outcome.with { $0 = result }; done.signal() })
        XCTAssertTrue(try waitUntil(10) { try poolBackends(state: "active") == 1 }, "the sleeping job never started")
        return outcome
    }

    func assertBrokenConnection(_ outcome: Result<Void, Error>?, file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let error)? = outcome else {
            return XCTFail("the in-flight job did not fail: \(String(describing: outcome))", file: file, line: line)
        }
        guard let error = error as? PostgresError else { return XCTFail("not a PostgresError: \(error)", file: file, line: line) }
        XCTAssertEqual(error.code, .connectionLost, "\(error)", file: file, line: line)
        XCTAssertTrue(error.isConnectionBroken, file: file, line: line)
    }

    func testIdleConnectionsTerminatedUnderThePoolAreReplaced() throws {
        let pool = makePool(size: 2)
        // Two overlapping jobs so both threads open a connection.
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            pool.submit({ try $0.query("SELECT pg_sleep(0.2)") }, completion: { _ in group.leave() })
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try poolBackends(), 2)

        XCTAssertEqual(try terminatePoolBackends(), 2)
        XCTAssertTrue(try waitUntil(10) { try poolBackends() == 0 })
        // Nothing was in flight, so nothing needs to fail: each thread notices its dead connection
        // before using it and reconnects.
        for i in 0..<20 {
            XCTAssertEqual(try pool.run { try $0.query("SELECT $1::int AS v", [i])[0].int("v") }, i)
        }
        XCTAssertTrue(pool.lastHealthy)
    }

    func testJobInFlightWhenItsBackendIsTerminatedFailsAsBroken() throws {
        let pool = makePool(size: 1)
        let done = DispatchSemaphore(value: 0)
        let outcome = try startSleepingJob(pool, done: done)
        XCTAssertEqual(try terminatePoolBackends(), 1)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        assertBrokenConnection(outcome.snapshot)
        XCTAssertFalse(pool.lastHealthy)
        // Same pool, no recreation: the next job reconnects.
        XCTAssertEqual(try pool.run { try $0.query("SELECT 5 AS v")[0].int("v") }, 5)
        XCTAssertTrue(pool.lastHealthy)
    }

    func testPoolRecoversAfterPostgreSQLRestart() throws {
        _ = try TestEnvironment.require("FLOODGATE_TEST_PG_RESTART_CMD")
        try conn.execute(script: "CREATE TABLE survivors (id int PRIMARY KEY)")
        conn.close()  // the restart ends this session too; tearDown opens a fresh one
        let pool = makePool(size: 2)
        XCTAssertEqual(try pool.run { try $0.query("SELECT 1 AS v")[0].int("v") }, 1)
        let done = DispatchSemaphore(value: 0)
        let inFlight = try startSleepingJob(pool, done: done)

        // Keep asking while the server is down and coming back; every failure must be a typed
        // connection failure, never a hang or a crash.
        let polling = Locked(true)
        let seen = Locked<[String: Int]>([:])
        let poller = DispatchGroup()
        poller.enter()
        Thread {
            while polling.snapshot {
                do {
                    _ = try pool.run { try $0.query("SELECT 1") }
                    seen.with { $0["ok", default: 0] += 1 }
                } catch let error as PostgresError {
                    seen.with { $0["\(error.code)", default: 0] += 1 }
                } catch {
                    XCTFail("unexpected error type: \(error)")
                }
                usleep(5_000)
            }
            poller.leave()
        }.start()

        try TestServices.runCommand(from: "FLOODGATE_TEST_PG_RESTART_CMD")
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        assertBrokenConnection(inFlight.snapshot)

        // The same pool serves queries again once the server is back (backoff is at most 2 s).
        XCTAssertTrue(waitUntil(30) { (try? pool.run { try $0.query("SELECT 1") }) != nil }, "no recovery after restart")
        polling.with { $0 = false }
        XCTAssertEqual(poller.wait(timeout: .now() + 30), .success)
        let outcomes = seen.snapshot
        print("queries during the restart: \(outcomes)")
        XCTAssertTrue(Set(outcomes.keys).isSubset(of: ["ok", "connectFailed", "connectionLost"]), "\(outcomes)")
        for i in 0..<20 {
            try pool.run { try $0.query("INSERT INTO survivors VALUES ($1)", [i]) }
        }
        XCTAssertEqual(try pool.run { try $0.query("SELECT count(*) AS n FROM survivors")[0].int("n") }, 20)
        pool.checkHealth()
        XCTAssertTrue(waitUntil(10) { pool.lastHealthy })
    }
}
