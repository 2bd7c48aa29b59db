// coupon-race: N users each ask once for one unit of a coupon of C units (first come, first served).
// Checked: no more issued than C (clients, PostgreSQL), the coupon's `remaining` equal to C − issued, and
// every issue a client was told of present in PostgreSQL.
import JSON
import Persistence

final class CouponRace: Scenario {
    let name = "coupon-race"
    let users: [StormUser]
    private let quantity: Int
    private let run: String
    private var couponID = ""
    private var takers: [Taker] = []
    private var serverRemaining: Int?

    init(users: [StormUser], quantity: Int, run: String) {
        self.users = users
        self.quantity = quantity
        self.run = run
    }

    func prepare(_ api: StormAPI) throws {
        let coupon = try api.admin(.POST, "/admin/coupons", ["name": .string("storm \(run) coupon"), "discountType": "AMOUNT",
                                                             "discountValue": 100, "quantity": JSONValue(quantity)])
        guard let id = coupon["couponId"]?.stringValue else { throw StormSetupError("POST /admin/coupons: no couponId in \(coupon)") }
        couponID = id
    }

    func makeClients(targets: Int) -> [VirtualClient] {
        takers = users.enumerated().map { i, user in Taker(target: i % targets, user: user, couponID: couponID) }
        return takers
    }

    func readServer(_ api: StormAPI) throws {
        let coupon = try api.expect(200, APICall(.GET, "/coupons/\(couponID)", operation: "GET /coupons/{couponId}"))
        serverRemaining = coupon["remaining"]?.intValue.map(Int.init)
    }

    func check(_ db: PostgresConnection) throws -> [InvariantResult] {
        let issuedTo = takers.filter(\.issued).map(\.user.id)
        let stored = try db.integer("SELECT count(*) FROM coupon_issues WHERE coupon_id = $1", [couponID])
        let seen = try db.integer("SELECT count(*) FROM coupon_issues WHERE coupon_id = $1 AND user_id = ANY($2::text[])", [couponID, issuedTo])
        return [
            InvariantResult(name, "no coupon over-issued (clients)", issuedTo.count <= quantity,
                            "\(issuedTo.count) issued to clients of \(quantity)"),
            InvariantResult(name, "no coupon over-issued (PostgreSQL)", stored <= quantity,
                            "\(stored) coupon_issues rows of \(quantity)"),
            InvariantResult(name, "remaining = quantity − issued", serverRemaining == quantity - stored,
                            "GET /coupons: remaining \(serverRemaining.map(String.init) ?? "unknown"); \(quantity) − \(stored) = \(quantity - stored)"),
            InvariantResult(name, "every issue the clients saw is in PostgreSQL", seen == issuedTo.count,
                            "\(seen) of \(issuedTo.count) in coupon_issues"),
        ]
    }

    func observations() -> JSONObject {
        var results: [String: Int] = [:]
        for taker in takers { results[taker.result, default: 0] += 1 }
        return ["couponId": .string(couponID), "quantity": JSONValue(quantity), "users": JSONValue(takers.count),
                "issued": JSONValue(takers.filter(\.issued).count),
                "serverRemaining": serverRemaining.map { JSONValue($0) } ?? .null,
                "results": .object(JSONObject(results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))]
    }

    final class Taker: VirtualClient {
        let user: StormUser
        let couponID: String
        private(set) var issued = false
        private(set) var result = "not tried"

        init(target: Int, user: StormUser, couponID: String) {
            self.user = user
            self.couponID = couponID
            super.init(target: target)
        }

        override func start() { take() }

        private func take() {
            send(APICall(.POST, "/coupons/\(couponID)/issue", operation: "POST /coupons/{couponId}/issue", token: user.token)) { [self] outcome in
                if outcome.isRetryable {
                    if !retryLater(take) { result = "no answer"; finish() }
                    return
                }
                let response = outcome.response!
                if response.status == 201 {
                    issued = true
                    result = "ISSUED"
                } else if response.errorCode == "COUPON_ALREADY_ISSUED" && retries > 0 {
                    // Only after a repeat: the attempt whose answer was lost took it.
                    issued = true
                    result = "ISSUED"
                } else {
                    result = response.errorCode ?? String(response.status)
                }
                finish()
            }
        }
    }
}
