WITH cells AS (
    {CELLS}
),
previous_cells AS (
    {PREVIOUS_CELLS}
),
recurring AS (
    SELECT key1 AS category, key2 AS policy_ref, sum(total)::bigint AS volume,
           sum(approved)::bigint AS approved,
           sum(approved)::float8 / nullif(sum(approved) + sum(rejected) + sum(expired), 0) AS approval_rate,
           sum(satisfied)::float8 / nullif(sum(satisfied) + sum(neutral) + sum(dissatisfied), 0)
               AS satisfied_share,
           sum(promote_to_policy)::bigint AS promote_votes
    FROM cells
    GROUP BY key1, key2
    HAVING sum(total) >= $2
),
cost AS (
    SELECT category, policy_ref,
           jsonb_agg(jsonb_build_object('currency', currency, 'total_minor', total,
                                        'average_minor', average) ORDER BY currency) AS cost
    FROM (
        -- Approved proposals with an amount, in its currency.
        SELECT key1 AS category, key2 AS policy_ref, currency, sum(approved_minor)::bigint AS total,
               round(sum(approved_minor)::numeric / sum(approved_with_amount))::bigint AS average
        FROM cells
        WHERE currency <> ''
        GROUP BY key1, key2, currency
        HAVING sum(approved_with_amount) > 0
    ) per_currency
    GROUP BY category, policy_ref
),
-- Standing approvals in force now, or from later, for the pair: the
-- candidate is policy already.
standing AS (
    SELECT category, policy_ref, array_agg(id ORDER BY id) AS ids
    FROM standing_approvals
    WHERE retired_at IS NULL AND (valid_until IS NULL OR valid_until > $1)
    GROUP BY category, policy_ref
),
previous AS (
    SELECT key1 AS category, key2 AS policy_ref, sum(total)::bigint AS volume
    FROM previous_cells
    GROUP BY key1, key2
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
