// The Swift side of lua/queue_gate.lua, and the verdict that every gated script returns in the same
// shapes (they carry the same shared block).
import Runtime
import Scripts

public enum QueueGateVerdict: Equatable, Sendable {
    case pass
    /// The event's settings are not in Redis: reload them from PostgreSQL, then retry.
    case noEvent
    case tokenRequired
    /// status: INVALID, WAITING (position ≥ 1) or EXPIRED.
    case notActive(status: String, position: Int64)

    /// The refusal a gated script returned, or nil when `items` is not one.
    public init?(refusal items: [RedisValue]) {
        switch items.first?.string {
        case "NO_EVENT": self = .noEvent
        case "QUEUE_TOKEN_REQUIRED": self = .tokenRequired
        case "QUEUE_NOT_ACTIVE" where items.count == 3:
            guard let status = items[1].string, let position = items[2].int else { return nil }
            self = .notActive(status: status, position: position)
        default: return nil
        }
    }
}

public struct QueueGateScript {
    public static let script = LuaScript.named("queue_gate")

    public let keys: EventKeys
    public init(eventID: String) { keys = EventKeys(eventID: eventID) }

    /// KEYS of queue_gate.lua; gated scripts pass the same four first.
    public var gateKeys: [String] { [keys.queueConfiguration, keys.waiting, keys.active, keys.admitted] }

    public func check(userID: String, token: String?) -> [String] { ["check", keys.eventID, userID, token ?? ""] }
    public func expire(userID: String) -> [String] { ["expire", keys.eventID, userID, ""] }

    public func run(_ arguments: [String], on redis: RedisConnection,
                    completion: @escaping (Result<QueueGateVerdict, Error>) -> Void) {
        redis.run(Self.script, keys: gateKeys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    public func run(_ arguments: [String], on redis: RedisBlockingConnection) throws -> QueueGateVerdict {
        try Self.decode(redis.run(Self.script, keys: gateKeys, arguments: arguments)).get()
    }

    static func decode(_ value: RedisValue) -> Result<QueueGateVerdict, Error> {
        guard let items = value.array else { return .failure(ScriptReplyError("queue_gate", reply: value.description)) }
        if items.first?.string == "PASS" || items.first?.string == "EXPIRED" { return .success(.pass) }
        if let verdict = QueueGateVerdict(refusal: items) { return .success(verdict) }
        return .failure(ScriptReplyError("queue_gate", reply: value.description))
    }
}
