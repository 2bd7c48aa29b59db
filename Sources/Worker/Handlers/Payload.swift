// Reading an outbox event's `data` members into bind values, for every handler.
import JSON

enum Payload {
    /// A payload member that must be a JSON string when present; missing or null binds NULL (the table's
    /// NOT NULL decides).
    static func text(_ data: JSONObject, _ key: String) throws -> String? {
        switch data[key] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        case let other?: throw OutboxDecodeError("data.\(key) must be a string, not \(other)")
        }
    }

    /// A payload member that must be a JSON integer when present.
    static func integer(_ data: JSONObject, _ key: String) throws -> Int64? {
        switch data[key] {
        case nil, .null?: return nil
        case .int(let value)?: return value
        case let other?: throw OutboxDecodeError("data.\(key) must be an integer, not \(other)")
        }
    }
}
