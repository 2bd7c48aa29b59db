// POST, GET and DELETE /events/{eventId}/queue (API.md "Events and the waiting queue"): take a place,
// poll it, leave. Each is one call of lua/queue.lua; the poll (QueuePoll) is one Redis round trip with
// the session check in it, and most polls need no script at all (QueuePollCache).
import HTTP
import JSON
import Queue
import Runtime
import Scripts

struct QueueRoutes {
    func register(into router: inout RouteTable) {
        router.add(.POST, "/events/{eventId}/queue", enter)
        router.add(.GET, "/events/{eventId}/queue", poll)
        router.add(.DELETE, "/events/{eventId}/queue", leave)
    }

    private func enter(_ request: APIRequest) throws {
        let eventID = request.parameters["eventId"] ?? ""
        Authenticator.authenticate(request) { userID in
            EventCache.run(request, eventID: eventID, QueueScript(eventID: eventID).enter(userID: userID)) { reply in
                switch reply {
                case .waiting(_, _, _, _, let fresh), .active(_, _, _, let fresh):
                    request.respond(fresh ? 201 : 200, json: Self.body(reply))
                case .disabled:
                    request.fail(APIError(409, "QUEUE_DISABLED", "this event has no waiting queue: its routes need no queue token",
                                          details: ["eventId": .string(eventID)]))
                default:
                    request.fail(ScriptReplyError("queue", reply: "\(reply)"))
                }
            }
        }
    }

    private func poll(_ request: APIRequest) throws {
        let eventID = request.parameters["eventId"] ?? ""
        let presented = Result { try QueueGate.presentedToken(request) }
        guard let session = Authenticator.bearerToken(request), case .success(let token) = presented,
              EventID.isWellFormed(eventID) else {
            // 401 comes before anything about the queue token or the event: authenticate first.
            Authenticator.authenticate(request) { _ in
                request.fail((try? presented.get()) == nil ? presented.failureError : APIError.notFound("event"))
            }
            return
        }
        let cache = request.loopState.queuePolls
        if let now = cache.estimatedRedisNow, let event = cache.event(eventID),
           event.isConfirmed(session.userID + " " + token, nowMs: now) {
            request.loopState.metrics.queuePollsFast += 1
            QueuePoll.fast(request, session, token: token, event: event)
        } else {
            request.loopState.metrics.queuePollsScripted += 1
            QueuePoll.scripted(request, session, token: token, eventID: eventID)
        }
    }

    private func leave(_ request: APIRequest) throws {
        let eventID = request.parameters["eventId"] ?? ""
        let presented = Result { try QueueGate.presentedToken(request) }
        Authenticator.authenticate(request) { userID in
            guard case .success(let token) = presented else {
                request.fail(presented.failureError)
                return
            }
            EventCache.run(request, eventID: eventID, QueueScript(eventID: eventID).leave(userID: userID, token: token)) { reply in
                switch reply {
                case .left: request.respond(HTTPResponse(status: 204))
                case .invalidToken: request.fail(QueueGate.invalidToken)
                default: request.fail(ScriptReplyError("queue", reply: "\(reply)"))
                }
            }
        }
    }

    /// The public shape of a place in line.
    static func body(_ reply: QueueReply) -> JSONValue {
        switch reply {
        case .waiting(let token, let position, let eta, let pollAfter, _):
            return ["queueToken": .string(token), "status": "WAITING", "position": .int(position),
                    "etaSeconds": eta.map { .int($0) } ?? .null, "pollAfterMs": .int(pollAfter)]
        case .active(let token, let until, let pollAfter, _):
            return ["queueToken": .string(token), "status": "ACTIVE", "position": 0, "etaSeconds": 0,
                    "pollAfterMs": .int(pollAfter), "activeUntil": .string(Timestamp.rfc3339(millis: until))]
        default:
            return ["status": "EXPIRED", "position": 0, "etaSeconds": .null, "pollAfterMs": 0]
        }
    }
}

extension Result {
    /// The error of a failure (a success has none: an internal error, never reached by the callers).
    var failureError: Error {
        if case .failure(let error) = self { return error }
        return APIError.internalError
    }
}
