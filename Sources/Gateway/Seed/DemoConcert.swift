// The demo concert of `floodgate seed`: a queued concert (like the demo sale: 100 inside at once, 50
// admitted per second) with two performances of 50 seats, 30 and 31 days after the day it was first
// seeded, so they are bookable dates. Idempotent: the rows are made once; the performances' facts are
// written to Redis on every seed (they never change) and seats already taken stay taken.
import Foundation
import Persistence
import Queue
import Runtime

enum DemoConcert {
    public static let eventID = "evt_0000000000000000000c0001"
    static let performanceIDs = ["prf_0000000000000000000c0001", "prf_0000000000000000000c0002"]
    static let price: Int64 = 99_000

    static func seed(_ db: PostgresConnection, _ redis: RedisBlockingConnection) throws -> [String] {
        var done: [String] = []
        if try EventStore.find(id: eventID, db) == nil {
            let day: Int64 = 86_400_000
            let today = Int64(Date().timeIntervalSince1970 * 1000) / day * day
            let performances = performanceIDs.enumerated().map { index, id in
                StoredPerformance(id: id, eventID: eventID, startsAtMs: today + Int64(30 + index) * day + 19 * 3_600_000, price: price,
                                  totalSeats: 50, maxSeatsPerUser: 4)
            }
            let event = StoredEvent(id: eventID, name: "Demo concert", kind: "concert", startsAtMs: performances[0].startsAtMs, queue: DemoSeeder.demoQueue,
                                    queueSecret: SecureRandom.hex(bytes: 20), queueVersion: 1, createdAtMs: 0)
            _ = try ConcertStore.insert(event: event, artist: "The Demo Band", maxSeatsPerUser: 4, performances: performances, db)
            done.append("concert \(eventID)")
        }
        if let event = try EventStore.find(id: eventID, db) {
            let script = QueueScript(eventID: eventID)
            let facts = try ConcertStore.performances(eventID: eventID, db).map(\.factsCommand)
            _ = try redis.pipeline([["SADD", EventKeys.registry, eventID], ["SADD", EventKeys.outboxRegistry, script.keys.outbox]] + facts)
            _ = try script.run(script.configure(event.queue, secret: event.queueSecret, version: event.queueVersion), on: redis)
        }
        return done
    }
}
