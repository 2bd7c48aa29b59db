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

    static func bearerToken(_ request: APIRequest) -> SessionToken? {
        guard let header = request.header("Authorization") else { return nil }
        let trimmed = header.drop(while: { $0 == " " })
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        return SessionToken(trimmed.dropFirst(7).drop(while: { $0 == " " }))
    }
}
