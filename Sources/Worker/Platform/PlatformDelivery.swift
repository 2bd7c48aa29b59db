// What the data platform receives for an outbox event (API.md "Data platform"), and what its answer
// means. Pure: the feed (PlatformFeed.swift) does the I/O.
//
// The body is built from the event's own `data`, never from a second read of Redis: the outbox entry is
// the fact that was committed, and reading live state later could describe a different moment.
import JSON
import Runtime

public enum PlatformDelivery {
    /// Types delivered; every other entry is acknowledged by the platform group at once.
    public static let deliveredTypes: Set<String> = ["ORDER_PAID", "RESERVATION_CONFIRMED"]

    /// The POST body for `event` of a delivered type. Throws OutboxDecodeError when the payload lacks
    /// what the body needs: the same bytes would fail the same way on every attempt.
    public static func body(for event: OutboxEvent) throws -> [UInt8] {
        let data = event.data
        var body = JSONObject()
        body["type"] = .string(event.type)
        switch event.type {
        case "ORDER_PAID":
            body["id"] = .string(try required(data, "orderId"))
            body["userId"] = .string(try required(data, "userId"))
            let total = try requiredInteger(data, "totalAmount")
            let discount = try Payload.integer(data, "discountAmount") ?? 0
            // paidAmount is what the wallet was debited; older entries lack it and paid total − discount.
            body["amount"] = .int(try Payload.integer(data, "paidAmount") ?? total - discount)
            guard case .array(let items)? = data["items"], !items.isEmpty else {
                throw OutboxDecodeError("data.items must be a non-empty array")
            }
            body["items"] = .array(items)
            body["paidAt"] = .string(Timestamp.rfc3339(millis: try requiredInteger(data, "paidAt")))
            body["totalAmount"] = .int(total)
            if data["discountAmount"] != nil { body["discountAmount"] = .int(discount) }
            copyText(data, ["eventId", "paymentId", "couponId"], into: &body)
        case "RESERVATION_CONFIRMED":
            body["id"] = .string(try required(data, "reservationId"))
            body["userId"] = .string(try required(data, "userId"))
            let amount = try requiredInteger(data, "amount")
            body["amount"] = .int(try Payload.integer(data, "paidAmount") ?? amount)
            body["seat"] = .object(["performanceId": .string(try required(data, "performanceId")),
                                    "seatNo": try seatNumber(data)])
            body["paidAt"] = .string(Timestamp.rfc3339(millis: try requiredInteger(data, "paidAt")))
            if let discount = try Payload.integer(data, "discountAmount") { body["discountAmount"] = .int(discount) }
            copyText(data, ["eventId", "paymentId", "couponId"], into: &body)
        default:
            throw OutboxDecodeError("\(event.type) is not delivered to the data platform")
        }
        return JSONValue.object(body).encoded()
    }

    /// What to do after the receiver answered `status`.
    public enum Verdict: Equatable {
        /// 2xx, or 409: the receiver has it (409 is its "duplicate" answer to a repeated Idempotency-Key).
        case delivered
        /// 408, 429, 5xx: try again later; does not count towards K.
        case retry
        /// Any other 4xx (or an unexpected 1xx/3xx): the receiver refuses this delivery; K of them and the
        /// entry goes to the dead-letter stream.
        case refused
    }

    public static func verdict(status: Int) -> Verdict {
        switch status {
        case 200..<300, 409: return .delivered
        case 408, 429, 500..<600: return .retry
        default: return .refused
        }
    }

    // MARK: - Payload members

    private static func required(_ data: JSONObject, _ key: String) throws -> String {
        guard let value = try Payload.text(data, key), !value.isEmpty else { throw OutboxDecodeError("data.\(key) is missing") }
        return value
    }

    private static func requiredInteger(_ data: JSONObject, _ key: String) throws -> Int64 {
        guard let value = try Payload.integer(data, key) else { throw OutboxDecodeError("data.\(key) is missing") }
        return value
    }

    /// Seat numbers are passed through as the event wrote them (a string like "A-12", or an integer).
    private static func seatNumber(_ data: JSONObject) throws -> JSONValue {
        switch data["seatNo"] {
        case .string(let text)? where !text.isEmpty: return .string(text)
        case .int(let number)?: return .int(number)
        default: throw OutboxDecodeError("data.seatNo is missing")
        }
    }

    private static func copyText(_ data: JSONObject, _ keys: [String], into body: inout JSONObject) {
        for key in keys { if case .string(let value)? = data[key] { body[key] = .string(value) } }
    }
}

/// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the
/// n-th retry waits a uniformly random time in [0, min(cap, base · 2^(n-1))]. Full jitter spreads the
/// retries of many entries that failed together (the receiver went down) instead of sending them back
/// in one wave when it returns.
public struct PlatformBackoff: Equatable, Sendable {
    public var baseMilliseconds: Int
    public var capMilliseconds: Int

    public init(baseMilliseconds: Int = 100, capMilliseconds: Int = 30_000) {
        self.baseMilliseconds = max(1, baseMilliseconds)
        self.capMilliseconds = max(self.baseMilliseconds, capMilliseconds)
    }

    /// The upper bound of the wait before retry number `retry` (1 = the first retry).
    public func ceiling(retry: Int) -> Int {
        let doublings = min(max(0, retry - 1), 30)
        return min(capMilliseconds, baseMilliseconds << doublings)
    }

    /// A wait for retry number `retry`, uniformly random in 0...ceiling.
    public func delay<R: RandomNumberGenerator>(retry: Int, using random: inout R) -> Int {
        Int.random(in: 0...ceiling(retry: retry), using: &random)
    }

    public func delay(retry: Int) -> Int {
        var random = SystemRandomNumberGenerator()
        return delay(retry: retry, using: &random)
    }
}
