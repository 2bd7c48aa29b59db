import Foundation
@testable import Runtime
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class EventLoopTests: XCTestCase {
    func testTasksFromManyThreadsAllRunOnTheLoopInPerThreadOrder() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let seen = LockedBox([Int: [Int]]())
        let offLoop = LockedBox(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<1_000 {
                loop.execute {
                    if !loop.inEventLoop { offLoop.with { $0 += 1 } }
                    seen.with { $0[thread, default: []].append(i) }
                }
            }
        }
        XCTAssertTrue(waitUntil(5) { seen.snapshot.values.reduce(0) { $0 + $1.count } == 8_000 })
        XCTAssertEqual(offLoop.snapshot, 0)
        for (_, order) in seen.snapshot { XCTAssertEqual(order, Array(0..<1_000)) }
    }

    func testTimersFireInDeadlineOrderAndCancelledOnesNever() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let fired = LockedBox([Int]())
        loop.execute {
            loop.scheduleTimer(afterMilliseconds: 60) { fired.with { $0.append(3) } }
            loop.scheduleTimer(afterMilliseconds: 20) { fired.with { $0.append(1) } }
            let cancelled = loop.scheduleTimer(afterMilliseconds: 30) { fired.with { $0.append(99) } }
            loop.scheduleTimer(afterMilliseconds: 40) { fired.with { $0.append(2) } }
            loop.cancelTimer(cancelled)
        }
        XCTAssertTrue(waitUntil(2) { fired.snapshot.count == 3 })
        usleep(50_000)
        XCTAssertEqual(fired.snapshot, [1, 2, 3])
    }

    func testRepeatingTimerStopsWhenTickReturnsFalse() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let ticks = LockedBox(0)
        group.loops[0].execute {
            group.loops[0].scheduleRepeating(everyMilliseconds: 5) {
                ticks.with { $0 += 1; return $0 } < 5
            }
        }
        XCTAssertTrue(waitUntil(2) { ticks.snapshot == 5 })
        usleep(50_000)
        XCTAssertEqual(ticks.snapshot, 5)
    }

    final class PipeReader: IOHandler {
        let fd: Int32
        let received: LockedBox<[UInt8]>
        init(fd: Int32, received: LockedBox<[UInt8]>) { self.fd = fd; self.received = received }
        func handleIO(_ events: IOEvents) {
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = read(fd, &buffer, 64)
            if n > 0 { received.with { $0.append(contentsOf: buffer[0..<n]) } }
        }
    }

    func testReadinessIsDeliveredAndAReusedDescriptorGetsOnlyItsOwnEvents() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        let first = LockedBox([UInt8]())
        let registered = DispatchSemaphore(value: 0)
        loop.execute {
            try! loop.register(fd: fds[0], interest: .readable, handler: PipeReader(fd: fds[0], received: first))
            registered.signal()
        }
        registered.wait()
        XCTAssertEqual(write(fds[1], "a", 1), 1)
        XCTAssertTrue(waitUntil(2) { first.snapshot == [UInt8(ascii: "a")] })

        // Deregister, register a new handler for the same fd number: the old handler must see nothing.
        let second = LockedBox([UInt8]())
        loop.execute {
            loop.deregister(fd: fds[0])
            try! loop.register(fd: fds[0], interest: .readable, handler: PipeReader(fd: fds[0], received: second))
            registered.signal()
        }
        registered.wait()
        XCTAssertEqual(write(fds[1], "b", 1), 1)
        XCTAssertTrue(waitUntil(2) { second.snapshot == [UInt8(ascii: "b")] })
        XCTAssertEqual(first.snapshot, [UInt8(ascii: "a")])
        loop.execute { loop.deregister(fd: fds[0]); registered.signal() }
        registered.wait()
        close(fds[0]); close(fds[1])
    }

    func testBlockingPoolRunsOffTheLoopAndAnswersOnIt() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let pool = BlockingPool(threads: 2, queueCapacity: 4)
        defer { pool.shutdown() }
        let results = LockedBox([Bool]())
        loop.execute {
            for _ in 0..<3 {
                pool.submit(on: loop, { () -> Bool in
                    usleep(20_000)
                    return EventLoop.current == nil  // the work itself is not on a loop thread
                }) { result in
                    results.with { $0.append((try? result.get()) == true && loop.inEventLoop) }
                }
            }
        }
        XCTAssertTrue(waitUntil(3) { results.snapshot.count == 3 })
        XCTAssertEqual(results.snapshot, [true, true, true])
    }

    func testBlockingPoolRejectsWhenItsQueueIsFull() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let pool = BlockingPool(threads: 1, queueCapacity: 2)
        defer { pool.shutdown() }
        let outcomes = LockedBox([String]())
        let gate = DispatchSemaphore(value: 0)
        loop.execute {
            for _ in 0..<6 {
                pool.submit(on: loop, { gate.wait() }) { result in
                    outcomes.with { $0.append((try? result.get()) != nil ? "ok" : "rejected") }
                }
            }
        }
        XCTAssertTrue(waitUntil(2) { outcomes.snapshot.filter { $0 == "rejected" }.count >= 3 })
        for _ in 0..<6 { gate.signal() }
        XCTAssertTrue(waitUntil(2) { outcomes.snapshot.count == 6 })
        XCTAssertGreaterThanOrEqual(outcomes.snapshot.filter { $0 == "ok" }.count, 2)
    }

    func testTimestampsRoundTrip() {
        XCTAssertEqual(Timestamp.rfc3339(millis: 1_795_251_600_123), "2026-11-21T09:00:00.123Z")
        XCTAssertEqual(Timestamp.parseRFC3339("2026-11-21T09:00:00.123Z"), 1_795_251_600_123)
        XCTAssertEqual(Timestamp.parseRFC3339("2026-11-21T18:00:00+09:00"), 1_795_251_600_000)
        XCTAssertNil(Timestamp.parseRFC3339("2026-13-01T00:00:00Z"))
        XCTAssertNil(Timestamp.parseRFC3339("yesterday"))
    }
}
