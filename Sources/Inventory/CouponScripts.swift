// First-come coupons in Redis: each coupon under its own hash tag `{cp:<couponId>}` — its remaining
// count and window, its holders, its outbox stream — so lua/coupon_issue.lua decides one issue in one call.
import Foundation
import JSON
import Runtime
import Scripts

public struct CouponKeys: Sendable {
    public let couponID: String
    public let tag: String

    public init(couponID: String) {
        self.couponID = couponID
        tag = "{cp:\(couponID)}"
    }

    public var coupon: String { "\(tag):coupon" }
    public var holders: String { "\(tag):holders" }
    public var outbox: String { "\(tag):outbox" }
    /// Payments refused the coupon (coupon_reserve.lua): paymentId → reason, final for that payment.
    public var refusals: String { "\(tag):refusals" }
}

/// A coupon's definition (API.md "Coupons"), checked field by field at creation.
public struct CouponDraft: Equatable, Sendable {
    public var name: String
    public var discountType: String
    public var discountValue: Int64
    public var quantity: Int64
    public var validFromMs: Int64?
    public var validUntilMs: Int64?
    public var minOrderAmount: Int64

    public struct Invalid: Error, Equatable {
        public let field: String
        public let message: String
    }

    public init(name: String, discountType: String, discountValue: Int64, quantity: Int64, validFromMs: Int64?, validUntilMs: Int64?,
                minOrderAmount: Int64) {
        self.name = name
        self.discountType = discountType
        self.discountValue = discountValue
        self.quantity = quantity
        self.validFromMs = validFromMs
        self.validUntilMs = validUntilMs
        self.minOrderAmount = minOrderAmount
    }

    public init(_ body: JSONObject) throws {
        guard case .string(let raw)? = body["name"], case let name = raw.trimmingCharacters(in: .whitespacesAndNewlines),
              (1...200).contains(name.count) else {
            throw Invalid(field: "name", message: "name must be a string of 1 to 200 characters")
        }
        guard case .string(let type)? = body["discountType"], type == "AMOUNT" || type == "PERCENT" else {
            throw Invalid(field: "discountType", message: "discountType must be \"AMOUNT\" or \"PERCENT\"")
        }
        let valueRange: ClosedRange<Int64> = type == "PERCENT" ? 1...100 : 1...100_000_000
        guard case .int(let value)? = body["discountValue"], valueRange.contains(value) else {
            throw Invalid(field: "discountValue", message: "discountValue must be an integer from \(valueRange.lowerBound) to \(valueRange.upperBound) for \(type)")
        }
        guard case .int(let quantity)? = body["quantity"], (1...10_000_000).contains(quantity) else {
            throw Invalid(field: "quantity", message: "quantity must be an integer from 1 to 10000000")
        }
        func time(_ key: String) throws -> Int64? {
            switch body[key] {
            case nil, .null?: return nil
            case .string(let text)?:
                guard let ms = Timestamp.parseRFC3339(text) else { throw Invalid(field: key, message: "\(key) must be an RFC 3339 time") }
                return ms
            default: throw Invalid(field: key, message: "\(key) must be an RFC 3339 time string")
            }
        }
        let from = try time("validFrom"), until = try time("validUntil")
        if let from, let until, until <= from { throw Invalid(field: "validUntil", message: "validUntil must be after validFrom") }
        var minimum: Int64 = 0
        switch body["minOrderAmount"] {
        case nil, .null?: break
        case .int(let amount)? where (0...1_000_000_000).contains(amount): minimum = amount
        default: throw Invalid(field: "minOrderAmount", message: "minOrderAmount must be an integer from 0 to 1000000000")
        }
        self.init(name: name, discountType: type, discountValue: value, quantity: quantity, validFromMs: from, validUntilMs: until,
                  minOrderAmount: minimum)
    }
}

public enum CouponIssueReply: Equatable, Sendable {
    case issued(atMs: Int64)
    /// NO_COUPON, NOT_YET_VALID, EXPIRED, ALREADY_ISSUED or SOLD_OUT.
    case refused(String)
}

public struct CouponScripts {
    public static let issue = LuaScript.named("coupon_issue")

    public let keys: CouponKeys
    public init(couponID: String) { keys = CouponKeys(couponID: couponID) }

    /// The commands that put a new coupon's live state in Redis (never resetting `remaining` once set):
    /// the window and the terms coupon_reserve.lua checks a payment against.
    public func create(_ draft: CouponDraft) -> [[String]] {
        [["HSET", keys.coupon, "validFrom", String(draft.validFromMs ?? 0), "validUntil", String(draft.validUntilMs ?? 0),
          "quantity", String(draft.quantity), "discountType", draft.discountType, "discountValue", String(draft.discountValue),
          "minOrderAmount", String(draft.minOrderAmount)],
         ["HSETNX", keys.coupon, "remaining", String(draft.quantity)]]
    }

    public func issue(userID: String, on redis: RedisConnection, completion: @escaping (Result<CouponIssueReply, Error>) -> Void) {
        redis.run(Self.issue, keys: [keys.coupon, keys.holders, keys.outbox],
                  arguments: [keys.couponID, userID, "iss_\(keys.couponID)_\(userID)"]) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    static func decode(_ value: RedisValue) -> Result<CouponIssueReply, Error> {
        guard let items = value.array, items.count >= 2, let kind = items[0].string else {
            return .failure(ScriptReplyError("coupon_issue", reply: value.description))
        }
        if kind == "ISSUED", let at = items[1].int { return .success(.issued(atMs: at)) }
        if kind == "REFUSED", let reason = items[1].string { return .success(.refused(reason)) }
        return .failure(ScriptReplyError("coupon_issue", reply: value.description))
    }
}
