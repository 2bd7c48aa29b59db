// The real services the suites run against, as scripts/test started them. A missing variable is a
// failure, not a skip: a suite that silently skips its Redis tests would pass without testing anything.
import Foundation
import Runtime
import XCTest
#if canImport(Glibc)
import Glibc
#endif

public enum TestServices {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The Redis under test (plain or cluster-enabled, per FLOODGATE_TEST_REDIS_MODE).
    public static func redis(file: StaticString = #filePath, line: UInt = #line) throws -> RedisEndpoint {
        guard let url = environment["FLOODGATE_TEST_REDIS_URL"], let endpoint = RedisEndpoint(url: url) else {
            XCTFail("FLOODGATE_TEST_REDIS_URL is not set: run the suite through scripts/test", file: file, line: line)
            throw XCTSkip("no test Redis")
        }
        return endpoint
    }

    /// "plain" or "cluster".
    public static var redisMode: String { environment["FLOODGATE_TEST_REDIS_MODE"] ?? "plain" }

    public static func postgresURL(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let url = environment["FLOODGATE_TEST_PG_URL"], !url.isEmpty else {
            XCTFail("FLOODGATE_TEST_PG_URL is not set: run the suite through scripts/test", file: file, line: line)
            throw XCTSkip("no test PostgreSQL")
        }
        return url
    }

    /// Runs the shell command named by `variable` (e.g. FLOODGATE_TEST_REDIS_RESTART_CMD); fails the test
    /// when it is not set or exits non-zero.
    public static func runCommand(from variable: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let command = environment[variable], !command.isEmpty else {
            XCTFail("\(variable) is not set: run the suite through scripts/test", file: file, line: line)
            throw XCTSkip("no \(variable)")
        }
        let status = runShell(command)
        if status != 0 {
            XCTFail("\(variable) exited with \(status)", file: file, line: line)
        }
    }

    /// A key prefix unique to one test run, so suites never see each other's keys.
    public static func uniquePrefix(_ name: String) -> String {
        "t\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// Runs `/bin/sh -c command` and returns its exit status. posix_spawn + waitpid rather than Foundation's
/// Process, whose wait never returns when the command leaves a daemon behind holding its pipes.
public func runShell(_ command: String) -> Int32 {
    var pid: pid_t = 0
    let args = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}

/// Waits on the calling (test) thread, polling `condition` until it holds or `seconds` pass.
public func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A counter safe to bump from several loops.
public final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    public init(_ value: T) { self.value = value }
    public func with<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    public var snapshot: T { with { $0 } }
}
