// An incremental HTTP/1.1 request parser (RFC 9112), socket-free: the connection appends whatever
// recv() returned and drains complete requests; pipelined requests come out one per call.
//
// Design:
// - One growable byte buffer plus a read index. Consumed bytes are dropped on the next append (a
//   memmove of the unparsed tail only) and a fully consumed buffer is reset in place, so a long
//   keep-alive connection holds at most one unfinished request, never its history.
// - The head is scanned once, byte by byte, with the progress (`scanned`, `lineStart`, `lineCount`)
//   kept across calls: a client trickling one byte per packet costs O(n), not O(n²).
// - Every decision is a function of the byte positions seen so far, never of how the bytes were split
//   into appends: an error is raised at the first byte that proves it, and a limit only once the
//   buffered bytes exceed it. Fed whole, split anywhere, or byte by byte, the same input yields the
//   same requests and the same error (the unit tests and the fuzz target check this).
// - Strict where leniency enables request smuggling or cache poisoning: CRLF only, no obs-fold,
//   no space before ':', no CTLs in values, Content-Length and Transfer-Encoding never together,
//   chunked must be the final coding, differing Content-Lengths rejected. After an error the parser
//   stays failed: the connection answers it and closes.
// - Bodies: Content-Length bodies are copied once when complete (memory grows only with bytes really
//   received, never with a claimed length); chunked bodies are de-chunked as they arrive; GET/HEAD
//   bodies are skipped per framing and dropped.
//
// Plain Swift stdlib: no Foundation, no Runtime (the fuzz target compiles this file standalone).

public struct HTTPLimits: Equatable {
    /// Request line plus header section, including the CRLFs and the final empty line.
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// After transfer decoding.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A request the connection must refuse with `status`, then close.
public struct HTTPParseError: Error, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }

    static func malformed(_ message: String) -> HTTPParseError {
        HTTPParseError(status: 400, code: "MALFORMED_REQUEST", message: message)
    }
    static func bodyTooLarge(_ limit: Int) -> HTTPParseError {
        HTTPParseError(status: 413, code: "PAYLOAD_TOO_LARGE", message: "request body exceeds \(limit) bytes")
    }
    static func headersTooLarge(_ message: String) -> HTTPParseError {
        HTTPParseError(status: 431, code: "HEADERS_TOO_LARGE", message: message)
    }
    static func notImplemented(_ message: String) -> HTTPParseError {
        HTTPParseError(status: 501, code: "NOT_IMPLEMENTED", message: message)
    }
    static let versionNotSupported = HTTPParseError(
        status: 505, code: "HTTP_VERSION_NOT_SUPPORTED", message: "only HTTP/1.0 and HTTP/1.1 are supported")
}

public struct HTTPParser {
    private enum State {
        /// Waiting for a complete request line and header section.
        case head
        /// Content-Length body: waits until all of it is buffered, then copies it once.
        case fixedBody(remaining: Int)
        /// A body nobody reads (GET/HEAD): skipped as it arrives, never buffered whole.
        case discardBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF that closes a chunk's data; `seenCR` once its first byte was checked.
        case chunkDataEnd(seenCR: Bool)
        case trailers
        case failed(HTTPParseError)
    }

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    /// A parsed head whose body is still being read.
    private struct Pending {
        var method: HTTPMethod
        var target: String
        var path: String
        var query: Substring
        var version: HTTPVersion
        var headers: HTTPHeaders
        var keepAlive: Bool
        var framing: Framing
        var discardBody: Bool
    }

    /// RFC 9112 §2.2 lets a server skip empty lines before a request line; a few, not forever.
    static let maxLeadingEmptyLines = 8
    /// A chunk-size line with its extensions; far beyond anything a real client sends.
    static let maxChunkLineBytes = 4096

    public let limits: HTTPLimits

    private var buffer: [UInt8] = []
    /// Bytes before it are consumed.
    private var readIndex = 0
    private var state = State.head
    // Line-scanning progress, relative to readIndex, kept across calls.
    private var scanned = 0
    private var lineStart = 0
    private var lineCount = 0
    private var methodEnded = false
    private var emptyLinesSkipped = 0
    private var pending: Pending?
    private var body: [UInt8] = []
    private var decodedBodyBytes = 0
    private var trailerBytes = 0
    private var trailerCount = 0

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// Unconsumed bytes held by the parser.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Some bytes of an unfinished request have arrived (a slow client, not an idle connection).
    public var hasPartialRequest: Bool {
        switch state {
        case .head: return buffer.count > readIndex
        case .failed: return false
        default: return true
        }
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if readIndex > 0 {
            if readIndex == buffer.count {
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.removeSubrange(0 ..< readIndex)
            }
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete request, or nil until more bytes arrive. Throws once the input cannot be a
    /// valid request; every later call throws the same error.
    public mutating func nextRequest() throws -> HTTPRequest? {
        if case .failed(let error) = state { throw error }
        do {
            let request = try advance()
            if readIndex == buffer.count && readIndex > 0 {
                // Nothing left: reset in place, but give back a buffer a big body made large.
                if buffer.capacity > 64 * 1024 { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
                readIndex = 0
            }
            return request
        } catch let error as HTTPParseError {
            state = .failed(error)
            pending = nil
            body = []
            throw error
        }
    }

    // MARK: the state machine

    private mutating func advance() throws -> HTTPRequest? {
        while true {
            let available = buffer.count - readIndex
            switch state {
            case .failed(let error):
                throw error

            case .head:
                guard try skipLeadingEmptyLines(), let headLength = try scanHead() else { return nil }
                let start = readIndex
                let limits = self.limits
                let fieldCount = lineCount - 1
                let parsed = try buffer.withUnsafeBufferPointer {
                    try HTTPParser.parseHead(UnsafeBufferPointer(rebasing: $0[start ..< start + headLength]), limits,
                                             fieldCount: fieldCount)
                }
                readIndex += headLength
                resetLineScan()
                switch parsed.framing {
                case .none, .length(0):
                    pending = parsed
                    return finishRequest()
                case .length(let length):
                    state = parsed.discardBody ? .discardBody(remaining: length) : .fixedBody(remaining: length)
                case .chunked:
                    state = .chunkSize
                }
                pending = parsed

            case .fixedBody(let remaining):
                guard available >= remaining else { return nil }
                body = Array(buffer[readIndex ..< readIndex + remaining])
                readIndex += remaining
                return finishRequest()

            case .discardBody(let remaining):
                let n = min(available, remaining)
                readIndex += n
                if n < remaining {
                    state = .discardBody(remaining: remaining - n)
                    return nil
                }
                return finishRequest()

            case .chunkSize:
                guard let lineLength = try findLine(
                    maxLength: HTTPParser.maxChunkLineBytes,
                    tooLong: .malformed("chunk size line longer than \(HTTPParser.maxChunkLineBytes) bytes"))
                else { return nil }
                let start = readIndex
                let size = try buffer.withUnsafeBufferPointer {
                    try HTTPParser.parseChunkSizeLine(UnsafeBufferPointer(rebasing: $0[start ..< start + lineLength]))
                }
                readIndex += lineLength + 2
                if size == 0 {
                    state = .trailers
                } else {
                    // Decoded size is what the handler would hold; subtraction cannot overflow.
                    guard size <= limits.maxBodyBytes - decodedBodyBytes else {
                        throw HTTPParseError.bodyTooLarge(limits.maxBodyBytes)
                    }
                    decodedBodyBytes += size
                    state = .chunkData(remaining: size)
                }

            case .chunkData(let remaining):
                let n = min(available, remaining)
                if n == 0 { return nil }
                if pending?.discardBody == false {
                    body.append(contentsOf: buffer[readIndex ..< readIndex + n])
                }
                readIndex += n
                if n < remaining {
                    state = .chunkData(remaining: remaining - n)
                    return nil
                }
                state = .chunkDataEnd(seenCR: false)

            case .chunkDataEnd(let seenCR):
                if available == 0 { return nil }
                if !seenCR {
                    guard buffer[readIndex] == cr else { throw HTTPParseError.malformed("chunk data not followed by CRLF") }
                    readIndex += 1
                    state = .chunkDataEnd(seenCR: true)
                } else {
                    guard buffer[readIndex] == lf else { throw HTTPParseError.malformed("chunk data not followed by CRLF") }
                    readIndex += 1
                    state = .chunkSize
                }

            case .trailers:
                guard let lineLength = try findLine(
                    maxLength: limits.maxHeaderBytes - trailerBytes,
                    tooLong: .headersTooLarge("trailer section exceeds \(limits.maxHeaderBytes) bytes"))
                else { return nil }
                if lineLength == 0 {
                    readIndex += 2
                    return finishRequest()
                }
                trailerCount += 1
                guard trailerCount <= limits.maxHeaderCount else {
                    throw HTTPParseError.headersTooLarge("more than \(limits.maxHeaderCount) trailer fields")
                }
                let start = readIndex
                // Trailers are validated like headers, then dropped: nothing here may change framing
                // or routing after the fact (RFC 9110 §6.5.1).
                _ = try buffer.withUnsafeBufferPointer {
                    try HTTPParser.parseField(UnsafeBufferPointer(rebasing: $0[start ..< start + lineLength]))
                }
                trailerBytes += lineLength + 2
                readIndex += lineLength + 2
            }
        }
    }

    private mutating func finishRequest() -> HTTPRequest {
        let head = pending!
        let request = HTTPRequest(method: head.method, target: head.target, path: head.path, query: head.query,
                                  version: head.version, headers: head.headers, body: body, keepAlive: head.keepAlive)
        pending = nil
        body = []
        decodedBodyBytes = 0
        trailerBytes = 0
        trailerCount = 0
        emptyLinesSkipped = 0
        state = .head
        return request
    }

    private mutating func resetLineScan() {
        scanned = 0
        lineStart = 0
        lineCount = 0
        methodEnded = false
    }

    /// Consumes CRLFs in front of a request line. False: wait for more bytes.
    private mutating func skipLeadingEmptyLines() throws -> Bool {
        guard scanned == 0 else { return true }  // already inside a request line
        while true {
            let available = buffer.count - readIndex
            if available == 0 { return false }
            if buffer[readIndex] != cr { return true }
            if available < 2 { return false }
            if buffer[readIndex + 1] != lf { return true }  // the head scan reports the stray CR
            readIndex += 2
            emptyLinesSkipped += 1
            guard emptyLinesSkipped <= HTTPParser.maxLeadingEmptyLines else {
                throw HTTPParseError.malformed("too many empty lines before the request line")
            }
        }
    }

    /// Scans for the empty line that ends the head. Returns the head's length (final CRLF included),
    /// or nil to wait. Checks, in byte order: CRLF line endings, the method's characters (so a TLS
    /// handshake or other garbage fails at its first byte), the header count, the head size.
    private mutating func scanHead() throws -> Int? {
        let available = buffer.count - readIndex
        let window = min(available, limits.maxHeaderBytes)
        let maxLines = limits.maxHeaderCount + 1
        var i = scanned
        var lineStart = self.lineStart
        var lineCount = self.lineCount
        var methodEnded = self.methodEnded
        var headLength: Int?
        var failure: HTTPParseError?
        let start = readIndex
        buffer.withUnsafeBufferPointer { whole in
            guard i < window, let base = whole.baseAddress.map({ $0 + start }) else { return }
            while i < window {
                if !methodEnded && lineCount == 0 {
                    // Still in the method: every byte must be a tchar up to the first SP.
                    let byte = base[i]
                    if byte == sp && i > 0 {
                        methodEnded = true
                    } else if !isTokenChar(byte) {
                        failure = .malformed("invalid request method")
                        return
                    }
                    i += 1
                    continue
                }
                guard let lfIndex = firstLineFeed(base, from: i, to: window) else {
                    i = window
                    return
                }
                if lfIndex == lineStart || base[lfIndex - 1] != cr {
                    failure = .malformed("line ending is not CRLF")
                    return
                }
                if lfIndex - 1 == lineStart {
                    headLength = lfIndex + 1
                    return
                }
                lineCount += 1
                if lineCount > maxLines {
                    failure = .headersTooLarge("more than \(maxLines - 1) header fields")
                    return
                }
                lineStart = lfIndex + 1
                i = lfIndex + 1
            }
        }
        if let failure { throw failure }
        self.lineCount = lineCount
        if headLength != nil { return headLength }
        if available > limits.maxHeaderBytes {
            throw HTTPParseError.headersTooLarge("request line and headers exceed \(limits.maxHeaderBytes) bytes")
        }
        scanned = i
        self.lineStart = lineStart
        self.methodEnded = methodEnded
        return nil
    }

    /// Finds the CRLF ending the line at readIndex. Returns the line's length without CRLF, or nil to
    /// wait; throws `tooLong` once more than `maxLength` bytes (CRLF included) are buffered without one.
    private mutating func findLine(maxLength: Int, tooLong: HTTPParseError) throws -> Int? {
        let available = buffer.count - readIndex
        let window = min(available, max(maxLength, 0))
        let start = readIndex
        var i = scanned
        let found: Int? = buffer.withUnsafeBufferPointer { whole in
            guard i < window, let base = whole.baseAddress.map({ $0 + start }) else { return nil }
            if let lfIndex = firstLineFeed(base, from: i, to: window) { return lfIndex }
            i = window
            return nil
        }
        if let lfIndex = found {
            guard lfIndex > 0, buffer[start + lfIndex - 1] == cr else {
                throw HTTPParseError.malformed("line ending is not CRLF")
            }
            scanned = 0
            return lfIndex - 1
        }
        if available > maxLength { throw tooLong }
        scanned = i
        return nil
    }

    // MARK: pure parsing of complete pieces

    /// Parses a complete head (request line, fields, final empty line) and decides the framing.
    private static func parseHead(_ head: UnsafeBufferPointer<UInt8>, _ limits: HTTPLimits,
                                  fieldCount: Int) throws -> Pending {
        // Request line: method SP request-target SP HTTP-version, one SP each (RFC 9112 §3).
        let base = head.baseAddress!
        // The scan guaranteed CRLF endings; lineEnd is at the CR. A stray CR before it is refused
        // below as a target or version byte.
        let lineEnd = firstLineFeed(base, from: 0, to: head.count)! - 1
        guard let sp1 = firstIndex(of: sp, in: head, from: 0, to: lineEnd), sp1 > 0 else {
            throw HTTPParseError.malformed("malformed request line")
        }
        guard let sp2 = firstIndex(of: sp, in: head, from: sp1 + 1, to: lineEnd), sp2 > sp1 + 1 else {
            throw HTTPParseError.malformed("malformed request line")
        }
        for k in 0 ..< sp1 where !isTokenChar(head[k]) { throw HTTPParseError.malformed("invalid request method") }
        let version = try parseVersion(UnsafeBufferPointer(rebasing: head[sp2 + 1 ..< lineEnd]))
        let method = parseMethod(UnsafeBufferPointer(rebasing: head[0 ..< sp1]))
        let targetBytes = UnsafeBufferPointer(rebasing: head[sp1 + 1 ..< sp2])
        let queryMark = try validateTarget(targetBytes, method: method)
        let target = String(decoding: targetBytes, as: UTF8.self)
        let path: String
        let query: Substring
        if let queryMark {
            path = String(decoding: UnsafeBufferPointer(rebasing: targetBytes[..<queryMark]), as: UTF8.self)
            query = target[target.utf8.index(target.startIndex, offsetBy: queryMark + 1)...]
        } else {
            path = target
            query = target[target.endIndex...]
        }

        var fields: [HTTPHeaders.Field] = []
        fields.reserveCapacity(fieldCount)
        var hostCount = 0
        var contentLength: Int?
        var transferEncoding = false
        var chunkedCount = 0
        var lastIsChunked = false
        var otherCodings = false
        var connectionClose = false
        var connectionKeepAlive = false

        var lineStartIndex = lineEnd + 2
        let end = head.count - 2  // the final empty line
        while lineStartIndex < end {
            let e = firstLineFeed(base, from: lineStartIndex, to: head.count)! - 1  // at CR
            let field = try parseField(UnsafeBufferPointer(rebasing: head[lineStartIndex ..< e]))
            let name = UnsafeBufferPointer(rebasing: head[lineStartIndex ..< lineStartIndex + field.nameLength])
            let value = UnsafeBufferPointer(rebasing: head[lineStartIndex + field.valueStart ..< lineStartIndex + field.valueEnd])
            switch field.nameLength {
            case 4 where asciiCaseInsensitiveEquals(name, lowercase: "host"):
                hostCount += 1
            case 10 where asciiCaseInsensitiveEquals(name, lowercase: "connection"):
                forEachListElement(value) { element in
                    if asciiCaseInsensitiveEquals(element, lowercase: "close") { connectionClose = true }
                    if asciiCaseInsensitiveEquals(element, lowercase: "keep-alive") { connectionKeepAlive = true }
                }
            case 14 where asciiCaseInsensitiveEquals(name, lowercase: "content-length"):
                let length = try parseContentLength(value)
                if let previous = contentLength, previous != length {
                    throw HTTPParseError.malformed("conflicting Content-Length values")
                }
                contentLength = length
            case 17 where asciiCaseInsensitiveEquals(name, lowercase: "transfer-encoding"):
                transferEncoding = true
                var elements = 0
                try forEachListElement(value) { element in
                    elements += 1
                    let coding = try parseTransferCoding(element)
                    if coding {
                        chunkedCount += 1
                        lastIsChunked = true
                    } else {
                        otherCodings = true
                        lastIsChunked = false
                    }
                }
                if elements == 0 { throw HTTPParseError.malformed("empty Transfer-Encoding") }
            default:
                break
            }
            fields.append((name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
            lineStartIndex = e + 2
        }

        // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
        if version == .http11 && hostCount == 0 { throw HTTPParseError.malformed("missing Host header") }
        if hostCount > 1 { throw HTTPParseError.malformed("more than one Host header") }

        var framing = Framing.none
        if transferEncoding {
            // RFC 9112 §6.1-6.3: each of these would let a front proxy and us disagree on where the
            // body ends (request smuggling), so refuse rather than pick one.
            if contentLength != nil { throw HTTPParseError.malformed("both Content-Length and Transfer-Encoding") }
            if version == .http10 { throw HTTPParseError.malformed("Transfer-Encoding in an HTTP/1.0 request") }
            if chunkedCount > 1 || (chunkedCount == 1 && !lastIsChunked) {
                throw HTTPParseError.malformed("chunked must be the final transfer coding, once")
            }
            if otherCodings { throw HTTPParseError.notImplemented("only the chunked transfer coding is supported") }
            framing = .chunked
        } else if let contentLength {
            // Refused on the declared length, before reading a byte of the body.
            if contentLength > limits.maxBodyBytes { throw HTTPParseError.bodyTooLarge(limits.maxBodyBytes) }
            framing = .length(contentLength)
        }

        let keepAlive: Bool
        if connectionClose {
            keepAlive = false
        } else {
            keepAlive = version == .http11 || connectionKeepAlive
        }
        return Pending(method: method, target: target, path: path, query: query, version: version, headers: HTTPHeaders(fields: fields),
                       keepAlive: keepAlive, framing: framing, discardBody: method == .GET || method == .HEAD)
    }

    private static func parseVersion(_ bytes: UnsafeBufferPointer<UInt8>) throws -> HTTPVersion {
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
        guard bytes.count == 8, bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50,
              bytes[4] == 0x2F, isDigit(bytes[5]), bytes[6] == 0x2E, isDigit(bytes[7])
        else { throw HTTPParseError.malformed("malformed HTTP version") }
        let version = HTTPVersion(major: Int(bytes[5] - 0x30), minor: Int(bytes[7] - 0x30))
        guard version == .http11 || version == .http10 else { throw HTTPParseError.versionNotSupported }
        return version
    }

    /// Well-known methods without allocating; anything else keeps its exact spelling.
    private static func parseMethod(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPMethod {
        switch bytes.count {
        case 3:
            if bytes.elementsEqual("GET".utf8) { return .GET }
            if bytes.elementsEqual("PUT".utf8) { return .PUT }
        case 4:
            if bytes.elementsEqual("POST".utf8) { return .POST }
            if bytes.elementsEqual("HEAD".utf8) { return .HEAD }
        case 5:
            if bytes.elementsEqual("PATCH".utf8) { return .PATCH }
        case 6:
            if bytes.elementsEqual("DELETE".utf8) { return .DELETE }
        case 7:
            if bytes.elementsEqual("OPTIONS".utf8) { return .OPTIONS }
        default:
            break
        }
        return .other(String(decoding: bytes, as: UTF8.self))
    }

    /// Origin-form only ("/..."), or "*" for OPTIONS. Absolute-form is refused: this is an origin
    /// server, and accepting it would add a second source of truth for the host. Returns the offset
    /// of the first '?', if any.
    private static func validateTarget(_ bytes: UnsafeBufferPointer<UInt8>, method: HTTPMethod) throws -> Int? {
        if bytes.count == 1 && bytes[0] == 0x2A {
            guard method == .OPTIONS else { throw HTTPParseError.malformed("'*' target is only valid for OPTIONS") }
            return nil
        }
        guard bytes[0] == 0x2F else { throw HTTPParseError.malformed("request target must start with '/'") }
        var queryMark: Int?
        for i in 0 ..< bytes.count {
            let byte = bytes[i]
            if byte <= 0x20 || byte >= 0x7F || byte == 0x23 {
                throw HTTPParseError.malformed("invalid character in request target")
            }
            if byte == 0x3F && queryMark == nil { queryMark = i }
        }
        return queryMark
    }

    /// A field line's layout, as offsets into the line.
    private struct FieldLayout {
        var nameLength: Int
        var valueStart: Int
        var valueEnd: Int
    }

    /// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5).
    private static func parseField(_ line: UnsafeBufferPointer<UInt8>) throws -> FieldLayout {
        guard let first = line.first else { throw HTTPParseError.malformed("empty header line") }
        if first == sp || first == htab { throw HTTPParseError.malformed("obsolete line folding in header") }
        var colon = 0
        while colon < line.count && isTokenChar(line[colon]) { colon += 1 }
        guard colon < line.count else { throw HTTPParseError.malformed("header line without ':'") }
        let stop = line[colon]
        if stop != 0x3A {
            if stop == sp || stop == htab { throw HTTPParseError.malformed("whitespace between header name and ':'") }
            throw HTTPParseError.malformed("invalid character in header name")
        }
        if colon == 0 { throw HTTPParseError.malformed("empty header name") }
        var valueStart = colon + 1
        var valueEnd = line.count
        // CTLs other than HTAB (NUL, bare CR, DEL, ...) are refused; obs-text (>= 0x80) is allowed.
        if containsControlCharacter(UnsafeBufferPointer(rebasing: line[valueStart ..< valueEnd])) {
            throw HTTPParseError.malformed("invalid character in header value")
        }
        while valueStart < valueEnd && (line[valueStart] == sp || line[valueStart] == htab) { valueStart += 1 }
        while valueEnd > valueStart && (line[valueEnd - 1] == sp || line[valueEnd - 1] == htab) { valueEnd -= 1 }
        return FieldLayout(nameLength: colon, valueStart: valueStart, valueEnd: valueEnd)
    }

    /// 1*DIGIT, or a list of identical such values ("5, 5"): RFC 9110 §8.6.
    private static func parseContentLength(_ value: UnsafeBufferPointer<UInt8>) throws -> Int {
        var result: Int?
        var elements = 0
        try forEachListElement(value, keepEmpty: true) { element in
            elements += 1
            guard !element.isEmpty else { throw HTTPParseError.malformed("invalid Content-Length") }
            var number = 0
            for byte in element {
                guard isDigit(byte) else { throw HTTPParseError.malformed("invalid Content-Length") }
                let (times10, o1) = number.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(byte - 0x30))
                guard !o1, !o2 else { throw HTTPParseError.malformed("Content-Length out of range") }
                number = sum
            }
            if let result, result != number { throw HTTPParseError.malformed("conflicting Content-Length values") }
            result = number
        }
        guard let result, elements > 0 else { throw HTTPParseError.malformed("invalid Content-Length") }
        return result
    }

    /// True for "chunked" (any case), false for another syntactically valid coding.
    private static func parseTransferCoding(_ element: UnsafeBufferPointer<UInt8>) throws -> Bool {
        var nameEnd = 0
        while nameEnd < element.count && isTokenChar(element[nameEnd]) { nameEnd += 1 }
        guard nameEnd > 0 else { throw HTTPParseError.malformed("invalid Transfer-Encoding") }
        let isChunked = asciiCaseInsensitiveEquals(UnsafeBufferPointer(rebasing: element[..<nameEnd]), lowercase: "chunked")
        if nameEnd == element.count { return isChunked }
        // Something follows the name: only parameters (";...") are valid, and chunked has none.
        var rest = nameEnd
        while rest < element.count && isOWS(element[rest]) { rest += 1 }
        guard rest < element.count, element[rest] == 0x3B, !isChunked else {
            throw HTTPParseError.malformed("invalid Transfer-Encoding")
        }
        return false
    }

    /// chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
    /// Extensions are validated and ignored.
    private static func parseChunkSizeLine(_ line: UnsafeBufferPointer<UInt8>) throws -> Int {
        var i = 0
        var size = 0
        while i < line.count, let digit = hexValue(line[i]) {
            guard size <= (Int.max >> 4) else { throw HTTPParseError.malformed("chunk size out of range") }
            size = size << 4 | digit
            i += 1
        }
        guard i > 0 else { throw HTTPParseError.malformed("invalid chunk size") }
        func skipWhitespace() { while i < line.count && (line[i] == sp || line[i] == htab) { i += 1 } }
        func token() throws {
            let start = i
            while i < line.count && isTokenChar(line[i]) { i += 1 }
            guard i > start else { throw HTTPParseError.malformed("invalid chunk extension") }
        }
        while i < line.count {
            skipWhitespace()
            guard i < line.count, line[i] == 0x3B else { throw HTTPParseError.malformed("malformed chunk size line") }
            i += 1
            skipWhitespace()
            try token()
            skipWhitespace()
            if i < line.count && line[i] == 0x3D {
                i += 1
                skipWhitespace()
                if i < line.count && line[i] == 0x22 {
                    i += 1
                    var closed = false
                    while i < line.count {
                        let byte = line[i]
                        if byte == 0x22 { closed = true; i += 1; break }
                        if byte == 0x5C {  // quoted-pair
                            i += 1
                            guard i < line.count, isQuotedTextChar(line[i]) || line[i] == 0x22 || line[i] == 0x5C else {
                                throw HTTPParseError.malformed("invalid chunk extension")
                            }
                        } else if !isQuotedTextChar(byte) {
                            throw HTTPParseError.malformed("invalid chunk extension")
                        }
                        i += 1
                    }
                    guard closed else { throw HTTPParseError.malformed("invalid chunk extension") }
                } else {
                    try token()
                }
            }
        }
        return size
    }
}

// MARK: byte classes

let cr: UInt8 = 0x0D
let lf: UInt8 = 0x0A
let sp: UInt8 = 0x20
let htab: UInt8 = 0x09

/// tchar (RFC 9110 §5.6.2) as two 64-bit masks: one shift and test per byte, no table to load.
@inline(__always)
func isTokenChar(_ byte: UInt8) -> Bool {
    if byte < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> UInt64(byte) & 1 == 1 }
    if byte < 128 { return (0x57FF_FFFF_C7FF_FFFE as UInt64) >> UInt64(byte - 64) & 1 == 1 }
    return false
}

@inline(__always)
func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

@inline(__always)
func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case 0x30 ... 0x39: return Int(byte - 0x30)
    case 0x41 ... 0x46: return Int(byte - 0x41 + 10)
    case 0x61 ... 0x66: return Int(byte - 0x61 + 10)
    default: return nil
    }
}

/// qdtext without DQUOTE and backslash: HTAB, SP, VCHAR, obs-text.
@inline(__always)
private func isQuotedTextChar(_ byte: UInt8) -> Bool {
    byte == htab || (byte >= 0x20 && byte != 0x7F && byte != 0x22 && byte != 0x5C)
}

private func firstIndex(of byte: UInt8, in buffer: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
    var i = from
    while i < to {
        if buffer[i] == byte { return i }
        i += 1
    }
    return nil
}

/// Index of the first LF in base[from..<to]. Eight bytes per step (SWAR): the head scan is the one
/// loop that touches every byte of every request.
@inline(__always)
func firstLineFeed(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int? {
    let raw = UnsafeRawPointer(base)
    var i = start
    while i + 8 <= end {
        let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let x = word ^ 0x0A0A_0A0A_0A0A_0A0A
        // A byte of x is zero where the input has LF; the lowest flagged byte is exact.
        let zeroes = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
        if zeroes != 0 { return i + zeroes.trailingZeroBitCount >> 3 }
        i += 8
    }
    while i < end {
        if base[i] == lf { return i }
        i += 1
    }
    return nil
}

/// True if `bytes` holds a CTL other than HTAB (0x00-0x1F, 0x7F). Words without any byte below 0x20
/// or equal to 0x7F are skipped whole; a flagged word is rechecked byte by byte (HTAB is legal).
func containsControlCharacter(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return false }
    let raw = UnsafeRawPointer(base)
    let count = bytes.count
    var i = 0
    while i + 8 <= count {
        let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let below20 = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
        let del = word ^ 0x7F7F_7F7F_7F7F_7F7F
        let isDel = (del &- 0x0101_0101_0101_0101) & ~del & 0x8080_8080_8080_8080
        if below20 | isDel != 0 {
            for k in i ..< i + 8 where isControlCharacter(base[k]) { return true }
        }
        i += 8
    }
    while i < count {
        if isControlCharacter(base[i]) { return true }
        i += 1
    }
    return false
}

@inline(__always)
private func isControlCharacter(_ byte: UInt8) -> Bool {
    (byte < 0x20 && byte != htab) || byte == 0x7F
}
