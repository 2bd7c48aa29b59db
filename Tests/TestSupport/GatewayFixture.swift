// Two gateway instances (two processes' worth of loops, separate ports) against the test Redis and
// PostgreSQL, plus helpers to make users and fire many requests at once.
import Foundation
import Gateway
import JSON
import Persistence
import Runtime
import TestSupport
import Worker
import XCTest

public final class GatewayFixture {
    public let gateways: [Gateway]
    public let redis: RedisBlockingConnection
    public var ports: [Int] { gateways.map(\.port) }

    public init(instances: Int = 2, configure: (inout Configuration) -> Void = { _ in }) throws {
        let endpoint = try TestServices.redis()
        let postgresURL = try TestServices.postgresURL()
        let connection = try PostgresConnection(url: postgresURL)
        try Migrator.migrate(connection)
        connection.close()
        var configuration = Configuration()
        configuration.port = 0
        configuration.threads = 2
        configuration.redisURL = endpoint.description
        configuration.postgresURL = postgresURL
        configure(&configuration)
        gateways = try (0..<instances).map { _ in
            let gateway = try Gateway(configuration: configuration)
            try gateway.start()
            return gateway
        }
        redis = RedisBlockingConnection(endpoint: endpoint)
    }

    public func shutdown() {
        for gateway in gateways { gateway.shutdown() }
    }

    public func request(_ method: String, _ path: String, body: String? = nil, token: String? = nil,
                 headers: [String: String] = [:], instance: Int = 0) throws -> RawResponse {
        var all = headers
        if let token { all["Authorization"] = "Bearer \(token)" }
        guard let response = try RawHTTPClient.request(port: ports[instance], method, path, body: body, headers: all) else {
            throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "no response to \(method) \(path)"])
        }
        return response
    }

    public struct User {
        public let id: String
        public let email: String
        public let password: String
        public var accessToken: String
        public var refreshToken: String
    }

    public func newUser(password: String = "correct horse") throws -> User {
        let email = "user-\(SecureRandom.hex(bytes: 6))@example.com"
        let signup = try request("POST", "/auth/signup", body: #"{"email":"\#(email)","password":"\#(password)","name":"Test"}"#)
        XCTAssertEqual(signup.status, 201, signup.bodyText)
        let login = try request("POST", "/auth/login", body: #"{"email":"\#(email)","password":"\#(password)"}"#)
        XCTAssertEqual(login.status, 200, login.bodyText)
        let json = try json(login)
        let userID = try self.json(signup)["userId"]!.stringValue!
        return User(id: userID, email: email, password: password,
                    accessToken: json["accessToken"]!.stringValue!, refreshToken: json["refreshToken"]!.stringValue!)
    }

    /// `count` users made the fast way (`floodgate seed users`: one shared password hash), with access tokens.
    public func seedUsers(_ count: Int) throws -> [(id: String, token: String)] {
        let file = NSTemporaryDirectory() + "seed-\(getpid())-\(SecureRandom.hex(bytes: 4)).csv"
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try UserSeeder.seed(count: count, output: file, tokenTTLSeconds: 3_600,
                                configuration: gateways[0].services.configuration)
        return try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: ",")
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// `count` seeded users, each with `balance` charged to their wallet (through the API, in one burst).
    public func seedUsers(_ count: Int, balance: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [(id: String, token: String)] {
        let users = try seedUsers(count)
        let charges = users.map { RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":\#(balance)}"#,
                                                            headers: ["Authorization": "Bearer \($0.token)"]) }
        XCTAssertEqual(try burst(charges).filter { $0?.status == 200 }.count, count, "every wallet charged", file: file, line: line)
        return users
    }

    /// Runs a worker-like outbox consumer (user shards and every registered stream) until no stream has
    /// anything left to write, so PostgreSQL can be checked.
    public func drainOutbox(seconds: Double = 30, file: StaticString = #filePath, line: UInt = #line) throws {
        let consumer = OutboxConsumer(settings: OutboxConsumer.Settings(redis: try TestServices.redis(), postgresURL: try TestServices.postgresURL()))
        consumer.start()
        defer { _ = consumer.stop() }
        XCTAssertTrue(waitUntil(seconds) {
            (try? Recovery.backlog(self.redis, streams: Recovery.outboxStreams(self.redis)).isEmpty) == true
        }, "the outbox drained", file: file, line: line)
    }

    public func json(_ response: RawResponse) throws -> JSONValue {
        try response.body.withUnsafeBytes { try JSONParser.parse($0) }
    }

    /// Sends every request at once — spread round-robin over `connections` keep-alive connections per
    /// gateway instance, pipelined — and returns the responses in request order.
    public func burst(_ requests: [String], connectionsPerInstance: Int = 50) throws -> [RawResponse?] {
        var clients: [RawHTTPClient] = []
        for port in ports {
            for _ in 0..<connectionsPerInstance { clients.append(try RawHTTPClient(port: port)) }
        }
        var assignment: [[Int]] = Array(repeating: [], count: clients.count)
        for index in requests.indices { assignment[index % clients.count].append(index) }
        for (c, indices) in assignment.enumerated() {
            clients[c].send(indices.map { requests[$0] }.joined())
        }
        var responses = [RawResponse?](repeating: nil, count: requests.count)
        for (c, indices) in assignment.enumerated() {
            for index in indices { responses[index] = clients[c].readResponse() }
        }
        return responses
    }

    /// Outbox events of `type` for `userID` across all user shards.
    public func outboxEvents(type: String, userID: String) throws -> [[String: String]] {
        let stream = UserKeys(userID: userID).outbox
        guard case .array(let entries) = try redis.command(["XRANGE", stream, "-", "+"]) else { return [] }
        var events: [[String: String]] = []
        for entry in entries {
            guard case .array(let parts) = entry, parts.count == 2, case .array(let fields) = parts[1] else { continue }
            var event: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count {
                event[fields[i].string ?? ""] = fields[i + 1].string ?? ""
                i += 2
            }
            if event["type"] == type, event["data"]?.contains("\"userId\":\"\(userID)\"") == true { events.append(event) }
        }
        return events
    }
}
