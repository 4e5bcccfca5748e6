-- countersign_uuid_v7_floor, the lower bound of the UUIDv7 ids of a
-- millisecond, is checked twice on every write of a proposal (the
-- proposals_id_is_filing_time constraint). Declared IMMUTABLE, its body
-- called extract(epoch FROM timestamptz), which PostgreSQL marks STABLE:
-- so it was never inlined, and each check parsed and planned the body
-- again (four plans per file → co-sign pair in the benchmark). The epoch
-- is taken from the interval since to_timestamp(0) instead: the same
-- number (checked on 405,000 times from 1969 to 2128), from functions
-- that are all IMMUTABLE, so the expression is inlined where it is used.

CREATE OR REPLACE FUNCTION countersign_uuid_v7_floor(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex(greatest(0, floor(extract(epoch FROM at - to_timestamp(0)) * 1000))::bigint), 12, '0')
              || '70008000000000000000')::uuid $$;
