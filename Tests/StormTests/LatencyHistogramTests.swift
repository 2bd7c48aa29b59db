// The storm's log-linear histogram, without sockets: bucket boundaries, precision, percentiles, merging.
@testable import Storm
import XCTest

final class LatencyHistogramTests: XCTestCase {
    func testSmallValuesAreExact() {
        var histogram = LatencyHistogram()
        for value in [0, 1, 5, 127] as [Int64] { histogram.record(value) }
        XCTAssertEqual(histogram.value(atFraction: 0.25), 0)
        XCTAssertEqual(histogram.value(atFraction: 0.5), 1)
        XCTAssertEqual(histogram.value(atFraction: 0.75), 5)
        XCTAssertEqual(histogram.value(atFraction: 1), 127)
        XCTAssertEqual(histogram.min, 0)
        XCTAssertEqual(histogram.max, 127)
    }

    func testBucketsTileTheRangeWithoutGapsOrOverlap() {
        var previousHighest: Int64 = -1
        for index in 0..<LatencyHistogram.index(of: LatencyHistogram.highestTrackable) {
            let lowest = LatencyHistogram.lowestValue(at: index)
            XCTAssertEqual(lowest, previousHighest + 1, "bucket \(index) starts right after the one before")
            XCTAssertEqual(LatencyHistogram.index(of: lowest), index)
            let highest = LatencyHistogram.highestValue(at: index)
            XCTAssertEqual(LatencyHistogram.index(of: highest), index)
            // The promised precision: a bucket is at most 1/64 of its values wide.
            XCTAssertLessThanOrEqual(Double(highest - lowest + 1), max(1, Double(lowest) / 64))
            previousHighest = highest
        }
    }

    func testPercentilesOfAUniformSpreadStayWithinThePrecision() {
        var histogram = LatencyHistogram()
        for value in 1...100_000 as ClosedRange<Int64> { histogram.record(value) }
        for (fraction, exact) in [(0.5, 50_000.0), (0.9, 90_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let reported = Double(histogram.value(atFraction: fraction))
            XCTAssertGreaterThanOrEqual(reported, exact, "p\(fraction * 100) is never below the true value")
            XCTAssertLessThanOrEqual(reported, exact * (1 + 1.0 / 64), "p\(fraction * 100) within 1/64")
        }
        XCTAssertEqual(histogram.value(atFraction: 1), 100_000, "the maximum is exact")
        XCTAssertEqual(histogram.count, 100_000)
        XCTAssertEqual(histogram.mean, 50_000.5, accuracy: 0.001)
    }

    func testASingleOutlierIsTheMaximumAndNotTheP99() {
        var histogram = LatencyHistogram()
        for _ in 0..<999 { histogram.record(1_000) }
        histogram.record(5_000_000)
        XCTAssertLessThanOrEqual(histogram.percentile(99), 1_015)
        XCTAssertEqual(histogram.percentile(100), 5_000_000)
        XCTAssertEqual(histogram.percentile(99.95), 5_000_000)
    }

    func testMergingEqualsRecordingEverythingInOne() {
        var a = LatencyHistogram(), b = LatencyHistogram(), all = LatencyHistogram()
        for value in stride(from: Int64(3), to: 2_000_000, by: 7_919) {
            if value % 2 == 0 { a.record(value) } else { b.record(value) }
            all.record(value)
        }
        a.merge(b)
        XCTAssertEqual(a, all)
        XCTAssertEqual(a.percentile(50), all.percentile(50))
    }

    func testEmptyAndOutOfRangeValues() {
        var histogram = LatencyHistogram()
        XCTAssertEqual(histogram.percentile(99), 0)
        XCTAssertTrue(histogram.isEmpty)
        histogram.record(-5)
        histogram.record(LatencyHistogram.highestTrackable * 4)
        XCTAssertEqual(histogram.min, 0)
        XCTAssertEqual(histogram.max, LatencyHistogram.highestTrackable)
    }
}
