-- Review reports.
-- The effective status, defined once: a pending proposal past its deadline
-- is expired, whether or not the expiry worker has written it down yet.
-- Lists and reports both use it. A plain SQL expression, it is inlined into
-- each query: the reports' window is served by proposals_created, the
-- lists page along the index of their order.
CREATE FUNCTION countersign_effective_status(status text, expires_at timestamptz, at timestamptz)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN status = 'pending' AND expires_at <= at THEN 'expired' ELSE status END $$;
