// The steps of a payment after its debit, as a state machine both drivers share: the gateway (async, on
// its loop, right after the debit) and the worker's reconciler (blocking, for a payment a crash left
// DEBITED). It does no I/O: `start()` and `next(_:)` return the script to run next or the end, and the
// driver runs it and feeds the reply back. Every step is idempotent per payment id, so any number of
// drivers may push one payment at once and they all reach the same end.
//
//   with a coupon:  coupon_reserve ─RESERVED→ confirm ─PAID→ coupon_settle USE     → wallet_settle CONFIRM
//                        │                           └DEAD→ coupon_settle RELEASE → wallet_settle REFUND
//                        └REFUSED→ wallet_settle REFUND
//   without:        confirm ─PAID→ wallet_settle CONFIRM;  ─DEAD→ wallet_settle REFUND
//
// The wallet settles last: the payment stays in the open set (what the reconciler watches) until every
// other tag is settled, so a crash at any point leaves it for the reconciler to finish.
import Runtime
import Scripts

public struct PaymentSteps {
    public struct Payment: Equatable, Sendable {
        public let paymentID: String
        public let userID: String
        /// The payer's shard (their wallet, the payment, the open set).
        public let keys: PaymentKeys
        public let target: PaymentTarget
        /// The amount before the discount; the wallet was debited `grossAmount − coupon.discount`.
        public let grossAmount: Int64
        public let coupon: PaymentCoupon?

        public init(paymentID: String, userID: String, keys: PaymentKeys, target: PaymentTarget, grossAmount: Int64, coupon: PaymentCoupon?) {
            self.paymentID = paymentID
            self.userID = userID
            self.keys = keys
            self.target = target
            self.grossAmount = grossAmount
            self.coupon = coupon
        }
    }

    public enum End: Equatable, Sendable {
        case paid(paidAt: Int64)
        /// The target could not take the payment (its status: EXPIRED, CANCELLED, PAID by another…); refunded.
        case dead(status: String)
        /// coupon_reserve.lua refused the coupon (its reason); refunded.
        case couponRefused(reason: String)
    }

    public enum Action: Equatable {
        case run(LuaScript, keys: [String], arguments: [String])
        /// Done: how it ended, and the wallet's balance after the last step.
        case finished(End, balance: Int64?)
    }

    private enum State {
        case idle, reserving, confirming, settlingCoupon, settlingWallet, done
    }

    public let payment: Payment
    private var state = State.idle
    private var end: End?

    public init(_ payment: Payment) { self.payment = payment }

    public mutating func start() -> Action {
        precondition(state == .idle, "a payment's steps start once")
        if let coupon = payment.coupon {
            state = .reserving
            return .run(CouponUseScripts.reserve, keys: CouponUseScripts.reserveKeys(couponID: coupon.couponID),
                        arguments: CouponUseScripts.reserveArguments(userID: payment.userID, paymentID: payment.paymentID,
                                                                     grossAmount: payment.grossAmount, discount: coupon.discount))
        }
        return confirm()
    }

    /// The reply of the script `start()` or the previous `next` asked for.
    public mutating func next(_ reply: RedisValue) throws -> Action {
        switch state {
        case .reserving:
            if let reason = try CouponUseScripts.decodeReserve(reply).get() {
                end = .couponRefused(reason: reason)
                return settleWallet()
            }
            return confirm()
        case .confirming:
            switch try PaymentScripts.decodeConfirm(reply, script: payment.target.confirm.name).get() {
            case .success(let paidAt): end = .paid(paidAt: paidAt)
            case .failure(let refused): end = .dead(status: refused.status)
            }
            guard let coupon = payment.coupon else { return settleWallet() }
            state = .settlingCoupon
            return .run(CouponUseScripts.settle, keys: CouponUseScripts.settleKeys(couponID: coupon.couponID),
                        arguments: CouponUseScripts.settleArguments(couponID: coupon.couponID, userID: payment.userID,
                                                                    paymentID: payment.paymentID, use: isPaid,
                                                                    ref: payment.target.ref, discount: coupon.discount))
        case .settlingCoupon:
            return settleWallet()
        case .settlingWallet:
            state = .done
            var balance: Int64?
            if case .state(_, let after) = try PaymentScripts.decodeWallet(reply).get() { balance = after }
            return .finished(end!, balance: balance)
        case .idle, .done:
            preconditionFailure("next(_:) without a step in flight")
        }
    }

    private var isPaid: Bool {
        if case .paid? = end { return true }
        return false
    }

    private mutating func confirm() -> Action {
        state = .confirming
        return .run(payment.target.confirm, keys: payment.target.confirmKeys,
                    arguments: [payment.target.ref, payment.paymentID, payment.userID,
                                String(payment.coupon?.discount ?? 0), payment.coupon?.couponID ?? ""])
    }

    private mutating func settleWallet() -> Action {
        state = .settlingWallet
        let reason: String
        switch end! {
        case .paid: reason = ""
        case .dead(let status): reason = "DEAD \(status)"
        case .couponRefused(let why): reason = "COUPON \(why)"
        }
        return .run(PaymentScripts.settle, keys: PaymentScripts.settleKeys(payment.keys, userID: payment.userID, paymentID: payment.paymentID),
                    arguments: PaymentScripts.settleArguments(paymentID: payment.paymentID, confirm: isPaid, refundReason: reason))
    }

    /// How a payment that was refunded before ended, from the reason wallet_settle.lua kept.
    public static func endOfRefund(reason: String) -> End {
        if reason.hasPrefix("COUPON ") { return .couponRefused(reason: String(reason.dropFirst(7))) }
        if reason.hasPrefix("DEAD ") { return .dead(status: String(reason.dropFirst(5))) }
        return .dead(status: "EXPIRED")
    }
}
