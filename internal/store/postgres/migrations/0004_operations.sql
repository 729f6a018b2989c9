-- One row per operation on an Amazon Pay object after a completion
-- (capture, cancel), keyed by the ID derived from kind, object and the
-- caller's idempotency key. result is Amazon Pay's object as JSON.
CREATE TABLE operations (
    id                   text        NOT NULL PRIMARY KEY,
    kind                 text        NOT NULL,
    object_id            text        NOT NULL,
    idempotency_key      text        NOT NULL,
    request              text        NOT NULL,
    charge_permission_id text        NOT NULL DEFAULT '',
    state                text        NOT NULL
        CONSTRAINT operations_state_check CHECK (state IN ('sending', 'unknown', 'pending', 'done')),
    result               bytea,
    reason_code          text        NOT NULL DEFAULT '',
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    next_check_time      timestamptz,
    check_attempts       integer     NOT NULL DEFAULT 0,
    lease_owner          text        NOT NULL DEFAULT '',
    version              bigint      NOT NULL DEFAULT 1
);

-- ListOperations (a payment's operations).
CREATE INDEX operations_charge_permission ON operations (charge_permission_id, create_time, id);

-- ClaimDueOperations: only scheduled operations are indexed.
CREATE INDEX operations_next_check_time ON operations (next_check_time, id)
    WHERE next_check_time IS NOT NULL;
