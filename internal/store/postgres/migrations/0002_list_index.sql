-- List (ListPayments): newest first within each outcome, so a page reads
-- one index range per outcome asked for, from the page's position to its
-- limit, whatever the number of payments stored.
CREATE INDEX payments_outcome_create_time ON payments (outcome, create_time, checkout_session_id);
