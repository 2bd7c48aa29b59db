// GET /concerts, GET /concerts/{concertId}/performances and GET /performances/{performanceId}/seats (API.md
// "Concerts, seats and reservations"). Definitions come from PostgreSQL; seat states from Redis, read
// with Redis's TIME in the same pipeline, so every state is exact at read time: a hold past its deadline
// is AVAILABLE (and is released on the spot, LapsedHolds). Seats of a queued concert are behind its gate.
import Inventory
import JSON
import Queue
import Runtime

struct ConcertRoutes {
    /// A performance PostgreSQL knows but Redis does not: Redis lost its data and `floodgate recover` has
    /// not run yet. Seat states are never guessed (a sold seat must not read AVAILABLE).
    static let notLoaded = APIError(503, "UNAVAILABLE", "the seats are not in Redis; run floodgate recover",
                                    headers: [("Retry-After", "5")])

    func register(into router: inout RouteTable) {
        router.add(.GET, "/concerts", list)
        router.add(.GET, "/concerts/{concertId}/performances", performances)
        router.add(.GET, "/performances/{performanceId}/seats", seats)
    }

    private func list(_ request: APIRequest) throws {
        request.postgres({ db in try ConcertStore.all(db) }) { result in
            switch result {
            case .success(let concerts): request.respond(200, json: ["items": .array(concerts.map(\.json))])
            case .failure(let error): request.fail(error)
            }
        }
    }

    /// The bookable dates: performances that have not started and have a free seat, with how many.
    private func performances(_ request: APIRequest) throws {
        let eventID = request.parameters["concertId"] ?? ""
        guard EventID.isWellFormed(eventID) else { throw APIError.notFound("concert") }
        request.postgres({ db -> [StoredPerformance]? in
            try ConcertStore.exists(eventID: eventID, db) ? try ConcertStore.performances(eventID: eventID, db) : nil
        }) { result in
            switch result {
            case .failure(let error): request.fail(error)
            case .success(nil): request.fail(APIError.notFound("concert"))
            case .success(let performances?):
                let keys = EventKeys(eventID: eventID)
                let commands = [["TIME"]] + performances.flatMap { [["EXISTS", keys.performance($0.id)], ["HVALS", keys.seats($0.id)]] }
                request.pipeline(commands) { replies in
                    guard case .success(let values) = replies, let now = Self.milliseconds(values[0]) else {
                        return request.fail(APIError.unexpected(replies.map { _ in .null }))
                    }
                    var items: [JSONValue] = []
                    for (i, performance) in performances.enumerated() {
                        guard values[1 + 2 * i].int == 1 else { return request.fail(Self.notLoaded) }
                        let taken = (values[2 + 2 * i].array ?? []).filter { SeatState($0.string, nowMs: now).status != "AVAILABLE" }.count
                        let available = performance.totalSeats - Int64(taken)
                        if performance.startsAtMs > now && available > 0 { items.append(performance.json(availableSeats: available)) }
                    }
                    request.respond(200, json: ["items": .array(items)])
                }
            }
        }
    }

    private func seats(_ request: APIRequest) throws {
        let performanceID = request.parameters["performanceId"] ?? ""
        let queueToken = request.header(QueueGate.header).flatMap { $0.isEmpty ? nil : $0 }
        // A bearer is needed only where the gate needs one: a queue token belongs to a user.
        let hasBearer = request.header("Authorization") != nil
        if queueToken != nil && !hasBearer { throw APIError.unauthenticated }
        PerformanceDirectory.eventOf(request, performanceID) { eventID in
            let show = { (userID: String) in
                QueueGate.check(request, eventID: eventID, userID: userID, token: queueToken) {
                    Self.seatMap(request, eventID: eventID, performanceID: performanceID)
                }
            }
            if hasBearer { Authenticator.authenticate(request, show) } else { show("") }
        }
    }

    private static func seatMap(_ request: APIRequest, eventID: String, performanceID: String) {
        let keys = EventKeys(eventID: eventID)
        request.pipeline([["TIME"], ["HGET", keys.performance(performanceID), "total"], ["HGETALL", keys.seats(performanceID)]]) { replies in
            guard case .success(let values) = replies, let now = milliseconds(values[0]) else {
                return request.fail(APIError.unexpected(replies.map { _ in .null }))
            }
            guard let total = values[1].int else { return request.fail(notLoaded) }
            var states: [Int64: SeatState] = [:]
            let fields = values[2].array ?? []
            for i in stride(from: 0, to: fields.count - 1, by: 2) {
                if let seat = fields[i].string.flatMap({ Int64($0) }) { states[seat] = SeatState(fields[i + 1].string, nowMs: now) }
            }
            let lapsed = states.values.compactMap { state -> String? in
                if case .lapsed(let id) = state { return id }
                return nil
            }
            LapsedHolds.release(request, eventID: eventID, lapsed) {
                let seats: [JSONValue] = (0..<max(total, 0)).map { $0 + 1 }.map { seat in
                    ["seatNo": .int(seat), "status": .string((states[seat] ?? .available).status)]
                }
                request.respond(200, json: ["performanceId": .string(performanceID), "seats": .array(seats)])
            }
        }
    }

    /// Redis TIME's reply in milliseconds.
    static func milliseconds(_ time: RedisValue) -> Int64? {
        guard case .array(let clock) = time, clock.count == 2, let seconds = clock[0].int, let micros = clock[1].int else { return nil }
        return seconds * 1000 + micros / 1000
    }
}
