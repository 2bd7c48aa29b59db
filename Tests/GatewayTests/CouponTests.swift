// First-come coupons through two instances: exactly C issued among 10×C users, one per user under
// parallel requests, the validity window by Redis TIME, bad definitions refused — checked in Redis and
// in PostgreSQL after the drain.
import Foundation
@testable import Gateway
import Inventory
import JSON
import Persistence
import Runtime
import TestSupport
import XCTest

final class CouponTests: XCTestCase {
    var fixture: GatewayFixture!
    let key = "coupon-admin-key"

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 2) { $0.adminKey = "coupon-admin-key" }
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    private func coupon(_ body: String) throws -> String {
        let response = try fixture.request("POST", "/admin/coupons", body: body, headers: ["X-Admin-Key": key])
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try fixture.json(response)["couponId"]!.stringValue!
    }

    private func issueText(_ couponID: String, _ token: String) -> String {
        RawHTTPClient.requestText("POST", "/coupons/\(couponID)/issue", headers: ["Authorization": "Bearer \(token)"])
    }

    func testFiftyCouponsForFiveHundredUsersAreIssuedExactlyFiftyTimes() throws {
        let couponID = try coupon(#"{"name":"Early bird","discountType":"AMOUNT","discountValue":5000,"quantity":50}"#)
        let users = try fixture.seedUsers(500)
        let responses = try fixture.burst(users.map { issueText(couponID, $0.token) }, connectionsPerInstance: 50)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 50)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 450)
        XCTAssertTrue(responses.filter { $0?.status == 409 }.allSatisfy {
            (try? fixture.json($0!))?["error"]?["code"]?.stringValue == "COUPON_SOLD_OUT"
        })
        let keys = CouponKeys(couponID: couponID)
        XCTAssertEqual(try fixture.redis.command(["HGET", keys.coupon, "remaining"]).int, 0)
        XCTAssertEqual(try fixture.redis.command(["HLEN", keys.holders]).int, 50)
        let shown = try fixture.json(try fixture.request("GET", "/coupons/\(couponID)", instance: 1))
        XCTAssertEqual(shown["remaining"]?.intValue, 0)
        XCTAssertEqual(shown["quantity"]?.intValue, 50)

        try fixture.drainOutbox()
        let db = try PostgresConnection(url: TestServices.postgresURL())
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM coupon_issues WHERE coupon_id = $1", [couponID]).first?.int("n"), 50)
        let winners = Set(try responses.compactMap { $0 }.filter { $0.status == 201 }.map { try fixture.json($0)["userId"]!.stringValue! })
        let stored = Set(try db.query("SELECT user_id FROM coupon_issues WHERE coupon_id = $1", [couponID]).map { try $0.string("user_id") })
        XCTAssertEqual(stored, winners)
    }

    func testFiftyParallelIssuesForOneUserGiveOneCoupon() throws {
        let couponID = try coupon(#"{"name":"Once","discountType":"PERCENT","discountValue":10,"quantity":100}"#)
        let user = try fixture.newUser()
        let responses = try fixture.burst(Array(repeating: issueText(couponID, user.accessToken), count: 50), connectionsPerInstance: 25)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 1)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 49)
        XCTAssertTrue(responses.filter { $0?.status == 409 }.allSatisfy {
            (try? fixture.json($0!))?["error"]?["code"]?.stringValue == "COUPON_ALREADY_ISSUED"
        })
        XCTAssertEqual(try fixture.redis.command(["HGET", CouponKeys(couponID: couponID).coupon, "remaining"]).int, 99)
        // The user's list shows it at once (before any worker ran).
        let mine = try fixture.json(try fixture.request("GET", "/users/me/coupons", token: user.accessToken, instance: 1))["items"]!.arrayValue!
        XCTAssertEqual(mine.count, 1)
        XCTAssertEqual(mine[0]["couponId"]?.stringValue, couponID)
        XCTAssertEqual(mine[0]["name"]?.stringValue, "Once")
        XCTAssertEqual(mine[0]["status"]?.stringValue, "ISSUED")
        XCTAssertNotNil(mine[0]["issuedAt"]?.stringValue.flatMap(Timestamp.parseRFC3339))
        XCTAssertEqual(try fixture.request("GET", "/users/me/coupons").status, 401)
    }

    func testCouponsOutsideTheirWindowAre410AndChangeNothing() throws {
        let user = try fixture.newUser()
        let past = Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) - 86_400_000)
        let future = Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        let expired = try coupon(#"{"name":"Old","discountType":"AMOUNT","discountValue":100,"quantity":5,"validUntil":"\#(past)"}"#)
        let early = try coupon(#"{"name":"Soon","discountType":"AMOUNT","discountValue":100,"quantity":5,"validFrom":"\#(future)"}"#)
        for couponID in [expired, early] {
            let response = try fixture.request("POST", "/coupons/\(couponID)/issue", token: user.accessToken)
            XCTAssertEqual(response.status, 410)
            XCTAssertEqual(try fixture.json(response)["error"]?["code"]?.stringValue, "COUPON_EXPIRED")
            XCTAssertEqual(try fixture.redis.command(["HGET", CouponKeys(couponID: couponID).coupon, "remaining"]).int, 5)
        }
        XCTAssertEqual(try fixture.request("POST", "/coupons/cpn_000000000000000000000000/issue", token: user.accessToken).status, 404)
        XCTAssertEqual(try fixture.request("GET", "/coupons/cpn_000000000000000000000000").status, 404)
        XCTAssertEqual(try fixture.request("GET", "/coupons/nope").status, 404)
    }

    func testEveryBadDefinitionIs400() throws {
        let cases: [(String, String)] = [
            (#"{"discountType":"AMOUNT","discountValue":1,"quantity":1}"#, "name"),
            (#"{"name":"x","discountType":"FREE","discountValue":1,"quantity":1}"#, "discountType"),
            (#"{"name":"x","discountType":"PERCENT","discountValue":0,"quantity":1}"#, "discountValue"),
            (#"{"name":"x","discountType":"PERCENT","discountValue":101,"quantity":1}"#, "discountValue"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":-5,"quantity":1}"#, "discountValue"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":1.5,"quantity":1}"#, "discountValue"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":1,"quantity":0}"#, "quantity"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":1,"quantity":1,"validFrom":"soon"}"#, "validFrom"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":1,"quantity":1,"validFrom":"2026-12-02T00:00:00.000Z","validUntil":"2026-12-01T00:00:00.000Z"}"#, "validUntil"),
            (#"{"name":"x","discountType":"AMOUNT","discountValue":1,"quantity":1,"minOrderAmount":-1}"#, "minOrderAmount"),
        ]
        for (body, field) in cases {
            let response = try fixture.request("POST", "/admin/coupons", body: body, headers: ["X-Admin-Key": key])
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(try fixture.json(response)["error"]?["details"]?["field"]?.stringValue, field, body)
        }
        XCTAssertEqual(try fixture.request("POST", "/admin/coupons", body: #"{"name":"x","discountType":"AMOUNT","discountValue":1,"quantity":1}"#).status, 403)
    }
}
