// The feed's Redis side: the lease, the group, reading, taking over, keeping its entries claimed,
// acknowledging and the backlog gauge. Like OutboxConsumer's, every command names one stream (or the
// lease key), pipelined, so all of it runs unchanged on a cluster.
import Foundation
import Runtime

extension PlatformFeed {
    /// Renews the lease that makes trimming wait for this group (OutboxStreams.swift explains it).
    func renewLeaseIfDue(_ now: UInt64) throws {
        guard now >= nextLeaseAt else { return }
        _ = try redis.command(["SET", settings.leaseKey, consumerName, "PX", String(settings.leaseMilliseconds)])
        nextLeaseAt = now + OutboxConsumer.nanos(min(5_000, settings.leaseMilliseconds / 4))
    }

    func readRegistryIfDue(_ now: UInt64) throws {
        guard let registry = settings.streamRegistry, now >= nextRegistryReadAt else { return }
        nextRegistryReadAt = now + 1_000_000_000
        guard case .array(let members) = try redis.command(["SMEMBERS", registry]) else { return }
        let known = Set(streams)
        let added = members.compactMap(\.string).filter { !known.contains($0) }.sorted()
        if !added.isEmpty {
            streams += added
            nextGroupAttemptAt = 0
        }
    }

    /// Creates the platform group (from the stream's start) on streams not known to have it.
    func ensureGroupIfDue(_ now: UInt64) throws {
        let missing = streams.filter { !readyStreams.contains($0) }
        guard !missing.isEmpty, now >= nextGroupAttemptAt else { return }
        nextGroupAttemptAt = now + 1_000_000_000
        let replies = try redis.pipeline(missing.map { ["XGROUP", "CREATE", $0, settings.group, "0", "MKSTREAM"] })
        for (stream, reply) in zip(missing, replies) {
            if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
                Log.warn("data-platform feed: cannot create its group on a stream; skipping it", ["stream": stream, "error": message])
            } else {
                readyStreams.insert(stream)
            }
        }
    }

    /// New entries, spread over the ready streams so that the total stays near `room`.
    func readNew(room: Int) throws -> [OutboxEntry] {
        let ready = streams.filter { readyStreams.contains($0) }
        guard !ready.isEmpty else { return [] }
        let count = String(max(8, min(1_000, room / ready.count)))
        let replies = try redis.pipeline(ready.map {
            ["XREADGROUP", "GROUP", settings.group, consumerName, "COUNT", count, "STREAMS", $0, ">"]
        })
        var entries: [OutboxEntry] = []
        for (stream, reply) in zip(ready, replies) {
            if case .error(let message) = reply {
                if message.hasPrefix("NOGROUP") { readyStreams.remove(stream); nextGroupAttemptAt = 0 }
                continue
            }
            entries += StreamReplies.readGroup(reply, stream: stream)
        }
        return entries
    }

    /// Entries another feed left pending longer than the claim idle time (it died), with their delivery
    /// counts; those already refused K times go to the dead-letter stream.
    func reclaim() throws -> [OutboxEntry] {
        let ready = streams.filter { readyStreams.contains($0) }
        guard !ready.isEmpty, inFlight + waiting.count < settings.maxOutstanding else { return [] }
        let replies = try redis.pipeline(ready.map {
            ["XAUTOCLAIM", $0, settings.group, consumerName, String(settings.claimIdleMilliseconds),
             claimCursors[$0] ?? "0-0", "COUNT", "100"]
        })
        var claimed: [String: [OutboxEntry]] = [:]
        for (stream, reply) in zip(ready, replies) {
            if case .error = reply { continue }
            let result = StreamReplies.autoclaim(reply, stream: stream)
            claimCursors[stream] = result.cursor
            for entry in result.entries {
                // Trimmed while pending (delivery was off meanwhile): nothing left to deliver.
                if entry.fields.isEmpty { acks[stream, default: []].append(entry.id) } else { claimed[stream, default: []].append(entry) }
            }
            // Redis 7 names deleted pending entries separately; they are no longer pending either way.
        }
        guard !claimed.isEmpty else { return [] }
        let order = Array(claimed.keys)
        let counts = try redis.pipeline(order.map { stream in
            let ids = claimed[stream]!.compactMap { StreamID($0.id) }
            return ["XPENDING", stream, settings.group, (ids.min() ?? .zero).description, (ids.max() ?? .zero).description,
                    String(claimed[stream]!.count + 16), consumerName]
        })
        var out: [OutboxEntry] = []
        for (stream, reply) in zip(order, counts) {
            let known = StreamReplies.deliveryCounts(reply)
            for var entry in claimed[stream]! {
                // Takeovers raise the count too (XAUTOCLAIM). An entry whose feeds keep dying on it ends in
                // the dead-letter stream; feeds restarted during a long receiver outage should not send a
                // good delivery there, hence twice K.
                entry.deliveries = known[entry.id] ?? 2
                if entry.deliveries > settings.maxAttempts * 2 {
                    try deadLetterReclaimed(entry)
                } else {
                    out.append(entry)
                }
            }
        }
        metrics.update { $0.reclaimed += out.count }
        Log.info("data-platform feed: took over deliveries left by idle feeds", ["consumer": consumerName, "entries": "\(out.count)"])
        return out
    }

    private func deadLetterReclaimed(_ entry: OutboxEntry) throws {
        if try OutboxDeadLetters.move(entry, group: settings.group, error: "taken over \(entry.deliveries) times (the feeds that held it died)",
                                      attempts: entry.deliveries, redis) == nil {
            metrics.update { $0.deadLetters += 1 }
        }
    }

    /// Re-claims (JUSTID: delivery counts stay) every entry held here, a third of the claim idle time
    /// apart, so a long backoff does not make them look abandoned.
    func keepHeldClaimedIfDue(_ now: UInt64) throws {
        guard now >= nextKeepClaimedAt else { return }
        nextKeepClaimedAt = now + OutboxConsumer.nanos(max(100, settings.claimIdleMilliseconds / 3))
        var commands: [[String]] = []
        for (stream, ids) in held where !ids.isEmpty {
            let list = Array(ids)
            for chunk in stride(from: 0, to: list.count, by: 1_000) {
                commands.append(["XCLAIM", stream, settings.group, consumerName, "0"] + list[chunk..<min(list.count, chunk + 1_000)] + ["JUSTID"])
            }
        }
        if !commands.isEmpty { _ = try redis.pipeline(commands) }
    }

    func flushAcks() throws {
        guard !acks.isEmpty else { return }
        _ = try redis.pipeline(OutboxConsumer.ackCommands(acks, group: settings.group))
        acks.removeAll(keepingCapacity: true)
    }

    /// The backlog per stream: entries not yet handed to the group plus those it holds unacknowledged.
    func readGauges() throws {
        let ready = streams.filter { readyStreams.contains($0) }
        guard !ready.isEmpty else { return }
        let replies = try redis.pipeline(ready.flatMap { [["XINFO", "GROUPS", $0], ["XLEN", $0]] })
        var backlog: [String: Int] = [:]
        for (i, stream) in ready.enumerated() {
            guard let info = StreamReplies.groups(replies[2 * i])?[settings.group] else { continue }
            // Without `lag` (Redis 6.2, or after deletions) the length bounds what is undelivered.
            let undelivered = info.lag ?? max(0, Int(replies[2 * i + 1].int ?? 0) - info.pending)
            backlog[stream] = undelivered + info.pending
        }
        metrics.update { $0.backlog = backlog }
    }
}
