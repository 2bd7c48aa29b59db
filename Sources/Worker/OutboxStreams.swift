// The outbox streams the worker reads and the consumer groups that must see every entry.
//
// The streams are a known list, never discovered by SCAN (a keyspace scan is slow, and on a cluster it
// would have to visit every node): the 16 user shards now, and per-event streams that later features
// add to a consumer with `OutboxConsumer.addStreams` or register in Redis under `registry`. Each stream carries a hash tag, and its dead-letter
// stream carries the same tag, so moving an entry there is one same-slot MULTI.
//
// The group list is a constant on purpose: every worker creates every group in it on every stream, and
// trimming never passes the oldest entry any of them still holds. A group that only some worker versions
// know about would let the others trim entries it has not read yet.
//
// The data-platform group is in the list, but trimming waits for it only while delivery is on somewhere:
// a group nobody reads would otherwise hold every stream's entries forever (a worker started without
// FLOODGATE_DATA_PLATFORM_URL must still trim). "On" is a lease in Redis, `platformLease`, that every
// running feed renews every few seconds with a ten-minute expiry:
//   - while any feed runs (even one whose receiver is down for hours), the lease exists and the trim
//     never passes an entry the platform group has not acknowledged;
//   - a feed that restarts or crashes and comes back within the expiry finds its entries still there;
//   - once no worker has delivered for ten minutes, delivery is off: trimming ignores the platform group
//     and goes as far as the writer allows. Entries trimmed meanwhile are never delivered — turning
//     delivery off means exactly that. Turned on again, the group resumes at the oldest entry still in
//     each stream (entries it had pending and that were trimmed come back from XAUTOCLAIM as deleted,
//     and are acknowledged).
// The alternatives were worse: leaving the group out when delivery is off lets a worker without the URL
// trim under a worker with it; destroying the group when off loses that worker's pending deliveries;
// waiting for it unconditionally makes streams grow without bound on every deployment without a receiver.

import Queue

public enum OutboxStreams {
    /// The set of further streams (one per event, written when the event is created or reloaded) that
    /// every worker reads once a second and adds to its list.
    public static let registry = EventKeys.outboxRegistry

    /// The group that writes events to PostgreSQL.
    public static let writerGroup = "writer"

    /// The group that delivers paid orders and confirmed reservations to the data platform.
    public static let platformGroup = "platform"

    /// Every group that must see each entry. Order does not matter.
    public static let groups: [String] = [writerGroup, platformGroup]

    /// Groups that trimming waits for only while their lease key exists (see the note on top).
    public static let leasedGroups: [String: String] = [platformGroup: platformLease]

    /// The data-platform delivery's lease: present while some worker delivers.
    public static let platformLease = "floodgate:platform:delivering"

    /// How long the lease outlives the last renewal.
    public static let platformLeaseMilliseconds = 10 * 60 * 1_000

    /// The user shards' outbox streams, `{u00}:outbox` … `{u15}:outbox`. The same names as Gateway's
    /// `UserKeys.allOutboxes` (the worker does not link the gateway; WorkerTests checks they agree).
    public static let userOutboxes: [String] = (0..<16).map { $0 < 10 ? "{u0\($0)}:outbox" : "{u\($0)}:outbox" }

    /// Where entries of `stream` go after K failed attempts: `<stream>:dead`, same hash tag.
    public static func deadLetterStream(for stream: String) -> String { stream + ":dead" }
}

/// A stream entry id, `<milliseconds>-<sequence>`. The milliseconds are Redis's clock when the entry was
/// added, which is what the lag gauges measure against.
public struct StreamID: Comparable, Hashable, CustomStringConvertible, Sendable {
    public let milliseconds: UInt64
    public let sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        self.init(milliseconds: ms, sequence: seq)
    }

    public static let zero = StreamID(milliseconds: 0, sequence: 0)

    public static func < (a: StreamID, b: StreamID) -> Bool {
        (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }
}
