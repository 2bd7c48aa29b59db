// POST /payments {orderId, couponId?} (API.md "Payments"): pays a PENDING_PAYMENT order from the wallet
// through PaymentFlow, less the discount of a coupon the payer holds (CouponCheck, then coupon_reserve.lua
// inside the flow). The order's event gates the payer like any protected route: on a queued event the
// payer needs an ACTIVE token, checked before the debit (queue_gate.lua); a token that expires while the
// flow runs does not undo a payment already under way.
import Inventory
import JSON
import Queue
import Runtime

struct PaymentRoutes {
    func register(into router: inout RouteTable) {
        router.add(.POST, "/payments", pay)
    }

    private func pay(_ request: APIRequest) throws {
        let idempotencyKey = try IdempotencyKey.from(request)
        let body = try request.jsonObject()
        if body["reservationId"] != nil { throw APIError.notFound("reservation") }  // concerts come with their issue
        let couponID = try CouponCheck.couponID(in: body)
        guard case .string(let orderID)? = body["orderId"] else {
            throw APIError.validation("orderId", "send orderId (a string)")
        }
        let queueToken = request.header(QueueGate.header).flatMap { $0.isEmpty ? nil : $0 }
        Authenticator.authenticate(request) { userID in
            guard let eventID = OrderID.eventID(of: orderID) else { return request.fail(APIError.notFound("order")) }
            OrderReader.load(request, orderID: orderID, eventID: eventID) { order in
                guard order.owner == userID else { return request.fail(APIError.forbidden) }
                if order.status == "PAID" && idempotencyKey == nil {
                    return request.fail(APIError(409, "ALREADY_PAID", "this order is paid", details: ["orderId": .string(orderID)]))
                }
                if order.status != "PAID" && order.status != "PENDING_PAYMENT" { return request.fail(Self.holdExpired(orderID)) }
                // A repeat (same key) of a payment that went through passed the gate then; paying has
                // expired the token since, so it is not asked again.
                let gate: (@escaping () -> Void) -> Void = order.status == "PAID"
                    ? { $0() } : { QueueGate.check(request, eventID: eventID, userID: userID, token: queueToken, next: $0) }
                let total = order.record.totalAmount
                // The coupon is checked for a payment still to be made; a repeat of a made one follows the
                // coupon its first request recorded (PaymentFlow), so it is not checked again.
                let withCoupon: (@escaping (PaymentCoupon?) -> Void) -> Void = { next in
                    guard let couponID, order.status == "PENDING_PAYMENT" else { return next(nil) }
                    CouponCheck.discount(request, couponID: couponID, userID: userID, ref: orderID, amount: total, onRefusal: request.fail) { next($0) }
                }
                gate { withCoupon { coupon in
                    PaymentFlow.pay(request, target: PaymentTarget(order: order.record), amount: total, userID: userID, coupon: coupon,
                                    idempotencyKey: idempotencyKey, fingerprint: "order=\(orderID);coupon=\(couponID ?? "")") { outcome in
                        switch outcome {
                        case .success(.paid(let paymentID, let paidAt, let used)):
                            let discount = used?.discount ?? 0
                            request.respond(201, json: ["paymentId": .string(paymentID), "status": "PAID",
                                                        "amount": .int(total), "discountAmount": .int(discount),
                                                        "paidAmount": .int(total - discount), "orderId": .string(orderID),
                                                        "couponId": used.map { .string($0.couponID) } ?? .null,
                                                        "paidAt": .string(Timestamp.rfc3339(millis: paidAt))])
                        case .success(.short(let balance)):
                            request.fail(Self.insufficient(balance: balance, required: total - (coupon?.discount ?? 0)))
                        case .success(.couponRefused(let refused, let reason)):
                            request.fail(CouponCheck.error(couponID: refused, reason: reason))
                        case .success(.dead(let status)):
                            request.fail(status == "PAID" ? APIError(409, "ALREADY_PAID", "this order is paid", details: ["orderId": .string(orderID)])
                                                          : Self.holdExpired(orderID))
                        case .success(.reused):
                            request.fail(IdempotencyKey.reused)
                        case .failure(let error):
                            request.fail(error)
                        }
                    }
                } }
            }
        }
    }

    static func insufficient(balance: Int64, required: Int64) -> APIError {
        APIError(402, "INSUFFICIENT_BALANCE", "the wallet holds \(balance), the payment needs \(required)",
                 details: ["balance": .int(balance), "required": .int(required)])
    }

    static func holdExpired(_ orderID: String) -> APIError {
        APIError(410, "HOLD_EXPIRED", "the order's hold ran out; its stock went back", details: ["orderId": .string(orderID)])
    }
}

/// An order as Redis holds it now.
struct LiveOrder {
    let owner: String
    let status: String
    let record: OrderRecord
    /// Why a CANCELLED order was cancelled (order_release.lua), "" otherwise.
    let cancelReason: String
}

enum OrderReader {
    /// Reads the order; answers 404 itself when there is none.
    static func load(_ request: APIRequest, orderID: String, eventID: String, _ next: @escaping (LiveOrder) -> Void) {
        request.redis.send(["HMGET", EventKeys(eventID: eventID).order(orderID), "user", "status", "record", "cancelReason"]) { result in
            guard case .success(.array(let fields)) = result, fields.count == 4 else { return request.fail(APIError.unexpected(result)) }
            guard let owner = fields[0].string, let status = fields[1].string,
                  let record = fields[2].string.flatMap(OrderRecord.init(json:)) else {
                return request.fail(APIError.notFound("order"))
            }
            next(LiveOrder(owner: owner, status: status, record: record, cancelReason: fields[3].string ?? ""))
        }
    }
}
