// GET /wallet and POST /wallet/charge (API.md "Wallet"). The balance lives in Redis under the user's
// shard tag; wallet_charge.lua validates, applies the idempotency key, adds, and writes the outbox event
// in one call.
import HTTP
import JSON
import Runtime

struct WalletRoutes {
    static let maxChargeAmount: Int64 = 10_000_000
    static let maxBalance: Int64 = 1_000_000_000

    func register(into router: inout RouteTable) {
        router.add(.GET, "/wallet", wallet)
        router.add(.POST, "/wallet/charge", charge)
        router.add(.GET, "/wallet/transactions", WalletHistory.handle)
    }

    private func wallet(_ request: APIRequest) throws {
        Authenticator.authenticate(request) { userID in
            request.redis.send(["GET", UserKeys(userID: userID).wallet]) { result in
                switch result {
                case .success(let value):
                    request.respond(200, json: ["userId": .string(userID), "balance": .int(value.int ?? 0)])
                case .failure(let error):
                    request.fail(error)
                }
            }
        }
    }

    private func charge(_ request: APIRequest) throws {
        // Validate everything before touching anything.
        let idempotencyKey = try IdempotencyKey.from(request)
        let body = try request.jsonObject()
        guard case .int(let amount)? = body["amount"] else {
            throw APIError(400, "INVALID_AMOUNT", "amount must be a JSON integer from 1 to \(Self.maxChargeAmount)",
                           details: ["field": "amount"])
        }
        guard (1...Self.maxChargeAmount).contains(amount) else {
            throw APIError(400, "INVALID_AMOUNT", "amount must be from 1 to \(Self.maxChargeAmount)", details: ["field": "amount"])
        }
        Authenticator.authenticate(request) { userID in
            let keys = UserKeys(userID: userID)
            let chargeID = "chg_" + SecureRandom.hex(bytes: 12)
            request.script("wallet_charge",
                           keys: [keys.wallet, keys.idempotency("charge", idempotencyKey ?? "-"), keys.outbox],
                           arguments: [userID, String(amount), chargeID, "amount=\(amount)", idempotencyKey == nil ? "" : "1",
                                       String(IdempotencyKey.ttlSeconds), String(Self.maxChargeAmount), String(Self.maxBalance)]) { result in
                switch result {
                case .success(.array(let reply)):
                    switch reply.first?.string {
                    case "OK", "REPLAY":
                        request.respond(.json(200, reply.count > 1 ? (reply[1].string.map { Array($0.utf8) } ?? []) : []))
                    case "REUSED":
                        request.fail(IdempotencyKey.reused)
                    default:
                        request.fail(APIError.unexpected(result))
                    }
                case .success(.error(let message)) where message.hasPrefix("INVALID_AMOUNT"):
                    let balance = Int64(message.split(separator: " ").last ?? "") ?? 0
                    request.fail(APIError(400, "INVALID_AMOUNT", "a balance may not exceed \(Self.maxBalance)",
                                          details: ["balance": .int(balance), "maxBalance": .int(Self.maxBalance)]))
                case .success, .failure:
                    request.fail(APIError.unexpected(result))
                }
            }
        }
    }
}
