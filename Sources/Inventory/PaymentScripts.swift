// The Swift side of paying: lua/wallet_debit.lua and lua/wallet_settle.lua (the wallet's tag) and
// lua/order_confirm.lua (the event's tag). The three share one payment id per order, `pay_<orderId>`, so
// every retry — a client's, a duplicate request's, the reconciler's — drives the same payment.
import Queue
import Runtime
import Scripts

/// Where a user's payments live: beside their wallet, under the shard tag `{uNN}` (UserKeys.tag).
public struct PaymentKeys: Equatable, Sendable {
    public let tag: String
    public init(tag: String) { self.tag = tag }

    public func payment(_ paymentID: String) -> String { "\(tag):payment:\(paymentID)" }
    /// Payments debited but not settled yet, by debit time: what the reconciler watches.
    public var open: String { "\(tag):payments:open" }
    public var outbox: String { "\(tag):outbox" }
    public func wallet(_ userID: String) -> String { "\(tag):wallet:\(userID)" }
    public func idempotency(_ userID: String, _ key: String) -> String { "\(tag):idem:\(userID):payment:\(key)" }
}

/// A payment's id: `pay_` and what it pays for (an order id; a reservation id with concerts), so every
/// driver of one payment — the request, its retries, the reconciler — names the same payment.
public enum PaymentID {
    public static func of(ref: String) -> String { "pay_" + ref }
}

/// What wallet_debit.lua answered.
public enum DebitStep: Equatable, Sendable {
    /// The payment exists (now or before): its state (DEBITED, CONFIRMED, REFUNDED), the balance, the
    /// coupon it was first debited with (whatever this call asked for) and, when refunded, why.
    case payment(state: String, balance: Int64, coupon: PaymentCoupon?, refundReason: String)
    case short(balance: Int64)
    case reused
}

/// What a payment pays for, on the event's side: an order or a seat reservation. Its confirm script
/// (order_confirm.lua, reservation_confirm.lua) takes (ref, paymentId, userId, discount, couponId) and
/// answers {"PAID", at} or {"DEAD", status}.
public struct PaymentTarget: Equatable, Sendable {
    public let ref: String
    public let eventID: String
    public let confirm: LuaScript
    public let confirmKeys: [String]

    public init(order: OrderRecord) {
        self.init(orderID: order.orderID, eventID: order.eventID)
    }

    public init(orderID: String, eventID: String) {
        ref = orderID
        self.eventID = eventID
        confirm = PaymentScripts.confirm
        confirmKeys = PaymentScripts.confirmKeys(orderID: orderID, eventID: eventID)
    }

    public init(reservation: ReservationRecord) {
        ref = reservation.reservationID
        eventID = reservation.eventID
        confirm = ReservationConfirm.script
        confirmKeys = ReservationConfirm.keys(reservation)
    }

    /// A reservation whose record Redis no longer holds: reservation_confirm.lua answers DEAD NO_RESERVATION
    /// before it reads any seat key, so the seat keys only need the event's tag.
    public init(lostReservation reservationID: String, eventID: String, userID: String) {
        ref = reservationID
        self.eventID = eventID
        confirm = ReservationConfirm.script
        let event = EventKeys(eventID: eventID)
        confirmKeys = [event.reservation(reservationID), event.holds, event.outbox, event.active, event.admitted,
                       event.seats("-"), event.seatsOfUser("-", userID)]
    }
}

/// What wallet_settle.lua answered.
public enum WalletStep: Equatable, Sendable {
    /// The payment's state after the call (CONFIRMED or REFUNDED) and the balance.
    case state(String, balance: Int64)
    case noPayment
}

public enum PaymentScripts {
    public static let debit = LuaScript.named("wallet_debit")
    public static let settle = LuaScript.named("wallet_settle")
    public static let confirm = LuaScript.named("order_confirm")

    public static func debitKeys(_ keys: PaymentKeys, userID: String, paymentID: String, idempotencyKey: String?) -> [String] {
        [keys.wallet(userID), keys.payment(paymentID), keys.open, keys.outbox, keys.idempotency(userID, idempotencyKey ?? "-")]
    }

    /// `amount` is what the wallet pays: the gross amount less the coupon's discount.
    public static func debitArguments(userID: String, paymentID: String, amount: Int64, ref: String, eventID: String,
                                      fingerprint: String, idempotencyKey: String?, ttlSeconds: Int, coupon: PaymentCoupon?) -> [String] {
        [userID, paymentID, String(amount), ref, eventID, fingerprint, idempotencyKey == nil ? "" : "1", String(ttlSeconds),
         coupon?.couponID ?? "", String(coupon?.discount ?? 0)]
    }

    public static func decodeDebit(_ value: RedisValue) -> Result<DebitStep, Error> {
        let failure = Result<DebitStep, Error>.failure(ScriptReplyError("wallet_debit", reply: value.description))
        guard let items = value.array, let kind = items.first?.string else { return failure }
        switch kind {
        case "REUSED": return .success(.reused)
        case "SHORT": return items.count == 2 && items[1].int != nil ? .success(.short(balance: items[1].int!)) : failure
        default:
            guard items.count == 5, let balance = items[1].int, let couponID = items[2].string, let discount = items[3].int,
                  let reason = items[4].string else { return failure }
            let coupon = couponID.isEmpty ? nil : PaymentCoupon(couponID: couponID, discount: discount)
            return .success(.payment(state: kind, balance: balance, coupon: coupon, refundReason: reason))
        }
    }

    public static func settleKeys(_ keys: PaymentKeys, userID: String, paymentID: String) -> [String] {
        [keys.wallet(userID), keys.payment(paymentID), keys.open, keys.outbox]
    }

    public static func confirmKeys(orderID: String, eventID: String) -> [String] {
        let event = EventKeys(eventID: eventID)
        return [event.order(orderID), event.holds, event.outbox, event.active, event.admitted]
    }

    /// `refundReason` is kept on a refunded payment ("DEAD <status>" or "COUPON <reason>").
    public static func settleArguments(paymentID: String, confirm: Bool, refundReason: String) -> [String] {
        [paymentID, confirm ? "CONFIRM" : "REFUND", refundReason]
    }

    public static func decodeWallet(_ value: RedisValue) -> Result<WalletStep, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("wallet_settle", reply: value.description)) }
        let balance = items.count > 1 ? items[1].int : nil
        switch kind {
        case "NO_PAYMENT": return .success(.noPayment)
        case "DEBITED", "CONFIRMED", "REFUNDED": if let balance { return .success(.state(kind, balance: balance)) }
        default: break
        }
        return .failure(ScriptReplyError("wallet_settle", reply: value.description))
    }

    /// A confirm script's reply (order_confirm.lua, reservation_confirm.lua: the same shapes):
    /// `.success(paidAt)` when paid by this payment, `.failure(status)` when the target cannot take it.
    public static func decodeConfirm(_ value: RedisValue, script: String = "order_confirm") -> Result<Result<Int64, ConfirmRefused>, Error> {
        guard let items = value.array, items.count == 2, let kind = items[0].string else {
            return .failure(ScriptReplyError(script, reply: value.description))
        }
        if kind == "PAID", let at = items[1].int { return .success(.success(at)) }
        if kind == "DEAD", let status = items[1].string { return .success(.failure(ConfirmRefused(status: status))) }
        return .failure(ScriptReplyError(script, reply: value.description))
    }
}

/// Why an order could not take a payment: its status (EXPIRED, CANCELLED, PAID by another, NO_ORDER).
public struct ConfirmRefused: Error, Equatable, Sendable {
    public let status: String
}
