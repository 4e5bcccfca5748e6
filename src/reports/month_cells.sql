WITH days AS (
    SELECT * FROM report_cells
    WHERE span = 'day' AND period >= $1 AND period < ($3 AT TIME ZONE 'UTC')::date
),
sums AS (
    SELECT kind, key1, key2, currency,
           sum(total)::integer AS total, sum(pending)::integer AS pending,
           sum(approved)::integer AS approved, sum(approved_alone)::integer AS approved_alone,
           sum(rejected)::integer AS rejected, sum(withdrawn)::integer AS withdrawn,
           sum(expired)::integer AS expired, sum(approved_minor)::bigint AS approved_minor,
           sum(approved_with_amount)::integer AS approved_with_amount,
           sum(executed_minor)::bigint AS executed_minor, sum(satisfied)::integer AS satisfied,
           sum(neutral)::integer AS neutral, sum(dissatisfied)::integer AS dissatisfied,
           sum(unknown)::integer AS unknown, sum(endorse)::integer AS endorse,
           sum(promote_to_policy)::integer AS promote_to_policy, sum(coach)::integer AS coach
    FROM days
    GROUP BY kind, key1, key2, currency
),
waits AS (
    SELECT kind, key1, key2, currency, array_agg(w ORDER BY w) AS approval_waits
    FROM days, unnest(days.approval_waits) AS w
    GROUP BY kind, key1, key2, currency
)
INSERT INTO report_cells
SELECT 'month', $1, s.kind, s.key1, s.key2, s.currency, s.total, s.pending, s.approved, s.approved_alone,
       s.rejected, s.withdrawn, s.expired, s.approved_minor, s.approved_with_amount, s.executed_minor,
       s.satisfied, s.neutral, s.dissatisfied, s.unknown, s.endorse, s.promote_to_policy, s.coach,
       coalesce(w.approval_waits, '{}')
FROM sums s LEFT JOIN waits w USING (kind, key1, key2, currency)
