// GET /wallet/transactions: the wallet's history from PostgreSQL (written by the worker), newest first.
// The cursor is opaque to clients: base64url of "<created_at as PostgreSQL prints it>|<id>", so the
// next page starts strictly after the last row by (created_at, id) with no float rounding involved.
import Foundation
import HTTP
import JSON
import Persistence
import Runtime

struct WalletHistory {
    static let defaultLimit = 50
    static let maxLimit = 100

    struct Page {
        var items: [JSONValue]
        var nextCursor: String?
    }

    static func handle(_ request: APIRequest) throws {
        let limit = try request.queryInteger("limit", 1...maxLimit, default: defaultLimit)
        var after: (createdAt: String, id: String)?
        if let cursor = request.query("cursor"), !cursor.isEmpty {
            guard let decoded = decodeCursor(cursor) else { throw APIError.validation("cursor", "cursor is not one this API issued") }
            after = decoded
        }
        Authenticator.authenticate(request) { userID in
            request.postgres({ try page(userID: userID, limit: limit, after: after, $0) }) { result in
                switch result {
                case .success(let page):
                    request.respond(200, json: ["items": .array(page.items), "nextCursor": page.nextCursor.map { .string($0) } ?? .null])
                case .failure(let error):
                    request.fail(error)
                }
            }
        }
    }

    static func page(userID: String, limit: Int, after: (createdAt: String, id: String)?, _ db: PostgresConnection) throws -> Page {
        let rows = try db.query("""
            SELECT id, type, amount, balance_after, ref, created_at::text AS created_text,
                   (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
            FROM wallet_transactions
            WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))
            ORDER BY created_at DESC, id DESC
            LIMIT $4
            """, [userID, after?.createdAt, after?.id, limit + 1])
        var items: [JSONValue] = []
        var last: (String, String)?
        for row in rows.prefix(limit) {
            let id = try row.string("id")
            items.append(.object([
                ("id", .string(id)),
                ("type", .string(try row.string("type"))),
                ("amount", .int(try row.int64("amount"))),
                ("balanceAfter", .int(try row.int64("balance_after"))),
                ("ref", try row.value("ref").map { .string($0) } ?? .null),
                ("createdAt", .string(Timestamp.rfc3339(millis: try row.int64("created_ms")))),
            ]))
            last = (try row.string("created_text"), id)
        }
        let more = rows.count > limit
        return Page(items: items, nextCursor: more ? last.map { encodeCursor(createdAt: $0.0, id: $0.1) } : nil)
    }

    static func encodeCursor(createdAt: String, id: String) -> String {
        SecureRandom.base64URL(Array("\(createdAt)|\(id)".utf8))
    }

    static func decodeCursor(_ cursor: String) -> (createdAt: String, id: String)? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.count <= 200, let data = Data(base64Encoded: base64),
              let text = String(data: data, encoding: .utf8), let bar = text.lastIndex(of: "|") else { return nil }
        let createdAt = String(text[..<bar]), id = String(text[text.index(after: bar)...])
        // Only what this API writes: a PostgreSQL timestamp text and an id of token characters.
        guard !createdAt.isEmpty, createdAt.count <= 40,
              createdAt.allSatisfy({ $0.isNumber || "-:. +".contains($0) }),
              !id.isEmpty, id.utf8.allSatisfy(SessionToken.isTokenByte) else { return nil }
        return (createdAt, id)
    }
}
