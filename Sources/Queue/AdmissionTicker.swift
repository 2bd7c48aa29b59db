// Every gateway instance runs one AdmissionTicker: on a timer of its own loop, it calls queue.lua's
// `admit` for each event in the registry. Any number of instances may do so at once — the script is one
// atomic decision that reads the state it changes — so there is no leader to elect and no gap when an
// instance dies. The last round per event is kept for /metrics.
import Runtime

public final class AdmissionTicker {
    public let loop: EventLoop
    private let redis: RedisConnection
    private var job: RepeatingJob!
    private var eventIDs: [String] = []
    private var registryReadAt: UInt64 = 0
    private var registryPending = false
    private var inFlight: Set<String> = []
    private var rounds: [String: AdmissionRound] = [:]

    /// How often the list of events is re-read from Redis.
    static let registryRefreshNanos: UInt64 = 1_000_000_000

    public init(loop: EventLoop, redis: RedisConnection, intervalMilliseconds: Int) {
        self.loop = loop
        self.redis = redis
        job = RepeatingJob(loop: loop, everyMilliseconds: intervalMilliseconds) { [self] in tick() }  // strong: the job lives as long as its loop
    }

    /// Starts ticking (from any thread). Stops when the loop stops.
    public func start() { job.start() }

    public func stop() { job.stop() }

    /// Adds an event at once (its creator need not wait for the next registry read). Any thread.
    public func watch(_ eventID: String) {
        loop.execute {
            if !self.eventIDs.contains(eventID) { self.eventIDs.append(eventID) }
        }
    }

    /// The last round of every event, handed to `completion` on the ticker's loop.
    public func lastRounds(_ completion: @escaping ([(eventID: String, round: AdmissionRound)]) -> Void) {
        loop.execute {
            completion(self.rounds.keys.sorted().map { ($0, self.rounds[$0]!) })
        }
    }

    private func tick() {
        let now = monotonicNanos()
        if !registryPending && now &- registryReadAt >= Self.registryRefreshNanos {
            registryPending = true
            redis.send(["SMEMBERS", EventKeys.registry]) { [self] result in
                registryPending = false
                if case .success(.array(let members)) = result {
                    registryReadAt = monotonicNanos()
                    let known = members.compactMap(\.string)
                    // Keep ids added by `watch` that the registry read raced with.
                    eventIDs = Array(Set(known).union(eventIDs)).sorted()
                }
            }
        }
        for eventID in eventIDs where !inFlight.contains(eventID) {
            inFlight.insert(eventID)
            let script = QueueScript(eventID: eventID)
            script.run(script.admit, on: redis) { [self] result in
                inFlight.remove(eventID)
                switch result {
                case .success(.admitted(let round)):
                    rounds[eventID] = round
                case .success(.noEvent):
                    // Settings not in Redis (yet, or after a Redis loss): the next request for this event
                    // reloads them from PostgreSQL; until then there is nothing to admit.
                    rounds[eventID] = nil
                case .success(let other):
                    Log.warn("admission: unexpected reply", ["event": eventID, "reply": "\(other)"])
                case .failure(let error):
                    Log.debug("admission round failed", ["event": eventID, "error": "\(error)"])
                }
            }
        }
    }
}
