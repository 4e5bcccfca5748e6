WITH p AS (
    SELECT p.created_at AT TIME ZONE $4 AS local_filed, p.created_at,
           countersign_effective_status(p.status, p.expires_at, $3) AS status,
           coalesce(p.decided_at, CASE WHEN p.expires_at <= $3 THEN p.expires_at END) AS decided_at,
           f.first_cosign_at, coalesce(r.reminded, false) AS reminded, coalesce(r.escalated, false) AS escalated,
           p.approved_alone
    FROM proposals p
    -- Read by a range of the proposal id (UUIDv7 of the filing time), once each.
    LEFT JOIN (
        SELECT s.proposal_id, min(s.created_at) AS first_cosign_at FROM signatures s
        WHERE s.decision = 'endorse' AND {signatures_in_window}
        GROUP BY s.proposal_id
    ) f ON f.proposal_id = p.id
    LEFT JOIN (
        SELECT r.proposal_id, bool_or(r.step = 'reminded') AS reminded, bool_or(r.step = 'escalated') AS escalated
        FROM routing_steps r WHERE {steps_in_window}
        GROUP BY r.proposal_id
    ) r ON r.proposal_id = p.id
    WHERE p.created_at >= $1 AND p.created_at < $2
)
SELECT {bucket}::int AS bucket, count(*) AS filed,
       count(*) FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS decided,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS median_secs_to_decision,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE status IN ('approved', 'rejected', 'expired')) AS p90_secs_to_decision,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_cosign_at - created_at))
           FILTER (WHERE first_cosign_at IS NOT NULL) AS median_secs_to_first_cosign,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_cosign_at - created_at))
           FILTER (WHERE first_cosign_at IS NOT NULL) AS p90_secs_to_first_cosign,
       count(*) FILTER (WHERE reminded) AS reminded,
       count(*) FILTER (WHERE escalated) AS escalated,
       count(*) FILTER (WHERE approved_alone) AS approved_alone
FROM p
GROUP BY 1
ORDER BY 1
