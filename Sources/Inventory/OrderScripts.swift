// The Swift side of lua/order_place.lua and lua/order_release.lua.
//
// Order ids carry their event: `ord_` + the event id's 24 hex digits + 12 random hex digits, so any order
// id leads straight to its event's tag (its hash, its hold) without a lookup.
import JSON
import Queue
import Runtime
import Scripts

public enum OrderID {
    public static func make(eventID: String) -> String { EventScopedID.make(prefix: "ord_", eventID: eventID) }

    /// The event of a well-formed order id; nil for anything else.
    public static func eventID(of orderID: String) -> String? { EventScopedID.eventID(of: orderID, prefix: "ord_") }
}

/// An order as recorded by order_place.lua (its `record` JSON): its items and total never change once
/// placed; order_confirm.lua adds the discount of the coupon it was paid with.
public struct OrderRecord: Equatable, Sendable {
    public struct Item: Equatable, Sendable {
        public let productID: String
        public let quantity: Int64
        public let unitPrice: Int64
    }
    public let orderID: String
    public let eventID: String
    public let userID: String
    public let items: [Item]
    public let totalAmount: Int64
    public let createdAtMs: Int64
    public let expiresAtMs: Int64
    /// The coupon's discount, once paid with one (0 otherwise); the amount paid is total − discount.
    public let discountAmount: Int64
    public let couponID: String?

    public var paidAmount: Int64 { totalAmount - discountAmount }

    public init?(json text: String) {
        guard let value = try? JSONParser.parse(text),
              let orderID = value["orderId"]?.stringValue, let eventID = value["eventId"]?.stringValue,
              let userID = value["userId"]?.stringValue, let rawItems = value["items"]?.arrayValue,
              let total = value["totalAmount"]?.intValue, let created = value["createdAt"]?.intValue,
              let expires = value["expiresAt"]?.intValue else { return nil }
        var items: [Item] = []
        for raw in rawItems {
            guard let id = raw["productId"]?.stringValue, let quantity = raw["quantity"]?.intValue,
                  let price = raw["unitPrice"]?.intValue else { return nil }
            items.append(Item(productID: id, quantity: quantity, unitPrice: price))
        }
        self.orderID = orderID
        self.eventID = eventID
        self.userID = userID
        self.items = items
        totalAmount = total
        createdAtMs = created
        expiresAtMs = expires
        discountAmount = value["discountAmount"]?.intValue ?? 0
        couponID = value["couponId"]?.stringValue
    }
}

public enum PlaceReply: Equatable, Sendable {
    case placed(OrderRecord)
    /// The key was used with this request before: that request's order as placed.
    case replay(OrderRecord)
    case reused
    case noProduct(String)
    case outOfStock(productID: String, stock: Int64)
    case gate(QueueGateVerdict)
}

public struct OrderPlaceScript {
    public static let script = LuaScript.named("order_place")

    public let eventID: String
    public let keys: [String]
    public let arguments: [String]

    /// `items`: (productId, quantity) in the order the client sent them.
    public init(eventID: String, userID: String, queueToken: String?, orderID: String, items: [(String, Int64)],
                holdMilliseconds: Int, fingerprint: String, idempotencyKey: String?, idempotencyTTLSeconds: Int) {
        self.eventID = eventID
        let event = EventKeys(eventID: eventID)
        keys = QueueGateScript(eventID: eventID).gateKeys
            + [event.order(orderID), event.holds, event.orderIdempotency(userID: userID, key: idempotencyKey ?? "-"), event.outbox]
            + items.map { event.product($0.0) }
        var arguments = [eventID, userID, queueToken ?? "", orderID, String(holdMilliseconds), fingerprint,
                         idempotencyKey == nil ? "" : "1", String(idempotencyTTLSeconds), String(items.count)]
        for (productID, quantity) in items { arguments += [productID, String(quantity)] }
        self.arguments = arguments
    }

    public func run(on redis: RedisConnection, completion: @escaping (Result<PlaceReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    static func decode(_ value: RedisValue) -> Result<PlaceReply, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("order_place", reply: value.description)) }
        switch kind {
        case "PLACED":
            if items.count == 3, let record = items[2].string.flatMap(OrderRecord.init(json:)) { return .success(.placed(record)) }
        case "REPLAY":
            if items.count == 2, let record = items[1].string.flatMap(OrderRecord.init(json:)) { return .success(.replay(record)) }
        case "REUSED": return .success(.reused)
        case "NO_PRODUCT": if let id = items.count > 1 ? items[1].string : nil { return .success(.noProduct(id)) }
        case "OUT_OF_STOCK":
            if items.count == 3, let id = items[1].string, let stock = items[2].int { return .success(.outOfStock(productID: id, stock: stock)) }
        default:
            if let verdict = QueueGateVerdict(refusal: items) { return .success(.gate(verdict)) }
        }
        return .failure(ScriptReplyError("order_place", reply: value.description))
    }
}

public enum ReleaseReply: Equatable, Sendable {
    case released(status: String)
    case notPending(status: String)
    case notDue(expiresAtMs: Int64)
    case noOrder
}

public struct OrderReleaseScript {
    public static let script = LuaScript.named("order_release")

    public let keys: [String]
    public let arguments: [String]

    /// `reason`: "EXPIRED" (only after the deadline) or "CANCELLED"; `why` a cancellation happened
    /// (kept on the order as `cancelReason`).
    public init(record: OrderRecord, reason: String, why: String = "") {
        let event = EventKeys(eventID: record.eventID)
        keys = [event.order(record.orderID), event.holds, event.outbox] + record.items.map { event.product($0.productID) }
        arguments = [record.orderID, reason, why]
    }

    public func run(on redis: RedisConnection, completion: @escaping (Result<ReleaseReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    public func run(on redis: RedisBlockingConnection) throws -> ReleaseReply {
        try Self.decode(redis.run(Self.script, keys: keys, arguments: arguments)).get()
    }

    static func decode(_ value: RedisValue) -> Result<ReleaseReply, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("order_release", reply: value.description)) }
        switch kind {
        case "RELEASED": if let status = items.count > 1 ? items[1].string : nil { return .success(.released(status: status)) }
        case "NOT_PENDING": if let status = items.count > 1 ? items[1].string : nil { return .success(.notPending(status: status)) }
        case "NOT_DUE": if let at = items.count > 1 ? items[1].int : nil { return .success(.notDue(expiresAtMs: at)) }
        case "NO_ORDER": return .success(.noOrder)
        default: break
        }
        return .failure(ScriptReplyError("order_release", reply: value.description))
    }
}
