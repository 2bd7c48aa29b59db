// Decoding the stream commands' replies (RESP2 shapes, Redis 6.2 and 7.x). Every decoder is total: a
// reply of an unexpected shape yields nothing rather than trapping, and the caller treats "nothing" the
// way it treats an empty stream.
import Runtime

enum StreamReplies {
    /// `[[id, [field, value, ...]], ...]` — the entry list of XRANGE, XREADGROUP and XAUTOCLAIM. An entry
    /// whose fields are nil (deleted while pending, Redis 6.2 XAUTOCLAIM) comes back with no fields.
    static func entries(_ value: RedisValue, stream: String, deliveries: Int) -> [OutboxEntry] {
        guard case .array(let items) = value else { return [] }
        var entries: [OutboxEntry] = []
        entries.reserveCapacity(items.count)
        for item in items {
            guard case .array(let pair) = item, pair.count == 2, let id = pair[0].string else { continue }
            var fields: [(name: String, value: String)] = []
            if case .array(let flat) = pair[1] {
                fields.reserveCapacity(flat.count / 2)
                var i = 0
                while i + 1 < flat.count {
                    fields.append((flat[i].string ?? "", flat[i + 1].string ?? ""))
                    i += 2
                }
            }
            entries.append(OutboxEntry(stream: stream, id: id, fields: fields, deliveries: deliveries))
        }
        return entries
    }

    /// XREADGROUP for one stream: nil (nothing new) or `[[stream, entries]]`.
    static func readGroup(_ value: RedisValue, stream: String) -> [OutboxEntry] {
        guard case .array(let streams) = value else { return [] }
        var out: [OutboxEntry] = []
        for item in streams {
            guard case .array(let pair) = item, pair.count == 2 else { continue }
            out += entries(pair[1], stream: stream, deliveries: 1)
        }
        return out
    }

    /// XAUTOCLAIM: `[next cursor, entries]` (6.2) or `[next cursor, entries, deleted ids]` (7.0+).
    static func autoclaim(_ value: RedisValue, stream: String) -> (cursor: String, entries: [OutboxEntry], deleted: [String]) {
        guard case .array(let parts) = value, parts.count >= 2 else { return ("0-0", [], []) }
        let claimed = entries(parts[1], stream: stream, deliveries: 2)
        let deleted = parts.count >= 3 ? (parts[2].array ?? []).compactMap(\.string) : []
        return (parts[0].string ?? "0-0", claimed, deleted)
    }

    /// Extended XPENDING (`XPENDING key group start end count [consumer]`): entry id → delivery count.
    static func deliveryCounts(_ value: RedisValue) -> [String: Int] {
        guard case .array(let rows) = value else { return [:] }
        var counts: [String: Int] = [:]
        for row in rows {
            guard case .array(let fields) = row, fields.count == 4, let id = fields[0].string, let n = fields[3].int else { continue }
            counts[id] = Int(n)
        }
        return counts
    }

    /// Summary XPENDING (`XPENDING key group`): how many entries are pending and the smallest pending id.
    /// nil for an error reply (NOGROUP: the stream or the group is missing).
    static func pendingSummary(_ value: RedisValue) -> (count: Int, smallest: StreamID?)? {
        guard case .array(let parts) = value, parts.count >= 2, let count = parts[0].int else { return nil }
        return (Int(count), parts[1].string.flatMap(StreamID.init))
    }

    /// One consumer group as XINFO GROUPS describes it.
    struct GroupInfo {
        var name: String
        var pending: Int
        var lastDeliveredID: StreamID
        /// Entries not yet delivered to the group (Redis 7). nil when Redis cannot tell (6.2, or after
        /// deletions inside the stream).
        var lag: Int?
    }

    /// XINFO GROUPS: group name → info; nil for an error reply (no such stream).
    static func groups(_ value: RedisValue) -> [String: GroupInfo]? {
        guard case .array(let items) = value else { return nil }
        var out: [String: GroupInfo] = [:]
        for item in items {
            guard case .array(let flat) = item else { continue }
            var fields: [String: RedisValue] = [:]
            var i = 0
            while i + 1 < flat.count {
                if let key = flat[i].string { fields[key] = flat[i + 1] }
                i += 2
            }
            guard let name = fields["name"]?.string else { continue }
            let lag: Int? = fields["lag"].flatMap { $0.isNull ? nil : $0.int.map(Int.init) }
            out[name] = GroupInfo(name: name, pending: Int(fields["pending"]?.int ?? 0),
                                  lastDeliveredID: fields["last-delivered-id"]?.string.flatMap(StreamID.init) ?? .zero,
                                  lag: lag)
        }
        return out
    }

    /// TIME: milliseconds since the epoch on Redis's clock.
    static func timeMilliseconds(_ value: RedisValue) -> Int64? {
        guard case .array(let parts) = value, parts.count == 2,
              let seconds = parts[0].int, let micros = parts[1].int else { return nil }
        return seconds * 1000 + micros / 1000
    }
}
