// Errors that know their HTTP status and body (API.md: `{"error":{"code","message","details"}}`).
// Anything that is not an APIError becomes a 500 whose body says nothing about internals; the cause is
// logged instead.
import HTTP
import JSON
import Persistence
import Runtime

public struct APIError: Error, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    public var details: JSONObject?
    public var headers: [(name: String, value: String)] = []

    public init(_ status: Int, _ code: String, _ message: String, details: JSONObject? = nil,
                headers: [(name: String, value: String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The same error with other details.
    public func with(details: JSONObject) -> APIError {
        var copy = self
        copy.details = details
        return copy
    }

    public var response: HTTPResponse {
        HTTPResponse.error(status, code: code, message: message,
                           detailsJSON: details.map { JSONValue.object($0).jsonText }, headers: headers)
    }

    // The common ones.
    public static func validation(_ field: String, _ message: String) -> APIError {
        APIError(400, "VALIDATION_FAILED", message, details: ["field": .string(field)])
    }
    public static let malformedJSON = APIError(400, "MALFORMED_JSON", "the body is not valid JSON")
    public static func notFound(_ resource: String) -> APIError {
        APIError(404, "NOT_FOUND", "\(resource) not found", details: ["resource": .string(resource)])
    }
    public static let unauthenticated = APIError(401, "UNAUTHENTICATED", "a valid bearer token is required",
                                                 headers: [("WWW-Authenticate", "Bearer")])
    public static let forbidden = APIError(403, "FORBIDDEN", "not allowed")
    public static func unavailable(_ what: String, retryAfterSeconds: Int = 1) -> APIError {
        APIError(503, "UNAVAILABLE", "\(what) is unavailable, retry later",
                 headers: [("Retry-After", String(retryAfterSeconds))])
    }
    public static let internalError = APIError(500, "INTERNAL", "internal error")

    /// A script reply no branch of its caller expected: a transport failure passes through (503), any
    /// other reply is logged and becomes a 500 — a script and its Swift caller disagree, a bug.
    public static func unexpected(_ result: Result<RedisValue, RedisError>) -> Error {
        switch result {
        case .failure(let error): return error
        case .success(let value):
            Log.error("unexpected script reply", ["reply": value.description])
            return APIError.internalError
        }
    }

    /// Maps any error from a dependency to what the client should see.
    public static func from(_ error: Error) -> APIError {
        switch error {
        case let api as APIError:
            return api
        case is RedisError:
            return .unavailable("Redis")
        case is PoolSaturated:
            return .unavailable("the server")
        case let postgres as PostgresError
            where postgres.isConnectionBroken || postgres.code == .connectFailed || postgres.code == .queueFull:
            return .unavailable("PostgreSQL", retryAfterSeconds: 2)
        default:
            Log.error("unexpected error", ["error": String(describing: error)])
            return .internalError
        }
    }
}
