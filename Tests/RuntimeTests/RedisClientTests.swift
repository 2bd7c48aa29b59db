// The pipelined Redis client against a real redis-server (plain, and in a second pass cluster-enabled).
import Foundation
@testable import Runtime
import Scripts
import TestSupport
import XCTest

final class RedisClientTests: XCTestCase {
    var group: EventLoopGroup!
    var client: RedisClient!
    var endpoint: RedisEndpoint!

    override func setUpWithError() throws {
        endpoint = try TestServices.redis()
        group = try EventLoopGroup(threads: 2)
        client = RedisClient(group: group, endpoint: endpoint, commandTimeoutMilliseconds: 2_000)
        XCTAssertTrue(waitUntil(5) { self.allConnected() }, "loops did not connect to \(endpoint!)")
    }

    override func tearDown() {
        client?.close()
        group?.shutdown()
    }

    private func allConnected() -> Bool {
        let done = DispatchSemaphore(value: 0)
        let states = LockedBox([Bool]())
        group.gather({ loop in self.client.on(loop).isConnected }) { results in
            states.with { $0 = results }
            done.signal()
        }
        done.wait()
        return states.snapshot.allSatisfy { $0 }
    }

    func testTheServerIsInTheModeThisPassClaims() throws {
        let info = try RedisBlockingConnection(endpoint: endpoint).command(["INFO", "cluster"]).string ?? ""
        let clustered = info.contains("cluster_enabled:1")
        XCTAssertEqual(clustered, TestServices.redisMode == "cluster", "INFO cluster: \(info)")
    }

    func testTenThousandCommandsInFlightFromSeveralLoopsReturnToTheirCallersInOrder() throws {
        let perLoop = 5_000
        let outcomes = LockedBox([Int: [Int]]())
        let mismatches = LockedBox(0)
        let maxInFlight = LockedBox(0)
        for loop in group.loops {
            loop.execute {
                let connection = self.client.on(loop)
                for i in 0..<perLoop {
                    let payload = "loop\(loop.index)-\(i)"
                    connection.send(["ECHO", payload]) { result in
                        if (try? result.get())?.string != payload { mismatches.with { $0 += 1 } }
                        outcomes.with { $0[loop.index, default: []].append(i) }
                    }
                }
                maxInFlight.with { $0 = max($0, connection.inFlightCount) }
            }
        }
        XCTAssertTrue(waitUntil(20) { outcomes.snapshot.values.reduce(0) { $0 + $1.count } == perLoop * 2 })
        XCTAssertEqual(mismatches.snapshot, 0)
        for (_, order) in outcomes.snapshot { XCTAssertEqual(order, Array(0..<perLoop)) }
        // At least every ECHO of a loop was in flight at once (a connection may still carry its SCRIPT LOADs).
        XCTAssertGreaterThanOrEqual(maxInFlight.snapshot, perLoop, "all commands of a loop were in flight at once")
    }

    func testScriptsSurviveScriptFlushUnderLoad() throws {
        let script = LuaScript.named("rate_limit")
        let prefix = TestServices.uniquePrefix("flush")
        let failures = LockedBox([String]())
        let completed = LockedBox(0)
        let flusher = RedisBlockingConnection(endpoint: endpoint)
        let total = 4_000
        for loop in group.loops {
            loop.execute {
                let connection = self.client.on(loop)
                var sent = 0
                func sendBatch() {
                    for _ in 0..<100 where sent < total / 2 {
                        sent += 1
                        connection.run(script, keys: ["{\(prefix)}:\(loop.index)"], arguments: ["60", "1000000", "hit"]) { result in
                            switch result {
                            case .success(.array(let items)) where items.first == .integer(1): break
                            case .success(let other): failures.with { $0.append("\(other)") }
                            case .failure(let error): failures.with { $0.append("\(error)") }
                            }
                            completed.with { $0 += 1 }
                        }
                    }
                    if sent < total / 2 { loop.scheduleTimer(afterMilliseconds: 2) { sendBatch() } }
                }
                sendBatch()
            }
        }
        var flushes = 0
        while completed.snapshot < total && flushes < 200 {
            XCTAssertEqual(try flusher.command(["SCRIPT", "FLUSH"]), .status("OK"))
            flushes += 1
            usleep(2_000)
        }
        XCTAssertTrue(waitUntil(10) { completed.snapshot == total })
        XCTAssertEqual(failures.snapshot.count, 0, "a SCRIPT FLUSH must cost no request; first: \(failures.snapshot.prefix(3))")
        XCTAssertGreaterThan(flushes, 3)
        let counts = try (0..<2).map { try flusher.command(["GET", "{\(prefix)}:\($0)"]).int ?? 0 }
        XCTAssertEqual(counts.reduce(0, +), Int64(total), "every script ran exactly once")
    }

    func testACommandThatGetsNoAnswerTimesOutAndTheConnectionRecovers() throws {
        // A second client with a short timeout; CLIENT PAUSE makes Redis hold every reply for a while.
        let shortGroup = try EventLoopGroup(threads: 1)
        defer { shortGroup.shutdown() }
        let short = RedisClient(group: shortGroup, endpoint: endpoint, commandTimeoutMilliseconds: 300)
        defer { short.close() }
        let loop = shortGroup.loops[0]
        XCTAssertTrue(waitUntil(5) {
            let ok = LockedBox(false)
            let done = DispatchSemaphore(value: 0)
            loop.execute { ok.with { $0 = short.on(loop).isConnected }; done.signal() }
            done.wait()
            return ok.snapshot
        })
        let admin = RedisBlockingConnection(endpoint: endpoint)
        XCTAssertEqual(try admin.command(["CLIENT", "PAUSE", "1500", "ALL"]), .status("OK"))
        let first = LockedBox<Result<RedisValue, RedisError>?>(nil)
        let started = Date()
        loop.execute { short.on(loop).send(["PING"]) { result in first.with { $0 = result } } }
        XCTAssertTrue(waitUntil(3) { first.snapshot != nil })
        let elapsed = Date().timeIntervalSince(started)
        guard case .failure(let error)? = first.snapshot else { return XCTFail("expected a timeout, got \(String(describing: first.snapshot))") }
        XCTAssertEqual(error.kind, .timeout)
        XCTAssertLessThan(elapsed, 1.4, "timed out before the pause ended")
        // After the pause the same client answers again, by itself.
        let later = LockedBox<RedisValue?>(nil)
        XCTAssertTrue(waitUntil(10) {
            loop.execute { short.on(loop).send(["PING"]) { if case .success(let v) = $0 { later.with { $0 = v } } } }
            usleep(100_000)
            return later.snapshot == .status("PONG")
        })
    }

    func testRedisKilledAndRestartedUnderLoadFailsCleanlyThenRecovers() throws {
        let errors = LockedBox(0)
        let successesAfter = LockedBox(0)
        let restarted = LockedBox(false)
        let running = LockedBox(true)
        for loop in group.loops {
            loop.execute {
                let connection = self.client.on(loop)
                loop.scheduleRepeating(everyMilliseconds: 5) {
                    guard running.snapshot else { return false }
                    for _ in 0..<20 {
                        connection.send(["PING"]) { result in
                            switch result {
                            case .success(.status("PONG")): if restarted.snapshot { successesAfter.with { $0 += 1 } }
                            case .success: errors.with { $0 += 1 }
                            case .failure(let error):
                                XCTAssertTrue(error.kind == .unavailable || error.kind == .timeout)
                                errors.with { $0 += 1 }
                            }
                        }
                    }
                    return true
                }
            }
        }
        usleep(200_000)
        try TestServices.runCommand(from: "FLOODGATE_TEST_REDIS_RESTART_CMD")
        restarted.with { $0 = true }
        XCTAssertTrue(waitUntil(15) { successesAfter.snapshot > 1_000 }, "no recovery after restart")
        running.with { $0 = false }
        XCTAssertGreaterThan(errors.snapshot, 0, "requests while Redis was down must fail, not hang")
        XCTAssertTrue(allConnected())
    }

    func testAScriptTouchingTwoHashSlotsFailsOnTheClusteredRedis() throws {
        let connection = RedisBlockingConnection(endpoint: endpoint)
        let reply = try connection.command(["EVAL", "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}",
                                            "2", "{a}:x", "{b}:y"])
        if TestServices.redisMode == "cluster" {
            guard case .error(let message) = reply else { return XCTFail("cross-slot script ran: \(reply)") }
            XCTAssertTrue(message.contains("CROSSSLOT") || message.contains("slot"), message)
        } else {
            XCTAssertEqual(reply, .array([.null, .null]))
        }
    }

    func testBlockingClientPipelinesAndReconnectsLazily() throws {
        let connection = RedisBlockingConnection(endpoint: endpoint)
        let key = "{\(TestServices.uniquePrefix("blk"))}:n"
        let replies = try connection.pipeline([["SET", key, "1"], ["INCRBY", key, "41"], ["GET", key], ["DEL", key]])
        XCTAssertEqual(replies, [.status("OK"), .integer(42), .bulk(Array("42".utf8)), .integer(1)])
        let kill = try connection.command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"])
        XCTAssertNotNil(kill.int)
        XCTAssertThrowsError(try connection.command(["PING"]))
        XCTAssertEqual(try connection.command(["PING"]), .status("PONG"))
    }
}

final class EmbeddedScriptTests: XCTestCase {
    /// EVALSHA only avoids shipping the script text when our digest is Redis's digest of the same bytes.
    func testEveryEmbeddedScriptLoadsUnderItsOwnDigest() throws {
        let connection = RedisBlockingConnection(endpoint: try TestServices.redis())
        XCTAssertFalse(LuaScript.embedded.isEmpty)
        for (name, script) in LuaScript.embedded {
            XCTAssertEqual(try connection.command(["SCRIPT", "LOAD", script.source]).string, script.sha1, name)
            XCTAssertTrue(script.source.hasPrefix("-- \(name).lua"), "\(name).lua starts with its header comment")
        }
    }

    func testEmbeddedTextIsTheFileInLua() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("lua").path).filter { $0.hasSuffix(".lua") }
        XCTAssertEqual(Set(files.map { String($0.dropLast(4)) }), Set(LuaScript.embedded.keys))
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent("lua").appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(LuaScript.embedded[String(file.dropLast(4))]?.source, text, file)
        }
    }
}

final class ScriptLoadingTests: XCTestCase {
    func testEveryScriptIsLoadedWhenAConnectionOpens() throws {
        let endpoint = try TestServices.redis()
        let admin = RedisBlockingConnection(endpoint: endpoint)
        XCTAssertEqual(try admin.command(["SCRIPT", "FLUSH"]), .status("OK"))
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let client = RedisClient(group: group, endpoint: endpoint)
        defer { client.close() }
        let digests = LuaScript.embedded.values.map(\.sha1)
        XCTAssertTrue(waitUntil(5) {
            (try? admin.command(["SCRIPT", "EXISTS"] + digests)) == .array(digests.map { _ in .integer(1) })
        }, "SCRIPT EXISTS after connect")
    }
}
