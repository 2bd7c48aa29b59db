// An event's queue settings (API.md "Events and the waiting queue"), their bounds, and how they are read
// from an admin request body. `abandonAfterSeconds` is Floodgate's own addition: how long a waiting user
// may go without polling before losing the place (fixed when the event is created).
import JSON

public struct QueueSettings: Equatable, Sendable {
    public var enabled = false
    /// Users inside at once. 0 holds the doors: nobody is admitted until it is raised.
    public var maxActive = 1_000
    public var activeTtlSeconds = 600
    /// nil: no cap on the admission rate.
    public var admitPerSecond: Int?
    public var abandonAfterSeconds = 300

    public static let maxActiveRange = 0...1_000_000
    public static let activeTtlRange = 1...86_400
    public static let admitPerSecondRange = 1...1_000_000
    public static let abandonAfterRange = 2...86_400

    public init() {}

    /// A field that is present but wrong; the gateway answers 400 VALIDATION_FAILED naming it.
    public struct Invalid: Error, Equatable {
        public let field: String
        public let message: String
    }

    /// Applies the members of `object` (a creation's `queue` or a PATCH body) onto these settings.
    /// `abandonAfterSeconds` only when `creating`. Unknown members are refused, so a typo is not ignored.
    public mutating func apply(_ object: JSONObject, creating: Bool, prefix: String = "") throws {
        var allowed: Set<String> = ["enabled", "maxActive", "activeTtlSeconds", "admitPerSecond"]
        if creating { allowed.insert("abandonAfterSeconds") }
        for key in object.keys where !allowed.contains(key) {
            throw Invalid(field: prefix + key, message: "\(prefix + key) is not a queue setting here")
        }
        if let value = object["enabled"] {
            guard case .bool(let flag) = value else { throw Invalid(field: prefix + "enabled", message: "enabled must be true or false") }
            enabled = flag
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value = object[key] else { return nil }
            guard case .int(let number) = value, range.contains(Int(clamping: number)) else {
                throw Invalid(field: prefix + key, message: "\(prefix + key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(number)
        }
        if let v = try integer("maxActive", Self.maxActiveRange) { maxActive = v }
        if let v = try integer("activeTtlSeconds", Self.activeTtlRange) { activeTtlSeconds = v }
        if object["admitPerSecond"] == .null {
            admitPerSecond = nil
        } else if let v = try integer("admitPerSecond", Self.admitPerSecondRange) {
            admitPerSecond = v
        }
        if let v = try integer("abandonAfterSeconds", Self.abandonAfterRange) { abandonAfterSeconds = v }
    }

    public var json: JSONValue {
        ["enabled": .bool(enabled), "maxActive": .int(Int64(maxActive)), "activeTtlSeconds": .int(Int64(activeTtlSeconds)),
         "admitPerSecond": admitPerSecond.map { .int(Int64($0)) } ?? .null,
         "abandonAfterSeconds": .int(Int64(abandonAfterSeconds))]
    }
}
