count(*) AS total,
count(*) FILTER (WHERE status = 'pending') AS pending,
count(*) FILTER (WHERE status = 'approved') AS approved,
count(*) FILTER (WHERE status = 'approved' AND approved_alone) AS approved_alone,
count(*) FILTER (WHERE status = 'rejected') AS rejected,
count(*) FILTER (WHERE status = 'withdrawn') AS withdrawn,
count(*) FILTER (WHERE status = 'expired') AS expired,
count(*) FILTER (WHERE status = 'approved')::float8
    / nullif(count(*) FILTER (WHERE status IN ('approved', 'rejected', 'expired')), 0) AS approval_rate,
percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY secs_to_decision)
    FILTER (WHERE status = 'approved') AS waits,
count(*) FILTER (WHERE customer_outcome = 'satisfied') AS satisfied,
count(*) FILTER (WHERE customer_outcome = 'neutral') AS neutral,
count(*) FILTER (WHERE customer_outcome = 'dissatisfied') AS dissatisfied,
count(*) FILTER (WHERE customer_outcome = 'unknown') AS unknown,
count(*) FILTER (WHERE verdict = 'endorse') AS endorse,
count(*) FILTER (WHERE verdict = 'promote_to_policy') AS promote_to_policy,
count(*) FILTER (WHERE verdict = 'coach') AS coach
