// flash-sale: N buyers with charged wallets race for one product of S units, each ordering one unit
// (paid at once) until it is theirs or the answer is OUT_OF_STOCK. With N > S the race is the point: the
// server must sell exactly what it has, never more.
import JSON
import Persistence

final class FlashSale: Scenario {
    let name = "flash-sale"
    let users: [StormUser]
    private let price: Int
    private let stock: Int
    private let run: String
    private var product: SaleProduct!
    private var buyers: [Buyer] = []

    init(users: [StormUser], stock: Int, price: Int, run: String) {
        self.users = users
        self.stock = stock
        self.price = price
        self.run = run
    }

    func prepare(_ api: StormAPI) throws {
        product = try SaleProduct.create(api, name: "storm \(run) flash sale", queue: ["enabled": false],
                                         price: price, stock: stock)
    }

    func makeClients(targets: Int) -> [VirtualClient] {
        buyers = users.enumerated().map { i, user in
            Buyer(target: i % targets, call: product.orderCall(user, key: "storm-\(run)-fs-\(i)"))
        }
        return buyers
    }

    func readServer(_ api: StormAPI) throws { try product.readServer(api) }

    func check(_ db: PostgresConnection) throws -> [InvariantResult] {
        try product.check(name, paidOrderIDs: buyers.compactMap(\.order.paidOrderID), db)
    }

    func observations() -> JSONObject {
        var results: [String: Int] = [:]
        for buyer in buyers { results[buyer.order.result, default: 0] += 1 }
        return ["eventId": .string(product.eventID), "productId": .string(product.productID), "stock": JSONValue(stock),
                "buyers": JSONValue(buyers.count), "paid": JSONValue(buyers.filter { $0.order.paidOrderID != nil }.count),
                "serverStockAfter": product.serverStock.map { JSONValue($0) } ?? .null,
                "results": .object(JSONObject(results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))]
    }

    final class Buyer: VirtualClient {
        let call: APICall
        let order = UnitOrder()

        init(target: Int, call: APICall) {
            self.call = call
            super.init(target: target)
        }

        override func start() {
            order.place(self, call) { [self] in finish() }
        }
    }
}
