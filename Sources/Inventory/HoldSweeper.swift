// Releases unpaid holds whose deadline passed: orders' stock and concert seats. Every gateway runs one,
// once a second, over every registered event: it reads the due holds (ZRANGE of the event's holds with
// their deadlines, compared with Redis's TIME) and releases each by its id's kind — an order with
// order_release.lua, a seat reservation with seat_release.lua. Both give back only what is still held
// (compare-and-delete), so many sweepers at once, and readers releasing lazily, release once.
import Queue
import Runtime

public final class HoldSweeper {
    public let loop: EventLoop
    private let redis: RedisConnection
    private var job: RepeatingJob!
    private var eventIDs: [String] = []
    private var busy = false
    public private(set) var released = 0

    public init(loop: EventLoop, redis: RedisConnection, intervalMilliseconds: Int = 1_000) {
        self.loop = loop
        self.redis = redis
        job = RepeatingJob(loop: loop, everyMilliseconds: intervalMilliseconds) { [self] in sweep() }  // strong: the job lives as long as its loop
    }

    public func start() { job.start() }

    public func stop() { job.stop() }

    private func sweep() {
        guard !busy else { return }
        busy = true
        redis.send(["SMEMBERS", EventKeys.registry]) { [self] result in
            if case .success(.array(let members)) = result { eventIDs = members.compactMap(\.string).sorted() }
            sweep(events: eventIDs[...])
        }
    }

    private func sweep(events: ArraySlice<String>) {
        guard let eventID = events.first else {
            busy = false
            return
        }
        let keys = EventKeys(eventID: eventID)
        var time: RedisValue?, due: RedisValue?
        func next() {
            guard let time, let due else { return }
            guard case .array(let clock) = time, clock.count == 2, let seconds = clock[0].int, let micros = clock[1].int,
                  case .array(let holds) = due else { return sweep(events: events.dropFirst()) }
            let now = seconds * 1000 + micros / 1000
            var ids: [String] = []
            for i in stride(from: 0, to: holds.count - 1, by: 2) where (holds[i + 1].int ?? .max) <= now {
                if let id = holds[i].string { ids.append(id) }
            }
            release(ids[...], keys) { self.sweep(events: events.dropFirst()) }
        }
        redis.send(["TIME"]) { result in time = (try? result.get()) ?? .null; next() }
        redis.send(["ZRANGE", keys.holds, "0", "99", "WITHSCORES"]) { result in due = (try? result.get()) ?? .null; next() }
    }

    private func release(_ holds: ArraySlice<String>, _ keys: EventKeys, then: @escaping () -> Void) {
        guard let id = holds.first else { return then() }
        if id.hasPrefix("rsv_") { releaseSeat(id, holds, keys, then: then) } else { releaseOrder(id, holds, keys, then: then) }
    }

    private func releaseOrder(_ orderID: String, _ holds: ArraySlice<String>, _ keys: EventKeys, then: @escaping () -> Void) {
        redis.send(["HGET", keys.order(orderID), "record"]) { [self] result in
            guard case .success(let value) = result else { return then() }  // Redis away: next round
            guard let text = value.string, let record = OrderRecord(json: text) else {
                Log.warn("a hold names an order without a readable record", ["order": orderID])
                return release(holds.dropFirst(), keys, then: then)
            }
            OrderReleaseScript(record: record, reason: "EXPIRED").run(on: redis) { [self] outcome in
                if case .success(.released) = outcome { released += 1 }
                release(holds.dropFirst(), keys, then: then)
            }
        }
    }

    private func releaseSeat(_ reservationID: String, _ holds: ArraySlice<String>, _ keys: EventKeys, then: @escaping () -> Void) {
        redis.send(["HGET", keys.reservation(reservationID), "record"]) { [self] result in
            guard case .success(let value) = result else { return then() }  // Redis away: next round
            guard let text = value.string, let record = ReservationRecord(json: text) else {
                Log.warn("a hold names a reservation without a readable record", ["reservation": reservationID])
                return release(holds.dropFirst(), keys, then: then)
            }
            SeatReleaseScript(record: record, reason: "EXPIRED").run(on: redis) { [self] outcome in
                if case .success(.released) = outcome { released += 1 }
                release(holds.dropFirst(), keys, then: then)
            }
        }
    }
}
