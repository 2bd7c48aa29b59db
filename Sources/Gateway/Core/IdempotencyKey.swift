// The Idempotency-Key header of POST /wallet/charge, /orders and /payments: 1..64 of [A-Za-z0-9_-].
// The record of the first answer lives in Redis for 24 hours, written by the same script that acts.
enum IdempotencyKey {
    static let ttlSeconds = 24 * 3600

    /// The header's value; nil when absent; 400 when malformed.
    static func from(_ request: APIRequest) throws -> String? {
        guard let value = request.header("Idempotency-Key") else { return nil }
        guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy(SessionToken.isTokenByte) else {
            throw APIError.validation("Idempotency-Key", "Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 _ -")
        }
        return value
    }

    static let reused = APIError(422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different request")
}
