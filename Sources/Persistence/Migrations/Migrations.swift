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
        // Written by the worker from the outbox (WALLET_CHARGED → CHARGE; later PAYMENT, REFUND). The id is
        // the event id, so a redelivered event hits the primary key and `ON CONFLICT DO NOTHING` drops it.
        // created_at is the event's time from Redis; stored_at says when the worker caught up with it.
        Migration(version: 2, name: "wallet_transactions", sql: """
            CREATE TABLE wallet_transactions (
                id text PRIMARY KEY,
                user_id text NOT NULL,
                type text NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT', 'REFUND')),
                amount bigint NOT NULL,
                balance_after bigint NOT NULL,
                ref text,
                created_at timestamptz NOT NULL,
                stored_at timestamptz NOT NULL DEFAULT now()
            );
            -- The wallet history pages newest first by (created_at, id) per user.
            CREATE INDEX wallet_transactions_user_created ON wallet_transactions (user_id, created_at DESC, id DESC);
            """),
    ]
}
