// Events in PostgreSQL (table `events`, migration 3): the durable record of each event and its queue
// settings. Redis holds a copy of the settings under the event's tag (EventCache writes it).
import JSON
import Persistence
import Queue
import Runtime

struct StoredEvent {
    let id: String
    var name: String
    var kind: String
    var startsAtMs: Int64?
    var queue: QueueSettings
    /// Keys the queue tokens' MAC; never leaves the server.
    let queueSecret: String
    var queueVersion: Int64
    var createdAtMs: Int64

    /// The admin view (the secret stays out).
    var json: JSONValue {
        ["eventId": .string(id), "name": .string(name), "kind": .string(kind),
         "startsAt": startsAtMs.map { .string(Timestamp.rfc3339(millis: $0)) } ?? .null,
         "queue": queue.json, "createdAt": .string(Timestamp.rfc3339(millis: createdAtMs))]
    }
}

enum EventStore {
    private static let columns = """
        id, name, kind, (extract(epoch FROM starts_at) * 1000)::bigint AS starts_ms, queue_enabled, max_active,
        active_ttl_seconds, admit_per_second, abandon_after_seconds, queue_secret, queue_version,
        (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
        """

    static func insert(_ event: StoredEvent, _ db: PostgresConnection) throws -> StoredEvent {
        let rows = try db.query("""
            INSERT INTO events (id, name, kind, starts_at, queue_enabled, max_active, active_ttl_seconds,
                                admit_per_second, abandon_after_seconds, queue_secret, queue_version)
            VALUES ($1, $2, $3, 'epoch'::timestamptz + $4::bigint * interval '1 millisecond', $5, $6, $7, $8, $9, $10, $11)
            RETURNING \(columns)
            """, [event.id, event.name, event.kind, event.startsAtMs, event.queue.enabled, event.queue.maxActive,
                  event.queue.activeTtlSeconds, event.queue.admitPerSecond, event.queue.abandonAfterSeconds,
                  event.queueSecret, event.queueVersion])
        return try decode(rows[0])
    }

    static func find(id: String, _ db: PostgresConnection) throws -> StoredEvent? {
        let rows = try db.query("SELECT \(columns) FROM events WHERE id = $1", [id])
        return try rows.first.map(decode)
    }

    static func all(_ db: PostgresConnection) throws -> [StoredEvent] {
        try db.query("SELECT \(columns) FROM events ORDER BY created_at, id").map(decode)
    }

    /// Applies `change` to the event's queue settings under a row lock and bumps the version; nil when
    /// there is no such event.
    static func updateQueue(id: String, _ db: PostgresConnection,
                            _ change: @escaping (inout QueueSettings) throws -> Void) throws -> StoredEvent? {
        try db.transaction { db in
            let rows = try db.query("SELECT \(columns) FROM events WHERE id = $1 FOR UPDATE", [id])
            guard let row = rows.first else { return nil }
            var event = try decode(row)
            try change(&event.queue)
            let updated = try db.query("""
                UPDATE events SET queue_enabled = $2, max_active = $3, active_ttl_seconds = $4, admit_per_second = $5,
                                  queue_version = queue_version + 1, updated_at = now()
                WHERE id = $1 RETURNING \(columns)
                """, [id, event.queue.enabled, event.queue.maxActive, event.queue.activeTtlSeconds, event.queue.admitPerSecond])
            return try decode(updated[0])
        }
    }

    private static func decode(_ row: PostgresRow) throws -> StoredEvent {
        var queue = QueueSettings()
        queue.enabled = try row.bool("queue_enabled")
        queue.maxActive = try row.int("max_active")
        queue.activeTtlSeconds = try row.int("active_ttl_seconds")
        queue.admitPerSecond = try row.isNull("admit_per_second") ? nil : try row.int("admit_per_second")
        queue.abandonAfterSeconds = try row.int("abandon_after_seconds")
        return StoredEvent(id: try row.string("id"), name: try row.string("name"), kind: try row.string("kind"),
                           startsAtMs: try row.isNull("starts_ms") ? nil : try row.int64("starts_ms"),
                           queue: queue, queueSecret: try row.string("queue_secret"),
                           queueVersion: try row.int64("queue_version"), createdAtMs: try row.int64("created_ms"))
    }
}
