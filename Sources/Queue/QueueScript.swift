// The Swift side of lua/queue.lua: the arguments of each operation and its decoded reply. The script's
// header comment is the contract; this file only mirrors it.
import Runtime
import Scripts

public enum QueueReply: Equatable, Sendable {
    /// The event's settings are not in Redis: reload them from PostgreSQL, then retry.
    case noEvent
    case disabled
    /// The token is not this user's token for this event.
    case invalidToken
    /// `etaSeconds` nil while admission is paused. `fresh`: this call issued the token.
    case waiting(token: String, position: Int64, etaSeconds: Int64?, pollAfterMs: Int64, fresh: Bool)
    case active(token: String, activeUntilMs: Int64, pollAfterMs: Int64, fresh: Bool)
    case expired
    case left
    case admitted(AdmissionRound)
    case stats(QueueStats)
    case configured(version: Int64)
}

/// What one `admit` call did, and the queue's size after it.
public struct AdmissionRound: Equatable, Sendable {
    public var admitted: Int64
    public var expired: Int64
    public var abandoned: Int64
    public var waiting: Int64
    public var active: Int64
    public var ratePerSecond: Double
    public var admittedTotal: Int64
}

public struct QueueStats: Equatable, Sendable {
    public var waiting: Int64
    public var active: Int64
    public var admittedTotal: Int64
    public var ratePerSecond: Double
    public var enteredTotal: Int64
}

public struct QueueScript {
    public static let script = LuaScript.named("queue")

    public let keys: EventKeys
    public init(eventID: String) { keys = EventKeys(eventID: eventID) }

    public func enter(userID: String) -> [String] { ["enter", keys.eventID, userID] }
    public func poll(userID: String, token: String) -> [String] { ["poll", keys.eventID, userID, token] }
    public func leave(userID: String, token: String) -> [String] { ["leave", keys.eventID, userID, token] }
    public var admit: [String] { ["admit", keys.eventID] }
    public var stats: [String] { ["stats", keys.eventID] }

    /// Writes `settings` (and the token secret) unless Redis already holds a newer `version`.
    public func configure(_ settings: QueueSettings, secret: String, version: Int64) -> [String] {
        ["configure", keys.eventID, String(version),
         "enabled", settings.enabled ? "1" : "0", "maxActive", String(settings.maxActive),
         "activeTtl", String(settings.activeTtlSeconds), "admitPerSecond", String(settings.admitPerSecond ?? 0),
         "abandonAfter", String(settings.abandonAfterSeconds), "secret", secret]
    }

    /// Runs one operation on `redis` (a loop's connection); `completion` gets the decoded reply, or the
    /// transport error, or `ScriptReplyError` for a reply this file does not know (a bug).
    public func run(_ arguments: [String], on redis: RedisConnection,
                    completion: @escaping (Result<QueueReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys.queueScriptKeys, arguments: arguments) { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let value): completion(Self.decode(value))
            }
        }
    }

    /// The same through a blocking connection (CLI, tests, the worker).
    public func run(_ arguments: [String], on redis: RedisBlockingConnection) throws -> QueueReply {
        try Self.decode(redis.run(Self.script, keys: keys.queueScriptKeys, arguments: arguments)).get()
    }

    public static func decode(_ value: RedisValue) -> Result<QueueReply, Error> {
        guard let items = value.array, let kind = items.first?.string else {
            return .failure(ScriptReplyError("queue", reply: value.description))
        }
        func int(_ i: Int) -> Int64? { i < items.count ? items[i].int : nil }
        func text(_ i: Int) -> String? { i < items.count ? items[i].string : nil }
        switch kind {
        case "NO_EVENT": return .success(.noEvent)
        case "DISABLED": return .success(.disabled)
        case "INVALID": return .success(.invalidToken)
        case "EXPIRED": return .success(.expired)
        case "LEFT": return .success(.left)
        case "WAITING":
            if let token = text(1), let position = int(2), let eta = int(3), let poll = int(4), let fresh = int(5) {
                return .success(.waiting(token: token, position: position, etaSeconds: eta < 0 ? nil : eta,
                                         pollAfterMs: poll, fresh: fresh == 1))
            }
        case "ACTIVE":
            if let token = text(1), let until = int(2), let poll = int(3), let fresh = int(4) {
                return .success(.active(token: token, activeUntilMs: until, pollAfterMs: poll, fresh: fresh == 1))
            }
        case "ADMIT":
            if let admitted = int(1), let expired = int(2), let abandoned = int(3), let waiting = int(4),
               let active = int(5), let rate = text(6).flatMap(Double.init), let total = int(7) {
                return .success(.admitted(AdmissionRound(admitted: admitted, expired: expired, abandoned: abandoned,
                                                         waiting: waiting, active: active, ratePerSecond: rate,
                                                         admittedTotal: total)))
            }
        case "STATS":
            if let waiting = int(1), let active = int(2), let total = int(3), let rate = text(4).flatMap(Double.init),
               let entered = int(5) {
                return .success(.stats(QueueStats(waiting: waiting, active: active, admittedTotal: total,
                                                  ratePerSecond: rate, enteredTotal: entered)))
            }
        case "CONFIGURED":
            if let version = int(1) { return .success(.configured(version: version)) }
        default:
            break
        }
        return .failure(ScriptReplyError("queue", reply: value.description))
    }
}
