// What a route handler gets: the parsed request, its path parameters, the loop it runs on (and so that
// loop's Redis connection), and `respond`, to be called exactly once on this loop.
import HTTP
import JSON
import Persistence
import Runtime
import Scripts

public final class APIRequest {
    public let http: HTTPRequest
    public let parameters: [String: String]
    public let loop: EventLoop
    /// This loop's own state (touched only on this loop).
    let loopState: LoopState
    public let services: GatewayServices
    private let completion: (HTTPResponse) -> Void
    private(set) var responded = false
    /// Filled by the authentication step (identity issue), never from the path or body.
    public var userID: String?

    init(http: HTTPRequest, parameters: [String: String], loop: EventLoop, loopState: LoopState, services: GatewayServices,
         completion: @escaping (HTTPResponse) -> Void) {
        self.http = http
        self.parameters = parameters
        self.loop = loop
        self.loopState = loopState
        self.services = services
        self.completion = completion
    }

    public var redis: RedisConnection { services.redis.on(loop) }

    public func respond(_ response: HTTPResponse) {
        precondition(loop.inEventLoop, "respond off the request's loop")
        guard !responded else {
            Log.error("a handler answered twice", ["path": http.path])
            return
        }
        responded = true
        completion(response)
    }

    public func respond(_ status: Int, json: JSONValue, headers: [(name: String, value: String)] = []) {
        var bytes: [UInt8] = []
        JSONWriter.serialize(json, into: &bytes)
        respond(.json(status, bytes, headers: headers))
    }

    public func fail(_ error: Error) {
        respond(APIError.from(error).response)
    }

    /// The body as a JSON object, or the API's 400 MALFORMED_JSON / VALIDATION_FAILED.
    public func jsonObject() throws -> JSONObject {
        let value: JSONValue
        do {
            value = try http.body.withUnsafeBytes { try JSONParser.parse($0) }
        } catch {
            throw APIError.malformedJSON
        }
        guard case .object(let object) = value else {
            throw APIError.validation("body", "the body must be a JSON object")
        }
        return object
    }

    /// Runs `work` on the PostgreSQL pool (never on this loop) and `completion` back on this loop.
    public func postgres<T>(_ work: @escaping (PostgresConnection) throws -> T,
                            completion: @escaping (Result<T, Error>) -> Void) {
        let loop = self.loop
        services.postgres.submit(work) { result in
            if loop.inEventLoop { completion(result) } else { loop.execute { completion(result) } }
        }
    }

    /// Runs blocking `work` (password hashing) on the bounded pool and `completion` back on this loop.
    public func blocking<T>(_ work: @escaping () throws -> T, completion: @escaping (Result<T, Error>) -> Void) {
        services.blocking.submit(on: loop, work, completion: completion)
    }

    /// Runs a script on this loop's Redis connection; a transport failure arrives as `.failure`.
    public func script(_ name: String, keys: [String], arguments: [String],
                       completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        redis.run(LuaScript.named(name), keys: keys, arguments: arguments, completion: completion)
    }

    public func header(_ name: String) -> String? { http.headers[name] }

    public func query(_ name: String) -> String? {
        parseQuery(http.query)[name]
    }

    /// An integer query parameter within `range`, `defaultValue` when absent; 400 VALIDATION_FAILED otherwise.
    public func queryInteger(_ name: String, _ range: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        guard let text = query(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.validation(name, "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// Sends `commands` back to back (they leave in one write) and calls `completion` once every reply
    /// is in: all of them, or the first transport failure.
    public func pipeline(_ commands: [[String]], completion: @escaping (Result<[RedisValue], RedisError>) -> Void) {
        var replies = [RedisValue](repeating: .null, count: commands.count)
        var remaining = commands.count
        var failure: RedisError?
        for (i, command) in commands.enumerated() {
            redis.send(command) { result in
                switch result {
                case .success(let value): replies[i] = value
                case .failure(let error): if failure == nil { failure = error }
                }
                remaining -= 1
                if remaining == 0 { completion(failure.map { .failure($0) } ?? .success(replies)) }
            }
        }
    }
}
