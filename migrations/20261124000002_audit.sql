-- The audit log: append-only events, each carrying the SHA-256 of its own
-- canonical content, and a chain built by one sequencer at a time. Writers
-- touch no global row: they insert their event and a queue entry; the
-- sequencer links queued events into audit_chain in batches.

CREATE FUNCTION countersign_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;

CREATE TABLE audit_events (
    id                 uuid PRIMARY KEY,
    occurred_at        timestamptz NOT NULL,
    event_type         text NOT NULL,
    subject_type       text NOT NULL,
    subject_id         uuid NOT NULL,
    -- No foreign keys: the log stands on its own, and a key-share lock on
    -- the actor's row for every event would be a write to a shared row.
    actor_employee_id  uuid,
    via_integration_id uuid,
    payload            jsonb NOT NULL,
    content_hash       bytea NOT NULL CHECK (length(content_hash) = 32)
);
CREATE INDEX audit_events_subject ON audit_events (subject_id, id);

-- Events committed but not yet chained. The only table here rows leave.
CREATE TABLE audit_unchained (
    event_id uuid PRIMARY KEY
);

CREATE TABLE audit_chain (
    seq        bigint PRIMARY KEY CHECK (seq >= 1),
    event_id   uuid NOT NULL,
    chain_hash bytea NOT NULL CHECK (length(chain_hash) = 32),
    chained_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_chain_event_key UNIQUE (event_id)
);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION countersign_refuse_change();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION countersign_refuse_change();
