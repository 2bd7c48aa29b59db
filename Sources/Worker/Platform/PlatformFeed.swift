// PlatformFeed: delivers every ORDER_PAID and RESERVATION_CONFIRMED outbox entry to the data platform
// (API.md "Data platform"), at least once, through its own consumer group `platform` on the outbox
// streams. It runs in the worker, so a slow or absent receiver never touches a payment.
//
// Two threads: the feed thread owns a blocking Redis connection and all bookkeeping (as OutboxConsumer
// does); a loop thread runs the event-loop HTTPClient, which keeps connections alive and sends many
// deliveries at once. Deliveries go to the loop with `execute`; answers come back through `results`
// (under `control`), which wakes the feed thread.
//
// An entry read by the group is, until acknowledged, in exactly one of: on the wire, or waiting for a
// retry. At most `maxOutstanding` of them, so a dead receiver bounds memory, and the rest waits in Redis
// (the backlog gauge shows it).
//   - Other types: acknowledged at once. A payload that cannot make a body: dead-lettered at once (the
//     same bytes would fail the same way every time).
//   - 2xx or 409 → acknowledged. 408, 429, 5xx, timeouts, refused or reset connections → retried after
//     a full-jitter exponential backoff (PlatformBackoff); these never count towards K, so an outage of
//     any length loses nothing. Any other 4xx is a refusal: Redis's delivery count is raised (XCLAIM
//     RETRYCOUNT, surviving a crash) and at K refusals the entry goes to `<stream>:dead`.
//   - Entries held here are re-claimed (XCLAIM JUSTID) every third of the claim idle time, so other
//     feeds do not take them over while they wait out a long backoff; entries of a feed that died are
//     taken over with XAUTOCLAIM and delivered again (the receiver deduplicates on Idempotency-Key).
//   - The lease of OutboxStreams.platformLease is renewed every few seconds: trimming waits for this
//     group while it exists.
import Foundation
import HTTP
import Runtime

public final class PlatformFeed: @unchecked Sendable {
    public struct Settings {
        public var redis: RedisEndpoint
        /// Where deliveries are POSTed.
        public var url: HTTPURL
        public var streams: [String] = OutboxStreams.userOutboxes
        public var streamRegistry: String? = OutboxStreams.registry
        public var group = OutboxStreams.platformGroup
        public var consumerName = OutboxConsumer.uniqueConsumerName()
        /// K: refusals (4xx other than 408/429) before an entry is dead-lettered.
        public var maxAttempts = 5
        /// Entries read and not yet acknowledged, at most.
        public var maxOutstanding = 512
        public var claimIdleMilliseconds = 30_000
        public var backoff = PlatformBackoff()
        public var http: HTTPClient.Configuration = {
            var http = HTTPClient.Configuration()
            http.connectTimeoutMilliseconds = 1_000
            http.requestTimeoutMilliseconds = 5_000
            http.maxConnectionsPerEndpoint = 16
            return http
        }()
        public var leaseKey = OutboxStreams.platformLease
        public var leaseMilliseconds = OutboxStreams.platformLeaseMilliseconds
        public var gaugeIntervalMilliseconds = 1_000
        /// Pause when a round found nothing to do (a delivery's answer wakes the thread earlier).
        public var idleSleepMilliseconds = 25
        public var redisTimeoutMilliseconds = 5_000

        public init(redis: RedisEndpoint, url: HTTPURL) {
            self.redis = redis
            self.url = url
        }

        /// The worker's feed; nil when FLOODGATE_DATA_PLATFORM_URL is unset or empty (delivery off).
        public init?(configuration: Configuration) throws {
            guard let text = configuration.dataPlatformURL, !text.isEmpty else { return nil }
            self.init(redis: configuration.redisEndpoint, url: try HTTPURL(text))
            maxAttempts = configuration.workerMaxAttempts
            claimIdleMilliseconds = configuration.workerClaimIdleMilliseconds
            redisTimeoutMilliseconds = max(5_000, configuration.redisTimeoutMilliseconds)
        }
    }

    /// One entry read by the group and not yet acknowledged.
    final class Delivery {
        var entry: OutboxEntry
        let body: [UInt8]
        /// Transient failures so far (they set the backoff, not the dead-lettering).
        var failures = 0
        var dueAt: UInt64 = 0
        init(entry: OutboxEntry, body: [UInt8]) {
            self.entry = entry
            self.body = body
        }
    }

    public let settings: Settings
    public let metrics: PlatformMetrics
    public var consumerName: String { settings.consumerName }

    // Shared with the loop thread and callers, under `control`.
    private let control = NSCondition()
    private var stopRequested = false
    private var finished = true
    private var results: [(Delivery, Result<HTTPClientResponse, HTTPClientError>)] = []

    // Feed-thread state.
    let redis: RedisBlockingConnection
    var streams: [String]
    var readyStreams = Set<String>()
    var nextGroupAttemptAt: UInt64 = 0
    var waiting: [Delivery] = []
    var inFlight = 0
    var acks: [String: [String]] = [:]
    var claimCursors: [String: String] = [:]
    var nextClaimAt: UInt64 = 0
    var nextKeepClaimedAt: UInt64 = 0
    var nextLeaseAt: UInt64 = 0
    var nextGaugesAt: UInt64 = 0
    var nextRegistryReadAt: UInt64 = 0
    var redisDown = false
    var redisBackoff = 100
    /// Every delivery held (on the wire or waiting), by stream, for keeping them claimed.
    var held: [String: Set<String>] = [:]

    private var loopGroup: EventLoopGroup?
    private var client: HTTPClient?

    public init(settings: Settings, metrics: PlatformMetrics = PlatformMetrics()) {
        self.settings = settings
        self.metrics = metrics
        redis = RedisBlockingConnection(endpoint: settings.redis, timeoutMilliseconds: settings.redisTimeoutMilliseconds)
        streams = OutboxConsumer.unique(settings.streams)
    }

    // MARK: - Lifecycle (any thread)

    public func start() throws {
        control.lock()
        precondition(finished, "PlatformFeed.start() called twice")
        finished = false
        stopRequested = false
        control.unlock()
        let group = try EventLoopGroup(threads: 1, name: "platform")
        loopGroup = group
        client = HTTPClient(loop: group.loops[0], configuration: settings.http)
        let thread = Thread { [self] in
            run()
            control.lock()
            finished = true
            control.broadcast()
            control.unlock()
        }
        thread.name = "platform-feed"
        thread.start()
    }

    /// Stops the feed thread and the HTTP loop. Deliveries not yet answered stay pending in the group and
    /// are taken over (and sent again) by another feed, or by this one's successor.
    @discardableResult
    public func stop(timeoutSeconds: Double = 30) -> Bool {
        control.lock()
        stopRequested = true
        control.broadcast()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !finished { if !control.wait(until: deadline) { break } }
        let done = finished
        control.unlock()
        if let group = loopGroup, let client {
            let closed = DispatchSemaphore(value: 0)
            group.loops[0].execute { client.shutdown(); closed.signal() }
            closed.wait()
            group.shutdown()
            loopGroup = nil
            self.client = nil
        }
        return done
    }

    /// More streams to read (e.g. a new event's); picked up within a round.
    public func addStreams(_ names: [String]) {
        control.lock()
        pendingStreams += names
        control.unlock()
    }
    private var pendingStreams: [String] = []

    // MARK: - The feed thread

    private func run() {
        Log.info("data-platform feed started", ["consumer": consumerName, "url": settings.url.text, "streams": "\(streams.count)"])
        while true {
            control.lock()
            let stopping = stopRequested
            let added = pendingStreams
            pendingStreams.removeAll()
            control.unlock()
            if stopping { break }
            if !added.isEmpty {
                streams = OutboxConsumer.unique(streams + added)
                nextGroupAttemptAt = 0
            }
            do {
                let busy = try step()
                if redisDown {
                    redisDown = false
                    redisBackoff = 100
                    Log.info("data-platform feed: Redis available again", ["consumer": consumerName])
                    metrics.update { $0.redisAvailable = true }
                }
                if !busy { waitForResults(milliseconds: settings.idleSleepMilliseconds) }
            } catch {
                if !redisDown {
                    redisDown = true
                    Log.warn("data-platform feed: Redis unavailable, retrying with backoff", ["consumer": consumerName, "error": "\(error)"])
                    metrics.update { $0.redisAvailable = false }
                }
                readyStreams.removeAll()
                nextGroupAttemptAt = 0
                waitForResults(milliseconds: redisBackoff)
                redisBackoff = min(5_000, redisBackoff * 2)
            }
        }
        try? flushAcks()
        Log.info("data-platform feed stopped", ["consumer": consumerName, "unacknowledged": "\(inFlight + waiting.count)"])
    }

    /// One round; true when it found work, so the next round starts without a pause.
    private func step() throws -> Bool {
        let now = monotonicNanos()
        try renewLeaseIfDue(now)
        try readRegistryIfDue(now)
        try ensureGroupIfDue(now)
        if now >= nextGaugesAt {
            nextGaugesAt = now + OutboxConsumer.nanos(settings.gaugeIntervalMilliseconds)
            try readGauges()
        }
        var busy = try handleResults()
        try flushAcks()
        try keepHeldClaimedIfDue(now)
        if now >= nextClaimAt {
            nextClaimAt = now + OutboxConsumer.nanos(min(5_000, max(200, settings.claimIdleMilliseconds / 3)))
            busy = try admit(try reclaim()) || busy
        }
        let room = settings.maxOutstanding - inFlight - waiting.count
        if room > 0 {
            let fresh = try readNew(room: room)
            busy = try admit(fresh) || busy
        }
        try flushAcks()
        sendDue(now: monotonicNanos())
        metrics.update {
            $0.inFlight = inFlight
            $0.waitingRetry = waiting.count
        }
        return busy
    }

    /// Waits up to `milliseconds`, or until an answer arrives or stop is asked.
    private func waitForResults(milliseconds: Int) {
        var wait = milliseconds
        if let soonest = waiting.map(\.dueAt).min() {
            let now = monotonicNanos()
            wait = min(wait, soonest <= now ? 0 : Int((soonest - now) / 1_000_000) + 1)
        }
        let deadline = Date().addingTimeInterval(Double(wait) / 1000)
        control.lock()
        while results.isEmpty && !stopRequested && control.wait(until: deadline) {}
        control.unlock()
    }

    // MARK: - Deliveries

    /// Turns read entries into deliveries; other types are acknowledged, undeliverable ones dead-lettered.
    /// True if any entry came in.
    private func admit(_ entries: [OutboxEntry]) throws -> Bool {
        var skipped = 0
        for entry in entries {
            guard let type = entry.field("type"), PlatformDelivery.deliveredTypes.contains(type) else {
                acks[entry.stream, default: []].append(entry.id)
                skipped += 1
                continue
            }
            do {
                let event = try OutboxEvent.decode(entry) { PlatformDelivery.deliveredTypes.contains($0) }
                let delivery = Delivery(entry: entry, body: try PlatformDelivery.body(for: event))
                delivery.dueAt = 0
                waiting.append(delivery)
                held[entry.stream, default: []].insert(entry.id)
            } catch {
                try deadLetter(entry, error: "cannot build the delivery: \(error)")
            }
        }
        if skipped > 0 { metrics.update { $0.skipped += skipped } }
        return !entries.isEmpty
    }

    /// Hands every delivery whose time has come to the HTTP loop.
    private func sendDue(now: UInt64) {
        guard let client, let loop = loopGroup?.loops[0] else { return }
        var due: [Delivery] = []
        waiting.removeAll { delivery in
            guard delivery.dueAt <= now else { return false }
            due.append(delivery)
            return true
        }
        guard !due.isEmpty else { return }
        inFlight += due.count
        let url = settings.url
        loop.execute { [self] in
            for delivery in due {
                let request = HTTPClientRequest(method: .POST, target: url.target, headers: [
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Idempotency-Key", delivery.entry.field("id") ?? delivery.entry.id),
                ], body: delivery.body)
                client.execute(request, on: url.endpoint) { [self] result in
                    control.lock()
                    results.append((delivery, result))
                    control.signal()
                    control.unlock()
                }
            }
        }
    }

    /// Acts on the receiver's answers. True if there were any.
    private func handleResults() throws -> Bool {
        control.lock()
        let answered = results
        results.removeAll()
        control.unlock()
        guard !answered.isEmpty else { return false }
        inFlight -= answered.count
        var delivered = 0, duplicates = 0, lastUp: Bool?
        for (delivery, result) in answered {
            switch result {
            case .success(let response):
                switch PlatformDelivery.verdict(status: response.status) {
                case .delivered:
                    if response.status == 409 { duplicates += 1 } else { delivered += 1 }
                    acknowledge(delivery)
                    lastUp = true
                case .retry:
                    retry(delivery, reason: response.status >= 500 ? "status_5xx" : "status_\(response.status)")
                    lastUp = false
                case .refused:
                    try refused(delivery, status: response.status, body: response.bodyText)
                    lastUp = true  // it answered: up, just unhappy with this delivery
                }
            case .failure(let error):
                retry(delivery, reason: Self.reason(error))
                lastUp = false
            }
        }
        metrics.update {
            $0.delivered += delivered
            $0.duplicates += duplicates
            if let lastUp { $0.receiverUp = lastUp }
        }
        return true
    }

    private static func reason(_ error: HTTPClientError) -> String {
        switch error.kind {
        case .connect: return "connect"
        case .connectTimeout, .timeout: return "timeout"
        case .closed, .shutdown: return "closed"
        case .malformedResponse: return "malformed"
        }
    }

    private func acknowledge(_ delivery: Delivery) {
        acks[delivery.entry.stream, default: []].append(delivery.entry.id)
        held[delivery.entry.stream]?.remove(delivery.entry.id)
    }

    /// Backs off (full jitter) and tries again. `reason`: a transient failure to count (nil: counted
    /// already, as a refusal). Transient failures never count towards K.
    private func retry(_ delivery: Delivery, reason: String?) {
        delivery.failures += 1
        delivery.dueAt = monotonicNanos() + OutboxConsumer.nanos(settings.backoff.delay(retry: delivery.failures))
        waiting.append(delivery)
        metrics.update {
            if let reason { $0.failures[reason, default: 0] += 1 }
            $0.retries += 1
        }
    }

    /// The receiver refused this delivery (4xx). K refusals, counted in Redis, and it is dead-lettered.
    private func refused(_ delivery: Delivery, status: Int, body: String) throws {
        metrics.update { $0.failures["refused", default: 0] += 1 }
        let error = "the data platform answered \(status): \(body.prefix(500))"
        if delivery.entry.deliveries >= settings.maxAttempts {
            try deadLetter(delivery.entry, error: error)
            held[delivery.entry.stream]?.remove(delivery.entry.id)
            return
        }
        let next = delivery.entry.deliveries + 1
        let reply = try redis.command(["XCLAIM", delivery.entry.stream, settings.group, consumerName, "0", delivery.entry.id,
                                       "RETRYCOUNT", String(next), "JUSTID"])
        // Empty: no longer pending here (another feed took it over, or it was trimmed).
        guard case .array(let ids) = reply, !ids.isEmpty else {
            held[delivery.entry.stream]?.remove(delivery.entry.id)
            return
        }
        delivery.entry.deliveries = next
        retry(delivery, reason: nil)
    }

    private func deadLetter(_ entry: OutboxEntry, error: String) throws {
        if let refusal = try OutboxDeadLetters.move(entry, group: settings.group, error: error, attempts: entry.deliveries, redis) {
            Log.warn("data-platform feed: could not dead-letter an entry; it stays pending", ["stream": entry.stream, "entry": entry.id, "reply": refusal])
            return
        }
        metrics.update { $0.deadLetters += 1 }
        Log.warn("data-platform delivery moved to the dead-letter stream", [
            "consumer": consumerName, "stream": entry.stream, "entry": entry.id, "attempts": "\(entry.deliveries)",
            "error": error, "eventId": entry.field("id") ?? "", "type": entry.field("type") ?? ""])
    }
}
