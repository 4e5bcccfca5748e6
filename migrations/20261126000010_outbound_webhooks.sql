-- Outbound webhooks, as a transactional outbox: endpoints an admin
-- registers; one message per proposal event that some endpoint subscribes
-- to, written in the transaction of the change it tells of; one delivery
-- per (message, endpoint), claimed by any replica's worker; every attempt
-- logged.

-- A time-ordered uuid (version 7) made in SQL, for rows created set-wise.
CREATE FUNCTION countersign_uuid_v7(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY,
    url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- NULL: every proposal event.
    event_types           text[] CHECK (event_types IS NULL OR cardinality(event_types) > 0),
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text,
    disabled_at           timestamptz,
    secret                text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    -- After a rotation the old secret signs too, until previous_secret_until.
    previous_secret       text CHECK (previous_secret LIKE 'whsec\_%'),
    previous_secret_until timestamptz,
    -- Since when every attempt failed (NULL after any success).
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    deleted_at            timestamptz,
    CONSTRAINT webhook_endpoint_disabled_reason CHECK (enabled OR disabled_reason IS NOT NULL),
    CONSTRAINT webhook_endpoint_previous_secret CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);
-- What a commit reads to learn who subscribes: the live endpoints only.
CREATE INDEX webhook_endpoints_live ON webhook_endpoints (id) WHERE enabled AND deleted_at IS NULL;

-- The id is the audit event's: a receiver can look the event up in the log.
CREATE TABLE webhook_messages (
    id          uuid PRIMARY KEY,
    event_type  text NOT NULL CHECK (event_type LIKE 'proposal.%'),
    proposal_id uuid NOT NULL,
    -- The exact bytes sent (and signed) on every attempt.
    body        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX webhook_messages_created ON webhook_messages (created_at);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    message_id      uuid NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- How far along the retry schedule the next failure moves it.
    schedule_step   integer NOT NULL DEFAULT 0 CHECK (schedule_step >= 0),
    -- When pending: when it is due, or, while a worker holds it, when that
    -- worker's lease runs out (then any worker may take it again).
    next_attempt_at timestamptz NOT NULL,
    claim           uuid,
    -- The next attempt is one an admin asked for.
    redelivery      boolean NOT NULL DEFAULT false,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT webhook_delivery_once UNIQUE (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_endpoint_status ON webhook_deliveries (endpoint_id, status, id);

CREATE TABLE webhook_attempts (
    id            uuid PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL CHECK (attempt >= 1),
    -- scheduled (the worker's own) or redelivery (an admin asked).
    trigger       text NOT NULL CHECK (trigger IN ('scheduled', 'redelivery')),
    url           text NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   integer NOT NULL CHECK (duration_ms >= 0),
    status_code   integer,
    response_body text,
    error         text,
    CONSTRAINT webhook_attempt_answered_or_failed CHECK (status_code IS NOT NULL OR error IS NOT NULL)
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
