// The client side of HTTP/1.1 framing: bytes in, complete responses out. Pure (no sockets), so it is
// tested byte by byte without a server.
//
// A response's body ends by one of three rules (RFC 9112 §6.3), decided from its head:
//   - none at all: 1xx, 204, 304, and any answer to HEAD;
//   - Transfer-Encoding whose last coding is chunked: chunks up to the zero-size one, then trailers;
//     any other Transfer-Encoding, or neither header: everything until the server closes (`finish()`);
//   - Content-Length: exactly that many bytes (differing repeated values are an error).
// Interim 1xx responses (100 Continue, 103 Early Hints) are skipped; 101 is refused, since this client
// never asks to switch protocols. Servers are allowed bare LF line ends and we accept them.
public struct HTTPClientResponse {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Whether the connection may carry another request after this response.
    public var keepAlive: Bool

    public init(status: Int, headers: HTTPHeaders, body: [UInt8], keepAlive: Bool) {
        self.status = status
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPResponseParseError: Error, Equatable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "malformed HTTP response: \(message)" }
}

public struct HTTPResponseParser {
    public struct Limits: Equatable {
        public var maxHeadBytes = 64 * 1024
        public var maxHeaderCount = 100
        public var maxBodyBytes = 8 * 1024 * 1024
        public init() {}
    }

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case failed(HTTPResponseParseError)
    }

    private struct Head {
        var status: Int
        var headers: HTTPHeaders
        var keepAlive: Bool
    }

    public let limits: Limits
    private var state = State.head
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var head: Head?
    private var body: [UInt8] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True once some bytes of a response that is not complete yet have arrived.
    public var hasPartialResponse: Bool {
        if case .head = state { return readIndex < buffer.count }
        if case .failed = state { return false }
        return true
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete response, or nil when more bytes are needed. `toHead`: the request was a HEAD,
    /// whose response has no body whatever its headers say.
    public mutating func nextResponse(toHead: Bool = false) throws -> HTTPClientResponse? {
        do {
            return try advance(toHead: toHead)
        } catch let error as HTTPResponseParseError {
            state = .failed(error)
            throw error
        }
    }

    /// The server closed the connection: a body delimited by the close is complete now; a response cut
    /// short is an error; nothing pending is nil.
    public mutating func finish() throws -> HTTPClientResponse? {
        switch state {
        case .untilClose:
            state = .head
            return takeResponse(keepAlive: false)
        case .head where readIndex >= buffer.count:
            return nil
        case .failed(let error):
            throw error
        default:
            state = .failed(HTTPResponseParseError("connection closed before the response was complete"))
            throw HTTPResponseParseError("connection closed before the response was complete")
        }
    }

    // MARK: - The state machine

    private mutating func advance(toHead: Bool) throws -> HTTPClientResponse? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .head:
                guard let parsed = try parseHead() else { return nil }
                if (100..<200).contains(parsed.status) {
                    if parsed.status == 101 { throw HTTPResponseParseError("101 Switching Protocols was not asked for") }
                    continue  // interim response: the real one follows
                }
                head = parsed
                body = []
                if toHead || parsed.status == 204 || parsed.status == 304 { return takeResponse(keepAlive: parsed.keepAlive) }
                state = try framing(parsed.headers)
                if case .untilClose = state { head?.keepAlive = false }
                if case .fixedBody(0) = state {
                    state = .head
                    return takeResponse(keepAlive: parsed.keepAlive)
                }
            case .fixedBody(let remaining):
                let take = min(remaining, buffer.count - readIndex)
                guard take > 0 else { return nil }
                body.append(contentsOf: buffer[readIndex..<(readIndex + take)])
                readIndex += take
                if take == remaining {
                    state = .head
                    return takeResponse(keepAlive: head!.keepAlive)
                }
                state = .fixedBody(remaining: remaining - take)
            case .untilClose:
                if readIndex < buffer.count {
                    guard body.count + buffer.count - readIndex <= limits.maxBodyBytes else { throw HTTPResponseParseError("body larger than \(limits.maxBodyBytes) bytes") }
                    body.append(contentsOf: buffer[readIndex...])
                    readIndex = buffer.count
                }
                return nil
            case .chunkSize:
                guard let line = try nextLine(maxLength: 1024) else { return nil }
                let size = try Self.chunkSize(line)
                guard body.count + size <= limits.maxBodyBytes else { throw HTTPResponseParseError("body larger than \(limits.maxBodyBytes) bytes") }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - readIndex)
                guard take > 0 else { return nil }
                body.append(contentsOf: buffer[readIndex..<(readIndex + take)])
                readIndex += take
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                guard let line = try nextLine(maxLength: 2) else { return nil }
                guard line.isEmpty else { throw HTTPResponseParseError("chunk data longer than its size") }
                state = .chunkSize
            case .trailers:
                // Trailer fields are read and dropped: nothing here needs them.
                guard let line = try nextLine(maxLength: limits.maxHeadBytes) else { return nil }
                if line.isEmpty {
                    state = .head
                    return takeResponse(keepAlive: head!.keepAlive)
                }
            }
        }
    }

    private mutating func takeResponse(keepAlive: Bool) -> HTTPClientResponse {
        let done = head!
        head = nil
        defer { body = [] }
        return HTTPClientResponse(status: done.status, headers: done.headers, body: body, keepAlive: keepAlive)
    }

    /// The state after a head: how its body is delimited.
    private func framing(_ headers: HTTPHeaders) throws -> State {
        let codings = headers.values(for: "Transfer-Encoding")
        if !codings.isEmpty {
            // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 rule 3).
            let last = codings.joined(separator: ",").split(separator: ",").last.map { $0.trimmingASCIISpaces().lowercased() }
            return last == "chunked" ? .chunkSize : .untilClose
        }
        let lengths = headers.values(for: "Content-Length")
        guard let first = lengths.first else { return .untilClose }
        guard let length = Self.contentLength(first), lengths.allSatisfy({ Self.contentLength($0) == length }) else {
            throw HTTPResponseParseError("invalid or differing Content-Length: \(lengths.joined(separator: ", "))")
        }
        guard length <= limits.maxBodyBytes else { throw HTTPResponseParseError("body larger than \(limits.maxBodyBytes) bytes") }
        return .fixedBody(remaining: length)
    }

    // MARK: - Lines

    /// The next line without its line end, or nil if it has not arrived; longer than `maxLength` throws.
    private mutating func nextLine(maxLength: Int) throws -> [UInt8]? {
        var i = readIndex
        while i < buffer.count {
            if buffer[i] == 0x0A {
                var end = i
                if end > readIndex && buffer[end - 1] == 0x0D { end -= 1 }
                guard end - readIndex <= maxLength else { throw HTTPResponseParseError("line longer than \(maxLength) bytes") }
                let line = Array(buffer[readIndex..<end])
                readIndex = i + 1
                return line
            }
            i += 1
        }
        guard buffer.count - readIndex <= maxLength + 1 else { throw HTTPResponseParseError("line longer than \(maxLength) bytes") }
        return nil
    }

    /// Status line and header fields, once the empty line that ends them has arrived.
    private mutating func parseHead() throws -> Head? {
        // Find the end of the head first, so a partial head is parsed once, not once per read.
        guard let end = headEnd() else {
            if buffer.count - readIndex > limits.maxHeadBytes { throw HTTPResponseParseError("head larger than \(limits.maxHeadBytes) bytes") }
            return nil
        }
        guard end - readIndex <= limits.maxHeadBytes else { throw HTTPResponseParseError("head larger than \(limits.maxHeadBytes) bytes") }
        guard let statusLine = try nextLine(maxLength: limits.maxHeadBytes) else { return nil }
        let (version, status) = try Self.statusLine(statusLine)
        var headers = HTTPHeaders()
        while let line = try nextLine(maxLength: limits.maxHeadBytes), !line.isEmpty {
            guard headers.count < limits.maxHeaderCount else { throw HTTPResponseParseError("more than \(limits.maxHeaderCount) header fields") }
            let field = try Self.field(line)
            headers.add(name: field.name, value: field.value)
        }
        let keepAlive: Bool
        if version.minor == 0 {
            keepAlive = headers.containsToken("keep-alive", in: "Connection")
        } else {
            keepAlive = !headers.containsToken("close", in: "Connection")
        }
        return Head(status: status, headers: headers, keepAlive: keepAlive)
    }

    /// Index just past the blank line ending the head, or nil.
    private func headEnd() -> Int? {
        var i = readIndex
        var lineStart = readIndex
        while i < buffer.count {
            if buffer[i] == 0x0A {
                let length = i - lineStart - (i > lineStart && buffer[i - 1] == 0x0D ? 1 : 0)
                if length == 0 && lineStart > readIndex { return i + 1 }
                lineStart = i + 1
            }
            i += 1
        }
        return nil
    }

    private static func statusLine(_ line: [UInt8]) throws -> (HTTPVersion, Int) {
        // "HTTP/1.1 200 OK" — the reason phrase may be empty or missing.
        guard line.count >= 12, line.starts(with: Array("HTTP/1.".utf8)), isDigit(line[7]), line[8] == 0x20,
              isDigit(line[9]), isDigit(line[10]), isDigit(line[11]), line.count == 12 || line[12] == 0x20 else {
            throw HTTPResponseParseError("bad status line: \(String(decoding: line.prefix(80), as: UTF8.self))")
        }
        let status = Int(line[9] - 0x30) * 100 + Int(line[10] - 0x30) * 10 + Int(line[11] - 0x30)
        guard status >= 100 else { throw HTTPResponseParseError("bad status code \(status)") }
        return (HTTPVersion(major: 1, minor: Int(line[7] - 0x30)), status)
    }

    private static func field(_ line: [UInt8]) throws -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: 0x3A), colon > 0, line[..<colon].allSatisfy(isTokenChar) else {
            throw HTTPResponseParseError("bad header field: \(String(decoding: line.prefix(80), as: UTF8.self))")
        }
        var start = colon + 1, end = line.count
        while start < end && (line[start] == 0x20 || line[start] == htab) { start += 1 }
        while end > start && (line[end - 1] == 0x20 || line[end - 1] == htab) { end -= 1 }
        return (String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[start..<end], as: UTF8.self))
    }

    private static func contentLength(_ text: String) -> Int? {
        let trimmed = text.trimmingASCIISpaces()
        guard !trimmed.isEmpty, trimmed.count <= 15, trimmed.utf8.allSatisfy(isDigit) else { return nil }
        return Int(trimmed)
    }

    /// `1a;name=value` → 26. Extensions are ignored; more than 15 hex digits is refused (overflow).
    private static func chunkSize(_ line: [UInt8]) throws -> Int {
        var size = 0, digits = 0
        for byte in line {
            guard let value = hexValue(byte) else {
                guard digits > 0, byte == 0x3B || byte == 0x20 || byte == htab else { throw HTTPResponseParseError("bad chunk size line") }
                break
            }
            digits += 1
            guard digits <= 15 else { throw HTTPResponseParseError("chunk size too large") }
            size = size * 16 + value
        }
        guard digits > 0 else { throw HTTPResponseParseError("bad chunk size line") }
        return size
    }

    /// Drops consumed bytes once they are the larger part of the buffer.
    private mutating func compact() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}

extension StringProtocol {
    func trimmingASCIISpaces() -> String {
        var scalars = Substring(self)[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
