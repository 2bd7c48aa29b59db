// Formats a command as RESP (`*N\r\n$len\r\narg\r\n...`) in one buffer, handed to hiredis with
// redisAsyncFormattedCommand / redisAppendFormattedCommand: one copy, binary-safe, no C varargs.
enum RESP {
    static func format(_ arguments: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + arguments.reduce(0) { $0 + $1.utf8.count + 16 })
        appendDecimal(UInt8(ascii: "*"), arguments.count, to: &out)
        for argument in arguments {
            appendDecimal(UInt8(ascii: "$"), argument.utf8.count, to: &out)
            out.append(contentsOf: argument.utf8)
            out.append(13); out.append(10)
        }
        return out
    }

    /// `prefix`, the decimal digits of `value` (≥ 0), CRLF — without building a String per argument.
    private static func appendDecimal(_ prefix: UInt8, _ value: Int, to out: inout [UInt8]) {
        out.append(prefix)
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
        out.append(13); out.append(10)
    }
}
