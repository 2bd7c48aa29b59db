import Foundation
// The gateway's Redis: one pipelined `RedisConnection` per event loop. A handler always uses the
// connection of the loop it runs on, so commands never cross threads.
import Scripts

public final class RedisClient: @unchecked Sendable {
    public let endpoint: RedisEndpoint
    private var connections: [RedisConnection]

    /// Creates and starts one connection per loop of `group`; returns once all have been started.
    public init(group: EventLoopGroup, endpoint: RedisEndpoint, commandTimeoutMilliseconds: Int = 2_000) {
        self.endpoint = endpoint
        connections = group.loops.map {
            RedisConnection(loop: $0, endpoint: endpoint, commandTimeoutMilliseconds: commandTimeoutMilliseconds)
        }
        let started = DispatchGroup()
        for connection in connections {
            started.enter()
            connection.loop.execute {
                connection.start()
                started.leave()
            }
        }
        started.wait()
    }

    /// The connection owned by `loop`. Call on that loop's thread.
    public func on(_ loop: EventLoop) -> RedisConnection {
        connections[loop.index]
    }

    public func close() {
        for connection in connections {
            connection.loop.execute { connection.close() }
        }
    }
}
