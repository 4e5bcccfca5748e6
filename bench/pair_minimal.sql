-- pgbench: the least SQL one file → co-sign pair needs, one statement per
-- step (the benchmark's ceiling that a long statement list cannot lower):
-- the proposer's token lookup; the proposal, its audit event and its outbox
-- row in one transaction; the peer's token lookup; then the row lock, the
-- signature, the status update, two audit events and two outbox rows in
-- another. Same tables, same triggers and constraints as the service's.
-- Run by src/bin/bench.rs (bench/run.sh) with -D agents=N, on the database
-- the service's run left (bench_agents holds its agents' token hashes).

\set proposer random(1, :agents)
\set peer 1 + (:proposer + random(0, :agents - 2)) % :agents
\set t1 random(1, 2000000000)
\set t2 random(1, 2000000000)

SELECT e.id, e.role, e.active FROM api_tokens t JOIN employees e ON e.id = t.employee_id
WHERE t.token_hash = (SELECT token_hash FROM bench_agents WHERE n = :proposer) AND t.revoked_at IS NULL;
BEGIN;
INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification, ticket_ref,
                       amount_minor, currency, required_cosigners, declines_to_reject, created_at, updated_at, expires_at)
SELECT countersign_uuid_v7(now()), employee_id, 'refund', 'REFUND-30-DAYS', 'Refund a lost parcel', 'Refund in full',
       'The carrier lost it', 'T-' || :t1 || '-' || :t2, 2500, 'EUR', 1, 2, now(), now(), now() + interval '30 minutes'
FROM bench_agents WHERE n = :proposer
RETURNING id AS proposal, proposer_id AS proposer_id \gset
WITH event AS (
    INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id, actor_employee_id, payload, content_hash)
    VALUES (gen_random_uuid(), now(), 'proposal.created', 'proposal', :proposal::uuid, :proposer_id::uuid,
            '{"after": {"status": "pending"}}', sha256(convert_to('proposal.created' || :proposal::text, 'UTF8')))
    RETURNING id)
INSERT INTO audit_unchained (event_id) SELECT id FROM event;
WITH message AS (
    INSERT INTO webhook_messages (id, event_type, proposal_id, body, created_at)
    VALUES (gen_random_uuid(), 'proposal.created', :proposal::uuid, repeat('x', 900), now()) RETURNING id)
INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, created_at, updated_at)
SELECT gen_random_uuid(), message.id, endpoint.id, now(), now(), now()
FROM message, webhook_endpoints endpoint WHERE endpoint.enabled;
COMMIT;

SELECT e.id, e.role, e.active FROM api_tokens t JOIN employees e ON e.id = t.employee_id
WHERE t.token_hash = (SELECT token_hash FROM bench_agents WHERE n = :peer) AND t.revoked_at IS NULL;
BEGIN;
SELECT status, revision FROM proposals WHERE id = :proposal::uuid FOR UPDATE;
INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
SELECT gen_random_uuid(), :proposal::uuid, :proposer_id::uuid, employee_id, 1, 'endorse', now()
FROM bench_agents WHERE n = :peer;
UPDATE proposals SET status = 'approved', decided_at = now(), updated_at = now() WHERE id = :proposal::uuid;
WITH events AS (
    INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id, actor_employee_id, payload, content_hash)
    SELECT gen_random_uuid(), now(), kind, 'proposal', :proposal::uuid, (SELECT employee_id FROM bench_agents WHERE n = :peer),
           '{"revision": 1}', sha256(convert_to(kind || :proposal::text, 'UTF8'))
    FROM unnest(ARRAY['proposal.cosigned', 'proposal.approved']) kind
    RETURNING id)
INSERT INTO audit_unchained (event_id) SELECT id FROM events;
WITH messages AS (
    INSERT INTO webhook_messages (id, event_type, proposal_id, body, created_at)
    SELECT gen_random_uuid(), kind, :proposal::uuid, repeat('x', 900), now()
    FROM unnest(ARRAY['proposal.cosigned', 'proposal.approved']) kind RETURNING id)
INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, created_at, updated_at)
SELECT gen_random_uuid(), messages.id, endpoint.id, now(), now(), now()
FROM messages, webhook_endpoints endpoint WHERE endpoint.enabled;
COMMIT;
