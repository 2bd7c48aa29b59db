// Concerts and their performances in PostgreSQL (migration 8). A concert is an event of kind concert
// (same id, same queue); its performances are fixed once created: start, price, seats 1..total. Redis
// holds each performance's facts beside its seats under the event's tag (PerformanceFacts).
import JSON
import Persistence
import Queue
import Runtime

struct StoredConcert {
    let eventID: String
    let name: String
    let artist: String
    let maxSeatsPerUser: Int64
    let queued: Bool

    var json: JSONValue {
        ["concertId": .string(eventID), "eventId": .string(eventID), "name": .string(name), "artist": .string(artist),
         "maxSeatsPerUser": .int(maxSeatsPerUser), "queued": .bool(queued)]
    }
}

struct StoredPerformance {
    let id: String
    let eventID: String
    let startsAtMs: Int64
    let price: Int64
    let totalSeats: Int64
    /// The concert's per-user limit (held or sold seats of this performance).
    let maxSeatsPerUser: Int64

    func json(availableSeats: Int64? = nil) -> JSONValue {
        var object: JSONObject = ["performanceId": .string(id), "concertId": .string(eventID), "startsAt": .string(Timestamp.rfc3339(millis: startsAtMs)),
                                  "price": .int(price), "totalSeats": .int(totalSeats)]
        if let availableSeats { object["availableSeats"] = .int(availableSeats) }
        return .object(object)
    }

    /// The command that gives Redis the performance's facts (seat_hold.lua reads them). They never change,
    /// so writing them again (seed, recover) is harmless.
    var factsCommand: [String] {
        ["HSET", EventKeys(eventID: eventID).performance(id), "total", String(totalSeats), "price", String(price),
         "startsAt", String(startsAtMs), "limit", String(maxSeatsPerUser)]
    }
}

enum ConcertStore {
    private static let performanceColumns = """
        p.performance_id, p.event_id, (extract(epoch FROM p.starts_at) * 1000)::bigint AS starts_ms, p.price, p.total_seats,
        c.max_seats_per_user
        """

    /// The event, the concert and its performances, in one transaction.
    static func insert(event: StoredEvent, artist: String, maxSeatsPerUser: Int64, performances: [StoredPerformance],
                       _ db: PostgresConnection) throws -> StoredEvent {
        try db.transaction { db in
            let stored = try EventStore.insert(event, db)
            try db.query("INSERT INTO concerts (event_id, artist, max_seats_per_user) VALUES ($1, $2, $3)", [event.id, artist, maxSeatsPerUser])
            for performance in performances {
                try db.query("""
                    INSERT INTO performances (performance_id, event_id, starts_at, price, total_seats)
                    VALUES ($1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 millisecond', $4, $5)
                    """, [performance.id, event.id, performance.startsAtMs, performance.price, performance.totalSeats])
            }
            return stored
        }
    }

    /// Undoes `insert` (Redis could not take the performances).
    static func delete(eventID: String, _ db: PostgresConnection) throws {
        try db.transaction { db in
            try db.query("DELETE FROM performances WHERE event_id = $1", [eventID])
            try db.query("DELETE FROM concerts WHERE event_id = $1", [eventID])
            try db.query("DELETE FROM events WHERE id = $1", [eventID])
        }
    }

    static func all(limit: Int = 1_000, _ db: PostgresConnection) throws -> [StoredConcert] {
        try db.query("""
            SELECT e.id, e.name, c.artist, c.max_seats_per_user, e.queue_enabled
            FROM concerts c JOIN events e ON e.id = c.event_id ORDER BY e.created_at, e.id LIMIT $1
            """, [limit]).map { row in
            StoredConcert(eventID: try row.string("id"), name: try row.string("name"), artist: try row.string("artist"),
                          maxSeatsPerUser: try row.int64("max_seats_per_user"), queued: try row.bool("queue_enabled"))
        }
    }

    static func exists(eventID: String, _ db: PostgresConnection) throws -> Bool {
        try !db.query("SELECT 1 FROM concerts WHERE event_id = $1", [eventID]).isEmpty
    }

    /// A concert's performances, earliest first.
    static func performances(eventID: String, _ db: PostgresConnection) throws -> [StoredPerformance] {
        try db.query("""
            SELECT \(performanceColumns) FROM performances p JOIN concerts c ON c.event_id = p.event_id
            WHERE p.event_id = $1 ORDER BY p.starts_at, p.performance_id
            """, [eventID]).map(decode)
    }

    /// Every performance of every concert (for recover).
    static func allPerformances(_ db: PostgresConnection) throws -> [StoredPerformance] {
        try db.query("SELECT \(performanceColumns) FROM performances p JOIN concerts c ON c.event_id = p.event_id ORDER BY p.performance_id")
            .map(decode)
    }

    static func performance(id: String, _ db: PostgresConnection) throws -> StoredPerformance? {
        try db.query("SELECT \(performanceColumns) FROM performances p JOIN concerts c ON c.event_id = p.event_id WHERE p.performance_id = $1",
                     [id]).first.map(decode)
    }

    private static func decode(_ row: PostgresRow) throws -> StoredPerformance {
        StoredPerformance(id: try row.string("performance_id"), eventID: try row.string("event_id"), startsAtMs: try row.int64("starts_ms"),
                          price: try row.int64("price"), totalSeats: try row.int64("total_seats"),
                          maxSeatsPerUser: try row.int64("max_seats_per_user"))
    }
}
