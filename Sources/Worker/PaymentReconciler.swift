// Finishes payments a crash left half-done. A payment is DEBITED (money taken, in its shard's open set)
// until wallet_settle.lua marks it CONFIRMED or REFUNDED. Once a second this reconciler looks, in each of
// the 16 user shards, for payments debited longer ago than FLOODGATE_RECONCILE_AFTER_SECONDS (a live
// request finishes in milliseconds) and drives them to the end with the same idempotent scripts the
// gateway uses, in the same PaymentSteps: the coupon's reservation when the payment has one, then
// order_confirm.lua (PAID while the hold is alive), the coupon USED or given back, and wallet_settle.lua
// (CONFIRM, or REFUND when the order or the coupon could not take it). So "debited" always ends as paid
// or refunded, never both — order_confirm accepts one payment id per order, coupon_reserve keeps its
// refusals, and a refund needs the payment still DEBITED.
import Foundation
import Inventory
import Queue
import Runtime

public final class PaymentReconciler: @unchecked Sendable {
    private let redis: RedisBlockingConnection
    private let graceMilliseconds: Int64
    private let lock = NSCondition()
    private var stopping = false
    private var thread: Thread?
    private var paidCount = 0
    private var refundedCount = 0

    /// The 16 user shard tags (UserKeys' `{u00}` … `{u15}`).
    static let shardTags: [String] = (0..<16).map { $0 < 10 ? "{u0\($0)}" : "{u\($0)}" }

    public init(redis: RedisEndpoint, graceSeconds: Int) {
        self.redis = RedisBlockingConnection(endpoint: redis)
        graceMilliseconds = Int64(graceSeconds) * 1000
    }

    public var counts: (paid: Int, refunded: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (paidCount, refundedCount)
    }

    public func start() {
        let thread = Thread { [self] in
            while !isStopping {
                do { try reconcileOnce() } catch { Log.debug("reconciler round failed", ["error": "\(error)"]) }
                lock.lock()
                if !stopping { _ = lock.wait(until: Date().addingTimeInterval(1)) }
                lock.unlock()
            }
        }
        thread.name = "reconciler"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// One pass over every shard; returns how many payments it finished.
    @discardableResult
    public func reconcileOnce() throws -> Int {
        guard case .array(let clock) = try redis.command(["TIME"]), clock.count == 2,
              let seconds = clock[0].int, let micros = clock[1].int else { return 0 }
        let cutoff = seconds * 1000 + micros / 1000 - graceMilliseconds
        var finished = 0
        for tag in Self.shardTags {
            let keys = PaymentKeys(tag: tag)
            guard case .array(let due) = try redis.command(["ZRANGEBYSCORE", keys.open, "-inf", String(cutoff), "LIMIT", "0", "100"]) else { continue }
            for paymentID in due.compactMap(\.string) {
                if try finish(paymentID, keys) { finished += 1 }
            }
        }
        return finished
    }

    /// What the payment pays for: an order, or a reservation (whose confirm keys need its record).
    private func target(ref: String, eventID: String, userID: String) throws -> PaymentTarget? {
        if ref.hasPrefix("ord_") { return PaymentTarget(orderID: ref, eventID: eventID) }
        guard ref.hasPrefix("rsv_") else { return nil }
        let record = try redis.command(["HGET", EventKeys(eventID: eventID).reservation(ref), "record"]).string
        guard let reservation = record.flatMap(ReservationRecord.init(json:)) else {
            return PaymentTarget(lostReservation: ref, eventID: eventID, userID: userID)
        }
        return PaymentTarget(reservation: reservation)
    }

    private func finish(_ paymentID: String, _ keys: PaymentKeys) throws -> Bool {
        guard case .array(let fields) = try redis.command(["HMGET", keys.payment(paymentID), "state", "user", "ref", "eventId",
                                                           "amount", "couponId", "discount"]),
              fields.count == 7, let state = fields[0].string, let user = fields[1].string,
              let ref = fields[2].string, let eventID = fields[3].string, let debited = fields[4].int,
              let target = try target(ref: ref, eventID: eventID, userID: user) else {
            // An open entry without its payment (or of a kind this worker does not know): nothing to finish.
            _ = try redis.command(["ZREM", keys.open, paymentID])
            return false
        }
        guard state == "DEBITED" else {
            _ = try redis.command(["ZREM", keys.open, paymentID])
            return false
        }
        let discount = fields[6].int ?? 0
        let coupon = (fields[5].string ?? "").isEmpty ? nil : PaymentCoupon(couponID: fields[5].string!, discount: discount)
        var steps = PaymentSteps(PaymentSteps.Payment(paymentID: paymentID, userID: user, keys: keys, target: target,
                                                      grossAmount: debited + discount, coupon: coupon))
        var action = steps.start()
        while case .run(let script, let scriptKeys, let arguments) = action {
            action = try steps.next(redis.run(script, keys: scriptKeys, arguments: arguments))
        }
        guard case .finished(let end, _) = action else { return false }
        lock.lock()
        if case .paid = end { paidCount += 1 } else { refundedCount += 1 }
        lock.unlock()
        Log.info("reconciler finished a payment", ["payment": paymentID, "ref": ref, "outcome": "\(end)"])
        return true
    }
}
