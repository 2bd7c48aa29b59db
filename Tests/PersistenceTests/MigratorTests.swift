// Migrations run against a fresh schema per test with test-only migration lists and table names, so
// they never touch (or clash with) the project's own schema_migrations.
import Dispatch
import Foundation
import Persistence
import XCTest

final class MigratorTests: PostgresTestCase {
    let list = [
        Migration(version: 2, name: "widgets_color", sql: "ALTER TABLE widgets ADD COLUMN color text"),
        Migration(version: 1, name: "widgets", sql: """
            CREATE TABLE widgets (id bigint PRIMARY KEY);
            CREATE INDEX widgets_id_desc ON widgets (id DESC);
            """),
    ]

    func testAppliesEachMigrationOnceInVersionOrder() throws {
        XCTAssertEqual(try Migrator.migrate(conn, migrations: list), [1, 2])
        XCTAssertEqual(try Migrator.migrate(conn, migrations: list), [])
        XCTAssertEqual(try Migrator.appliedVersions(conn), [1, 2])
        let rows = try conn.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        XCTAssertEqual(try rows.map { try $0.string("name") }, ["widgets", "widgets_color"])
        XCTAssertFalse(try rows[0].isNull("applied_at"))
        try conn.query("INSERT INTO widgets (id, color) VALUES ($1, $2)", [1, "red"])
    }

    func testAppliesOnlyNewMigrations() throws {
        XCTAssertEqual(try Migrator.migrate(conn, migrations: [list[1]]), [1])
        XCTAssertEqual(try Migrator.migrate(conn, migrations: list), [2])
    }

    func testFailingMigrationRollsBackAndNamesItsVersion() throws {
        let broken = list + [Migration(version: 3, name: "half_done", sql: """
            CREATE TABLE gadgets (id int);
            SELECT * FROM no_such_table;
            """)]
        XCTAssertThrowsError(try Migrator.migrate(conn, migrations: broken)) { error in
            guard let error = error as? MigrationError else { return XCTFail("not a MigrationError: \(error)") }
            XCTAssertEqual(error.version, 3)
            XCTAssertEqual((error.underlying as? PostgresError)?.sqlState, "42P01")
            XCTAssertTrue(error.description.contains("migration 3"), error.description)
        }
        XCTAssertEqual(try Migrator.appliedVersions(conn), [1, 2])
        let gadgets = try conn.query("SELECT to_regclass('gadgets') IS NULL AS absent")
        XCTAssertTrue(try gadgets[0].bool("absent"))
        XCTAssertTrue(conn.isHealthy)
    }

    func testDuplicateVersionsAreRefused() throws {
        let twice = [list[1], Migration(version: 1, name: "again", sql: "SELECT 1")]
        XCTAssertThrowsError(try Migrator.migrate(conn, migrations: twice))
        XCTAssertEqual(try Migrator.appliedVersions(conn), [])
    }

    func testConcurrentMigratorsApplyEachMigrationExactlyOnce() throws {
        // Each migration after the first appends to a log, slowly, so a second migrator that did not
        // wait for the lock and re-check would run it again (a duplicate log row) or fail.
        var steps = [Migration(version: 1, name: "log", sql: "CREATE TABLE migration_log (version int NOT NULL)")]
        for v in 2...6 {
            steps.append(Migration(version: v, name: "step\(v)", sql: """
                SELECT pg_sleep(0.05);
                INSERT INTO migration_log VALUES (\(v));
                """))
        }
        let concurrent = steps
        let connections = [try newConnection(), try newConnection()]
        let results = Locked<[Result<[Int], Error>]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for connection in connections {
            group.enter()
            Thread {
                start.wait()
                let result = Result { try Migrator.migrate(connection, migrations: concurrent) }
                results.with { $0.append(result) }
                group.leave()
            }.start()
        }
        start.signal()
        start.signal()
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)

        var applied: [Int] = []
        for result in results.snapshot {
            switch result {
            case .success(let versions): applied += versions
            case .failure(let error): XCTFail("a concurrent migrator failed: \(error)")
            }
        }
        XCTAssertEqual(applied.sorted(), [1, 2, 3, 4, 5, 6])
        let log = try conn.query("SELECT version FROM migration_log ORDER BY version")
        XCTAssertEqual(try log.map { try $0.int("version") }, [2, 3, 4, 5, 6])
        XCTAssertEqual(try Migrator.appliedVersions(conn), [1, 2, 3, 4, 5, 6])
    }

    func testProjectMigrationsApplyToAFreshSchema() throws {
        XCTAssertEqual(try Migrator.migrate(conn), Migrations.all.map(\.version).sorted())
        XCTAssertEqual(try Migrator.migrate(conn), [])
        try conn.query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)",
                       ["u1", "Kim@Example.com", "김민지", "$2b$hash"])
        let taken = expectPostgresError(try conn.query(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)",
            ["u2", "kim@example.COM", "Other", "x"]))
        XCTAssertEqual(taken?.sqlState, "23505")
        XCTAssertEqual(taken?.constraint, "users_email_lower_key")
        let row = try conn.query("SELECT name, created_at FROM users WHERE lower(email) = lower($1)", ["KIM@example.com"])
        XCTAssertEqual(try row.first?.string("name"), "김민지")
        XCTAssertFalse(try row[0].isNull("created_at"))
    }
}
