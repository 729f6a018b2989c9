-- Rebuild payments as a WITHOUT ROWID table: the rows are stored in the
-- primary-key B-tree itself, so a write updates one B-tree fewer (no hidden
-- rowid table beside the key index). Same columns, constraints and indexes
-- as 0001_payments.sql; the rows are copied.
CREATE TABLE payments_new (
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
) STRICT, WITHOUT ROWID;

INSERT INTO payments_new (
    checkout_session_id, order_id, charge_amount, charge_currency,
    total_amount, total_currency, outcome, charge_permission_id, charge_id,
    reason_code, charge_state, create_time, update_time, settle_time,
    next_check_time, check_attempts, lease_owner, version)
SELECT
    checkout_session_id, order_id, charge_amount, charge_currency,
    total_amount, total_currency, outcome, charge_permission_id, charge_id,
    reason_code, charge_state, create_time, update_time, settle_time,
    next_check_time, check_attempts, lease_owner, version
FROM payments;

DROP TABLE payments;

ALTER TABLE payments_new RENAME TO payments;

-- GetLatestByOrder.
CREATE INDEX payments_order_create_time ON payments (order_id, create_time);

-- ClaimDue: only scheduled payments are indexed, so a claim reads the due
-- ones and never the settled history; the ID makes the index order the
-- claim order.
CREATE INDEX payments_next_check_time ON payments (next_check_time, checkout_session_id)
    WHERE next_check_time IS NOT NULL;
