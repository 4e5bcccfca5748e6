WITH days AS (
    SELECT * FROM report_pairs
    WHERE span = 'day' AND period >= $1 AND period < ($3 AT TIME ZONE 'UTC')::date
),
sums AS (
    SELECT proposer_id, cosigner_id, sum(cosigned)::integer AS cosigned, sum(approvals)::integer AS approvals,
           sum(through_one_integration)::integer AS through_one_integration
    FROM days
    GROUP BY proposer_id, cosigner_id
),
waits AS (
    SELECT proposer_id, cosigner_id, array_agg(w ORDER BY w) AS cosign_waits
    FROM days, unnest(days.cosign_waits) AS w
    GROUP BY proposer_id, cosigner_id
)
INSERT INTO report_pairs
SELECT 'month', $1, s.proposer_id, s.cosigner_id, s.cosigned, s.approvals, w.cosign_waits, s.through_one_integration
FROM sums s JOIN waits w USING (proposer_id, cosigner_id)
