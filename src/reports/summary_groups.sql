WITH cells AS (
    {CELLS}
),
keyed AS (
    SELECT {key} AS group_key, {label} AS group_label, c.*
    FROM cells c {join}
),
agg AS (
    SELECT group_key, max(group_label) AS group_label, {CELL_SUMS}
    FROM keyed
    GROUP BY group_key
),
-- The waits of each group gathered into one array (by hashing, not by
-- sorting every wait by its group), then each group's sorted on its own.
waits AS (
    SELECT group_key,
           (SELECT percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY w) FROM unnest(waits) AS w)
               AS waits
    FROM (
        SELECT group_key, array_agg(w) AS waits
        FROM (SELECT group_key, unnest(approval_waits) AS w FROM keyed) AS each_wait
        GROUP BY group_key
    ) AS per_group
),
amounts AS (
    SELECT group_key,
           jsonb_agg(jsonb_build_object('currency', currency, 'approved_minor', approved,
                                        'executed_minor', executed) ORDER BY currency) AS amounts
    FROM (
        SELECT group_key, currency, sum(approved_minor)::bigint AS approved, sum(executed_minor)::bigint AS executed
        FROM keyed
        WHERE currency <> ''
        GROUP BY group_key, currency
    ) AS per_currency
    GROUP BY group_key
)
SELECT false AS is_total, agg.group_key, agg.group_label, agg.total, agg.pending, agg.approved, agg.approved_alone,
       agg.rejected, agg.withdrawn, agg.expired, agg.approval_rate, waits.waits[1] AS median_secs_to_approval,
       waits.waits[2] AS p90_secs_to_approval, coalesce(amounts.amounts, '[]'::jsonb) AS amounts,
       agg.satisfied, agg.neutral, agg.dissatisfied, agg.unknown, agg.endorse, agg.promote_to_policy, agg.coach
FROM agg
LEFT JOIN waits USING (group_key)
LEFT JOIN amounts USING (group_key)
ORDER BY agg.group_key
