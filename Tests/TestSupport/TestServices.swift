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
        let (status, output) = runShellCapturing(command)
        if status != 0 {
            XCTFail("\(variable) exited with \(status): \(output)", file: file, line: line)
        }
    }

    /// A key prefix unique to one test run, so suites never see each other's keys.
    public static func uniquePrefix(_ name: String) -> String {
        "t\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// Runs `/bin/sh -c command`, waits for it, and returns its exit status and output.
///
/// posix_spawn + waitpid rather than Foundation's Process: on Linux, Process learns that its child
/// ended through a socket the child inherits, so a command that leaves a daemon behind (`pg_ctl
/// restart`, a restarted redis-server) never "exits". Here the child gets /dev/null as stdin, a log
/// file as stdout/stderr and none of our other descriptors, and waitpid waits for the shell alone.
@discardableResult
public func runShellCapturing(_ command: String) -> (status: Int32, output: String) {
    let logPath = NSTemporaryDirectory() + "fg-shell-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
    defer { unlink(logPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    closeInheritedDescriptors(&actions)
    let arguments: [String] = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, environ)
    guard spawned == 0 else { return (-1, "posix_spawn failed with errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    // A shell killed by a signal counts as a failure too.
    return (status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
}

/// `runShellCapturing` for callers that only need the exit status.
@discardableResult
public func runShell(_ command: String) -> Int32 {
    runShellCapturing(command).status
}

/// glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np, but Swift's Glibc module does not export
/// it; look it up at run time and do without it on older systems.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
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
