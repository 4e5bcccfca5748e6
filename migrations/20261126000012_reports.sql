-- Review reports.
-- The effective status, defined once: a pending proposal past its deadline
-- is expired, whether or not the expiry worker has written it down yet.
-- Lists and reports both use it. A plain SQL expression, it is inlined into
-- each query: the reports' window is served by proposals_created, the
-- lists page along the index of their order.
CREATE FUNCTION countersign_effective_status(status text, expires_at timestamptz, at timestamptz)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN status = 'pending' AND expires_at <= at THEN 'expired' ELSE status END $$;

-- The smallest UUIDv7 of a moment. A proposal's id is a UUIDv7 of its filing
-- time (checked below), so a report's window on created_at is also a range of
-- ids: the tables keyed by proposal (outcomes, reviews, signatures) are read
-- for that range by their primary key, not scanned whole.
CREATE FUNCTION countersign_uuid_v7_floor(at timestamptz) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (lpad(to_hex(greatest(0, floor(extract(epoch FROM at) * 1000))::bigint), 12, '0')
                  || '70008000000000000000')::uuid $$;

ALTER TABLE proposals ADD CONSTRAINT proposals_id_is_filing_time
    CHECK (id >= countersign_uuid_v7_floor(created_at - interval '1 minute')
           AND id < countersign_uuid_v7_floor(created_at + interval '1 minute'));
