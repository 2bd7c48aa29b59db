// POST /payments {orderId | reservationId, couponId?} (API.md "Payments"): pays a PENDING_PAYMENT order
// or a HELD seat reservation from the wallet through PaymentFlow, less the discount of a coupon the payer
// holds (CouponCheck, then coupon_reserve.lua inside the flow). What is paid for lives under its event's
// tag and gates the payer like any protected route: on a queued event the payer needs an ACTIVE token,
// checked before the debit (queue_gate.lua); a token that expires while the flow runs does not undo a
// payment already under way, and paying expires it.
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
        let couponID = try CouponCheck.couponID(in: body)
        let ref: Payable.Ref
        switch (body["orderId"], body["reservationId"]) {
        case (.string(let id)?, nil): ref = .order(id)
        case (nil, .string(let id)?): ref = .reservation(id)
        case (.some, .some): throw APIError.validation("orderId", "send orderId or reservationId, not both")
        default: throw APIError.validation("orderId", "send orderId or reservationId (a string)")
        }
        let queueToken = request.header(QueueGate.header).flatMap { $0.isEmpty ? nil : $0 }
        Authenticator.authenticate(request) { userID in
            Payable.load(request, ref) { payable in
                guard payable.owner == userID else { return request.fail(APIError.forbidden) }
                if payable.isPaid && idempotencyKey == nil { return request.fail(Self.alreadyPaid(payable)) }
                if !payable.isPaid && !payable.isOpen { return request.fail(Self.holdExpired(payable)) }
                // A repeat (same key) of a payment that went through passed the gate then; paying has
                // expired the token since, so it is not asked again. Nor is its coupon checked again: the
                // flow follows the coupon its first request recorded.
                let gate: (@escaping () -> Void) -> Void = payable.isPaid
                    ? { $0() } : { QueueGate.check(request, eventID: payable.target.eventID, userID: userID, token: queueToken, next: $0) }
                let withCoupon: (@escaping (PaymentCoupon?) -> Void) -> Void = { next in
                    guard let couponID, !payable.isPaid else { return next(nil) }
                    CouponCheck.discount(request, couponID: couponID, userID: userID, ref: payable.target.ref, amount: payable.amount,
                                         onRefusal: request.fail) { next($0) }
                }
                gate { withCoupon { coupon in
                    PaymentFlow.pay(request, target: payable.target, amount: payable.amount, userID: userID, coupon: coupon,
                                    idempotencyKey: idempotencyKey,
                                    fingerprint: "\(payable.field)=\(payable.target.ref);coupon=\(couponID ?? "")") { outcome in
                        switch outcome {
                        case .success(.paid(let paymentID, let paidAt, let used)):
                            let discount = used?.discount ?? 0
                            request.respond(201, json: ["paymentId": .string(paymentID), "status": "PAID",
                                                        "amount": .int(payable.amount), "discountAmount": .int(discount),
                                                        "paidAmount": .int(payable.amount - discount),
                                                        .init(payable.field): .string(payable.target.ref),
                                                        "couponId": used.map { .string($0.couponID) } ?? .null,
                                                        "paidAt": .string(Timestamp.rfc3339(millis: paidAt))])
                        case .success(.short(let balance)):
                            request.fail(Self.insufficient(balance: balance, required: payable.amount - (coupon?.discount ?? 0)))
                        case .success(.couponRefused(let refused, let reason)):
                            request.fail(CouponCheck.error(couponID: refused, reason: reason))
                        case .success(.dead(let status)):
                            request.fail(status == "PAID" || status == "CONFIRMED" ? Self.alreadyPaid(payable) : Self.holdExpired(payable))
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

    private static func holdExpired(_ payable: Payable) -> APIError {
        guard payable.field == "reservationId" else { return holdExpired(payable.target.ref) }
        return APIError(410, "HOLD_EXPIRED", "the seat's hold ran out or was released; the seat went back",
                        details: ["reservationId": .string(payable.target.ref)])
    }

    private static func alreadyPaid(_ payable: Payable) -> APIError {
        APIError(409, "ALREADY_PAID", payable.field == "orderId" ? "this order is paid" : "this reservation is paid",
                 details: [.init(payable.field): .string(payable.target.ref)])
    }
}

/// Something a payment can pay for, as Redis holds it now: an order or a seat reservation.
struct Payable {
    enum Ref {
        case order(String)
        case reservation(String)
    }

    let target: PaymentTarget
    /// The request's field naming it: "orderId" or "reservationId".
    let field: String
    let owner: String
    /// Before any discount.
    let amount: Int64
    /// Still payable: PENDING_PAYMENT / HELD (its deadline is the confirm script's to judge).
    let isOpen: Bool
    /// PAID / CONFIRMED.
    let isPaid: Bool

    /// Reads it; answers 404 itself when there is none.
    static func load(_ request: APIRequest, _ ref: Ref, _ next: @escaping (Payable) -> Void) {
        switch ref {
        case .order(let orderID):
            guard let eventID = OrderID.eventID(of: orderID) else { return request.fail(APIError.notFound("order")) }
            OrderReader.load(request, orderID: orderID, eventID: eventID) { order in
                next(Payable(target: PaymentTarget(order: order.record), field: "orderId", owner: order.owner, amount: order.record.totalAmount,
                             isOpen: order.status == "PENDING_PAYMENT", isPaid: order.status == "PAID"))
            }
        case .reservation(let reservationID):
            guard let eventID = ReservationID.eventID(of: reservationID) else { return request.fail(APIError.notFound("reservation")) }
            request.redis.send(["HMGET", EventKeys(eventID: eventID).reservation(reservationID), "status", "record"]) { result in
                guard case .success(.array(let fields)) = result, fields.count == 2 else { return request.fail(APIError.unexpected(result)) }
                guard let status = fields[0].string, let record = fields[1].string.flatMap(ReservationRecord.init(json:)) else {
                    return request.fail(APIError.notFound("reservation"))
                }
                next(Payable(target: PaymentTarget(reservation: record), field: "reservationId", owner: record.userID, amount: record.amount,
                             isOpen: status == "HELD", isPaid: status == "CONFIRMED"))
            }
        }
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
