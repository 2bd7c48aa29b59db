// The data-platform feed against the real Redis (plain or cluster) and the mock receiver: paid orders
// through a real gateway reach a receiver that fails half the time and vanishes for 20 s, exactly once
// per key after deduplication; other types are acknowledged; refusals end in the dead-letter stream;
// trimming with delivery off; the worker's metrics. Private streams and lease keys keep tests apart.
import Foundation
@testable import Gateway
import HTTP
import JSON
import Queue
import Runtime
import TestSupport
@testable import Worker
import XCTest

final class PlatformFeedTests: XCTestCase {
    var redis: RedisBlockingConnection!
    var receiver: MockPlatformReceiver?
    var feeds: [PlatformFeed] = []
    var consumers: [OutboxConsumer] = []
    var fixture: GatewayFixture?
    var keys: [String] = []

    override func setUpWithError() throws {
        redis = RedisBlockingConnection(endpoint: try TestServices.redis())
    }

    override func tearDown() {
        for feed in feeds { feed.stop() }
        for consumer in consumers { consumer.stop() }
        receiver?.shutdown()
        fixture?.shutdown()
        for key in keys { _ = try? redis?.command(["DEL", key]) }
    }

    private func privateStream() -> String {
        let stream = "{\(WorkerTestSupport.runTag("p"))}:outbox"
        keys += [stream, OutboxStreams.deadLetterStream(for: stream)]
        return stream
    }

    private func startReceiver(_ behaviour: MockPlatformReceiver.Behaviour = .init()) throws -> MockPlatformReceiver {
        let receiver = try MockPlatformReceiver(port: 0, behaviour: behaviour)
        try receiver.listen()
        self.receiver = receiver
        return receiver
    }

    private func startFeed(_ streams: [String], _ receiver: MockPlatformReceiver,
                           _ configure: (inout PlatformFeed.Settings) -> Void = { _ in }) throws -> PlatformFeed {
        var settings = PlatformFeed.Settings(redis: try TestServices.redis(), url: try HTTPURL(receiver.url))
        settings.streams = streams
        settings.streamRegistry = nil
        settings.claimIdleMilliseconds = 1_000
        settings.leaseKey = "floodgate:test:\(WorkerTestSupport.runTag("lease"))"
        keys.append(settings.leaseKey)
        configure(&settings)
        let feed = PlatformFeed(settings: settings)
        feeds.append(feed)
        try feed.start()
        return feed
    }

    private func orderPaidFields(orderID: String, user: String = "usr_platform", total: Int64 = 3_000, extra: String = "") -> [String] {
        let data = #"{"orderId":"\#(orderID)","eventId":"evt_x","userId":"\#(user)","items":[{"productId":"prd_x","quantity":1,"unitPrice":\#(total)}],"totalAmount":\#(total),"createdAt":1795297100000,"expiresAt":1795297400000,"paymentId":"pay_\#(orderID)","paidAt":1795297105528\#(extra)}"#
        return ["v", "1", "type", "ORDER_PAID", "id", "paid_\(orderID)", "at", "1795297105528", "data", data]
    }

    private func platformPending(_ stream: String) throws -> Int {
        Int(StreamReplies.pendingSummary(try redis.command(["XPENDING", stream, OutboxStreams.platformGroup]))?.count ?? -1)
    }

    // MARK: - The whole path

    func testPaidOrdersReachAFlakyReceiverThatIsDownForTwentySecondsExactlyOncePerKey() throws {
        let fixture = try GatewayFixture(instances: 1) { $0.adminKey = "platform-admin-key" }
        self.fixture = fixture
        let admin = ["X-Admin-Key": "platform-admin-key"]
        let eventID = try fixture.json(try fixture.request("POST", "/admin/events", body: #"{"name":"Feed sale","kind":"sale","queue":{"enabled":false}}"#,
                                                           headers: admin))["eventId"]!.stringValue!
        let productID = try fixture.json(try fixture.request("POST", "/admin/products", body: #"{"name":"P","price":2500,"stock":1000,"eventId":"\#(eventID)"}"#,
                                                             headers: admin))["productId"]!.stringValue!
        let users = try fixture.seedUsers(60)
        let charges = users.map { RawHTTPClient.requestText("POST", "/wallet/charge", body: #"{"amount":100000}"#, headers: ["Authorization": "Bearer \($0.token)"]) }
        XCTAssertEqual(try fixture.burst(charges).filter { $0?.status == 200 }.count, users.count)

        let receiver = try startReceiver(.init(failShare: 0.5))
        let feed = try startFeed([EventKeys(eventID: eventID).outbox], receiver) {
            $0.backoff = PlatformBackoff(baseMilliseconds: 50, capMilliseconds: 2_000)
            $0.http.requestTimeoutMilliseconds = 1_000
        }
        var paidOrders = Set<String>()
        func pay(_ round: Int) throws {
            let orders = users.map { RawHTTPClient.requestText("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":1}],"pay":true}"#,
                                                               headers: ["Authorization": "Bearer \($0.token)", "Idempotency-Key": "feed-\(round)"]) }
            for response in try fixture.burst(orders, connectionsPerInstance: 20) {
                XCTAssertEqual(response?.status, 201, response?.bodyText ?? "no response")
                if let response, response.status == 201 { paidOrders.insert(try fixture.json(response)["orderId"]!.stringValue!) }
            }
        }
        try pay(0)
        XCTAssertTrue(waitUntil(30) { receiver.snapshot.counts.unique >= 10 }, "some deliveries get through before the outage")

        // The receiver goes away while orders keep being paid: payments do not notice.
        receiver.stopListening()
        let downSince = Date()
        try pay(1)
        while Date().timeIntervalSince(downSince) < 10 { usleep(100_000) }
        try pay(2)
        while Date().timeIntervalSince(downSince) < 20 { usleep(100_000) }
        let failuresWhileDown = feed.metrics.snapshot.failures["connect", default: 0]
        XCTAssertGreaterThan(failuresWhileDown, 0, "deliveries were tried (and refused) while the receiver was down")
        try receiver.listen()
        try pay(3)
        XCTAssertEqual(paidOrders.count, 4 * users.count)

        XCTAssertTrue(waitUntil(120) { receiver.snapshot.counts.unique == paidOrders.count },
                      "delivered \(receiver.snapshot.counts.unique) of \(paidOrders.count)")
        XCTAssertTrue(waitUntil(30) { (try? self.platformPending(EventKeys(eventID: eventID).outbox)) == 0 })
        let (counts, ids) = receiver.snapshot
        XCTAssertEqual(Set(ids), Set(paidOrders.map { "paid_\($0)" }), "every paid order, under its outbox event id")
        XCTAssertEqual(counts.unique, paidOrders.count, "deduplicated count equals paid orders exactly")
        XCTAssertGreaterThanOrEqual(counts.duplicates, 0)
        XCTAssertGreaterThan(counts.failed, 0, "half the attempts failed on purpose")
        XCTAssertEqual(counts.received, counts.unique + counts.duplicates + counts.failed + counts.rejected)
        XCTAssertEqual(counts.rejected, 0)
        let metrics = feed.metrics.snapshot
        XCTAssertEqual(metrics.delivered + metrics.duplicates, counts.unique + counts.duplicates)
        XCTAssertGreaterThanOrEqual(metrics.retries, counts.failed)
        XCTAssertEqual(metrics.deadLetters, 0)

        // The body follows API.md: amount, items, paidAt as RFC 3339.
        let body = try JSONParser.parse(String(decoding: try XCTUnwrap(receiver.body(for: ids[0])), as: UTF8.self))
        XCTAssertEqual(body["type"]?.stringValue, "ORDER_PAID")
        XCTAssertEqual(body["amount"]?.intValue, 2_500)
        XCTAssertEqual(body["items"]?[0]?["productId"]?.stringValue, productID)
        XCTAssertNotNil(Timestamp.parseRFC3339(body["paidAt"]?.stringValue ?? ""))
        XCTAssertTrue(paidOrders.contains(body["id"]?.stringValue ?? ""))
    }

    func testAConfirmedSeatAndADiscountedOrderAreDeliveredWithWhatWasPaid() throws {
        let fixture = try GatewayFixture(instances: 1) { $0.adminKey = "platform-admin-key" }
        self.fixture = fixture
        let admin = ["X-Admin-Key": "platform-admin-key"]
        let starts = Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        let concert = try fixture.json(try fixture.request("POST", "/admin/concerts", body: #"{"name":"Feed tour","artist":"Band","queue":{"enabled":false},"performances":[{"startsAt":"\#(starts)","price":50000,"seats":10}]}"#,
                                                           headers: admin))
        let concertID = concert["concertId"]!.stringValue!
        let performanceID = concert["performances"]![0]!["performanceId"]!.stringValue!
        let productID = try fixture.json(try fixture.request("POST", "/admin/products", body: #"{"name":"P","price":3000,"stock":10,"eventId":"\#(concertID)"}"#,
                                                             headers: admin))["productId"]!.stringValue!
        let couponID = try fixture.json(try fixture.request("POST", "/admin/coupons", body: #"{"name":"Feed","discountType":"AMOUNT","discountValue":1000,"quantity":5}"#,
                                                            headers: admin))["couponId"]!.stringValue!
        let user = try fixture.newUser()
        XCTAssertEqual(try fixture.request("POST", "/wallet/charge", body: #"{"amount":100000}"#, token: user.accessToken).status, 200)
        XCTAssertEqual(try fixture.request("POST", "/coupons/\(couponID)/issue", token: user.accessToken).status, 201)
        let held = try fixture.json(try fixture.request("POST", "/performances/\(performanceID)/seats/5/hold", token: user.accessToken))
        let reservationID = held["reservationId"]!.stringValue!
        XCTAssertEqual(try fixture.request("POST", "/payments", body: #"{"reservationId":"\#(reservationID)"}"#, token: user.accessToken).status, 201)
        let order = try fixture.request("POST", "/orders", body: #"{"items":[{"productId":"\#(productID)","quantity":2}],"couponId":"\#(couponID)"}"#,
                                        token: user.accessToken)
        XCTAssertEqual(order.status, 201, order.bodyText)
        let orderID = try fixture.json(order)["orderId"]!.stringValue!

        let receiver = try startReceiver()
        _ = try startFeed([EventKeys(eventID: concertID).outbox], receiver)
        XCTAssertTrue(waitUntil(30) { receiver.snapshot.counts.unique == 2 }, "delivered \(receiver.snapshot.counts.unique) of 2")
        let seat = try JSONParser.parse(String(decoding: try XCTUnwrap(receiver.body(for: "cnf_\(reservationID)")), as: UTF8.self))
        XCTAssertEqual(seat["type"]?.stringValue, "RESERVATION_CONFIRMED")
        XCTAssertEqual(seat["id"]?.stringValue, reservationID)
        XCTAssertEqual(seat["userId"]?.stringValue, user.id)
        XCTAssertEqual(seat["amount"]?.intValue, 50_000)
        XCTAssertEqual(seat["seat"]?["performanceId"]?.stringValue, performanceID)
        XCTAssertEqual(seat["seat"]?["seatNo"]?.intValue, 5)
        XCTAssertNotNil(Timestamp.parseRFC3339(seat["paidAt"]?.stringValue ?? ""))
        let paid = try JSONParser.parse(String(decoding: try XCTUnwrap(receiver.body(for: "paid_\(orderID)")), as: UTF8.self))
        XCTAssertEqual(paid["amount"]?.intValue, 5_000, "what was paid: 6,000 less the coupon's 1,000")
    }

    // MARK: - Pieces

    func testOtherTypesAreAcknowledgedAtOnceAndNeverSent() throws {
        let stream = privateStream()
        let receiver = try startReceiver()
        var last = ""
        for i in 0..<20 { last = try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: "chg_\(i)", user: "usr_p")) }
        let feed = try startFeed([stream], receiver)
        XCTAssertTrue(waitUntil(20) { feed.metrics.snapshot.skipped == 20 })
        XCTAssertTrue(waitUntil(10) { (try? self.platformPending(stream)) == 0 })
        let info = StreamReplies.groups(try redis.command(["XINFO", "GROUPS", stream]))?[OutboxStreams.platformGroup]
        XCTAssertEqual(info?.lastDeliveredID.description, last, "the group read all of them")
        XCTAssertEqual(receiver.snapshot.counts.received, 0)
    }

    func testARefusedDeliveryGoesToTheDeadLetterStreamAfterKRefusalsAndOthersStillArrive() throws {
        let stream = privateStream()
        let receiver = try startReceiver(.init(failShare: 1, failStatus: 422))
        try WorkerTestSupport.xadd(redis, stream, orderPaidFields(orderID: "ord_poison"))
        let feed = try startFeed([stream], receiver) {
            $0.maxAttempts = 3
            $0.backoff = PlatformBackoff(baseMilliseconds: 10, capMilliseconds: 50)
        }
        XCTAssertTrue(waitUntil(30) { feed.metrics.snapshot.deadLetters == 1 })
        let dead = try WorkerTestSupport.entries(OutboxStreams.deadLetterStream(for: stream), redis)
        XCTAssertEqual(dead.count, 1)
        XCTAssertEqual(dead.first?.field("id"), "paid_ord_poison")
        XCTAssertEqual(dead.first?.field("group"), OutboxStreams.platformGroup)
        XCTAssertEqual(dead.first?.field("attempts"), "3")
        XCTAssertTrue(dead.first?.field("error")?.contains("422") == true, dead.first?.field("error") ?? "")
        XCTAssertEqual(receiver.snapshot.counts.failed, 3, "K attempts, then no more")
        XCTAssertEqual(try platformPending(stream), 0)

        // A receiver that accepts again gets the next one; the poison one stays where it is.
        receiver.behaviour = .init()
        try WorkerTestSupport.xadd(redis, stream, orderPaidFields(orderID: "ord_fine", extra: #","discountAmount":500"#))
        XCTAssertTrue(waitUntil(20) { receiver.snapshot.ids == ["paid_ord_fine"] })
        let body = try JSONParser.parse(String(decoding: try XCTUnwrap(receiver.body(for: "paid_ord_fine")), as: UTF8.self))
        XCTAssertEqual(body["amount"]?.intValue, 2_500, "total 3,000 minus the 500 discount")
    }

    func testAnUnmappablePayloadIsDeadLetteredAtOnce() throws {
        let stream = privateStream()
        let receiver = try startReceiver()
        try WorkerTestSupport.xadd(redis, stream, ["v", "1", "type", "ORDER_PAID", "id", "paid_broken", "at", "1", "data", #"{"orderId":"broken"}"#])
        let feed = try startFeed([stream], receiver)
        XCTAssertTrue(waitUntil(20) { feed.metrics.snapshot.deadLetters == 1 })
        XCTAssertEqual(try WorkerTestSupport.entries(OutboxStreams.deadLetterStream(for: stream), redis).first?.field("sourceStream"), stream)
        XCTAssertEqual(receiver.snapshot.counts.received, 0)
    }

    func testTrimmingWaitsForThePlatformGroupOnlyWhileItsLeaseExists() throws {
        let stream = privateStream()
        let lease = "floodgate:test:\(WorkerTestSupport.runTag("lease"))"
        keys.append(lease)
        for group in OutboxStreams.groups { try redis.command(["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"]) }
        var entryIDs: [String] = []
        var eventIDs: [String] = []
        let tag = WorkerTestSupport.runTag("t")
        for i in 0..<10 {
            eventIDs.append("chg_\(tag)_\(i)")
            entryIDs.append(try WorkerTestSupport.xadd(redis, stream, WorkerTestSupport.chargeFields(id: eventIDs[i], user: "usr_\(tag)")))
        }
        // A feed is on (lease held) and has read 3 entries, acknowledged none.
        try redis.command(["SET", lease, "someone", "PX", "60000"])
        _ = try redis.command(["XREADGROUP", "GROUP", OutboxStreams.platformGroup, "feed", "COUNT", "3", "STREAMS", stream, ">"])
        let consumer = OutboxConsumer(settings: try WorkerTestSupport.consumerSettings {
            $0.streams = [stream]
            $0.leasedGroups = [OutboxStreams.platformGroup: lease]
            $0.trimIntervalMilliseconds = 100
            $0.gaugeIntervalMilliseconds = 50
        })
        consumers.append(consumer)
        consumer.start()
        let db = try WorkerTestSupport.migratedPostgres()
        defer { db.close() }
        XCTAssertTrue(waitUntil(20) { (try? WorkerTestSupport.rowCount(ids: eventIDs, db)) == 10 })
        usleep(500_000)  // several trim rounds
        XCTAssertEqual(try WorkerTestSupport.entries(stream, redis).first?.id, entryIDs[0], "the feed's oldest pending entry stays")

        // Delivery turned off: the lease lapses, and the writer trims as far as it alone allows.
        try redis.command(["DEL", lease])
        XCTAssertTrue(waitUntil(10) { (try? WorkerTestSupport.entries(stream, self.redis).first?.id) == entryIDs[9] },
                      "first is \((try? WorkerTestSupport.entries(stream, redis).first?.id) ?? "none")")
    }

    func testTheWorkerRunsTheFeedOnlyWithAURLAndShowsItsMetrics() throws {
        var configuration = Configuration()
        configuration.redisURL = try TestServices.redis().description
        configuration.postgresURL = try TestServices.postgresURL()
        configuration.workerPort = 0
        XCTAssertNil(try PlatformFeed.Settings(configuration: configuration), "no URL, no delivery")
        configuration.dataPlatformURL = ""
        XCTAssertNil(try PlatformFeed.Settings(configuration: configuration), "an empty URL is no URL")

        let receiver = try startReceiver()
        configuration.dataPlatformURL = receiver.url
        keys.append(OutboxStreams.platformLease)  // not left behind to hold other suites' trimming
        let worker = try WorkerProcess(configuration: configuration)
        let feed = try XCTUnwrap(worker.platformFeed)
        try worker.start()
        defer { worker.shutdown() }
        XCTAssertTrue(waitUntil(10) { (try? self.redis.command(["EXISTS", OutboxStreams.platformLease]).int) == 1 }, "the running feed holds the lease")
        XCTAssertTrue(waitUntil(10) { !feed.metrics.snapshot.backlog.isEmpty })
        let response = try XCTUnwrap(try RawHTTPClient.request(port: worker.port, "GET", "/metrics"))
        XCTAssertEqual(response.status, 200)
        for name in ["floodgate_platform_delivery_enabled 1", "# TYPE floodgate_platform_delivered_total counter",
                     "# TYPE floodgate_platform_failures_total counter", "# TYPE floodgate_platform_retries_total counter",
                     "# TYPE floodgate_platform_backlog gauge", "floodgate_platform_backlog{stream=\"{u00}:outbox\"}",
                     "# TYPE floodgate_platform_dead_letters_total counter"] {
            XCTAssertTrue(response.bodyText.contains(name), "missing \(name)")
        }
    }

    // MARK: - Pure parts

    func testBackoffStaysWithinItsBounds() {
        let backoff = PlatformBackoff(baseMilliseconds: 100, capMilliseconds: 30_000)
        XCTAssertEqual((1...12).map { backoff.ceiling(retry: $0) },
                       [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000, 30_000])
        XCTAssertEqual(backoff.ceiling(retry: 1_000), 30_000, "no overflow far out")
        var random = SystemRandomNumberGenerator()
        for retry in 1...15 {
            let delays = (0..<200).map { _ in backoff.delay(retry: retry, using: &random) }
            XCTAssertTrue(delays.allSatisfy { (0...backoff.ceiling(retry: retry)).contains($0) }, "retry \(retry)")
        }
        XCTAssertEqual(PlatformDelivery.verdict(status: 200), .delivered)
        XCTAssertEqual(PlatformDelivery.verdict(status: 409), .delivered)
        for status in [408, 429, 500, 502, 503] { XCTAssertEqual(PlatformDelivery.verdict(status: status), .retry, "\(status)") }
        for status in [400, 401, 404, 422, 301] { XCTAssertEqual(PlatformDelivery.verdict(status: status), .refused, "\(status)") }
    }

    func testReservationBodiesFollowTheContract() throws {
        let entry = OutboxEntry(stream: "s", id: "1-0", fields: [
            ("v", "1"), ("type", "RESERVATION_CONFIRMED"), ("id", "cnf_res_1"), ("at", "1795297105528"),
            ("data", #"{"reservationId":"res_1","eventId":"evt_1","performanceId":"prf_1","seatNo":"A-12","userId":"usr_1","amount":90000,"discountAmount":10000,"paidAmount":80000,"paymentId":"pay_res_1","paidAt":1795297105528}"#),
        ], deliveries: 1)
        let event = try OutboxEvent.decode(entry) { _ in true }
        let body = try JSONParser.parse(String(decoding: try PlatformDelivery.body(for: event), as: UTF8.self))
        XCTAssertEqual(body["type"]?.stringValue, "RESERVATION_CONFIRMED")
        XCTAssertEqual(body["id"]?.stringValue, "res_1")
        XCTAssertEqual(body["userId"]?.stringValue, "usr_1")
        XCTAssertEqual(body["amount"]?.intValue, 80_000)
        XCTAssertEqual(body["seat"]?["performanceId"]?.stringValue, "prf_1")
        XCTAssertEqual(body["seat"]?["seatNo"]?.stringValue, "A-12")
        XCTAssertEqual(body["paidAt"]?.stringValue, Timestamp.rfc3339(millis: 1_795_297_105_528))
    }
}
