// Before a payment names a coupon: reads its terms, the payer's holding and Redis's clock in one
// pipeline, refuses a coupon that plainly cannot pay (not theirs, used, in use, out of its window, order
// below its minimum) before any money moves, and computes the discount the payment is debited with.
// coupon_reserve.lua checks all of it again atomically inside the payment (PaymentSteps); this only
// spares the wallet a debit and refund for a request that could never succeed.
import Inventory
import JSON

enum CouponCheck {
    /// The `couponId` of a body: nil when absent or null; 400 when not a string.
    static func couponID(in body: JSONObject) throws -> String? {
        switch body["couponId"] {
        case nil, .null?: return nil
        case .string(let id)?: return id
        default: throw APIError.validation("couponId", "couponId must be a string")
        }
    }

    /// Calls `next` with the coupon and its discount on `amount` for the payment of `ref`; hands a
    /// refusal to `onRefusal`.
    static func discount(_ request: APIRequest, couponID: String, userID: String, ref: String, amount: Int64,
                         onRefusal: @escaping (APIError) -> Void, _ next: @escaping (PaymentCoupon) -> Void) {
        guard CouponID.isWellFormed(couponID) else { return onRefusal(error(couponID: couponID, reason: "NO_COUPON")) }
        request.pipeline(CouponUseScripts.lookupCommands(couponID: couponID, userID: userID)) { replies in
            guard case .success(let values) = replies, let lookup = CouponUseScripts.decodeLookup(values) else {
                return onRefusal(APIError.from(replies.failureError))
            }
            guard let terms = lookup.terms else {
                // Not in Redis: unknown, or Redis lost it (then PostgreSQL knows it and recover brings it back).
                return request.postgres({ db in try CouponStore.find(ids: [couponID], db).isEmpty }) { unknown in
                    onRefusal((try? unknown.get()) == false ? CouponRoutes.notLoaded : error(couponID: couponID, reason: "NO_COUPON"))
                }
            }
            if let reason = terms.refusal(amount: amount, holding: lookup.holding, nowMs: lookup.nowMs, paymentID: PaymentID.of(ref: ref)) {
                return onRefusal(error(couponID: couponID, reason: reason, minimum: terms.minOrderAmount, amount: amount))
            }
            next(PaymentCoupon(couponID: couponID, discount: terms.discount(on: amount)))
        }
    }

    /// The API's answer to a refusal of coupon_reserve.lua (or of the check above).
    static func error(couponID: String, reason: String, minimum: Int64? = nil, amount: Int64? = nil) -> APIError {
        var details: JSONObject = ["couponId": .string(couponID), "reason": .string(reason)]
        let message: String
        switch reason {
        case "NO_COUPON": return APIError.notFound("coupon").with(details: ["resource": "coupon", "couponId": .string(couponID)])
        case "EXPIRED": return APIError(410, "COUPON_EXPIRED", "this coupon is no longer valid", details: details)
        case "NOT_ISSUED": message = "this coupon was not issued to you"
        case "USED": message = "this coupon was already used"
        case "IN_USE": message = "this coupon is being used by another payment"
        case "NOT_YET_VALID": message = "this coupon is not valid yet"
        case "BELOW_MINIMUM":
            message = "the amount is below the coupon's minimum order amount"
            if let minimum { details["minOrderAmount"] = .int(minimum) }
            if let amount { details["amount"] = .int(amount) }
        default: message = "this coupon cannot be used for this payment"
        }
        return APIError(409, "COUPON_NOT_USABLE", message, details: details)
    }
}
