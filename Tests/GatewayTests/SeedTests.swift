// `floodgate seed` and `floodgate seed users` against the real stores.
import Foundation
@testable import Gateway
import Persistence
import Queue
import Runtime
import TestSupport
import XCTest

final class SeedTests: XCTestCase {
    func testSeededUsersExistAndTheirTokensAuthenticate() throws {
        let fixture = try GatewayFixture(instances: 1)
        defer { fixture.shutdown() }
        let configuration = fixture.gateways[0].services.configuration
        let file = NSTemporaryDirectory() + "seed-\(getpid()).csv"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let report = try UserSeeder.seed(count: 1_500, output: file, tokenTTLSeconds: 600, configuration: configuration)
        XCTAssertEqual(report.users, 1_500)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1_500)
        let ids = lines.map { String($0.split(separator: ",")[0]) }
        XCTAssertEqual(Set(ids).count, 1_500)
        let db = try PostgresConnection(url: configuration.postgresURL)
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM users WHERE id = ANY($1::text[])", [ids]).first?.int("n"), 1_500)
        for line in lines.prefix(20) + lines.suffix(5) {
            let parts = line.split(separator: ",")
            let wallet = try fixture.request("GET", "/wallet", token: String(parts[1]))
            XCTAssertEqual(wallet.status, 200)
            XCTAssertEqual(try fixture.json(wallet)["userId"]?.stringValue, String(parts[0]))
        }
        // The documented password logs a seeded user in.
        let email = try db.query("SELECT email FROM users WHERE id = $1", [ids[0]]).first!.string("email")
        let login = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(email)","password":"\#(UserSeeder.testPassword)"}"#)
        XCTAssertEqual(login.status, 200)
    }

    func testDemoSeedIsIdempotent() throws {
        let fixture = try GatewayFixture(instances: 1)
        defer { fixture.shutdown() }
        let configuration = fixture.gateways[0].services.configuration
        _ = try DemoSeeder.seed(configuration: configuration)
        let balanceAfterFirst = try fixture.redis.command(["GET", UserKeys(userID: DemoSeeder.userID).wallet]).int
        XCTAssertEqual(try DemoSeeder.seed(configuration: configuration), [], "a second seed adds nothing")
        XCTAssertEqual(try fixture.redis.command(["GET", UserKeys(userID: DemoSeeder.userID).wallet]).int, balanceAfterFirst)
        let login = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(DemoSeeder.email)","password":"\#(DemoSeeder.password)"}"#)
        XCTAssertEqual(login.status, 200)
        // The queued demo sale: in PostgreSQL, and its settings already in Redis for the tickers.
        let db = try PostgresConnection(url: configuration.postgresURL)
        defer { db.close() }
        XCTAssertEqual(try EventStore.find(id: DemoSeeder.eventID, db)?.queue.enabled, true)
        XCTAssertEqual(try fixture.redis.command(["HGET", EventKeys(eventID: DemoSeeder.eventID).queueConfiguration, "enabled"]).string, "1")
    }
}
