// N event loops, each on its own thread. Listeners use SO_REUSEPORT so the kernel spreads accepted
// connections over the loops; nothing is shared between them but this list.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]
    private var threads: [Thread] = []
    private let finished: DispatchGroup = DispatchGroup()

    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public init(threads count: Int = EventLoopGroup.coreCount, name: String = "loop") throws {
        loops = try (0..<max(1, count)).map { try EventLoop(index: $0) }
        for loop in loops {
            finished.enter()
            let thread = Thread { [finished] in
                loop.run()
                finished.leave()
            }
            thread.name = "\(name)-\(loop.index)"
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        // Start after all are built so no loop runs before the group is complete.
        for thread in threads { thread.start() }
    }

    /// Runs `body` on every loop and calls `completion` (on an arbitrary thread) with the results in loop order.
    public func gather<T>(_ body: @escaping (EventLoop) -> T, completion: @escaping ([T]) -> Void) {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: loops.count)
        results.initialize(repeating: nil)
        let group = DispatchGroup()
        for (i, loop) in loops.enumerated() {
            group.enter()
            loop.execute {
                results[i] = body(loop)
                group.leave()
            }
        }
        group.notify(queue: .global()) {
            let values = results.map { $0! }
            results.deallocate()
            completion(values)
        }
    }

    /// Stops every loop and waits for their threads to return.
    public func shutdown() {
        for loop in loops { loop.stop() }
        finished.wait()
    }
}
