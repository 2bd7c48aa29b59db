// Event → rows, one small handler per event type. Adding a type is one file with a handler, plus its
// line in `OutboxHandlers.standard`.
//
// Handlers write inside a transaction the consumer owns: many handlers' rows share one COMMIT, and the
// consumer acknowledges the entries only after it. So a handler must be idempotent by itself — insert
// keyed by the event id with `ON CONFLICT (id) DO NOTHING` — because a batch whose COMMIT outcome was
// lost is written again.
//
// Who judges a payload: `validate` checks what only Swift can see (JSON types); presence and value rules
// live in the table's constraints (NOT NULL, CHECK), so the database has the last word and a payload
// that breaks them is a rejected row, isolated and dead-lettered after K attempts like any other.
import Persistence

public protocol OutboxEventHandler {
    /// The `type` field this handler consumes.
    var eventType: String { get }
    /// Throws `OutboxDecodeError` for a payload this handler cannot even turn into bind values.
    func validate(_ event: OutboxEvent) throws
    /// Writes `events` (all of `eventType`, all validated) with batched statements inside the caller's
    /// open transaction; returns how many rows were inserted (duplicates are skipped, not counted).
    func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int
}

/// The handlers a consumer uses, by event type.
public struct OutboxHandlers {
    private var byType: [String: OutboxEventHandler] = [:]

    public init(_ handlers: [OutboxEventHandler]) {
        for handler in handlers { byType[handler.eventType] = handler }
    }

    /// Every event type the worker knows.
    public static var standard: OutboxHandlers {
        OutboxHandlers([
            WalletChargedHandler(),
            QueueAdmittedHandler(),
            ProductStockChangedHandler(),
            OrderEventHandler.placed,
            OrderEventHandler.paid,
            OrderEventHandler.released,
            WalletMovementHandler.debited,
            WalletMovementHandler.refunded,
            CouponIssuedHandler(),
            CouponUsedHandler(),
            ReservationEventHandler.held,
            ReservationEventHandler.released,
            ReservationEventHandler.confirmed,
        ])
    }

    public func handler(for type: String) -> OutboxEventHandler? { byType[type] }

    public var eventTypes: [String] { byType.keys.sorted() }
}

/// A one-dimensional array literal (`{"a","b",NULL}` / `{1,2}`) built in one pass over UTF-8 bytes. The
/// generic `Array: PostgresBindable` appends scalar by scalar to a String; at tens of thousands of rows
/// per transaction this builder is several times cheaper. Escaping follows the same rules (every text
/// element double-quoted, `\` and `"` backslash-escaped), so values stay data.
public struct PostgresArrayLiteral: PostgresBindable {
    private var bytes: [UInt8]
    private var count = 0

    public init(capacity: Int = 0) {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(capacity)
    }

    public mutating func append(text value: String?) {
        separate()
        guard let value else { bytes += [78, 85, 76, 76]; return }  // NULL
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func append(integer value: Int64?) {
        separate()
        guard let value else { bytes += [78, 85, 76, 76]; return }
        bytes += Array(String(value).utf8)
    }

    private mutating func separate() {
        if count > 0 { bytes.append(UInt8(ascii: ",")) }
        count += 1
    }

    public var postgresText: String? { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }
}
