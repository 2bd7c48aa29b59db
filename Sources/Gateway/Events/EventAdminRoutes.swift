// POST /admin/events, PATCH and GET /admin/events/{eventId}/queue (API.md "Events and the waiting
// queue"). PostgreSQL holds the event; after each change Redis gets the settings with their version.
import Foundation
import JSON
import Queue
import Runtime
import Scripts

struct EventAdminRoutes {
    func register(into router: inout RouteTable) {
        router.add(.POST, "/admin/events", create)
        router.add(.PATCH, "/admin/events/{eventId}/queue", updateQueue)
        router.add(.GET, "/admin/events/{eventId}/queue", queueStatus)
    }

    private func create(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let body = try request.jsonObject()
        guard case .string(let kind)? = body["kind"], kind == "sale" || kind == "concert" else {
            throw APIError.validation("kind", "kind must be \"sale\" or \"concert\"")
        }
        let event = try Self.newEvent(body, kind: kind)
        request.postgres({ db in try EventStore.insert(event, db) }) { result in
            switch result {
            case .success(let stored): Self.publish(request, stored) { request.respond(201, json: stored.json) }
            case .failure(let error): request.fail(error)
            }
        }
    }

    /// A new event from the body's `name`, `queue` and `startsAt` (POST /admin/events; POST /admin/concerts
    /// makes its event here too, so a concert's queue is exactly a sale's). Not stored yet.
    static func newEvent(_ body: JSONObject, kind: String, defaultStartsAtMs: Int64? = nil) throws -> StoredEvent {
        guard case .string(let rawName)? = body["name"],
              case let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines), (1...200).contains(name.count) else {
            throw APIError.validation("name", "name must be a string of 1 to 200 characters")
        }
        var settings = QueueSettings()
        switch body["queue"] {
        case nil, .null?: break
        case .object(let queue)?: try Self.apply(queue, to: &settings, creating: true, prefix: "queue.")
        default: throw APIError.validation("queue", "queue must be an object")
        }
        var startsAt = defaultStartsAtMs
        switch body["startsAt"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let ms = Timestamp.parseRFC3339(text) else {
                throw APIError.validation("startsAt", "startsAt must be an RFC 3339 time, e.g. 2026-11-21T09:00:00.000Z")
            }
            startsAt = ms
        default: throw APIError.validation("startsAt", "startsAt must be an RFC 3339 time string")
        }
        return StoredEvent(id: EventID.make(), name: name, kind: kind, startsAtMs: startsAt, queue: settings,
                           queueSecret: SecureRandom.hex(bytes: 20), queueVersion: 1, createdAtMs: 0)
    }

    /// Once PostgreSQL has a new event: its settings go to Redis and its queue to the admission ticker.
    /// PostgreSQL having it is what counts: should Redis be unreachable now, the first request that needs
    /// the settings loads them (EventCache.run), so `then` runs either way.
    static func publish(_ request: APIRequest, _ event: StoredEvent, then: @escaping () -> Void) {
        EventCache.store(event, on: request.redis) { _ in
            request.services.admission?.watch(event.id)
            then()
        }
    }

    private func updateQueue(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let eventID = request.parameters["eventId"] ?? ""
        let body = try request.jsonObject()
        // Check every field before touching anything (the bounds do not depend on the stored values).
        var probe = QueueSettings()
        try Self.apply(body, to: &probe, creating: false, prefix: "")
        guard EventID.isWellFormed(eventID) else { throw APIError.notFound("event") }
        request.postgres({ db in
            try EventStore.updateQueue(id: eventID, db) { settings in
                try Self.apply(body, to: &settings, creating: false, prefix: "")
            }
        }) { result in
            switch result {
            case .success(nil):
                request.fail(APIError.notFound("event"))
            case .success(let event?):
                EventCache.store(event, on: request.redis) { stored in
                    switch stored {
                    case .success:
                        var json = event.queue.json
                        if case .object(var object) = json {
                            object["eventId"] = .string(event.id)
                            json = .object(object)
                        }
                        request.respond(200, json: json)
                    case .failure(let error):
                        // PostgreSQL has the change but Redis may not: 503 tells the operator to repeat
                        // it (a repeat is harmless), and the next reload would bring it anyway.
                        request.fail(error)
                    }
                }
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    private func queueStatus(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let eventID = request.parameters["eventId"] ?? ""
        guard EventID.isWellFormed(eventID) else { throw APIError.notFound("event") }
        request.postgres({ db in try EventStore.find(id: eventID, db) }) { result in
            switch result {
            case .success(nil):
                request.fail(APIError.notFound("event"))
            case .success(let event?):
                EventCache.run(request, eventID: eventID, QueueScript(eventID: eventID).stats) { reply in
                    guard case .stats(let stats) = reply else {
                        request.fail(ScriptReplyError("queue", reply: "\(reply)"))
                        return
                    }
                    var object: JSONObject = ["eventId": .string(event.id), "waiting": .int(stats.waiting),
                                              "active": .int(stats.active), "admittedTotal": .int(stats.admittedTotal),
                                              "admitRatePerSecond": JSONValue((stats.ratePerSecond * 100).rounded() / 100),
                                              "enteredTotal": .int(stats.enteredTotal)]
                    if case .object(let settings) = event.queue.json {
                        for member in settings { object[member.key] = member.value }
                    }
                    request.respond(200, json: .object(object))
                }
            case .failure(let error):
                request.fail(error)
            }
        }
    }

    private static func apply(_ object: JSONObject, to settings: inout QueueSettings, creating: Bool, prefix: String) throws {
        do {
            try settings.apply(object, creating: creating, prefix: prefix)
        } catch let invalid as QueueSettings.Invalid {
            throw APIError.validation(invalid.field, invalid.message)
        }
    }
}
