// The one authentication step every user route goes through: Bearer token → session check in Redis →
// user id. Handlers get the id from here and never from a path or body.
import Runtime

enum Authenticator {
    /// Calls `next(userID)` on success; answers 401 itself otherwise (503 when Redis is unreachable).
    static func authenticate(_ request: APIRequest, _ next: @escaping (String) -> Void) {
        guard let token = bearerToken(request) else {
            request.fail(APIError.unauthenticated)
            return
        }
        let keys = UserKeys(userID: token.userID)
        request.script("session_check", keys: [keys.session(token.sessionID)], arguments: [token.userID, token.secret]) { result in
            switch result {
            case .success(.bulk(let bytes)) where String(decoding: bytes, as: UTF8.self) == token.userID:
                request.userID = token.userID
                next(token.userID)
            case .success:
                request.fail(APIError.unauthenticated)
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    /// The session check as a plain command, for the hottest route (the queue poll) where a script's
    /// fixed cost matters: the same three fields session_check.lua reads, judged by `sessionIsLive`.
    static func sessionFieldsCommand(_ token: SessionToken) -> [String] {
        ["HMGET", UserKeys(userID: token.userID).session(token.sessionID), "user", "access", "accessExp"]
    }

    /// session_check.lua's rule on the reply of `sessionFieldsCommand`: the session exists, belongs to the
    /// token's user, holds its access secret, and the access token has not expired at `nowMs` (Redis's
    /// clock, from TIME in the same pipeline).
    static func sessionIsLive(_ reply: RedisValue, _ token: SessionToken, nowMs: Int64) -> Bool {
        guard case .array(let fields) = reply, fields.count == 3,
              case .bulk(let user) = fields[0], case .bulk(let access) = fields[1], let expiry = fields[2].int else { return false }
        return user.elementsEqual(token.userID.utf8) && constantTimeEqual(access, Array(token.secret.utf8)) && nowMs < expiry
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func bearerToken(_ request: APIRequest) -> SessionToken? {
        guard let header = request.header("Authorization") else { return nil }
        // "Bearer" (any case), one or more spaces, the token; compared byte by byte (every request does this).
        let bytes = header.utf8
        var i = bytes.startIndex
        while i != bytes.endIndex, bytes[i] == UInt8(ascii: " ") { bytes.formIndex(after: &i) }
        for expected in "bearer".utf8 {
            guard i != bytes.endIndex, bytes[i] | 0x20 == expected else { return nil }
            bytes.formIndex(after: &i)
        }
        guard i != bytes.endIndex, bytes[i] == UInt8(ascii: " ") else { return nil }
        while i != bytes.endIndex, bytes[i] == UInt8(ascii: " ") { bytes.formIndex(after: &i) }
        guard i != bytes.endIndex else { return nil }
        return SessionToken(header[i...])
    }
}
