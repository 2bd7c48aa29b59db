// Shared set-up for the Persistence suites: a real PostgreSQL named by FLOODGATE_TEST_PG_URL (a missing
// variable fails the test — a suite that skipped would pass without testing anything), and a fresh
// schema per test, dropped afterwards, so tests never see each other's tables.
//
// Schema and table names are generated here, never taken from input, which is why they are the only
// thing the tests write into SQL text.
import Dispatch
import Foundation
import Persistence
import XCTest

struct TestEnvironmentError: Error, CustomStringConvertible {
    let description: String
}

enum TestEnvironment {
    static func require(_ variable: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            let message = "\(variable) is not set: run the suite through scripts/test (or export it yourself)"
            XCTFail(message, file: file, line: line)
            throw TestEnvironmentError(description: message)
        }
        return value
    }

    static func uniqueName(_ prefix: String) -> String {
        "fgt_\(prefix)_\(getpid())_\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }
}

class PostgresTestCase: XCTestCase {
    var url: String!
    var schema: String!
    /// A connection whose search_path is the test's schema.
    var conn: PostgresConnection!

    /// Without a database every test fails here, by name, instead of erroring in set-up (which
    /// corelibs XCTest would count as "skipped").
    override func invokeTest() {
        guard let value = ProcessInfo.processInfo.environment["FLOODGATE_TEST_PG_URL"], !value.isEmpty else {
            XCTFail("FLOODGATE_TEST_PG_URL is not set: run the suite through scripts/test (or export it yourself)")
            return
        }
        super.invokeTest()
    }

    override func setUpWithError() throws {
        url = try TestEnvironment.require("FLOODGATE_TEST_PG_URL")
        schema = TestEnvironment.uniqueName("s")
        conn = try PostgresConnection(url: url)
        try conn.execute(script: "CREATE SCHEMA \(schema!)")
        try conn.execute(script: "SET search_path TO \(schema!)")
    }

    override func tearDownWithError() throws {
        conn?.close()
        guard let url, let schema else { return }
        let admin = try PostgresConnection(url: url)
        try admin.execute(script: "DROP SCHEMA IF EXISTS \(schema) CASCADE")
    }

    /// A connection of its own, also inside the test's schema.
    func newConnection() throws -> PostgresConnection {
        let connection = try PostgresConnection(url: url)
        try connection.execute(script: "SET search_path TO \(schema!)")
        return connection
    }

    /// The test URL with the schema as search_path and `applicationName`, so a pool's connections land
    /// in the test schema and can be found in pg_stat_activity.
    func poolURL(applicationName: String) -> String {
        let separator = url.contains("?") ? "&" : "?"
        return url + separator + "application_name=\(applicationName)&options=-csearch_path%3D\(schema!)"
    }
}

/// Polls `condition` on the test thread until it holds or `seconds` pass.
func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// A value several threads write and the test thread reads.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func with<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var snapshot: T { with { $0 } }
}

/// Asserts `body` throws a PostgresError and returns it.
func expectPostgresError<T>(_ body: @autoclosure () throws -> T, file: StaticString = #filePath,
                            line: UInt = #line) -> PostgresError? {
    do {
        _ = try body()
        XCTFail("expected a PostgresError, got success", file: file, line: line)
    } catch let error as PostgresError {
        return error
    } catch {
        XCTFail("expected a PostgresError, got \(error)", file: file, line: line)
    }
    return nil
}
