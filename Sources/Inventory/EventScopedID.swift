// Ids that carry their event: a 4-character prefix (`ord_`, `rsv_`) + the event id's 24 hex digits + 12
// random hex digits. Any such id leads straight to its event's hash tag — the order's or reservation's
// hash, its hold — without a lookup.
import Runtime

enum EventScopedID {
    static func make(prefix: String, eventID: String) -> String { prefix + eventID.dropFirst(4) + SecureRandom.hex(bytes: 6) }

    /// The event of a well-formed id with this prefix; nil for anything else.
    static func eventID(of id: String, prefix: String) -> String? {
        let bytes = Array(id.utf8)
        guard bytes.count == 40, id.hasPrefix(prefix),
              bytes[4...].allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return "evt_" + String(decoding: bytes[4..<28], as: UTF8.self)
    }
}
