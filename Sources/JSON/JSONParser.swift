// A strict RFC 8259 reader: one pass of recursive descent over raw bytes.
//
// Strict because request bodies come from anyone: no trailing commas, comments, NaN/Infinity,
// leading zeros, single quotes, BOM, or data after the value; strings must be valid UTF-8 with no raw
// control characters and only well-formed \u escapes (a surrogate pair or nothing); a duplicate key
// is an error rather than a silent "last one wins" that two layers could read differently.
// Nesting is bounded (`maxDepth`) so a body of ten thousand '[' cannot exhaust the stack.
//
// Strings without escapes, the common case, are validated in the scan and become a String in one
// copy; only strings with escapes go through a scratch buffer.

public struct JSONError: Error, Equatable, CustomStringConvertible {
    /// Byte offset into the input where the problem was found.
    public let offset: Int
    public let message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }
}

public enum JSONParser {
    public static let defaultMaxDepth = 32

    /// Parses exactly one JSON value, with optional whitespace around it. `maxDepth` bounds the
    /// nesting of arrays and objects (a top-level array is depth 1).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        var reader = Reader(bytes: bytes.bindMemory(to: UInt8.self), maxDepth: maxDepth)
        return try reader.parseDocument()
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(UnsafeRawBufferPointer($0), maxDepth: maxDepth) }
    }
}

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var pos = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if pos != bytes.count { throw fail("unexpected data after the JSON value") }
        return value
    }

    func fail(_ message: String, at offset: Int? = nil) -> JSONError {
        JSONError(offset: offset ?? pos, message: message)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < bytes.count {
            let byte = bytes[pos]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            pos += 1
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case 0x7B: return try parseObject(depth: depth + 1)  // {
        case 0x5B: return try parseArray(depth: depth + 1)  // [
        case 0x22: return .string(try parseString())
        case 0x74: try expectLiteral("true"); return .bool(true)
        case 0x66: try expectLiteral("false"); return .bool(false)
        case 0x6E: try expectLiteral("null"); return .null
        case 0x2D, 0x30 ... 0x39: return try parseNumber()
        default: throw fail("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - pos >= count,
              UnsafeBufferPointer(rebasing: bytes[pos ..< pos + count])
                .elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: count))
        else { throw fail("invalid literal") }
        pos += count
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        pos += 1
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == 0x5D {
            pos += 1
            return .array([])
        }
        var items: [JSONValue] = []
        items.reserveCapacity(4)  // skips the 1 → 2 → 4 regrowth of small arrays
        while true {
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[pos] {
            case 0x2C:
                pos += 1
                skipWhitespace()
                if pos < bytes.count && bytes[pos] == 0x5D { throw fail("trailing comma") }
            case 0x5D:
                pos += 1
                return .array(items)
            default:
                throw fail("expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        pos += 1
        skipWhitespace()
        var object = JSONObject()
        if pos < bytes.count && bytes[pos] == 0x7D {
            pos += 1
            return .object(object)
        }
        object.reserveCapacity(8)  // typical request bodies: a handful of keys, one allocation
        while true {
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            guard bytes[pos] == 0x22 else {
                throw fail(bytes[pos] == 0x7D ? "trailing comma" : "expected a string key")
            }
            let keyOffset = pos
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == 0x3A else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard object.insert(key, value) else { throw fail("duplicate key", at: keyOffset) }
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[pos] {
            case 0x2C:
                pos += 1
                skipWhitespace()
            case 0x7D:
                pos += 1
                return .object(object)
            default:
                throw fail("expected ',' or '}'")
            }
        }
    }

    /// number = [ "-" ] int [ frac ] [ exp ]; int = "0" / ( digit1-9 *DIGIT ).
    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        let negative = bytes[pos] == 0x2D
        if negative { pos += 1 }
        guard pos < bytes.count, isJSONDigit(bytes[pos]) else { throw fail("invalid number") }
        // Accumulated as a negative value so that Int64.min is representable.
        var value: Int64 = 0
        var overflow = false
        if bytes[pos] == 0x30 {
            pos += 1
            if pos < bytes.count && isJSONDigit(bytes[pos]) { throw fail("leading zero in number") }
        } else {
            while pos < bytes.count && isJSONDigit(bytes[pos]) {
                if !overflow {
                    let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                    let (next, o2) = times10.subtractingReportingOverflow(Int64(bytes[pos] &- 0x30))
                    if o1 || o2 { overflow = true } else { value = next }
                }
                pos += 1
            }
        }
        var integer = true
        if pos < bytes.count && bytes[pos] == 0x2E {
            integer = false
            pos += 1
            guard pos < bytes.count, isJSONDigit(bytes[pos]) else { throw fail("expected a digit after '.'") }
            while pos < bytes.count && isJSONDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count && (bytes[pos] == 0x65 || bytes[pos] == 0x45) {
            integer = false
            pos += 1
            if pos < bytes.count && (bytes[pos] == 0x2B || bytes[pos] == 0x2D) { pos += 1 }
            guard pos < bytes.count, isJSONDigit(bytes[pos]) else { throw fail("expected a digit in the exponent") }
            while pos < bytes.count && isJSONDigit(bytes[pos]) { pos += 1 }
        }
        if integer && !overflow {
            if negative { return .int(value) }
            if value != Int64.min { return .int(-value) }  // 9223372036854775808 does not fit
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< pos]), as: UTF8.self))
    }

    /// At the opening quote.
    mutating func parseString() throws -> String {
        pos += 1
        let start = pos
        skipPlainASCII()
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == 0x22 {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< pos]), as: UTF8.self)
                pos += 1
                return text
            }
            if byte == 0x5C { return try parseEscapedString(from: start) }
            if byte < 0x20 { throw fail("control character in string") }
            if byte < 0x80 { pos += 1 } else { try skipUTF8Sequence() }
        }
        throw fail("unterminated string")
    }

    /// Skips whole 8-byte words of printable ASCII other than '"' and '\\' (SWAR): most string bytes
    /// need no per-byte decision. Stops at the word holding the first byte that does.
    @inline(__always)
    mutating func skipPlainASCII() {
        guard let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while pos + 8 <= bytes.count {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                | (word &- ones &* 0x20)  // a borrow into bit 7: some byte is below 0x20
                | word  // bit 7 set: non-ASCII, validated byte by byte
            if special & highs != 0 { return }
            pos += 8
        }
    }

    /// The slow path, from the first backslash: decodes into a scratch buffer.
    mutating func parseEscapedString(from start: Int) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(pos - start + 32)
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start ..< pos]))
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == 0x22 {
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte == 0x5C {
                try decodeEscape(into: &out)
            } else if byte < 0x20 {
                throw fail("control character in string")
            } else if byte < 0x80 {
                out.append(byte)
                pos += 1
            } else {
                let sequenceStart = pos
                try skipUTF8Sequence()
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[sequenceStart ..< pos]))
            }
        }
        throw fail("unterminated string")
    }

    /// At a backslash.
    mutating func decodeEscape(into out: inout [UInt8]) throws {
        let escapeStart = pos
        pos += 1
        guard pos < bytes.count else { throw fail("unterminated string") }
        let code = bytes[pos]
        pos += 1
        switch code {
        case 0x22, 0x5C, 0x2F: out.append(code)  // " \ /
        case 0x62: out.append(0x08)  // b
        case 0x66: out.append(0x0C)  // f
        case 0x6E: out.append(0x0A)  // n
        case 0x72: out.append(0x0D)  // r
        case 0x74: out.append(0x09)  // t
        case 0x75:  // u
            var scalar = try readHex4(escapeStart)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                // A high surrogate is only valid as the first half of a \uD8xx\uDCxx pair.
                guard bytes.count - pos >= 6, bytes[pos] == 0x5C, bytes[pos + 1] == 0x75 else {
                    throw fail("unpaired surrogate in \\u escape", at: escapeStart)
                }
                pos += 2
                let low = try readHex4(pos - 2)
                guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("unpaired surrogate in \\u escape", at: escapeStart) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw fail("unpaired surrogate in \\u escape", at: escapeStart)
            }
            appendUTF8(scalar, to: &out)
        default:
            throw fail("invalid escape", at: escapeStart)
        }
    }

    mutating func readHex4(_ escapeStart: Int) throws -> UInt32 {
        guard bytes.count - pos >= 4 else { throw fail("invalid \\u escape", at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0 ..< 4 {
            let byte = bytes[pos]
            let digit: UInt32
            switch byte {
            case 0x30 ... 0x39: digit = UInt32(byte - 0x30)
            case 0x41 ... 0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61 ... 0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw fail("invalid \\u escape", at: escapeStart)
            }
            value = value << 4 | digit
            pos += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (RFC 3629 table: no overlongs, no
    /// surrogates, nothing above U+10FFFF) and steps over it.
    mutating func skipUTF8Sequence() throws {
        let lead = bytes[pos]
        let continuation: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2 ... 0xDF: continuation = 1
        case 0xE0: continuation = 2; low = 0xA0
        case 0xE1 ... 0xEC, 0xEE ... 0xEF: continuation = 2
        case 0xED: continuation = 2; high = 0x9F
        case 0xF0: continuation = 3; low = 0x90
        case 0xF1 ... 0xF3: continuation = 3
        case 0xF4: continuation = 3; high = 0x8F
        default: throw fail("invalid UTF-8")
        }
        guard bytes.count - pos > continuation else { throw fail("invalid UTF-8") }
        let second = bytes[pos + 1]
        guard second >= low && second <= high else { throw fail("invalid UTF-8") }
        var k = 2
        while k <= continuation {
            guard bytes[pos + k] & 0xC0 == 0x80 else { throw fail("invalid UTF-8") }
            k += 1
        }
        pos += continuation + 1
    }
}

@inline(__always)
private func isJSONDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
    switch scalar {
    case 0 ..< 0x80:
        out.append(UInt8(scalar))
    case 0x80 ..< 0x800:
        out.append(UInt8(0xC0 | scalar >> 6))
        out.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800 ..< 0x10000:
        out.append(UInt8(0xE0 | scalar >> 12))
        out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    default:
        out.append(UInt8(0xF0 | scalar >> 18))
        out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
        out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    }
}
