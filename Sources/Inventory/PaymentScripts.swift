// The Swift side of paying: lua/wallet_debit.lua and lua/wallet_settle.lua (the wallet's tag) and
// lua/order_confirm.lua (the event's tag). The three share one payment id per order, `pay_<orderId>`, so
// every retry — a client's, a duplicate request's, the reconciler's — drives the same payment.
import Queue
import Runtime
import Scripts

/// Where a user's payments live: beside their wallet, under the shard tag `{uNN}` (UserKeys.tag).
public struct PaymentKeys: Sendable {
    public let tag: String
    public init(tag: String) { self.tag = tag }

    public func payment(_ paymentID: String) -> String { "\(tag):payment:\(paymentID)" }
    /// Payments debited but not settled yet, by debit time: what the reconciler watches.
    public var open: String { "\(tag):payments:open" }
    public var outbox: String { "\(tag):outbox" }
    public func wallet(_ userID: String) -> String { "\(tag):wallet:\(userID)" }
    public func idempotency(_ userID: String, _ key: String) -> String { "\(tag):idem:\(userID):payment:\(key)" }
}

public enum PaymentID {
    public static func of(orderID: String) -> String { "pay_" + orderID }
    public static func orderID(of paymentID: String) -> String? {
        paymentID.hasPrefix("pay_ord_") ? String(paymentID.dropFirst(4)) : nil
    }
}

public enum WalletStep: Equatable, Sendable {
    /// The payment's state after the call (DEBITED, CONFIRMED, REFUNDED) and the balance.
    case state(String, balance: Int64)
    case short(balance: Int64)
    case reused
    case noPayment
}

public enum PaymentScripts {
    public static let debit = LuaScript.named("wallet_debit")
    public static let settle = LuaScript.named("wallet_settle")
    public static let confirm = LuaScript.named("order_confirm")

    public static func debitKeys(_ keys: PaymentKeys, userID: String, paymentID: String, idempotencyKey: String?) -> [String] {
        [keys.wallet(userID), keys.payment(paymentID), keys.open, keys.outbox, keys.idempotency(userID, idempotencyKey ?? "-")]
    }

    public static func debitArguments(userID: String, paymentID: String, amount: Int64, orderID: String, eventID: String,
                                      fingerprint: String, idempotencyKey: String?, ttlSeconds: Int) -> [String] {
        [userID, paymentID, String(amount), orderID, eventID, fingerprint, idempotencyKey == nil ? "" : "1", String(ttlSeconds)]
    }

    public static func settleKeys(_ keys: PaymentKeys, userID: String, paymentID: String) -> [String] {
        [keys.wallet(userID), keys.payment(paymentID), keys.open, keys.outbox]
    }

    public static func confirmKeys(orderID: String, eventID: String) -> [String] {
        let event = EventKeys(eventID: eventID)
        return [event.order(orderID), event.holds, event.outbox, event.active, event.admitted]
    }

    public static func decodeWallet(_ value: RedisValue) -> Result<WalletStep, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("wallet_debit/wallet_settle", reply: value.description)) }
        let balance = items.count > 1 ? items[1].int : nil
        switch kind {
        case "SHORT": if let balance { return .success(.short(balance: balance)) }
        case "REUSED": return .success(.reused)
        case "NO_PAYMENT": return .success(.noPayment)
        case "DEBITED", "CONFIRMED", "REFUNDED": if let balance { return .success(.state(kind, balance: balance)) }
        default: break
        }
        return .failure(ScriptReplyError("wallet_debit/wallet_settle", reply: value.description))
    }

    /// order_confirm.lua: `.success(paidAt)` when PAID for this payment, `.failure(status)` when dead.
    public static func decodeConfirm(_ value: RedisValue) -> Result<Result<Int64, ConfirmRefused>, Error> {
        guard let items = value.array, items.count == 2, let kind = items[0].string else {
            return .failure(ScriptReplyError("order_confirm", reply: value.description))
        }
        if kind == "PAID", let at = items[1].int { return .success(.success(at)) }
        if kind == "DEAD", let status = items[1].string { return .success(.failure(ConfirmRefused(status: status))) }
        return .failure(ScriptReplyError("order_confirm", reply: value.description))
    }
}

/// Why an order could not take a payment: its status (EXPIRED, CANCELLED, PAID by another, NO_ORDER).
public struct ConfirmRefused: Error, Equatable, Sendable {
    public let status: String
}
