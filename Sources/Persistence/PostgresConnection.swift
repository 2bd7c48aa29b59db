// A blocking PostgreSQL connection over libpq. It waits on the network, so it is used only from the
// pool's own threads, CLI commands and tests — never on an event loop — and by one thread at a time.
//
// Ownership: `handle` (a PGconn*) is owned by this object and freed exactly once, by `close()` or
// deinit. Every PGresult is cleared by `defer` in the function that received it, after its values have
// been copied into Swift strings. C strings handed to libpq live only for the call that reads them.
//
// Values reach the server only as bind parameters of `PQexecParams` (text format). `execute(script:)`
// takes no parameters at all, so it cannot be used to splice values into SQL either.
import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class PostgresConnection {
    /// The libpq connection URI this connection was opened with (reused by `reconnect()`).
    public let url: String
    private var handle: OpaquePointer?

    /// Connects, blocking until connected or failed (libpq `connect_timeout`, 10 s unless the URI says).
    /// Throws `PostgresError` with code `.connectFailed`.
    public init(url: String) throws {
        self.url = url
        handle = try Self.open(url)
    }

    deinit { close() }

    /// Closes the connection. Later calls fail with `.connectionLost` until `reconnect()`.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Drops the current connection (if any) and opens a new one with the same URI.
    public func reconnect() throws {
        close()
        handle = try Self.open(url)
    }

    /// Whether the connection looks usable without a round trip: libpq's status is OK and the idle
    /// socket holds no EOF. A backend terminated by a server restart or `pg_terminate_backend` sends
    /// FATAL and closes; reading that here turns it into `false` before a job is handed a dead
    /// connection. Use `ping()` to ask the server itself.
    public var isHealthy: Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        let fd = PQsocket(handle)
        guard fd >= 0 else { return false }
        // An idle connection has nothing to read unless the server is saying goodbye. Read until the
        // socket is drained: the first read typically gets the FATAL message, the next sees EOF, and
        // only then does libpq mark the connection bad. The socket is non-blocking, so this never waits.
        for _ in 0..<8 {
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&probe, 1, 0) > 0, PQconsumeInput(handle) != 0 else { break }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Runs `SELECT 1`; true when the server answered.
    public func ping() -> Bool {
        (try? query("SELECT 1")) != nil
    }

    /// Whether a transaction is open (possibly failed) on this connection.
    public var isInTransaction: Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    // MARK: - Statements

    /// Runs one statement with `binds` as `$1, $2, ...` (text format; nil binds NULL) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ binds: [PostgresBindable?] = []) throws -> PostgresRows {
        let handle = try live()
        try Self.rejectNUL(sql, what: "SQL text")
        let texts: [String?] = try binds.enumerated().map { i, bind in
            let text = bind.flatMap { $0.postgresText }
            if let text { try Self.rejectNUL(text, what: "bind $\(i + 1)") }
            return text
        }
        guard texts.count <= 65_535 else {
            throw PostgresError(.invalidParameter, "\(texts.count) binds: the protocol allows 65535 (bind an array instead)")
        }
        let res = Self.withCStrings(texts) { values in
            PQexecParams(handle, sql, Int32(texts.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(res) }
        return try rows(from: res)
    }

    /// Runs trusted SQL text without parameters, which may hold several statements (migrations, DDL).
    /// It takes no values on purpose: anything that comes from input goes through `query` binds.
    public func execute(script sql: String) throws {
        let handle = try live()
        try Self.rejectNUL(sql, what: "SQL text")
        let res = PQexec(handle, sql)
        defer { PQclear(res) }
        _ = try rows(from: res)
    }

    /// Runs `body` between BEGIN and COMMIT; any error thrown inside rolls back and is rethrown.
    /// A COMMIT the server turns into ROLLBACK (a statement failed and `body` swallowed its error)
    /// throws too, so a caller never believes a rolled-back transaction committed.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let handle = try live()
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            throw PostgresError(.invalidUse, "transaction() inside an open transaction: nesting is not supported")
        }
        try query("BEGIN")
        let value: T
        let tag: String
        do {
            value = try body(self)
            tag = try query("COMMIT").commandTag
        } catch {
            rollBackAfterFailure()
            throw error
        }
        if tag == "ROLLBACK" {
            throw PostgresError(.server, "COMMIT rolled back: a statement in the transaction failed", sqlState: "25P02")
        }
        return value
    }

    /// Best effort: if the rollback itself fails the connection's state is unknown, so it is closed
    /// rather than handed to the next caller mid-transaction.
    private func rollBackAfterFailure() {
        guard let handle, PQstatus(handle) == CONNECTION_OK, isInTransaction else { return }
        do { try query("ROLLBACK") } catch { close() }
    }

    // MARK: - libpq plumbing

    private func live() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(.connectionLost, "the connection is closed", connectionBroken: true)
        }
        return handle
    }

    private func rows(from res: OpaquePointer?) throws -> PostgresRows {
        guard let res else { throw failure(nil) }
        switch PQresultStatus(res) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            break
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // The connection now waits for COPY data this client never sends: unusable.
            close()
            throw PostgresError(.unexpectedResult, "COPY is not supported", connectionBroken: true)
        case PGRES_EMPTY_QUERY:
            throw PostgresError(.unexpectedResult, "empty query")
        default:
            throw failure(res)
        }
        let fields = Int(PQnfields(res))
        let count = Int(PQntuples(res))
        let columns = (0..<fields).map { String(cString: PQfname(res, Int32($0))) }
        var values: [[String?]] = []
        values.reserveCapacity(count)
        for r in 0..<Int32(count) {
            values.append((0..<Int32(fields)).map { c in
                PQgetisnull(res, r, c) != 0 ? nil : String(cString: PQgetvalue(res, r, c))
            })
        }
        return PostgresRows(columns: columns, values: values,
                            commandTag: String(cString: PQcmdStatus(res)),
                            affectedRows: Int(String(cString: PQcmdTuples(res))) ?? 0)
    }

    /// The error for a failed call; "broken" is libpq's own verdict on the connection afterwards.
    private func failure(_ res: OpaquePointer?) -> PostgresError {
        let broken = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
        func field(_ code: Character) -> String? {
            guard let res, let text = PQresultErrorField(res, Int32(code.asciiValue!)) else { return nil }
            return String(cString: text)
        }
        // A lost connection's primary message is libpq's "server closed the connection unexpectedly";
        // the full text also carries the server's last words (e.g. "terminating connection due to
        // administrator command"), which say why.
        var message = broken ? nil : field("M")  // PG_DIAG_MESSAGE_PRIMARY
        if message == nil, let res { message = Self.trimmed(PQresultErrorMessage(res)) }
        if message == nil || message == "", let handle { message = Self.trimmed(PQerrorMessage(handle)) }
        return PostgresError(broken ? .connectionLost : .server, message ?? "unknown libpq error",
                             sqlState: field("C"),      // PG_DIAG_SQLSTATE
                             detail: field("D"),        // PG_DIAG_MESSAGE_DETAIL
                             constraint: field("n"),    // PG_DIAG_CONSTRAINT_NAME
                             connectionBroken: broken)
    }

    private static func open(_ url: String) throws -> OpaquePointer {
        // Order matters: the URI (expanded from "dbname") overrides the defaults before it, and
        // client_encoding after it is forced, because values are decoded as UTF-8. libpq has no query
        // timeout; TCP keepalives and tcp_user_timeout make a silently vanished server (host down,
        // network cut) an error within about a minute instead of a thread blocked forever.
        let parameters: [(String, String)] = [
            ("connect_timeout", "10"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
            ("tcp_user_timeout", "60000"),
            ("fallback_application_name", "floodgate"),
            ("dbname", url),
            ("client_encoding", "UTF8"),
        ]
        let conn = withCStrings(parameters.map { $0.0 }) { keywords in
            withCStrings(parameters.map { $0.1 }) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let conn else { throw PostgresError(.connectFailed, "libpq could not allocate a connection", connectionBroken: true) }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = trimmed(PQerrorMessage(conn)) ?? "connection failed"
            PQfinish(conn)  // a failed PGconn still owns memory and maybe a socket
            throw PostgresError(.connectFailed, message, connectionBroken: true)
        }
        // libpq prints NOTICE/WARNING to stderr by default; the service logs its own way.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        return conn
    }

    /// Calls `body` with a NULL-terminated array of C strings that live only for the call.
    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies = strings.map { $0.map { strdup($0)! } }
        defer { copies.forEach { free($0) } }
        return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
    }

    private static func rejectNUL(_ text: String, what: String) throws {
        if text.utf8.contains(0) {
            throw PostgresError(.invalidParameter, "\(what) contains a NUL byte, which PostgreSQL text cannot hold")
        }
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String? {
        guard let text else { return nil }
        let lines = String(cString: text).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.isEmpty ? nil : lines.joined(separator: " / ")
    }
}
