// Writing the held batch: one transaction when it can, bisection when PostgreSQL rejects the batch's
// data, and holding on (with backoff) while PostgreSQL is unavailable.
//
// Why bisection rather than one transaction per event: a single bad event in a 16,000-event batch would
// otherwise cost 16,000 round trips before the rest is acknowledged; halving finds it in about 2·log2(n)
// transactions, and every event still ends up either committed in a transaction without the offender
// or alone in its own.
import Persistence
import Runtime

extension OutboxConsumer {
    func writeHeld() throws {
        try keepHeldClaimed()
        if heldOnePerTransaction {
            try writeIsolating(held.map { [$0][...] }.reversed())
            return
        }
        do {
            let rows = try writer.write(held)
            committed(held[...], rows: rows)
            held = []
        } catch {
            switch OutboxWriter.classify(error) {
            case .unavailable:
                try postgresUnavailable(error)
            case .rejected:
                try writeIsolating([held[...]])
            }
        }
    }

    /// Writes each part of `stack` (last first) in its own transaction, halving parts that are rejected.
    /// Whatever is neither committed nor failed stays in `held` when this returns or throws.
    private func writeIsolating(_ initial: [ArraySlice<OutboxEvent>]) throws {
        var stack = initial
        func remaining() -> [OutboxEvent] { stack.reversed().flatMap { Array($0) } }
        while let part = stack.popLast() {
            do {
                try keepHeldClaimed()
                let rows = try writer.write(Array(part))
                committed(part, rows: rows)
            } catch let error where !(error is RedisError) {
                switch OutboxWriter.classify(error) {
                case .unavailable:
                    held = Array(part) + remaining()
                    try postgresUnavailable(error)
                    return
                case .rejected where part.count == 1:
                    do {
                        try failEntry(part.first!.entry, error: Self.describe(error))
                    } catch {
                        held = Array(part) + remaining()
                        throw error
                    }
                case .rejected:
                    let middle = part.startIndex + part.count / 2
                    stack.append(part[middle...])
                    stack.append(part[..<middle])
                }
            } catch {
                held = Array(part) + remaining()
                throw error
            }
        }
        held = []
    }

    private func committed(_ events: ArraySlice<OutboxEvent>, rows: Int) {
        for event in events { acks[event.entry.stream, default: []].append(event.entry.id) }
        let now = wallClockMillis()
        metrics.update {
            $0.batches += 1
            $0.rowsWritten += rows
            $0.lastCommitMilliseconds = now
            $0.postgresAvailable = true
        }
        if let since = postgresDownSince {
            postgresDownSince = nil
            resetBackoff()
            Log.info("outbox consumer: PostgreSQL available again", [
                "consumer": consumerName, "downSeconds": String(format: "%.1f", Double(monotonicNanos() - since) / 1e9)])
        }
    }

    /// Logs once per outage, keeps the held entries claimed, backs off. The caller retries the same batch
    /// on the next step (the writer reconnects on its own).
    private func postgresUnavailable(_ error: Error) throws {
        if postgresDownSince == nil {
            postgresDownSince = monotonicNanos()
            Log.warn("outbox consumer: PostgreSQL unavailable, holding the batch and retrying with backoff",
                     ["consumer": consumerName, "error": Self.describe(error), "holding": "\(held.count)"])
        }
        metrics.update {
            $0.postgresRetries += 1
            $0.postgresAvailable = false
        }
        pause(milliseconds: nextBackoff())
        try keepHeldClaimed()
    }

    /// Entries held longer than a third of the claim idle time are claimed again (JUSTID: the delivery
    /// count stays), so no other consumer takes them over while this one is alive and waiting on
    /// PostgreSQL. A round read ahead and retries waiting for their turn are included.
    func keepHeldClaimed() throws {
        let now = monotonicNanos()
        let since = queued.isEmpty ? heldClaimedAt : min(heldClaimedAt, queuedClaimedAt)
        guard now - since >= Self.nanos(settings.claimIdleMilliseconds / 3) else { return }
        var byStream: [String: [String]] = [:]
        for event in held + queued { byStream[event.entry.stream, default: []].append(event.entry.id) }
        for retry in retries { byStream[retry.entry.stream, default: []].append(retry.entry.id) }
        var commands: [[String]] = []
        for (stream, ids) in byStream {
            for chunk in stride(from: 0, to: ids.count, by: 1_000) {
                commands.append(["XCLAIM", stream, settings.group, consumerName, "0"] + ids[chunk..<min(ids.count, chunk + 1_000)] + ["JUSTID"])
            }
        }
        if !commands.isEmpty { _ = try redis.pipeline(commands) }
        heldClaimedAt = now
        queuedClaimedAt = now
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? PostgresError {
            var text = error.message
            if let state = error.sqlState { text += " [SQLSTATE \(state)]" }
            if let detail = error.detail { text += " (\(detail))" }
            return text
        }
        return "\(error)"
    }
}
