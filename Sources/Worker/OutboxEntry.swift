// An outbox entry as Redis hands it over, and the version-1 event it decodes to (docs/OUTBOX.md).
//
// Decoding checks only the envelope (v, type, id, at, data as a JSON object) and that some handler knows
// the type; what a payload must hold is the handler's business. Whatever fails here is not retried
// against PostgreSQL: it goes through the same attempt counting as a rejected row and ends in the
// dead-letter stream.
import JSON

/// One stream entry before decoding.
public struct OutboxEntry {
    public let stream: String
    /// The stream entry id (`<ms>-<seq>`), not the event id.
    public let id: String
    public let fields: [(name: String, value: String)]
    /// Attempts made or in progress: Redis's delivery count for the group (1 on first delivery), raised
    /// by the consumer itself before each retry so that it survives a crash.
    public var deliveries: Int

    public init(stream: String, id: String, fields: [(name: String, value: String)], deliveries: Int) {
        self.stream = stream
        self.id = id
        self.fields = fields
        self.deliveries = deliveries
    }

    public func field(_ name: String) -> String? {
        for field in fields where field.name == name { return field.value }
        return nil
    }
}

/// A decoded version-1 event.
public struct OutboxEvent {
    public let entry: OutboxEntry
    public let type: String
    /// The event id: unique across all streams, and the primary key of the row it becomes.
    public let id: String
    /// When it happened, milliseconds since the epoch, from Redis TIME.
    public let atMilliseconds: Int64
    /// The type's payload (always a JSON object).
    public let data: JSONObject

    public init(entry: OutboxEntry, type: String, id: String, atMilliseconds: Int64, data: JSONObject) {
        self.entry = entry
        self.type = type
        self.id = id
        self.atMilliseconds = atMilliseconds
        self.data = data
    }
}

/// Why an entry cannot be written; its text ends up in the dead-letter entry's `error` field.
public struct OutboxDecodeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension OutboxEvent {
    /// Decodes the envelope; `knownTypes` says which types have a handler.
    static func decode(_ entry: OutboxEntry, knownType: (String) -> Bool) throws -> OutboxEvent {
        guard let version = entry.field("v") else { throw OutboxDecodeError("missing field v") }
        guard version == "1" else { throw OutboxDecodeError("unsupported event version v=\(version)") }
        guard let type = entry.field("type"), !type.isEmpty else { throw OutboxDecodeError("missing field type") }
        guard knownType(type) else { throw OutboxDecodeError("unknown event type \(type)") }
        guard let id = entry.field("id"), !id.isEmpty else { throw OutboxDecodeError("missing field id") }
        guard let atText = entry.field("at") else { throw OutboxDecodeError("missing field at") }
        guard let at = Int64(atText), at >= 0 else { throw OutboxDecodeError("field at is not milliseconds since the epoch: \(atText)") }
        guard let dataText = entry.field("data") else { throw OutboxDecodeError("missing field data") }
        let data: JSONValue
        do {
            data = try JSONParser.parse(dataText)
        } catch {
            throw OutboxDecodeError("field data is not JSON: \(error)")
        }
        guard case .object(let object) = data else { throw OutboxDecodeError("field data is not a JSON object") }
        return OutboxEvent(entry: entry, type: type, id: id, atMilliseconds: at, data: object)
    }
}
