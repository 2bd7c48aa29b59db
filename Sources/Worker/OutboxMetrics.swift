// What the outbox consumers did and how far behind they are, for GET /metrics.
//
// Counters are bumped by the consumer threads once per batch, under a lock. The Redis-side gauges
// (backlog, lag) are read by a consumer thread — never by the HTTP loop, which must not wait on Redis
// for a metrics scrape — and published here whole; the loop only copies a snapshot.
import Foundation
import Runtime

public final class OutboxMetrics: @unchecked Sendable {
    public struct StreamGauge: Equatable, Sendable {
        /// Entries the writer group has not been handed yet (XINFO GROUPS `lag`).
        public var undelivered: Int
        /// Entries handed to a writer and not yet acknowledged.
        public var pending: Int
        /// Redis time now minus the time of the oldest entry not yet acknowledged; 0 when caught up.
        public var lagSeconds: Double
        public var backlog: Int { undelivered + pending }
    }

    public struct Snapshot: Sendable {
        public var batches = 0
        public var rowsWritten = 0
        public var eventsAcknowledged = 0
        /// Batches written again after PostgreSQL was unavailable.
        public var postgresRetries = 0
        /// Entries that failed on their own and were scheduled for another attempt.
        public var eventRetries = 0
        public var deadLetters = 0
        public var reclaimed = 0
        public var trimmed = 0
        /// Wall-clock milliseconds of the last successful COMMIT, 0 before the first.
        public var lastCommitMilliseconds: Int64 = 0
        public var streams: [String: StreamGauge] = [:]
        /// When the gauges were read (wall-clock milliseconds), 0 before the first reading.
        public var gaugesReadMilliseconds: Int64 = 0
        public var postgresAvailable = true
        public var redisAvailable = true

        public var retries: Int { postgresRetries + eventRetries }
        public var totalBacklog: Int { streams.values.reduce(0) { $0 + $1.backlog } }
        public var maxLagSeconds: Double { streams.values.map(\.lagSeconds).max() ?? 0 }
    }

    private let state = Guarded(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.value }

    func update(_ body: (inout Snapshot) -> Void) { state.update(body) }

    /// Prometheus text exposition of the snapshot.
    public func prometheusText() -> String {
        let s = snapshot
        var out = PrometheusText()
        let streams = s.streams.keys.sorted()
        func perStream(_ value: (StreamGauge) -> Double) -> [([(String, String)], Double)] {
            streams.map { ([("stream", $0)], value(s.streams[$0]!)) }
        }
        out.metric("floodgate_outbox_backlog", "gauge", "Outbox entries not yet written: undelivered plus pending, per stream.",
                   perStream { Double($0.backlog) })
        out.metric("floodgate_outbox_undelivered", "gauge", "Outbox entries not yet read by the writer group, per stream.",
                   perStream { Double($0.undelivered) })
        out.metric("floodgate_outbox_pending", "gauge", "Outbox entries read by a writer and not yet acknowledged, per stream.",
                   perStream { Double($0.pending) })
        out.metric("floodgate_outbox_lag_seconds", "gauge", "Age of the oldest unacknowledged outbox entry, per stream (0 when caught up).",
                   perStream { ($0.lagSeconds * 1000).rounded() / 1000 })
        out.metric("floodgate_outbox_batches_total", "counter", "Transactions committed by the outbox consumers.", Double(s.batches))
        out.metric("floodgate_outbox_rows_written_total", "counter", "Rows inserted into PostgreSQL from the outbox (duplicates not counted).",
                   Double(s.rowsWritten))
        out.metric("floodgate_outbox_events_acknowledged_total", "counter", "Outbox entries acknowledged after their commit.",
                   Double(s.eventsAcknowledged))
        out.metric("floodgate_outbox_retries_total", "counter", "Retries: whole batches after PostgreSQL was unavailable, single events after they failed.",
                   [([("reason", "postgres")], Double(s.postgresRetries)), ([("reason", "event")], Double(s.eventRetries))])
        out.metric("floodgate_outbox_dead_letters_total", "counter", "Outbox entries moved to a dead-letter stream.", Double(s.deadLetters))
        out.metric("floodgate_outbox_reclaimed_total", "counter", "Outbox entries taken over from idle consumers (XAUTOCLAIM).", Double(s.reclaimed))
        out.metric("floodgate_outbox_trimmed_total", "counter", "Outbox entries trimmed after every group acknowledged them.", Double(s.trimmed))
        out.metric("floodgate_outbox_last_commit_timestamp_seconds", "gauge", "Unix time of the last successful outbox commit (0: none yet).",
                   Double(s.lastCommitMilliseconds) / 1000)
        out.metric("floodgate_outbox_redis_up", "gauge", "1 when the outbox consumer's last Redis command succeeded.", s.redisAvailable ? 1 : 0)
        return out.text
    }
}
