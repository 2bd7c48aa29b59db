// POST /admin/concerts (API.md "Concerts, seats and reservations"). A concert is an event of kind concert
// made by the events' own code (EventAdminRoutes.newEvent / publish), so its queue works exactly like a
// sale's; concertId == eventId. PostgreSQL takes the event, the concert and its performances in one
// transaction; then every performance's facts go to Redis. Without them no seat can be held, so when
// Redis refuses them the concert is removed again and the admin repeats the request.
import JSON
import Queue
import Runtime

struct ConcertAdminRoutes {
    static let maxPerformances = 50
    static let seatsRange: ClosedRange<Int64> = 1...1_000
    static let defaultSeats: Int64 = 50
    static let seatsPerUserRange: ClosedRange<Int64> = 1...50
    static let defaultSeatsPerUser: Int64 = 4

    func register(into router: inout RouteTable) {
        router.add(.POST, "/admin/concerts", create)
    }

    private func create(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let body = try request.jsonObject()
        guard case .string(let rawArtist)? = body["artist"],
              case let artist = rawArtist.trimmingCharacters(in: .whitespacesAndNewlines), (1...200).contains(artist.count) else {
            throw APIError.validation("artist", "artist must be a string of 1 to 200 characters")
        }
        var limit = Self.defaultSeatsPerUser
        if let given = body["maxSeatsPerUser"], given != .null {
            guard case .int(let value) = given, Self.seatsPerUserRange.contains(value) else {
                throw APIError.validation("maxSeatsPerUser", "maxSeatsPerUser must be an integer from 1 to 50")
            }
            limit = value
        }
        guard case .array(let rawPerformances)? = body["performances"], (1...Self.maxPerformances).contains(rawPerformances.count) else {
            throw APIError.validation("performances", "performances must be an array of 1 to \(Self.maxPerformances) {startsAt, price, seats?}")
        }
        var draft = try EventAdminRoutes.newEvent(body, kind: "concert")
        let performances = try rawPerformances.enumerated().map { index, raw in
            try Self.performance(raw, index: index, eventID: draft.id, limit: limit)
        }
        if draft.startsAtMs == nil { draft.startsAtMs = performances.map(\.startsAtMs).min() }
        let event = draft
        request.postgres({ db in
            try ConcertStore.insert(event: event, artist: artist, maxSeatsPerUser: limit, performances: performances, db)
        }) { result in
            switch result {
            case .failure(let error): request.fail(error)
            case .success(let stored):
                request.pipeline(performances.map(\.factsCommand)) { written in
                    if case .failure(let error) = written {
                        return request.postgres({ db in try ConcertStore.delete(eventID: stored.id, db) }) { _ in request.fail(error) }
                    }
                    EventAdminRoutes.publish(request, stored) {
                        var json: JSONObject = ["concertId": .string(stored.id), "eventId": .string(stored.id), "name": .string(stored.name),
                                                "artist": .string(artist), "maxSeatsPerUser": .int(limit), "queue": stored.queue.json,
                                                "performances": .array(performances.map { $0.json() })]
                        json["kind"] = "concert"
                        request.respond(201, json: .object(json))
                    }
                }
            }
        }
    }

    /// One performance of the body: {startsAt (RFC 3339), price, seats? (default 50)}.
    private static func performance(_ raw: JSONValue, index: Int, eventID: String, limit: Int64) throws -> StoredPerformance {
        let field = "performances[\(index)]"
        guard case .object(let object) = raw else { throw APIError.validation(field, "each performance must be an object {startsAt, price, seats?}") }
        guard case .string(let text)? = object["startsAt"], let startsAt = Timestamp.parseRFC3339(text) else {
            throw APIError.validation("\(field).startsAt", "startsAt must be an RFC 3339 time, e.g. 2026-11-21T19:00:00.000Z")
        }
        guard case .int(let price)? = object["price"], (0...100_000_000).contains(price) else {
            throw APIError(400, "INVALID_AMOUNT", "price must be an integer number of won from 0 to 100,000,000",
                           details: ["field": .string("\(field).price")])
        }
        var seats = defaultSeats
        if let given = object["seats"], given != .null {
            guard case .int(let value) = given, seatsRange.contains(value) else {
                throw APIError.validation("\(field).seats", "seats must be an integer from 1 to \(seatsRange.upperBound)")
            }
            seats = value
        }
        return StoredPerformance(id: PerformanceID.make(), eventID: eventID, startsAtMs: startsAt, price: price, totalSeats: seats,
                                 maxSeatsPerUser: limit)
    }
}
