// A plain blocking Redis connection (hiredis's synchronous API) for the worker, CLI commands and tests,
// where a thread of its own is simpler than a loop. Never use it on an event-loop thread.
// It reconnects lazily: after a failure the next command opens a new connection.
import CHiredis
import Scripts
#if canImport(Glibc)
import Glibc
#endif

public final class RedisBlockingConnection {
    public let endpoint: RedisEndpoint
    public let timeoutMilliseconds: Int
    private var context: UnsafeMutablePointer<redisContext>?

    public init(endpoint: RedisEndpoint, timeoutMilliseconds: Int = 5_000) {
        self.endpoint = endpoint
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    deinit {
        if let context { redisFree(context) }
    }

    private func connected() throws -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        guard let c = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeout) else {
            throw RedisError(.unavailable, "cannot allocate a Redis context")
        }
        if c.pointee.err != 0 {
            let message = withUnsafePointer(to: &c.pointee.errstr) {
                $0.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
            }
            redisFree(c)
            throw RedisError(.unavailable, "cannot connect to \(endpoint): \(message)")
        }
        redisSetTimeout(c, timeout)
        context = c
        return c
    }

    /// Sends one command and waits for its reply. An error reply is returned as `.error`, not thrown;
    /// only an unreachable or broken connection throws.
    @discardableResult
    public func command(_ arguments: [String]) throws -> RedisValue {
        try pipeline([arguments])[0]
    }

    /// Sends several commands in one write and reads their replies in order.
    public func pipeline(_ commands: [[String]]) throws -> [RedisValue] {
        let c = try connected()
        for arguments in commands {
            let bytes = RESP.format(arguments)
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    redisAppendFormattedCommand(c, $0, buffer.count)
                }
            }
            if status != REDIS_OK { throw fail(c) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(c, &raw) != REDIS_OK || raw == nil { throw fail(c) }
            replies.append(RedisValue(reply: raw!.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// EVALSHA, falling back to EVAL on NOSCRIPT.
    public func run(_ script: LuaScript, keys: [String], arguments: [String]) throws -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        let reply = try command(["EVALSHA", script.sha1] + tail)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try command(["EVAL", script.source] + tail)
        }
        return reply
    }

    private func fail(_ c: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = withUnsafePointer(to: &c.pointee.errstr) {
            $0.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
        }
        redisFree(c)
        context = nil
        return RedisError(.unavailable, "Redis \(endpoint): \(message.isEmpty ? "connection lost" : message)")
    }
}
