// A query's result, copied out of the PGresult (which is cleared as soon as the call returns), as
// PostgreSQL's text values. Typed accessors parse on demand and throw `.decode` on NULL or on a value
// of the wrong shape, so a schema mismatch is an error, not a silent default.

public struct PostgresRows: RandomAccessCollection {
    /// Column names in result order.
    public let columns: [String]
    /// The command tag, e.g. "INSERT 0 3", "SELECT 2".
    public let commandTag: String
    /// Rows affected by INSERT/UPDATE/DELETE/SELECT/... (`PQcmdTuples`); 0 when the command has none.
    public let affectedRows: Int
    private let values: [[String?]]

    init(columns: [String], values: [[String?]], commandTag: String, affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.commandTag = commandTag
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { values.count }
    public subscript(position: Int) -> PostgresRow { PostgresRow(columns: columns, values: values[position]) }
}

public struct PostgresRow {
    public let columns: [String]
    /// Raw text values; nil is SQL NULL.
    public let values: [String?]

    /// The raw text of a column (nil for NULL); throws if there is no such column.
    public func value(_ column: String) throws -> String? { values[try index(of: column)] }
    public func value(_ index: Int) throws -> String? { values[try checked(index)] }

    public func isNull(_ column: String) throws -> Bool { try value(column) == nil }
    public func isNull(_ index: Int) throws -> Bool { try value(index) == nil }

    public func string(_ column: String) throws -> String { try required(column, value(column)) }
    public func string(_ index: Int) throws -> String { try required("#\(index)", value(index)) }

    public func int64(_ column: String) throws -> Int64 { try parse(column, value(column), Int64.init) }
    public func int64(_ index: Int) throws -> Int64 { try parse("#\(index)", value(index), Int64.init) }

    public func int(_ column: String) throws -> Int { try parse(column, value(column), Int.init) }
    public func int(_ index: Int) throws -> Int { try parse("#\(index)", value(index), Int.init) }

    /// PostgreSQL's text format writes booleans as "t" / "f".
    public func bool(_ column: String) throws -> Bool { try parse(column, value(column), Self.parseBool) }
    public func bool(_ index: Int) throws -> Bool { try parse("#\(index)", value(index), Self.parseBool) }

    private static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: return nil
        }
    }

    private func index(of column: String) throws -> Int {
        guard let i = columns.firstIndex(of: column) else {
            throw PostgresError(.decode, "no column \"\(column)\" in result (columns: \(columns.joined(separator: ", ")))")
        }
        return i
    }

    private func checked(_ index: Int) throws -> Int {
        guard values.indices.contains(index) else {
            throw PostgresError(.decode, "no column #\(index) in a result of \(values.count) columns")
        }
        return index
    }

    private func required(_ name: String, _ text: String?) throws -> String {
        guard let text else { throw PostgresError(.decode, "column \(name) is NULL") }
        return text
    }

    private func parse<T>(_ name: String, _ text: String?, _ convert: (String) -> T?) throws -> T {
        let text = try required(name, text)
        guard let value = convert(text) else {
            throw PostgresError(.decode, "column \(name) value \"\(text)\" is not a \(T.self)")
        }
        return value
    }
}
