// Where a user's state lives in Redis. Users are spread over 16 shards; every key of one user carries
// the shard's hash tag `{uNN}`, so a script that touches a user's session, wallet, idempotency records
// and outbox stays in one slot (Redis Cluster), and the outbox streams are a fixed, known set of 16
// (`{u00}:outbox` ... `{u15}:outbox`) that the worker can consume without scanning the keyspace.
public struct UserKeys {
    public static let shardCount = 16

    public let userID: String
    public let tag: String

    public init(userID: String) {
        self.userID = userID
        // FNV-1a over the id: stable across processes and versions (Swift's Hasher is seeded per process).
        var hash: UInt32 = 2_166_136_261
        for byte in userID.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        let shard = Int(hash % UInt32(UserKeys.shardCount))
        tag = shard < 10 ? "{u0\(shard)}" : "{u\(shard)}"
    }

    public func session(_ sessionID: String) -> String { "\(tag):sess:\(sessionID)" }
    public var wallet: String { "\(tag):wallet:\(userID)" }
    public func idempotency(_ scope: String, _ key: String) -> String { "\(tag):idem:\(userID):\(scope):\(key)" }
    public var outbox: String { "\(tag):outbox" }
    /// The cart: productId → quantity.
    public var cart: String { "\(tag):cart:\(userID)" }
    /// The user's latest orders, orderId → created at (ms): GET /orders shows them before the worker
    /// has written them to PostgreSQL (read-your-writes).
    public var recentOrders: String { "\(tag):orders:recent:\(userID)" }
    /// The user's latest seat reservations, reservationId → created at (ms): GET /reservations shows them
    /// before the worker has written them to PostgreSQL (read-your-writes).
    public var recentReservations: String { "\(tag):reservations:recent:\(userID)" }
    /// The coupons issued to the user, couponId → issued at (ms): GET /users/me/coupons reads it before
    /// the worker has written the issue to PostgreSQL.
    public var coupons: String { "\(tag):coupons:\(userID)" }

    /// Every user shard's outbox stream.
    public static var allOutboxes: [String] {
        (0..<shardCount).map { $0 < 10 ? "{u0\($0)}:outbox" : "{u\($0)}:outbox" }
    }
}
