// Rows of `wallet_transactions` (migration 2), shared by the wallet event handlers: WALLET_CHARGED now,
// payments and refunds later. One INSERT … SELECT FROM unnest(arrays) per batch — a single round trip
// and a single statement plan however many rows — keyed by the event id.
import JSON
import Persistence

public struct WalletTransactionRow {
    public var id: String
    public var userID: String?
    public var amount: Int64?
    public var balanceAfter: Int64?
    public var ref: String?
    public var atMilliseconds: Int64
}

public enum WalletTransactions {
    /// Inserts `rows` of `type` (CHARGE, PAYMENT, REFUND); returns how many were new.
    public static func insert(_ rows: [WalletTransactionRow], type: String, _ db: PostgresConnection) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        var ids = PostgresArrayLiteral(capacity: rows.count * 30)
        var users = PostgresArrayLiteral(capacity: rows.count * 30)
        var amounts = PostgresArrayLiteral(capacity: rows.count * 8)
        var balances = PostgresArrayLiteral(capacity: rows.count * 10)
        var refs = PostgresArrayLiteral(capacity: rows.count * 30)
        var times = PostgresArrayLiteral(capacity: rows.count * 14)
        for row in rows {
            ids.append(text: row.id)
            users.append(text: row.userID)
            amounts.append(integer: row.amount)
            balances.append(integer: row.balanceAfter)
            refs.append(text: row.ref)
            times.append(integer: row.atMilliseconds)
        }
        // created_at from integer milliseconds with interval arithmetic: exact, no float rounding.
        return try db.query("""
            INSERT INTO wallet_transactions (id, user_id, type, amount, balance_after, ref, created_at)
            SELECT t.id, t.user_id, $7::text, t.amount, t.balance_after, t.ref,
                   'epoch'::timestamptz + t.at_ms * interval '1 millisecond'
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])
                 AS t(id, user_id, amount, balance_after, ref, at_ms)
            ON CONFLICT (id) DO NOTHING
            """, [ids, users, amounts, balances, refs, times, type]).affectedRows
    }
}
