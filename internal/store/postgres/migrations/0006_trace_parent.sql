-- The W3C traceparent of the call that recorded a payment or an operation
-- (NULL: not traced, or recorded before this column existed), so that the
-- background work on it is traced as linked to that call's trace. Adding
-- a nullable column without a default rewrites no rows.
ALTER TABLE payments ADD COLUMN trace_parent text;
ALTER TABLE operations ADD COLUMN trace_parent text;
