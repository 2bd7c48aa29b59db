// Every storm user's wallet: the balance GET /wallet shows (Redis) must equal what PostgreSQL's
// wallet_transactions add up to — charges − payments + refunds — once the worker has written them.
import JSON
import Persistence

final class WalletLedger {
    let users: [StormUser]
    private var balances: [String: Int64] = [:]
    private var unread = 0

    init(users: [StormUser]) {
        self.users = users
    }

    func readServer(_ api: StormAPI) {
        for (user, outcome) in zip(users, api.callAll(users.map { APICall(.GET, "/wallet", token: $0.token) }, target: { $0 })) {
            if let balance = outcome.response.flatMap({ $0.status == 200 ? $0.json?["balance"]?.intValue : nil }) {
                balances[user.id] = balance
            } else {
                unread += 1
            }
        }
    }

    func check(_ db: PostgresConnection) throws -> InvariantResult {
        let rows = try db.query("""
            SELECT user_id, sum(CASE type WHEN 'PAYMENT' THEN -abs(amount) ELSE abs(amount) END) AS balance
            FROM wallet_transactions WHERE user_id = ANY($1::text[]) GROUP BY user_id
            """, [users.map(\.id)])
        var ledger: [String: Int64] = [:]
        for row in rows { ledger[try row.string("user_id")] = try row.int64("balance") }
        var differing = 0, example = ""
        for (user, balance) in balances where ledger[user, default: 0] != balance {
            differing += 1
            if example.isEmpty { example = "; e.g. \(user): GET /wallet \(balance), PostgreSQL \(ledger[user, default: 0])" }
        }
        return InvariantResult("all", "every wallet = charges − payments + refunds", differing == 0 && unread == 0,
                               "\(balances.count) wallets read, \(unread) unreadable, \(differing) differ from wallet_transactions\(example)")
    }
}
