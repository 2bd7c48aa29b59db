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
        // Events (flash sales, concerts) and their queue settings; Redis caches the settings under the
        // event's tag. queue_version orders updates: Redis keeps the newest version it was sent, whatever
        // order two racing updates arrive in. queue_secret keys the queue tokens' MAC.
        Migration(version: 3, name: "events", sql: """
            CREATE TABLE events (
                id text PRIMARY KEY,
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                kind text NOT NULL CHECK (kind IN ('sale', 'concert')),
                starts_at timestamptz,
                queue_enabled boolean NOT NULL,
                max_active integer NOT NULL CHECK (max_active >= 0),
                active_ttl_seconds integer NOT NULL CHECK (active_ttl_seconds > 0),
                admit_per_second integer CHECK (admit_per_second > 0),
                abandon_after_seconds integer NOT NULL CHECK (abandon_after_seconds > 0),
                queue_secret text NOT NULL,
                queue_version bigint NOT NULL DEFAULT 1,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            -- Written by the worker from QUEUE_ADMITTED outbox events (lua/queue.lua, `admit`); the id is the
            -- event id, adm_<eventId>_<seq>, so a redelivery is dropped by the primary key.
            CREATE TABLE queue_admissions (
                id text PRIMARY KEY,
                event_id text NOT NULL,
                user_id text NOT NULL,
                seq bigint NOT NULL,
                admitted_at timestamptz NOT NULL,
                active_until timestamptz NOT NULL,
                stored_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX queue_admissions_event_seq ON queue_admissions (event_id, seq);
            """),
        // Products: their definitions (PostgreSQL) — the live stock is in Redis under the event's tag
        // (lua/catalog.lua). Stock changes made by admins come back through the outbox as rows of
        // product_stock_changes, so supply = initial_stock + Σ delta. Products without an event belong to
        // the store, an event without a queue created here.
        Migration(version: 4, name: "products", sql: """
            CREATE TABLE products (
                id text PRIMARY KEY,
                event_id text NOT NULL REFERENCES events (id),
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                price bigint NOT NULL CHECK (price >= 0),
                initial_stock bigint NOT NULL CHECK (initial_stock >= 0),
                price_version bigint NOT NULL DEFAULT 1,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX products_event ON products (event_id, created_at, id);
            CREATE TABLE product_stock_changes (
                id text PRIMARY KEY,
                product_id text NOT NULL,
                delta bigint NOT NULL,
                stock_after bigint NOT NULL,
                created_at timestamptz NOT NULL,
                stored_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX product_stock_changes_product ON product_stock_changes (product_id);
            INSERT INTO events (id, name, kind, queue_enabled, max_active, active_ttl_seconds, abandon_after_seconds, queue_secret)
            VALUES ('evt_000000000000000000000001', 'Store', 'sale', false, 1000, 600, 300,
                    md5(random()::text || clock_timestamp()::text) || md5(random()::text))
            ON CONFLICT (id) DO NOTHING;
            """),
        // Orders, written by the worker from ORDER_PLACED / ORDER_PAID / ORDER_RELEASED. Every event carries
        // the whole order, so whichever arrives first inserts it; a status only moves on from
        // PENDING_PAYMENT (to PAID, EXPIRED or CANCELLED), never back.
        Migration(version: 5, name: "orders", sql: """
            CREATE TABLE orders (
                id text PRIMARY KEY,
                event_id text NOT NULL,
                user_id text NOT NULL,
                status text NOT NULL CHECK (status IN ('PENDING_PAYMENT', 'PAID', 'EXPIRED', 'CANCELLED')),
                total_amount bigint NOT NULL CHECK (total_amount >= 0),
                paid_amount bigint NOT NULL DEFAULT 0,
                payment_id text,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                paid_at timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC);
            CREATE INDEX orders_paid_at ON orders (paid_at) WHERE status = 'PAID';
            CREATE TABLE order_items (
                order_id text NOT NULL REFERENCES orders (id),
                product_id text NOT NULL,
                quantity integer NOT NULL CHECK (quantity > 0),
                unit_price bigint NOT NULL CHECK (unit_price >= 0),
                PRIMARY KEY (order_id, product_id)
            );
            CREATE INDEX order_items_product ON order_items (product_id);
            """),
        // Coupons (definitions) and who got one: coupon_issues is written by the worker from COUPON_ISSUED,
        // keyed by the event id iss_<couponId>_<userId>; one issue per user per coupon.
        Migration(version: 6, name: "coupons", sql: """
            CREATE TABLE coupons (
                id text PRIMARY KEY,
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                discount_type text NOT NULL CHECK (discount_type IN ('AMOUNT', 'PERCENT')),
                discount_value bigint NOT NULL CHECK (discount_value > 0),
                quantity bigint NOT NULL CHECK (quantity > 0),
                valid_from timestamptz,
                valid_until timestamptz,
                min_order_amount bigint NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE coupon_issues (
                id text PRIMARY KEY,
                coupon_id text NOT NULL REFERENCES coupons (id),
                user_id text NOT NULL,
                status text NOT NULL DEFAULT 'ISSUED' CHECK (status IN ('ISSUED', 'USED')),
                issued_at timestamptz NOT NULL,
                used_at timestamptz,
                UNIQUE (coupon_id, user_id)
            );
            CREATE INDEX coupon_issues_user ON coupon_issues (user_id, issued_at DESC);
            """),
        // Coupons applied to payments: an order keeps the discount and coupon it was paid with, and an issue
        // becomes USED by one payment (COUPON_USED from coupon_settle.lua).
        Migration(version: 7, name: "coupon_use", sql: """
            ALTER TABLE orders ADD COLUMN discount_amount bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
                               ADD COLUMN coupon_id text;
            ALTER TABLE coupon_issues ADD COLUMN payment_id text, ADD COLUMN ref text, ADD COLUMN discount_amount bigint;
            CREATE UNIQUE INDEX coupon_issues_payment ON coupon_issues (payment_id);
            """),
        // Concerts: a concert is an event of kind concert (same id, same queue); its performances have fixed
        // seats 1..total_seats. Live seat states are Redis's (lua/seat_hold.lua); reservations are written
        // by the worker from RESERVATION_HELD / _RELEASED / _CONFIRMED, each carrying the whole reservation,
        // and a status only moves on from HELD, never back.
        Migration(version: 8, name: "concerts", sql: """
            CREATE TABLE concerts (
                event_id text PRIMARY KEY REFERENCES events (id),
                artist text NOT NULL CHECK (length(artist) BETWEEN 1 AND 200),
                max_seats_per_user integer NOT NULL DEFAULT 4 CHECK (max_seats_per_user > 0)
            );
            CREATE TABLE performances (
                performance_id text PRIMARY KEY,
                event_id text NOT NULL REFERENCES concerts (event_id),
                starts_at timestamptz NOT NULL,
                price bigint NOT NULL CHECK (price >= 0),
                total_seats integer NOT NULL CHECK (total_seats > 0)
            );
            CREATE INDEX performances_event ON performances (event_id, starts_at);
            CREATE TABLE reservations (
                reservation_id text PRIMARY KEY,
                performance_id text NOT NULL,
                event_id text NOT NULL,
                seat_no integer NOT NULL CHECK (seat_no > 0),
                user_id text NOT NULL,
                amount bigint NOT NULL CHECK (amount >= 0),
                status text NOT NULL CHECK (status IN ('HELD', 'RELEASED', 'EXPIRED', 'CONFIRMED')),
                expires_at timestamptz NOT NULL,
                paid_at timestamptz,
                payment_id text,
                discount_amount bigint NOT NULL DEFAULT 0,
                paid_amount bigint NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX reservations_user_created ON reservations (user_id, created_at DESC, reservation_id DESC);
            CREATE INDEX reservations_live ON reservations (performance_id) WHERE status IN ('HELD', 'CONFIRMED');
            """),
    ]
}
