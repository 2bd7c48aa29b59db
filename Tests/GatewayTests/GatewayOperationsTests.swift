// The gateway's operational routes and error handling, through real sockets and a real Redis.
import Foundation
@testable import Gateway
import HTTP
import Runtime
import TestSupport
import XCTest

final class GatewayOperationsTests: XCTestCase {
    var gateway: Gateway!

    override func tearDown() {
        gateway?.shutdown()
    }

    private func startGateway(redisURL: String? = nil) throws {
        var configuration = Configuration()
        configuration.port = 0
        configuration.threads = 2
        configuration.redisURL = try redisURL ?? TestServices.redis().description
        configuration.postgresURL = try TestServices.postgresURL()
        configuration.redisTimeoutMilliseconds = 500
        gateway = try Gateway(configuration: configuration)
        gateway.add(.GET, "/test/throws") { _ in throw NSError(domain: "secret-internal-detail", code: 42) }
        gateway.add(.GET, "/test/api-error") { _ in throw APIError(409, "SEAT_UNAVAILABLE", "taken") }
        try gateway.start()
    }

    func testHealthReportsRedisAndPostgres() throws {
        try startGateway()
        XCTAssertTrue(waitUntil(5) { self.gateway.services.postgres.lastHealthy })
        let response = try RawHTTPClient.request(port: gateway.port, "GET", "/health")
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.bodyText, #"{"status":"ok","redis":"ok","postgres":"ok"}"#)
        XCTAssertEqual(response?.headers["content-type"], "application/json; charset=utf-8")
    }

    func testHealthIs503WithRetryAfterWhenRedisIsUnreachable() throws {
        try startGateway(redisURL: "redis://127.0.0.1:1")
        let response = try RawHTTPClient.request(port: gateway.port, "GET", "/health")
        XCTAssertEqual(response?.status, 503)
        XCTAssertEqual(response?.headers["retry-after"], "1")
        XCTAssertTrue(response?.bodyText.contains(#""redis":"down""#) ?? false)
    }

    func testAThrowingHandlerIs500WithoutInternalsAndTheProcessKeepsServing() throws {
        try startGateway()
        for _ in 0..<3 {
            let response = try RawHTTPClient.request(port: gateway.port, "GET", "/test/throws")
            XCTAssertEqual(response?.status, 500)
            XCTAssertEqual(response?.bodyText, #"{"error":{"code":"INTERNAL","message":"internal error"}}"#)
            XCTAssertFalse(response?.bodyText.contains("secret") ?? true)
        }
        XCTAssertEqual(try RawHTTPClient.request(port: gateway.port, "GET", "/health")?.status, 200)
    }

    func testErrorsCarryTheirStatusCodeAndBody() throws {
        try startGateway()
        let conflict = try RawHTTPClient.request(port: gateway.port, "GET", "/test/api-error")
        XCTAssertEqual(conflict?.status, 409)
        XCTAssertEqual(conflict?.bodyText, #"{"error":{"code":"SEAT_UNAVAILABLE","message":"taken"}}"#)
        let missing = try RawHTTPClient.request(port: gateway.port, "GET", "/no/such/route")
        XCTAssertEqual(missing?.status, 404)
        XCTAssertEqual(missing?.bodyText, #"{"error":{"code":"NOT_FOUND","message":"route not found","details":{"resource":"route"}}}"#)
        let wrongMethod = try RawHTTPClient.request(port: gateway.port, "DELETE", "/health")
        XCTAssertEqual(wrongMethod?.status, 405)
        XCTAssertEqual(wrongMethod?.headers["allow"]?.contains("GET"), true)
    }

    func testMetricsExposeRequestsLatencyConnectionsAndRedis() throws {
        try startGateway()
        for _ in 0..<5 { _ = try RawHTTPClient.request(port: gateway.port, "GET", "/health") }
        _ = try RawHTTPClient.request(port: gateway.port, "GET", "/nowhere")
        let response = try RawHTTPClient.request(port: gateway.port, "GET", "/metrics")
        XCTAssertEqual(response?.status, 200)
        let text = response?.bodyText ?? ""
        XCTAssertTrue(text.contains(#"floodgate_http_requests_total{method="GET",route="/health",status="200"} 5"#), text)
        XCTAssertTrue(text.contains(#"floodgate_http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
        XCTAssertTrue(text.contains("floodgate_http_request_duration_seconds_count 6"))
        XCTAssertTrue(text.contains("floodgate_http_open_connections 1"))
        XCTAssertTrue(text.contains(#"floodgate_redis_in_flight{loop="0"}"#))
        XCTAssertTrue(text.contains(#"floodgate_redis_reconnects_total{loop="1"} 0"#))
    }
}
