// Signup, login, tokens, refresh rotation, logout and the login throttle, over HTTP.
import Foundation
@testable import Gateway
import JSON
import Persistence
import Runtime
import TestSupport
import XCTest

final class IdentityTests: XCTestCase {
    var fixture: GatewayFixture!

    override func setUpWithError() throws {
        fixture = try GatewayFixture(instances: 1)
    }

    override func tearDown() {
        fixture?.shutdown()
    }

    func testSignupLoginAndMe() throws {
        let user = try fixture.newUser()
        let me = try fixture.request("GET", "/auth/me", token: user.accessToken)
        XCTAssertEqual(me.status, 200)
        let json = try fixture.json(me)
        XCTAssertEqual(json["email"]?.stringValue, user.email)
        XCTAssertEqual(json["name"]?.stringValue, "Test")
        XCTAssertTrue(json["userId"]?.stringValue?.hasPrefix("usr_") ?? false)
        // The access token is opaque and carries at least 128 random bits.
        XCTAssertGreaterThanOrEqual(user.accessToken.split(separator: ".").last?.count ?? 0, 22)
    }

    func testEmailIsUniqueCaseInsensitivelyAndTrimmed() throws {
        let user = try fixture.newUser()
        let again = try fixture.request("POST", "/auth/signup",
                                        body: #"{"email":"  \#(user.email.uppercased()) ","password":"another-pass","name":"B"}"#)
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(try fixture.json(again)["error"]?["code"]?.stringValue, "EMAIL_TAKEN")
        let login = try fixture.request("POST", "/auth/login", body: #"{"email":" \#(user.email.uppercased())","password":"\#(user.password)"}"#)
        XCTAssertEqual(login.status, 200)
    }

    func testParallelSignupsWithOneEmailMakeExactlyOneAccount() throws {
        let email = "race-\(SecureRandom.hex(bytes: 6))@example.com"
        let signup = RawHTTPClient.requestText("POST", "/auth/signup", body: #"{"email":"\#(email)","password":"same-password","name":"R"}"#)
        let variants = (0..<30).map { i in i % 2 == 0 ? signup : signup.replacingOccurrences(of: email, with: email.uppercased()) }
        let responses = try fixture.burst(variants, connectionsPerInstance: 30)
        XCTAssertEqual(responses.filter { $0?.status == 201 }.count, 1)
        XCTAssertEqual(responses.filter { $0?.status == 409 }.count, 29)
        let db = try PostgresConnection(url: try TestServices.postgresURL())
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM users WHERE lower(email) = lower($1)", [email]).first?.int("n"), 1)
    }

    func testSignupValidation() throws {
        let cases: [(String, String)] = [
            (#"{"email":"not-an-email","password":"longenough","name":"A"}"#, "email"),
            (#"{"email":"a@b.io","password":"short","name":"A"}"#, "password"),
            (#"{"email":"a@b.io","password":"longenough","name":""}"#, "name"),
            (#"{"email":"a@b.io","password":"longenough","name":"\#(String(repeating: "x", count: 101))"}"#, "name"),
            (#"{"email":"a@b.io","password":12345678,"name":"A"}"#, "password"),
            (#"{"password":"longenough","name":"A"}"#, "email"),
        ]
        for (body, field) in cases {
            let response = try fixture.request("POST", "/auth/signup", body: body)
            XCTAssertEqual(response.status, 400, body)
            let error = try fixture.json(response)["error"]
            XCTAssertEqual(error?["code"]?.stringValue, "VALIDATION_FAILED")
            XCTAssertEqual(error?["details"]?["field"]?.stringValue, field, body)
        }
        XCTAssertEqual(try fixture.request("POST", "/auth/signup", body: "{nope").status, 400)
    }

    func testUnknownEmailAndWrongPasswordGetTheSameAnswer() throws {
        let user = try fixture.newUser()
        let wrong = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"wrong-password"}"#)
        let unknown = try fixture.request("POST", "/auth/login", body: #"{"email":"nobody-\#(user.email)","password":"wrong-password"}"#)
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual(wrong.bodyText, unknown.bodyText)
        XCTAssertEqual(try fixture.json(wrong)["error"]?["code"]?.stringValue, "INVALID_CREDENTIALS")
    }

    func testEveryUserRouteRefusesMissingMalformedAndRevokedTokens() throws {
        let user = try fixture.newUser()
        let routes: [(String, String, String?)] = [("GET", "/auth/me", nil), ("GET", "/wallet", nil),
                                                  ("POST", "/wallet/charge", #"{"amount":1}"#)]
        let forged = user.accessToken.dropLast(2) + "AA"
        for (method, path, body) in routes {
            XCTAssertEqual(try fixture.request(method, path, body: body).status, 401, "no token: \(path)")
            XCTAssertEqual(try fixture.request(method, path, body: body, token: "garbage").status, 401, "malformed: \(path)")
            XCTAssertEqual(try fixture.request(method, path, body: body, token: String(forged)).status, 401, "forged: \(path)")
            XCTAssertEqual(try fixture.request(method, path, body: body, headers: ["Authorization": "Basic abc"]).status, 401)
        }
        XCTAssertEqual(try fixture.request("POST", "/auth/logout", token: user.accessToken).status, 204)
        for (method, path, body) in routes {
            XCTAssertEqual(try fixture.request(method, path, body: body, token: user.accessToken).status, 401, "revoked: \(path)")
        }
        // Logout killed the refresh token too.
        let refresh = try fixture.request("POST", "/auth/refresh", body: #"{"refreshToken":"\#(user.refreshToken)"}"#)
        XCTAssertEqual(refresh.status, 401)
    }

    func testRefreshRotatesAndTheOldPairStopsWorking() throws {
        let user = try fixture.newUser()
        let refreshed = try fixture.request("POST", "/auth/refresh", body: #"{"refreshToken":"\#(user.refreshToken)"}"#)
        XCTAssertEqual(refreshed.status, 200)
        let pair = try fixture.json(refreshed)
        let newAccess = pair["accessToken"]!.stringValue!
        XCTAssertNotEqual(newAccess, user.accessToken)
        XCTAssertEqual(pair["tokenType"]?.stringValue, "Bearer")
        XCTAssertEqual(try fixture.request("GET", "/auth/me", token: newAccess).status, 200)
        XCTAssertEqual(try fixture.request("GET", "/auth/me", token: user.accessToken).status, 401)
        let replay = try fixture.request("POST", "/auth/refresh", body: #"{"refreshToken":"\#(user.refreshToken)"}"#)
        XCTAssertEqual(replay.status, 401, "a used refresh token is dead")
        let next = try fixture.request("POST", "/auth/refresh", body: #"{"refreshToken":"\#(pair["refreshToken"]!.stringValue!)"}"#)
        XCTAssertEqual(next.status, 200)
    }

    func testFiftyParallelWrongPasswordsGetAtMostTenChecks() throws {
        let user = try fixture.newUser()
        let attempt = RawHTTPClient.requestText("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"wrong-guess"}"#)
        let responses = try fixture.burst(Array(repeating: attempt, count: 50), connectionsPerInstance: 50)
        XCTAssertEqual(responses.filter { $0?.status == 401 }.count, 10, "exactly the limit is checked")
        XCTAssertEqual(responses.filter { $0?.status == 429 }.count, 40)
        let right = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"\#(user.password)"}"#)
        XCTAssertEqual(right.status, 429, "locked for the window")
    }

    func testASuccessfulLoginDoesNotUseUpTheAllowance() throws {
        let user = try fixture.newUser()
        for _ in 0..<12 {
            let ok = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"\#(user.password)"}"#)
            XCTAssertEqual(ok.status, 200)
        }
        let tooLong = try fixture.request("POST", "/auth/login",
                                          body: #"{"email":"\#(user.email)","password":"\#(String(repeating: "p", count: 5_000))"}"#)
        XCTAssertEqual(tooLong.status, 401)
    }

    func testTenFailedLoginsLockTheEmailWith429() throws {
        let user = try fixture.newUser()
        for attempt in 1...10 {
            let response = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"bad-password-\#(attempt)"}"#)
            XCTAssertEqual(response.status, 401, "attempt \(attempt)")
        }
        let locked = try fixture.request("POST", "/auth/login", body: #"{"email":"\#(user.email)","password":"\#(user.password)"}"#)
        XCTAssertEqual(locked.status, 429, "even the right password waits")
        XCTAssertEqual(try fixture.json(locked)["error"]?["code"]?.stringValue, "RATE_LIMITED")
        XCTAssertGreaterThan(Int(locked.headers["retry-after"] ?? "0") ?? 0, 0)
        // Another email is not affected.
        let other = try fixture.newUser()
        XCTAssertEqual(try fixture.request("GET", "/auth/me", token: other.accessToken).status, 200)
    }
}

final class TokenExpiryTests: XCTestCase {
    func testAnExpiredAccessTokenIs401AndRefreshStillWorks() throws {
        let fixture = try GatewayFixture(instances: 1) { $0.accessTokenTTLSeconds = 1 }
        defer { fixture.shutdown() }
        let user = try fixture.newUser()
        XCTAssertEqual(try fixture.request("GET", "/wallet", token: user.accessToken).status, 200)
        usleep(1_300_000)
        XCTAssertEqual(try fixture.request("GET", "/wallet", token: user.accessToken).status, 401)
        let refreshed = try fixture.request("POST", "/auth/refresh", body: #"{"refreshToken":"\#(user.refreshToken)"}"#)
        XCTAssertEqual(refreshed.status, 200)
    }
}
