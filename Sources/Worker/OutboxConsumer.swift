// OutboxConsumer: drains the outbox streams into PostgreSQL (DESIGN.md rule 2, "Durability").
//
// One thread, one blocking Redis connection, one PostgreSQL connection; never an event loop. A round:
//   1. pipelined XREADGROUP … COUNT n STREAMS <one stream> > for every stream (never two streams in
//      one command: on a cluster they would cross slots);
//   2. decode every entry; what cannot be decoded is failed on its own (below);
//   3. write everything in ONE transaction of batched INSERT … SELECT FROM unnest(…) ON CONFLICT (id)
//      DO NOTHING statements, one per event type;
//   4. XACK, pipelined, one per stream — only after COMMIT. A crash in between redelivers entries whose
//      rows exist; the primary key turns the second write into nothing.
// Nothing new: sleep briefly (BLOCK cannot wait on several streams of a cluster at once).
// While a round's transaction runs, a helper thread already sends the previous round's XACKs, reads the
// next round and decodes it on a second Redis connection (Prefetch): Redis, the decoding and PostgreSQL
// work at the same time, which is what makes one worker drain faster than its PostgreSQL round trips
// alone would allow. The prefetched round is held like any other batch (claimed, retried, never acked
// before its own commit).
//
// Failures:
//   - PostgreSQL unavailable: keep the batch in memory, back off 100 ms doubling to 5 s, reconnect,
//     write the same batch again. One log line per outage. Entries held this long are re-claimed
//     (XCLAIM JUSTID) now and then so that other workers do not take them over and count deliveries.
//   - A batch rejected for its data: bisect it, each half in its own transaction, until the offending
//     entries stand alone. The rest commit and are acknowledged; an offender stays pending and is
//     retried by itself after a delay. Its attempt count is Redis's delivery count, which the consumer
//     raises (XCLAIM RETRYCOUNT) before each retry, so a crash does not reset it. At K attempts it moves
//     to `<stream>:dead` with every original field plus error, attempts, sourceStream and sourceId, in
//     one MULTI with its XACK — never dropped.
//   - Entries a consumer left pending (it died) are taken over with XAUTOCLAIM once idle long enough.
//     XAUTOCLAIM raises the delivery count too, so an entry that kills every worker that reads it
//     reaches the dead-letter stream after K deliveries instead of killing workers forever.
//
// Housekeeping on the same thread: Redis-side gauges every second (published to OutboxMetrics), and a
// trim every few seconds that never passes the oldest entry any group in OutboxStreams.groups still
// needs (OutboxConsumer+Maintenance.swift).
import Foundation
import Persistence
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public final class OutboxConsumer: @unchecked Sendable {
    public struct Settings {
        public var redis: RedisEndpoint
        public var postgresURL: String
        /// The streams to drain. More can be added while running with `addStreams`.
        public var streams: [String] = OutboxStreams.userOutboxes
        /// A Redis set of more stream names to drain, re-read once a second; nil: only `streams`.
        public var streamRegistry: String? = OutboxStreams.registry
        /// Groups created on every stream, and respected by trimming. Must include `group`.
        public var groups: [String] = OutboxStreams.groups
        /// Groups of `groups` that trimming respects only while their lease key (the value) exists.
        public var leasedGroups: [String: String] = OutboxStreams.leasedGroups
        /// The group this consumer reads as.
        public var group: String = OutboxStreams.writerGroup
        /// Unique per consumer: a consumer's pending entries are its own.
        public var consumerName: String = OutboxConsumer.uniqueConsumerName()
        /// Entries read per stream per round (XREADGROUP COUNT); one transaction holds a round.
        public var batchSize = 1_000
        /// K: failed attempts (or deliveries) before an entry is dead-lettered.
        public var maxAttempts = 5
        /// How long an entry must sit unacknowledged before a consumer takes it over.
        public var claimIdleMilliseconds = 30_000
        /// How often to look for such entries; nil: a third of the claim idle, within 0.2…5 s.
        public var claimIntervalMilliseconds: Int?
        public var trimIntervalMilliseconds = 5_000
        public var gaugeIntervalMilliseconds = 1_000
        /// Pause after a round that found nothing at all.
        public var idleSleepMilliseconds = 25
        public var redisTimeoutMilliseconds = 5_000
        public var handlers: OutboxHandlers = .standard

        public init(redis: RedisEndpoint, postgresURL: String) {
            self.redis = redis
            self.postgresURL = postgresURL
        }

        /// The worker's settings from the process configuration.
        public init(configuration: Configuration) {
            self.init(redis: configuration.redisEndpoint, postgresURL: configuration.postgresURL)
            batchSize = configuration.workerBatch
            maxAttempts = configuration.workerMaxAttempts
            claimIdleMilliseconds = configuration.workerClaimIdleMilliseconds
            redisTimeoutMilliseconds = max(5_000, configuration.redisTimeoutMilliseconds)
        }

        var effectiveClaimInterval: Int {
            claimIntervalMilliseconds ?? min(5_000, max(200, claimIdleMilliseconds / 3))
        }
    }

    public let settings: Settings
    public let metrics: OutboxMetrics
    public var consumerName: String { settings.consumerName }

    // Shared with other threads, under `control`.
    private let control = NSCondition()
    private var stopRequested = false
    private var finished = true
    private var addedStreams: [String] = []

    // Consumer-thread state (internal so the extensions in the other files can reach it).
    var redis: RedisBlockingConnection
    /// Used only by the prefetch helper, one request at a time, while the consumer thread waits on
    /// PostgreSQL.
    let prefetchRedis: RedisBlockingConnection
    let prefetchQueue = DispatchQueue(label: "outbox-prefetch")
    /// A decoded round read ahead, written after `held`.
    var queued: [OutboxEvent] = []
    var queuedClaimedAt: UInt64 = 0
    var writer: OutboxWriter
    var streams: [String] = []
    var readyStreams = Set<String>()
    var nextGroupAttemptAt: UInt64 = 0
    /// The batch being written, kept across PostgreSQL outages.
    var held: [OutboxEvent] = []
    /// Retried entries are written one per transaction; fresh and reclaimed ones as one batch.
    var heldOnePerTransaction = false
    var heldClaimedAt: UInt64 = 0
    var retries: [Retry] = []
    /// Committed entries not yet acknowledged, per stream.
    var acks: [String: [String]] = [:]
    var claimCursors: [String: String] = [:]
    var nextClaimAt: UInt64 = 0
    var nextTrimAt: UInt64 = 0
    var nextGaugesAt: UInt64 = 0
    var nextRegistryReadAt: UInt64 = 0
    var postgresDownSince: UInt64?
    var redisDownSince: UInt64?
    var backoffMilliseconds = 100
    var lastWarnings: [String: UInt64] = [:]

    struct Retry {
        var entry: OutboxEntry
        var dueAt: UInt64
    }

    public init(settings: Settings, metrics: OutboxMetrics = OutboxMetrics()) {
        precondition(settings.groups.contains(settings.group), "the reading group must be one of the groups")
        self.settings = settings
        self.metrics = metrics
        redis = RedisBlockingConnection(endpoint: settings.redis, timeoutMilliseconds: settings.redisTimeoutMilliseconds)
        prefetchRedis = RedisBlockingConnection(endpoint: settings.redis, timeoutMilliseconds: settings.redisTimeoutMilliseconds)
        writer = OutboxWriter(url: settings.postgresURL, handlers: settings.handlers)
        streams = Self.unique(settings.streams)
    }

    /// `hostname-pid-random`: unique across machines, processes and consumers of one process.
    public static func uniqueConsumerName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count - 1) == 0 ? String(cString: buffer) : "host"
        return "\(host)-\(getpid())-\(SecureRandom.hex(bytes: 4))"
    }

    // MARK: - Lifecycle (any thread)

    public func start() {
        control.lock()
        precondition(finished, "OutboxConsumer.start() called twice")
        finished = false
        stopRequested = false
        control.unlock()
        let thread = Thread { [self] in
            run()
            control.lock()
            finished = true
            control.broadcast()
            control.unlock()
        }
        thread.name = "outbox"
        thread.start()
    }

    /// Asks the thread to stop after the step in progress and waits for it (at most `timeoutSeconds`).
    /// Entries written are acknowledged first; entries not written stay pending for another consumer.
    @discardableResult
    public func stop(timeoutSeconds: Double = 30) -> Bool {
        control.lock()
        defer { control.unlock() }
        stopRequested = true
        control.broadcast()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !finished {
            if !control.wait(until: deadline) { break }
        }
        return finished
    }

    /// Adds streams to drain (e.g. a new sale's event stream); picked up within one round. Idempotent.
    public func addStreams(_ names: [String]) {
        control.lock()
        addedStreams += names
        control.unlock()
    }

    var shouldStop: Bool {
        control.lock()
        defer { control.unlock() }
        return stopRequested
    }

    /// Sleeps up to `milliseconds`, waking early when asked to stop.
    func pause(milliseconds: Int) {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        control.lock()
        while !stopRequested, control.wait(until: deadline) {}
        control.unlock()
    }

    // MARK: - The loop (consumer thread)

    private func run() {
        Log.info("outbox consumer started", ["consumer": consumerName, "group": settings.group,
                                             "streams": "\(streams.count)", "batch": "\(settings.batchSize)"])
        // On stop, a round already read ahead is still written (unless PostgreSQL is away).
        while !shouldStop || (!queued.isEmpty && postgresDownSince == nil && redisDownSince == nil) {
            do {
                try step()
                if redisDownSince != nil { redisRecovered() }
            } catch let error as RedisError {
                redisUnavailable(error)
            } catch {
                // Not expected: PostgreSQL errors are handled inside the step. Keep going, slowly.
                warnThrottled("step", "outbox consumer step failed", ["error": "\(error)"])
                pause(milliseconds: nextBackoff())
            }
        }
        // Acknowledge what was committed; anything else stays pending and is reclaimed elsewhere.
        if !acks.isEmpty { try? flushAcks() }
        writer.close()
        Log.info("outbox consumer stopped", ["consumer": consumerName, "unwritten": "\(held.count + queued.count + retries.count)"])
    }

    private func step() throws {
        try readStreamRegistryIfDue()
        takeAddedStreams()
        try ensureGroupsIfDue()
        let now = monotonicNanos()
        if now >= nextGaugesAt {
            let trim = now >= nextTrimAt
            try readGaugesAndTrim(trim: trim)
            nextGaugesAt = now + Self.nanos(settings.gaugeIntervalMilliseconds)
            if trim { nextTrimAt = now + Self.nanos(settings.trimIntervalMilliseconds) }
        }
        if held.isEmpty && !queued.isEmpty {
            held = queued
            queued = []
            heldOnePerTransaction = false
            heldClaimedAt = queuedClaimedAt
        }
        if held.isEmpty {
            try flushAcks()
            let due = takeDueRetries(now: now)
            if !due.isEmpty {
                try load(due, onePerTransaction: true)
            } else if now >= nextClaimAt {
                nextClaimAt = now + Self.nanos(settings.effectiveClaimInterval)
                try load(try reclaim(), onePerTransaction: false)
            }
            if held.isEmpty && due.isEmpty {
                let fresh = try readNew()
                if fresh.isEmpty {
                    pause(milliseconds: settings.idleSleepMilliseconds)
                    return
                }
                try load(fresh, onePerTransaction: false)
            }
        }
        guard !held.isEmpty else { return }

        // Read ahead only on the plain path: not while PostgreSQL is away (the batch waits in memory
        // already), not for retries, and not when retries or a reclaim are due (they go next).
        let readAhead = !heldOnePerTransaction && postgresDownSince == nil && queued.isEmpty && !shouldStop
            && !retries.contains { $0.dueAt <= now } && now < nextClaimAt
        let prefetch = readAhead ? startPrefetch() : nil
        let events = held.count
        let started = monotonicNanos()
        var failure: Error?
        do { try writeHeld() } catch { failure = error }
        let written = monotonicNanos()
        if let prefetch { try finishPrefetch(prefetch) }
        Log.debug("outbox round", ["events": "\(events)", "writeMs": Self.ms(written - started),
                                   "prefetchWaitMs": Self.ms(monotonicNanos() - written), "readAhead": "\(queued.count)"])
        if let failure { throw failure }
    }

    private static func ms(_ nanos: UInt64) -> String { String(format: "%.1f", Double(nanos) / 1e6) }

    /// New streams from the registry (events created since the last look) join the list.
    private func readStreamRegistryIfDue() throws {
        guard let registry = settings.streamRegistry else { return }
        let now = monotonicNanos()
        guard now >= nextRegistryReadAt else { return }
        nextRegistryReadAt = now + 1_000_000_000
        guard case .array(let members) = try redis.command(["SMEMBERS", registry]) else { return }
        let known = Set(streams)
        let added = members.compactMap(\.string).filter { !known.contains($0) }
        if !added.isEmpty { addStreams(added.sorted()) }
    }

    private func takeAddedStreams() {
        control.lock()
        let added = addedStreams
        addedStreams.removeAll()
        control.unlock()
        guard !added.isEmpty else { return }
        streams = Self.unique(streams + added)
        nextGroupAttemptAt = 0
    }

    private func takeDueRetries(now: UInt64) -> [OutboxEntry] {
        guard !retries.isEmpty else { return [] }
        var due: [OutboxEntry] = []
        retries.removeAll { retry in
            guard retry.dueAt <= now else { return false }
            due.append(retry.entry)
            return true
        }
        return due
    }

    /// Decodes entries into `held`; an entry that does not decode is failed right away.
    func load(_ entries: [OutboxEntry], onePerTransaction: Bool) throws {
        guard !entries.isEmpty else { return }
        let (events, failures) = Self.decode(entries, settings.handlers)
        held = events
        heldOnePerTransaction = onePerTransaction
        heldClaimedAt = monotonicNanos()
        for failure in failures { try failEntry(failure.entry, error: failure.error) }
    }

    /// Pure (runs on the prefetch thread too): events, and the entries that do not decode with why.
    static func decode(_ entries: [OutboxEntry], _ handlers: OutboxHandlers) -> (events: [OutboxEvent], failures: [(entry: OutboxEntry, error: String)]) {
        var events: [OutboxEvent] = []
        var failures: [(entry: OutboxEntry, error: String)] = []
        events.reserveCapacity(entries.count)
        for entry in entries {
            do {
                let event = try OutboxEvent.decode(entry) { handlers.handler(for: $0) != nil }
                try handlers.handler(for: event.type)!.validate(event)
                events.append(event)
            } catch {
                failures.append((entry, "\(error)"))
            }
        }
        return (events, failures)
    }

    // MARK: - Outages and logging

    func nextBackoff() -> Int {
        let current = backoffMilliseconds
        backoffMilliseconds = min(5_000, backoffMilliseconds * 2)
        return current
    }

    func resetBackoff() { backoffMilliseconds = 100 }

    private func redisUnavailable(_ error: RedisError) {
        if redisDownSince == nil {
            redisDownSince = monotonicNanos()
            Log.warn("outbox consumer: Redis unavailable, retrying with backoff",
                     ["consumer": consumerName, "error": error.message, "holding": "\(held.count)"])
            metrics.update { $0.redisAvailable = false }
        }
        // The group may be gone after Redis comes back empty: make sure again.
        readyStreams.removeAll()
        nextGroupAttemptAt = 0
        pause(milliseconds: nextBackoff())
    }

    private func redisRecovered() {
        let seconds = Double(monotonicNanos() - (redisDownSince ?? 0)) / 1e9
        redisDownSince = nil
        resetBackoff()
        Log.info("outbox consumer: Redis available again", ["consumer": consumerName, "downSeconds": String(format: "%.1f", seconds)])
        metrics.update { $0.redisAvailable = true }
    }

    /// At most one line per `key` per minute, for conditions that would otherwise log every round.
    func warnThrottled(_ key: String, _ message: String, _ fields: [String: String]) {
        let now = monotonicNanos()
        if let last = lastWarnings[key], now - last < 60_000_000_000 { return }
        if lastWarnings.count >= 1_000 { lastWarnings = lastWarnings.filter { now - $0.value < 60_000_000_000 } }
        lastWarnings[key] = now
        Log.warn(message, fields.merging(["consumer": consumerName]) { a, _ in a })
    }

    static func nanos(_ milliseconds: Int) -> UInt64 { UInt64(max(0, milliseconds)) * 1_000_000 }

    static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}
