WITH p AS (
    SELECT p.created_at AT TIME ZONE $4 AS local_filed, p.created_at,
           countersign_effective_status(p.status, p.expires_at, $3) AS status,
           coalesce(p.decided_at, CASE WHEN p.expires_at <= $3 THEN p.expires_at END) AS decided_at
    FROM proposals p
    WHERE p.created_at >= $1 AND p.created_at < $2
)
SELECT {bucket}::int AS bucket, count(*) AS filed,
       count(*) FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS decided,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS median_secs_to_decision,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS p90_secs_to_decision
FROM p
GROUP BY 1
ORDER BY 1
