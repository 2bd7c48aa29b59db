// Schema migrations: an ordered list of SQL scripts, each applied exactly once and recorded in
// `schema_migrations` (created on first use, in the connection's search_path).
//
// Every migration runs in its own transaction that first takes a transaction-scoped advisory lock on a
// fixed key and only then reads what is applied. Two processes migrating at once therefore queue on the
// lock, and the second sees the first's rows and skips them. A transaction-scoped lock cannot outlive
// a failed run or a broken connection the way a session lock could on a pooled connection.

/// One schema step. `sql` may hold several statements; it runs inside the migrator's transaction, so it
/// must not BEGIN/COMMIT itself nor use what cannot run in a transaction (CREATE INDEX CONCURRENTLY).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// A migration that failed; the transaction was rolled back, so nothing of it remains.
public struct MigrationError: Error, CustomStringConvertible {
    public let version: Int
    public let name: String
    /// Usually a `PostgresError` (its `sqlState` says why).
    public let underlying: Error

    public var description: String { "migration \(version) (\(name)) failed: \(underlying)" }
}

public enum Migrator {
    /// The advisory lock every migrator takes: "Floodgat" as ASCII, so it will not collide by chance.
    public static let lockKey: Int64 = 0x466C_6F6F_6467_6174

    /// Applies the migrations in `migrations` not yet recorded, in version order, and returns the
    /// versions this call applied (empty when the schema was already current).
    @discardableResult
    public static func migrate(_ conn: PostgresConnection, migrations: [Migration] = Migrations.all) throws -> [Int] {
        let ordered = migrations.sorted { $0.version < $1.version }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.version == b.version {
            throw PostgresError(.invalidUse, "two migrations share version \(a.version): \(a.name), \(b.name)")
        }
        var applied: [Int] = []
        for migration in ordered {
            let didApply: Bool
            do {
                didApply = try conn.transaction { conn in
                    try conn.query("SELECT pg_advisory_xact_lock($1::bigint)", [lockKey])
                    try conn.execute(script: """
                        CREATE TABLE IF NOT EXISTS schema_migrations (
                            version integer PRIMARY KEY,
                            name text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        )
                        """)
                    let done = try conn.query("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version])
                    if !done.isEmpty { return false }
                    try conn.execute(script: migration.sql)
                    try conn.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                   [migration.version, migration.name])
                    return true
                }
            } catch {
                throw MigrationError(version: migration.version, name: migration.name, underlying: error)
            }
            if didApply { applied.append(migration.version) }
        }
        return applied
    }

    /// Versions recorded as applied, ascending (empty if migrations never ran here).
    public static func appliedVersions(_ conn: PostgresConnection) throws -> [Int] {
        let exists = try conn.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.first?.bool("present") == true else { return [] }
        return try conn.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.int("version") }
    }
}
