// Paying for an order from the wallet. The wallet is under the user's tag and the order under its
// event's, so paying is three idempotent scripts sharing the payment id `pay_<orderId>`:
//   1. wallet_debit.lua   takes the amount (402 when short, nothing changes), payment DEBITED and open;
//   2. order_confirm.lua  the order becomes PAID while its hold is alive (and the queue token expires);
//   3. wallet_settle.lua  CONFIRMED — or, when the order could not take it, REFUNDED (money back, once).
// Any step may be repeated by a retry, a duplicate request or the worker's reconciler, which finishes
// every payment left DEBITED (a crash between 1 and 3): "debited" always ends as paid or refunded.
import Inventory
import Runtime
import Scripts

enum PaymentOutcome: Equatable {
    case paid(paymentID: String, paidAt: Int64)
    case short(balance: Int64)
    /// The order could not take the payment (EXPIRED, CANCELLED, paid otherwise); any debit was refunded.
    case dead(status: String)
    case reused
}

/// Simulates a crash for the reconciler's test: stops every payment right after its debit.
struct PaymentStoppedForTest: Error, CustomStringConvertible {
    var description: String { "payment stopped after the debit (FLOODGATE_TEST_STOP_AFTER_DEBIT)" }
}

enum PaymentFlow {
    static func pay(_ request: APIRequest, record: OrderRecord, userID: String, idempotencyKey: String?, fingerprint: String,
                    completion: @escaping (Result<PaymentOutcome, Error>) -> Void) {
        let paymentID = PaymentID.of(orderID: record.orderID)
        let keys = PaymentKeys(tag: UserKeys(userID: userID).tag)
        let redis = request.redis
        redis.run(PaymentScripts.debit, keys: PaymentScripts.debitKeys(keys, userID: userID, paymentID: paymentID, idempotencyKey: idempotencyKey),
                  arguments: PaymentScripts.debitArguments(userID: userID, paymentID: paymentID, amount: record.totalAmount,
                                                           orderID: record.orderID, eventID: record.eventID, fingerprint: fingerprint,
                                                           idempotencyKey: idempotencyKey, ttlSeconds: IdempotencyKey.ttlSeconds)) { result in
            switch result.mapError({ $0 as Error }).flatMap(PaymentScripts.decodeWallet) {
            case .failure(let error): completion(.failure(error))
            case .success(.short(let balance)): completion(.success(.short(balance: balance)))
            case .success(.reused): completion(.success(.reused))
            case .success(.noPayment): completion(.failure(ScriptReplyError("wallet_debit", reply: "NO_PAYMENT")))
            case .success(.state("REFUNDED", _)): completion(.success(.dead(status: "EXPIRED")))
            case .success(.state):
                if request.services.configuration.testStopPaymentAfterDebit { return completion(.failure(PaymentStoppedForTest())) }
                confirm(request, record: record, userID: userID, paymentID: paymentID, keys: keys, completion: completion)
            }
        }
    }

    private static func confirm(_ request: APIRequest, record: OrderRecord, userID: String, paymentID: String, keys: PaymentKeys,
                                completion: @escaping (Result<PaymentOutcome, Error>) -> Void) {
        let redis = request.redis
        redis.run(PaymentScripts.confirm, keys: PaymentScripts.confirmKeys(orderID: record.orderID, eventID: record.eventID),
                  arguments: [record.orderID, paymentID, userID]) { result in
            let confirmed: Result<Int64, ConfirmRefused>
            switch result.mapError({ $0 as Error }).flatMap(PaymentScripts.decodeConfirm) {
            case .failure(let error): return completion(.failure(error))
            case .success(let outcome): confirmed = outcome
            }
            let step = (try? confirmed.get()) == nil ? "REFUND" : "CONFIRM"
            redis.run(PaymentScripts.settle, keys: PaymentScripts.settleKeys(keys, userID: userID, paymentID: paymentID),
                      arguments: [paymentID, step]) { settled in
                if case .failure(let error) = settled { return completion(.failure(error)) }
                switch confirmed {
                case .success(let paidAt): completion(.success(.paid(paymentID: paymentID, paidAt: paidAt)))
                case .failure(let refused): completion(.success(.dead(status: refused.status)))
                }
            }
        }
    }
}
