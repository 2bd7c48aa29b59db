// Moving a poison entry to its stream's dead-letter stream, for every consumer group (the writer and
// the data-platform feed): the original fields plus error, attempts, sourceStream, sourceId and the
// group that gave up on it, appended in one MULTI with that group's XACK (same hash tag), so the entry
// is never in both or neither. Each group dead-letters on its own: an entry PostgreSQL refuses may well
// have reached the data platform, and the reverse.
import Runtime

enum OutboxDeadLetters {
    /// Moves and acknowledges `entry` for `group`. Returns nil when done, else Redis's refusal (e.g. the
    /// dead-letter key holds another type) — the entry then stays pending for the group.
    static func move(_ entry: OutboxEntry, group: String, error: String, attempts: Int,
                     _ redis: RedisBlockingConnection) throws -> String? {
        var add = ["XADD", OutboxStreams.deadLetterStream(for: entry.stream), "*"]
        for field in entry.fields { add += [field.name, field.value] }
        add += ["error", String(error.prefix(2_000)), "attempts", String(attempts),
                "sourceStream", entry.stream, "sourceId", entry.id, "group", group]
        let replies = try redis.pipeline([["MULTI"], add, ["XACK", entry.stream, group, entry.id], ["EXEC"]])
        guard case .array(let results) = replies[3], results.count == 2, results[0].string != nil else {
            return replies.map(\.description).joined(separator: "; ")
        }
        return nil
    }
}
