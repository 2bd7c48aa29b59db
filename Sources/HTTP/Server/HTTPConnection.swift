// One client connection on its loop. Bytes go into the parser; each complete request gets a response
// slot in arrival order and is handed to the handler; responses leave strictly in slot order, however
// their handlers finish (pipelining). Writes are batched per read cycle and resumed on EPOLLOUT.
//
// Closing: after a final response (Connection: close, an error, shutdown) the write side is shut down
// and the input drained until EOF or 2 s, so unread input does not make the kernel reset the connection
// and destroy the response before the client has read it.
import Runtime
#if canImport(Glibc)
import Glibc
#endif

final class HTTPConnection: IOHandler {
    private final class ResponseSlot {
        let keepAlive: Bool
        let http10: Bool
        let head: Bool
        var bytes: [UInt8]?
        init(keepAlive: Bool, http10: Bool, head: Bool) {
            self.keepAlive = keepAlive
            self.http10 = http10
            self.head = head
        }
    }

    let fd: Int32
    // Strong on purpose: `weak`/`unowned` references move an object's counts to a side table and make
    // every retain slower; the owner outlives its connections anyway.
    let owner: LoopServer
    /// Index in the owner's connection list (for O(1) removal); -1 once removed.
    var slot = -1

    private var parser: HTTPParser
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var slots: [ResponseSlot] = []
    private var slotHead = 0
    private var inReadCycle = false
    private var readingPaused = false
    private var writeInterest = false
    /// No more requests are parsed; close once every slot is answered and written.
    private var closeAfterFlush = false
    private var draining = false
    private var drainDeadline: UInt64 = 0
    private(set) var closed = false
    private var partialSince: UInt64 = 0
    private var lastActivity: UInt64

    init(fd: Int32, owner: LoopServer) {
        self.fd = fd
        self.owner = owner
        parser = HTTPParser(limits: owner.server.configuration.limits)
        lastActivity = monotonicNanos()
    }

    private var inFlight: Int { slots.count - slotHead }

    // MARK: reading

    func handleIO(_ events: IOEvents) {
        if closed { return }
        if events.contains(.writable) { flush() }
        if closed { return }
        if events.contains(.readable) || events.contains(.hangup) { readAvailable() }
    }

    private func readAvailable() {
        let buffer = owner.readBuffer
        var total = 0
        inReadCycle = true
        defer {
            inReadCycle = false
            if !closed { flush() }
        }
        // Read a bounded amount per event for fairness between connections on the loop.
        while total < 256 * 1024 && !closed {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                total += n
                lastActivity = monotonicNanos()
                if draining { if n < buffer.count { return }; continue }  // discarding input while closing
                parser.append(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n))
                processRequests()
                if readingPaused { return }
                // A short read drained the socket: epoll is level-triggered and reports the next bytes,
                // so skip the recv that would only say EAGAIN (one syscall less per request).
                if n < buffer.count { return }
                continue
            }
            if n == 0 {
                // Peer closed its side. Answer what is in flight, then close.
                if draining || inFlight == 0 { close(); return }
                closeAfterFlush = true
                pauseReading()
                return
            }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK { return }
            close()  // ECONNRESET and friends
            return
        }
    }

    private func processRequests() {
        while !closeAfterFlush && !closed {
            if inFlight >= owner.server.configuration.maxPipelinedRequests {
                pauseReading()
                return
            }
            let request: HTTPRequest
            do {
                guard let next = try parser.nextRequest() else { break }
                request = next
            } catch let error as HTTPParseError {
                owner.counters.malformed += 1
                failConnection(status: error.status, code: error.code, message: error.message)
                return
            } catch {
                failConnection(status: 400, code: "MALFORMED_REQUEST", message: "malformed request")
                return
            }
            let keepAlive = request.keepAlive && !owner.shuttingDown
            let slot = ResponseSlot(keepAlive: keepAlive, http10: request.version.minor == 0, head: request.method == .HEAD)
            slots.append(slot)
            if !keepAlive { closeAfterFlush = true }
            let context = HTTPRequestContext(loop: owner.loop, receivedAt: monotonicNanos())
            // Captures self strongly (no weak reference on the hot path); a closed connection ignores it.
            owner.server.handler(request, context) { response in
                if self.owner.loop.inEventLoop {
                    self.complete(slot, response)
                } else {
                    self.owner.loop.execute { self.complete(slot, response) }
                }
            }
        }
        partialSince = parser.hasPartialRequest ? (partialSince == 0 ? monotonicNanos() : partialSince) : 0
    }

    /// A framing or limit error: answer it after the responses already owed, then close.
    private func failConnection(status: Int, code: String, message: String) {
        let slot = ResponseSlot(keepAlive: false, http10: false, head: false)
        slots.append(slot)
        closeAfterFlush = true
        pauseReading()
        complete(slot, HTTPResponse.error(status, code: code, message: message))
    }

    // MARK: writing

    private func complete(_ slot: ResponseSlot, _ response: HTTPResponse) {
        guard !closed, slot.bytes == nil else { return }
        var bytes: [UInt8] = []
        // A shutdown that began while this request was in flight still tells its client to go.
        let keepAlive = slot.keepAlive && !owner.shuttingDown
        if !keepAlive { closeAfterFlush = true }
        response.serialize(into: &bytes, keepAlive: keepAlive, http10: slot.http10, omitBody: slot.head)
        slot.bytes = bytes
        while slotHead < slots.count, let ready = slots[slotHead].bytes {
            if output.isEmpty { output = ready } else { output.append(contentsOf: ready) }
            slots[slotHead].bytes = nil
            slotHead += 1
        }
        if slotHead == slots.count {
            slots.removeAll(keepingCapacity: true)
            slotHead = 0
        }
        if !inReadCycle { flush() }
    }

    private func flush() {
        while outputOffset < output.count {
            let n = output.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outputOffset, raw.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputOffset += n
                continue
            }
            let err = errno
            if n < 0 && err == EINTR { continue }
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) {
                setWriteInterest(true)
                return
            }
            close()  // EPIPE / ECONNRESET: the client went away mid-response
            return
        }
        if output.capacity > 64 * 1024 { output = [] } else { output.removeAll(keepingCapacity: true) }
        outputOffset = 0
        setWriteInterest(false)
        if closeAfterFlush && inFlight == 0 {
            beginDrain()
        } else if readingPaused && !closeAfterFlush && inFlight < owner.server.configuration.maxPipelinedRequests {
            resumeReading()
            // Requests may already be buffered in the parser.
            inReadCycle = true
            processRequests()
            inReadCycle = false
            if outputOffset < output.count { flush() }
        }
    }

    private func setWriteInterest(_ on: Bool) {
        guard on != writeInterest, !closed else { return }
        writeInterest = on
        updateInterest()
    }

    private func pauseReading() {
        guard !readingPaused else { return }
        readingPaused = true
        updateInterest()
    }

    private func resumeReading() {
        guard readingPaused else { return }
        readingPaused = false
        updateInterest()
    }

    private func updateInterest() {
        var interest: IOEvents = []
        if !readingPaused || draining { interest.insert(.readable) }
        if writeInterest { interest.insert(.writable) }
        try? owner.loop.setInterest(fd: fd, interest)
    }

    // MARK: closing

    private func beginDrain() {
        guard !draining, !closed else { return }
        draining = true
        shutdown(fd, Int32(SHUT_WR))
        drainDeadline = monotonicNanos() + 2_000_000_000
        readingPaused = false
        updateInterest()
    }

    /// Graceful shutdown: idle connections close now, busy ones after their last response.
    func finishAndClose() {
        if inFlight == 0 && !parser.hasPartialRequest && outputOffset >= output.count {
            close()
        } else {
            closeAfterFlush = true
        }
    }

    func checkTimeouts(now: UInt64, requestTimeout: UInt64, idleTimeout: UInt64) {
        if closed { return }
        if draining {
            if now > drainDeadline { close() }
            return
        }
        if inFlight > 0 || outputOffset < output.count { return }  // we owe the client; not its fault
        if partialSince != 0 && now - partialSince > requestTimeout {
            owner.counters.timedOut += 1
            failConnection(status: 408, code: "REQUEST_TIMEOUT", message: "request not received in time")
        } else if !parser.hasPartialRequest && now - lastActivity > idleTimeout {
            close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        owner.loop.deregister(fd: fd)
        Glibc.close(fd)
        owner.remove(self)
    }
}
