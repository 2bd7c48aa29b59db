// Compact JSON output into a byte array. Every API response body is written here, so nothing in it
// goes through String interpolation or per-character work: strings are copied in runs between the
// few bytes that need escaping, integers are formatted on the stack.
//
// Two ways in:
// - `JSONValue.encoded()` / `serialize(into:)` for a value tree;
// - the streaming methods (`beginObject`, `key`, `string`, ...) to write a response straight into the
//   buffer without building a tree. One flag (`needsComma`) places every comma: after a value,
//   before the next key or value; a container opening clears it, its closing sets it. No stack of
//   container states is kept, so the writer does not check structure: a caller that opens something
//   closes it.
//
// Escaping (RFC 8259 §7): '"' and '\' and the C0 controls; \n \r \t \b \f by name, the rest as
// \u00XX. Non-ASCII stays raw UTF-8 (Swift strings are always valid UTF-8).

public struct JSONWriter {
    public var bytes: [UInt8]
    private var needsComma = false

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: streaming

    public mutating func beginObject() {
        comma()
        bytes.append(0x7B)
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(0x7D)
        needsComma = true
    }

    public mutating func beginArray() {
        comma()
        bytes.append(0x5B)
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(0x5D)
        needsComma = true
    }

    /// An object member's name; the next call writes its value.
    public mutating func key(_ name: String) {
        comma()
        JSONWriter.appendString(name, into: &bytes)
        bytes.append(0x3A)
        needsComma = false
    }

    public mutating func string(_ value: String) {
        comma()
        JSONWriter.appendString(value, into: &bytes)
        needsComma = true
    }

    public mutating func int(_ value: Int64) {
        comma()
        JSONWriter.appendInt(value, into: &bytes)
        needsComma = true
    }

    public mutating func int(_ value: Int) { int(Int64(value)) }

    public mutating func bool(_ value: Bool) {
        comma()
        bytes.append(contentsOf: value ? JSONWriter.trueBytes : JSONWriter.falseBytes)
        needsComma = true
    }

    public mutating func null() {
        comma()
        bytes.append(contentsOf: JSONWriter.nullBytes)
        needsComma = true
    }

    public mutating func value(_ value: JSONValue) {
        comma()
        JSONWriter.serialize(value, into: &bytes)
        needsComma = true
    }

    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    public mutating func field(_ name: String, _ value: Int) { key(name); int(Int64(value)) }
    public mutating func field(_ name: String, _ value: Int64) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }
    public mutating func field(_ name: String, _ value: JSONValue) { key(name); self.value(value) }

    @inline(__always)
    private mutating func comma() {
        if needsComma { bytes.append(0x2C) }
    }

    // MARK: values

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let nullBytes: [UInt8] = Array("null".utf8)

    public static func serialize(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(contentsOf: nullBytes)
        case .bool(let flag):
            out.append(contentsOf: flag ? trueBytes : falseBytes)
        case .int(let number):
            appendInt(number, into: &out)
        case .number(let text):
            // Parsed or built from a Double: already valid JSON number text.
            out.append(contentsOf: text.utf8)
        case .string(let text):
            appendString(text, into: &out)
        case .array(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                serialize(item, into: &out)
            }
            out.append(0x5D)
        case .object(let object):
            out.append(0x7B)
            var first = true
            for member in object {
                if !first { out.append(0x2C) }
                first = false
                appendString(member.key, into: &out)
                out.append(0x3A)
                serialize(member.value, into: &out)
            }
            out.append(0x7D)
        }
    }

    /// `text` as a quoted, escaped JSON string.
    public static func appendString(_ text: String, into out: inout [UInt8]) {
        out.append(0x22)
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            var i = 0
            while i < utf8.count {
                let byte = utf8[i]
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                    i += 1
                    continue
                }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart ..< i])) }
                out.append(0x5C)
                switch byte {
                case 0x22, 0x5C: out.append(byte)
                case 0x0A: out.append(0x6E)
                case 0x0D: out.append(0x72)
                case 0x09: out.append(0x74)
                case 0x08: out.append(0x62)
                case 0x0C: out.append(0x66)
                default:
                    out.append(contentsOf: [0x75, 0x30, 0x30, hexDigit(byte >> 4), hexDigit(byte & 0x0F)])
                }
                i += 1
                runStart = i
            }
            if runStart < utf8.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        out.append(0x22)
    }

    public static func appendInt(_ value: Int64, into out: inout [UInt8]) {
        var magnitude = value.magnitude
        if value < 0 { out.append(0x2D) }
        if magnitude < 10 {
            out.append(0x30 + UInt8(magnitude))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            while magnitude > 0 {
                i -= 1
                digits[i] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i ..< 20]))
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10
    }
}

extension JSONValue {
    /// The compact JSON encoding.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        JSONWriter.serialize(self, into: &out)
        return out
    }

    public func serialize(into out: inout [UInt8]) {
        JSONWriter.serialize(self, into: &out)
    }

    /// The compact JSON encoding as text (e.g. for an error's `details`).
    public var jsonText: String { String(decoding: encoded(), as: UTF8.self) }
}
