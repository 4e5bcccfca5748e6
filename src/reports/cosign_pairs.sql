WITH p AS (
    SELECT p.id, p.proposer_id, p.created_at, p.revision,
           countersign_effective_status(p.status, p.expires_at, $3) AS status
    FROM proposals p
    WHERE p.created_at >= $1 AND p.created_at < $2
),
endorsed AS (
    -- Endorsements of the revision decided on (one per person).
    SELECT p.proposer_id, s.employee_id AS cosigner_id, p.status,
           extract(epoch FROM s.created_at - p.created_at) AS secs
    FROM p JOIN signatures s
      ON s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse'
     AND {signatures_in_window}
),
pairs AS (
    SELECT proposer_id, cosigner_id, count(*) AS cosigned,
           count(*) FILTER (WHERE status = 'approved') AS approvals,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS median_secs_to_cosign
    FROM endorsed
    GROUP BY proposer_id, cosigner_id
),
approvals AS (
    SELECT proposer_id, count(*) AS approved FROM p WHERE status = 'approved' GROUP BY proposer_id
)
SELECT pr.proposer_id, pe.name AS proposer_name, pr.cosigner_id, ce.name AS cosigner_name,
       pr.cosigned, pr.approvals, coalesce(a.approved, 0) AS proposer_approvals,
       pr.approvals::float8 / nullif(a.approved, 0) AS share_of_approvals,
       coalesce(rev.cosigned, 0) AS reciprocal, pr.median_secs_to_cosign
FROM pairs pr
JOIN employees pe ON pe.id = pr.proposer_id
JOIN employees ce ON ce.id = pr.cosigner_id
LEFT JOIN approvals a ON a.proposer_id = pr.proposer_id
LEFT JOIN pairs rev ON rev.proposer_id = pr.cosigner_id AND rev.cosigner_id = pr.proposer_id
ORDER BY share_of_approvals DESC NULLS LAST, pr.cosigned DESC, pe.name, ce.name, pr.proposer_id, pr.cosigner_id
LIMIT $4
