// Bearer tokens are opaque to clients: `<userId>.<sessionId>.<secret>`, the secret 192 bits from the
// OS random source. The user and session parts only say which Redis key to check; whether the token is
// valid is decided by the session record (session_check.lua), never by the token's own text.
import Runtime

public struct SessionToken: Equatable {
    public let userID: String
    public let sessionID: String
    public let secret: String

    public var text: String { "\(userID).\(sessionID).\(secret)" }

    public init(userID: String, sessionID: String, secret: String) {
        self.userID = userID
        self.sessionID = sessionID
        self.secret = secret
    }

    /// Parses a presented token; nil for anything malformed (which is then simply 401).
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 64 && $0.utf8.allSatisfy(SessionToken.isTokenByte) }) else {
            return nil
        }
        self.init(userID: String(parts[0]), sessionID: String(parts[1]), secret: String(parts[2]))
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
    }

    public static func newSecret() -> String { SecureRandom.token(bytes: 24) }
    public static func newSessionID() -> String { SecureRandom.hex(bytes: 8) }
}
