// What the data-platform feed did and how far behind it is, for the worker's GET /metrics. Written by the
// feed thread under a lock; the HTTP loop only copies a snapshot (it never waits on Redis or the receiver).
import Foundation
import Runtime

public final class PlatformMetrics: @unchecked Sendable {
    public struct Snapshot: Sendable {
        /// Deliveries the receiver accepted (2xx), and those it already had (409).
        public var delivered = 0
        public var duplicates = 0
        /// Attempts that failed, by reason: "status_5xx", "status_408", "status_429", "refused" (other
        /// 4xx), "timeout", "connect", "closed", "malformed".
        public var failures: [String: Int] = [:]
        /// Deliveries scheduled again after a failure.
        public var retries = 0
        public var deadLetters = 0
        /// Entries of other types, acknowledged without a delivery.
        public var skipped = 0
        public var reclaimed = 0
        /// Entries read and not yet acknowledged: on the wire, or waiting for their retry.
        public var inFlight = 0
        public var waitingRetry = 0
        /// Per stream: entries the platform group has not been handed yet plus those it holds unacknowledged.
        public var backlog: [String: Int] = [:]
        /// 1 while the last answer (or failure) from the receiver was a success.
        public var receiverUp = true
        public var redisAvailable = true

        public var totalBacklog: Int { backlog.values.reduce(0, +) }
        public var totalFailures: Int { failures.values.reduce(0, +) }
    }

    private let state = Guarded(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.value }

    func update(_ body: (inout Snapshot) -> Void) { state.update(body) }

    public func prometheusText() -> String {
        let s = snapshot
        var out = PrometheusText()
        out.metric("floodgate_platform_delivered_total", "counter", "Deliveries the data platform accepted (result=duplicate: it answered 409, it had it already).",
                   [([("result", "new")], Double(s.delivered)), ([("result", "duplicate")], Double(s.duplicates))])
        out.metric("floodgate_platform_failures_total", "counter", "Delivery attempts that failed, by reason.",
                   s.failures.keys.sorted().map { ([("reason", $0)], Double(s.failures[$0]!)) })
        out.metric("floodgate_platform_retries_total", "counter", "Deliveries scheduled again (exponential backoff with full jitter).", Double(s.retries))
        out.metric("floodgate_platform_dead_letters_total", "counter", "Entries the receiver refused K times, moved to the dead-letter stream.",
                   Double(s.deadLetters))
        out.metric("floodgate_platform_skipped_total", "counter", "Outbox entries of types not delivered, acknowledged at once.", Double(s.skipped))
        out.metric("floodgate_platform_reclaimed_total", "counter", "Entries taken over from idle feed consumers.", Double(s.reclaimed))
        out.metric("floodgate_platform_in_flight", "gauge", "Deliveries sent and not answered yet.", Double(s.inFlight))
        out.metric("floodgate_platform_waiting_retry", "gauge", "Deliveries waiting for their next attempt.", Double(s.waitingRetry))
        out.metric("floodgate_platform_backlog", "gauge", "Outbox entries the platform group has not acknowledged, per stream.",
                   s.backlog.keys.sorted().map { ([("stream", $0)], Double(s.backlog[$0]!)) })
        out.metric("floodgate_platform_receiver_up", "gauge", "1 when the last delivery attempt succeeded.", s.receiverUp ? 1 : 0)
        return out.text
    }
}
