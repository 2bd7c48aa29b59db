// The Swift side of lua/seat_hold.lua, lua/seat_release.lua and lua/reservation_confirm.lua.
//
// Reservation ids carry their event like order ids: `rsv_` + the event id's 24 hex digits + 12 random hex
// digits, so any reservation id leads straight to its event's tag (its hash, its hold, its seat).
import JSON
import Queue
import Runtime
import Scripts

public enum ReservationID {
    public static func make(eventID: String) -> String { EventScopedID.make(prefix: "rsv_", eventID: eventID) }

    /// The event of a well-formed reservation id; nil for anything else.
    public static func eventID(of reservationID: String) -> String? { EventScopedID.eventID(of: reservationID, prefix: "rsv_") }
}

/// A reservation as recorded by seat_hold.lua (its `record` JSON); reservation_confirm.lua adds the payment.
public struct ReservationRecord: Equatable, Sendable {
    public let reservationID: String
    public let eventID: String
    public let performanceID: String
    public let seatNo: Int64
    public let userID: String
    public let amount: Int64
    public let createdAtMs: Int64
    public let expiresAtMs: Int64
    /// Set once CONFIRMED.
    public let paymentID: String?
    public let paidAtMs: Int64?
    public let discountAmount: Int64?
    public let paidAmount: Int64?

    public init?(json text: String) {
        guard let value = try? JSONParser.parse(text),
              let id = value["reservationId"]?.stringValue, let eventID = value["eventId"]?.stringValue,
              let performanceID = value["performanceId"]?.stringValue, let seatNo = value["seatNo"]?.intValue,
              let userID = value["userId"]?.stringValue, let amount = value["amount"]?.intValue,
              let created = value["createdAt"]?.intValue, let expires = value["expiresAt"]?.intValue else { return nil }
        reservationID = id
        self.eventID = eventID
        self.performanceID = performanceID
        self.seatNo = seatNo
        self.userID = userID
        self.amount = amount
        createdAtMs = created
        expiresAtMs = expires
        paymentID = value["paymentId"]?.stringValue
        paidAtMs = value["paidAt"]?.intValue
        discountAmount = value["discountAmount"]?.intValue
        paidAmount = value["paidAmount"]?.intValue
    }
}

public enum SeatHoldReply: Equatable, Sendable {
    case held(ReservationRecord)
    /// "HELD" or "SOLD".
    case unavailable(String)
    /// The seat's hold ran out but is not released yet: release this reservation, then try again.
    case stale(reservationID: String)
    case limitReached(Int64)
    case noSeat(total: Int64)
    case started
    case noPerformance
    case gate(QueueGateVerdict)
}

public struct SeatHoldScript {
    public static let script = LuaScript.named("seat_hold")

    public let keys: [String]
    public let arguments: [String]

    public init(eventID: String, performanceID: String, seatNo: Int64, userID: String, queueToken: String?,
                reservationID: String, holdMilliseconds: Int) {
        let event = EventKeys(eventID: eventID)
        keys = QueueGateScript(eventID: eventID).gateKeys
            + [event.performance(performanceID), event.seats(performanceID), event.seatsOfUser(performanceID, userID),
               event.reservation(reservationID), event.holds, event.outbox]
        arguments = [eventID, userID, queueToken ?? "", performanceID, String(seatNo), reservationID, String(holdMilliseconds)]
    }

    public func run(on redis: RedisConnection, completion: @escaping (Result<SeatHoldReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    static func decode(_ value: RedisValue) -> Result<SeatHoldReply, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("seat_hold", reply: value.description)) }
        let second = items.count > 1 ? items[1] : nil
        switch kind {
        case "HELD": if let record = second?.string.flatMap(ReservationRecord.init(json:)) { return .success(.held(record)) }
        case "SEAT_UNAVAILABLE": if let state = second?.string { return .success(.unavailable(state)) }
        case "STALE": if let id = second?.string { return .success(.stale(reservationID: id)) }
        case "LIMIT_REACHED": if let limit = second?.int { return .success(.limitReached(limit)) }
        case "NO_SEAT": if let total = second?.int { return .success(.noSeat(total: total)) }
        case "STARTED": return .success(.started)
        case "NO_PERFORMANCE": return .success(.noPerformance)
        default: if let verdict = QueueGateVerdict(refusal: items) { return .success(.gate(verdict)) }
        }
        return .failure(ScriptReplyError("seat_hold", reply: value.description))
    }
}

public enum SeatReleaseReply: Equatable, Sendable {
    case released(status: String)
    case notHeld(status: String)
    case notDue(expiresAtMs: Int64)
    case notOwner
    case noReservation
}

public struct SeatReleaseScript {
    public static let script = LuaScript.named("seat_release")

    public let keys: [String]
    public let arguments: [String]

    /// `reason`: "EXPIRED" (only after the deadline) or "RELEASED"; `askedBy`: the user releasing their own
    /// hold, nil for sweepers and lazy readers.
    public init(record: ReservationRecord, reason: String, askedBy userID: String? = nil) {
        let event = EventKeys(eventID: record.eventID)
        keys = [event.reservation(record.reservationID), event.holds, event.outbox, event.seats(record.performanceID),
                event.seatsOfUser(record.performanceID, record.userID)]
        arguments = [record.reservationID, reason, userID ?? ""]
    }

    public func run(on redis: RedisConnection, completion: @escaping (Result<SeatReleaseReply, Error>) -> Void) {
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.mapError { $0 as Error }.flatMap(Self.decode))
        }
    }

    public func run(on redis: RedisBlockingConnection) throws -> SeatReleaseReply {
        try Self.decode(redis.run(Self.script, keys: keys, arguments: arguments)).get()
    }

    static func decode(_ value: RedisValue) -> Result<SeatReleaseReply, Error> {
        guard let items = value.array, let kind = items.first?.string else { return .failure(ScriptReplyError("seat_release", reply: value.description)) }
        let second = items.count > 1 ? items[1] : nil
        switch kind {
        case "RELEASED": if let status = second?.string { return .success(.released(status: status)) }
        case "NOT_HELD": if let status = second?.string { return .success(.notHeld(status: status)) }
        case "NOT_DUE": if let at = second?.int { return .success(.notDue(expiresAtMs: at)) }
        case "NOT_OWNER": return .success(.notOwner)
        case "NO_RESERVATION": return .success(.noReservation)
        default: break
        }
        return .failure(ScriptReplyError("seat_release", reply: value.description))
    }
}

/// reservation_confirm.lua, the event's side of paying for a seat (the wallet's side is PaymentScripts'
/// debit and settle, as for orders). Its reply has order_confirm.lua's shapes.
public enum ReservationConfirm {
    public static let script = LuaScript.named("reservation_confirm")

    public static func keys(_ record: ReservationRecord) -> [String] {
        let event = EventKeys(eventID: record.eventID)
        return [event.reservation(record.reservationID), event.holds, event.outbox, event.active, event.admitted,
                event.seats(record.performanceID), event.seatsOfUser(record.performanceID, record.userID)]
    }

    public static func arguments(reservationID: String, paymentID: String, userID: String, discountAmount: Int64 = 0,
                                 couponID: String? = nil) -> [String] {
        [reservationID, paymentID, userID, String(discountAmount), couponID ?? ""]
    }

    /// `.success(paidAt)` when CONFIRMED for this payment, `.failure(status)` when the reservation cannot take it.
    public static func decode(_ value: RedisValue) -> Result<Result<Int64, ConfirmRefused>, Error> {
        PaymentScripts.decodeConfirm(value, script: "reservation_confirm")
    }
}
