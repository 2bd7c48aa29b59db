// A latency histogram in the manner of HdrHistogram: log-linear buckets, so every recorded value is kept
// within a fixed relative precision whatever its size, in a few kilobytes, with O(1) recording.
//
// Values (microseconds) below 128 get a bucket each. Above, each power of two [2^e, 2^(e+1)) is cut into
// 64 equal sub-buckets, so a bucket is at most 1/64 (1.6 %) of its values wide. The index of v ≥ 128 is
// (e − 6) · 64 + (v >> (e − 6)), where e = ⌊log2 v⌋: the top seven bits of v select the sub-bucket,
// and the block of 64 moves up one per power of two. The indices run on without a gap from the exact
// range (v = 128 → 128).
//
// A percentile is reported as the highest value its bucket can hold (as HdrHistogram does), never above
// the largest value actually recorded, so p100 is the exact maximum. Merging is adding bucket counts,
// which lets every loop keep its own histogram without a lock and the report add them up afterwards.
public struct LatencyHistogram: Equatable {
    static let subBucketBits = 6
    static let subBucketCount = 1 << subBucketBits  // 64 per power of two
    static let exactLimit: Int64 = 2 << subBucketBits  // 128: below this, one bucket per value
    /// Values above this (about 12.7 days in microseconds) are recorded as this.
    public static let highestTrackable: Int64 = 1 << 40

    private(set) var counts: [Int64]
    public private(set) var count: Int64 = 0
    public private(set) var min: Int64 = .max
    public private(set) var max: Int64 = 0
    private var sum: Double = 0

    public init() {
        counts = [Int64](repeating: 0, count: Self.index(of: Self.highestTrackable) + 1)
    }

    public var isEmpty: Bool { count == 0 }
    public var mean: Double { count == 0 ? 0 : sum / Double(count) }

    static func index(of value: Int64) -> Int {
        if value < exactLimit { return Int(Swift.max(0, value)) }
        let exponent = 63 - value.leadingZeroBitCount
        let shift = exponent - subBucketBits
        return shift * subBucketCount + Int(value >> Int64(shift))
    }

    /// The smallest value that lands in bucket `index`.
    static func lowestValue(at index: Int) -> Int64 {
        if index < Int(exactLimit) { return Int64(index) }
        let shift = index / subBucketCount - 1
        let mantissa = Int64(index % subBucketCount + subBucketCount)
        return mantissa << Int64(shift)
    }

    /// The largest value that lands in bucket `index`.
    static func highestValue(at index: Int) -> Int64 { lowestValue(at: index + 1) - 1 }

    public mutating func record(_ value: Int64) {
        let clamped = Swift.min(Swift.max(value, 0), Self.highestTrackable)
        counts[Self.index(of: clamped)] += 1
        count += 1
        sum += Double(clamped)
        if clamped < min { min = clamped }
        if clamped > max { max = clamped }
    }

    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for i in counts.indices where other.counts[i] != 0 { counts[i] += other.counts[i] }
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The value below or at which `fraction` (0...1) of the recorded values lie; 0 when empty.
    public func value(atFraction fraction: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, Int64((fraction * Double(count)).rounded(.up)))
        var seen: Int64 = 0
        for (i, n) in counts.enumerated() where n != 0 {
            seen += n
            if seen >= rank { return Swift.min(Self.highestValue(at: i), max) }
        }
        return max
    }

    /// `value(atFraction:)` for a percentile given as 0...100.
    public func percentile(_ p: Double) -> Int64 { value(atFraction: p / 100) }
}
