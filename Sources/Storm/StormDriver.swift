// Runs virtual clients on a few event loops. Each loop is a lane: its own HTTPClient (keep-alive
// connections capped per target, so all lanes together hold at most --connections per gateway), its own
// traffic stats, and its share of the clients. Clients are loop-confined, so the load path takes no lock.
//
// The clients come in parts (a scenario each), and a part runs in rounds: when every client of its round
// is done, the calling thread (never a loop) asks the part for its next round — fresh things to race for,
// set up through the admin API, which may block — and hands the new clients to the lanes. So the parts of
// `mixed` go at their own pace: a flash sale sold out in a second races again while a paced queue is still
// admitting. The calling thread also prints progress. At the deadline it starts no more rounds and tells
// each lane to stop: sleeping clients end at once, clients with a request in flight end when it answers
// (bounded by the request timeout); then the loops shut down, and only after that are the clients'
// observations and the lanes' stats read.
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
    /// Clients of each part's current round still running on this lane.
    private var active: [Int: Int] = [:]
    private var sleeping: [ObjectIdentifier: (timer: TimerID, client: VirtualClient)] = [:]
    private let rounds: RoundTracker

    init(loop: EventLoop, targets: [HTTPEndpoint], configuration: HTTPClient.Configuration, rounds: RoundTracker) {
        self.loop = loop
        self.targets = targets
        client = HTTPClient(loop: loop, configuration: configuration)
        self.rounds = rounds
    }

    /// On the loop: starts this lane's share (never empty) of a round of part `part`.
    func start(_ clients: [VirtualClient], part: Int) {
        active[part] = clients.count
        for client in clients {
            client.lane = self
            client.part = part
        }
        // A client may finish inside start(); the last one to finish reports the lane done, exactly once.
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
        active[client.part, default: 0] -= 1
        if active[client.part] == 0 { rounds.laneDone(part: client.part) }
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

/// A part of the storm: `nextRound` (called on the driver's calling thread, where blocking is fine) gives
/// the clients of its next round, or nil when the part is over.
struct StormPart {
    let nextRound: () throws -> [VirtualClient]?
}

/// Which parts finished a round: lanes report from their loops, the calling thread collects.
final class RoundTracker: @unchecked Sendable {
    private let lock = DispatchQueue(label: "storm.rounds")
    private var lanesLeft: [Int: Int] = [:]
    private var completed: [Int] = []
    let signal = DispatchSemaphore(value: 0)

    /// Before a round starts: how many lanes carry some of its clients.
    func expect(part: Int, lanes: Int) { lock.sync { lanesLeft[part] = lanes } }

    func laneDone(part: Int) {
        let roundOver: Bool = lock.sync {
            lanesLeft[part, default: 1] -= 1
            guard lanesLeft[part] == 0 else { return false }
            completed.append(part)
            return true
        }
        if roundOver { signal.signal() }
    }

    /// The parts whose round ended since the last call.
    func takeCompleted() -> [Int] {
        lock.sync {
            defer { completed.removeAll() }
            return completed
        }
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
        /// The deadline came before every part was over.
        var stoppedByDeadline = false
    }

    /// Runs every part, round after round, until all are over or `seconds` pass; `tick` gets each
    /// progress window. Blocks the calling thread, which must not be an event loop.
    func run(_ parts: [StormPart], seconds: Double, progressEvery interval: Double,
             tick: (_ window: TrafficStats, _ elapsed: Double, _ total: TrafficStats) -> Void) throws -> Outcome {
        let group = try EventLoopGroup(threads: loops, name: "storm")
        defer { group.shutdown() }
        var configuration = HTTPClient.Configuration()
        configuration.maxConnectionsPerEndpoint = max(1, connectionsPerTarget / loops)
        configuration.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        configuration.connectTimeoutMilliseconds = min(requestTimeoutMilliseconds, 5_000)
        let rounds = RoundTracker()
        let lanes = group.loops.map { Lane(loop: $0, targets: targets, configuration: configuration, rounds: rounds) }

        let began = monotonicNanos()
        func elapsed() -> Double { Double(monotonicNanos() - began) / 1e9 }
        var running = Set<Int>()
        var stopAt: Double?
        /// Starts part `index`'s next round, if it has one and the storm is not stopping.
        func advance(_ index: Int) throws {
            running.remove(index)
            guard stopAt == nil, let clients = try parts[index].nextRound(), !clients.isEmpty else { return }
            var shares = [[VirtualClient]](repeating: [], count: lanes.count)
            for (i, client) in clients.enumerated() { shares[i % lanes.count].append(client) }
            let carrying = zip(lanes, shares).filter { !$0.1.isEmpty }
            rounds.expect(part: index, lanes: carrying.count)
            running.insert(index)
            for (lane, share) in carrying { lane.loop.execute { lane.start(share, part: index) } }
        }
        for index in parts.indices { try advance(index) }

        var outcome = Outcome()
        var total = TrafficStats()
        let grace = Double(requestTimeoutMilliseconds) / 1_000 + 2
        var lastTick = 0.0
        while !running.isEmpty {
            let now = elapsed()
            let wait = max(0.01, min(lastTick + interval, stopAt ?? seconds) - now)
            _ = rounds.signal.wait(timeout: .now() + wait)
            for index in rounds.takeCompleted() { try advance(index) }
            if elapsed() - lastTick >= interval {
                let window = gather(lanes) { $0.takeWindow() }
                total.merge(window)
                tick(window, elapsed(), total)
                lastTick = elapsed()
            }
            if stopAt == nil && elapsed() >= seconds && !running.isEmpty {
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
