WITH p AS (
    SELECT p.id, p.proposer_id, p.category, p.policy_ref, p.revision, p.approved_alone,
           countersign_effective_status(p.status, p.expires_at, $3) AS status,
           extract(epoch FROM p.decided_at - p.created_at) AS secs_to_decision,
           -- An outcome may name the currency a proposal without an amount was paid in.
           coalesce(p.currency, o.currency) AS currency,
           CASE WHEN p.status = 'approved' THEN p.amount_minor END AS approved_minor,
           CASE WHEN o.executed THEN o.actual_amount_minor END AS executed_minor,
           o.customer_outcome, r.verdict
    FROM proposals p
    LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id AND {outcomes_in_window}
    LEFT JOIN proposal_reviews r ON r.proposal_id = p.id AND {reviews_in_window}
    WHERE p.created_at >= $1 AND p.created_at < $2
),
keyed AS {materialized} (
    SELECT {key} AS group_key, {label} AS group_label, p.status, p.approved_alone, p.secs_to_decision, p.currency,
           p.approved_minor, p.executed_minor, p.customer_outcome, p.verdict
    FROM p {join}
),
agg AS (
    SELECT false AS is_total, group_key, max(group_label) AS group_label, {SUMMARY_AGGREGATES}
    FROM keyed GROUP BY group_key
    UNION ALL
    SELECT true, NULL, NULL, {SUMMARY_AGGREGATES} FROM p
),
amounts AS (
    SELECT is_total, group_key,
           jsonb_agg(jsonb_build_object('currency', currency, 'approved_minor', approved,
                                        'executed_minor', executed) ORDER BY currency) AS amounts
    FROM (
        SELECT false AS is_total, group_key, currency, {SUMMARY_AMOUNTS}
        FROM keyed WHERE currency IS NOT NULL GROUP BY group_key, currency
        UNION ALL
        SELECT true, NULL, currency, {SUMMARY_AMOUNTS}
        FROM p WHERE currency IS NOT NULL GROUP BY currency
    ) per_currency
    GROUP BY is_total, group_key
)
SELECT agg.is_total, agg.group_key, agg.group_label, agg.total, agg.pending, agg.approved, agg.approved_alone, agg.rejected,
       agg.withdrawn, agg.expired, agg.approval_rate, agg.waits[1] AS median_secs_to_approval,
       agg.waits[2] AS p90_secs_to_approval, coalesce(amounts.amounts, '[]'::jsonb) AS amounts,
       agg.satisfied, agg.neutral, agg.dissatisfied, agg.unknown, agg.endorse, agg.promote_to_policy, agg.coach
FROM agg LEFT JOIN amounts
  ON amounts.is_total = agg.is_total AND amounts.group_key IS NOT DISTINCT FROM agg.group_key
ORDER BY agg.is_total, agg.group_key
