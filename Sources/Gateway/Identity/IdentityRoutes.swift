// POST /auth/signup, /auth/login, /auth/refresh, /auth/logout and GET /auth/me (API.md "Auth").
import Foundation
import HTTP
import JSON
import Runtime

struct IdentityRoutes {
    /// Failed logins per email before 429, and the window they are counted in.
    static let failedLoginLimit = 10
    static let failedLoginWindowSeconds = 900

    /// Verified against when the email is unknown, so both failures take about the same time.
    static let decoyHash: String = PasswordHasher.hash(SecureRandom.token()) ?? ""

    func register(into router: inout RouteTable) {
        router.add(.POST, "/auth/signup", signup)
        router.add(.POST, "/auth/login", login)
        router.add(.POST, "/auth/refresh", refresh)
        router.add(.POST, "/auth/logout", logout)
        router.add(.GET, "/auth/me", me)
    }

    private func signup(_ request: APIRequest) throws {
        let body = try request.jsonObject()
        let email = try Self.email(body)
        let password = try Self.password(body)
        guard case .string(let rawName)? = body["name"] else { throw APIError.validation("name", "name is required") }
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(name.count) else { throw APIError.validation("name", "name must be 1 to 100 characters") }

        request.blocking({ PasswordHasher.hash(password) }) { hashed in
            guard case .success(let hash?) = hashed else { return request.fail(APIError.unavailable("the server")) }
            let user = StoredUser(id: "usr_" + SecureRandom.hex(bytes: 12), email: email, name: name, passwordHash: hash)
            request.postgres({ try UserStore.insert(user, $0) }) { inserted in
                switch inserted {
                case .success(let stored?):
                    request.respond(201, json: ["userId": .string(stored.id), "email": .string(stored.email), "name": .string(stored.name)])
                case .success(nil):
                    request.fail(APIError(409, "EMAIL_TAKEN", "an account with this email exists"))
                case .failure(let error):
                    request.fail(error)
                }
            }
        }
    }

    private func login(_ request: APIRequest) throws {
        let body = try request.jsonObject()
        guard case .string(let rawEmail)? = body["email"] else { throw APIError.validation("email", "email is required") }
        guard case .string(let password)? = body["password"] else { throw APIError.validation("password", "password is required") }
        let email = rawEmail.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        // The counter key uses the email's hex so no character of it can act as a hash tag.
        let throttleKey = "{login:\(Array(email.utf8).map { String(format: "%02x", $0) }.joined())}:fails"
        let window = String(Self.failedLoginWindowSeconds), limit = String(Self.failedLoginLimit)
        // Every attempt takes a slot up front (one atomic INCR), so however many arrive in parallel at
        // most `failedLoginLimit` are ever checked per window; a successful one gives its slot back.
        request.script("rate_limit", keys: [throttleKey], arguments: [window, limit, "hit"]) { counted in
            guard case .success(.array(let state)) = counted, state.count == 3 else {
                return request.fail(APIError.unexpected(counted))
            }
            if state[0] != .integer(1) {
                let retry = max(1, state[2].int ?? 1)
                return request.fail(APIError(429, "RATE_LIMITED", "too many failed logins, retry later",
                                             headers: [("Retry-After", String(retry))]))
            }
            request.postgres({ try UserStore.find(email: email, $0) }) { found in
                let user: StoredUser?
                switch found {
                case .success(let value): user = value
                case .failure(let error): return request.fail(error)
                }
                let stored = user?.passwordHash ?? Self.decoyHash
                // Longer than signup allows cannot match; it is refused without hashing a megabyte.
                request.blocking({ password.utf8.count <= 1024 && PasswordHasher.verify(password, against: stored) && user != nil }) { verified in
                    switch verified {
                    case .success(true):
                        request.script("rate_limit", keys: [throttleKey], arguments: [window, limit, "undo"]) { _ in
                            Self.openSession(request, userID: user!.id)
                        }
                    case .success(false):
                        request.fail(APIError(401, "INVALID_CREDENTIALS", "email or password is wrong"))
                    case .failure(let error):
                        request.fail(error)
                    }
                }
            }
        }
    }

    private static func openSession(_ request: APIRequest, userID: String) {
        let configuration = request.services.configuration
        let access = SessionToken(userID: userID, sessionID: SessionToken.newSessionID(), secret: SessionToken.newSecret())
        let refresh = SessionToken(userID: userID, sessionID: access.sessionID, secret: SessionToken.newSecret())
        request.script("session_open", keys: [UserKeys(userID: userID).session(access.sessionID)],
                       arguments: [userID, access.secret, refresh.secret,
                                   String(configuration.accessTokenTTLSeconds), String(configuration.refreshTokenTTLSeconds)]) { result in
            guard case .success(.array) = result else { return request.fail(APIError.unexpected(result)) }
            request.respond(200, json: tokenPair(access, refresh, configuration))
        }
    }

    private func refresh(_ request: APIRequest) throws {
        let body = try request.jsonObject()
        guard case .string(let text)? = body["refreshToken"] else { throw APIError.validation("refreshToken", "refreshToken is required") }
        guard let presented = SessionToken(Substring(text)) else { throw APIError.unauthenticated }
        let configuration = request.services.configuration
        let access = SessionToken(userID: presented.userID, sessionID: presented.sessionID, secret: SessionToken.newSecret())
        let refresh = SessionToken(userID: presented.userID, sessionID: presented.sessionID, secret: SessionToken.newSecret())
        request.script("session_refresh", keys: [UserKeys(userID: presented.userID).session(presented.sessionID)],
                       arguments: [presented.userID, presented.secret, access.secret, refresh.secret,
                                   String(configuration.accessTokenTTLSeconds), String(configuration.refreshTokenTTLSeconds)]) { result in
            switch result {
            case .success(.array): request.respond(200, json: Self.tokenPair(access, refresh, configuration))
            case .success: request.fail(APIError.unauthenticated)
            case .failure(let error): request.fail(error)
            }
        }
    }

    private func logout(_ request: APIRequest) throws {
        guard let token = Authenticator.bearerToken(request) else { throw APIError.unauthenticated }
        request.script("session_close", keys: [UserKeys(userID: token.userID).session(token.sessionID)],
                       arguments: [token.userID, token.secret]) { result in
            switch result {
            case .success(.integer(1)): request.respond(HTTPResponse(status: 204))
            case .success: request.fail(APIError.unauthenticated)
            case .failure(let error): request.fail(error)
            }
        }
    }

    private func me(_ request: APIRequest) throws {
        Authenticator.authenticate(request) { userID in
            request.postgres({ try UserStore.find(id: userID, $0) }) { found in
                switch found {
                case .success(let user?):
                    request.respond(200, json: ["userId": .string(user.id), "email": .string(user.email), "name": .string(user.name)])
                case .success(nil): request.fail(APIError.unauthenticated)
                case .failure(let error): request.fail(error)
                }
            }
        }
    }

    // MARK: validation and helpers

    static func email(_ body: JSONObject) throws -> String {
        guard case .string(let raw)? = body["email"] else { throw APIError.validation("email", "email is required") }
        let email = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              email.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f }) else {
            throw APIError.validation("email", "email is not a valid address")
        }
        return email
    }

    static func password(_ body: JSONObject) throws -> String {
        guard case .string(let password)? = body["password"] else { throw APIError.validation("password", "password is required") }
        // The upper bound keeps one request from buying unbounded hashing time.
        guard password.count >= 8, password.utf8.count <= 1024 else {
            throw APIError.validation("password", "password must be 8 to 1024 characters")
        }
        return password
    }

    static func tokenPair(_ access: SessionToken, _ refresh: SessionToken, _ configuration: Configuration) -> JSONValue {
        ["accessToken": .string(access.text), "refreshToken": .string(refresh.text), "tokenType": "Bearer",
         "expiresIn": JSONValue(configuration.accessTokenTTLSeconds)]
    }
}
