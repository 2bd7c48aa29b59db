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

    /// The same check, pipelined with `work` so both go out in one write and come back in one round
    /// trip (the queue poll: one Redis round trip per poll). `work` runs with the user id the token
    /// *claims* before it is verified, so it must not act on that user's behalf: only read, or do what
    /// needs a secret of that user's anyway (a queue token's MAC). `next` runs only if the session is valid;
    /// otherwise the request is answered 401 (or 503) whatever `work` produced.
    static func authenticatePipelined<T>(_ request: APIRequest,
                                         _ work: (String, @escaping (T) -> Void) -> Void,
                                         next: @escaping (String, T) -> Void) {
        guard let token = bearerToken(request) else {
            request.fail(APIError.unauthenticated)
            return
        }
        var session: Result<RedisValue, RedisError>?
        var outcome: T?
        func finish() {
            guard let session, let outcome else { return }
            switch session {
            case .success(.bulk(let bytes)) where String(decoding: bytes, as: UTF8.self) == token.userID:
                request.userID = token.userID
                next(token.userID, outcome)
            case .success:
                request.fail(APIError.unauthenticated)
            case .failure(let error):
                request.fail(error)
            }
        }
        let keys = UserKeys(userID: token.userID)
        request.script("session_check", keys: [keys.session(token.sessionID)], arguments: [token.userID, token.secret]) { result in
            session = result
            finish()
        }
        work(token.userID) { result in
            outcome = result
            finish()
        }
    }

    static func bearerToken(_ request: APIRequest) -> SessionToken? {
        guard let header = request.header("Authorization") else { return nil }
        let trimmed = header.drop(while: { $0 == " " })
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        return SessionToken(trimmed.dropFirst(7).drop(while: { $0 == " " }))
    }
}
