// Every system call goes through `systemCall`: EINTR is retried, EAGAIN/EWOULDBLOCK becomes
// `.wouldBlock`, and any other failure throws a `SystemError` carrying errno and the call's name.
#if canImport(Glibc)
import Glibc
#endif

public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

public enum IOResult<T> {
    case done(T)
    case wouldBlock
}

/// Runs `body` until it does not fail with EINTR. Negative results become errors; EAGAIN is `.wouldBlock`.
@inline(__always)
public func systemCall<T: BinaryInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let err = Glibc.errno
        if err == EINTR { continue }
        if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(call: name(), errno: err)
    }
}

/// The same, for calls that cannot block (socket, bind, epoll_ctl...): `.wouldBlock` is an error too.
@inline(__always)
@discardableResult
public func systemCallNonBlocking<T: BinaryInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws -> T {
    switch try systemCall(name(), body) {
    case .done(let value): return value
    case .wouldBlock: throw SystemError(call: name(), errno: EAGAIN)
    }
}

/// Monotonic time in nanoseconds: for deadlines and latency, never for anything shown to users.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Wall-clock milliseconds since the Unix epoch.
public func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
