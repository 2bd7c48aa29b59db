// Lazy release: a reader that meets a seat hold past its deadline releases it on the spot (seat_release.lua,
// EXPIRED) instead of waiting for the sweeper, so the outbox and every later reader see it ended on time.
// The script releases only what is still HELD and past due, so racing the sweeper frees the seat once.
import Inventory
import Queue
import Runtime

enum LapsedHolds {
    /// Releases each reservation (all of `eventID`); calls `then` when all are done. A failure is left to
    /// the sweeper: the reader's answer does not depend on it (a lapsed hold already reads AVAILABLE).
    static func release(_ request: APIRequest, eventID: String, _ reservationIDs: [String], then: @escaping () -> Void) {
        guard !reservationIDs.isEmpty else { return then() }
        let keys = EventKeys(eventID: eventID)
        var remaining = reservationIDs.count
        let done = {
            remaining -= 1
            if remaining == 0 { then() }
        }
        for id in reservationIDs {
            request.redis.send(["HGET", keys.reservation(id), "record"]) { result in
                guard case .success(let value) = result, let record = value.string.flatMap(ReservationRecord.init(json:)) else { return done() }
                SeatReleaseScript(record: record, reason: "EXPIRED").run(on: request.redis) { _ in done() }
            }
        }
    }
}
