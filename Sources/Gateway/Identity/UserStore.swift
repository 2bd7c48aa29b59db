// Users in PostgreSQL (table `users`, migration 1). Email is unique case-insensitively through the
// unique index on lower(email); every value travels as a bind parameter.
import Persistence

struct StoredUser {
    let id: String
    let email: String
    let name: String
    let passwordHash: String
}

enum UserStore {
    /// Inserts a user; nil when the email is taken (unique violation), the user otherwise.
    static func insert(_ user: StoredUser, _ db: PostgresConnection) throws -> StoredUser? {
        do {
            try db.query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)",
                         [user.id, user.email, user.name, user.passwordHash])
            return user
        } catch let error as PostgresError where error.isUniqueViolation {
            return nil
        }
    }

    static func find(email: String, _ db: PostgresConnection) throws -> StoredUser? {
        let rows = try db.query("SELECT id, email, name, password_hash FROM users WHERE lower(email) = lower($1)", [email])
        guard let row = rows.first else { return nil }
        return StoredUser(id: try row.string("id"), email: try row.string("email"), name: try row.string("name"),
                          passwordHash: try row.string("password_hash"))
    }

    static func find(id: String, _ db: PostgresConnection) throws -> StoredUser? {
        let rows = try db.query("SELECT id, email, name, password_hash FROM users WHERE id = $1", [id])
        guard let row = rows.first else { return nil }
        return StoredUser(id: try row.string("id"), email: try row.string("email"), name: try row.string("name"),
                          passwordHash: try row.string("password_hash"))
    }
}
