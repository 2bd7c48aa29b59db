// The queue token as presented in `X-Queue-Token`, and the 403s of API.md for using one wrongly:
// QUEUE_TOKEN_REQUIRED when it is missing, QUEUE_NOT_ACTIVE (details: status, position) when it is not an
// ACTIVE token of this event and this user. Whether a token is valid is decided in Redis by the script
// that acts (its MAC, its seq, the active set); here only its shape is checked.
import JSON

enum QueueGate {
    static let header = "X-Queue-Token"

    static let tokenRequired = APIError(403, "QUEUE_TOKEN_REQUIRED",
                                        "this event is queued: send X-Queue-Token with an ACTIVE token from POST /events/{eventId}/queue")

    /// A token that is not one this user was given for this event.
    static let invalidToken = notActive(status: "INVALID", position: 0)

    static func notActive(status: String, position: Int64) -> APIError {
        APIError(403, "QUEUE_NOT_ACTIVE", status == "INVALID" ? "this queue token is not yours for this event"
                                                               : "this queue token is not ACTIVE (\(status))",
                 details: ["status": .string(status), "position": .int(position)])
    }

    /// The header's value; 403 QUEUE_TOKEN_REQUIRED when absent, QUEUE_NOT_ACTIVE when it cannot be a token.
    static func presentedToken(_ request: APIRequest) throws -> String {
        guard let value = request.header(header), !value.isEmpty else { throw tokenRequired }
        // `<seq>.<24 hex>`: anything else is refused before it reaches Redis.
        guard value.utf8.count <= 48, value.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || $0 == 46 }) else {
            throw invalidToken
        }
        return value
    }
}
