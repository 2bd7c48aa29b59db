// The prepaid wallet under concurrency, through two gateway instances, checked in Redis afterwards.
import Foundation
@testable import Gateway
import JSON
import Runtime
import TestSupport
import XCTest

final class WalletTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 2)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func balance(_ user: GatewayFixture.User) throws -> Int64 {
        try fixture.json(try fixture.request("GET", "/wallet", token: user.accessToken))["balance"]?.intValue ?? -1
    }

    func testAThousandParallelChargesThroughTwoInstancesAddUpExactly() throws {
        let user = try fixture.newUser()
        let request = RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":1}"#,
                                                headers: ["Authorization": "Bearer \(user.accessToken)"])
        let responses = try fixture.burst(Array(repeating: request, count: 1_000))
        XCTAssertEqual(responses.filter { $0?.status == 200 }.count, 1_000)
        let chargeIDs = Set(responses.compactMap { try? fixture.json($0!)["chargeId"]?.stringValue })
        XCTAssertEqual(chargeIDs.count, 1_000, "every charge has its own id")
        XCTAssertEqual(try balance(user), 1_000)
        XCTAssertEqual(try fixture.redis.command(["GET", UserKeys(userID: user.id).wallet]).int, 1_000)
        let events = try fixture.outboxEvents(type: "WALLET_CHARGED", userID: user.id)
        XCTAssertEqual(events.count, 1_000)
        XCTAssertEqual(Set(events.compactMap { $0["id"] }), chargeIDs, "the outbox holds exactly the answered charges")
    }

    func testAHundredParallelRepeatsOfOneIdempotentChargeChargeOnce() throws {
        let user = try fixture.newUser()
        let request = RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":700}"#,
                                                headers: ["Authorization": "Bearer \(user.accessToken)", "Idempotency-Key": "charge-once-1"])
        let responses = try fixture.burst(Array(repeating: request, count: 100), connectionsPerInstance: 50)
        XCTAssertEqual(responses.filter { $0?.status == 200 }.count, 100)
        XCTAssertEqual(Set(responses.map { $0?.bodyText ?? "" }).count, 1, "100 identical answers")
        XCTAssertEqual(try balance(user), 700)
        XCTAssertEqual(try fixture.outboxEvents(type: "WALLET_CHARGED", userID: user.id).count, 1)
        // The same key with another body is refused and changes nothing.
        let reused = try fixture.request("POST", "/wallet/charge", body: #"{"amount":701}"#, token: user.accessToken,
                                         headers: ["Idempotency-Key": "charge-once-1"])
        XCTAssertEqual(reused.status, 422)
        XCTAssertEqual(try fixture.json(reused)["error"]?["code"]?.stringValue, "IDEMPOTENCY_KEY_REUSED")
        XCTAssertEqual(try balance(user), 700)
    }

    func testEveryBadAmountIs400AndChangesNothing() throws {
        let user = try fixture.newUser()
        XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":50}"#, token: user.accessToken).status, 200)
        let invalidAmount = [#"{"amount":1.5}"#, #"{"amount":"10"}"#, #"{"amount":1e3}"#, #"{"amount":true}"#,
                             #"{"amount":9223372036854775808}"#, #"{"amount":null}"#, #"{"amount":0}"#, #"{"amount":-5}"#,
                             #"{"amount":10000001}"#, #"{"amount":[1]}"#, #"{"amount":{"v":1}}"#, #"{}"#]
        for body in invalidAmount {
            let response = try fixture.request("POST", "/wallet/charge", body: body, token: user.accessToken)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "INVALID_AMOUNT", body)
        }
        let malformed = try fixture.request("POST", "/wallet/charge", body: "{\"amount\":", token: user.accessToken)
        XCTAssertEqual(try fixture.json(malformed)["error"]?["code"]?.stringValue, "MALFORMED_JSON")
        let missing = try fixture.request("POST", "/wallet/charge", token: user.accessToken)
        XCTAssertEqual(missing.status, 400)
        let notObject = try fixture.request("POST", "/wallet/charge", body: "[1]", token: user.accessToken)
        XCTAssertEqual(notObject.status, 400)
        XCTAssertEqual(try fixture.json(notObject)["error"]?["code"]?.stringValue, "VALIDATION_FAILED")
        let badKey = try fixture.request("POST", "/wallet/charge", body: #"{"amount":5}"#, token: user.accessToken,
                                         headers: ["Idempotency-Key": "has space"])
        XCTAssertEqual(badKey.status, 400)
        XCTAssertEqual(try balance(user), 50, "nothing changed")
        XCTAssertEqual(try fixture.outboxEvents(type: "WALLET_CHARGED", userID: user.id).count, 1)
    }

    func testTheBalanceNeverPassesTheCap() throws {
        let user = try fixture.newUser()
        for _ in 0..<100 {
            XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":10000000}"#, token: user.accessToken).status, 200)
        }
        XCTAssertEqual(try balance(user), 1_000_000_000)
        let over = try fixture.request("POST", "/wallet/charge", body: #"{"amount":1}"#, token: user.accessToken)
        XCTAssertEqual(over.status, 400)
        XCTAssertEqual(try fixture.json(over)["error"]?["details"]?["balance"]?.intValue, 1_000_000_000)
        XCTAssertEqual(try balance(user), 1_000_000_000)
    }

    func testTheOutboxEventCarriesTheDocumentedFields() throws {
        let user = try fixture.newUser()
        let charged = try fixture.json(try fixture.request("POST", "/wallet/charge", body: #"{"amount":1234}"#, token: user.accessToken))
        let events = try fixture.outboxEvents(type: "WALLET_CHARGED", userID: user.id)
        XCTAssertEqual(events.count, 1)
        let event = events[0]
        XCTAssertEqual(event["v"], "1")
        XCTAssertEqual(event["id"], charged["chargeId"]?.stringValue)
        XCTAssertNotNil(Int64(event["at"] ?? ""))
        let data = try Array(event["data"]!.utf8).withUnsafeBytes { try JSONParser.parse($0) }
        XCTAssertEqual(data["amount"]?.intValue, 1234)
        XCTAssertEqual(data["balanceAfter"]?.intValue, 1234)
        XCTAssertEqual(data["userId"]?.stringValue, user.id)
        XCTAssertEqual(data["chargeId"]?.stringValue, charged["chargeId"]?.stringValue)
    }
}
