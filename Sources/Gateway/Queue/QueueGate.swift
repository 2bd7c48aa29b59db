// The queue token as presented in `X-Queue-Token`, and the 403s of API.md for using one wrongly:
// QUEUE_TOKEN_REQUIRED when it is missing, QUEUE_NOT_ACTIVE (details: status, position) when it is not an
// ACTIVE token of this event and this user. Whether a token is valid is decided in Redis by the script
// that acts (its MAC, its seq, the active set); here only its shape is checked.
import JSON
import Queue

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

    /// What a gated script's refusal means to the client (`.noEvent` is handled before: reload, retry).
    static func error(for verdict: QueueGateVerdict) -> APIError? {
        switch verdict {
        case .pass: return nil
        case .tokenRequired: return tokenRequired
        case .notActive(let status, let position): return notActive(status: status, position: position)
        case .noEvent: return APIError.notFound("event")
        }
    }

    /// For read-only routes of a queued event: runs queue_gate.lua and calls `next` when the user may
    /// pass; answers 403 (or 404, 503) itself otherwise. Routes that change state carry the gate inside
    /// their own script instead, so the check and the change are one decision.
    static func check(_ request: APIRequest, eventID: String, userID: String, token: String?, next: @escaping () -> Void) {
        if let token, !isWellFormed(token) {
            request.fail(invalidToken)
            return
        }
        let script = QueueGateScript(eventID: eventID)
        EventCache.withSettings(request, eventID: eventID, run: { done in
            script.run(script.check(userID: userID, token: token), on: request.redis) { result in
                done(result.map { $0 == .noEvent ? nil : $0 })
            }
        }) { verdict in
            if let refusal = error(for: verdict) { request.fail(refusal) } else { next() }
        }
    }

    /// Expires the user's token for the event (their payment completed). Idempotent.
    static func expire(_ request: APIRequest, eventID: String, userID: String, completion: @escaping (Result<Void, Error>) -> Void) {
        let script = QueueGateScript(eventID: eventID)
        script.run(script.expire(userID: userID), on: request.redis) { result in completion(result.map { _ in () }) }
    }

    static func isWellFormed(_ value: String) -> Bool {
        // `<seq>.<24 hex>`: anything else is refused before it reaches Redis.
        value.utf8.count <= 48 && value.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || $0 == 46 }
    }

    /// The header's value; 403 QUEUE_TOKEN_REQUIRED when absent, QUEUE_NOT_ACTIVE when it cannot be a token.
    static func presentedToken(_ request: APIRequest) throws -> String {
        guard let value = request.header(header), !value.isEmpty else { throw tokenRequired }
        guard isWellFormed(value) else { throw invalidToken }
        return value
    }
}
