// Applying a coupon to a payment (API.md "Coupons": used exactly once, PERCENT rounds down, a discount
// never exceeds the amount, below minOrderAmount → COUPON_NOT_USABLE).
//
// The coupon lives under its own tag, the wallet under the user's and the order under its event's, so
// using a coupon is part of the payment flow (PaymentSteps): the discount is computed here from the
// coupon's terms (which never change once created) and debited with the payment, which records the
// coupon; then lua/coupon_reserve.lua sets the coupon aside for that payment (checking everything again,
// atomically), and lua/coupon_settle.lua marks it USED or gives it back. A crash anywhere is finished by
// the reconciler from the payment's record.
import Runtime
import Scripts

/// A coupon as a payment carries it: which one, and the discount it gives on this payment.
public struct PaymentCoupon: Equatable, Sendable {
    public let couponID: String
    public let discount: Int64

    public init(couponID: String, discount: Int64) {
        self.couponID = couponID
        self.discount = discount
    }
}

/// A coupon's terms as Redis holds them (written at creation and by recover).
public struct CouponTerms: Equatable, Sendable {
    public let discountType: String
    public let discountValue: Int64
    public let minOrderAmount: Int64
    public let validFromMs: Int64
    public let validUntilMs: Int64

    public init(discountType: String, discountValue: Int64, minOrderAmount: Int64, validFromMs: Int64, validUntilMs: Int64) {
        self.discountType = discountType
        self.discountValue = discountValue
        self.minOrderAmount = minOrderAmount
        self.validFromMs = validFromMs
        self.validUntilMs = validUntilMs
    }

    /// The discount on `amount`: PERCENT rounds down, and neither kind takes more than the amount.
    /// coupon_reserve.lua computes the same and refuses a payment debited with anything else.
    public func discount(on amount: Int64) -> Int64 {
        let raw = discountType == "PERCENT" ? amount * discountValue / 100 : discountValue
        return min(max(raw, 0), amount)
    }

    /// Why this coupon cannot pay `amount` at `nowMs` in payment `paymentID`, judged by the user's
    /// `holding`; nil when it can (or already does: a repeat of the payment). The reasons are
    /// coupon_reserve.lua's. A quick refusal before any money moves; the script decides.
    public func refusal(amount: Int64, holding: CouponHolding, nowMs: Int64, paymentID: String) -> String? {
        switch holding {
        case .none: return "NOT_ISSUED"
        case .used(_, let by): return by == paymentID ? nil : "USED"
        case .reserved(let by): return by == paymentID ? nil : "IN_USE"
        case .issued: break
        }
        if validFromMs > 0 && nowMs < validFromMs { return "NOT_YET_VALID" }
        if validUntilMs > 0 && nowMs >= validUntilMs { return "EXPIRED" }
        if amount < minOrderAmount { return "BELOW_MINIMUM" }
        return nil
    }
}

/// A user's hold on a coupon, from its state in the holders hash (see coupon_reserve.lua).
public enum CouponHolding: Equatable, Sendable {
    case none
    case issued(atMs: Int64)
    case reserved(paymentID: String)
    case used(atMs: Int64, paymentID: String)

    public init(state: String?) {
        let parts = (state ?? "").split(separator: " ").map(String.init)
        switch (parts.first, parts.count) {
        case ("ISSUED"?, 2...): self = .issued(atMs: Int64(parts[1]) ?? 0)
        case ("RESERVED"?, 3...): self = .reserved(paymentID: parts[2])
        case ("USED"?, 3...): self = .used(atMs: Int64(parts[1]) ?? 0, paymentID: parts[2])
        default: self = .none
        }
    }

    /// The state a recovered holder is written back with (Recovery): ISSUED, or USED by its payment.
    public static func state(issuedAtMs: Int64, usedAtMs: Int64?, paymentID: String?) -> String {
        guard let usedAtMs else { return "ISSUED \(issuedAtMs)" }
        return "USED \(usedAtMs) \(paymentID ?? "-") \(issuedAtMs)"
    }
}

public enum CouponUseScripts {
    public static let reserve = LuaScript.named("coupon_reserve")
    public static let settle = LuaScript.named("coupon_settle")

    /// What the gateway reads before paying with a coupon, in one pipeline: the terms, the user's
    /// holding, and Redis's clock (the window is judged by Redis time, as in the scripts).
    public static func lookupCommands(couponID: String, userID: String) -> [[String]] {
        let keys = CouponKeys(couponID: couponID)
        return [["HMGET", keys.coupon, "discountType", "discountValue", "minOrderAmount", "validFrom", "validUntil"],
                ["HGET", keys.holders, userID],
                ["TIME"]]
    }

    /// The lookup's replies: nil terms when the coupon is not in Redis (unknown, or Redis lost it).
    public static func decodeLookup(_ replies: [RedisValue]) -> (terms: CouponTerms?, holding: CouponHolding, nowMs: Int64)? {
        guard replies.count == 3, case .array(let fields) = replies[0], fields.count == 5,
              case .array(let clock) = replies[2], clock.count == 2, let seconds = clock[0].int, let micros = clock[1].int else { return nil }
        let now = seconds * 1000 + micros / 1000
        let holding = CouponHolding(state: replies[1].string)
        guard let type = fields[0].string, let value = fields[1].int else { return (nil, holding, now) }
        let terms = CouponTerms(discountType: type, discountValue: value, minOrderAmount: fields[2].int ?? 0,
                                validFromMs: fields[3].int ?? 0, validUntilMs: fields[4].int ?? 0)
        return (terms, holding, now)
    }

    public static func reserveKeys(couponID: String) -> [String] {
        let keys = CouponKeys(couponID: couponID)
        return [keys.coupon, keys.holders, keys.refusals]
    }

    public static func reserveArguments(userID: String, paymentID: String, grossAmount: Int64, discount: Int64) -> [String] {
        [userID, paymentID, String(grossAmount), String(discount)]
    }

    /// nil when reserved for the payment; the refusal's reason otherwise.
    public static func decodeReserve(_ value: RedisValue) -> Result<String?, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("coupon_reserve", reply: value.description)) }
        if kind == "RESERVED" { return .success(nil) }
        if kind == "REFUSED", items.count == 2, let reason = items[1].string { return .success(reason) }
        return .failure(ScriptReplyError("coupon_reserve", reply: value.description))
    }

    public static func settleKeys(couponID: String) -> [String] {
        let keys = CouponKeys(couponID: couponID)
        return [keys.holders, keys.outbox]
    }

    /// `use`: USE after the payment went through, RELEASE when it did not.
    public static func settleArguments(couponID: String, userID: String, paymentID: String, use: Bool, ref: String, discount: Int64) -> [String] {
        [couponID, userID, paymentID, use ? "USE" : "RELEASE", ref, String(discount)]
    }
}
