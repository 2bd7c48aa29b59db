// A small pool of PostgreSQL connections that does its waiting on its own threads, never the caller's.
//
// Each of `size` worker threads owns at most one connection, opened lazily by the first job it runs,
// and takes jobs from one bounded FIFO. A full queue rejects at once with `.queueFull` (the HTTP edge
// answers 503) instead of letting a slow database pile up unbounded work.
//
// Recovery (e.g. after PostgreSQL restarts):
// - A connection found dead while idle (the server's FATAL/EOF is already on the socket) is replaced
//   before the job runs: nothing was sent on it, so that is safe.
// - A job whose connection breaks while it runs fails with `.connectionLost` and is never retried
//   here — its writes may have committed. The connection is dropped; the next job reconnects.
// - Failed connects back off pool-wide (100 ms doubling to 2 s); while backing off, jobs fail fast
//   with `.connectFailed` (safe to retry) rather than every job hammering a server that is down.
import Dispatch
import Foundation

public final class PostgresPool: @unchecked Sendable {
    public let url: String
    public let size: Int
    public let queueCapacity: Int

    typealias Job = (PoolWorker) -> Void

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [Job?] = []
    private var head = 0
    private var stopping = false
    private var healthy = false
    private var healthCheckStartedAt: UInt64?
    private var retryConnectAt: UInt64 = 0
    private var connectBackoff: UInt64 = 0
    private var lastConnectError: PostgresError?

    /// The workers' pthread ids (guarded by `condition`), to refuse a blocking `run` from a job.
    /// Not `Thread.current`: corelibs Foundation does not reliably hand back the same object.
    private var workerThreads: [pthread_t] = []
    private let exited = DispatchGroup()

    static let initialBackoff: UInt64 = 100_000_000
    static let maximumBackoff: UInt64 = 2_000_000_000
    /// A health check still queued or running after this long counts as unhealthy.
    static let healthCheckTimeout: UInt64 = 5_000_000_000

    public init(url: String, size: Int = 4, queueCapacity: Int = 10_000) {
        self.url = url
        self.size = max(1, size)
        self.queueCapacity = max(1, queueCapacity)
        // The threads hold the pool strongly until `shutdown()` lets them finish.
        for i in 0..<self.size {
            exited.enter()
            Thread { self.workerLoop(name: "postgres-\(i)") }.start()
        }
    }

    // MARK: - Submitting work

    /// Runs `work` with a pool connection on a pool thread, then `completion` on that same thread (hop
    /// to your own event loop from there). If the queue is full or the pool is shut down, `completion`
    /// is called at once, on the caller's thread, with `.queueFull` / `.poolShutDown`, and this
    /// returns false.
    @discardableResult
    public func submit<T>(_ work: @escaping (PostgresConnection) throws -> T,
                          completion: @escaping (Result<T, Error>) -> Void) -> Bool {
        if let rejection = enqueue({ worker in completion(worker.perform(work)) }) {
            completion(.failure(rejection))
            return false
        }
        return true
    }

    /// Runs `work` on the pool and waits for it: for CLI commands, the write-behind worker and tests.
    /// Never call it on an event loop, nor from inside a job (that throws `.invalidUse`, not deadlock).
    @discardableResult
    public func run<T>(_ work: (PostgresConnection) throws -> T) throws -> T {
        guard !isPoolThread else {
            throw PostgresError(.invalidUse, "PostgresPool.run called from one of its own threads")
        }
        return try withoutActuallyEscaping(work) { work in
            let call = BlockingCall(work)
            let done = DispatchSemaphore(value: 0)
            if let rejection = enqueue({ worker in call.run(on: worker); done.signal() }) {
                call.work = nil
                throw rejection
            }
            done.wait()
            return try call.result!.get()
        }
    }

    /// Jobs waiting for a thread (not counting those running).
    public var queuedJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    // MARK: - Health

    /// The last known state: false after a failed connect, a broken connection or a failed or stuck
    /// check; true once a job or check reached the server. False until the first one has.
    public var lastHealthy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return healthy
    }

    /// Queues a `SELECT 1` that refreshes `lastHealthy`, and returns at once (safe on a loop timer).
    /// At most one check is outstanding; one still pending after 5 s marks the pool unhealthy.
    public func checkHealth() {
        condition.lock()
        let now = DispatchTime.now().uptimeNanoseconds
        if let started = healthCheckStartedAt {
            if now - started > Self.healthCheckTimeout { healthy = false }
            condition.unlock()
            return
        }
        healthCheckStartedAt = now
        condition.unlock()
        let rejection = enqueue { worker in
            let result = worker.perform { try $0.query("SELECT 1") }
            self.condition.lock()
            if case .failure = result { self.healthy = false }  // a server error here is still bad news
            self.healthCheckStartedAt = nil
            self.condition.unlock()
        }
        if rejection != nil {
            condition.lock()
            healthCheckStartedAt = nil
            condition.unlock()
        }
    }

    // MARK: - Lifecycle

    /// Stops taking jobs, lets the threads finish what is queued, closes the connections and waits for
    /// the threads to exit (unless called from a pool thread, which cannot wait for itself).
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        if !isPoolThread { exited.wait() }
    }

    private var isPoolThread: Bool {
        let current = pthread_self()
        condition.lock()
        defer { condition.unlock() }
        return workerThreads.contains { pthread_equal($0, current) != 0 }
    }

    // MARK: - Queue

    /// Returns the reason the job was not accepted, or nil.
    private func enqueue(_ job: @escaping Job) -> PostgresError? {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return PostgresError(.poolShutDown, "the PostgreSQL pool is shut down") }
        if jobs.count - head >= queueCapacity {
            return PostgresError(.queueFull, "the PostgreSQL pool queue is full (\(queueCapacity) jobs)")
        }
        jobs.append(job)
        condition.signal()
        return nil
    }

    private func nextJob() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count && !stopping { condition.wait() }
        if head == jobs.count { return nil }
        let job = jobs[head]
        jobs[head] = nil  // release the closure now: `run` relies on it not outliving the call
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    private func workerLoop(name: String) {
        Thread.current.name = name  // for debuggers and logs only
        condition.lock()
        workerThreads.append(pthread_self())
        condition.unlock()
        let worker = PoolWorker(pool: self)
        while let job = nextJob() { job(worker) }
        worker.connection?.close()
        exited.leave()
    }

    // MARK: - Connecting, with pool-wide backoff

    fileprivate func openConnection() throws -> PostgresConnection {
        condition.lock()
        let now = DispatchTime.now().uptimeNanoseconds
        if now < retryConnectAt, let last = lastConnectError {
            condition.unlock()
            let wait = (retryConnectAt - now) / 1_000_000
            throw PostgresError(.connectFailed, "not reconnecting for another \(wait) ms; last attempt: \(last.message)",
                                connectionBroken: true)
        }
        condition.unlock()
        do {
            let connection = try PostgresConnection(url: url)
            condition.lock()
            connectBackoff = 0
            retryConnectAt = 0
            lastConnectError = nil
            condition.unlock()
            return connection
        } catch {
            condition.lock()
            connectBackoff = connectBackoff == 0 ? Self.initialBackoff : min(connectBackoff * 2, Self.maximumBackoff)
            retryConnectAt = DispatchTime.now().uptimeNanoseconds + connectBackoff
            lastConnectError = error as? PostgresError ?? PostgresError(.connectFailed, "\(error)", connectionBroken: true)
            healthy = false
            condition.unlock()
            throw error
        }
    }

    fileprivate func noteReachedServer(_ reached: Bool) {
        condition.lock()
        healthy = reached
        condition.unlock()
    }
}

/// One pool thread's state: its connection, used by that thread only.
final class PoolWorker {
    private unowned let pool: PostgresPool
    fileprivate(set) var connection: PostgresConnection?

    init(pool: PostgresPool) { self.pool = pool }

    func perform<T>(_ work: (PostgresConnection) throws -> T) -> Result<T, Error> {
        let connection: PostgresConnection
        if let current = self.connection, current.isHealthy {
            connection = current
        } else {
            // Dead while idle (or never opened): nothing of this job was sent yet, so reconnecting is safe.
            self.connection?.close()
            self.connection = nil
            do { connection = try pool.openConnection() } catch { return .failure(error) }
            self.connection = connection
        }

        let result = Result { try work(connection) }

        // Hand the next job a clean connection: drop a broken one, roll back a transaction left open.
        if connection.isHealthy && connection.isInTransaction {
            if (try? connection.query("ROLLBACK")) == nil { connection.close() }
        }
        let reached = connection.isHealthy
        if !reached {
            connection.close()
            self.connection = nil
        }
        pool.noteReachedServer(reached)
        return result
    }
}

/// Carries a blocking `run`'s closure to a pool thread and its result back. The closure is released
/// before the caller is woken, as `withoutActuallyEscaping` requires.
private final class BlockingCall<T> {
    var work: ((PostgresConnection) throws -> T)?
    var result: Result<T, Error>?

    init(_ work: @escaping (PostgresConnection) throws -> T) { self.work = work }

    func run(on worker: PoolWorker) {
        if let work { result = worker.perform(work) }
        work = nil
    }
}
