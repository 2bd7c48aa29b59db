// POST /performances/{performanceId}/seats/{seatNo}/hold, DELETE /reservations/{reservationId} and GET
// /reservations (ReservationHistory) — API.md "Concerts, seats and reservations".
//
// A hold is one call of lua/seat_hold.lua under the event's tag: the queue gate, the seat, the per-user
// limit, the hold with its deadline (Redis TIME) and RESERVATION_HELD, together. Unpaid, the hold runs out
// after FLOODGATE_HOLD_TTL_SECONDS and the seat comes back once (seat_release.lua, run by every gateway's
// HoldSweeper and lazily by readers). A seat whose hold lapsed but is not released yet is released here
// first, then the hold is tried again.
import HTTP
import Inventory
import JSON
import Queue
import Runtime

struct ReservationRoutes {
    /// Releases of lapsed holds before a hold gives up: each frees the seat or finds it taken anew, so
    /// more than one round means other buyers are winning the seat.
    static let holdAttempts = 3

    func register(into router: inout RouteTable) {
        router.add(.POST, "/performances/{performanceId}/seats/{seatNo}/hold", hold)
        router.add(.DELETE, "/reservations/{reservationId}", release)
        router.add(.GET, "/reservations", ReservationHistory.handle)
    }

    private func hold(_ request: APIRequest) throws {
        let performanceID = request.parameters["performanceId"] ?? ""
        let text = request.parameters["seatNo"] ?? ""
        guard (1...4).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let seatNo = Int64(text), seatNo >= 1 else {
            throw APIError.validation("seatNo", "seatNo must be a seat number from 1 to the performance's totalSeats")
        }
        let queueToken = request.header(QueueGate.header).flatMap { $0.isEmpty ? nil : $0 }
        if let queueToken, !QueueGate.isWellFormed(queueToken) { throw QueueGate.invalidToken }
        guard PerformanceID.isWellFormed(performanceID) else { throw APIError.notFound("performance") }
        Authenticator.authenticate(request) { userID in
            PerformanceDirectory.eventOf(request, performanceID) { eventID in
                Self.attempt(request, eventID: eventID, performanceID: performanceID, seatNo: seatNo, userID: userID,
                             queueToken: queueToken, left: Self.holdAttempts)
            }
        }
    }

    private static func attempt(_ request: APIRequest, eventID: String, performanceID: String, seatNo: Int64, userID: String,
                                queueToken: String?, left: Int) {
        let script = SeatHoldScript(eventID: eventID, performanceID: performanceID, seatNo: seatNo, userID: userID, queueToken: queueToken,
                                    reservationID: ReservationID.make(eventID: eventID),
                                    holdMilliseconds: request.services.configuration.holdTTLSeconds * 1000)
        EventCache.withSettings(request, eventID: eventID, run: { done in
            script.run(on: request.redis) { result in done(result.map { $0 == .gate(.noEvent) ? nil : $0 }) }
        }) { reply in
            switch reply {
            case .held(let record):
                ReservationHistory.remember(request, record) { request.respond(201, json: body(record, status: "HELD")) }
            case .stale(let lapsedID) where left > 1:
                LapsedHolds.release(request, eventID: eventID, [lapsedID]) {
                    attempt(request, eventID: eventID, performanceID: performanceID, seatNo: seatNo, userID: userID,
                            queueToken: queueToken, left: left - 1)
                }
            case .stale:
                request.fail(unavailable(performanceID, seatNo, "HELD"))
            case .unavailable(let state):
                request.fail(unavailable(performanceID, seatNo, state))
            case .limitReached(let limit):
                request.fail(APIError(409, "SEAT_LIMIT_REACHED", "you already hold or bought \(limit) seats of this performance",
                                      details: ["performanceId": .string(performanceID), "limit": .int(limit)]))
            case .noSeat(let total):
                request.fail(APIError(400, "VALIDATION_FAILED", "seatNo must be from 1 to \(total)",
                                      details: ["field": "seatNo", "totalSeats": .int(total)]))
            case .started:
                request.fail(APIError(409, "SEAT_UNAVAILABLE", "the performance has started",
                                      details: ["performanceId": .string(performanceID), "seatNo": .int(seatNo), "reason": "STARTED"]))
            case .noPerformance:
                request.fail(ConcertRoutes.notLoaded)
            case .gate(let verdict):
                request.fail(QueueGate.error(for: verdict) ?? APIError.internalError)
            }
        }
    }

    private static func unavailable(_ performanceID: String, _ seatNo: Int64, _ state: String) -> APIError {
        APIError(409, "SEAT_UNAVAILABLE", "seat \(seatNo) is taken",
                 details: ["performanceId": .string(performanceID), "seatNo": .int(seatNo), "status": .string(state)])
    }

    /// Releases the bearer's own hold: 204 once it is no longer held (a second release frees nothing more);
    /// 409 ALREADY_PAID for a confirmed seat, 403 for someone else's reservation.
    private func release(_ request: APIRequest) throws {
        let reservationID = request.parameters["reservationId"] ?? ""
        Authenticator.authenticate(request) { userID in
            guard let eventID = ReservationID.eventID(of: reservationID) else { return request.fail(APIError.notFound("reservation")) }
            request.redis.send(["HGET", EventKeys(eventID: eventID).reservation(reservationID), "record"]) { result in
                guard case .success(let value) = result else { return request.fail(APIError.unexpected(result)) }
                guard let record = value.string.flatMap(ReservationRecord.init(json:)) else {
                    return request.fail(APIError.notFound("reservation"))
                }
                SeatReleaseScript(record: record, reason: "RELEASED", askedBy: userID).run(on: request.redis) { released in
                    switch released {
                    case .success(.released), .success(.notHeld("RELEASED")), .success(.notHeld("EXPIRED")):
                        request.respond(HTTPResponse(status: 204))
                    case .success(.notHeld):
                        request.fail(APIError(409, "ALREADY_PAID", "this reservation is confirmed; its seat is sold",
                                              details: ["reservationId": .string(reservationID)]))
                    case .success(.notOwner): request.fail(APIError.forbidden)
                    case .success(.noReservation): request.fail(APIError.notFound("reservation"))
                    case .success(.notDue): request.fail(APIError.internalError)  // only EXPIRED waits for the deadline
                    case .failure(let error): request.fail(error)
                    }
                }
            }
        }
    }

    /// The API's reservation.
    static func body(_ record: ReservationRecord, status: String) -> JSONValue {
        var object: JSONObject = [
            "reservationId": .string(record.reservationID), "performanceId": .string(record.performanceID),
            "concertId": .string(record.eventID), "seatNo": .int(record.seatNo), "amount": .int(record.amount),
            "status": .string(status), "createdAt": .string(Timestamp.rfc3339(millis: record.createdAtMs)),
        ]
        if status == "HELD" { object["expiresAt"] = .string(Timestamp.rfc3339(millis: record.expiresAtMs)) }
        if status == "CONFIRMED" {
            if let paidAt = record.paidAtMs { object["paidAt"] = .string(Timestamp.rfc3339(millis: paidAt)) }
            if let paymentID = record.paymentID { object["paymentId"] = .string(paymentID) }
            object["discountAmount"] = .int(record.discountAmount ?? 0)
            object["paidAmount"] = .int(record.paidAmount ?? record.amount)
        }
        return .object(object)
    }
}
