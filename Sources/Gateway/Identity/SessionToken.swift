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

    /// Parses a presented token; nil for anything malformed (which is then simply 401). One pass over the
    /// bytes (every poll parses one): three non-empty parts of at most 64 token characters, two dots.
    public init?(_ text: Substring) {
        let bytes = text.utf8
        var firstDot: Substring.Index?, secondDot: Substring.Index?
        var run = 0
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let byte = bytes[i]
            if byte == UInt8(ascii: ".") {
                guard run > 0, secondDot == nil else { return nil }
                if firstDot == nil { firstDot = i } else { secondDot = i }
                run = 0
            } else {
                guard SessionToken.isTokenByte(byte), run < 64 else { return nil }
                run += 1
            }
            bytes.formIndex(after: &i)
        }
        guard let firstDot, let secondDot, run > 0 else { return nil }
        self.init(userID: String(text[text.startIndex..<firstDot]),
                  sessionID: String(text[text.index(after: firstDot)..<secondDot]),
                  secret: String(text[text.index(after: secondDot)...]))
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
    }

    public static func newSecret() -> String { SecureRandom.token(bytes: 24) }
    public static func newSessionID() -> String { SecureRandom.hex(bytes: 8) }
}
