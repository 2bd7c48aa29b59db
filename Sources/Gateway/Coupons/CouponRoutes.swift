// POST /admin/coupons, GET /coupons/{couponId}, POST /coupons/{couponId}/issue and GET /users/me/coupons
// (API.md "Coupons"). The definition lives in PostgreSQL; the live remaining count, the window and the
// holders in Redis under the coupon's own tag, where lua/coupon_issue.lua makes each issue one decision.
import Foundation
import Inventory
import JSON
import Queue
import Runtime

struct CouponRoutes {
    func register(into router: inout RouteTable) {
        router.add(.POST, "/admin/coupons", create)
        router.add(.GET, "/coupons/{couponId}", one)
        router.add(.POST, "/coupons/{couponId}/issue", issue)
        router.add(.GET, "/users/me/coupons", mine)
    }

    static let notLoaded = APIError(503, "UNAVAILABLE", "the coupon's live state is not in Redis; run floodgate recover",
                                    headers: [("Retry-After", "5")])

    private func create(_ request: APIRequest) throws {
        try AdminKey.check(request)
        let draft: CouponDraft
        do { draft = try CouponDraft(try request.jsonObject()) } catch let invalid as CouponDraft.Invalid {
            throw APIError.validation(invalid.field, invalid.message)
        }
        let coupon = StoredCoupon(id: CouponID.make(), draft: draft)
        request.postgres({ db in try CouponStore.insert(coupon, db) }) { inserted in
            if case .failure(let error) = inserted { return request.fail(error) }
            let scripts = CouponScripts(couponID: coupon.id)
            request.pipeline(scripts.create(draft) + [["SADD", EventKeys.outboxRegistry, scripts.keys.outbox]]) { stored in
                switch stored {
                case .success: request.respond(201, json: coupon.json(remaining: draft.quantity))
                case .failure(let error):
                    // Without its live state the coupon cannot be issued: undo, and let the admin repeat.
                    request.postgres({ db in try CouponStore.delete(id: coupon.id, db) }) { _ in request.fail(error) }
                }
            }
        }
    }

    private func one(_ request: APIRequest) throws {
        let couponID = request.parameters["couponId"] ?? ""
        guard CouponID.isWellFormed(couponID) else { throw APIError.notFound("coupon") }
        request.postgres({ db in try CouponStore.find(ids: [couponID], db).first }) { found in
            switch found {
            case .success(nil): request.fail(APIError.notFound("coupon"))
            case .failure(let error): request.fail(error)
            case .success(let coupon?):
                request.redis.send(["HGET", CouponKeys(couponID: couponID).coupon, "remaining"]) { result in
                    switch result {
                    case .success(let value):
                        guard let remaining = value.int else { return request.fail(Self.notLoaded) }
                        request.respond(200, json: coupon.json(remaining: remaining))
                    case .failure(let error): request.fail(error)
                    }
                }
            }
        }
    }

    private func issue(_ request: APIRequest) throws {
        let couponID = request.parameters["couponId"] ?? ""
        Authenticator.authenticate(request) { userID in
            guard CouponID.isWellFormed(couponID) else { return request.fail(APIError.notFound("coupon")) }
            CouponScripts(couponID: couponID).issue(userID: userID, on: request.redis) { result in
                switch result {
                case .success(.issued(let at)):
                    // The user's own index, so their list shows it before the worker writes the issue.
                    request.redis.send(["HSET", UserKeys(userID: userID).coupons, couponID, String(at)]) { _ in
                        request.respond(201, json: ["couponId": .string(couponID), "userId": .string(userID), "status": "ISSUED",
                                                    "issuedAt": .string(Timestamp.rfc3339(millis: at))])
                    }
                case .success(.refused("SOLD_OUT")):
                    request.fail(APIError(409, "COUPON_SOLD_OUT", "no coupons left", details: ["couponId": .string(couponID)]))
                case .success(.refused("ALREADY_ISSUED")):
                    request.fail(APIError(409, "COUPON_ALREADY_ISSUED", "this coupon was already issued to you (one per user)",
                                          details: ["couponId": .string(couponID)]))
                case .success(.refused("EXPIRED")), .success(.refused("NOT_YET_VALID")):
                    let reason = (try? result.get()) == .refused("EXPIRED") ? "is no longer valid" : "is not valid yet"
                    request.fail(APIError(410, "COUPON_EXPIRED", "this coupon \(reason)", details: ["couponId": .string(couponID)]))
                case .success(.refused(_)):
                    // Not in Redis: unknown, or Redis lost it (then PostgreSQL knows it).
                    request.postgres({ db in try CouponStore.find(ids: [couponID], db).isEmpty }) { unknown in
                        request.fail((try? unknown.get()) == false ? Self.notLoaded : APIError.notFound("coupon"))
                    }
                case .success(.issued), .failure:
                    request.fail(result.failureError)
                }
            }
        }
    }

    private func mine(_ request: APIRequest) throws {
        Authenticator.authenticate(request) { userID in
            request.redis.send(["HGETALL", UserKeys(userID: userID).coupons]) { index in
                guard case .success(let value) = index else { return request.fail(index.failureError) }
                var issued: [String: Int64] = [:]
                let fields = value.array ?? []
                for i in stride(from: 0, to: fields.count - 1, by: 2) {
                    if let id = fields[i].string, let at = fields[i + 1].int { issued[id] = at }
                }
                request.postgres({ db -> [(StoredCoupon, Int64)] in
                    for (id, at) in try CouponStore.issued(to: userID, db) where issued[id] == nil { issued[id] = at }
                    return try CouponStore.find(ids: Array(issued.keys), db).map { ($0, issued[$0.id] ?? 0) }
                }) { found in
                    guard case .success(let coupons) = found else { return request.fail(found.failureError) }
                    let sorted = coupons.sorted { ($0.1, $0.0.id) > ($1.1, $1.0.id) }
                    let commands = sorted.map { ["HGET", CouponKeys(couponID: $0.0.id).holders, userID] }
                    let render = { (states: [RedisValue]) in
                        let items: [JSONValue] = zip(sorted, states).map { entry, state in
                            let (coupon, at) = entry
                            // "ISSUED <ms>" or "USED <ms>" (Redis); absent after a Redis loss before recover: ISSUED.
                            let parts = (state.string ?? "ISSUED").split(separator: " ")
                            var item: JSONObject = ["couponId": .string(coupon.id), "name": .string(coupon.draft.name),
                                                    "status": .string(String(parts.first ?? "ISSUED")),
                                                    "issuedAt": .string(Timestamp.rfc3339(millis: at))]
                            if parts.first == "USED", parts.count > 1, let used = Int64(parts[1]) {
                                item["usedAt"] = .string(Timestamp.rfc3339(millis: used))
                            }
                            return .object(item)
                        }
                        request.respond(200, json: ["items": .array(items)])
                    }
                    if commands.isEmpty { return render([]) }
                    request.pipeline(commands) { states in
                        switch states {
                        case .success(let values): render(values)
                        case .failure(let error): request.fail(error)
                        }
                    }
                }
            }
        }
    }
}
