// The JSON reader's strictness rules one by one, number classification, the depth limit, and
// writer/reader round trips.
import JSON
import XCTest

final class JSONTests: XCTestCase {
    func parse(_ text: String, maxDepth: Int = 32) throws -> JSONValue {
        try JSONParser.parse(text, maxDepth: maxDepth)
    }

    func assertRejected(_ text: String, offset: Int? = nil, _ messagePart: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) {
        assertRejected(Array(text.utf8), offset: offset, messagePart, file: file, line: line)
    }

    func assertRejected(_ bytes: [UInt8], offset: Int? = nil, _ messagePart: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) {
        do {
            let value = try JSONParser.parse(bytes)
            XCTFail("accepted \(bytes) as \(value)", file: file, line: line)
        } catch let error as JSONError {
            if let offset { XCTAssertEqual(error.offset, offset, "\(error)", file: file, line: line) }
            if let messagePart {
                XCTAssertTrue(error.message.contains(messagePart), "\(error)", file: file, line: line)
            }
            XCTAssertTrue(error.description.contains("at byte"), file: file, line: line)
        } catch {
            XCTFail("wrong error type \(error)", file: file, line: line)
        }
    }

    // MARK: values

    func testScalars() throws {
        XCTAssertEqual(try parse("null"), .null)
        XCTAssertEqual(try parse("true"), .bool(true))
        XCTAssertEqual(try parse("false"), .bool(false))
        XCTAssertEqual(try parse("\"hi\""), .string("hi"))
        XCTAssertEqual(try parse("42"), .int(42))
        XCTAssertEqual(try parse(" \t\r\n 42 \n"), .int(42))
    }

    func testNestedDocument() throws {
        let value = try parse(#"{"items":[{"productId":"p1","quantity":2}],"pay":true,"coupon":null,"n":{}}"#)
        XCTAssertEqual(value["items"]?[0]?["productId"]?.stringValue, "p1")
        XCTAssertEqual(value["items"]?[0]?["quantity"]?.intValue, 2)
        XCTAssertEqual(value["pay"]?.boolValue, true)
        XCTAssertEqual(value["coupon"]?.isNull, true)
        XCTAssertEqual(value["n"]?.objectValue?.isEmpty, true)
        XCTAssertNil(value["missing"])
        XCTAssertNil(value["items"]?[5])
        XCTAssertEqual(value.objectValue?.keys, ["items", "pay", "coupon", "n"])
    }

    func testNumberClassification() throws {
        XCTAssertEqual(try parse("0"), .int(0))
        XCTAssertEqual(try parse("-0"), .int(0))
        XCTAssertEqual(try parse("10000000"), .int(10_000_000))
        XCTAssertEqual(try parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try parse("-9223372036854775808"), .int(Int64.min))
        XCTAssertEqual(try parse("9223372036854775808"), .number("9223372036854775808"))
        XCTAssertEqual(try parse("-9223372036854775809"), .number("-9223372036854775809"))
        XCTAssertEqual(try parse("123456789012345678901234567890"), .number("123456789012345678901234567890"))
        XCTAssertEqual(try parse("1e3"), .number("1e3"))
        XCTAssertEqual(try parse("1E+3"), .number("1E+3"))
        XCTAssertEqual(try parse("1.0"), .number("1.0"))
        XCTAssertEqual(try parse("-0.5"), .number("-0.5"))
        XCTAssertEqual(try parse("2.5e-3"), .number("2.5e-3"))
        XCTAssertEqual(try parse("-0.0"), .number("-0.0"))
        XCTAssertEqual(try parse("[1,1.5]"), .array([.int(1), .number("1.5")]))
        XCTAssertEqual(try parse("1.5").doubleValue, 1.5)
        XCTAssertEqual(try parse("7").doubleValue, 7)
        XCTAssertNil(try parse("1.0").intValue, "an amount written 1.0 is not an integer")
    }

    func testInvalidNumbers() {
        for text in ["01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "1.e3", "0x10", "1_000", "NaN", "Infinity",
                     "-Infinity", "1.5.", "--1", "- 1", "1 2", "0.1e1.2"] {
            assertRejected(text)
        }
        assertRejected("01", offset: 1, "leading zero")
        assertRejected("[1,02]", offset: 4, "leading zero")
    }

    func testStrings() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\b\f\n\r\t""#), .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        XCTAssertEqual(try parse(#""\u0041\u00e9\u20AC\u0000""#), .string("Aé€\u{0}"))
        XCTAssertEqual(try parse(#""\uD83D\uDE00""#), .string("😀"))
        XCTAssertEqual(try parse(#""\ud83d\ude00x""#), .string("😀x"))
        XCTAssertEqual(try parse("\"café 😀 日本\""), .string("café 😀 日本"))
        XCTAssertEqual(try parse("\"é\\n😀\""), .string("é\n😀"))
        XCTAssertEqual(try parse(#""""#), .string(""))
        XCTAssertEqual(try parse("\"\u{7F}\""), .string("\u{7F}"), "DEL is not a control character in JSON")
    }

    func testStringStrictness() {
        assertRejected("\"a\u{1}b\"", offset: 2, "control character")
        assertRejected("\"tab\there\"", "control character")
        assertRejected("\"line\nbreak\"", "control character")
        assertRejected(#""\x41""#, offset: 1, "invalid escape")
        assertRejected(#""\'""#, "invalid escape")
        assertRejected(#""\u12""#, "\\u")
        assertRejected(#""\u12G4""#, "\\u")
        assertRejected(#""\uDE00""#, offset: 1, "surrogate")  // lone low
        assertRejected(#""\uD83D""#, offset: 1, "surrogate")  // lone high at the end
        assertRejected(#""\uD83Dx""#, "surrogate")
        assertRejected(#""\uD83D\n""#, "surrogate")
        assertRejected(#""\uD83D\uD83D""#, "surrogate")  // high + high
        assertRejected(#""\uD83D\u0041""#, "surrogate")
        assertRejected("\"unterminated", "unterminated")
        assertRejected("\"ends in escape\\", "unterminated")
        assertRejected("'single'")
    }

    func testSpecialBytesAtEveryPositionOfALongString() {
        // The string scan skips clean 8-byte words: what ends or breaks a string must be seen anywhere.
        for position in 0 ..< 25 {
            var plain = [UInt8](repeating: 0x61, count: 25)
            plain[position] = 0x01
            assertRejected([0x22] + plain + [0x22], offset: position + 1, "control character")
            plain[position] = 0xFF
            assertRejected([0x22] + plain + [0x22], offset: position + 1, "UTF-8")
            plain[position] = 0x22  // an early quote ends the string: the rest is trailing garbage
            assertRejected([0x22] + plain + [0x22], offset: position + 2)
            plain[position] = 0x5C  // \a is no escape; a final backslash escapes the closing quote
            assertRejected([0x22] + plain + [0x22], position == 24 ? "unterminated" : "invalid escape")
            plain[position] = 0x7E
            XCTAssertEqual(try? JSONParser.parse([0x22] + plain + [0x22]),
                           .string(String(decoding: plain, as: UTF8.self)))
            var accented = [UInt8](repeating: 0x61, count: 26)
            accented.replaceSubrange(position ..< position + 2, with: [0xC3, 0xA9])
            XCTAssertEqual(try? JSONParser.parse([0x22] + accented + [0x22]),
                           .string(String(decoding: accented, as: UTF8.self)))
        }
    }

    func testInvalidUTF8IsRejected() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],  // never valid
            [0x22, 0x80, 0x22],  // lone continuation
            [0x22, 0xC3, 0x22],  // truncated
            [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xF0, 0x9F, 0x98, 0x22],  // truncated 4-byte
            [0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22],  // invalid after an escape (slow path)
        ]
        for bytes in cases { assertRejected(bytes, "UTF-8") }
        assertRejected([0x22, 0x61, 0xFF, 0x22], offset: 2)
        assertRejected([0xEF, 0xBB, 0xBF, 0x31], offset: 0)  // BOM
        assertRejected([0x5B, 0xC3, 0xA9, 0x5D], offset: 1)  // non-ASCII outside a string
    }

    func testStructureStrictness() {
        assertRejected("", offset: 0, "end of input")
        assertRejected("   ", offset: 3, "end of input")
        assertRejected("[1,2,]", offset: 5, "trailing comma")
        assertRejected(#"{"a":1,}"#, offset: 7, "trailing comma")
        assertRejected("[1 2]", "expected ','")
        assertRejected(#"{"a" 1}"#, "expected ':'")
        assertRejected(#"{"a":1 "b":2}"#, "expected ','")
        assertRejected("{a:1}", "string key")
        assertRejected("{1:1}", "string key")
        assertRejected("[", "end of input")
        assertRejected("[1", "end of input")
        assertRejected(#"{"a""#, "expected ':'")
        assertRejected(#"{"a":"#, "end of input")
        assertRejected("]")
        assertRejected("{,}")
        assertRejected("[,1]")
        assertRejected("1 2", offset: 2, "after the JSON value")
        assertRejected("{} {}", offset: 3, "after the JSON value")
        assertRejected("nul", "literal")
        assertRejected("True", "unexpected character")
        assertRejected("nulll", offset: 4)
        assertRejected("[1] // comment", "after the JSON value")
        assertRejected("/* c */ 1", "unexpected character")
        assertRejected("[1,\u{C}2]")  // form feed is not JSON whitespace
        assertRejected("\u{A0}1")
    }

    func testDuplicateKeysAreRejected() {
        assertRejected(#"{"a":1,"a":2}"#, offset: 7, "duplicate key")
        assertRejected(#"{"a":1,"b":{"c":1,"c":1}}"#, "duplicate key")
        // Keys compare after unescaping.
        assertRejected(#"{"a":1,"\u0061":2}"#, "duplicate key")
        // Big objects use an index: still caught.
        let many = (0 ..< 100).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        XCTAssertEqual(try parse("{\(many)}").objectValue?.count, 100)
        assertRejected("{\(many),\"k57\":0}", "duplicate key")
    }

    func testDepthLimit() throws {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        XCTAssertNoThrow(try parse(nested(32)))
        assertRejected(nested(33), offset: 32, "nesting")
        XCTAssertNoThrow(try parse(nested(3), maxDepth: 3))
        XCTAssertThrowsError(try parse(nested(4), maxDepth: 3))
        let objects = String(repeating: #"{"a":"#, count: 33) + "1" + String(repeating: "}", count: 33)
        assertRejected(objects, "nesting")
        XCTAssertNoThrow(try parse(String(repeating: #"{"a":"#, count: 32) + "1" + String(repeating: "}", count: 32)))
        // Scalars and empty containers inside the limit are fine; deep garbage fails fast, not by stack.
        assertRejected(String(repeating: "[", count: 100_000), "nesting")
    }

    // MARK: writer

    func testWriterEscaping() {
        let value = JSONValue.string("q\"b\\s/\n\r\t\u{8}\u{C}\u{0}\u{1F}\u{7F}é😀")
        XCTAssertEqual(value.jsonText, #""q\"b\\s/\n\r\t\b\f\u0000\u001f"# + "\u{7F}é😀\"")
        XCTAssertEqual(try JSONParser.parse(value.encoded()), value)
    }

    func testWriterNumbersAndLiterals() {
        let value: JSONValue = [0, -1, 9, 10, -10, 1234567890, .int(Int64.max), .int(Int64.min), 1.5, true, false, nil, "s"]
        XCTAssertEqual(value.jsonText,
                       "[0,-1,9,10,-10,1234567890,9223372036854775807,-9223372036854775808,1.5,true,false,null,\"s\"]")
    }

    func testWriterKeepsKeyOrder() {
        let value: JSONValue = ["status": "ok", "redis": "ok", "postgres": "down"]
        XCTAssertEqual(value.jsonText, #"{"status":"ok","redis":"ok","postgres":"down"}"#)
        let built = JSONValue.object([("b", .int(1)), ("a", .string("x"))])
        XCTAssertEqual(built.jsonText, #"{"b":1,"a":"x"}"#)
    }

    func testRoundTrips() throws {
        let documents = [
            #"{"orderId":"o1","status":"PAID","items":[{"productId":"p1","quantity":2,"unitPrice":15000}],"totalAmount":30000,"discountAmount":0,"paidAmount":30000}"#,
            #"[null,true,false,0,-0.5,1e3,9223372036854775808,-9223372036854775808,"",[],{}]"#,
            #"{"s":"\u00e9\ud83d\ude00\\\"\n","nested":{"deeper":[[[{"x":[1,{"y":null}]}]]]}}"#,
            #"{"error":{"code":"OUT_OF_STOCK","message":"Product p1 is out of stock","details":{"productId":"p1"}}}"#,
        ]
        for text in documents {
            let value = try parse(text)
            let encoded = value.encoded()
            XCTAssertEqual(try JSONParser.parse(encoded), value, text)
            XCTAssertEqual(try JSONParser.parse(encoded).encoded(), encoded, "stable: \(text)")
        }
        // Compact output of compact input is byte-identical (escapes aside).
        let compact = #"{"a":[1,2.50,-3e+2,"x"],"b":{"c":null}}"#
        XCTAssertEqual(try parse(compact).jsonText, compact)
    }

    func testStreamingWriter() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("queueToken", "t-1")
        writer.field("status", "WAITING")
        writer.field("position", 12)
        writer.field("etaSeconds", Int64(30))
        writer.field("active", false)
        writer.key("items")
        writer.beginArray()
        writer.beginObject()
        writer.field("seatNo", 1)
        writer.endObject()
        writer.beginObject()
        writer.endObject()
        writer.int(3)
        writer.string("s\"")
        writer.null()
        writer.bool(true)
        writer.beginArray()
        writer.endArray()
        writer.endArray()
        writer.field("details", ["k": [1, 2]])
        writer.key("v")
        writer.value(.number("1.25"))
        writer.endObject()
        let text = String(decoding: writer.bytes, as: UTF8.self)
        XCTAssertEqual(text, #"{"queueToken":"t-1","status":"WAITING","position":12,"etaSeconds":30,"active":false,"items":[{"seatNo":1},{},3,"s\"",null,true,[]],"details":{"k":[1,2]},"v":1.25}"#)
        XCTAssertNoThrow(try JSONParser.parse(writer.bytes))
    }

    func testDoubleAndNumberTextInitializers() {
        XCTAssertEqual(JSONValue(3.0), .int(3))
        XCTAssertEqual(JSONValue(-2.5), .number("-2.5"))
        XCTAssertEqual(JSONValue(1e20), .number("1e+20"))
        XCTAssertEqual(JSONValue(Double.nan), .null)
        XCTAssertEqual(JSONValue(Double.infinity), .null)
        for double in [0.1, 1e-5, 123.456, -1e300, Double.leastNonzeroMagnitude] {
            let value = JSONValue(double)
            XCTAssertEqual((try? JSONParser.parse(value.encoded()))?.doubleValue, double)
        }
        XCTAssertEqual(JSONValue(numberText: "12"), .int(12))
        XCTAssertEqual(JSONValue(numberText: "1.50"), .number("1.50"))
        XCTAssertNil(JSONValue(numberText: "01"))
        XCTAssertNil(JSONValue(numberText: "\"1\""))
        XCTAssertNil(JSONValue(numberText: "1 "))
        XCTAssertEqual(JSONValue(7), .int(7))
        XCTAssertEqual(JSONValue("s"), .string("s"))
        XCTAssertEqual(JSONValue(true), .bool(true))
    }

    // MARK: JSONObject

    func testObjectAPI() {
        var object = JSONObject()
        object["b"] = 1
        object["a"] = "x"
        object["b"] = 2  // replaces in place
        XCTAssertEqual(object.keys, ["b", "a"])
        XCTAssertEqual(object["b"], .int(2))
        XCTAssertFalse(object.insert("a", 3))
        XCTAssertTrue(object.insert("c", nil))
        XCTAssertEqual(object["c"], .null)
        XCTAssertTrue(object.contains(key: "c"))
        XCTAssertEqual(object.removeValue(forKey: "b"), .int(2))
        object["a"] = nil
        XCTAssertEqual(object.keys, ["c"])
        XCTAssertEqual(object.map(\.key), ["c"])

        // Large objects (indexed) behave the same.
        var big = JSONObject()
        for i in 0 ..< 50 { big["k\(i)"] = .int(Int64(i)) }
        XCTAssertEqual(big["k49"], .int(49))
        big.removeValue(forKey: "k10")
        XCTAssertNil(big["k10"])
        XCTAssertEqual(big["k11"], .int(11))
        XCTAssertEqual(big.count, 49)
        big["k10"] = 10
        XCTAssertEqual(big.keys.last, "k10")
        XCTAssertFalse(big.insert("k20", 0))
    }

    func testObjectEqualityIgnoresOrder() throws {
        XCTAssertEqual(try parse(#"{"a":1,"b":[true]}"#), try parse(#"{"b":[true],"a":1}"#))
        XCTAssertNotEqual(try parse(#"{"a":1}"#), try parse(#"{"a":1,"b":2}"#))
        XCTAssertNotEqual(try parse(#"{"a":1}"#), try parse(#"{"a":2}"#))
        XCTAssertNotEqual(try parse("[1,2]"), try parse("[2,1]"))
    }

    func testParsesFromRawBufferAndArray() throws {
        let bytes = Array(#"{"amount":10000}"#.utf8)
        let fromArray = try JSONParser.parse(bytes)
        let fromBuffer = try bytes.withUnsafeBytes { try JSONParser.parse($0) }
        XCTAssertEqual(fromArray, fromBuffer)
        XCTAssertEqual(fromArray["amount"]?.intValue, 10_000)
        XCTAssertThrowsError(try JSONParser.parse([UInt8]()))
        XCTAssertThrowsError(try JSONParser.parse(UnsafeRawBufferPointer(start: nil, count: 0)))
    }
}
