// Paying from the wallet. The wallet is under the user's tag, what is paid for under its event's and a
// coupon under its own, so paying is a flow of idempotent scripts sharing the payment id `pay_<ref>`:
//   1. wallet_debit.lua  takes the amount less the coupon's discount (402 when short, nothing changes);
//      the payment is DEBITED, open, and records its coupon;
//   2. then PaymentSteps: the coupon is reserved for the payment (when there is one), the order becomes
//      PAID while its hold is alive (the queue token expires), the coupon is USED or given back, and the
//      wallet settles last — CONFIRMED, or REFUNDED (money back, once).
// Any step may be repeated by a retry, a duplicate request or the worker's reconciler, which drives every
// payment left DEBITED (a crash mid-way) through the same PaymentSteps: "debited" always ends as paid or
// refunded. A repeat of a payment follows the coupon its first request recorded.
import Inventory
import Runtime
import Scripts

enum PaymentOutcome: Equatable {
    case paid(paymentID: String, paidAt: Int64, coupon: PaymentCoupon?)
    case short(balance: Int64)
    /// The order could not take the payment (EXPIRED, CANCELLED, paid otherwise); any debit was refunded.
    case dead(status: String)
    /// The coupon could not be used (coupon_reserve.lua's reason); any debit was refunded.
    case couponRefused(couponID: String, reason: String)
    case reused
}

/// Simulates a crash for the reconciler's test: stops every payment right after its debit.
struct PaymentStoppedForTest: Error, CustomStringConvertible {
    var description: String { "payment stopped after the debit (FLOODGATE_TEST_STOP_AFTER_DEBIT)" }
}

enum PaymentFlow {
    /// Pays `amount` (before any discount) for `target`, with `coupon` when the request names one.
    static func pay(_ request: APIRequest, target: PaymentTarget, amount: Int64, userID: String, coupon: PaymentCoupon?,
                    idempotencyKey: String?, fingerprint: String, completion: @escaping (Result<PaymentOutcome, Error>) -> Void) {
        let paymentID = PaymentID.of(ref: target.ref)
        let keys = PaymentKeys(tag: UserKeys(userID: userID).tag)
        let redis = request.redis
        let debited = amount - (coupon?.discount ?? 0)
        redis.run(PaymentScripts.debit, keys: PaymentScripts.debitKeys(keys, userID: userID, paymentID: paymentID, idempotencyKey: idempotencyKey),
                  arguments: PaymentScripts.debitArguments(userID: userID, paymentID: paymentID, amount: debited, ref: target.ref,
                                                           eventID: target.eventID, fingerprint: fingerprint, idempotencyKey: idempotencyKey,
                                                           ttlSeconds: IdempotencyKey.ttlSeconds, coupon: coupon)) { result in
            switch result.mapError({ $0 as Error }).flatMap(PaymentScripts.decodeDebit) {
            case .failure(let error): completion(.failure(error))
            case .success(.short(let balance)): completion(.success(.short(balance: balance)))
            case .success(.reused): completion(.success(.reused))
            case .success(.payment(let state, _, let recorded, let reason)):
                if state == "REFUNDED" { return completion(.success(outcome(PaymentSteps.endOfRefund(reason: reason), paymentID, recorded))) }
                if request.services.configuration.testStopPaymentAfterDebit { return completion(.failure(PaymentStoppedForTest())) }
                var steps = PaymentSteps(PaymentSteps.Payment(paymentID: paymentID, userID: userID, keys: keys, target: target,
                                                              grossAmount: amount, coupon: recorded))
                let first = steps.start()  // before `steps` is handed on: start() moves it to its first step
                drive(redis, steps, first) { end in
                    completion(end.map { outcome($0, paymentID, recorded) })
                }
            }
        }
    }

    private static func outcome(_ end: PaymentSteps.End, _ paymentID: String, _ coupon: PaymentCoupon?) -> PaymentOutcome {
        switch end {
        case .paid(let paidAt): return .paid(paymentID: paymentID, paidAt: paidAt, coupon: coupon)
        case .dead(let status): return .dead(status: status)
        case .couponRefused(let reason): return .couponRefused(couponID: coupon?.couponID ?? "", reason: reason)
        }
    }

    /// Runs the steps' scripts one after another on the loop's Redis connection.
    private static func drive(_ redis: RedisConnection, _ steps: PaymentSteps, _ action: PaymentSteps.Action,
                              _ completion: @escaping (Result<PaymentSteps.End, Error>) -> Void) {
        switch action {
        case .finished(let end, _):
            completion(.success(end))
        case .run(let script, let keys, let arguments):
            redis.run(script, keys: keys, arguments: arguments) { reply in
                var steps = steps
                do {
                    let next = try steps.next(reply.get())
                    drive(redis, steps, next, completion)
                } catch {
                    completion(.failure(error))
                }
            }
        }
    }
}
