WITH p AS (
    SELECT p.id, p.category, p.policy_ref, p.amount_minor, p.currency,
           countersign_effective_status(p.status, p.expires_at, $3) AS status
    FROM proposals p
    WHERE p.created_at >= $1 AND p.created_at < $2
),
recurring AS (
    SELECT p.category, p.policy_ref, count(*) AS volume,
           count(*) FILTER (WHERE p.status = 'approved') AS approved,
           count(*) FILTER (WHERE p.status = 'approved')::float8
               / nullif(count(*) FILTER (WHERE p.status IN ('approved', 'rejected', 'expired')), 0)
               AS approval_rate,
           count(*) FILTER (WHERE o.customer_outcome = 'satisfied')::float8
               / nullif(count(*) FILTER (WHERE o.customer_outcome IN ('satisfied', 'neutral', 'dissatisfied')), 0)
               AS satisfied_share,
           count(*) FILTER (WHERE r.verdict = 'promote_to_policy') AS promote_votes
    FROM p
    LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id AND {outcomes_in_window}
    LEFT JOIN proposal_reviews r ON r.proposal_id = p.id AND {reviews_in_window}
    GROUP BY p.category, p.policy_ref
    HAVING count(*) >= $4
),
cost AS (
    SELECT category, policy_ref,
           jsonb_agg(jsonb_build_object('currency', currency, 'total_minor', total,
                                        'average_minor', average) ORDER BY currency) AS cost
    FROM (
        SELECT category, policy_ref, currency, sum(amount_minor)::bigint AS total,
               round(avg(amount_minor))::bigint AS average
        FROM p
        WHERE status = 'approved' AND currency IS NOT NULL
        GROUP BY category, policy_ref, currency
    ) per_currency
    GROUP BY category, policy_ref
),
-- Standing approvals in force now, or from later, for the pair: the
-- candidate is policy already.
standing AS (
    SELECT category, policy_ref, array_agg(id ORDER BY id) AS ids
    FROM standing_approvals
    WHERE retired_at IS NULL AND (valid_until IS NULL OR valid_until > $3)
    GROUP BY category, policy_ref
),
previous AS (
    SELECT category, policy_ref, count(*) AS volume
    FROM proposals
    WHERE created_at >= $1 - ($2 - $1) AND created_at < $1
    GROUP BY category, policy_ref
)
SELECT r.category, r.policy_ref, r.volume, r.approved, r.approval_rate,
       coalesce(c.cost, '[]'::jsonb) AS cost, r.satisfied_share, r.promote_votes,
       coalesce(pr.volume, 0) AS previous_volume,
       coalesce(s.ids, '{}'::uuid[]) AS standing_approval_ids
FROM recurring r
LEFT JOIN cost c USING (category, policy_ref)
LEFT JOIN standing s USING (category, policy_ref)
LEFT JOIN previous pr USING (category, policy_ref)
ORDER BY r.promote_votes DESC, r.volume DESC, r.approval_rate DESC NULLS LAST,
         r.satisfied_share DESC NULLS LAST, r.category, r.policy_ref
