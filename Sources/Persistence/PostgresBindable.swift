// Values that can be bound as `$n` parameters. Everything travels in PostgreSQL's text format and the
// server infers each parameter's type from the statement (add a cast such as `$1::bigint` where the
// statement leaves it open). Values never become SQL text: there is no API that splices them in.
//
// Arrays bind as one-dimensional array literals, which makes batch writes one round trip:
//   INSERT INTO t (id, n) SELECT * FROM unnest($1::text[], $2::bigint[])

public protocol PostgresBindable {
    /// The value in PostgreSQL's text input format, or nil for SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresBindable {
    public var postgresText: String? { self }
}

extension Substring: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int32: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int64: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Bool: PostgresBindable {
    public var postgresText: String? { self ? "true" : "false" }
}

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public var postgresText: String? { self?.postgresText }
}

extension Array: PostgresBindable where Element: PostgresBindable {
    /// `{"a","b\"c",NULL}`: every element double-quoted with `\` and `"` escaped, so commas, braces,
    /// spaces and the word NULL inside a value stay data. One dimension only.
    public var postgresText: String? {
        var text = "{"
        for (i, element) in enumerated() {
            if i > 0 { text += "," }
            guard let value = element.postgresText else { text += "NULL"; continue }
            text += "\""
            for ch in value.unicodeScalars {
                if ch == "\\" || ch == "\"" { text += "\\" }
                text.unicodeScalars.append(ch)
            }
            text += "\""
        }
        return text + "}"
    }
}
