-- Whether an agent is on shift at `at`: they said so, and were active
-- within the last `idle_secs` (a lapse after inactivity needs no write).
-- The queries that route, preview and count peers ask this one function
-- instead of each spelling the rule. A single SQL expression, STABLE (a
-- timestamp minus an interval is), so PostgreSQL inlines it: the plans are
-- those of the expression written out. NULLs (no availability row) answer
-- false.
CREATE FUNCTION countersign_on_shift(available boolean, last_active_at timestamptz, at timestamptz,
                                     idle_secs double precision)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(available AND last_active_at > at - make_interval(secs => idle_secs), false)
$$;
