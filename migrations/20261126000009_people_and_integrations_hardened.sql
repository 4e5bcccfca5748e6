-- People and integrations, hardened:
-- * an integration acts only for the agents an admin lets it (all, by
--   default, so existing set-ups keep working; or some teams and agents);
-- * a token's revocation is final, and its hash and owner never change;
-- * an email is unique as a person reads it: NFC-normalised, any case.

ALTER TABLE integrations
    ADD COLUMN acts_for_all boolean NOT NULL DEFAULT true,
    ADD COLUMN acts_for_teams text[] NOT NULL DEFAULT '{}',
    ADD COLUMN acts_for_agents uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION api_tokens_check_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'a revoked token stays revoked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'token_revocation_final';
    END IF;
    IF NEW.token_hash <> OLD.token_hash OR NEW.employee_id IS DISTINCT FROM OLD.employee_id
       OR NEW.integration_id IS DISTINCT FROM OLD.integration_id OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a token''s value, owner and creation never change'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'token_identity_fixed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_tokens_change BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_check_change();

DROP INDEX employees_email_unique;
CREATE UNIQUE INDEX employees_email_unique ON employees (lower(normalize(email, NFC)));
