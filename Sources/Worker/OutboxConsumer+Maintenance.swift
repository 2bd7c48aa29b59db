// Gauges and trimming, on the consumer thread (the HTTP loop only reads the published snapshot).
//
// Trimming: a stream may lose entries below the oldest one that some group in OutboxStreams.groups has
// not acknowledged. Per group that bound is its smallest pending id when it has pending entries, else
// its last-delivered id (everything up to it is acknowledged; everything after it is undelivered). The
// stream is trimmed to the minimum over the groups with `XTRIM MINID` (which keeps the bound itself) —
// and not at all when any group of the list is missing, since a missing group has read nothing yet.
// A leased group (OutboxStreams.leasedGroups: the data-platform delivery) counts only while its lease
// key exists; without it the group is left out of the minimum, missing or not.
// The bound is computed from XINFO GROUPS first and XPENDING after, so anything that changes in between
// (new deliveries, acknowledgements) only moves the true bound up: the trim errs on the side of keeping.
import Runtime

extension OutboxConsumer {
    func readGaugesAndTrim(trim: Bool) throws {
        let groups = settings.groups
        let targets = streams.filter { readyStreams.contains($0) }
        let leases = Array(settings.leasedGroups)
        var commands: [[String]] = [["TIME"]] + leases.map { ["EXISTS", $0.value] }
        for stream in targets {
            commands.append(["XINFO", "GROUPS", stream])
            commands.append(["XLEN", stream])
            for group in groups { commands.append(["XPENDING", stream, group]) }
        }
        let replies = try redis.pipeline(commands)
        let now = StreamReplies.timeMilliseconds(replies[0]) ?? wallClockMillis()
        // A lease that cannot be read counts as held: when in doubt, keep entries.
        let unleased = Set(zip(leases, replies[1...]).filter { $0.1.int == 0 }.map { $0.0.key })

        struct Reading {
            var writer: StreamReplies.GroupInfo?
            var writerSmallestPending: StreamID?
            var length: Int
            var floor: StreamID?
        }
        var readings: [String: Reading] = [:]
        var index = 1 + leases.count
        for stream in targets {
            let info = StreamReplies.groups(replies[index])
            let length = Int(replies[index + 1].int ?? 0)
            var floor: StreamID?
            var complete = info != nil
            var writerSmallest: StreamID?
            for (g, group) in groups.enumerated() {
                let summary = StreamReplies.pendingSummary(replies[index + 2 + g])
                if group == settings.group, let summary, summary.count > 0 { writerSmallest = summary.smallest }
                if unleased.contains(group) { continue }
                guard let groupInfo = info?[group], let summary else { complete = false; continue }
                let bound = summary.count > 0 ? (summary.smallest ?? .zero) : groupInfo.lastDeliveredID
                floor = floor.map { min($0, bound) } ?? bound
            }
            readings[stream] = Reading(writer: info?[settings.group], writerSmallestPending: writerSmallest,
                                       length: length, floor: complete ? floor : nil)
            index += 2 + groups.count
        }

        // The first undelivered entry of each stream with a backlog, for its age; and the trims.
        var followUp: [[String]] = []
        var firstUndeliveredAt: [String: Int] = [:]
        var trimAt: [String: Int] = [:]
        for stream in targets {
            guard let reading = readings[stream] else { continue }
            if let writer = reading.writer, writer.lag ?? 1 > 0 {
                firstUndeliveredAt[stream] = followUp.count
                followUp.append(["XRANGE", stream, "(\(writer.lastDeliveredID)", "+", "COUNT", "1"])
            }
            if trim, let floor = reading.floor, floor > .zero {
                trimAt[stream] = followUp.count
                followUp.append(["XTRIM", stream, "MINID", floor.description])
            }
        }
        let more = followUp.isEmpty ? [] : try redis.pipeline(followUp)

        var gauges: [String: OutboxMetrics.StreamGauge] = [:]
        var trimmed = 0
        for stream in targets {
            guard let reading = readings[stream] else { continue }
            var oldest = reading.writerSmallestPending
            var undelivered = 0
            if let at = firstUndeliveredAt[stream],
               let first = StreamReplies.entries(more[at], stream: stream, deliveries: 0).first,
               let id = StreamID(first.id) {
                oldest = oldest.map { min($0, id) } ?? id
                // Without `lag` (Redis 6.2, or after deletions) the length minus pending is an upper bound.
                undelivered = reading.writer?.lag ?? max(0, reading.length - (reading.writer?.pending ?? 0))
            }
            let lag = oldest.map { max(0, Double(now - Int64($0.milliseconds)) / 1000) } ?? 0
            gauges[stream] = OutboxMetrics.StreamGauge(undelivered: undelivered, pending: reading.writer?.pending ?? 0, lagSeconds: lag)
            if let at = trimAt[stream] { trimmed += Int(more[at].int ?? 0) }
        }
        let readAt = wallClockMillis()
        metrics.update {
            // Other consumers of this process may drain other streams: replace only ours.
            for (stream, gauge) in gauges { $0.streams[stream] = gauge }
            $0.gaugesReadMilliseconds = readAt
            $0.trimmed += trimmed
        }
    }
}
