-- The W3C traceparent of the call that recorded a payment or an operation
-- (NULL: not traced, or recorded before this column existed), so that the
-- background work on it is traced as linked to that call's trace.
ALTER TABLE payments ADD COLUMN trace_parent TEXT;
ALTER TABLE operations ADD COLUMN trace_parent TEXT;
