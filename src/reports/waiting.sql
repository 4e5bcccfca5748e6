WITH slots AS (
    SELECT s.period, s.slot, s.filed, s.decided, s.expired, s.reminded, s.escalated, s.approved_alone,
           s.decision_waits, s.first_cosign_waits
    FROM report_slots s
    WHERE s.period = ANY($1::date[])
    UNION ALL
    SELECT s.*
    FROM unnest($2::timestamptz[], $3::timestamptz[]) AS live(lo, hi),
         LATERAL countersign_report_slots(live.lo, live.hi, $4) AS s
),
bucketed AS (
    -- A quarter of an hour is wholly in one local hour.
    SELECT {bucket}::int AS bucket, s.*
    FROM slots s,
         LATERAL (SELECT ((s.period + s.slot * interval '15 minutes') AT TIME ZONE 'UTC') AT TIME ZONE $5
                      AS local_filed) AS l
),
counts AS (
    SELECT bucket, sum(filed)::bigint AS filed, sum(decided)::bigint AS decided, sum(expired)::bigint AS expired,
           sum(reminded)::bigint AS reminded, sum(escalated)::bigint AS escalated,
           sum(approved_alone)::bigint AS approved_alone
    FROM bucketed
    GROUP BY bucket
),
-- Each bucket's waits gathered into arrays by hashing, then sorted per bucket.
waits AS (
    SELECT bucket, array_agg(d) FILTER (WHERE d IS NOT NULL) AS to_decision,
           array_agg(f) FILTER (WHERE f IS NOT NULL) AS to_first_cosign
    FROM (SELECT bucket, unnest(decision_waits) AS d, unnest(first_cosign_waits) AS f FROM bucketed) AS each_wait
    GROUP BY bucket
)
SELECT c.bucket, c.filed, c.decided, c.expired,
       d.p[1] AS median_secs_to_decision, d.p[2] AS p90_secs_to_decision,
       f.p[1] AS median_secs_to_first_cosign, f.p[2] AS p90_secs_to_first_cosign,
       c.reminded, c.escalated, c.approved_alone
FROM counts c
LEFT JOIN waits w USING (bucket)
LEFT JOIN LATERAL (SELECT percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY x) AS p
                   FROM unnest(w.to_decision) AS x) AS d ON true
LEFT JOIN LATERAL (SELECT percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY x) AS p
                   FROM unnest(w.to_first_cosign) AS x) AS f ON true
ORDER BY c.bucket
