// The project's schema, in order. Append new migrations with the next version; never edit or
// renumber one that has shipped — databases that applied it will not run it again.

public enum Migrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "users", sql: """
            CREATE TABLE users (
                id text PRIMARY KEY,
                email text NOT NULL,
                name text NOT NULL,
                password_hash text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            -- One account per address whatever its case: look up with lower(email) = lower($1).
            CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
            """),
    ]
}
