// Runs virtual clients on a few event loops. Each loop is a lane: its own HTTPClient (keep-alive
// connections capped per target, so all lanes together hold at most --connections per gateway), its own
// traffic stats, and its share of the clients. Clients are loop-confined, so the load path takes no lock.
//
// The calling thread (never a loop) waits for every lane to report its clients done, printing progress
// meanwhile. At the deadline it tells each lane to stop: sleeping clients end at once, clients with a
// request in flight end when it answers (bounded by the request timeout); then the loops shut down, and
// only after that are the clients' observations and the lanes' stats read.
import Dispatch
import HTTP
import Runtime

final class Lane {
    let loop: EventLoop
    let client: HTTPClient
    let targets: [HTTPEndpoint]
    private(set) var stopping = false
    var stats = TrafficStats()
    /// Stats since the last progress line.
    var window = TrafficStats()
    private var active = 0
    private var started = false
    private var sleeping: [ObjectIdentifier: (timer: TimerID, client: VirtualClient)] = [:]
    private let done: DispatchGroup

    init(loop: EventLoop, targets: [HTTPEndpoint], configuration: HTTPClient.Configuration, done: DispatchGroup) {
        self.loop = loop
        self.targets = targets
        client = HTTPClient(loop: loop, configuration: configuration)
        self.done = done
    }

    /// On the loop: starts every client of this lane.
    func start(_ clients: [VirtualClient]) {
        active = clients.count
        started = true
        for client in clients { client.lane = self }
        if clients.isEmpty { done.leave(); return }
        // A client may finish inside start(); the last one to finish leaves `done`, exactly once.
        for client in clients { client.start() }
    }

    func send(_ call: APICall, to target: Int, _ then: @escaping (APIOutcome) -> Void) {
        let began = monotonicNanos()
        client.execute(call.request, on: targets[target]) { [self] result in
            let microseconds = Int64((monotonicNanos() - began) / 1_000)
            let outcome: APIOutcome = result.map { APIResponse(status: $0.status, body: $0.body) }
            stats.record(operation: call.operation, outcome: outcome, microseconds: microseconds)
            window.record(operation: call.operation, outcome: outcome, microseconds: microseconds)
            then(outcome)
        }
    }

    func sleep(_ client: VirtualClient, _ milliseconds: Int, _ then: @escaping () -> Void) {
        let id = ObjectIdentifier(client)
        let timer = loop.scheduleTimer(afterMilliseconds: milliseconds) { [self] in
            sleeping[id] = nil
            then()
        }
        sleeping[id] = (timer, client)
    }

    func clientFinished(_ client: VirtualClient) {
        active -= 1
        if active == 0 && started { done.leave() }
    }

    /// On the loop: no new requests from here on; sleeping clients end now.
    func stop() {
        stopping = true
        let napping = sleeping.values
        sleeping.removeAll()
        for (timer, client) in napping {
            loop.cancelTimer(timer)
            client.finish()
        }
    }

    /// On the loop: the window's stats, and a fresh window.
    func takeWindow() -> TrafficStats {
        defer { window = TrafficStats() }
        return window
    }
}

struct StormDriver {
    let targets: [HTTPEndpoint]
    let loops: Int
    let connectionsPerTarget: Int
    let requestTimeoutMilliseconds: Int

    struct Outcome {
        var stats = TrafficStats()
        var seconds = 0.0
        /// The deadline came before every client was done.
        var stoppedByDeadline = false
    }

    /// Runs `clients` until all are done or `seconds` pass; `tick` gets each progress window (on the
    /// calling thread). Blocks the calling thread, which must not be an event loop.
    func run(_ clients: [VirtualClient], seconds: Double, progressEvery interval: Double,
             tick: (_ window: TrafficStats, _ elapsed: Double, _ total: TrafficStats) -> Void) throws -> Outcome {
        let group = try EventLoopGroup(threads: loops, name: "storm")
        defer { group.shutdown() }
        var configuration = HTTPClient.Configuration()
        configuration.maxConnectionsPerEndpoint = max(1, connectionsPerTarget / loops)
        configuration.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        configuration.connectTimeoutMilliseconds = min(requestTimeoutMilliseconds, 5_000)
        let done = DispatchGroup()
        let lanes = group.loops.map { Lane(loop: $0, targets: targets, configuration: configuration, done: done) }
        var shares = [[VirtualClient]](repeating: [], count: lanes.count)
        for (i, client) in clients.enumerated() { shares[i % lanes.count].append(client) }

        let began = monotonicNanos()
        func elapsed() -> Double { Double(monotonicNanos() - began) / 1e9 }
        for (lane, share) in zip(lanes, shares) {
            done.enter()
            lane.loop.execute { lane.start(share) }
        }

        var outcome = Outcome()
        var total = TrafficStats()
        var stopAt: Double?
        let grace = Double(requestTimeoutMilliseconds) / 1_000 + 2
        while true {
            let now = elapsed()
            let nextTick = min(interval, max(0.01, (stopAt ?? seconds) - now))
            if done.wait(timeout: .now() + nextTick) == .success { break }
            let window = gather(lanes) { $0.takeWindow() }
            total.merge(window)
            tick(window, elapsed(), total)
            if stopAt == nil && elapsed() >= seconds {
                outcome.stoppedByDeadline = true
                stopAt = elapsed() + grace
                for lane in lanes { lane.loop.execute { lane.stop() } }
            } else if let stopAt, elapsed() >= stopAt {
                break  // requests still out past their own timeout: the shutdown below fails them
            }
        }
        outcome.seconds = elapsed()
        let stats = gather(lanes) { lane -> TrafficStats in
            lane.stop()
            lane.client.shutdown()
            return lane.stats
        }
        outcome.stats = stats
        return outcome
    }

    /// Runs `body` on every lane's loop and waits for the merged result.
    private func gather(_ lanes: [Lane], _ body: @escaping (Lane) -> TrafficStats) -> TrafficStats {
        let finished = DispatchGroup()
        let box = StatsBox()
        for lane in lanes {
            finished.enter()
            lane.loop.execute {
                let stats = body(lane)
                box.add(stats)
                finished.leave()
            }
        }
        finished.wait()
        return box.total
    }
}

/// Adds up per-loop stats handed over from several loops.
private final class StatsBox: @unchecked Sendable {
    private let lock = DispatchQueue(label: "storm.stats")
    private var value = TrafficStats()
    func add(_ stats: TrafficStats) { lock.sync { value.merge(stats) } }
    var total: TrafficStats { lock.sync { value } }
}
