// One event loop per thread: a level-triggered epoll instance, a timer heap, and an eventfd that other
// threads write to when they hand the loop a task. Everything a loop owns (its sockets, its Redis
// connection, its per-loop metrics) is touched only on its own thread, so the hot path takes no lock;
// the one lock guards the inbox of cross-thread tasks.
//
// Registrations carry a generation next to the fd (packed into epoll's 64-bit user data), so an event
// for a closed-and-reused fd number is recognised as stale and ignored.
import Foundation
import CSystem
#if canImport(Glibc)
import Glibc
#endif

public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = IOEvents(rawValue: 1)
    public static let writable = IOEvents(rawValue: 2)
    /// Error or hang-up. Reported on its own; handlers usually treat it as readable (a read then fails).
    public static let hangup = IOEvents(rawValue: 4)
}

public protocol IOHandler: AnyObject {
    func handleIO(_ events: IOEvents)
}

public struct TimerID: Hashable, Sendable {
    fileprivate let raw: UInt64
}

public final class EventLoop: @unchecked Sendable {
    public let index: Int
    private let epfd: Int32
    private let wakeFD: Int32

    private struct Registration {
        var generation: UInt32
        var interest: IOEvents
        unowned(unsafe) var handler: IOHandler
        var retained: IOHandler  // keeps the handler alive while registered
    }
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 1
    private var timers = TimerHeap()
    private var beforeSleepHooks: [() -> Void] = []

    private let inboxLock = NSLock()
    private var inbox: [() -> Void] = []
    private var wakeRequested = false
    private var stopRequested = false
    private var loopThread: pthread_t?

    public init(index: Int) throws {
        self.index = index
        epfd = try systemCallNonBlocking("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeFD = try systemCallNonBlocking("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64.max
        try systemCallNonBlocking("epoll_ctl(ADD eventfd)") { epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &event) }
    }

    deinit {
        close(wakeFD)
        close(epfd)
    }

    // MARK: thread identity

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The loop running on the calling thread, if any.
    public static var current: EventLoop? {
        guard let raw = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }

    public var inEventLoop: Bool {
        guard let thread = loopThread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    // MARK: file descriptors

    public func register(fd: Int32, interest: IOEvents, handler: IOHandler) throws {
        precondition(inEventLoop || loopThread == nil, "register off the loop thread")
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        var event = epoll_event()
        event.events = Self.epollMask(interest)
        event.data.u64 = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        try systemCallNonBlocking("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) }
        let slot = Int(fd)
        if slot >= registrations.count {
            registrations.append(contentsOf: repeatElement(nil, count: slot - registrations.count + 1))
        }
        registrations[slot] = Registration(generation: generation, interest: interest, handler: handler, retained: handler)
    }

    public func setInterest(fd: Int32, _ interest: IOEvents) throws {
        let slot = Int(fd)
        guard slot < registrations.count, var registration = registrations[slot] else { return }
        if registration.interest == interest { return }
        var event = epoll_event()
        event.events = Self.epollMask(interest)
        event.data.u64 = UInt64(registration.generation) << 32 | UInt64(UInt32(bitPattern: fd))
        try systemCallNonBlocking("epoll_ctl(MOD)") { epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event) }
        registration.interest = interest
        registrations[slot] = registration
    }

    public func interest(fd: Int32) -> IOEvents? {
        let slot = Int(fd)
        guard slot < registrations.count else { return nil }
        return registrations[slot]?.interest
    }

    /// Removes `fd` from the loop. The caller still owns the fd and closes it after this.
    public func deregister(fd: Int32) {
        let slot = Int(fd)
        guard slot < registrations.count, registrations[slot] != nil else { return }
        registrations[slot] = nil
        var event = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event)
    }

    private static func epollMask(_ interest: IOEvents) -> UInt32 {
        var mask: UInt32 = 0
        if interest.contains(.readable) { mask |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if interest.contains(.writable) { mask |= EPOLLOUT.rawValue }
        return mask
    }

    // MARK: tasks and timers

    /// Runs `task` on this loop's thread. Safe from any thread; the loop is woken at most once per batch.
    public func execute(_ task: @escaping () -> Void) {
        inboxLock.lock()
        inbox.append(task)
        let mustWake = !wakeRequested
        wakeRequested = true
        inboxLock.unlock()
        if mustWake && !inEventLoop { wake() }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(wakeFD, $0.baseAddress, 8) }
    }

    /// Calls `callback` on this loop after `milliseconds`. Loop thread only.
    @discardableResult
    public func scheduleTimer(afterMilliseconds milliseconds: Int, _ callback: @escaping () -> Void) -> TimerID {
        let deadline = monotonicNanos() + UInt64(max(0, milliseconds)) * 1_000_000
        return TimerID(raw: timers.schedule(deadline: deadline, callback))
    }

    /// Calls `tick` every `milliseconds` until the loop stops or `tick` returns false.
    public func scheduleRepeating(everyMilliseconds milliseconds: Int, _ tick: @escaping () -> Bool) {
        scheduleTimer(afterMilliseconds: milliseconds) { [unowned self] in
            if tick() { self.scheduleRepeating(everyMilliseconds: milliseconds, tick) }
        }
    }

    public func cancelTimer(_ id: TimerID) {
        timers.cancel(id.raw)
    }

    /// Runs `hook` each time the loop has handled what was ready and is about to wait again (like Redis's
    /// beforeSleep): the place to flush output that handlers produced during this round. Loop thread only.
    public func addBeforeSleep(_ hook: @escaping () -> Void) {
        beforeSleepHooks.append(hook)
    }

    // MARK: running

    /// Runs the loop on the calling thread until `stop()`; then runs the tasks still queued and returns.
    public func run() {
        loopThread = pthread_self()
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.currentKey, nil) }
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }

        while true {
            runInbox()
            inboxLock.lock()
            let stopping = stopRequested
            let pendingTasks = !inbox.isEmpty
            inboxLock.unlock()
            if stopping { break }
            for hook in beforeSleepHooks { hook() }

            var timeout: Int32 = -1
            if pendingTasks {
                timeout = 0
            } else if let deadline = timers.nextDeadline() {
                let now = monotonicNanos()
                timeout = deadline <= now ? 0 : Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            }
            let count = epoll_wait(epfd, events, Int32(capacity), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                Log.error("epoll_wait failed", ["errno": "\(errno)"])
                break
            }
            for i in 0..<Int(count) {
                dispatch(events[i])
            }
            let due = timers.popDue(now: monotonicNanos())
            for callback in due { callback() }
        }
        runInbox()
    }

    private func dispatch(_ event: epoll_event) {
        let data = event.data.u64
        if data == UInt64.max {
            var value: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &value) { read(wakeFD, $0.baseAddress, 8) }
            return
        }
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
        let generation = UInt32(truncatingIfNeeded: data >> 32)
        let slot = Int(fd)
        guard slot < registrations.count, let registration = registrations[slot],
              registration.generation == generation else { return }
        var ready: IOEvents = []
        let mask = event.events
        if mask & EPOLLIN.rawValue != 0 { ready.insert(.readable) }
        if mask & EPOLLOUT.rawValue != 0 { ready.insert(.writable) }
        if mask & (EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { ready.insert(.hangup) }
        registration.retained.handleIO(ready)
    }

    private func runInbox() {
        inboxLock.lock()
        let tasks = inbox
        inbox.removeAll(keepingCapacity: true)
        wakeRequested = false
        inboxLock.unlock()
        for task in tasks { task() }
    }

    /// Asks the loop to return from `run()`. Safe from any thread.
    public func stop() {
        inboxLock.lock()
        stopRequested = true
        inboxLock.unlock()
        wake()
    }
}
