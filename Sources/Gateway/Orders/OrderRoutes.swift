// POST /orders, GET /orders (OrderHistory) and GET /orders/{orderId} (API.md "Catalog and flash-sale orders").
//
// An order is placed by one call of lua/order_place.lua under its event's tag: the queue gate, every
// item's stock check and the taking of all of them, and the hold with its deadline (Redis TIME). Unpaid,
// the hold runs out after FLOODGATE_HOLD_TTL_SECONDS and the stock comes back once (order_release.lua,
// run by every gateway's HoldSweeper and lazily by readers).
//
// With `pay:true` (the default) the order is then paid at once through PaymentFlow, less the discount of
// a `couponId` the buyer holds; when the wallet is short or the coupon cannot be used, the order is
// cancelled (its stock back at once) and the answer is 402 or 409/410 — nothing is taken. A coupon needs
// pay:true here; a pay:false order takes its coupon at POST /payments.
import HTTP
import Inventory
import JSON
import Queue
import Runtime

struct OrderRoutes {
    static let maxItems = 20
    static let quantityRange: ClosedRange<Int64> = 1...100

    func register(into router: inout RouteTable) {
        router.add(.POST, "/orders", place)
        router.add(.GET, "/orders", OrderHistory.handle)
        router.add(.GET, "/orders/{orderId}", one)
    }

    private func place(_ request: APIRequest) throws {
        let idempotencyKey = try IdempotencyKey.from(request)
        let body = try request.jsonObject()
        var fromCart = false
        switch body["fromCart"] {
        case nil, .bool(false)?: break
        case .bool(true)?: fromCart = true
        default: throw APIError.validation("fromCart", "fromCart must be true or false")
        }
        if fromCart && body["items"] != nil { throw APIError.validation("items", "send items or fromCart, not both") }
        let listed = fromCart ? nil : try Self.items(body)
        var pay = true
        switch body["pay"] {
        case nil: break
        case .bool(let flag)?: pay = flag
        default: throw APIError.validation("pay", "pay must be true or false")
        }
        let couponID = try CouponCheck.couponID(in: body)
        if couponID != nil && !pay {
            throw APIError.validation("couponId", "a coupon is applied when paying: send it with pay:true, or to POST /payments")
        }
        let queueToken = request.header(QueueGate.header).flatMap { $0.isEmpty ? nil : $0 }
        if let queueToken, !QueueGate.isWellFormed(queueToken) { throw QueueGate.invalidToken }

        Authenticator.authenticate(request) { userID in
            Self.orderItems(request, userID: userID, listed: listed) { items in
                let fingerprint = "items=" + items.map { "\($0.0)x\($0.1)" }.joined(separator: ",") + ";pay=\(pay);coupon=\(couponID ?? "")"
                Self.eventOf(request, items.map(\.0)) { eventID in
                    let orderID = OrderID.make(eventID: eventID)
                    let script = OrderPlaceScript(eventID: eventID, userID: userID, queueToken: queueToken, orderID: orderID, items: items,
                                                  holdMilliseconds: request.services.configuration.holdTTLSeconds * 1000,
                                                  fingerprint: fingerprint, idempotencyKey: idempotencyKey,
                                                  idempotencyTTLSeconds: IdempotencyKey.ttlSeconds)
                    // An order from the cart empties it once the order stands (201), never on a refusal.
                    let answer: (JSONValue) -> Void = { json in
                        guard fromCart else { return request.respond(201, json: json) }
                        request.redis.send(["DEL", UserKeys(userID: userID).cart]) { _ in request.respond(201, json: json) }
                    }
                    EventCache.withSettings(request, eventID: eventID, run: { done in
                        script.run(on: request.redis) { result in done(result.map { $0 == .gate(.noEvent) ? nil : $0 }) }
                    }) { reply in
                        Self.placed(request, reply, userID: userID, pay: pay, couponID: couponID, answer: answer)
                    }
                }
            }
        }
    }

    /// What order_place.lua answered, carried on to the client (paying first when asked).
    private static func placed(_ request: APIRequest, _ reply: PlaceReply, userID: String, pay: Bool, couponID: String?,
                               answer: @escaping (JSONValue) -> Void) {
        switch reply {
        case .placed(let record):
            OrderHistory.remember(request, record) {
                if pay {
                    payNow(request, record, userID: userID, couponID: couponID, answer: answer)
                } else {
                    answer(body(record, status: "PENDING_PAYMENT"))
                }
            }
        case .replay(let record):
            // The first answer of a pay:false order is its placement, whatever happened since; a pay:true
            // order's flow is driven again (every step is idempotent) to the same end.
            guard pay else { return answer(body(record, status: "PENDING_PAYMENT")) }
            OrderReader.load(request, orderID: record.orderID, eventID: record.eventID) { order in
                switch order.status {
                // A paid order's coupon is the one its payment recorded: not checked again (it is USED now).
                case "PAID": payNow(request, record, userID: userID, couponID: nil, answer: answer)
                case "PENDING_PAYMENT": payNow(request, record, userID: userID, couponID: couponID, answer: answer)
                case "CANCELLED" where order.cancelReason.hasPrefix("COUPON "):
                    request.fail(CouponCheck.error(couponID: couponID ?? "", reason: String(order.cancelReason.dropFirst(7))))
                case "CANCELLED":
                    request.redis.send(["GET", UserKeys(userID: userID).wallet]) { balance in
                        request.fail(PaymentRoutes.insufficient(balance: (try? balance.get())?.int ?? 0, required: record.totalAmount))
                    }
                default: request.fail(PaymentRoutes.holdExpired(record.orderID))
                }
            }
        case .reused:
            request.fail(IdempotencyKey.reused)
        case .noProduct:
            // PostgreSQL knows the product (eventOf checked); Redis lost it: never guess stock.
            request.fail(ProductRoutes.notLoaded)
        case .outOfStock(let productID, let stock):
            request.fail(APIError(409, "OUT_OF_STOCK", "not enough stock of \(productID) (\(stock) left)",
                                  details: ["productId": .string(productID), "stock": .int(stock)]))
        case .gate(let verdict):
            request.fail(QueueGate.error(for: verdict) ?? APIError.internalError)
        }
    }

    /// The items listed in the body, or the user's cart (sorted by product) for `fromCart`.
    private static func orderItems(_ request: APIRequest, userID: String, listed: [(String, Int64)]?,
                                   _ next: @escaping ([(String, Int64)]) -> Void) {
        if let listed { return next(listed) }
        request.redis.send(["HGETALL", UserKeys(userID: userID).cart]) { result in
            guard case .success(let value) = result else { return request.fail(APIError.unexpected(result)) }
            let fields = value.array ?? []
            var items: [(String, Int64)] = []
            for i in stride(from: 0, to: fields.count - 1, by: 2) {
                if let id = fields[i].string, let quantity = fields[i + 1].int { items.append((id, quantity)) }
            }
            guard !items.isEmpty else { return request.fail(APIError.validation("fromCart", "the cart is empty")) }
            next(items.sorted { $0.0 < $1.0 })
        }
    }

    private func one(_ request: APIRequest) throws {
        let orderID = request.parameters["orderId"] ?? ""
        Authenticator.authenticate(request) { userID in
            guard let eventID = OrderID.eventID(of: orderID) else { return request.fail(APIError.notFound("order")) }
            let keys = EventKeys(eventID: eventID)
            request.redis.send(["HMGET", keys.order(orderID), "user", "status", "record"]) { result in
                guard case .success(.array(let fields)) = result, fields.count == 3 else { return request.fail(APIError.unexpected(result)) }
                guard let owner = fields[0].string, let status = fields[1].string,
                      let record = fields[2].string.flatMap(OrderRecord.init(json:)) else {
                    // Not in Redis (after a Redis loss): PostgreSQL's copy, as the worker wrote it.
                    return request.postgres({ db in try OrderHistory.stored(orderID: orderID, db) }) { stored in
                        switch stored {
                        case .success(let found?) where found.userID == userID: request.respond(200, json: found.entry.body)
                        case .success(.some): request.fail(APIError.forbidden)
                        case .success(nil): request.fail(APIError.notFound("order"))
                        case .failure(let error): request.fail(error)
                        }
                    }
                }
                guard owner == userID else { return request.fail(APIError.forbidden) }
                guard status == "PENDING_PAYMENT" else { return request.respond(200, json: Self.body(record, status: status)) }
                // Past its deadline but not swept yet: release it now, then show what is true.
                OrderReleaseScript(record: record, reason: "EXPIRED").run(on: request.redis) { released in
                    switch released {
                    case .success(.released(let now)), .success(.notPending(let now)):
                        request.respond(200, json: Self.body(record, status: now))
                    case .success(.notDue):
                        request.respond(200, json: Self.body(record, status: status))
                    case .success(.noOrder):
                        request.fail(APIError.notFound("order"))
                    case .failure(let error):
                        request.fail(error)
                    }
                }
            }
        }
    }

    /// Pays a just-placed order; when the wallet is short or the coupon cannot be used, the order is
    /// cancelled (and why kept on it, for a repeat of the request), so nothing stays taken.
    private static func payNow(_ request: APIRequest, _ record: OrderRecord, userID: String, couponID: String?,
                               answer: @escaping (JSONValue) -> Void) {
        let cancel: (APIError, String) -> Void = { error, why in
            OrderReleaseScript(record: record, reason: "CANCELLED", why: why).run(on: request.redis) { released in
                if case .failure(let failed) = released { return request.fail(failed) }
                request.fail(error)
            }
        }
        let withCoupon: (@escaping (PaymentCoupon?) -> Void) -> Void = { next in
            guard let couponID else { return next(nil) }
            CouponCheck.discount(request, couponID: couponID, userID: userID, ref: record.orderID, amount: record.totalAmount, onRefusal: { error in
                guard error.status == 409 || error.status == 410 || error.status == 404 else { return request.fail(error) }
                cancel(error, "COUPON " + (error.details?["reason"]?.stringValue ?? "NO_COUPON"))
            }, next)
        }
        withCoupon { coupon in
            PaymentFlow.pay(request, target: PaymentTarget(order: record), amount: record.totalAmount, userID: userID, coupon: coupon,
                            idempotencyKey: nil, fingerprint: "order=\(record.orderID)") { outcome in
                switch outcome {
                case .success(.paid(_, _, let used)):
                    answer(body(record, status: "PAID", coupon: used))
                case .success(.short(let balance)):
                    cancel(PaymentRoutes.insufficient(balance: balance, required: record.totalAmount - (coupon?.discount ?? 0)), "INSUFFICIENT_BALANCE")
                case .success(.couponRefused(let refused, let reason)):
                    cancel(CouponCheck.error(couponID: refused, reason: reason), "COUPON \(reason)")
                case .success(.dead):
                    request.fail(PaymentRoutes.holdExpired(record.orderID))
                case .success(.reused):
                    request.fail(IdempotencyKey.reused)
                case .failure(let error):
                    request.fail(error)
                }
            }
        }
    }

    /// The API's order.
    /// `coupon`: the payment's, when the record in hand predates the payment (else the record's own).
    static func body(_ record: OrderRecord, status: String, coupon: PaymentCoupon? = nil) -> JSONValue {
        let discount = status == "PAID" ? coupon?.discount ?? record.discountAmount : 0
        var object: JSONObject = [
            "orderId": .string(record.orderID), "status": .string(status),
            "items": .array(record.items.map { ["productId": .string($0.productID), "quantity": .int($0.quantity), "unitPrice": .int($0.unitPrice)] }),
            "totalAmount": .int(record.totalAmount), "discountAmount": .int(discount),
            "paidAmount": .int(status == "PAID" ? record.totalAmount - discount : 0),
            "eventId": .string(record.eventID), "createdAt": .string(Timestamp.rfc3339(millis: record.createdAtMs)),
        ]
        if status == "PENDING_PAYMENT" { object["expiresAt"] = .string(Timestamp.rfc3339(millis: record.expiresAtMs)) }
        if status == "PAID", let couponID = coupon?.couponID ?? record.couponID { object["couponId"] = .string(couponID) }
        return .object(object)
    }

    /// `items`: 1..20 of {productId, quantity 1..100}, each product once.
    static func items(_ body: JSONObject) throws -> [(String, Int64)] {
        guard case .array(let raw)? = body["items"], (1...maxItems).contains(raw.count) else {
            throw APIError.validation("items", "items must be an array of 1 to \(maxItems) {productId, quantity}")
        }
        var items: [(String, Int64)] = []
        for (i, item) in raw.enumerated() {
            guard case .string(let productID)? = item["productId"] else {
                throw APIError.validation("items[\(i)].productId", "productId must be a string")
            }
            guard case .int(let quantity)? = item["quantity"], quantityRange.contains(quantity) else {
                throw APIError(400, "INVALID_QUANTITY", "quantity must be a JSON integer from 1 to 100",
                               details: ["field": .string("items[\(i)].quantity")])
            }
            guard !items.contains(where: { $0.0 == productID }) else {
                throw APIError.validation("items[\(i)].productId", "each product may appear once; add up its quantity")
            }
            items.append((productID, quantity))
        }
        return items
    }

    /// The one event all `productIDs` belong to (404 for an unknown product, 400 when they span events).
    /// A product's event is learned from PostgreSQL once per loop; concurrent requests for a product not
    /// known yet wait for the one lookup in flight instead of each querying (a flash sale's first
    /// thousand requests all name the same new product).
    static func eventOf(_ request: APIRequest, _ productIDs: [String], _ next: @escaping (String) -> Void) {
        let state = request.loopState
        let decide = {
            for id in productIDs where state.productEvents[id] == nil {
                return request.fail(APIError.notFound("product").with(details: ["resource": "product", "productId": .string(id)]))
            }
            let events = Set(productIDs.compactMap { state.productEvents[$0] })
            guard events.count == 1, let eventID = events.first else {
                return request.fail(APIError.validation("items", "the items of one order must belong to one event"))
            }
            next(eventID)
        }
        let unknown = productIDs.filter { state.productEvents[$0] == nil && ProductID.isWellFormed($0) }
        guard !unknown.isEmpty else { return decide() }
        var remaining = unknown.count
        var failure: Error?
        let resume: (Error?) -> Void = { error in
            if failure == nil { failure = error }
            remaining -= 1
            guard remaining == 0 else { return }
            if let failure { request.fail(failure) } else { decide() }
        }
        var toFetch: [String] = []
        for id in unknown {
            if state.productLookups[id] != nil {
                state.productLookups[id]!.append(resume)
            } else {
                state.productLookups[id] = [resume]
                toFetch.append(id)
            }
        }
        guard !toFetch.isEmpty else { return }
        request.postgres({ db in try ProductStore.find(ids: toFetch, db) }) { result in
            var error: Error?
            switch result {
            case .success(let products): for product in products { state.productEvents[product.id] = product.eventID }
            case .failure(let failed): error = failed
            }
            for id in toFetch {
                for waiter in state.productLookups.removeValue(forKey: id) ?? [] { waiter(error) }
            }
        }
    }
}
