// The PostgreSQL side of the consumer: one lazily (re)opened connection, and "write these events in one
// transaction". What a failure means decides what the consumer does next, so every error is sorted
// into exactly one of two kinds:
//
//   unavailable — nothing about the events is wrong: the server is unreachable, the connection broke,
//                 or the server refused for its own reasons (shutting down, out of connections or disk,
//                 a deadlock or serialization failure, a missing table). Keep the batch, back off, retry.
//                 These never count against an event's attempts.
//   rejected    — the server (or the bind encoding) refused these values: a constraint, a bad number.
//                 Retrying the same batch would fail the same way; isolate the offending events.
import Persistence

final class OutboxWriter {
    enum FailureKind: Equatable { case unavailable, rejected }

    let url: String
    let handlers: OutboxHandlers
    private var connection: PostgresConnection?

    init(url: String, handlers: OutboxHandlers) {
        self.url = url
        self.handlers = handlers
    }

    deinit { connection?.close() }

    func close() {
        connection?.close()
        connection = nil
    }

    /// Writes every event in one transaction; returns the rows inserted. Events are grouped by type so
    /// each handler sees one batch.
    func write(_ events: [OutboxEvent]) throws -> Int {
        let db = try connected()
        var byType: [String: [OutboxEvent]] = [:]
        var order: [String] = []
        for event in events {
            if byType[event.type] == nil { order.append(event.type) }
            byType[event.type, default: []].append(event)
        }
        do {
            return try db.transaction { db in
                var rows = 0
                for type in order {
                    guard let handler = handlers.handler(for: type) else {
                        throw OutboxDecodeError("unknown event type \(type)")
                    }
                    rows += try handler.write(byType[type]!, db)
                }
                return rows
            }
        } catch {
            // A broken connection is replaced on the next call rather than reused.
            if Self.classify(error) == .unavailable, (error as? PostgresError)?.isConnectionBroken ?? false || !db.isHealthy {
                close()
            }
            throw error
        }
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isHealthy { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(url: url)
        connection = fresh
        return fresh
    }

    /// SQLSTATE classes that say nothing about the data: 08 connection exception, 40 transaction
    /// rollback (serialization failure, deadlock), 42 syntax error or access rule violation (a missing
    /// table or column: the schema, not the event), 53 insufficient resources, 55 object not in
    /// prerequisite state (lock not available), 57 operator intervention (shutdown, cancel), 58 system
    /// error, F0 configuration file error, XX internal error.
    static let environmentClasses: Set<String> = ["08", "40", "42", "53", "55", "57", "58", "F0", "XX"]

    static func classify(_ error: Error) -> FailureKind {
        if error is OutboxDecodeError { return .rejected }
        guard let error = error as? PostgresError else { return .unavailable }
        if error.isConnectionBroken || error.code == .connectFailed || error.code == .connectionLost
            || error.code == .poolShutDown || error.code == .queueFull || error.code == .invalidUse {
            return .unavailable
        }
        if error.code == .server {
            guard let state = error.sqlState, state.count == 5 else { return .unavailable }
            return environmentClasses.contains(String(state.prefix(2))) ? .unavailable : .rejected
        }
        // invalidParameter (a NUL byte in a value), decode, unexpectedResult: about what was sent.
        return .rejected
    }
}
