// What every scenario does, in order: `prepare` creates what it needs through the admin API (before the
// load), `makeClients` gives its virtual clients, `readServer` reads back over HTTP once the load is over
// (stock, seats, coupon counts: they do not change any more), and `check` compares what the clients saw
// and the server said with PostgreSQL. `check` is called again and again while the worker drains the
// outbox, until every invariant holds or the results stop changing; it must be cheap and read-only.
import JSON
import Persistence

/// One invariant's verdict, with the numbers behind it.
public struct InvariantResult: Equatable {
    public let scenario: String
    public let name: String
    public let holds: Bool
    public let detail: String

    public init(_ scenario: String, _ name: String, _ holds: Bool, _ detail: String) {
        self.scenario = scenario
        self.name = name
        self.holds = holds
        self.detail = detail
    }
}

protocol Scenario: AnyObject {
    var name: String { get }
    /// Users this scenario acts as (each gets a charged wallet).
    var users: [StormUser] { get }
    func prepare(_ api: StormAPI) throws
    func makeClients(targets: Int) -> [VirtualClient]
    func readServer(_ api: StormAPI) throws
    func check(_ db: PostgresConnection) throws -> [InvariantResult]
    /// What the clients saw, for the report.
    func observations() -> JSONObject
}

extension PostgresConnection {
    /// The single integer of a `SELECT count(*)`-like query (0 for NULL).
    func integer(_ sql: String, _ binds: [PostgresBindable?]) throws -> Int {
        let rows = try query(sql, binds)
        guard let row = rows.first, let text = try row.value(0) else { return 0 }
        return Int(text) ?? 0
    }
}
