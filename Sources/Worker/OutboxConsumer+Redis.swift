// The consumer's Redis side: groups, reading, taking over idle entries, acknowledging, retry
// bookkeeping and dead-lettering. Every command names one stream (or a stream and its same-tag
// dead-letter stream), so all of it runs unchanged on a cluster; many streams mean a pipeline, never a
// multi-key command.
import Foundation
import Runtime

extension OutboxConsumer {
    // MARK: Groups

    /// Creates every group on every stream not known to have them (MKSTREAM: a stream nobody wrote to
    /// yet is created empty). BUSYGROUP means it exists. Retried at most once a second for streams that
    /// failed (e.g. a key of another type), so one bad stream does not stop the others.
    func ensureGroupsIfDue() throws {
        let missing = streams.filter { !readyStreams.contains($0) }
        guard !missing.isEmpty else { return }
        let now = monotonicNanos()
        guard now >= nextGroupAttemptAt else { return }
        nextGroupAttemptAt = now + 1_000_000_000
        var commands: [[String]] = []
        for stream in missing {
            for group in settings.groups { commands.append(["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"]) }
        }
        let replies = try redis.pipeline(commands)
        for (i, stream) in missing.enumerated() {
            let mine = replies[(i * settings.groups.count)..<((i + 1) * settings.groups.count)]
            let failure = mine.compactMap { reply -> String? in
                if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") { return message }
                return nil
            }.first
            if let failure {
                warnThrottled("group \(stream)", "outbox consumer: cannot create consumer groups on a stream; skipping it",
                              ["stream": stream, "error": failure])
            } else {
                readyStreams.insert(stream)
            }
        }
    }

    /// Marks a stream as needing its groups again after NOGROUP (the stream or the group was deleted).
    private func lostGroup(_ stream: String, _ message: String) -> Bool {
        guard message.hasPrefix("NOGROUP") else { return false }
        readyStreams.remove(stream)
        nextGroupAttemptAt = 0
        return true
    }

    // MARK: Reading

    /// New entries from every ready stream, one XREADGROUP per stream, pipelined.
    func readNew() throws -> [OutboxEntry] {
        let ready = streams.filter { readyStreams.contains($0) }
        guard !ready.isEmpty else { return [] }
        let result = Self.parseReads(ready, try redis.pipeline(readCommands(ready)))
        noteReadErrors(result.errors)
        return result.entries
    }

    func readCommands(_ ready: [String]) -> [[String]] {
        let count = String(settings.batchSize)
        return ready.map { ["XREADGROUP", "GROUP", settings.group, consumerName, "COUNT", count, "STREAMS", $0, ">"] }
    }

    /// Pure: the entries of one XREADGROUP reply per stream, and the streams that answered an error.
    static func parseReads(_ ready: [String], _ replies: ArraySlice<RedisValue>) -> (entries: [OutboxEntry], errors: [(stream: String, message: String)]) {
        var entries: [OutboxEntry] = []
        var errors: [(stream: String, message: String)] = []
        for (stream, reply) in zip(ready, replies) {
            if case .error(let message) = reply {
                errors.append((stream, message))
            } else {
                entries += StreamReplies.readGroup(reply, stream: stream)
            }
        }
        return (entries, errors)
    }

    static func parseReads(_ ready: [String], _ replies: [RedisValue]) -> (entries: [OutboxEntry], errors: [(stream: String, message: String)]) {
        parseReads(ready, replies[...])
    }

    func noteReadErrors(_ errors: [(stream: String, message: String)]) {
        for (stream, message) in errors where !lostGroup(stream, message) {
            warnThrottled("read \(stream)", "outbox consumer: XREADGROUP failed", ["stream": stream, "error": message])
        }
    }

    // MARK: Reading ahead

    /// What the prefetch helper found; written by it, read by the consumer thread after `done`.
    final class Prefetch: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        /// The acknowledgements it sent (kept by the consumer again if the pipeline failed).
        var acks: [String: [String]] = [:]
        var events: [OutboxEvent] = []
        var failures: [(entry: OutboxEntry, error: String)] = []
        var errors: [(stream: String, message: String)] = []
        var error: Error?
    }

    /// On the helper thread: the pending XACKs and the next round's XREADGROUPs in one pipeline on the
    /// second connection, then decoding. Touches nothing of the consumer's state but what it is handed.
    func startPrefetch() -> Prefetch {
        let prefetch = Prefetch()
        prefetch.acks = acks
        acks = [:]
        let ready = streams.filter { readyStreams.contains($0) }
        let ackCommands = Self.ackCommands(prefetch.acks, group: settings.group)
        let reads = readCommands(ready)
        let handlers = settings.handlers
        let connection = prefetchRedis
        prefetchQueue.async {
            defer { prefetch.done.signal() }
            do {
                let replies = try connection.pipeline(ackCommands + reads)
                let result = Self.parseReads(ready, replies[ackCommands.count...])
                prefetch.errors = result.errors
                (prefetch.events, prefetch.failures) = Self.decode(result.entries, handlers)
            } catch {
                prefetch.error = error
            }
        }
        return prefetch
    }

    /// Waits for the helper and takes over what it read. Entries it read but could not report (the
    /// connection broke mid-reply) are pending under this consumer and come back through XAUTOCLAIM.
    func finishPrefetch(_ prefetch: Prefetch) throws {
        prefetch.done.wait()
        if let error = prefetch.error {
            for (stream, ids) in prefetch.acks { acks[stream, default: []] += ids }
            throw error
        }
        let acknowledged = prefetch.acks.values.reduce(0) { $0 + $1.count }
        if acknowledged > 0 { metrics.update { $0.eventsAcknowledged += acknowledged } }
        noteReadErrors(prefetch.errors)
        queued += prefetch.events
        queuedClaimedAt = monotonicNanos()
        for failure in prefetch.failures { try failEntry(failure.entry, error: failure.error) }
    }

    /// Takes over entries idle for the claim time in every stream (XAUTOCLAIM, resuming each stream's
    /// cursor), learns their delivery counts, dead-letters those delivered more than K times, and returns
    /// the rest to be written.
    func reclaim() throws -> [OutboxEntry] {
        let ready = streams.filter { readyStreams.contains($0) }
        guard !ready.isEmpty else { return [] }
        let replies = try redis.pipeline(ready.map {
            ["XAUTOCLAIM", $0, settings.group, consumerName, String(settings.claimIdleMilliseconds),
             claimCursors[$0] ?? "0-0", "COUNT", String(settings.batchSize)]
        })
        var claimed: [String: [OutboxEntry]] = [:]
        var vanished: [String: [String]] = [:]
        for (stream, reply) in zip(ready, replies) {
            if case .error(let message) = reply {
                if !lostGroup(stream, message) {
                    warnThrottled("claim \(stream)", "outbox consumer: XAUTOCLAIM failed", ["stream": stream, "error": message])
                }
                continue
            }
            let result = StreamReplies.autoclaim(reply, stream: stream)
            claimCursors[stream] = result.cursor
            for entry in result.entries {
                // Redis 6.2 hands back entries deleted from the stream with no fields: nothing to write.
                if entry.fields.isEmpty { vanished[stream, default: []].append(entry.id) } else { claimed[stream, default: []].append(entry) }
            }
        }
        for (stream, ids) in vanished { acks[stream, default: []] += ids }
        guard !claimed.isEmpty else { return [] }

        // Delivery counts, from this consumer's pending list over the claimed range of each stream.
        let order = Array(claimed.keys)
        let counts = try redis.pipeline(order.map { stream in
            let ids = claimed[stream]!.compactMap { StreamID($0.id) }
            let low = ids.min() ?? .zero, high = ids.max() ?? .zero
            return ["XPENDING", stream, settings.group, low.description, high.description,
                    String(claimed[stream]!.count + retries.count + 16), consumerName]
        })
        var out: [OutboxEntry] = []
        var total = 0
        for (stream, reply) in zip(order, counts) {
            let known = StreamReplies.deliveryCounts(reply)
            for var entry in claimed[stream]! {
                entry.deliveries = known[entry.id] ?? 2
                total += 1
                if entry.deliveries > settings.maxAttempts {
                    try deadLetter(entry, error: "delivered \(entry.deliveries) times without being acknowledged "
                                   + "(the consumers that read it died or kept failing on it)", attempts: entry.deliveries)
                } else {
                    out.append(entry)
                }
            }
        }
        metrics.update { $0.reclaimed += total }
        Log.info("outbox consumer: took over entries left by idle consumers", ["consumer": consumerName, "entries": "\(total)"])
        return out
    }

    // MARK: Acknowledging

    /// XACK everything committed, one command per stream (chunks of 10,000 ids), pipelined. On a Redis
    /// error the acks are kept and sent again; an entry acknowledged twice is harmless.
    func flushAcks() throws {
        guard !acks.isEmpty else { return }
        let total = acks.values.reduce(0) { $0 + $1.count }
        _ = try redis.pipeline(Self.ackCommands(acks, group: settings.group))
        acks.removeAll(keepingCapacity: true)
        metrics.update { $0.eventsAcknowledged += total }
    }

    static func ackCommands(_ acks: [String: [String]], group: String) -> [[String]] {
        var commands: [[String]] = []
        for (stream, ids) in acks {
            for chunk in stride(from: 0, to: ids.count, by: 10_000) {
                commands.append(["XACK", stream, group] + ids[chunk..<min(ids.count, chunk + 10_000)])
            }
        }
        return commands
    }

    // MARK: Failed entries

    /// One attempt at `entry` failed with `error`. Below K attempts it stays pending and is retried on
    /// its own after a delay; the raised count is stored in Redis first (XCLAIM RETRYCOUNT, which also
    /// resets its idle time so no other consumer takes it meanwhile). At K it is dead-lettered.
    func failEntry(_ entry: OutboxEntry, error: String) throws {
        if entry.deliveries >= settings.maxAttempts {
            try deadLetter(entry, error: error, attempts: entry.deliveries)
            return
        }
        let next = entry.deliveries + 1
        let reply = try redis.command(["XCLAIM", entry.stream, settings.group, consumerName, "0", entry.id,
                                       "RETRYCOUNT", String(next), "JUSTID"])
        // Empty: no longer pending (another consumer wrote or dead-lettered it meanwhile).
        guard case .array(let ids) = reply, !ids.isEmpty else { return }
        var retried = entry
        retried.deliveries = next
        // 100 ms doubling, capped well below the claim idle time so the entry never looks abandoned.
        let delay = min(5_000, settings.claimIdleMilliseconds / 4, 100 << min(10, next - 2))
        retries.append(Retry(entry: retried, dueAt: monotonicNanos() + Self.nanos(delay)))
        metrics.update { $0.eventRetries += 1 }
        warnThrottled("retry \(entry.stream) \(entry.id)", "outbox entry failed; it will be retried",
                      ["stream": entry.stream, "entry": entry.id, "attempt": "\(entry.deliveries)", "error": error])
    }

    /// Moves `entry` to `<stream>:dead` (OutboxDeadLetters) and acknowledges it; if Redis refuses, it
    /// stays pending, so it is not lost: it comes back through XAUTOCLAIM and is tried again.
    func deadLetter(_ entry: OutboxEntry, error: String, attempts: Int) throws {
        let dead = OutboxStreams.deadLetterStream(for: entry.stream)
        if let refusal = try OutboxDeadLetters.move(entry, group: settings.group, error: error, attempts: attempts, redis) {
            warnThrottled("dead \(entry.stream)", "outbox consumer: could not dead-letter an entry; it stays pending",
                          ["stream": entry.stream, "entry": entry.id, "reply": refusal])
            return
        }
        metrics.update { $0.deadLetters += 1 }
        Log.warn("outbox entry moved to the dead-letter stream", [
            "consumer": consumerName, "stream": entry.stream, "entry": entry.id, "deadLetterStream": dead,
            "attempts": "\(attempts)", "error": error, "eventId": entry.field("id") ?? "", "type": entry.field("type") ?? ""])
    }
}
