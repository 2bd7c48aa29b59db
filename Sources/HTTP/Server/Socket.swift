// Socket set-up for listeners and accepted connections, every call through `systemCall`.
import CSystem
import Runtime
#if canImport(Glibc)
import Glibc
#endif

enum Socket {
    /// A non-blocking IPv4 listener with SO_REUSEPORT, so every loop can own one on the same port and
    /// the kernel spreads new connections over them.
    static func listen(host: String, port: Int, backlog: Int32 = 4096) throws -> Int32 {
        let fd = try systemCallNonBlocking("socket") {
            socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            var one: Int32 = 1
            try systemCallNonBlocking("setsockopt(SO_REUSEADDR)") {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            try systemCallNonBlocking("setsockopt(SO_REUSEPORT)") {
                setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            var address = try ipv4Address(host: host, port: port)
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    try systemCallNonBlocking("bind(\(host):\(port))") {
                        bind(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            try systemCallNonBlocking("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    static func ipv4Address(host: String, port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let name = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else {
            throw SystemError(call: "inet_pton(\(host))", errno: EINVAL)
        }
        return address
    }

    /// The port a listener actually bound (for port 0 in tests).
    static func boundPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts one connection, non-blocking, close-on-exec, with Nagle off (answers are single writes).
    static func accept(_ listener: Int32) throws -> Int32? {
        switch try systemCall("accept4", {
            floodgate_accept_nonblocking(listener)
        }) {
        case .wouldBlock:
            return nil
        case .done(let fd):
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
    }

    /// Connects a non-blocking client socket (storm, the HTTP client, tests); completion is signalled by
    /// writability.
    static func connect(host: String, port: Int) throws -> Int32 {
        let fd = try systemCallNonBlocking("socket") {
            socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var address = try ipv4Address(host: host, port: port)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result < 0 && errno != EINPROGRESS {
            let err = errno
            close(fd)
            throw SystemError(call: "connect(\(host):\(port))", errno: err)
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
}
