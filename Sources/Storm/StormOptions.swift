// What one storm run does: the scenario, where it sends its traffic, how many virtual clients, for how
// long at most, and the sizes of what it creates. Parsed from `floodgate storm SCENARIO [options]`; an
// unknown option or a malformed value is an error (as for every other command), never a silent default.
import Foundation
import HTTP
import Runtime

public enum StormScenarioKind: String, CaseIterable {
    case queueFlood = "queue-flood"
    case flashSale = "flash-sale"
    case seatRace = "seat-race"
    case couponRace = "coupon-race"
    case mixed
}

/// A user the storm acts as: an id and a bearer token (`floodgate seed users` lines).
public struct StormUser: Equatable {
    public let id: String
    public let token: String
    public init(id: String, token: String) {
        self.id = id
        self.token = token
    }
}

public struct StormOptions {
    public var scenario: StormScenarioKind
    /// Gateway base URLs (`http://127.0.0.1:8080`); virtual clients are spread over them round-robin.
    public var targets: [String] = ["http://127.0.0.1:8080"]
    public var adminKey: String?
    /// Virtual clients (each a user with one request at a time). `mixed` splits them over its four parts.
    public var clients = 200
    /// Upper bound of the load phase's wall time; each scenario ends sooner once its work is done.
    public var durationSeconds = 40.0
    /// How many times the whole storm runs, each round against fresh resources (a new sale, product,
    /// concert, coupon) with the same users; 0: round after round until --duration is used up.
    public var rounds = 1
    /// flash-sale: units of the one product.
    public var stock = 100
    /// seat-race: seats of the one performance (numbered 1..seats).
    public var seats = 50
    /// coupon-race: units of the one coupon.
    public var coupons = 50
    /// queue-flood: users inside at once, and the admission rate cap (0: none).
    public var maxActive = 50
    public var admitPerSecond = 0
    /// Price of every product and seat the storm creates, and what each user's wallet is charged first.
    public var price = 1_000
    public var charge = 100_000
    /// Open connections per target, over all loops (a real crowd shares few connections through proxies;
    /// this also keeps the storm within the file-descriptor limit).
    public var connectionsPerTarget = 512
    /// Event loops (threads) carrying the virtual clients.
    public var loops = 2
    public var requestTimeoutMilliseconds = 10_000
    /// How long to wait after the load for PostgreSQL to hold what the clients saw.
    public var drainTimeoutSeconds = 60.0
    /// A failing verdict that has not changed for this long is final (the drain is not going to fix it).
    public var settleSeconds = 10.0
    /// Reuse these users (a `userId,accessToken` file) instead of seeding new ones.
    public var usersFile: String?
    /// Users given directly (tests); wins over `usersFile` and seeding.
    public var users: [StormUser]?
    /// Write the report as JSON here.
    public var jsonPath: String?
    public var progressIntervalSeconds = 1.0

    public init(scenario: StormScenarioKind) {
        self.scenario = scenario
    }

    public static let usage = """
        floodgate storm SCENARIO [options]

        Drives a running Floodgate over HTTP like real clients, then checks the invariants against what the
        server and PostgreSQL recorded. Exit status 0 only if every invariant holds.

        scenarios:
          queue-flood   N users enter one queued sale, poll at the server's pollAfterMs until admitted, then buy
          flash-sale    N buyers race for one product of --stock units
          seat-race     N users race for the --seats seats of one performance (hold, then pay)
          coupon-race   N users race for --coupons units of one coupon
          mixed         all four at once, the clients split between them

        options:
          --target URL              a gateway (repeat for several; default http://127.0.0.1:8080)
          --admin-key KEY           X-Admin-Key (default FLOODGATE_ADMIN_KEY, then .data/run/admin-key)
          --clients N               virtual clients (default 200)
          --duration S              upper bound of the load, seconds (default 40)
          --rounds N                run the scenario N times, each round on fresh stock, seats and coupons with
                                    the same users; 0 = round after round until --duration (default 1)
          --stock S                 flash-sale units (default 100)
          --seats N                 seat-race seats, 1...1000 (default 50)
          --coupons C               coupon-race units (default 50)
          --max-active M            queue-flood users inside at once (default 50)
          --admit-per-second R      queue-flood admission cap (default none)
          --price P                 price of each product and seat (default 1000)
          --charge W                each user's wallet charge before the storm (default 100000)
          --connections N           open connections per target (default 512)
          --loops N                 event-loop threads of the storm (default 2)
          --request-timeout-ms N    per request (default 10000)
          --drain-timeout S         wait for PostgreSQL after the load, seconds (default 60)
          --users FILE              reuse `userId,accessToken` lines (floodgate seed users) instead of seeding
          --json FILE               also write the report as JSON
          --progress-interval S     seconds between progress lines (default 1)
        Seeding uses FLOODGATE_REDIS_URL and FLOODGATE_PG_URL; the invariant check reads FLOODGATE_PG_URL.
        """

    /// Parses the storm's own options (the Configuration flags were taken out before).
    public static func parse(_ arguments: [String], adminKey: String?) throws -> StormOptions {
        guard let name = arguments.first, !name.hasPrefix("-") else {
            throw Configuration.Invalid(description: "storm needs a scenario: \(StormScenarioKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let scenario = StormScenarioKind(rawValue: name) else {
            throw Configuration.Invalid(description: "unknown scenario '\(name)': expected \(StormScenarioKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var options = StormOptions(scenario: scenario)
        options.adminKey = adminKey
        var targets: [String] = []
        var i = 1
        func integer(_ flag: String, _ value: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let n = Int(value), range.contains(n) else {
                throw Configuration.Invalid(description: "\(flag) takes \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        func seconds(_ flag: String, _ value: String, _ range: ClosedRange<Double>) throws -> Double {
            guard let n = Double(value), range.contains(n) else {
                throw Configuration.Invalid(description: "\(flag) takes \(range.lowerBound)...\(range.upperBound) seconds")
            }
            return n
        }
        while i < arguments.count {
            let flag = arguments[i]
            guard i + 1 < arguments.count else { throw Configuration.Invalid(description: "\(flag) needs a value") }
            let value = arguments[i + 1]
            switch flag {
            case "--target":
                _ = try HTTPURL(value)
                targets.append(value)
            case "--clients": options.clients = try integer(flag, value, 1...200_000)
            case "--duration": options.durationSeconds = try seconds(flag, value, 0.1...86_400)
            case "--rounds": options.rounds = try integer(flag, value, 0...100_000)
            case "--stock": options.stock = try integer(flag, value, 1...10_000_000)
            case "--seats": options.seats = try integer(flag, value, 1...1_000)
            case "--coupons": options.coupons = try integer(flag, value, 1...10_000_000)
            case "--max-active": options.maxActive = try integer(flag, value, 1...1_000_000)
            case "--admit-per-second": options.admitPerSecond = try integer(flag, value, 1...1_000_000)
            case "--price": options.price = try integer(flag, value, 0...100_000_000)
            case "--charge": options.charge = try integer(flag, value, 1...10_000_000)
            case "--connections": options.connectionsPerTarget = try integer(flag, value, 1...100_000)
            case "--loops": options.loops = try integer(flag, value, 1...64)
            case "--request-timeout-ms": options.requestTimeoutMilliseconds = try integer(flag, value, 100...600_000)
            case "--drain-timeout": options.drainTimeoutSeconds = try seconds(flag, value, 0...3_600)
            case "--progress-interval": options.progressIntervalSeconds = try seconds(flag, value, 0.1...3_600)
            case "--users":
                guard !value.isEmpty else { throw Configuration.Invalid(description: "--users takes a file path") }
                options.usersFile = value
            case "--json":
                guard !value.isEmpty else { throw Configuration.Invalid(description: "--json takes a file path") }
                options.jsonPath = value
            default:
                throw Configuration.Invalid(description: "unknown option \(flag)")
            }
            i += 2
        }
        if !targets.isEmpty { options.targets = targets }
        return options
    }

    /// `userId,accessToken` lines, as `floodgate seed users` writes them.
    public static func readUsers(_ path: String) throws -> [StormUser] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(whereSeparator: \.isNewline).map { line in
            let parts = line.split(separator: ",")
            guard parts.count == 2 else { throw Configuration.Invalid(description: "\(path): expected userId,accessToken lines") }
            return StormUser(id: String(parts[0]), token: String(parts[1]))
        }
    }
}
