// Redis's copy of an event's queue settings. Written after every change in PostgreSQL (with the row's
// version, so a late write of an older version is ignored), and reloaded from PostgreSQL whenever a
// script finds it missing — after `floodgate recover`, or when Redis was restarted without its data.
import Queue
import Runtime
import Scripts

enum EventCache {
    /// Writes the settings and registers the event for the admission tickers and its outbox stream for
    /// the worker. `completion` on the connection's loop.
    static func store(_ event: StoredEvent, on redis: RedisConnection, completion: @escaping (Result<Void, Error>) -> Void) {
        let script = QueueScript(eventID: event.id)
        // The registries are plain keys of their own slots, so they are separate commands; all three go
        // out in one write. The settings come last: once they are visible, the registries already are.
        redis.send(["SADD", EventKeys.registry, event.id]) { _ in }
        redis.send(["SADD", EventKeys.outboxRegistry, script.keys.outbox]) { _ in }
        script.run(script.configure(event.queue, secret: event.queueSecret, version: event.queueVersion), on: redis) { result in
            switch result {
            case .success(.configured): completion(.success(()))
            case .success(let other): completion(.failure(ScriptReplyError("queue", reply: "\(other)")))
            case .failure(let error): completion(.failure(error))
            }
        }
    }

    /// Runs a queue operation for `request`, reloading the settings first if Redis lacks them.
    static func run(_ request: APIRequest, eventID: String, _ arguments: [String],
                    completion: @escaping (QueueReply) -> Void) {
        let script = QueueScript(eventID: eventID)
        withSettings(request, eventID: eventID, run: { done in
            script.run(arguments, on: request.redis) { result in done(result.map { $0 == .noEvent ? nil : $0 }) }
        }, completion: completion)
    }

    /// Runs `attempt` (a script call that reports nil when the event's settings are not in Redis); on nil,
    /// loads the event from PostgreSQL, stores it, and attempts once more. 404 NOT_FOUND (event) when
    /// PostgreSQL does not know it either; any failure is answered here.
    static func withSettings<T>(_ request: APIRequest, eventID: String,
                                run attempt: @escaping (@escaping (Result<T?, Error>) -> Void) -> Void,
                                completion: @escaping (T) -> Void) {
        // An id that cannot be one of ours never reaches Redis (it becomes part of key names).
        guard EventID.isWellFormed(eventID) else {
            request.fail(APIError.notFound("event"))
            return
        }
        attempt { first in
            switch first {
            case .success(let value?): completion(value)
            case .failure(let error): request.fail(error)
            case .success(nil):
                reload(request, eventID: eventID) {
                    attempt { second in
                        switch second {
                        case .success(let value?): completion(value)
                        case .success(nil): request.fail(APIError.notFound("event"))
                        case .failure(let error): request.fail(error)
                        }
                    }
                }
            }
        }
    }

    private static func reload(_ request: APIRequest, eventID: String, then: @escaping () -> Void) {
        request.postgres({ db in try EventStore.find(id: eventID, db) }) { result in
            switch result {
            case .success(nil): request.fail(APIError.notFound("event"))
            case .success(let event?):
                store(event, on: request.redis) { stored in
                    switch stored {
                    case .success: then()
                    case .failure(let error): request.fail(error)
                    }
                }
            case .failure(let error): request.fail(error)
            }
        }
    }
}
