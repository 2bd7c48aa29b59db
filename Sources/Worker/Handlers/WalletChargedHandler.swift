// WALLET_CHARGED (lua/wallet_charge.lua) → one `wallet_transactions` row of type CHARGE, ref = chargeId.
// data: {"userId", "amount", "balanceAfter", "chargeId"}.
import Persistence

public struct WalletChargedHandler: OutboxEventHandler {
    public init() {}

    public var eventType: String { "WALLET_CHARGED" }

    public func validate(_ event: OutboxEvent) throws {
        _ = try row(event)
    }

    public func write(_ events: [OutboxEvent], _ db: PostgresConnection) throws -> Int {
        try WalletTransactions.insert(events.map(row), type: "CHARGE", db)
    }

    private func row(_ event: OutboxEvent) throws -> WalletTransactionRow {
        WalletTransactionRow(id: event.id,
                             userID: try WalletTransactions.text(event.data, "userId"),
                             amount: try WalletTransactions.integer(event.data, "amount"),
                             balanceAfter: try WalletTransactions.integer(event.data, "balanceAfter"),
                             ref: try WalletTransactions.text(event.data, "chargeId"),
                             atMilliseconds: event.atMilliseconds)
    }
}
