// WALLET_DEBITED and WALLET_REFUNDED (wallet_debit.lua, wallet_settle.lua) → `wallet_transactions` rows
// of type PAYMENT and REFUND, ref = the order id. data: {"userId", "amount", "balanceAfter", "paymentId", "ref"}.
import Persistence

public struct WalletMovementHandler: OutboxEventHandler {
    public let eventType: String
    let transactionType: String

    public static let debited = WalletMovementHandler(eventType: "WALLET_DEBITED", transactionType: "PAYMENT")
    public static let refunded = WalletMovementHandler(eventType: "WALLET_REFUNDED", transactionType: "REFUND")

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        try WalletTransactions.insert(events.map(row), type: transactionType, db)
    }

    private func row(_ event: OutboxEvent) throws -> WalletTransactionRow {
        WalletTransactionRow(id: event.id, userID: try Payload.text(event.data, "userId"),
                             amount: try Payload.integer(event.data, "amount"),
                             balanceAfter: try Payload.integer(event.data, "balanceAfter"),
                             ref: try Payload.text(event.data, "ref"), atMilliseconds: event.atMilliseconds)
    }
}
