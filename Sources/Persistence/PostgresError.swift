// One error type for everything Persistence throws. Callers mostly need one question answered:
// "did the server say no (constraint, syntax) or did the connection go away?" — the first is final
// for that request, the second means the outcome of a write is unknown. `code` answers it; `sqlState`
// carries the server's own classification (23505 unique_violation, 57P01 admin_shutdown, ...).
//
// `Code` is a struct over a private enum (as in postgres-nio) so adding a code breaks no caller's switch.

public struct PostgresError: Error, CustomStringConvertible {
    public struct Code: Equatable, Hashable, CustomStringConvertible, Sendable {
        private enum Base: String, Sendable {
            case connectFailed, connectionLost, server, unexpectedResult
            case invalidParameter, decode, invalidUse, queueFull, poolShutDown
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// No connection could be opened. Nothing was sent, so the work is safe to retry.
        public static let connectFailed = Code(.connectFailed)
        /// The connection broke during the call. A write may or may not have committed.
        public static let connectionLost = Code(.connectionLost)
        /// The server rejected the statement (see `sqlState`); the connection is still fine.
        public static let server = Code(.server)
        /// libpq returned a result this client does not handle (COPY, empty query, ...).
        public static let unexpectedResult = Code(.unexpectedResult)
        /// A bind value PostgreSQL cannot take as text (a NUL byte), or too many binds.
        public static let invalidParameter = Code(.invalidParameter)
        /// A column is missing, NULL where a value was required, or not of the asked-for type.
        public static let decode = Code(.decode)
        /// Misuse of the API (a nested transaction, `run` from a pool thread, a closed connection).
        public static let invalidUse = Code(.invalidUse)
        /// The pool's job queue is full: shed load (HTTP 503) rather than queue without bound.
        public static let queueFull = Code(.queueFull)
        /// The pool was shut down.
        public static let poolShutDown = Code(.poolShutDown)
    }

    public let code: Code
    /// The five-character SQLSTATE the server sent, if any.
    public let sqlState: String?
    public let message: String
    /// The server's DETAIL line, e.g. which key value collided.
    public let detail: String?
    /// The constraint involved, for integrity violations (lets a caller tell "email taken" from "id taken").
    public let constraint: String?
    /// libpq no longer considers the connection usable (`PQstatus != CONNECTION_OK`).
    public let isConnectionBroken: Bool

    init(_ code: Code, _ message: String, sqlState: String? = nil, detail: String? = nil,
         constraint: String? = nil, connectionBroken: Bool = false) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.constraint = constraint
        self.isConnectionBroken = connectionBroken
    }

    /// SQLSTATE 23505: a unique or primary-key constraint said no.
    public var isUniqueViolation: Bool { sqlState == "23505" }

    public var description: String {
        var text = "PostgresError.\(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        if isConnectionBroken && code != .connectFailed { text += " — connection broken" }
        return text
    }
}
