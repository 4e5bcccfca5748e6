-- pgbench: the statements the service sends for one file → co-sign pair
-- (each transaction's audit events and webhook outbox rows in one
-- statement), in its order and transactions, as pg_stat_statements lists them (the
-- benchmark prints that list; keep this script in step with it). What the
-- background workers send (chaining the audit log, delivering webhooks) is
-- not here: this is the request path alone.
-- Run by src/bin/bench.rs (bench/run.sh) with -D agents=N, on the database
-- the service's run left (bench_agents holds its agents' token hashes).

\set proposer random(1, :agents)
\set peer 1 + (:proposer + random(0, :agents - 2)) % :agents
\set t1 random(1, 2000000000)
\set t2 random(1, 2000000000)

-- POST /v1/proposals
SELECT t.id AS token_id, (t.revoked_at IS NOT NULL) AS revoked, t.last_used_at, e.id AS employee_id,
       e.role AS employee_role, e.active AS employee_active, i.id AS integration_id, i.active AS integration_active
FROM api_tokens t
LEFT JOIN employees e ON e.id = t.employee_id
LEFT JOIN integrations i ON i.id = t.integration_id
WHERE t.token_hash = (SELECT token_hash FROM bench_agents WHERE n = :proposer) \gset proposer_
BEGIN;
SELECT countersign_lock_ticket('refund', 'T-' || :t1 || '-' || :t2);
SELECT id, expires_at FROM proposals
WHERE ticket_ref = 'T-' || :t1 || '-' || :t2 AND category = 'refund' AND status = 'pending' AND id IS DISTINCT FROM NULL
ORDER BY id
LIMIT 1;
INSERT INTO proposals (id, proposer_id, filed_via_integration_id, category, policy_ref, summary,
                       resolution, justification, customer_ref, ticket_ref, amount_minor, currency,
                       required_cosigners, declines_to_reject, created_at, updated_at, expires_at, required_groups)
SELECT countersign_uuid_v7(now()), e.id, NULL, 'refund', 'REFUND-30-DAYS', 'Refund a lost parcel', 'Refund in full',
       'The carrier lost it', NULL, 'T-' || :t1 || '-' || :t2, 2500, 'EUR', 1, 2, now(), now(), now() + interval '30 minutes',
       '{}'
FROM employees e
WHERE e.id = :proposer_employee_id::uuid AND e.active AND e.role = 'agent'
FOR SHARE
RETURNING id AS proposal, (SELECT name FROM employees WHERE id = proposer_id) AS name,
          (SELECT team FROM employees WHERE id = proposer_id) AS team \gset
-- A standing approval covering it? (none in the benchmark)
SELECT id, category, policy_ref, max_amount_minor, currency, team, valid_from, valid_until,
       source_proposal_id, note, created_by, created_at, retired_at, retired_by, retire_reason
FROM standing_approvals
WHERE category = 'refund' AND policy_ref = 'REFUND-30-DAYS' AND retired_at IS NULL
ORDER BY id
FOR SHARE;
-- Who is asked first: anyone on shift? (nobody in the benchmark, so the
-- query for whom to ask is not sent)
SELECT EXISTS (
    SELECT 1 FROM agent_availability a JOIN employees e ON e.id = a.employee_id
    WHERE countersign_on_shift(a.available, a.last_active_at, now(), 1800)
      AND e.role = 'agent' AND e.active AND e.id <> :proposer_employee_id::uuid
) AS anyone;
WITH inserted AS (
    INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id,
                              actor_employee_id, via_integration_id, payload, content_hash)
    SELECT e.id, e.occurred_at, e.event_type, e.subject_type, e.subject_id,
           e.actor_employee_id, e.via_integration_id, e.payload, decode(e.content_hash, 'hex')
    FROM jsonb_to_recordset(jsonb_build_array(jsonb_build_object(
        'id', gen_random_uuid(), 'occurred_at', now(), 'event_type', 'proposal.created', 'subject_type', 'proposal',
        'subject_id', :proposal::uuid, 'actor_employee_id', :proposer_employee_id::uuid,
        'payload', jsonb_build_object('after', jsonb_build_object('status', 'pending', 'summary', repeat('x', 300))),
        'content_hash', encode(sha256(convert_to(:proposal::text, 'UTF8')), 'hex')))) AS e(
        id uuid, occurred_at timestamptz, event_type text, subject_type text, subject_id uuid,
        actor_employee_id uuid, via_integration_id uuid, payload jsonb, content_hash text)
    RETURNING id
), queued AS (
    INSERT INTO audit_unchained (event_id) SELECT id FROM inserted
), message AS (
    SELECT * FROM jsonb_to_recordset(jsonb_build_array(jsonb_build_object(
        'id', gen_random_uuid(), 'event_type', 'proposal.created', 'proposal_id', :proposal::uuid,
        'body', repeat('x', 900), 'created_at', now())))
        AS m(id uuid, event_type text, proposal_id uuid, body text, created_at timestamptz)
), subscribed AS (
    SELECT m.id AS message_id, e.id AS endpoint_id, e.enabled, m.created_at
    FROM message m
    JOIN webhook_endpoints e
      ON e.deleted_at IS NULL
     AND (e.event_types IS NULL OR m.event_type = ANY (e.event_types))
), stored AS (
    INSERT INTO webhook_messages (id, event_type, proposal_id, body, created_at)
    SELECT m.id, m.event_type, m.proposal_id, m.body, m.created_at
    FROM message m
    WHERE m.id IN (SELECT message_id FROM subscribed)
    RETURNING id
)
INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, created_at, updated_at)
SELECT countersign_uuid_v7(s.created_at), s.message_id, s.endpoint_id, s.created_at, s.created_at, s.created_at
FROM subscribed s JOIN stored ON stored.id = s.message_id
WHERE s.enabled;
COMMIT;

-- POST /v1/proposals/{id}/cosign
SELECT t.id AS token_id, (t.revoked_at IS NOT NULL) AS revoked, t.last_used_at, e.id AS employee_id,
       e.role AS employee_role, e.active AS employee_active, i.id AS integration_id, i.active AS integration_active
FROM api_tokens t
LEFT JOIN employees e ON e.id = t.employee_id
LEFT JOIN integrations i ON i.id = t.integration_id
WHERE t.token_hash = (SELECT token_hash FROM bench_agents WHERE n = :peer) \gset peer_
BEGIN;
SELECT id FROM proposals WHERE id = :proposal::uuid FOR NO KEY UPDATE;
SELECT e.id, e.role, e.active, e.name, e.team, e.groups FROM employees e
WHERE e.id = :peer_employee_id::uuid
   OR e.id IN (SELECT s.employee_id FROM signatures s WHERE s.proposal_id = :proposal::uuid AND s.decision = 'endorse')
FOR SHARE;
SELECT p.id, p.status, p.proposer_id, p.filed_via_integration_id, p.category, p.policy_ref,
       p.summary, p.resolution, p.justification, p.customer_ref, p.ticket_ref,
       p.amount_minor, p.currency, p.required_cosigners, p.declines_to_reject, p.revision,
       p.created_at, p.updated_at, p.expires_at, p.decided_at, p.approved_alone, p.revision_started_at,
       p.required_groups, p.endorsements_from, p.endorsed_resolution, p.endorsed_amount_minor,
       p.standing_approval_id,
       (SELECT e.name FROM employees e WHERE e.id = p.proposer_id) AS proposer_name,
       (SELECT e.team FROM employees e WHERE e.id = p.proposer_id) AS proposer_team,
       (SELECT coalesce(jsonb_agg(to_jsonb(s) - 'proposal_id' - 'proposer_id'
                                  || jsonb_build_object('by_active_agent', e.active AND e.role = 'agent',
                                                        'name', e.name, 'team', e.team,
                                                        'groups', e.groups)
                                  ORDER BY s.id), '[]')
        FROM signatures s JOIN employees e ON e.id = s.employee_id
        WHERE s.proposal_id = p.id) AS signatures,
       (SELECT to_jsonb(o) - 'proposal_id' FROM proposal_outcomes o WHERE o.proposal_id = p.id) AS outcome,
       (SELECT to_jsonb(r) - 'proposal_id'
               || jsonb_build_object('reviewer_name', e.name, 'reviewer_team', e.team)
        FROM proposal_reviews r JOIN employees e ON e.id = r.reviewer_id
        WHERE r.proposal_id = p.id) AS review
FROM proposals p
WHERE p.id = :proposal::uuid;
INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, via_integration_id, revision,
                        decision, comment, reason, created_at)
VALUES (countersign_uuid_v7(now()), :proposal::uuid, :proposer_employee_id::uuid, :peer_employee_id::uuid, NULL, 1,
        'endorse', NULL, NULL, now());
UPDATE proposals SET status = 'approved', decided_at = now(), updated_at = now() WHERE id = :proposal::uuid;
WITH inserted AS (
    INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id,
                              actor_employee_id, via_integration_id, payload, content_hash)
    SELECT e.id, e.occurred_at, e.event_type, e.subject_type, e.subject_id,
           e.actor_employee_id, e.via_integration_id, e.payload, decode(e.content_hash, 'hex')
    FROM jsonb_to_recordset((SELECT jsonb_agg(jsonb_build_object(
        'id', gen_random_uuid(), 'occurred_at', now(), 'event_type', kind, 'subject_type', 'proposal',
        'subject_id', :proposal::uuid, 'actor_employee_id', :peer_employee_id::uuid,
        'payload', jsonb_build_object('revision', 1, 'status', 'approved'),
        'content_hash', encode(sha256(convert_to(kind || :proposal::text, 'UTF8')), 'hex')))
        FROM unnest(ARRAY['proposal.cosigned', 'proposal.approved']) kind)) AS e(
        id uuid, occurred_at timestamptz, event_type text, subject_type text, subject_id uuid,
        actor_employee_id uuid, via_integration_id uuid, payload jsonb, content_hash text)
    RETURNING id
), queued AS (
    INSERT INTO audit_unchained (event_id) SELECT id FROM inserted
), message AS (
    SELECT * FROM jsonb_to_recordset((SELECT jsonb_agg(jsonb_build_object(
        'id', gen_random_uuid(), 'event_type', kind, 'proposal_id', :proposal::uuid,
        'body', repeat('x', 900), 'created_at', now()))
        FROM unnest(ARRAY['proposal.cosigned', 'proposal.approved']) kind))
        AS m(id uuid, event_type text, proposal_id uuid, body text, created_at timestamptz)
), subscribed AS (
    SELECT m.id AS message_id, e.id AS endpoint_id, e.enabled, m.created_at
    FROM message m
    JOIN webhook_endpoints e
      ON e.deleted_at IS NULL
     AND (e.event_types IS NULL OR m.event_type = ANY (e.event_types))
), stored AS (
    INSERT INTO webhook_messages (id, event_type, proposal_id, body, created_at)
    SELECT m.id, m.event_type, m.proposal_id, m.body, m.created_at
    FROM message m
    WHERE m.id IN (SELECT message_id FROM subscribed)
    RETURNING id
)
INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, created_at, updated_at)
SELECT countersign_uuid_v7(s.created_at), s.message_id, s.endpoint_id, s.created_at, s.created_at, s.created_at
FROM subscribed s JOIN stored ON stored.id = s.message_id
WHERE s.enabled;
COMMIT;
