// The storm's own calls before and after the load — creating events, products, concerts and coupons,
// charging wallets, reading stock, seats and balances back — through the project's event-loop HTTP client
// on a loop of its own. The caller (the storm's main thread, never a loop) waits for the answers;
// `callAll` sends many at once (charging 2,000 wallets is one round of concurrent calls, not 2,000 turns).
import Dispatch
import HTTP
import JSON
import Runtime

public struct StormSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

final class StormAPI {
    let targets: [HTTPEndpoint]
    let adminKey: String?
    private let group: EventLoopGroup
    private let client: HTTPClient

    init(targets: [HTTPEndpoint], adminKey: String?, requestTimeoutMilliseconds: Int) throws {
        self.targets = targets
        self.adminKey = adminKey
        group = try EventLoopGroup(threads: 1, name: "storm-api")
        var configuration = HTTPClient.Configuration()
        configuration.maxConnectionsPerEndpoint = 64
        configuration.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        client = HTTPClient(loop: group.loops[0], configuration: configuration)
    }

    func shutdown() {
        let loop = group.loops[0]
        let closed = DispatchSemaphore(value: 0)
        loop.execute { [client] in
            client.shutdown()
            closed.signal()
        }
        closed.wait()
        group.shutdown()
    }

    /// Sends every call at once (call i to target `target(i)`), waits for all, answers in call order.
    func callAll(_ calls: [APICall], target: (Int) -> Int = { _ in 0 }) -> [APIOutcome] {
        let results = ResultSlots(count: calls.count)
        let finished = DispatchGroup()
        let loop = group.loops[0]
        let destinations = calls.indices.map { targets[target($0) % targets.count] }
        for _ in calls { finished.enter() }
        loop.execute { [client] in
            for (i, call) in calls.enumerated() {
                client.execute(call.request, on: destinations[i]) { result in
                    results.set(i, result.map { APIResponse(status: $0.status, body: $0.body) })
                    finished.leave()
                }
            }
        }
        finished.wait()
        return results.values
    }

    func call(_ call: APICall, target: Int = 0) -> APIOutcome {
        callAll([call], target: { _ in target })[0]
    }

    /// A call that must answer `status` (setup): its JSON body, or a setup error saying what came instead.
    func expect(_ status: Int, _ call: APICall, target: Int = 0) throws -> JSONValue {
        switch self.call(call, target: target) {
        case .failure(let error):
            throw StormSetupError("\(call.operation): no answer from \(targets[target]): \(error)")
        case .success(let response):
            guard response.status == status, let json = response.json else {
                throw StormSetupError("\(call.operation) answered \(response.status), expected \(status): \(response.text)")
            }
            return json
        }
    }

    /// An admin call; a missing key is an error worth a clear message before anything is sent.
    func admin(_ method: HTTPMethod, _ path: String, _ body: JSONValue) throws -> JSONValue {
        guard let adminKey else {
            throw StormSetupError("creating what the storm needs takes an admin key: --admin-key, FLOODGATE_ADMIN_KEY or .data/run/admin-key")
        }
        return try expect(201, APICall(method, path, adminKey: adminKey, json: body))
    }
}

/// Outcomes written from the client's loop and read by the waiting thread after the group's wait.
private final class ResultSlots: @unchecked Sendable {
    private var slots: [APIOutcome?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ outcome: APIOutcome) { slots[index] = outcome }
    var values: [APIOutcome] { slots.map { $0! } }
}
