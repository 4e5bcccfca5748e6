-- Review reports over long windows: the figures of each settled day and
-- month, kept by a worker, so that a year is a few thousand rows to add up
-- instead of a million proposals to join.
--
-- A cell holds the figures of the proposals filed in one period that share
-- a key: `policy` (category, policy_ref), `proposer`, or `cosigner` (each
-- endorser of the revision decided on), split by the currency of their
-- amounts ('' for none). Counts and sums add up across cells; the waits are
-- kept as they are (sorted seconds), so percentiles over any set of cells
-- are exact. The team of a proposer and the names of people are joined
-- when a report is read, so a move between teams or a new name shows at
-- once, as it does in the lists.

-- The cells of the proposals filed in [lo, hi), with their status as of
-- `at`. The one definition of what a cell holds: the worker stores it per
-- day, and a report computes it for the parts of its window no stored
-- period covers (today, and a window's partial first and last days).
CREATE FUNCTION countersign_report_cells(lo timestamptz, hi timestamptz, at timestamptz)
    RETURNS TABLE (
        kind text, key1 text, key2 text, currency text,
        total integer, pending integer, approved integer, approved_alone integer,
        rejected integer, withdrawn integer, expired integer,
        approved_minor bigint, approved_with_amount integer, executed_minor bigint,
        satisfied integer, neutral integer, dissatisfied integer, unknown integer,
        endorse integer, promote_to_policy integer, coach integer,
        approval_waits float8[])
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH p AS MATERIALIZED (
    SELECT p.id, p.proposer_id, p.category, p.policy_ref, p.revision, p.approved_alone,
           countersign_effective_status(p.status, p.expires_at, at) AS status,
           extract(epoch FROM p.decided_at - p.created_at)::float8 AS secs_to_decision,
           -- An outcome may name the currency a proposal without an amount was paid in.
           coalesce(p.currency, o.currency, '') AS currency,
           CASE WHEN p.status = 'approved' THEN p.amount_minor END AS approved_minor,
           CASE WHEN o.executed THEN o.actual_amount_minor END AS executed_minor,
           o.customer_outcome, r.verdict
    FROM proposals p
    -- Read by a range of the proposal id (UUIDv7 of the filing time), once each.
    LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id
         AND o.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
         AND o.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
    LEFT JOIN proposal_reviews r ON r.proposal_id = p.id
         AND r.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
         AND r.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
    WHERE p.created_at >= lo AND p.created_at < hi
),
keyed AS (
    SELECT 'policy' AS kind, p.category AS key1, p.policy_ref AS key2, p.* FROM p
    UNION ALL
    SELECT 'proposer', p.proposer_id::text, '', p.* FROM p
    UNION ALL
    -- Endorsements of the revision decided on: an endorsement of an
    -- earlier text did not count towards the decision.
    SELECT 'cosigner', s.employee_id::text, '', p.*
    FROM p JOIN signatures s
      ON s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse'
     AND s.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
     AND s.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
)
SELECT kind, key1, key2, currency,
       count(*)::integer,
       count(*) FILTER (WHERE status = 'pending')::integer,
       count(*) FILTER (WHERE status = 'approved')::integer,
       count(*) FILTER (WHERE status = 'approved' AND approved_alone)::integer,
       count(*) FILTER (WHERE status = 'rejected')::integer,
       count(*) FILTER (WHERE status = 'withdrawn')::integer,
       count(*) FILTER (WHERE status = 'expired')::integer,
       coalesce(sum(approved_minor), 0)::bigint,
       count(approved_minor)::integer,
       coalesce(sum(executed_minor), 0)::bigint,
       count(*) FILTER (WHERE customer_outcome = 'satisfied')::integer,
       count(*) FILTER (WHERE customer_outcome = 'neutral')::integer,
       count(*) FILTER (WHERE customer_outcome = 'dissatisfied')::integer,
       count(*) FILTER (WHERE customer_outcome = 'unknown')::integer,
       count(*) FILTER (WHERE verdict = 'endorse')::integer,
       count(*) FILTER (WHERE verdict = 'promote_to_policy')::integer,
       count(*) FILTER (WHERE verdict = 'coach')::integer,
       coalesce(array_agg(secs_to_decision ORDER BY secs_to_decision)
                    FILTER (WHERE status = 'approved'), '{}')
FROM keyed
GROUP BY kind, key1, key2, currency
$$;

-- The stored cells of whole UTC days and months. A period is stored only
-- once every proposal filed in it was settled (decided, or past its
-- deadline) when it was built; a later change to one of its proposals (an
-- outcome, a review) has the worker build it again.
CREATE TABLE report_periods (
    span      text NOT NULL CHECK (span IN ('day', 'month')),
    period    date NOT NULL,
    built_at  timestamptz NOT NULL,
    PRIMARY KEY (span, period),
    CONSTRAINT report_periods_month_starts_on_the_first
        CHECK (span = 'day' OR extract(day FROM period) = 1)
);

CREATE TABLE report_cells (
    span                 text NOT NULL,
    period               date NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('policy', 'proposer', 'cosigner')),
    key1                 text NOT NULL,
    key2                 text NOT NULL,
    currency             text NOT NULL,
    total                integer NOT NULL,
    pending              integer NOT NULL,
    approved             integer NOT NULL,
    approved_alone       integer NOT NULL,
    rejected             integer NOT NULL,
    withdrawn            integer NOT NULL,
    expired              integer NOT NULL,
    approved_minor       bigint NOT NULL,
    approved_with_amount integer NOT NULL,
    executed_minor       bigint NOT NULL,
    satisfied            integer NOT NULL,
    neutral              integer NOT NULL,
    dissatisfied         integer NOT NULL,
    unknown              integer NOT NULL,
    endorse              integer NOT NULL,
    promote_to_policy    integer NOT NULL,
    coach                integer NOT NULL,
    approval_waits       float8[] NOT NULL,
    PRIMARY KEY (span, period, kind, key1, key2, currency),
    FOREIGN KEY (span, period) REFERENCES report_periods ON DELETE CASCADE
);

-- How far the worker has read the audit chain (the proposals of events
-- chained after it changed since their periods were built), and until when
-- the stored figures count as current: each pass moves it on, and reports
-- read stored periods only before it, so figures nobody keeps any more
-- (the builder stopped, or switched off) are not read.
CREATE TABLE report_rollup_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chained_seq  bigint NOT NULL,
    fresh_until  timestamptz NOT NULL
);

-- The waiting report's figures per quarter of an hour (UTC) of filing: a
-- report maps each quarter to the hour and weekday it was in the time zone
-- asked for (every time zone in use is offset from UTC by whole quarters),
-- so the hours of any zone add up from the same stored rows. Stored for
-- days only: a weekday needs the date.
CREATE FUNCTION countersign_report_slots(lo timestamptz, hi timestamptz, at timestamptz)
    RETURNS TABLE (
        period date, slot integer,
        filed integer, decided integer, expired integer,
        reminded integer, escalated integer, approved_alone integer,
        decision_waits float8[], first_cosign_waits float8[])
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH p AS (
    SELECT (p.created_at AT TIME ZONE 'UTC')::date AS period,
           floor(extract(epoch FROM (p.created_at AT TIME ZONE 'UTC')::time) / 900)::integer AS slot,
           countersign_effective_status(p.status, p.expires_at, at) AS status,
           extract(epoch FROM coalesce(p.decided_at, CASE WHEN p.expires_at <= at THEN p.expires_at END)
                              - p.created_at)::float8 AS secs_to_decision,
           extract(epoch FROM f.first_cosign_at - p.created_at)::float8 AS secs_to_first_cosign,
           coalesce(r.reminded, false) AS reminded, coalesce(r.escalated, false) AS escalated,
           p.approved_alone
    FROM proposals p
    -- Read by a range of the proposal id (UUIDv7 of the filing time), once each.
    LEFT JOIN (
        SELECT s.proposal_id, min(s.created_at) AS first_cosign_at FROM signatures s
        WHERE s.decision = 'endorse'
          AND s.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
          AND s.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
        GROUP BY s.proposal_id
    ) f ON f.proposal_id = p.id
    LEFT JOIN (
        SELECT r.proposal_id, bool_or(r.step = 'reminded') AS reminded, bool_or(r.step = 'escalated') AS escalated
        FROM routing_steps r
        WHERE r.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
          AND r.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
        GROUP BY r.proposal_id
    ) r ON r.proposal_id = p.id
    WHERE p.created_at >= lo AND p.created_at < hi
)
SELECT period, slot, count(*)::integer,
       count(*) FILTER (WHERE status IN ('approved', 'rejected', 'expired'))::integer,
       count(*) FILTER (WHERE status = 'expired')::integer,
       count(*) FILTER (WHERE reminded)::integer,
       count(*) FILTER (WHERE escalated)::integer,
       count(*) FILTER (WHERE approved_alone)::integer,
       coalesce(array_agg(secs_to_decision ORDER BY secs_to_decision)
                    FILTER (WHERE status IN ('approved', 'rejected', 'expired')), '{}'),
       coalesce(array_agg(secs_to_first_cosign ORDER BY secs_to_first_cosign)
                    FILTER (WHERE secs_to_first_cosign IS NOT NULL), '{}')
FROM p
GROUP BY period, slot
$$;

CREATE TABLE report_slots (
    span                text NOT NULL DEFAULT 'day' CHECK (span = 'day'),
    period              date NOT NULL,
    slot                integer NOT NULL CHECK (slot BETWEEN 0 AND 95),
    filed               integer NOT NULL,
    decided             integer NOT NULL,
    expired             integer NOT NULL,
    reminded            integer NOT NULL,
    escalated           integer NOT NULL,
    approved_alone      integer NOT NULL,
    decision_waits      float8[] NOT NULL,
    first_cosign_waits  float8[] NOT NULL,
    PRIMARY KEY (period, slot),
    FOREIGN KEY (span, period) REFERENCES report_periods ON DELETE CASCADE
);

-- Who co-signed whose proposals: per proposer and co-signer (an endorser of
-- the revision decided on), how many, how many of those were approved, and
-- the seconds from filing to each co-sign.
CREATE FUNCTION countersign_report_pairs(lo timestamptz, hi timestamptz, at timestamptz)
    RETURNS TABLE (proposer_id uuid, cosigner_id uuid, cosigned integer, approvals integer, cosign_waits float8[])
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT p.proposer_id, s.employee_id, count(*)::integer,
       count(*) FILTER (WHERE countersign_effective_status(p.status, p.expires_at, at) = 'approved')::integer,
       array_agg(extract(epoch FROM s.created_at - p.created_at)::float8
                 ORDER BY extract(epoch FROM s.created_at - p.created_at)::float8)
FROM proposals p
JOIN signatures s
  ON s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse'
 AND s.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
 AND s.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
WHERE p.created_at >= lo AND p.created_at < hi
GROUP BY p.proposer_id, s.employee_id
$$;

CREATE TABLE report_pairs (
    span          text NOT NULL,
    period        date NOT NULL,
    proposer_id   uuid NOT NULL,
    cosigner_id   uuid NOT NULL,
    cosigned      integer NOT NULL,
    approvals     integer NOT NULL,
    cosign_waits  float8[] NOT NULL,
    PRIMARY KEY (span, period, proposer_id, cosigner_id),
    FOREIGN KEY (span, period) REFERENCES report_periods ON DELETE CASCADE
);
-- A report adds up a window's pairs in the order of this index, from the
-- index alone (no sorting, no hashing of half a million rows), and reads the
-- waits of the pairs it shows by their key.
CREATE INDEX report_pairs_in_pair_order ON report_pairs (span, proposer_id, cosigner_id, period)
    INCLUDE (cosigned, approvals);
