// Read-your-writes history pages (GET /orders, GET /reservations). PostgreSQL has everything the worker
// has written; a per-user index in Redis (a ZSET by creation time, written before the creating request
// answers) has what was made since, whose live state is read from Redis. A page merges the two by id,
// Redis's entry winning (it is never older), newest first; the cursor is base64url of
// "<createdAtMs>|<id>".
import Foundation
import JSON
import Persistence
import Runtime

struct HistoryEntry {
    let createdAt: Int64
    let id: String
    let body: JSONValue
}

struct HistoryPage {
    static let maxLimit = 100
    /// Entries the recent index keeps, and for how long: the worker writes within seconds.
    static let recentKept = 100
    static let recentTTLSeconds = 86_400

    /// The index key of the user's recent entries.
    let recentKey: (String) -> String
    /// Whether an id is of this history's kind (cursors and index members are checked with it).
    let isWellFormed: (String) -> Bool
    let defaultLimit: Int

    /// Adds a just-made entry to the user's recent index, then calls `next` (whatever the outcome: the
    /// entry exists either way and reaches PostgreSQL through the worker).
    func remember(_ request: APIRequest, userID: String, createdAt: Int64, id: String, then next: @escaping () -> Void) {
        let key = recentKey(userID)
        request.redis.send(["ZADD", key, String(createdAt), id]) { _ in }
        request.redis.send(["ZREMRANGEBYRANK", key, "0", String(-Self.recentKept - 1)]) { _ in }
        request.redis.send(["EXPIRE", key, String(Self.recentTTLSeconds)]) { _ in next() }
    }

    /// Answers the page: `live` reads the recent entries whose ids it is given, `stored` reads PostgreSQL
    /// (on the blocking pool), both older than the cursor and at most limit + 1.
    func respond(_ request: APIRequest,
                 live: @escaping (_ ids: [String], _ next: @escaping ([HistoryEntry]) -> Void) -> Void,
                 stored: @escaping (_ userID: String, _ before: (Int64, String)?, _ limit: Int, _ db: PostgresConnection) throws -> [HistoryEntry]) throws {
        let limit = try request.queryInteger("limit", 1...Self.maxLimit, default: defaultLimit)
        var before: (Int64, String)?
        if let cursor = request.query("cursor"), !cursor.isEmpty {
            guard let decoded = decodeCursor(cursor) else { throw APIError.validation("cursor", "cursor is not one this API issued") }
            before = decoded
        }
        Authenticator.authenticate(request) { userID in
            recentIDs(request, userID: userID, before: before, limit: limit) { ids in
                let gotLive: ([HistoryEntry]) -> Void = { liveEntries in
                    request.postgres({ db in try stored(userID, before, limit, db) }) { result in
                        switch result {
                        case .failure(let error): request.fail(error)
                        case .success(let rows):
                            var byID: [String: HistoryEntry] = [:]
                            for entry in rows { byID[entry.id] = entry }
                            for entry in liveEntries { byID[entry.id] = entry }
                            let sorted = byID.values.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
                            let page = sorted.prefix(limit)
                            let next = sorted.count > limit ? page.last.map { encodeCursor($0.createdAt, $0.id) } : nil
                            request.respond(200, json: ["items": .array(page.map(\.body)), "nextCursor": next.map { .string($0) } ?? .null])
                        }
                    }
                }
                if ids.isEmpty { gotLive([]) } else { live(ids, gotLive) }
            }
        }
    }

    /// The ids in the user's recent index older than `before`, newest first, at most limit + 1.
    private func recentIDs(_ request: APIRequest, userID: String, before: (Int64, String)?, limit: Int, _ next: @escaping ([String]) -> Void) {
        request.redis.send(["ZREVRANGEBYSCORE", recentKey(userID), before.map { String($0.0) } ?? "+inf", "-inf", "WITHSCORES",
                            "LIMIT", "0", String(limit + 1)]) { result in
            guard case .success(.array(let flat)) = result else { return next([]) }
            var ids: [String] = []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let id = flat[i].string, let at = flat[i + 1].int, before.map({ (at, id) < $0 }) ?? true, isWellFormed(id) { ids.append(id) }
            }
            next(ids)
        }
    }

    func encodeCursor(_ createdAt: Int64, _ id: String) -> String {
        SecureRandom.base64URL(Array("\(createdAt)|\(id)".utf8))
    }

    func decodeCursor(_ cursor: String) -> (Int64, String)? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.count <= 200, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|")
        guard parts.count == 2, let at = Int64(parts[0]), isWellFormed(String(parts[1])) else { return nil }
        return (at, String(parts[1]))
    }
}
