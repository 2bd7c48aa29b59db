// The JSON value model: exact integers, numbers kept as text, objects that keep key order.
//
// Why numbers are split in two: money and quantities must be JSON integers and must never pass
// through a Double, so an integer that fits Int64 is `.int`; every other valid number (fraction,
// exponent, or an integer beyond Int64) is `.number` holding its exact lexical text, which a
// handler can refuse (e.g. 400 INVALID_AMOUNT) instead of silently rounding.
//
// Objects keep their keys in order (responses come out in the order they were built) and refuse
// duplicates when parsed. Lookup is a linear scan for small objects — faster than hashing for the
// handful of keys of an API body — and a dictionary index once an object grows past a few keys.
//
// Plain Swift stdlib only: the fuzz target compiles these files standalone.

public enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A valid JSON number that is not an exact Int64 integer, as written.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

// MARK: building

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self.init(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's key order; a repeated key keeps its first position and its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }

    public init(_ value: Int) { self = .int(Int64(value)) }
    public init(_ value: Int64) { self = .int(value) }
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ value: String) { self = .string(value) }

    /// Integral values that fit become `.int`; NaN and infinities, which JSON cannot carry, become null.
    public init(_ value: Double) {
        if !value.isFinite {
            self = .null
        } else if value.rounded() == value, value >= -9.223372036854775808e18, value < 9.223372036854775808e18 {
            self = .int(Int64(value))
        } else {
            self = .number(value.description)  // shortest round-trip form, valid JSON ("1e-05", "0.1")
        }
    }

    /// A number from its text, classified like the parser does; nil unless `text` is one valid JSON number.
    public init?(numberText text: String) {
        // The parser allows whitespace around a document; a number's text has none.
        guard let first = text.utf8.first, let last = text.utf8.last,
              first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")),
              last >= UInt8(ascii: "0") && last <= UInt8(ascii: "9"),
              let value = try? JSONParser.parse(text)
        else { return nil }
        switch value {
        case .int, .number: self = value
        default: return nil
        }
    }
}

// MARK: reading

extension JSONValue {
    /// The member `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// Only exact integers: 1.0 and 1e2 are not integers here (amounts must be written as integers).
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// Any number, possibly rounded.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .number(let text): return Double(text)
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text.
    public var description: String { jsonText }
}

// MARK: JSONObject

/// Members in insertion order with at most one per key.
public struct JSONObject: Equatable, Sequence, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    /// A struct rather than a tuple: arrays of tuples are copied and destroyed through generic runtime
    /// calls, arrays of structs through specialized code.
    public struct Member: Equatable {
        public let key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var members: [Member] = []
    /// Key → position, built only for objects too big for a linear scan to win.
    private var index: [String: Int]?

    private static let indexThreshold = 16

    public init() {}

    /// A repeated key keeps its first position and its last value.
    public init(_ pairs: [(String, JSONValue)]) {
        members.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
    public init(arrayLiteral elements: (String, JSONValue)...) { self.init(elements) }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    public func contains(key: String) -> Bool { position(of: key) != nil }

    public mutating func reserveCapacity(_ minimumCapacity: Int) { members.reserveCapacity(minimumCapacity) }

    /// Setting nil removes the member; setting an existing key replaces its value in place.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let at = position(of: key) else { return nil }
            return members[at].value
        }
        set {
            if let newValue {
                if let at = position(of: key) {
                    members[at].value = newValue
                } else {
                    appendUnchecked(key, newValue)
                }
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Adds `key` at the end unless it is already present; false (and no change) if it is.
    @discardableResult
    public mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        if position(of: key) != nil { return false }
        appendUnchecked(key, value)
        return true
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let at = position(of: key) else { return nil }
        let removed = members.remove(at: at).value
        index = nil
        if members.count > JSONObject.indexThreshold { rebuildIndex() }
        return removed
    }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    /// Same members with equal values, in any order (JSON objects are unordered).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for member in lhs.members {
            guard let other = rhs[member.key], other == member.value else { return false }
        }
        return true
    }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        for i in members.indices where members[i].key == key { return i }
        return nil
    }

    private mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        members.append(Member(key: key, value: value))
        if index != nil {
            index![key] = members.count - 1
        } else if members.count > JSONObject.indexThreshold {
            rebuildIndex()
        }
    }

    private mutating func rebuildIndex() {
        var built: [String: Int] = [:]
        built.reserveCapacity(members.count)
        for (i, member) in members.enumerated() { built[member.key] = i }
        index = built
    }
}
