// A virtual client: one user of the API, written as a small state machine that issues one request at a
// time and decides its next step from the answer. Subclasses (one per scenario) override `start()` and
// call `send`, `sleep` and `finish`; everything runs on the client's lane (one event loop), so a client's
// fields need no lock while the storm runs and are read by the checks only after the loops stopped.
//
// A client ends by calling `finish()` when its work is done; when the storm's time is up its next `send`
// or pending `sleep` ends it instead, so no client outlives the deadline by more than one request.
import Runtime

open class VirtualClient {
    /// Index into the storm's targets: the gateway this client talks to.
    public let target: Int
    var lane: Lane!
    /// The storm part (scenario) whose round this client belongs to.
    var part = 0
    public private(set) var finished = false
    /// Calls that failed without an answer or with a 5xx and were repeated.
    public private(set) var retries = 0

    public init(target: Int) {
        self.target = target
    }

    /// Called once, on the lane's loop, when the storm starts.
    open func start() {}

    /// Sends `call` to this client's target; `then` runs on the loop with the outcome. After the
    /// deadline the client ends here instead.
    public final func send(_ call: APICall, _ then: @escaping (APIOutcome) -> Void) {
        guard !finished else { return }
        guard !lane.stopping else { finish(); return }
        lane.send(call, to: target, then)
    }

    /// Runs `then` after `milliseconds` unless the storm ends first (the client then ends).
    public final func sleep(_ milliseconds: Int, _ then: @escaping () -> Void) {
        guard !finished else { return }
        guard !lane.stopping else { finish(); return }
        lane.sleep(self, milliseconds, then)
    }

    /// For answers that say "try again" (no answer, 5xx): after a short, jittered pause, at most
    /// `limit` times per client; false when the budget is spent (the client should give up).
    public final func retryLater(limit: Int = 50, _ again: @escaping () -> Void) -> Bool {
        guard retries < limit else { return false }
        retries += 1
        sleep(Int.random(in: 20...200), again)
        return true
    }

    public final func finish() {
        guard !finished else { return }
        finished = true
        lane.clientFinished(self)
    }
}

extension APIOutcome {
    /// No answer, or 5xx: worth repeating (with the same Idempotency-Key where the route takes one).
    var isRetryable: Bool {
        switch self {
        case .failure: return true
        case .success(let response): return response.status >= 500
        }
    }

    var response: APIResponse? {
        if case .success(let response) = self { return response }
        return nil
    }
}
