-- The co-sign pairs report counts, per proposer and co-signer, the
-- co-signatures that came through the same integration as the filing: one
-- helpdesk token that acted as both people. The rule holds (two different
-- people were named, each checked), but whoever holds that token could have
-- named them both, so the report flags it for a manager to look at.

DROP FUNCTION countersign_report_pairs(timestamptz, timestamptz, timestamptz);

-- Columns in the order of report_pairs (a day is stored as `c.*`).
CREATE FUNCTION countersign_report_pairs(lo timestamptz, hi timestamptz, at timestamptz)
    RETURNS TABLE (proposer_id uuid, cosigner_id uuid, cosigned integer, approvals integer, cosign_waits float8[],
                   through_one_integration integer)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT p.proposer_id, s.employee_id, count(*)::integer,
       count(*) FILTER (WHERE countersign_effective_status(p.status, p.expires_at, at) = 'approved')::integer,
       array_agg(extract(epoch FROM s.created_at - p.created_at)::float8
                 ORDER BY extract(epoch FROM s.created_at - p.created_at)::float8),
       count(*) FILTER (WHERE s.via_integration_id = p.filed_via_integration_id)::integer
FROM proposals p
JOIN signatures s
  ON s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse'
 AND s.proposal_id >= countersign_uuid_v7_floor(lo - interval '1 minute')
 AND s.proposal_id < countersign_uuid_v7_floor(hi + interval '1 minute')
WHERE p.created_at >= lo AND p.created_at < hi
GROUP BY p.proposer_id, s.employee_id
$$;

-- Stored figures were counted without it: dropped, and built again by the
-- next pass (until then reports compute those days as they are).
DELETE FROM report_periods;

-- Read only for the pairs a report shows, by their key (as their waits
-- are): not in report_pairs_in_pair_order, which adds up every pair.
ALTER TABLE report_pairs ADD COLUMN through_one_integration integer NOT NULL;
