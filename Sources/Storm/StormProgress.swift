// The live line while a storm runs: requests so far, the rate and errors of the last interval, and its
// p99. On a terminal it rewrites one line in place (`\r`); into a file or a pipe it writes a plain line
// per interval, so a log of a storm reads as a time series.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class StormProgress {
    private let write: (String) -> Void
    private let inPlace: Bool
    private var lastWidth = 0

    /// `write` gets each piece of text as is; `inPlace` rewrites one line (a terminal).
    public init(inPlace: Bool, write: @escaping (String) -> Void) {
        self.inPlace = inPlace
        self.write = write
    }

    /// Progress on standard error, in place when that is a terminal.
    public static func standardError() -> StormProgress {
        StormProgress(inPlace: isatty(2) == 1) { text in FileHandle.standardError.write(text.data(using: .utf8)!) }
    }

    func update(scenario: String, window: TrafficStats, interval: Double, elapsed: Double, total: TrafficStats) {
        let rate = interval > 0 ? Double(window.requests) / interval : 0
        let p99 = StormReport.milliseconds(window.latency.percentile(99))
        let line = String(format: "storm %@ %6.1fs  requests %d  %.0f/s  errors %d  p99 %@",
                          scenario, elapsed, total.requests, rate, total.errors, p99)
        if inPlace {
            let padding = String(repeating: " ", count: max(0, lastWidth - line.count))
            lastWidth = line.count
            write("\r" + line + padding)
        } else {
            write(line + "\n")
        }
    }

    func end() {
        if inPlace && lastWidth > 0 { write("\n") }
        lastWidth = 0
    }
}
