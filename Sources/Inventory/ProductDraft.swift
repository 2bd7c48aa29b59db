// What an admin sends to create a product (API.md "Catalog"), checked field by field before anything is
// stored. Bounds: a price is integer won from 0 to 100,000,000; stock from 0 to 10,000,000.
import Foundation
import JSON

public struct ProductDraft: Equatable, Sendable {
    public var name: String
    public var price: Int64
    public var stock: Int64
    /// nil: the product belongs to the store (an event without a queue that holds every event-less product).
    public var eventID: String?

    public static let priceRange: ClosedRange<Int64> = 0...100_000_000
    public static let stockRange: ClosedRange<Int64> = 0...10_000_000
    /// How far one PATCH may move the stock.
    public static let stockDeltaRange: ClosedRange<Int64> = -10_000_000...10_000_000

    public struct Invalid: Error, Equatable {
        public let field: String
        public let message: String
    }

    public init(name: String, price: Int64, stock: Int64, eventID: String?) {
        self.name = name
        self.price = price
        self.stock = stock
        self.eventID = eventID
    }

    public init(_ body: JSONObject) throws {
        guard case .string(let raw)? = body["name"],
              case let name = raw.trimmingCharacters(in: .whitespacesAndNewlines), (1...200).contains(name.count) else {
            throw Invalid(field: "name", message: "name must be a string of 1 to 200 characters")
        }
        let price = try Self.integer(body, "price", Self.priceRange, required: true)!
        let stock = try Self.integer(body, "stock", Self.stockRange, required: true)!
        var eventID: String?
        switch body["eventId"] {
        case nil, .null?: break
        case .string(let id)?: eventID = id
        default: throw Invalid(field: "eventId", message: "eventId must be a string")
        }
        self.init(name: name, price: price, stock: stock, eventID: eventID)
    }

    /// An integer member within `range`; nil when absent and not `required`.
    public static func integer(_ body: JSONObject, _ key: String, _ range: ClosedRange<Int64>, required: Bool) throws -> Int64? {
        guard let value = body[key], value != .null else {
            if required { throw Invalid(field: key, message: "\(key) is required") }
            return nil
        }
        guard case .int(let number) = value, range.contains(number) else {
            throw Invalid(field: key, message: "\(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
