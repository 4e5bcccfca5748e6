WITH proposer_cells AS (
    {CELLS}
),
live_pairs AS MATERIALIZED (
    SELECT c.*
    FROM unnest($4::timestamptz[], $5::timestamptz[]) AS live(lo, hi),
         LATERAL countersign_report_pairs(live.lo, live.hi, $1) AS c
),
-- Counts only (the waits are read for the pairs shown): the months added
-- up in the order of `report_pairs_in_pair_order`, then with the days and
-- the live ones.
pairs AS (
    SELECT proposer_id, cosigner_id, sum(cosigned)::bigint AS cosigned, sum(approvals)::bigint AS approvals
    FROM (
        SELECT proposer_id, cosigner_id, sum(cosigned) AS cosigned, sum(approvals) AS approvals
        FROM report_pairs
        WHERE span = 'month' AND period = ANY($2::date[])
        GROUP BY proposer_id, cosigner_id
        UNION ALL
        -- Days are a few (by their primary key), not a year in pair order.
        SELECT proposer_id, cosigner_id, cosigned, approvals
        FROM report_pairs
        WHERE span = 'day' AND period = ANY($3::date[])
        UNION ALL
        SELECT proposer_id, cosigner_id, cosigned, approvals FROM live_pairs
    ) AS counts
    GROUP BY proposer_id, cosigner_id
),
approvals AS (
    SELECT key1::uuid AS proposer_id, sum(approved)::bigint AS approved
    FROM proposer_cells
    GROUP BY key1
),
top AS (
    SELECT pr.proposer_id, pe.name AS proposer_name, pr.cosigner_id, ce.name AS cosigner_name,
           pr.cosigned, pr.approvals, coalesce(a.approved, 0) AS proposer_approvals,
           pr.approvals::float8 / nullif(a.approved, 0) AS share_of_approvals
    FROM pairs pr
    JOIN employees pe ON pe.id = pr.proposer_id
    JOIN employees ce ON ce.id = pr.cosigner_id
    LEFT JOIN approvals a ON a.proposer_id = pr.proposer_id
    ORDER BY share_of_approvals DESC NULLS LAST, pr.cosigned DESC, pe.name, ce.name, pr.proposer_id, pr.cosigner_id
    LIMIT {limit}
)
-- Reciprocity, the median wait and the co-signatures through the filing's
-- integration only for the pairs shown, each read by its key.
SELECT top.proposer_id, top.proposer_name, top.cosigner_id, top.cosigner_name, top.cosigned, top.approvals,
       m.through_one_integration, top.proposer_approvals, top.share_of_approvals, coalesce(rev.cosigned, 0) AS reciprocal,
       m.median_secs_to_cosign
FROM top
LEFT JOIN pairs rev ON rev.proposer_id = top.cosigner_id AND rev.cosigner_id = top.proposer_id
CROSS JOIN LATERAL (
    -- Each stored row's count once (with its first wait; every row has one).
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY each_wait.w) AS median_secs_to_cosign,
           coalesce(sum(each_wait.through) FILTER (WHERE each_wait.n = 1), 0)::bigint AS through_one_integration
    FROM (
        SELECT wait.w, wait.n, c.through_one_integration AS through
        FROM report_pairs c, unnest(c.cosign_waits) WITH ORDINALITY AS wait(w, n)
        WHERE c.proposer_id = top.proposer_id AND c.cosigner_id = top.cosigner_id
          AND ((c.span = 'month' AND c.period = ANY($2::date[])) OR (c.span = 'day' AND c.period = ANY($3::date[])))
        UNION ALL
        SELECT wait.w, wait.n, l.through_one_integration
        FROM live_pairs l, unnest(l.cosign_waits) WITH ORDINALITY AS wait(w, n)
        WHERE l.proposer_id = top.proposer_id AND l.cosigner_id = top.cosigner_id
    ) AS each_wait
) AS m
ORDER BY top.share_of_approvals DESC NULLS LAST, top.cosigned DESC, top.proposer_name, top.cosigner_name,
         top.proposer_id, top.cosigner_id
