// The storm must catch a server that breaks an invariant. The double here answers the flash-sale subset of
// the API on the project's own HTTP server and sells every order, far beyond the stock: the storm has to
// report "no unit oversold" violated and exit non-zero.
import Foundation
import HTTP
import JSON
import Runtime
@testable import Storm
import TestSupport
import XCTest

/// Creates events and products, charges wallets, and answers 201 PAID to every POST /orders.
final class OversellingGateway {
    let group: EventLoopGroup
    let server: HTTPServer
    private let orders = LockedBox(0)
    var port: Int { server.port }
    var ordersSold: Int { orders.snapshot }

    init() throws {
        group = try EventLoopGroup(threads: 1, name: "overselling")
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let orders = self.orders
        server = HTTPServer(configuration: configuration, group: group) { request, _, respond in
            func json(_ status: Int, _ body: JSONValue) { respond(.json(status, Array(body.description.utf8))) }
            switch (request.method, request.path) {
            case (.POST, "/wallet/charge"): json(200, ["userId": "u", "balance": 100_000, "chargeId": "chg"])
            case (.GET, "/wallet"): json(200, ["userId": "u", "balance": 100_000])
            case (.POST, "/admin/events"): json(201, ["eventId": "evt_0000000000000000000000aa"])
            case (.POST, "/admin/products"): json(201, ["productId": "prd_0000000000000000000000aa", "stock": 3])
            case (.GET, "/products/prd_0000000000000000000000aa"): json(200, ["productId": "prd_0000000000000000000000aa", "stock": 0])
            case (.POST, "/orders"):
                let n = orders.with { count -> Int in count += 1; return count }
                json(201, ["orderId": .string("ord_broken_\(n)"), "status": "PAID"])
            default: json(404, ["error": ["code": "NOT_FOUND", "message": "not in this double"]])
            }
        }
        try server.start()
    }

    func shutdown() {
        server.shutdown(graceSeconds: 0)
        group.shutdown()
    }
}

final class OversellingGatewayTests: XCTestCase {
    func testAServerThatSellsBeyondItsStockFailsTheStorm() throws {
        let double = try OversellingGateway()
        defer { double.shutdown() }
        var options = StormOptions(scenario: .flashSale)
        options.targets = ["http://127.0.0.1:\(double.port)"]
        options.adminKey = "any"
        options.clients = 10
        options.stock = 3
        options.users = (0..<10).map { StormUser(id: "usr_double_\($0)", token: "token-\($0)") }
        options.drainTimeoutSeconds = 5
        options.settleSeconds = 1
        var configuration = Configuration()
        configuration.postgresURL = try TestServices.postgresURL()

        let report = try Storm.run(options, configuration: configuration)

        XCTAssertEqual(double.ordersSold, 10, "every buyer was sold a unit")
        XCTAssertEqual(report.traffic.operations["POST /orders"]?["201"], 10)
        XCTAssertFalse(report.passed)
        XCTAssertNotEqual(report.exitStatus, 0)
        let oversold = try XCTUnwrap(report.invariants.first { $0.name == "no unit oversold (clients)" })
        XCTAssertFalse(oversold.holds, oversold.detail)
        XCTAssertTrue(oversold.detail.contains("10 answers 201 PAID for a stock of 3"), oversold.detail)
        XCTAssertTrue(report.text.contains("INVARIANT VIOLATED"))
    }

    /// The same storm against a server that keeps to its stock passes on that invariant: the check is
    /// about the server's behaviour, not a constant.
    func testTheOversoldCheckHoldsWhenTheClientsSawNoMoreThanTheStock() throws {
        let double = try OversellingGateway()
        defer { double.shutdown() }
        var options = StormOptions(scenario: .flashSale)
        options.targets = ["http://127.0.0.1:\(double.port)"]
        options.adminKey = "any"
        options.clients = 3
        options.stock = 3
        options.users = (0..<3).map { StormUser(id: "usr_double_\($0)", token: "token-\($0)") }
        options.drainTimeoutSeconds = 2
        options.settleSeconds = 1
        var configuration = Configuration()
        configuration.postgresURL = try TestServices.postgresURL()

        let report = try Storm.run(options, configuration: configuration)
        let oversold = try XCTUnwrap(report.invariants.first { $0.name == "no unit oversold (clients)" })
        XCTAssertTrue(oversold.holds, oversold.detail)
        // The double writes nothing to PostgreSQL, so the storm still fails — on the orders it cannot find.
        let stored = try XCTUnwrap(report.invariants.first { $0.name == "every PAID order the clients saw is in PostgreSQL" })
        XCTAssertFalse(stored.holds)
        XCTAssertNotEqual(report.exitStatus, 0)
    }
}
