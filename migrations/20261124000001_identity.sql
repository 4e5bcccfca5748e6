-- People, integrations and API tokens. Nothing here is ever deleted:
-- people are deactivated, tokens revoked.

CREATE FUNCTION countersign_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME;
END
$$;

CREATE TABLE employees (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role        text NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
    team        text CHECK (length(team) BETWEEN 1 AND 100),
    external_id text CHECK (length(external_id) BETWEEN 1 AND 200),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT employees_external_id_key UNIQUE (external_id)
);
CREATE UNIQUE INDEX employees_email_unique ON employees (lower(email));
CREATE INDEX employees_team ON employees (team, id);
CREATE TRIGGER employees_never_deleted BEFORE DELETE ON employees
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_delete();

CREATE TABLE integrations (
    id             uuid PRIMARY KEY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind           text NOT NULL CHECK (kind IN ('generic', 'zendesk', 'freshdesk')),
    -- Kept in clear: verifying an inbound HMAC needs the secret itself.
    inbound_secret text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT integrations_name_key UNIQUE (name)
);
CREATE TRIGGER integrations_never_deleted BEFORE DELETE ON integrations
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_delete();

CREATE TABLE api_tokens (
    id             uuid PRIMARY KEY,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash     bytea NOT NULL CHECK (length(token_hash) = 32),
    employee_id    uuid REFERENCES employees (id),
    integration_id uuid REFERENCES integrations (id),
    name           text CHECK (length(name) BETWEEN 1 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    last_used_at   timestamptz,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_one_owner CHECK ((employee_id IS NULL) <> (integration_id IS NULL))
);
CREATE INDEX api_tokens_employee ON api_tokens (employee_id) WHERE employee_id IS NOT NULL;
CREATE INDEX api_tokens_integration ON api_tokens (integration_id) WHERE integration_id IS NOT NULL;
CREATE TRIGGER api_tokens_never_deleted BEFORE DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_delete();
