// The HTTP/1.1 server: one SO_REUSEPORT listener per event loop, connections confined to the loop that
// accepted them. A handler is called on that loop with the request and a completion to call once (on the
// same loop) with the response; pipelined requests are answered in order however their handlers finish.
import Foundation
import Runtime
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct HTTPRequestContext {
    public let loop: EventLoop
    /// Monotonic nanoseconds when the request was parsed, for latency metrics.
    public let receivedAt: UInt64
}

public typealias HTTPHandler = (HTTPRequest, HTTPRequestContext, @escaping (HTTPResponse) -> Void) -> Void

public struct HTTPServerConfiguration {
    public var host = "127.0.0.1"
    public var port = 8080
    public var limits = HTTPLimits()
    /// Open connections across all loops; beyond it a new connection gets 503 and is closed.
    public var maxConnections = 16_384
    /// A request (head and body) must arrive within this many seconds of its first byte, else 408.
    public var requestTimeoutSeconds = 10
    /// A keep-alive connection with nothing in flight is closed after this many idle seconds.
    public var idleTimeoutSeconds = 60
    /// Requests parsed ahead of their answers on one connection; reading pauses beyond it.
    public var maxPipelinedRequests = 64

    public init() {}
}

/// Counters of one loop, touched only on that loop.
public struct HTTPServerCounters {
    public var accepted = 0
    public var rejectedOverCap = 0
    public var malformed = 0
    public var timedOut = 0
}

public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    public let group: EventLoopGroup
    let handler: HTTPHandler
    let openConnections = Atomic<Int>(0)
    private var loopServers: [LoopServer] = []
    public private(set) var port: Int

    public var openConnectionCount: Int { openConnections.load(ordering: .relaxed) }

    public init(configuration: HTTPServerConfiguration, group: EventLoopGroup, handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.group = group
        self.handler = handler
        self.port = configuration.port
    }

    /// Opens a listener on every loop. With port 0 the first listener picks a port and the others join it.
    public func start() throws {
        var port = configuration.port
        for loop in group.loops {
            let fd = try Socket.listen(host: configuration.host, port: port)
            if port == 0 { port = Socket.boundPort(fd) }
            let loopServer = LoopServer(server: self, loop: loop, listenerFD: fd)
            loopServers.append(loopServer)
        }
        self.port = port
        let ready = DispatchGroup()
        for loopServer in loopServers {
            ready.enter()
            loopServer.loop.execute {
                loopServer.start()
                ready.leave()
            }
        }
        ready.wait()
    }

    /// Per-loop counters, gathered on the loops.
    public func counters(_ completion: @escaping ([HTTPServerCounters]) -> Void) {
        let servers = loopServers
        group.gather({ loop in servers[loop.index].counters }, completion: completion)
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish (up to `graceSeconds`), close
    /// everything. Blocks the calling thread, which must not be a loop thread.
    public func shutdown(graceSeconds: Double = 10) {
        for loopServer in loopServers {
            loopServer.loop.execute { loopServer.beginShutdown() }
        }
        let deadline = Date().addingTimeInterval(graceSeconds)
        while openConnectionCount > 0 && Date() < deadline {
            usleep(20_000)
        }
        let done = DispatchGroup()
        for loopServer in loopServers {
            done.enter()
            loopServer.loop.execute {
                loopServer.closeAll()
                done.leave()
            }
        }
        done.wait()
    }
}

/// The part of the server owned by one loop: its listener, its connections, its counters.
final class LoopServer: IOHandler {
    let server: HTTPServer  // strong: read on every request; the server outlives its loops' state
    let loop: EventLoop
    private var listenerFD: Int32
    private(set) var connections: [HTTPConnection] = []
    var counters = HTTPServerCounters()
    var shuttingDown = false
    /// One read buffer per loop, shared by its connections: reads never interleave on a loop.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(server: HTTPServer, loop: EventLoop, listenerFD: Int32) {
        self.server = server
        self.loop = loop
        self.listenerFD = listenerFD
    }

    func start() {
        do {
            try loop.register(fd: listenerFD, interest: .readable, handler: self)
        } catch {
            Log.error("cannot watch listener", ["error": "\(error)"])
        }
        loop.scheduleRepeating(everyMilliseconds: 500) { [weak self] in
            guard let self else { return false }
            self.sweepTimeouts()
            return !self.connections.isEmpty || self.listenerFD >= 0
        }
    }

    func handleIO(_ events: IOEvents) {
        // Accept a bounded batch so one busy listener cannot starve the loop's connections.
        for _ in 0..<256 {
            let fd: Int32
            do {
                guard let accepted = try Socket.accept(listenerFD) else { return }
                fd = accepted
            } catch let error as SystemError {
                // EMFILE/ENFILE: out of descriptors. Log and try later rather than spin.
                Log.warn("accept failed", ["error": error.description])
                return
            } catch {
                return
            }
            let open = server.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
            if open > server.configuration.maxConnections {
                server.openConnections.wrappingSubtract(1, ordering: .relaxed)
                counters.rejectedOverCap += 1
                rejectOverCapacity(fd)
                continue
            }
            counters.accepted += 1
            let connection = HTTPConnection(fd: fd, owner: self)
            connection.slot = connections.count
            connections.append(connection)
            do {
                try loop.register(fd: fd, interest: .readable, handler: connection)
            } catch {
                connection.close()
            }
        }
    }

    /// Over the connection cap: a short 503 written best-effort, then close. Never blocks.
    private func rejectOverCapacity(_ fd: Int32) {
        var bytes: [UInt8] = []
        HTTPResponse.error(503, code: "UNAVAILABLE", message: "too many connections",
                           headers: [("Retry-After", "1")]).serialize(into: &bytes, keepAlive: false)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        Glibc.close(fd)
    }

    func remove(_ connection: HTTPConnection) {
        let index = connection.slot
        guard index >= 0, index < connections.count, connections[index] === connection else { return }
        let last = connections.removeLast()
        if index < connections.count {
            connections[index] = last
            last.slot = index
        }
        connection.slot = -1
        server.openConnections.wrappingSubtract(1, ordering: .relaxed)
    }

    private func sweepTimeouts() {
        let now = monotonicNanos()
        let requestTimeout = UInt64(server.configuration.requestTimeoutSeconds) * 1_000_000_000
        let idleTimeout = UInt64(server.configuration.idleTimeoutSeconds) * 1_000_000_000
        // Iterate over a copy: closing removes from `connections`.
        for connection in connections {
            connection.checkTimeouts(now: now, requestTimeout: requestTimeout, idleTimeout: idleTimeout)
        }
    }

    func beginShutdown() {
        shuttingDown = true
        if listenerFD >= 0 {
            loop.deregister(fd: listenerFD)
            Glibc.close(listenerFD)
            listenerFD = -1
        }
        for connection in connections { connection.finishAndClose() }
    }

    func closeAll() {
        for connection in connections { connection.close() }
    }
}
