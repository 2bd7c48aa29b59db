// QUEUE_ADMITTED (lua/queue.lua, `admit`) → one `queue_admissions` row (migration 3), the read model of
// who was let in, in which order, and until when. data: {"eventId", "userId", "seq", "activeUntil"}.
import Persistence

public struct QueueAdmittedHandler: OutboxEventHandler {
    public init() {}

    public var eventType: String { "QUEUE_ADMITTED" }

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        guard !events.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(), eventIDs = PostgresArrayLiteral(), users = PostgresArrayLiteral()
        var seqs = PostgresArrayLiteral(), admittedAt = PostgresArrayLiteral(), until = PostgresArrayLiteral()
        for event in events {
            let row = try row(event)
            ids.append(text: event.id)
            eventIDs.append(text: row.eventID)
            users.append(text: row.userID)
            seqs.append(integer: row.seq)
            admittedAt.append(integer: event.atMilliseconds)
            until.append(integer: row.activeUntil)
        }
        return try db.query("""
            INSERT INTO queue_admissions (id, event_id, user_id, seq, admitted_at, active_until)
            SELECT t.id, t.event_id, t.user_id, t.seq,
                   'epoch'::timestamptz + t.at_ms * interval '1 millisecond',
                   'epoch'::timestamptz + t.until_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
                 AS t(id, event_id, user_id, seq, at_ms, until_ms)
            ON CONFLICT (id) DO NOTHING
            """, [ids, eventIDs, users, seqs, admittedAt, until]).affectedRows
    }

    private func row(_ event: OutboxEvent) throws -> (eventID: String?, userID: String?, seq: Int64?, activeUntil: Int64?) {
        (try Payload.text(event.data, "eventId"), try Payload.text(event.data, "userId"),
         try Payload.integer(event.data, "seq"), try Payload.integer(event.data, "activeUntil"))
    }
}
