-- Each proposal is in one `policy` cell: the totals count it once. An
-- aggregate without GROUP BY: one row even for an empty window.
WITH cells AS (
    {CELLS}
),
agg AS (
    SELECT {CELL_SUMS} FROM cells
),
waits AS (
    SELECT percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY w) AS waits
    FROM (SELECT unnest(approval_waits) AS w FROM cells) AS each_wait
),
amounts AS (
    SELECT jsonb_agg(jsonb_build_object('currency', currency, 'approved_minor', approved,
                                        'executed_minor', executed) ORDER BY currency) AS amounts
    FROM (
        SELECT currency, sum(approved_minor)::bigint AS approved, sum(executed_minor)::bigint AS executed
        FROM cells
        WHERE currency <> ''
        GROUP BY currency
    ) AS per_currency
)
SELECT true AS is_total, NULL::text AS group_key, NULL::text AS group_label, agg.total, agg.pending, agg.approved,
       agg.approved_alone, agg.rejected, agg.withdrawn, agg.expired, agg.approval_rate,
       waits.waits[1] AS median_secs_to_approval, waits.waits[2] AS p90_secs_to_approval,
       coalesce(amounts.amounts, '[]'::jsonb) AS amounts,
       agg.satisfied, agg.neutral, agg.dissatisfied, agg.unknown, agg.endorse, agg.promote_to_policy, agg.coach
FROM agg, waits, amounts
