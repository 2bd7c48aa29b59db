// A product on sale, shared by flash-sale and queue-flood: how it is created, how a buyer orders one unit
// of it, and the stock invariants both check — nothing sold beyond the initial stock (by the clients'
// count of 201 PAID and by PostgreSQL's PAID orders), the stock the server shows equal to initial − sold
// − held, and every PAID order a client was told of present and PAID in PostgreSQL.
import JSON
import Persistence

final class SaleProduct {
    let eventID: String
    let productID: String
    let initialStock: Int
    /// GET /products/{id} after the load.
    var serverStock: Int?

    init(eventID: String, productID: String, initialStock: Int) {
        self.eventID = eventID
        self.productID = productID
        self.initialStock = initialStock
    }

    /// An event (queued or not) and its one product.
    static func create(_ api: StormAPI, name: String, queue: JSONValue, price: Int, stock: Int) throws -> SaleProduct {
        let event = try api.admin(.POST, "/admin/events", ["name": .string(name), "kind": "sale", "queue": queue])
        guard let eventID = event["eventId"]?.stringValue else { throw StormSetupError("POST /admin/events: no eventId in \(event)") }
        let product = try api.admin(.POST, "/admin/products", ["name": .string("\(name) item"), "price": JSONValue(price),
                                                               "stock": JSONValue(stock), "eventId": .string(eventID)])
        guard let productID = product["productId"]?.stringValue else { throw StormSetupError("POST /admin/products: no productId in \(product)") }
        return SaleProduct(eventID: eventID, productID: productID, initialStock: stock)
    }

    func orderCall(_ user: StormUser, key: String, queueToken: String? = nil) -> APICall {
        var headers: [(name: String, value: String)] = [("Idempotency-Key", key)]
        if let queueToken { headers.append(("X-Queue-Token", queueToken)) }
        return APICall(.POST, "/orders", token: user.token, headers: headers,
                       json: ["items": [["productId": .string(productID), "quantity": 1]]])
    }

    func readServer(_ api: StormAPI) throws {
        let product = try api.expect(200, APICall(.GET, "/products/\(productID)", operation: "GET /products/{productId}"))
        serverStock = product["stock"]?.intValue.map(Int.init)
    }

    func check(_ scenario: String, paidOrderIDs: [String], _ db: PostgresConnection) throws -> [InvariantResult] {
        let units = """
            SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
            WHERE oi.product_id = $1 AND o.status = $2
            """
        let sold = try db.integer(units, [productID, "PAID"])
        let held = try db.integer(units, [productID, "PENDING_PAYMENT"])
        let stored = try db.integer("SELECT count(*) FROM orders WHERE id = ANY($1::text[]) AND status = 'PAID'", [paidOrderIDs])
        let stock = serverStock.map(String.init) ?? "unknown"
        return [
            InvariantResult(scenario, "no unit oversold (clients)", paidOrderIDs.count <= initialStock,
                            "\(paidOrderIDs.count) answers 201 PAID for a stock of \(initialStock)"),
            InvariantResult(scenario, "no unit oversold (PostgreSQL)", sold <= initialStock,
                            "\(sold) units in PAID orders for a stock of \(initialStock)"),
            InvariantResult(scenario, "server stock = initial − sold − held", serverStock == initialStock - sold - held,
                            "GET /products: \(stock); \(initialStock) − \(sold) sold − \(held) held = \(initialStock - sold - held)"),
            InvariantResult(scenario, "every PAID order the clients saw is in PostgreSQL", stored == paidOrderIDs.count,
                            "\(stored) of \(paidOrderIDs.count) PAID in PostgreSQL"),
        ]
    }
}

/// Orders one unit of a product (optionally with a queue token), repeating the same Idempotency-Key
/// after a lost answer or a 5xx, so a retry can never buy twice.
final class UnitOrder {
    private(set) var paidOrderID: String?
    /// What the last answer was: "PAID", an error code, or "no answer".
    private(set) var result = "not tried"

    func place(_ client: VirtualClient, _ call: APICall, done: @escaping () -> Void) {
        client.send(call) { [self] outcome in
            if outcome.isRetryable {
                result = "no answer"
                if !client.retryLater({ self.place(client, call, done: done) }) { done() }
                return
            }
            let response = outcome.response!
            if response.status == 201, let json = response.json {
                result = json["status"]?.stringValue ?? "201"
                if result == "PAID" { paidOrderID = json["orderId"]?.stringValue }
            } else {
                result = response.errorCode ?? String(response.status)
            }
            done()
        }
    }
}
