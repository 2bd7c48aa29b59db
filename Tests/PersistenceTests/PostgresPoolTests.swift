import Dispatch
import Foundation
import Persistence
import XCTest

final class PostgresPoolTests: PostgresTestCase {
    var pool: PostgresPool?

    override func tearDownWithError() throws {
        pool?.shutdown()  // closes the pool's connections before the schema is dropped
        try super.tearDownWithError()
    }

    func makePool(size: Int = 4, queueCapacity: Int = 10_000) -> PostgresPool {
        let pool = PostgresPool(url: poolURL(applicationName: TestEnvironment.uniqueName("pool")),
                                size: size, queueCapacity: queueCapacity)
        self.pool = pool
        return pool
    }

    func testManyConcurrentSubmitsCompleteOffTheCallerThreads() throws {
        let pool = makePool(size: 4)
        try conn.execute(script: "CREATE TABLE hits (id int PRIMARY KEY, caller text NOT NULL)")
        let jobs = 2_000
        let results = Locked<[Int: Int64]>([:])
        let callerThreads = Locked<Set<pthread_t>>([])
        let completionThreads = Locked<Set<pthread_t>>([])
        let group = DispatchGroup()
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            callerThreads.with { _ = $0.insert(pthread_self()) }
            for i in stride(from: caller, to: jobs, by: 8) {
                group.enter()
                pool.submit({ conn -> Int64 in
                    try conn.query("INSERT INTO hits VALUES ($1, $2)", [i, "caller \(caller)"])
                    return try conn.query("SELECT $1::bigint * 2 AS v", [i])[0].int64("v")
                }, completion: { result in
                    completionThreads.with { _ = $0.insert(pthread_self()) }
                    results.with { $0[i] = try? result.get() }
                    group.leave()
                })
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        // Completions ran on the pool's own threads: at most `size` of them, none a caller's.
        XCTAssertTrue(completionThreads.snapshot.isDisjoint(with: callerThreads.snapshot))
        XCTAssertLessThanOrEqual(completionThreads.snapshot.count, 4)
        let values = results.snapshot
        XCTAssertEqual(values.count, jobs)
        XCTAssertTrue((0..<jobs).allSatisfy { values[$0] == Int64($0 * 2) })
        XCTAssertEqual(try conn.query("SELECT count(*) AS n FROM hits")[0].int("n"), jobs)
        XCTAssertTrue(pool.lastHealthy)
    }

    func testFullQueueRejectsAtOnce() throws {
        let pool = makePool(size: 1, queueCapacity: 3)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        // Hold the only thread, then fill the queue behind it.
        finished.enter()
        pool.submit({ _ in started.signal(); release.wait() }, completion: { _ in finished.leave() })
        XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
        for _ in 0..<3 {
            finished.enter()
            XCTAssertTrue(pool.submit({ try $0.query("SELECT 1") }, completion: { result in
                XCTAssertNotNil(try? result.get())
                finished.leave()
            }))
        }
        XCTAssertEqual(pool.queuedJobs, 3)

        var rejection: Error?
        let accepted = pool.submit({ _ in 1 }, completion: { rejection = $0.failure })
        XCTAssertFalse(accepted)
        XCTAssertEqual((rejection as? PostgresError)?.code, .queueFull)  // already called, synchronously
        XCTAssertEqual(expectPostgresError(try pool.run { _ in 1 })?.code, .queueFull)

        release.signal()
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try pool.run { try $0.query("SELECT 7 AS v")[0].int("v") }, 7)
    }

    func testRunReturnsValuesAndRethrowsErrors() throws {
        let pool = makePool(size: 2)
        XCTAssertEqual(try pool.run { try $0.query("SELECT $1::text AS v", ["한국 🎉"])[0].string("v") }, "한국 🎉")
        let error = expectPostgresError(try pool.run { try $0.query("SELECT 1/0") })
        XCTAssertEqual(error?.sqlState, "22012")
        XCTAssertEqual(error?.code, .server)
        // A server error leaves the pool healthy and the next job works.
        XCTAssertTrue(pool.lastHealthy)
        XCTAssertEqual(try pool.run { try $0.query("SELECT 1 AS v")[0].int("v") }, 1)
    }

    func testRunFromInsideAJobIsRefusedRatherThanDeadlocking() throws {
        let pool = makePool(size: 1)
        let inner = try pool.run { _ -> PostgresError? in
            expectPostgresError(try pool.run { _ in 1 })
        }
        XCTAssertEqual(inner?.code, .invalidUse)
    }

    func testTransactionLeftOpenByAJobIsRolledBack() throws {
        let pool = makePool(size: 1)
        try conn.execute(script: "CREATE TABLE open_tx (id int)")
        try pool.run { conn in
            try conn.query("BEGIN")
            try conn.query("INSERT INTO open_tx VALUES (1)")
        }
        let (inTransaction, count) = try pool.run { conn in
            (conn.isInTransaction, try conn.query("SELECT count(*) AS n FROM open_tx")[0].int("n"))
        }
        XCTAssertFalse(inTransaction)
        XCTAssertEqual(count, 0)
    }

    func testPoolTransactionsCommitAndRollBack() throws {
        struct Abort: Error {}
        let pool = makePool(size: 2)
        try conn.execute(script: "CREATE TABLE orders (id text PRIMARY KEY)")
        try pool.run { conn in try conn.transaction { try $0.query("INSERT INTO orders VALUES ($1)", ["kept"]) } }
        XCTAssertThrowsError(try pool.run { conn in
            try conn.transaction { tx in
                try tx.query("INSERT INTO orders VALUES ($1)", ["dropped"])
                throw Abort()
            }
        })
        let ids = try conn.query("SELECT id FROM orders ORDER BY id").map { try $0.string("id") }
        XCTAssertEqual(ids, ["kept"])
    }

    func testCheckHealthRefreshesLastHealthy() throws {
        let pool = makePool(size: 1)
        XCTAssertFalse(pool.lastHealthy)  // nothing has reached the server yet
        pool.checkHealth()
        pool.checkHealth()  // coalesced with the one outstanding
        XCTAssertTrue(waitUntil(10) { pool.lastHealthy })
        XCTAssertLessThanOrEqual(pool.queuedJobs, 1)
    }

    func testUnreachableServerFailsFastWithConnectFailed() throws {
        let pool = PostgresPool(url: "postgresql://floodgate@127.0.0.1:1/floodgate", size: 2)
        self.pool = pool
        for _ in 0..<20 {
            let error = expectPostgresError(try pool.run { try $0.query("SELECT 1") })
            XCTAssertEqual(error?.code, .connectFailed)
        }
        pool.checkHealth()
        XCTAssertTrue(waitUntil(5) { pool.queuedJobs == 0 })
        XCTAssertFalse(pool.lastHealthy)
    }

    func testShutdownRejectsNewWork() throws {
        let pool = makePool(size: 2)
        XCTAssertEqual(try pool.run { try $0.query("SELECT 1 AS v")[0].int("v") }, 1)
        pool.shutdown()
        XCTAssertEqual(expectPostgresError(try pool.run { _ in 1 })?.code, .poolShutDown)
        var rejection: Error?
        XCTAssertFalse(pool.submit({ _ in 1 }, completion: { rejection = $0.failure }))
        XCTAssertEqual((rejection as? PostgresError)?.code, .poolShutDown)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
