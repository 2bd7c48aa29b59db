// A bounded pool of threads for blocking work (password hashing, file I/O) that must never run on an
// event loop. `submit` fails at once when the queue is full, so overload becomes a 503, not a pile-up.
import Foundation

public struct PoolSaturated: Error, CustomStringConvertible {
    public var description: String { "blocking pool queue is full" }
}

public final class BlockingPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private let capacity: Int
    private var stopping = false

    public init(threads: Int, queueCapacity: Int = 1_000, name: String = "blocking") {
        capacity = queueCapacity
        for i in 0..<max(1, threads) {
            // Strong on purpose: a thread may start after its creator dropped the pool (a gateway built
            // only to list its routes), and an unowned read would then crash. The threads keep the pool
            // alive until `shutdown`, when they return and let it go.
            let thread = Thread { self.work() }
            thread.name = "\(name)-\(i)"
            thread.start()
        }
    }

    /// Runs `work` on a pool thread, then `completion` on `loop` with its result.
    public func submit<T>(on loop: EventLoop, _ work: @escaping () throws -> T,
                          completion: @escaping (Result<T, Error>) -> Void) {
        let accepted = enqueue {
            let result = Result { try work() }
            loop.execute { completion(result) }
        }
        if !accepted { completion(.failure(PoolSaturated())) }
    }

    private func enqueue(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if jobs.count - head >= capacity || stopping { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count { condition.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }

    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }
}
