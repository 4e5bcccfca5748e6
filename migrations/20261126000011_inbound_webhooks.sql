-- Inbound helpdesk webhooks.
-- * Secrets are stored sealed (`sealed:v1:…`, AES-256-GCM under a key kept
--   outside the database); the service seals any value still in clear when
--   it starts.
-- * A `zendesk` integration verifies with the secret Zendesk generates, which
--   an admin gives when creating it or later: until then it has none, and
--   its inbound requests are refused.
-- * Each inbound delivery is recorded in the transaction of the action it
--   triggered, under the sender's delivery id: a retried delivery finds it
--   and is answered as the first time, without acting again.

ALTER TABLE integrations ALTER COLUMN inbound_secret DROP NOT NULL;
-- A zendesk integration created before this held a secret Countersign had
-- generated, which Zendesk cannot sign with: it has none until given Zendesk's.
UPDATE integrations SET inbound_secret = NULL WHERE kind = 'zendesk';
ALTER TABLE integrations ADD CONSTRAINT integrations_secret_unless_zendesk
    CHECK (inbound_secret IS NOT NULL OR kind = 'zendesk');
COMMENT ON COLUMN integrations.inbound_secret IS
    'sealed (sealed:v1:<key id>:<data>); NULL only for a zendesk integration not yet given its secret';
-- A secret in clear (whsec_…) is still accepted here, so that rows written
-- before sealing existed pass this migration; the service seals them at start.
ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_secret_check,
    DROP CONSTRAINT webhook_endpoints_previous_secret_check,
    ADD CONSTRAINT webhook_endpoints_secret_form CHECK (secret LIKE 'sealed:v1:%' OR secret LIKE 'whsec\_%'),
    ADD CONSTRAINT webhook_endpoints_previous_secret_form
        CHECK (previous_secret LIKE 'sealed:v1:%' OR previous_secret LIKE 'whsec\_%');
COMMENT ON COLUMN webhook_endpoints.secret IS 'sealed (sealed:v1:<key id>:<data>)';
COMMENT ON COLUMN webhook_endpoints.previous_secret IS 'sealed (sealed:v1:<key id>:<data>)';

CREATE TABLE inbound_deliveries (
    integration_id  uuid NOT NULL REFERENCES integrations (id),
    -- The sender's id for this delivery (webhook-id, Zendesk's invocation
    -- id, or an Idempotency-Key).
    delivery_id     text NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 255),
    -- SHA-256 of what the signature covers, where it does not cover the
    -- delivery id (Zendesk): a signed request sent again under a new id is
    -- still the same delivery.
    signed_hash     bytea CHECK (length(signed_hash) = 32),
    -- SHA-256 of the body: the same id with another body is refused.
    request_hash    bytea NOT NULL CHECK (length(request_hash) = 32),
    action          text NOT NULL CHECK (action IN ('propose', 'revise', 'cosign', 'decline', 'withdraw', 'outcome')),
    employee_id     uuid NOT NULL REFERENCES employees (id),
    proposal_id     uuid,
    response_status smallint,
    response_body   jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, delivery_id)
);
CREATE UNIQUE INDEX inbound_deliveries_signed ON inbound_deliveries (integration_id, signed_hash)
    WHERE signed_hash IS NOT NULL;
CREATE INDEX inbound_deliveries_received ON inbound_deliveries (received_at);

-- A helpdesk names a proposal by its ticket: the pending one (or the
-- approved one awaiting its outcome) filed for that ticket.
CREATE INDEX proposals_ticket_ref ON proposals (ticket_ref, status) WHERE ticket_ref IS NOT NULL;
