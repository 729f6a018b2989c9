-- A change of an operation (recorded, answered, settled, declined, or
-- deleted) is a change of its payment to a watcher: it is announced on the
-- payments' channel, in the writing transaction, under the key watchers of
-- the payment subscribe to once its charge permission is known
-- ("CP:" and the charge permission ID; a checkout session ID is stored in
-- lower case, so the two never meet). Claims and lease extensions keep the
-- version and are not announced.
CREATE FUNCTION operations_notify_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.charge_permission_id <> '' THEN
            PERFORM pg_notify('payment_changed', 'CP:' || OLD.charge_permission_id);
        END IF;
    ELSIF NEW.charge_permission_id <> '' THEN
        PERFORM pg_notify('payment_changed', 'CP:' || NEW.charge_permission_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER operations_insert_delete_notify
    AFTER INSERT OR DELETE ON operations
    FOR EACH ROW EXECUTE FUNCTION operations_notify_changed();

CREATE TRIGGER operations_update_notify
    AFTER UPDATE ON operations
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION operations_notify_changed();
