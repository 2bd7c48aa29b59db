// The command formatter: RESP framing with exact lengths, whatever the argument (empty, multi-byte, long).
@testable import Runtime
import XCTest

final class RESPTests: XCTestCase {
    func testCommandsAreFramedWithExactLengths() {
        XCTAssertEqual(String(decoding: RESP.format(["PING"]), as: UTF8.self), "*1\r\n$4\r\nPING\r\n")
        XCTAssertEqual(String(decoding: RESP.format(["SET", "", "é"]), as: UTF8.self), "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\né\r\n")
        for length in [9, 10, 99, 100, 101, 12_345] {
            let argument = String(repeating: "x", count: length)
            XCTAssertEqual(String(decoding: RESP.format(["GET", argument]), as: UTF8.self), "*2\r\n$3\r\nGET\r\n$\(length)\r\n\(argument)\r\n")
        }
        let many = (0..<10).map(String.init)
        XCTAssertTrue(String(decoding: RESP.format(many), as: UTF8.self).hasPrefix("*10\r\n$1\r\n0\r\n"))
    }
}
