import Persistence
import XCTest

final class PostgresConnectionTests: PostgresTestCase {
    static let hostileStrings = [
        "O'Reilly", "it''s", "back\\slash", "trailing\\", "semi;colon", "'; DROP TABLE notes; --",
        "Robert'); DROP TABLE notes;--", "\" OR \"1\"=\"1", "' OR '1'='1", "$1", "$$dollar$$", "E'\\x41'",
        "NULL", "", " ", "tab\tnew\nline\r", "한국어 텍스트 입니다", "emoji 🎉 👩‍👩‍👧‍👦 🇰🇷", "{a,b}", "%_*",
    ]

    func testHostileStringsRoundTripAsBinds() throws {
        try conn.execute(script: "CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
        for (i, text) in Self.hostileStrings.enumerated() {
            try conn.query("INSERT INTO notes (id, body) VALUES ($1, $2)", [i, text])
        }
        let rows = try conn.query("SELECT id, body FROM notes ORDER BY id")
        XCTAssertEqual(rows.count, Self.hostileStrings.count)  // the table survived every "DROP TABLE"
        for row in rows {
            XCTAssertEqual(try row.string("body"), Self.hostileStrings[try row.int("id")])
        }
        // And as a lookup key: equality on the exact value, no pattern or escape interpretation.
        for text in Self.hostileStrings {
            let found = try conn.query("SELECT count(*) AS n FROM notes WHERE body = $1", [text])
            XCTAssertEqual(try found[0].int64("n"), 1, text)
        }
    }

    func testMultipleStatementsInABindQueryAreRefused() throws {
        // PQexecParams takes one statement, so "stacked" SQL cannot ride along with a bind query.
        let error = expectPostgresError(try conn.query("SELECT 1; SELECT 2"))
        XCTAssertEqual(error?.code, .server)
        XCTAssertEqual(error?.sqlState, "42601")
        XCTAssertTrue(conn.ping())
    }

    func testNullsAndTypedAccessors() throws {
        try conn.execute(script: "CREATE TABLE items (id int PRIMARY KEY, label text, qty bigint, ok boolean)")
        let missing: String? = nil
        try conn.query("INSERT INTO items VALUES ($1, $2, $3, $4)", [1, missing, nil, nil])
        try conn.query("INSERT INTO items VALUES ($1, $2, $3, $4)", [2, "two", Int64(2), true])
        try conn.query("INSERT INTO items VALUES ($1, $2, $3, $4)", [3, Optional("three"), 3, false])

        let rows = try conn.query("SELECT id, label, qty, ok FROM items ORDER BY id")
        XCTAssertEqual(rows.columns, ["id", "label", "qty", "ok"])
        let empty = rows[0]
        XCTAssertNil(try empty.value("label"))
        XCTAssertTrue(try empty.isNull("qty"))
        XCTAssertEqual(expectPostgresError(try empty.string("label"))?.code, .decode)
        XCTAssertEqual(expectPostgresError(try empty.int64("qty"))?.code, .decode)
        XCTAssertEqual(try rows[1].string("label"), "two")
        XCTAssertEqual(try rows[1].int64(2), 2)
        XCTAssertEqual(try rows[1].bool("ok"), true)
        XCTAssertEqual(try rows[2].bool(3), false)
        XCTAssertEqual(expectPostgresError(try rows[1].int("label"))?.code, .decode)
        XCTAssertEqual(expectPostgresError(try rows[1].string("nope"))?.code, .decode)

        // IS NULL with a bound NULL: the bind really arrives as NULL, not as the text "NULL".
        let nullCount = try conn.query("SELECT count(*) AS n FROM items WHERE $1::text IS NULL", [missing])
        XCTAssertEqual(try nullCount[0].int("n"), 3)
    }

    func testBigIntegersRoundTrip() throws {
        try conn.execute(script: "CREATE TABLE amounts (id int PRIMARY KEY, v bigint)")
        let values: [Int64] = [Int64.max, Int64.min, 0, -1, 9_007_199_254_740_993]  // last: not exact as a double
        for (i, value) in values.enumerated() {
            try conn.query("INSERT INTO amounts VALUES ($1, $2)", [i, value])
        }
        let rows = try conn.query("SELECT v FROM amounts ORDER BY id")
        XCTAssertEqual(try rows.map { try $0.int64("v") }, values)

        let overflow = expectPostgresError(try conn.query("SELECT $1::bigint + 1", [Int64.max]))
        XCTAssertEqual(overflow?.sqlState, "22003")
        let tooBig = try conn.query("SELECT $1::numeric + 1 AS v", [Int64.max])
        XCTAssertEqual(try tooBig[0].string("v"), "9223372036854775808")
        XCTAssertEqual(expectPostgresError(try tooBig[0].int64("v"))?.code, .decode)
    }

    func testArrayBindsCarryHostileElementsAndNulls() throws {
        let texts: [String?] = Self.hostileStrings + [nil, "a,b", "}{", "\"quoted\""]
        let rows = try conn.query("SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n", [texts])
        XCTAssertEqual(try rows.map { try $0.value("t") }, texts)

        let numbers: [Int64] = [1, Int64.max, Int64.min]
        let sum = try conn.query("SELECT count(*) AS n, max(x) AS top FROM unnest($1::bigint[]) AS x", [numbers])
        XCTAssertEqual(try sum[0].int("n"), 3)
        XCTAssertEqual(try sum[0].int64("top"), Int64.max)
        let none = try conn.query("SELECT cardinality($1::text[]) AS n", [[String]()])
        XCTAssertEqual(try none[0].int("n"), 0)
    }

    func testNULByteIsRejectedBeforeSending() throws {
        let error = expectPostgresError(try conn.query("SELECT $1::text", ["a\u{0}b"]))
        XCTAssertEqual(error?.code, .invalidParameter)
        XCTAssertTrue(conn.ping())
    }

    func testUniqueViolationSurfacesSQLState23505() throws {
        try conn.execute(script: "CREATE TABLE accounts (id text PRIMARY KEY, email text NOT NULL CONSTRAINT accounts_email_key UNIQUE)")
        try conn.query("INSERT INTO accounts VALUES ($1, $2)", ["u1", "a@example.com"])
        let error = expectPostgresError(try conn.query("INSERT INTO accounts VALUES ($1, $2)", ["u2", "a@example.com"]))
        XCTAssertEqual(error?.code, .server)
        XCTAssertEqual(error?.sqlState, "23505")
        XCTAssertEqual(error?.isUniqueViolation, true)
        XCTAssertEqual(error?.constraint, "accounts_email_key")
        XCTAssertEqual(error?.isConnectionBroken, false)
        XCTAssertNotNil(error?.detail)
        // A constraint violation leaves the connection usable.
        XCTAssertTrue(conn.isHealthy)
        XCTAssertEqual(try conn.query("SELECT count(*) AS n FROM accounts")[0].int("n"), 1)
    }

    func testAffectedRowsAndCommandTag() throws {
        try conn.execute(script: "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        let insert = try conn.query("INSERT INTO counters SELECT g, 0 FROM generate_series(1, $1::int) g", [5])
        XCTAssertEqual(insert.affectedRows, 5)
        XCTAssertEqual(insert.commandTag, "INSERT 0 5")
        let conflict = try conn.query("INSERT INTO counters VALUES ($1, 0) ON CONFLICT DO NOTHING", [1])
        XCTAssertEqual(conflict.affectedRows, 0)
        XCTAssertEqual(try conn.query("UPDATE counters SET n = n + 1 WHERE id <= $1", [3]).affectedRows, 3)
    }

    func testTransactionCommits() throws {
        try conn.execute(script: "CREATE TABLE ledger (id int PRIMARY KEY)")
        let value = try conn.transaction { tx -> Int in
            try tx.query("INSERT INTO ledger VALUES ($1)", [1])
            try tx.query("INSERT INTO ledger VALUES ($1)", [2])
            return 42
        }
        XCTAssertEqual(value, 42)
        XCTAssertFalse(conn.isInTransaction)
        let other = try newConnection()  // committed: visible from another session
        XCTAssertEqual(try other.query("SELECT count(*) AS n FROM ledger")[0].int("n"), 2)
    }

    func testTransactionRollsBackOnThrownError() throws {
        struct Abort: Error {}
        try conn.execute(script: "CREATE TABLE ledger (id int PRIMARY KEY)")
        XCTAssertThrowsError(try conn.transaction { tx in
            try tx.query("INSERT INTO ledger VALUES ($1)", [1])
            throw Abort()
        }) { XCTAssertTrue($0 is Abort) }
        XCTAssertFalse(conn.isInTransaction)
        XCTAssertEqual(try conn.query("SELECT count(*) AS n FROM ledger")[0].int("n"), 0)

        // A server error inside rolls back the statements before it too.
        XCTAssertThrowsError(try conn.transaction { tx in
            try tx.query("INSERT INTO ledger VALUES ($1)", [2])
            try tx.query("INSERT INTO ledger VALUES ($1)", [2])
        }) { XCTAssertEqual(($0 as? PostgresError)?.sqlState, "23505") }
        XCTAssertEqual(try conn.query("SELECT count(*) AS n FROM ledger")[0].int("n"), 0)
    }

    func testSwallowedErrorInsideTransactionIsNotReportedAsCommitted() throws {
        try conn.execute(script: "CREATE TABLE ledger (id int PRIMARY KEY)")
        let error = expectPostgresError(try conn.transaction { tx in
            try tx.query("INSERT INTO ledger VALUES ($1)", [1])
            _ = try? tx.query("INSERT INTO ledger VALUES ($1)", [1])  // fails; the transaction is now aborted
        })
        XCTAssertEqual(error?.sqlState, "25P02")
        XCTAssertEqual(try conn.query("SELECT count(*) AS n FROM ledger")[0].int("n"), 0)
    }

    func testNestedTransactionIsRefused() throws {
        let error = expectPostgresError(try conn.transaction { tx in
            try tx.transaction { _ in }
        })
        XCTAssertEqual(error?.code, .invalidUse)
        XCTAssertFalse(conn.isInTransaction)
    }

    func testConnectFailureIsTyped() throws {
        // Port 1 on loopback: nothing listens there, so the connect is refused at once.
        let error = expectPostgresError(try PostgresConnection(url: "postgresql://floodgate@127.0.0.1:1/floodgate"))
        XCTAssertEqual(error?.code, .connectFailed)
        XCTAssertEqual(error?.isConnectionBroken, true)
        XCTAssertFalse(error?.message.isEmpty ?? true)
    }

    func testCloseAndReconnect() throws {
        XCTAssertTrue(conn.isHealthy)
        conn.close()
        XCTAssertFalse(conn.isHealthy)
        XCTAssertEqual(expectPostgresError(try conn.query("SELECT 1"))?.code, .connectionLost)
        try conn.reconnect()
        XCTAssertTrue(conn.isHealthy)
        XCTAssertTrue(conn.ping())
    }

    func testTerminatedBackendIsReportedAsBroken() throws {
        let pid = try conn.query("SELECT pg_backend_pid() AS pid")[0].int("pid")
        let admin = try PostgresConnection(url: url)
        try admin.query("SELECT pg_terminate_backend($1)", [pid])
        // The idle probe reads the server's goodbye without a round trip.
        XCTAssertTrue(waitUntil(5) { !conn.isHealthy })
        let error = expectPostgresError(try conn.query("SELECT 1"))
        XCTAssertEqual(error?.code, .connectionLost)
        XCTAssertEqual(error?.isConnectionBroken, true)
        try conn.reconnect()
        XCTAssertTrue(conn.ping())
    }
}
