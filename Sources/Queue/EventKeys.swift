// Where an event's state lives in Redis. Every key of one event carries the tag `{ev:<eventId>}`: the
// queue now, the event's stock and seats later. So a protected action can check the caller's queue token
// in the same script that takes the stock (one slot on Redis Cluster), and the event's outbox stream sits
// in that slot too.
public struct EventKeys: Sendable {
    public let eventID: String
    public let tag: String

    public init(eventID: String) {
        self.eventID = eventID
        tag = "{ev:\(eventID)}"
    }

    /// The queue's settings (a cache of PostgreSQL's `events` row, written by `configure`).
    public var queueConfiguration: String { "\(tag):queue:conf" }
    public var queueState: String { "\(tag):queue:state" }
    public var waiting: String { "\(tag):queue:wait" }
    public var active: String { "\(tag):queue:active" }
    public var admitted: String { "\(tag):queue:admitted" }
    public var admissionRate: String { "\(tag):queue:rate" }
    /// The ring of "seen" bitmaps (lua/queue.lua explains the ring).
    public var seenRing: [String] { (0..<6).map { "\(tag):queue:seen:\($0)" } }
    /// This event's outbox stream (queue admissions, stock changes; orders and seats later).
    public var outbox: String { "\(tag):outbox" }
    /// A product's live state (stock, price) — lua/catalog.lua.
    public func product(_ productID: String) -> String { "\(tag):product:\(productID)" }
    /// An order of this event (lua/order_place.lua) and the deadlines of the unpaid ones.
    public func order(_ orderID: String) -> String { "\(tag):order:\(orderID)" }
    /// Deadlines of every unpaid hold of the event, orders' and seat reservations' alike (member: the
    /// order or reservation id, score: expiresAt ms), so one sweeper covers both (HoldSweeper).
    public var holds: String { "\(tag):holds" }
    /// A concert performance's fixed facts in Redis (total seats, price, startsAt, per-user limit).
    public func performance(_ performanceID: String) -> String { "\(tag):perf:\(performanceID)" }
    /// A performance's taken seats: seatNo → "HELD <reservationId> <expiresAt ms>" or "SOLD <reservationId>";
    /// a seat without a field is AVAILABLE (lua/seat_hold.lua).
    public func seats(_ performanceID: String) -> String { "\(tag):perf:\(performanceID):seats" }
    /// One user's reservations of a performance (member: reservationId, score: expiresAt ms, +inf once
    /// SOLD): the per-user limit counts the members whose score is still ahead of Redis TIME.
    public func seatsOfUser(_ performanceID: String, _ userID: String) -> String { "\(tag):perf:\(performanceID):user:\(userID)" }
    /// A seat reservation (lua/seat_hold.lua): user, status, record (JSON).
    public func reservation(_ reservationID: String) -> String { "\(tag):resv:\(reservationID)" }
    /// The first answer to a user's Idempotency-Key on POST /orders for this event.
    public func orderIdempotency(userID: String, key: String) -> String { "\(tag):idem:\(userID):order:\(key)" }

    /// KEYS of lua/queue.lua, in its order.
    public var queueScriptKeys: [String] {
        [queueConfiguration, queueState, waiting, active, admitted, outbox, admissionRate] + seenRing
    }

    /// Ids of every event, so each gateway's admission ticker knows which queues to run. A plain key
    /// (its own slot): read with its own command, never inside a script.
    public static let registry = "floodgate:events"
    /// Outbox streams beyond the 16 user shards, for the worker to drain (see OutboxStreams).
    public static let outboxRegistry = "floodgate:outboxes"
}
