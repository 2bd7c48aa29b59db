// GET /events/{eventId}/queue: one Redis round trip either way. The fast path (QueuePollCache says this
// loop's queue.lua already confirmed the token in this window) pipelines the session's fields with
// lua/queue_peek.lua, a few reads; otherwise the session's fields, TIME and the event's abandonAfter
// travel with queue.lua's `poll`, which verifies, marks the user seen, and is then remembered.
import HTTP
import JSON
import Queue
import Runtime
import Scripts

enum QueuePoll {
    static func fast(_ request: APIRequest, _ session: SessionToken, token: String, event: QueuePollCache.Event) {
        let user = session.userID
        let cache = request.loopState.queuePolls
        var sessionFields: Result<RedisValue, RedisError>?
        var place: Result<RedisValue, RedisError>?
        func finish() {
            guard let sessionFields, let place else { return }
            let fields: RedisValue, peek: [RedisValue]
            switch (sessionFields, place) {
            case (.success(let f), .success(.array(let p))) where p.count >= 2:
                (fields, peek) = (f, p)
            case (.failure(let error), _), (_, .failure(let error)):
                return request.fail(error)
            default:
                return request.fail(APIError.unexpected(place))
            }
            guard let now = peek[0].int else { return request.fail(APIError.unexpected(.success(.array(peek)))) }
            cache.noteRedisTime(now)
            guard Authenticator.sessionIsLive(fields, session, nowMs: now) else { return request.fail(APIError.unauthenticated) }
            request.userID = user
            switch peek[1].string {
            case "WAITING" where peek.count == 4:
                let position = peek[2].int ?? 0
                let rate = peek[3].string.flatMap(Double.init) ?? -1
                let eta: Int64? = rate > 0 ? Int64((Double(position) / rate).rounded(.up)) : nil
                let pollAfter = QueuePlace.waitingPollAfter(etaSeconds: eta, abandonAfterMs: event.abandonAfterMs)
                request.respond(.json(200, QueuePlace.waitingBody(token: token, position: position, etaSeconds: eta, pollAfterMs: pollAfter)))
            case "ACTIVE" where peek.count == 3:
                let until = peek[2].int ?? 0
                request.respond(200, json: QueueRoutes.body(.active(token: token, activeUntilMs: until,
                                                                    pollAfterMs: QueuePlace.activePollAfter(untilMs: until, nowMs: now), fresh: false)))
            case "EXPIRED":
                request.respond(200, json: QueueRoutes.body(.expired))
            default:
                request.fail(APIError.unexpected(.success(.array(peek))))
            }
        }
        request.redis.send(Authenticator.sessionFieldsCommand(session)) { result in
            sessionFields = result
            finish()
        }
        request.redis.run(peekScript, keys: event.peekKeys, arguments: [user, String(token.prefix { $0 != "." })]) { result in
            place = result
            finish()
        }
    }

    static let peekScript = LuaScript.named("queue_peek")

    static func scripted(_ request: APIRequest, _ session: SessionToken, token: String, eventID: String) {
        let user = session.userID
        let cache = request.loopState.queuePolls
        let script = QueueScript(eventID: eventID)
        let commands: [[String]] = [
            Authenticator.sessionFieldsCommand(session),
            ["TIME"],
            ["HGET", script.keys.queueConfiguration, "abandonAfter"],
        ]
        var queueReply: Result<QueueReply, Error>?
        var plain: Result<[RedisValue], RedisError>?
        func finish() {
            guard let plain, let queueReply else { return }
            let replies: [RedisValue]
            do { replies = try plain.get() } catch { return request.fail(error) }
            guard let now = QueuePollCache.milliseconds(fromTime: replies[1]) else {
                return request.fail(APIError.unexpected(.success(replies[1])))
            }
            cache.noteRedisTime(now)
            guard Authenticator.sessionIsLive(replies[0], session, nowMs: now) else { return request.fail(APIError.unauthenticated) }
            request.userID = user
            switch queueReply {
            case .success(.noEvent):
                // Settings missing from Redis: the slow path reloads them, then polls again.
                EventCache.run(request, eventID: eventID, script.poll(userID: user, token: token)) { reply in
                    answer(request, reply)
                }
            case .success(let reply):
                // A place the script verified and marked seen: this loop may answer its next polls this
                // window from reads alone.
                switch reply {
                case .waiting, .active:
                    if let abandonAfter = replies[2].int {
                        cache.remember(eventID, abandonAfterMs: abandonAfter * 1000).confirm(user + " " + token, nowMs: now)
                    }
                default:
                    break
                }
                answer(request, reply)
            case .failure(let error):
                request.fail(error)
            }
        }
        request.pipeline(commands) { result in
            plain = result
            finish()
        }
        script.run(script.poll(userID: user, token: token), on: request.redis) { result in
            queueReply = result
            finish()
        }
    }

    static func answer(_ request: APIRequest, _ reply: QueueReply) {
        switch reply {
        case .waiting, .active, .expired:
            request.respond(200, json: QueueRoutes.body(reply))
        case .invalidToken:
            request.fail(QueueGate.invalidToken)
        default:
            request.fail(ScriptReplyError("queue", reply: "\(reply)"))
        }
    }
}

/// The place in line as the API shows it; the poll advice mirrors queue.lua's (`waitingReply`,
/// `activeReply`), which QueuePollTests checks by comparing the two paths' answers.
enum QueuePlace {
    static func waitingPollAfter(etaSeconds: Int64?, abandonAfterMs: Int64) -> Int64 {
        let advised = etaSeconds.map { $0 * 200 } ?? 5_000
        return max(500, min(advised, 30_000, abandonAfterMs / 3))
    }

    static func activePollAfter(untilMs: Int64, nowMs: Int64) -> Int64 {
        max(1_000, min(30_000, (untilMs - nowMs) / 2))
    }

    /// The WAITING body, written straight to bytes (the hottest answer; the token is [0-9a-f.] only).
    static func waitingBody(token: String, position: Int64, etaSeconds: Int64?, pollAfterMs: Int64) -> [UInt8] {
        var text = "{\"queueToken\":\"\(token)\",\"status\":\"WAITING\",\"position\":\(position),\"etaSeconds\":"
        text += etaSeconds.map(String.init) ?? "null"
        text += ",\"pollAfterMs\":\(pollAfterMs)}"
        return Array(text.utf8)
    }
}
