-- Nudge (Amazon Pay's notifications): a payment nudged while leased is
-- marked, and the holder's Reschedule or Transition then schedules it at
-- once. The partial indexes find the unsettled payments of a charge or a
-- charge permission without reading the settled history.
ALTER TABLE payments ADD COLUMN nudged INTEGER NOT NULL DEFAULT 0;

CREATE INDEX payments_charge_id ON payments (charge_id)
    WHERE next_check_time IS NOT NULL AND charge_id <> '';
CREATE INDEX payments_charge_permission_id ON payments (charge_permission_id)
    WHERE next_check_time IS NOT NULL AND charge_permission_id <> '';
