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
                             userID: try Payload.text(event.data, "userId"),
                             amount: try Payload.integer(event.data, "amount"),
                             balanceAfter: try Payload.integer(event.data, "balanceAfter"),
                             ref: try Payload.text(event.data, "chargeId"),
                             atMilliseconds: event.atMilliseconds)
    }
}
