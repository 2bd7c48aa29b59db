// A value that one thread changes and others read whole (metrics snapshots: the worker's threads write,
// the HTTP loop's /metrics reads). Each read is a copy taken under the lock; each change runs under it.
import Foundation

public final class Guarded<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: Value

    public init(_ value: Value) { state = value }

    public var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    public func update(_ body: (inout Value) -> Void) {
        lock.lock()
        body(&state)
        lock.unlock()
    }
}
