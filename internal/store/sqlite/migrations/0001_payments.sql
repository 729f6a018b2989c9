-- One row per checkout session. Amounts are decimal strings, never numbers;
-- times are Unix microseconds (UTC); NULL settle/next check times mean
-- "not set".
CREATE TABLE payments (
    checkout_session_id  TEXT    NOT NULL PRIMARY KEY,
    order_id             TEXT    NOT NULL,
    charge_amount        TEXT    NOT NULL,
    charge_currency      TEXT    NOT NULL,
    total_amount         TEXT,
    total_currency       TEXT,
    outcome              TEXT    NOT NULL
        CHECK (outcome IN ('completing', 'unknown', 'pending', 'completed', 'declined', 'canceled')),
    charge_permission_id TEXT    NOT NULL DEFAULT '',
    charge_id            TEXT    NOT NULL DEFAULT '',
    reason_code          TEXT    NOT NULL DEFAULT '',
    charge_state         TEXT    NOT NULL DEFAULT '',
    create_time          INTEGER NOT NULL,
    update_time          INTEGER NOT NULL,
    settle_time          INTEGER,
    next_check_time      INTEGER,
    check_attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner          TEXT    NOT NULL DEFAULT '',
    version              INTEGER NOT NULL DEFAULT 1,
    CHECK ((total_amount IS NULL) = (total_currency IS NULL))
) STRICT;

-- GetLatestByOrder.
CREATE INDEX payments_order_create_time ON payments (order_id, create_time);

-- ClaimDue: only scheduled payments are indexed, so a claim reads the due
-- ones and never the settled history; the ID makes the index order the
-- claim order.
CREATE INDEX payments_next_check_time ON payments (next_check_time, checkout_session_id)
    WHERE next_check_time IS NOT NULL;
