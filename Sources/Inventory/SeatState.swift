// A seat as the API shows it, read from a performance's seat hash (lua/seat_hold.lua writes it): no field
// is AVAILABLE, "SOLD <reservationId>" is SOLD, "HELD <reservationId> <expiresAt>" is HELD until the
// deadline — and AVAILABLE from then on, released or not yet, so a read is exact at Redis's time.
public enum SeatState: Equatable, Sendable {
    case available
    case held(reservationID: String, expiresAtMs: Int64)
    case sold(reservationID: String)
    /// HELD past its deadline: AVAILABLE to everyone; its reservation still waits for its release.
    case lapsed(reservationID: String)

    public init(_ value: String?, nowMs: Int64) {
        guard let value else { self = .available; return }
        let parts = value.split(separator: " ")
        switch (parts.first, parts.count) {
        case ("SOLD", 2): self = .sold(reservationID: String(parts[1]))
        case ("HELD", 3):
            let deadline = Int64(parts[2]) ?? 0
            self = deadline > nowMs ? .held(reservationID: String(parts[1]), expiresAtMs: deadline) : .lapsed(reservationID: String(parts[1]))
        default: self = .available  // not a state seat_hold.lua writes
        }
    }

    /// AVAILABLE, HELD or SOLD.
    public var status: String {
        switch self {
        case .available, .lapsed: return "AVAILABLE"
        case .held: return "HELD"
        case .sold: return "SOLD"
        }
    }
}
