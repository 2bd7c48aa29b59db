// The API's ids: a prefix naming the kind (`evt_`, `prd_`) and 24 lowercase hex digits from the OS
// random source. Checked before an id from a path or query becomes part of a Redis key or a query.
import Runtime

enum ResourceID {
    static func make(_ prefix: String) -> String { prefix + SecureRandom.hex(bytes: 12) }

    static func isWellFormed(_ id: String, prefix: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count == prefix.utf8.count + 24, id.hasPrefix(prefix) else { return false }
        return bytes[prefix.utf8.count...].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}

/// Event ids: `evt_` and 24 hex digits.
enum EventID {
    static func make() -> String { ResourceID.make("evt_") }
    static func isWellFormed(_ id: String) -> Bool { ResourceID.isWellFormed(id, prefix: "evt_") }
}

/// Product ids: `prd_` and 24 hex digits.
enum ProductID {
    static func make() -> String { ResourceID.make("prd_") }
    static func isWellFormed(_ id: String) -> Bool { ResourceID.isWellFormed(id, prefix: "prd_") }
}

/// Concert performance ids: `prf_` and 24 hex digits (a concert's id is its event's id).
enum PerformanceID {
    static func make() -> String { ResourceID.make("prf_") }
    static func isWellFormed(_ id: String) -> Bool { ResourceID.isWellFormed(id, prefix: "prf_") }
}
