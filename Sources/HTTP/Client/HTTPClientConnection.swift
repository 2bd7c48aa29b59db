// One client connection on its loop: connecting → (sending → awaiting the response) → idle → … → closed.
// Level-triggered like the server side: interest in writable only while output is left or the connect
// is in progress; a hang-up is handled as a read, which then sees the EOF or the error.
import Runtime
#if canImport(Glibc)
import Glibc
#endif

final class HTTPClientConnection: IOHandler {
    private enum State {
        case connecting
        case busy
        case idle
        case closed
    }

    private let pool: HTTPClient.Pool
    private var loop: EventLoop { pool.client.loop }
    private var fd: Int32 = -1
    private var state = State.connecting
    private var exchange: HTTPClient.Exchange?
    private var parser: HTTPResponseParser
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// Whether this connection already carried a response (a stale keep-alive one may be closed by now).
    private var reused = false
    private var receivedBytes = false
    private var timer: TimerID?

    /// Opens a connection for `first`. A failure to even start connecting is reported from the loop's
    /// next turn, after the pool has listed this connection.
    init(pool: HTTPClient.Pool, first: HTTPClient.Exchange) {
        self.pool = pool
        parser = HTTPResponseParser(limits: pool.client.configuration.limits)
        exchange = first
        do {
            fd = try Socket.connect(host: pool.endpoint.address, port: pool.endpoint.port)
            try loop.register(fd: fd, interest: [.readable, .writable], handler: self)
            startTimer(pool.client.configuration.connectTimeoutMilliseconds,
                       HTTPClientError(.connectTimeout, "no connection to \(pool.endpoint) within \(pool.client.configuration.connectTimeoutMilliseconds) ms"))
        } catch {
            let failure = HTTPClientError(.connect, "\(pool.endpoint): \(error)")
            loop.execute { [self] in fail(failure) }
        }
    }

    // MARK: - Requests

    /// Writes `exchange`'s request on this (connected, idle) connection.
    func send(_ next: HTTPClient.Exchange) {
        exchange = next
        state = .busy
        startRequest()
    }

    private func startRequest() {
        guard let exchange else { return }
        receivedBytes = false
        output = exchange.bytes
        outputOffset = 0
        startTimer(pool.client.configuration.requestTimeoutMilliseconds,
                   HTTPClientError(.timeout, "no complete response from \(pool.endpoint) within \(pool.client.configuration.requestTimeoutMilliseconds) ms"))
        flush()
    }

    func becomeIdle() {
        state = .idle
        reused = true
        startTimer(pool.client.configuration.idleTimeoutMilliseconds, nil)
    }

    // MARK: - I/O

    func handleIO(_ events: IOEvents) {
        if state == .closed { return }
        if state == .connecting {
            guard events.contains(.writable) || events.contains(.hangup) else { return }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                fail(HTTPClientError(.connect, "\(pool.endpoint): \(String(cString: strerror(error)))"))
                return
            }
            state = .busy
            startRequest()
            return
        }
        if events.contains(.writable) { flush() }
        if state == .closed { return }
        if events.contains(.readable) || events.contains(.hangup) { readAvailable() }
    }

    private func flush() {
        while outputOffset < output.count {
            let n = output.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress! + outputOffset, bytes.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { outputOffset += n; continue }
            let err = errno
            if n < 0 && err == EINTR { continue }
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) {
                try? loop.setInterest(fd: fd, [.readable, .writable])
                return
            }
            closedByPeer(HTTPClientError(.closed, "\(pool.endpoint): send failed: \(String(cString: strerror(err)))"))
            return
        }
        output = []
        outputOffset = 0
        try? loop.setInterest(fd: fd, .readable)
    }

    private func readAvailable() {
        let buffer = pool.client.readBuffer
        while state != .closed {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                guard state == .busy else {
                    // Bytes nobody asked for: the connection's framing can no longer be trusted.
                    close(wasBusy: false)
                    return
                }
                receivedBytes = true
                parser.append(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n))
                do {
                    if let response = try parser.nextResponse(toHead: exchange?.head ?? false) {
                        complete(response)
                        return
                    }
                } catch {
                    fail(HTTPClientError(.malformedResponse, "\(pool.endpoint): \(error)"))
                    return
                }
                if n < buffer.count { return }
                continue
            }
            if n == 0 {
                if state == .busy, let response = try? parser.finish() {
                    complete(response)  // a body delimited by the close
                } else {
                    closedByPeer(HTTPClientError(.closed, "\(pool.endpoint) closed the connection before a complete response"))
                }
                return
            }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK { return }
            closedByPeer(HTTPClientError(.closed, "\(pool.endpoint): \(String(cString: strerror(err)))"))
            return
        }
    }

    // MARK: - Endings

    private func complete(_ response: HTTPClientResponse) {
        cancelTimer()
        let done = exchange
        exchange = nil
        if response.keepAlive && !parser.hasPartialResponse {
            state = .idle
            pool.release(self)
        } else {
            close(wasBusy: true)
        }
        done?.finish(.success(response))
    }

    /// The server went away. A request on a reused connection that got nothing back is sent once more
    /// on a fresh connection (the server closed the idle connection as we wrote; see HTTPClient.swift).
    private func closedByPeer(_ error: HTTPClientError) {
        if state == .idle {
            close(wasBusy: false)
            return
        }
        if let exchange, reused, !receivedBytes, !exchange.resent {
            exchange.resent = true
            self.exchange = nil
            close(wasBusy: true)
            pool.submit(exchange)
            return
        }
        fail(error)
    }

    /// Fails the request in flight (if any) and closes.
    func fail(_ error: HTTPClientError) {
        guard state != .closed else { return }
        let done = exchange
        exchange = nil
        close(wasBusy: state != .idle)
        done?.finish(.failure(error))
    }

    private func close(wasBusy: Bool) {
        guard state != .closed else { return }
        state = .closed
        cancelTimer()
        if fd >= 0 {
            loop.deregister(fd: fd)
            Glibc.close(fd)
            fd = -1
        }
        pool.closed(self, wasBusy: wasBusy)
    }

    // MARK: - Timers

    /// One timer at a time: connect, request or idle. `error` nil: the idle timer, which just closes.
    private func startTimer(_ milliseconds: Int, _ error: HTTPClientError?) {
        cancelTimer()
        timer = loop.scheduleTimer(afterMilliseconds: milliseconds) { [weak self] in
            guard let self else { return }
            self.timer = nil
            if let error { self.fail(error) } else if self.state == .idle { self.close(wasBusy: false) }
        }
    }

    private func cancelTimer() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
    }
}
