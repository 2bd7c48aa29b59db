// seat-race: N users race for the seats 1..S of one performance. Each picks a seat at random and holds it;
// a refused hold (SEAT_UNAVAILABLE) sends it to another random seat, and every second refusal to the seat
// map for the seats still AVAILABLE; a hold is paid at once from the wallet. A user ends with one seat,
// or when no seat is AVAILABLE or HELD any more (a HELD seat may come free if its payment fails).
// Checked: no seat CONFIRMED twice (clients, PostgreSQL), every confirmation a client saw is CONFIRMED in
// PostgreSQL, and the server's SOLD seats are PostgreSQL's CONFIRMED ones.
import JSON
import Persistence

final class SeatRace: Scenario {
    let name = "seat-race"
    let users: [StormUser]
    private let seats: Int
    private let price: Int
    private let run: String
    private(set) var performanceID = ""
    private var concertID = ""
    private var seekers: [Seeker] = []
    private var serverSold: Int?

    init(users: [StormUser], seats: Int, price: Int, run: String) {
        self.users = users
        self.seats = seats
        self.price = price
        self.run = run
    }

    func prepare(_ api: StormAPI) throws {
        let concert = try api.admin(.POST, "/admin/concerts", [
            "name": .string("storm \(run) concert"), "artist": "The Storm", "queue": ["enabled": false],
            "performances": [["startsAt": .string(StormSetup.daysFromNow(30)), "price": JSONValue(price), "seats": JSONValue(seats)]],
        ])
        guard let id = concert["concertId"]?.stringValue, let performance = concert["performances"]?[0]?["performanceId"]?.stringValue else {
            throw StormSetupError("POST /admin/concerts: no concertId/performanceId in \(concert)")
        }
        concertID = id
        performanceID = performance
    }

    func makeClients(targets: Int) -> [VirtualClient] {
        seekers = users.enumerated().map { i, user in
            Seeker(target: i % targets, user: user, performanceID: performanceID, seats: seats, key: "storm-\(run)-sr-\(i)")
        }
        return seekers
    }

    func readServer(_ api: StormAPI) throws {
        let map = try api.expect(200, APICall(.GET, "/performances/\(performanceID)/seats", operation: "GET /performances/{performanceId}/seats"))
        serverSold = map["seats"]?.arrayValue?.filter { $0["status"]?.stringValue == "SOLD" }.count
    }

    func check(_ db: PostgresConnection) throws -> [InvariantResult] {
        let confirmed = seekers.filter { $0.confirmedSeat != nil }
        var bySeat: [Int: Int] = [:]
        for seeker in confirmed { bySeat[seeker.confirmedSeat!, default: 0] += 1 }
        let seenTwice = bySeat.values.filter { $0 > 1 }.count
        let soldTwice = try db.integer("""
            SELECT count(*) FROM (SELECT seat_no FROM reservations WHERE performance_id = $1 AND status = 'CONFIRMED'
                                  GROUP BY seat_no HAVING count(*) > 1) AS twice
            """, [performanceID])
        let stored = try db.integer("SELECT count(*) FROM reservations WHERE reservation_id = ANY($1::text[]) AND status = 'CONFIRMED'",
                                    [confirmed.map(\.reservationID)])
        let storedAll = try db.integer("SELECT count(*) FROM reservations WHERE performance_id = $1 AND status = 'CONFIRMED'", [performanceID])
        return [
            InvariantResult(name, "no seat sold twice (clients)", seenTwice == 0,
                            "\(confirmed.count) seats confirmed to clients, \(seenTwice) of them to two or more"),
            InvariantResult(name, "no seat sold twice (PostgreSQL)", soldTwice == 0,
                            "\(soldTwice) seats with more than one CONFIRMED reservation"),
            InvariantResult(name, "every confirmed seat the clients saw is in PostgreSQL", stored == confirmed.count,
                            "\(stored) of \(confirmed.count) CONFIRMED in PostgreSQL"),
            InvariantResult(name, "server SOLD seats = PostgreSQL CONFIRMED", serverSold == storedAll && storedAll <= seats,
                            "GET seats: \(serverSold.map(String.init) ?? "unknown") SOLD; PostgreSQL: \(storedAll) CONFIRMED of \(seats) seats"),
        ]
    }

    func observations() -> JSONObject {
        var results: [String: Int] = [:]
        for seeker in seekers { results[seeker.result, default: 0] += 1 }
        return ["concertId": .string(concertID), "performanceId": .string(performanceID), "seats": JSONValue(seats),
                "users": JSONValue(seekers.count), "confirmed": JSONValue(seekers.filter { $0.confirmedSeat != nil }.count),
                "refusedHolds": JSONValue(seekers.reduce(0) { $0 + $1.refusals }),
                "serverSold": serverSold.map { JSONValue($0) } ?? .null,
                "results": .object(JSONObject(results.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))]
    }

    final class Seeker: VirtualClient {
        let user: StormUser
        let performanceID: String
        let seats: Int
        let key: String
        private(set) var confirmedSeat: Int?
        private(set) var reservationID = ""
        private(set) var refusals = 0
        private(set) var result = "not tried"
        private var looks = 0

        init(target: Int, user: StormUser, performanceID: String, seats: Int, key: String) {
            self.user = user
            self.performanceID = performanceID
            self.seats = seats
            self.key = key
            super.init(target: target)
        }

        override func start() { hold(Int.random(in: 1...seats)) }

        private func hold(_ seat: Int) {
            send(APICall(.POST, "/performances/\(performanceID)/seats/\(seat)/hold",
                         operation: "POST /performances/{performanceId}/seats/{seatNo}/hold", token: user.token)) { [self] outcome in
                if outcome.isRetryable {
                    // A lost answer may have held the seat for us; the map shows what is left either way.
                    if !retryLater(look) { result = "no answer"; finish() }
                    return
                }
                let response = outcome.response!
                if response.status == 201, let id = response.json?["reservationId"]?.stringValue {
                    reservationID = id
                    pay(seat)
                } else if response.errorCode == "SEAT_UNAVAILABLE" {
                    refusals += 1
                    if refusals % 2 == 0 { look() } else { hold(Int.random(in: 1...seats)) }
                } else {
                    result = response.errorCode ?? String(response.status)
                    finish()
                }
            }
        }

        private func look() {
            looks += 1
            send(APICall(.GET, "/performances/\(performanceID)/seats", operation: "GET /performances/{performanceId}/seats",
                         token: user.token)) { [self] outcome in
                if outcome.isRetryable {
                    if !retryLater(look) { result = "no answer"; finish() }
                    return
                }
                guard let map = outcome.response?.json?["seats"]?.arrayValue else {
                    result = outcome.response?.errorCode ?? "bad seat map"
                    finish()
                    return
                }
                let free = map.filter { $0["status"]?.stringValue == "AVAILABLE" }.compactMap { $0["seatNo"]?.intValue }
                if let seat = free.randomElement() {
                    hold(Int(seat))
                } else if map.contains(where: { $0["status"]?.stringValue == "HELD" }) && looks < 40 {
                    sleep(250, look)  // a held seat whose payment fails comes free again
                } else {
                    result = "SOLD_OUT"
                    finish()
                }
            }
        }

        private func pay(_ seat: Int) {
            send(APICall(.POST, "/payments", token: user.token, headers: [("Idempotency-Key", key)],
                         json: ["reservationId": .string(reservationID)])) { [self] outcome in
                if outcome.isRetryable {
                    if !retryLater({ self.pay(seat) }) { result = "no answer"; finish() }
                    return
                }
                let response = outcome.response!
                if response.status == 201 && response.json?["status"]?.stringValue == "PAID" {
                    confirmedSeat = seat
                    result = "CONFIRMED"
                } else {
                    result = response.errorCode ?? String(response.status)
                }
                finish()
            }
        }
    }
}
