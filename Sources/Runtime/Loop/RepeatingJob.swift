// Periodic work on one loop (queue admission, the hold sweeper): started and stopped from any thread,
// never run twice at once, and gone with its loop.
public final class RepeatingJob {
    public let loop: EventLoop
    private let intervalMilliseconds: Int
    private let tick: () -> Void
    private var running = false

    public init(loop: EventLoop, everyMilliseconds: Int, _ tick: @escaping () -> Void) {
        self.loop = loop
        intervalMilliseconds = everyMilliseconds
        self.tick = tick
    }

    public func start() {
        loop.execute {
            guard !self.running else { return }
            self.running = true
            self.loop.scheduleRepeating(everyMilliseconds: self.intervalMilliseconds) { [self] in
                guard running else { return false }
                tick()
                return running
            }
        }
    }

    public func stop() {
        loop.execute { self.running = false }
    }
}
