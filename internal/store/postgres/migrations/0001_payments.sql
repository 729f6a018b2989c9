-- One row per checkout session. Amounts are decimal strings, never numbers;
-- NULL settle/next check times mean "not set".
CREATE TABLE payments (
    checkout_session_id  text        NOT NULL PRIMARY KEY,
    order_id             text        NOT NULL,
    charge_amount        text        NOT NULL,
    charge_currency      text        NOT NULL,
    total_amount         text,
    total_currency       text,
    outcome              text        NOT NULL
        CONSTRAINT payments_outcome_check
        CHECK (outcome IN ('completing', 'unknown', 'pending', 'completed', 'declined', 'canceled')),
    charge_permission_id text        NOT NULL DEFAULT '',
    charge_id            text        NOT NULL DEFAULT '',
    reason_code          text        NOT NULL DEFAULT '',
    charge_state         text        NOT NULL DEFAULT '',
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    settle_time          timestamptz,
    next_check_time      timestamptz,
    check_attempts       integer     NOT NULL DEFAULT 0,
    lease_owner          text        NOT NULL DEFAULT '',
    version              bigint      NOT NULL DEFAULT 1,
    CONSTRAINT payments_total_check CHECK ((total_amount IS NULL) = (total_currency IS NULL))
);

-- GetLatestByOrder.
CREATE INDEX payments_order_create_time ON payments (order_id, create_time);

-- ClaimDue: only scheduled payments are indexed, so a claim reads the due
-- ones and never the settled history; the ID makes the index order the
-- claim order.
CREATE INDEX payments_next_check_time ON payments (next_check_time, checkout_session_id)
    WHERE next_check_time IS NOT NULL;

-- Every change a watcher can tell apart (a new version, a new row, a deleted
-- attempt) is announced to listeners in the writing transaction, so replicas
-- learn of it when, and only if, it commits. Claims only move the lease and
-- keep the version, so they are not announced.
CREATE FUNCTION payments_notify_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('payment_changed', OLD.checkout_session_id);
    ELSE
        PERFORM pg_notify('payment_changed', NEW.checkout_session_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_insert_delete_notify
    AFTER INSERT OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_notify_changed();

CREATE TRIGGER payments_update_notify
    AFTER UPDATE ON payments
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION payments_notify_changed();
