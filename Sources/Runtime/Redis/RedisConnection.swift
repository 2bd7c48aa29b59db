// One non-blocking Redis connection per event loop, driven by hiredis 0.14's async API plugged into that
// loop through the `ac->ev` hooks. Every request handled on the loop shares it: commands are appended to
// hiredis's output buffer and written together on the next EPOLLOUT, replies come back in send order and
// hiredis matches them to their callbacks (a FIFO), so many requests are in flight on one connection.
//
// hiredis 0.14 has no timeouts, so this class keeps its own FIFO of in-flight commands with their send
// times and a 100 ms watchdog: when the oldest has waited longer than the command timeout (or a connect
// takes too long) the context is freed, which fails every in-flight command, and a reconnect follows with
// exponential backoff. While disconnected, commands fail at once with `.unavailable`.
//
// Ownership: the context is owned by hiredis; `ac->data` and `ac->ev.data` point, unretained, at this
// object, which outlives the context (it is never released while the loop runs). Each callback's privdata
// is a retained `PendingCommand`, released exactly once in `replyCallback` or when enqueueing fails.
import CHiredis
import Scripts
#if canImport(Glibc)
import Glibc
#endif

public typealias RedisCompletion = (Result<RedisValue, RedisError>) -> Void

final class PendingCommand {
    let completion: RedisCompletion
    let sentAt: UInt64
    var finished = false

    init(completion: @escaping RedisCompletion, sentAt: UInt64) {
        self.completion = completion
        self.sentAt = sentAt
    }
}

public final class RedisConnection: IOHandler {
    public let loop: EventLoop
    public let endpoint: RedisEndpoint
    public var commandTimeoutMilliseconds: Int
    public var connectTimeoutMilliseconds = 1_000

    private enum State {
        case idle
        case connecting(since: UInt64)
        case connected
        case waitingToReconnect
    }
    private var state: State = .idle
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var fd: Int32 = -1
    private var interest: IOEvents = []
    private var inFlight: [PendingCommand] = []
    private var inFlightHead = 0
    private var backoffMilliseconds = 50
    private var failureReason: RedisError.Kind = .unavailable
    private var closed = false

    /// Times a connection was (re)established after the first.
    public private(set) var reconnects = 0
    private var everConnected = false

    public var inFlightCount: Int { inFlight.count - inFlightHead }
    public var isConnected: Bool { if case .connected = state { return true }; return false }

    public init(loop: EventLoop, endpoint: RedisEndpoint, commandTimeoutMilliseconds: Int = 2_000) {
        self.loop = loop
        self.endpoint = endpoint
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }

    /// Connects and starts the watchdog. Loop thread only.
    public func start() {
        // Commands queued while the loop handled this round's events go out before it sleeps, not one
        // epoll round later when EPOLLOUT is reported: one wait less on every request's Redis call.
        loop.addBeforeSleep { [self] in
            if isConnected, interest.contains(.writable), let context { redisAsyncHandleWrite(context) }
        }
        connect()
        loop.scheduleRepeating(everyMilliseconds: 100) { [weak self] in
            guard let self, !self.closed else { return false }
            self.watchdog()
            return true
        }
    }

    /// Closes for good (shutdown). In-flight commands fail.
    public func close() {
        closed = true
        if let context { redisAsyncFree(context) }
    }

    // MARK: sending

    /// Sends one command; `completion` runs on this loop exactly once.
    public func send(_ arguments: [String], completion: @escaping RedisCompletion) {
        guard let context, !closed else {
            completion(.failure(RedisError(.unavailable, "not connected to \(endpoint)")))
            return
        }
        let pending = PendingCommand(completion: completion, sentAt: monotonicNanos())
        let privdata = Unmanaged.passRetained(pending).toOpaque()
        let command = RESP.format(arguments)
        let status = command.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                redisAsyncFormattedCommand(context, replyCallback, privdata, $0, buffer.count)
            }
        }
        if status != REDIS_OK {
            Unmanaged<PendingCommand>.fromOpaque(privdata).release()
            completion(.failure(RedisError(.unavailable, "connection to \(endpoint) is closing")))
            return
        }
        inFlight.append(pending)
    }

    /// Runs a script with EVALSHA; on NOSCRIPT (Redis restarted, SCRIPT FLUSH) it falls back to EVAL,
    /// which also puts the script back in Redis's cache for the next call.
    public func run(_ script: LuaScript, keys: [String], arguments: [String], completion: @escaping RedisCompletion) {
        var command = ["EVALSHA", script.sha1, String(keys.count)]
        command.reserveCapacity(3 + keys.count + arguments.count)
        command += keys
        command += arguments
        // `self` strongly: a connection lives as long as its loop, and a weak capture per call would cost.
        send(command) { result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                command[0] = "EVAL"
                command[1] = script.source
                self.send(command, completion: completion)
            } else {
                completion(result)
            }
        }
    }

    fileprivate func replyArrived(_ pending: PendingCommand, reply: UnsafeMutableRawPointer?) {
        // Replies arrive in send order, so the one answered is at the head; the scan is defensive.
        if inFlightHead < inFlight.count, inFlight[inFlightHead] === pending {
            inFlightHead += 1
        } else if let index = inFlight[inFlightHead...].firstIndex(where: { $0 === pending }) {
            inFlight.remove(at: index)
        }
        if inFlightHead == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            inFlightHead = 0
        } else if inFlightHead > 4096 {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
        guard !pending.finished else { return }
        pending.finished = true
        if let reply {
            pending.completion(.success(RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self))))
        } else {
            let message = failureReason == .timeout ? "Redis did not answer in \(commandTimeoutMilliseconds) ms"
                                                    : "connection to \(endpoint) lost"
            pending.completion(.failure(RedisError(failureReason, message)))
        }
    }

    // MARK: connection lifecycle

    private func connect() {
        guard !closed else { return }
        failureReason = .unavailable
        guard let ac = redisAsyncConnect(endpoint.host, Int32(endpoint.port)) else {
            scheduleReconnect("redisAsyncConnect returned nil")
            return
        }
        if ac.pointee.err != 0 {
            let message = ac.pointee.errstr.map { String(cString: $0) } ?? "connect error"
            redisAsyncFree(ac)
            scheduleReconnect(message)
            return
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        ac.pointee.data = me
        ac.pointee.ev.data = me
        ac.pointee.ev.addRead = { RedisConnection.from($0).changeInterest(add: .readable) }
        ac.pointee.ev.delRead = { RedisConnection.from($0).changeInterest(remove: .readable) }
        ac.pointee.ev.addWrite = { RedisConnection.from($0).changeInterest(add: .writable) }
        ac.pointee.ev.delWrite = { RedisConnection.from($0).changeInterest(remove: .writable) }
        ac.pointee.ev.cleanup = { RedisConnection.from($0).contextCleanup() }
        redisAsyncSetConnectCallback(ac, connectCallback)
        redisAsyncSetDisconnectCallback(ac, disconnectCallback)
        context = ac
        fd = ac.pointee.c.fd
        interest = []
        do {
            try loop.register(fd: fd, interest: [], handler: self)
        } catch {
            Log.error("cannot watch Redis socket", ["error": "\(error)"])
        }
        state = .connecting(since: monotonicNanos())
        // hiredis 0.14 asks for writability only once a command is queued; ask now, so the connect
        // completes (and the connect callback fires) even on an idle loop.
        changeInterest(add: .writable)
    }

    fileprivate static func from(_ raw: UnsafeMutableRawPointer?) -> RedisConnection {
        Unmanaged<RedisConnection>.fromOpaque(raw!).takeUnretainedValue()
    }

    private func changeInterest(add: IOEvents = [], remove: IOEvents = []) {
        let wanted = interest.union(add).subtracting(remove)
        guard wanted != interest, fd >= 0 else { return }
        interest = wanted
        try? loop.setInterest(fd: fd, wanted)
    }

    /// hiredis is about to free the context: forget it and stop watching the fd (hiredis closes it).
    private func contextCleanup() {
        if fd >= 0 { loop.deregister(fd: fd) }
        fd = -1
        interest = []
        context = nil
    }

    fileprivate func connected(status: Int32) {
        if status == REDIS_OK {
            state = .connected
            backoffMilliseconds = 50
            loadScripts()
            if everConnected {
                reconnects += 1
                Log.info("reconnected to Redis", ["redis": endpoint.description, "loop": "\(loop.index)"])
            }
            everConnected = true
        } else {
            // hiredis frees the context after this callback returns.
            scheduleReconnect("connect failed")
        }
    }

    /// Loads every embedded script on each new connection (start, or after Redis restarted and lost its
    /// script cache), so the first EVALSHA needs no NOSCRIPT round trip. A failure here costs nothing:
    /// `run` still falls back to EVAL.
    private func loadScripts() {
        for script in LuaScript.embedded.values {
            send(["SCRIPT", "LOAD", script.source]) { [endpoint] result in
                if case .success(.bulk(let digest)) = result, String(decoding: digest, as: UTF8.self) != script.sha1 {
                    Log.error("Redis computed another digest for a script", ["script": script.name, "redis": endpoint.description])
                }
            }
        }
    }

    fileprivate func disconnected(status: Int32) {
        scheduleReconnect(status == REDIS_OK ? "disconnected" : "connection lost")
    }

    private func scheduleReconnect(_ why: String) {
        guard !closed else { return }
        if case .waitingToReconnect = state { return }
        state = .waitingToReconnect
        let delay = backoffMilliseconds
        backoffMilliseconds = min(backoffMilliseconds * 2, 2_000)
        Log.warn("Redis unavailable, reconnecting", ["redis": endpoint.description, "reason": why,
                                                    "retryInMs": "\(delay)", "loop": "\(loop.index)"])
        loop.scheduleTimer(afterMilliseconds: delay) { [weak self] in
            guard let self, !self.closed else { return }
            self.connect()
        }
    }

    private func watchdog() {
        let now = monotonicNanos()
        switch state {
        case .connecting(let since) where now - since > UInt64(connectTimeoutMilliseconds) * 1_000_000:
            if let context {
                failureReason = .unavailable
                redisAsyncFree(context)  // fails queued commands; onConnect is not called for a free
            }
            state = .idle
            scheduleReconnect("connect timed out")
        case .connected:
            if inFlightHead < inFlight.count,
               now - inFlight[inFlightHead].sentAt > UInt64(commandTimeoutMilliseconds) * 1_000_000,
               let context {
                failureReason = .timeout
                redisAsyncFree(context)  // fails every in-flight command; onDisconnect schedules a reconnect
                if case .connected = state { scheduleReconnect("command timed out") }
            }
        default:
            break
        }
    }

    // MARK: IOHandler

    public func handleIO(_ events: IOEvents) {
        guard let ac = context else { return }
        if events.contains(.readable) || events.contains(.hangup) {
            redisAsyncHandleRead(ac)
        }
        // The read handler may have freed the context (disconnect): skip the write handler then.
        guard let current = context, current == ac else { return }
        if events.contains(.writable) {
            redisAsyncHandleWrite(ac)
        }
    }
}

private func replyCallback(_ ac: UnsafeMutablePointer<redisAsyncContext>?, _ reply: UnsafeMutableRawPointer?,
                           _ privdata: UnsafeMutableRawPointer?) {
    let pending = Unmanaged<PendingCommand>.fromOpaque(privdata!).takeRetainedValue()
    let connection = RedisConnection.from(ac!.pointee.data)
    connection.replyArrived(pending, reply: reply)
}

private func connectCallback(_ ac: UnsafePointer<redisAsyncContext>?, _ status: Int32) {
    RedisConnection.from(ac!.pointee.data).connected(status: status)
}

private func disconnectCallback(_ ac: UnsafePointer<redisAsyncContext>?, _ status: Int32) {
    RedisConnection.from(ac!.pointee.data).disconnected(status: status)
}
