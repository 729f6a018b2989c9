-- One row per operation on an Amazon Pay object after a completion
-- (capture, cancel), keyed by the ID derived from kind, object and the
-- caller's idempotency key. result is Amazon Pay's object as JSON.
CREATE TABLE operations (
    id                   TEXT    NOT NULL PRIMARY KEY,
    kind                 TEXT    NOT NULL,
    object_id            TEXT    NOT NULL,
    idempotency_key      TEXT    NOT NULL,
    request              TEXT    NOT NULL,
    charge_permission_id TEXT    NOT NULL DEFAULT '',
    state                TEXT    NOT NULL
        CHECK (state IN ('sending', 'unknown', 'pending', 'done')),
    result               BLOB,
    reason_code          TEXT    NOT NULL DEFAULT '',
    create_time          INTEGER NOT NULL,
    update_time          INTEGER NOT NULL,
    next_check_time      INTEGER,
    check_attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner          TEXT    NOT NULL DEFAULT '',
    version              INTEGER NOT NULL DEFAULT 1
) STRICT;

-- ListOperations (a payment's operations).
CREATE INDEX operations_charge_permission ON operations (charge_permission_id, create_time, id);

-- ClaimDueOperations: only scheduled operations are indexed.
CREATE INDEX operations_next_check_time ON operations (next_check_time, id)
    WHERE next_check_time IS NOT NULL;
