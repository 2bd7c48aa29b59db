// The outbox consumer against the real Redis (plain or cluster) and PostgreSQL of scripts/test.
//
// The user outbox streams are shared with every other suite, so each test checks only what it made:
// its own users (a per-run prefix) or its own private stream (a per-run hash tag).
import Foundation
@testable import Gateway
import JSON
import Persistence
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class OutboxConsumerTests: XCTestCase {
    var redis: RedisBlockingConnection!
    var db: PostgresConnection!
    var consumers: [OutboxConsumer] = []
    var privateStreams: [String] = []

    override func setUpWithError() throws {
        redis = RedisBlockingConnection(endpoint: try TestServices.redis())
        db = try WorkerTestSupport.migratedPostgres()
    }

    override func tearDown() {
        for consumer in consumers { consumer.stop() }
        for stream in privateStreams { _ = try? redis?.command(["DEL", stream, OutboxStreams.deadLetterStream(for: stream)]) }
        db?.close()
    }

    private func start(_ settings: OutboxConsumer.Settings) -> OutboxConsumer {
        let consumer = OutboxConsumer(settings: settings)
        consumers.append(consumer)
        consumer.start()
        return consumer
    }

    /// A stream of this test's own, tagged like the real ones so it works on a cluster.
    private func privateStream() -> String {
        let stream = "{\(WorkerTestSupport.runTag("s"))}:outbox"
        privateStreams.append(stream)
        return stream
    }

    // MARK: -

    func testFiftyThousandChargesFromManyClientsWithTwoConsumersLandExactlyOnce() throws {
        let prefix = WorkerTestSupport.runTag("u")
        let users = (0..<100).map { "usr_\(prefix)_\($0)" }
        var charges: [(user: String, amount: Int64)] = []
        for round in 0..<500 { for (i, user) in users.enumerated() { charges.append((user, Int64(1 + (round * 7 + i) % 97))) } }

        // Two consumers, running while the charges arrive.
        let first = start(try WorkerTestSupport.consumerSettings())
        let second = start(try WorkerTestSupport.consumerSettings())
        let started = Date()
        let ids = try WorkerTestSupport.charge(charges, clients: 10)
        XCTAssertEqual(ids.count, 50_000)

        XCTAssertTrue(waitUntil(120) { (try? WorkerTestSupport.rowCount(users: users, self.db)) == 50_000 },
                      "rows written: \((try? WorkerTestSupport.rowCount(users: users, db)) ?? -1)")
        let seconds = Date().timeIntervalSince(started)
        XCTAssertTrue(waitUntil(30) { (try? WorkerTestSupport.pendingEntries(mentioning: prefix, self.redis).isEmpty) == true })
        first.stop()
        second.stop()

        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: ids, db), 50_000, "every charge id is a row")
        XCTAssertEqual(try WorkerTestSupport.rowCount(users: users, db), 50_000, "and nothing else, nothing twice")
        let rows = try WorkerTestSupport.perUser(users, db)
        let balances = try WorkerTestSupport.balances(users, redis)
        for user in users {
            XCTAssertEqual(rows[user]?.count, 500, user)
            XCTAssertEqual(rows[user]?.sum, balances[user], "sum of amounts = Redis balance for \(user)")
            XCTAssertEqual(rows[user]?.maxBalance, balances[user], "max balance_after = Redis balance for \(user)")
        }
        let pending = try WorkerTestSupport.pending(OutboxStreams.userOutboxes, redis)
        XCTAssertEqual(pending.values.reduce(0, +), 0, "writer-pending per stream: \(pending.filter { $0.value > 0 })")
        let a = first.metrics.snapshot, b = second.metrics.snapshot
        XCTAssertGreaterThanOrEqual(a.rowsWritten + b.rowsWritten, 50_000)
        XCTAssertEqual(a.deadLetters + b.deadLetters, 0)
        print("50,000 charges made and written in \(String(format: "%.2f", seconds)) s; rows by consumer: \(a.rowsWritten) + \(b.rowsWritten), batches \(a.batches) + \(b.batches)")
    }

    func testAPoisonEventIsDeadLetteredAfterKAttemptsAndTheGoodOnesAreWritten() throws {
        let stream = privateStream()
        let tag = WorkerTestSupport.runTag("p")
        let goodIDs = (0..<6).map { "chg_\(tag)_good\($0)" }
        var entryIDs: [String: String] = [:]
        // Good ones around a poison: missing userId breaks wallet_transactions.user_id NOT NULL.
        for (i, id) in goodIDs.enumerated() {
            entryIDs[id] = try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: id, user: "usr_\(tag)"))
            if i == 2 {
                entryIDs["poison"] = try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: "chg_\(tag)_poison", user: nil))
            }
        }
        let consumer = start(try WorkerTestSupport.consumerSettings { $0.streams = [stream]; $0.maxAttempts = 5 })
        let dead = OutboxStreams.deadLetterStream(for: stream)
        XCTAssertTrue(waitUntil(30) { ((try? WorkerTestSupport.entries(dead, self.redis))?.count ?? 0) >= 1 }, "nothing dead-lettered")
        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: goodIDs, db), 6, "the good ones are written")
        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: ["chg_\(tag)_poison"], db), 0)

        let deadEntries = try WorkerTestSupport.entries(dead, redis)
        XCTAssertEqual(deadEntries.count, 1)
        let entry = try XCTUnwrap(deadEntries.first)
        // Every original field, then why.
        let original = WorkerTestSupport.chargeFields(id: "chg_\(tag)_poison", user: nil)
        for i in stride(from: 0, to: original.count, by: 2) where original[i] != "at" {
            XCTAssertEqual(entry.field(original[i]), original[i + 1], original[i])
        }
        XCTAssertEqual(entry.field("attempts"), "5")
        XCTAssertEqual(entry.field("sourceStream"), stream)
        XCTAssertEqual(entry.field("sourceId"), entryIDs["poison"])
        XCTAssertTrue(entry.field("error")?.contains("user_id") == true, entry.field("error") ?? "no error field")
        XCTAssertTrue(entry.field("error")?.contains("23502") == true, "the SQLSTATE travels with it: \(entry.field("error") ?? "")")

        XCTAssertTrue(waitUntil(5) { (try? WorkerTestSupport.pending([stream], self.redis)[stream]) == 0 }, "acknowledged after dead-lettering")
        let metrics = consumer.metrics.snapshot
        XCTAssertEqual(metrics.deadLetters, 1)
        XCTAssertEqual(metrics.eventRetries, 4, "K = 5 attempts: the first and 4 retries")
        XCTAssertEqual(metrics.rowsWritten, 6)
    }

    func testUndecodableEntriesAreDeadLetteredWithTheirError() throws {
        let stream = privateStream()
        let tag = WorkerTestSupport.runTag("d")
        let good = "chg_\(tag)_good"
        try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: good, user: "usr_\(tag)"))
        let bad: [(fields: [String], error: String)] = [
            (["v", "1", "type", "WALLET_CHARGED", "id", "chg_\(tag)_1", "at", "1", "data", "{not json"], "not JSON"),
            (["v", "1", "type", "NO_SUCH_EVENT", "id", "chg_\(tag)_2", "at", "1", "data", "{}"], "unknown event type NO_SUCH_EVENT"),
            (["v", "1", "type", "WALLET_CHARGED", "at", "1", "data", "{}"], "missing field id"),
            (["v", "2", "type", "WALLET_CHARGED", "id", "chg_\(tag)_4", "at", "1", "data", "{}"], "unsupported event version"),
            (["v", "1", "type", "WALLET_CHARGED", "id", "chg_\(tag)_5", "at", "1",
              "data", #"{"userId":"u","amount":1.5,"balanceAfter":2,"chargeId":"c"}"#], "data.amount must be an integer"),
        ]
        var sourceIDs: [String] = []
        for entry in bad { sourceIDs.append(try WorkerTestSupport.xadd(redis, stream, entry.fields)) }
        _ = start(try WorkerTestSupport.consumerSettings { $0.streams = [stream]; $0.maxAttempts = 2 })
        let dead = OutboxStreams.deadLetterStream(for: stream)
        XCTAssertTrue(waitUntil(30) { ((try? WorkerTestSupport.entries(dead, self.redis))?.count ?? 0) == bad.count })
        let deadEntries = try WorkerTestSupport.entries(dead, redis)
        for (i, expected) in bad.enumerated() {
            guard let entry = deadEntries.first(where: { $0.field("sourceId") == sourceIDs[i] }) else {
                XCTFail("entry \(i) not dead-lettered")
                continue
            }
            XCTAssertTrue(entry.field("error")?.contains(expected.error) == true, "\(entry.field("error") ?? "") should say \(expected.error)")
            XCTAssertEqual(entry.field("attempts"), "2")
        }
        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: [good], db), 1)
        XCTAssertTrue(waitUntil(5) { (try? WorkerTestSupport.pending([stream], self.redis)[stream]) == 0 })
    }

    func testEntriesLeftPendingByADeadConsumerAreTakenOver() throws {
        let stream = privateStream()
        let tag = WorkerTestSupport.runTag("r")
        let ids = (0..<20).map { "chg_\(tag)_\($0)" }
        try redis.command(["XGROUP", "CREATE", stream, OutboxStreams.writerGroup, "0", "MKSTREAM"])
        for id in ids { try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: id, user: "usr_\(tag)")) }
        // A consumer that read them and died.
        _ = try redis.command(["XREADGROUP", "GROUP", OutboxStreams.writerGroup, "ghost-\(tag)", "COUNT", "100", "STREAMS", stream, ">"])
        XCTAssertEqual(try WorkerTestSupport.pending([stream], redis)[stream], 20)

        let consumer = start(try WorkerTestSupport.consumerSettings { $0.streams = [stream]; $0.claimIdleMilliseconds = 500 })
        XCTAssertTrue(waitUntil(20) { (try? WorkerTestSupport.rowCount(ids: ids, self.db)) == 20 })
        XCTAssertTrue(waitUntil(5) { (try? WorkerTestSupport.pending([stream], self.redis)[stream]) == 0 })
        XCTAssertEqual(consumer.metrics.snapshot.reclaimed, 20)
        XCTAssertEqual(consumer.metrics.snapshot.deadLetters, 0)
    }

    func testAnEntryThatKeepsKillingWorkersIsDeadLetteredAfterKDeliveries() throws {
        let stream = privateStream()
        let tag = WorkerTestSupport.runTag("k")
        try redis.command(["XGROUP", "CREATE", stream, OutboxStreams.writerGroup, "0", "MKSTREAM"])
        let killer = try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: "chg_\(tag)_killer", user: "usr_\(tag)"))
        // Delivered five times to consumers that each died before acknowledging it.
        _ = try redis.command(["XREADGROUP", "GROUP", OutboxStreams.writerGroup, "ghost-\(tag)", "COUNT", "1", "STREAMS", stream, ">"])
        for n in 2...5 {
            _ = try redis.command(["XCLAIM", stream, OutboxStreams.writerGroup, "ghost-\(tag)-\(n)", "0", killer, "RETRYCOUNT", String(n)])
        }
        _ = start(try WorkerTestSupport.consumerSettings { $0.streams = [stream]; $0.claimIdleMilliseconds = 300; $0.maxAttempts = 5 })
        let dead = OutboxStreams.deadLetterStream(for: stream)
        XCTAssertTrue(waitUntil(20) { ((try? WorkerTestSupport.entries(dead, self.redis))?.count ?? 0) == 1 })
        let entry = try XCTUnwrap(try WorkerTestSupport.entries(dead, redis).first)
        XCTAssertEqual(entry.field("sourceId"), killer)
        XCTAssertEqual(entry.field("attempts"), "6", "taken over a sixth time: more than K = 5 deliveries")
        XCTAssertTrue(entry.field("error")?.contains("delivered 6 times") == true, entry.field("error") ?? "")
        XCTAssertEqual(try WorkerTestSupport.rowCount(ids: ["chg_\(tag)_killer"], db), 0, "it was not tried a sixth time")
        XCTAssertEqual(try WorkerTestSupport.pending([stream], redis)[stream], 0)
    }

    func testTrimmingNeverPassesAnEntryAGroupHasNotAcknowledged() throws {
        let stream = privateStream()
        let tag = WorkerTestSupport.runTag("t")
        let audit = "audit-\(tag)"
        for group in [OutboxStreams.writerGroup, audit] { try redis.command(["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"]) }
        var entryIDs: [String] = []
        var eventIDs: [String] = []
        for i in 0..<20 {
            eventIDs.append("chg_\(tag)_\(i)")
            entryIDs.append(try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: eventIDs[i], user: "usr_\(tag)")))
        }
        // The second group has read 10 and acknowledged the first 4: entries 5…10 are pending there.
        _ = try redis.command(["XREADGROUP", "GROUP", audit, "auditor", "COUNT", "10", "STREAMS", stream, ">"])
        try redis.command(["XACK", stream, audit] + entryIDs[0..<4])

        _ = start(try WorkerTestSupport.consumerSettings {
            $0.streams = [stream]
            $0.groups = [OutboxStreams.writerGroup, audit]
            $0.trimIntervalMilliseconds = 100
            $0.gaugeIntervalMilliseconds = 50
        })
        XCTAssertTrue(waitUntil(20) { (try? WorkerTestSupport.rowCount(ids: eventIDs, self.db)) == 20 })
        func first() -> String? { try? WorkerTestSupport.entries(stream, redis).first?.id }
        func length() -> Int { Int((try? redis.command(["XLEN", stream]).int) ?? -1) ?? -1 }
        XCTAssertTrue(waitUntil(10) { first() == entryIDs[4] }, "trimmed to the audit group's oldest pending entry; first is \(first() ?? "none")")
        usleep(500_000)  // several trim rounds: it goes no further
        XCTAssertEqual(first(), entryIDs[4])
        XCTAssertEqual(length(), 16)

        // Once the audit group acknowledges them, its bound is the last entry it was handed.
        try redis.command(["XACK", stream, audit] + entryIDs[4..<10])
        XCTAssertTrue(waitUntil(10) { first() == entryIDs[9] }, "first is \(first() ?? "none")")
        usleep(500_000)
        XCTAssertEqual(length(), 11, "entries the audit group has not been handed yet stay")

        // A group of the list that is missing has read nothing yet: no trimming at all.
        try redis.command(["XGROUP", "DESTROY", stream, audit])
        let more = (20..<25).map { "chg_\(tag)_\($0)" }
        for id in more { try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: id, user: "usr_\(tag)")) }
        XCTAssertTrue(waitUntil(20) { (try? WorkerTestSupport.rowCount(ids: more, self.db)) == 5 })
        usleep(500_000)
        XCTAssertEqual(length(), 16)
        XCTAssertEqual(first(), entryIDs[9])
    }

    func testTheWorkerProcessDrainsTheOutboxAndServesItsMetrics() throws {
        var configuration = Configuration()
        configuration.redisURL = try TestServices.redis().description
        configuration.postgresURL = try TestServices.postgresURL()
        configuration.workerPort = 0
        configuration.workerClaimIdleMilliseconds = 1_000
        let worker = try WorkerProcess(configuration: configuration)
        try worker.start()
        defer { worker.shutdown() }
        let prefix = WorkerTestSupport.runTag("m")
        let users = (0..<4).map { "usr_\(prefix)_\($0)" }
        let ids = try WorkerTestSupport.charge(users.flatMap { user in (0..<50).map { _ in (user, Int64(3)) } }, clients: 2)
        XCTAssertTrue(waitUntil(30) { (try? WorkerTestSupport.rowCount(ids: ids, self.db)) == 200 })
        XCTAssertTrue(waitUntil(10) { worker.outbox.metrics.snapshot.gaugesReadMilliseconds > 0 })
        usleep(1_200_000)  // one more gauge round after the drain

        let response = try XCTUnwrap(try RawHTTPClient.request(port: worker.port, "GET", "/metrics"))
        XCTAssertEqual(response.status, 200)
        let text = response.bodyText
        for name in ["floodgate_outbox_backlog", "floodgate_outbox_undelivered", "floodgate_outbox_pending", "floodgate_outbox_lag_seconds",
                     "floodgate_outbox_batches_total", "floodgate_outbox_rows_written_total", "floodgate_outbox_retries_total",
                     "floodgate_outbox_dead_letters_total", "floodgate_outbox_last_commit_timestamp_seconds"] {
            XCTAssertTrue(text.contains("# TYPE \(name) "), "missing \(name)")
        }
        for stream in OutboxStreams.userOutboxes {
            XCTAssertTrue(text.contains("floodgate_outbox_backlog{stream=\"\(stream)\"}"), "no backlog gauge for \(stream)")
        }
        let written = text.split(separator: "\n").first { $0.hasPrefix("floodgate_outbox_rows_written_total ") }
        XCTAssertGreaterThanOrEqual(Int(written?.split(separator: " ").last ?? "") ?? 0, 1, String(written ?? "none"))
        let lastCommit = text.split(separator: "\n").first { $0.hasPrefix("floodgate_outbox_last_commit_timestamp_seconds ") }
        XCTAssertGreaterThan(Double(lastCommit?.split(separator: " ").last ?? "") ?? 0, 1_600_000_000)
        let health = try XCTUnwrap(try RawHTTPClient.request(port: worker.port, "GET", "/health"))
        XCTAssertEqual(health.status, 200, health.bodyText)
    }
}
