// queue-flood: N users enter the waiting queue of one queued sale at once, poll their place as the server
// asks (pollAfterMs), and once ACTIVE buy one unit with their queue token (paying ends their turn and
// frees the slot for the next in line). Checked: a waiting user's position never grew (clients), every
// admission a client saw is in PostgreSQL, and the admission order is the arrival order — sorted by the
// seq Redis gave each place on arrival, queue_admissions' admitted_at never goes back — plus the stock.
import JSON
import Persistence

final class QueueFlood: Scenario {
    let name = "queue-flood"
    let users: [StormUser]
    private let price: Int
    private let maxActive: Int
    private let admitPerSecond: Int
    private let run: String
    private var product: SaleProduct!
    private var waiters: [Waiter] = []

    init(users: [StormUser], maxActive: Int, admitPerSecond: Int, price: Int, run: String) {
        self.users = users
        self.maxActive = maxActive
        self.admitPerSecond = admitPerSecond
        self.price = price
        self.run = run
    }

    func prepare(_ api: StormAPI) throws {
        // An admitted user buys at once, so a short active time is plenty; it also sets the admission rate
        // the server promises before it has measured one (maxActive per activeTtlSeconds), and so the
        // pollAfterMs it hands the back of the line: a long one would idle the storm for its whole duration.
        var queue: JSONObject = ["enabled": true, "maxActive": JSONValue(maxActive), "activeTtlSeconds": 15]
        if admitPerSecond > 0 { queue["admitPerSecond"] = JSONValue(admitPerSecond) }
        // Enough units for everyone: this scenario is about the line, not about selling out.
        product = try SaleProduct.create(api, name: "storm \(run) queued sale", queue: .object(queue),
                                         price: price, stock: users.count)
    }

    func makeClients(targets: Int) -> [VirtualClient] {
        waiters = users.enumerated().map { i, user in
            Waiter(target: i % targets, user: user, product: product, key: "storm-\(run)-qf-\(i)")
        }
        return waiters
    }

    func readServer(_ api: StormAPI) throws { try product.readServer(api) }

    func check(_ db: PostgresConnection) throws -> [InvariantResult] {
        let admittedUsers = waiters.filter(\.admitted).map(\.user.id)
        let rows = try db.query("""
            SELECT seq, (extract(epoch FROM admitted_at) * 1000)::bigint AS at_ms, user_id
            FROM queue_admissions WHERE event_id = $1 ORDER BY seq
            """, [product.eventID])
        var inversions = 0, previous: Int64 = .min, firstInversion = ""
        var storedUsers = Set<String>()
        for row in rows {
            let at = try row.int64("at_ms")
            if at < previous {
                inversions += 1
                if firstInversion.isEmpty { firstInversion = "; first: seq \(try row.int64("seq")) admitted before the seq ahead of it" }
            }
            previous = max(previous, at)
            storedUsers.insert(try row.string("user_id"))
        }
        let stored = admittedUsers.filter { storedUsers.contains($0) }.count
        let grew = waiters.reduce(0) { $0 + $1.positionGrew }
        return [
            InvariantResult(name, "admission order = arrival order", inversions == 0,
                            "\(rows.count) admissions in PostgreSQL, \(inversions) admitted ahead of an earlier arrival\(firstInversion)"),
            InvariantResult(name, "every admission the clients saw is in PostgreSQL", stored == admittedUsers.count,
                            "\(stored) of \(admittedUsers.count) admitted users in queue_admissions"),
            InvariantResult(name, "a waiting position never grows (clients)", grew == 0,
                            "\(grew) polls answered a position behind the previous one"),
        ] + (try product.check(name, paidOrderIDs: waiters.compactMap(\.order.paidOrderID), db))
    }

    func observations() -> JSONObject {
        var results: [String: Int] = [:]
        for waiter in waiters { results[waiter.order.paidOrderID != nil ? "PAID" : waiter.result, default: 0] += 1 }
        let polls = waiters.reduce(0) { $0 + $1.polls }
        return ["eventId": .string(product.eventID), "productId": .string(product.productID),
                "users": JSONValue(waiters.count), "admitted": JSONValue(waiters.filter(\.admitted).count),
                "paid": JSONValue(waiters.filter { $0.order.paidOrderID != nil }.count), "polls": JSONValue(polls),
                "results": .object(JSONObject(results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))]
    }

    final class Waiter: VirtualClient {
        let user: StormUser
        let product: SaleProduct
        let key: String
        let order = UnitOrder()
        private(set) var admitted = false
        private(set) var polls = 0
        private(set) var positionGrew = 0
        private(set) var result = "not entered"
        private var queueToken = ""
        private var lastPosition = Int.max

        init(target: Int, user: StormUser, product: SaleProduct, key: String) {
            self.user = user
            self.product = product
            self.key = key
            super.init(target: target)
        }

        override func start() { enter() }

        private func enter() {
            send(APICall(.POST, "/events/\(product.eventID)/queue", operation: "POST /events/{eventId}/queue", token: user.token)) { [self] outcome in
                if outcome.isRetryable {
                    if !retryLater(enter) { result = "no answer"; finish() }
                    return
                }
                let response = outcome.response!
                guard response.status == 201 || response.status == 200, let json = response.json,
                      let token = json["queueToken"]?.stringValue else {
                    result = response.errorCode ?? String(response.status)
                    finish()
                    return
                }
                queueToken = token
                place(json)
            }
        }

        private func poll() {
            polls += 1
            send(APICall(.GET, "/events/\(product.eventID)/queue", operation: "GET /events/{eventId}/queue",
                         token: user.token, headers: [("X-Queue-Token", queueToken)])) { [self] outcome in
                if outcome.isRetryable {
                    if !retryLater(poll) { result = "no answer"; finish() }
                    return
                }
                let response = outcome.response!
                guard response.status == 200, let json = response.json else {
                    result = response.errorCode ?? String(response.status)
                    finish()
                    return
                }
                place(json)
            }
        }

        /// The next step from a place's status: wait as told, buy, or end.
        private func place(_ json: JSONValue) {
            switch json["status"]?.stringValue {
            case "WAITING":
                let position = Int(json["position"]?.intValue ?? 0)
                if position > lastPosition { positionGrew += 1 }
                lastPosition = position
                let wait = Int(json["pollAfterMs"]?.intValue ?? 500)
                sleep(max(wait, 50), poll)
            case "ACTIVE":
                admitted = true
                result = "ACTIVE"
                order.place(self, product.orderCall(user, key: key, queueToken: queueToken)) { [self] in finish() }
            default:
                result = json["status"]?.stringValue ?? "no status"
                finish()
            }
        }
    }
}
