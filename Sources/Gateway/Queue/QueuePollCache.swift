// Why a poll can skip the queue script most of the time.
//
// queue.lua's `poll` does two things besides reading the place: it checks the token's MAC, and it marks
// the user "seen" in the current abandonment window (a bit, set once per window). Both only need to
// happen once per window for a given user and token. So each loop remembers, per event, the
// (user, token) pairs the script confirmed during the current window; a poll of such a pair is answered
// by lua/queue_peek.lua (ZSCORE/ZRANK of the line, the active slot, the stored rate, TIME: reads only)
// pipelined with the session's fields — one round trip, a fraction of the work. Anything else (first
// poll of the window on this loop, a new token) goes through queue.lua as before, also one round trip.
//
// Safe by construction: a confirmation is recorded for the window of the TIME read just *before* the
// script ran, so the cache never claims a window later than the one the script marked; and a user
// marked in window w stays alive through w+4, far longer than any clock estimate can be off. The
// confirmations are dropped when the window moves on, so memory is bounded by one window's pollers.
import Queue
import Runtime

final class QueuePollCache {
    final class Event {
        let keys: EventKeys
        /// KEYS of lua/queue_peek.lua, built once.
        let peekKeys: [String]
        /// abandonAfter in ms (fixed when the event is created), and the window length queue.lua derives.
        let abandonAfterMs: Int64
        let windowMs: Int64
        var window: Int64 = -1
        /// "userId token" → confirmed in `window`.
        var confirmed: Set<String> = []

        init(eventID: String, abandonAfterMs: Int64) {
            keys = EventKeys(eventID: eventID)
            peekKeys = [keys.waiting, keys.active, keys.admitted, keys.queueState]
            self.abandonAfterMs = abandonAfterMs
            windowMs = max(250, abandonAfterMs / 4)  // as queue.lua
        }

        func isConfirmed(_ pair: String, nowMs: Int64) -> Bool {
            window == nowMs / windowMs && confirmed.contains(pair)
        }

        func confirm(_ pair: String, nowMs: Int64) {
            let current = nowMs / windowMs
            if current != window {
                guard current > window else { return }
                window = current
                confirmed.removeAll(keepingCapacity: true)
            }
            confirmed.insert(pair)
        }
    }

    private(set) var events: [String: Event] = [:]
    /// Redis's clock as last read by a poll on this loop, and when (monotonic).
    private var redisMs: Int64 = 0
    private var readAt: UInt64 = 0

    func event(_ eventID: String) -> Event? { events[eventID] }

    func remember(_ eventID: String, abandonAfterMs: Int64) -> Event {
        if let known = events[eventID], known.abandonAfterMs == abandonAfterMs { return known }
        let event = Event(eventID: eventID, abandonAfterMs: abandonAfterMs)
        events[eventID] = event
        return event
    }

    /// Redis's clock now, estimated from the last TIME read on this loop (nil before the first).
    var estimatedRedisNow: Int64? {
        guard readAt > 0 else { return nil }
        return redisMs + Int64((monotonicNanos() &- readAt) / 1_000_000)
    }

    func noteRedisTime(_ ms: Int64) {
        redisMs = ms
        readAt = monotonicNanos()
    }

    /// Milliseconds since the epoch from a TIME reply.
    static func milliseconds(fromTime reply: RedisValue) -> Int64? {
        guard case .array(let parts) = reply, parts.count == 2, let seconds = parts[0].int, let micros = parts[1].int else { return nil }
        return seconds * 1000 + micros / 1000
    }
}
