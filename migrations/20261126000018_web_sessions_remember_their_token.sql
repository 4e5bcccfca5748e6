-- A web session remembers the API token it was signed in with, so that
-- revoking the token ends the session. Migration 13 first shipped without
-- it; one build then wrote this into migration 13 itself, so on a database
-- that build migrated, this is already in place and changes nothing (the
-- service re-records that migration's checksum as 13's own before it
-- migrates: see db::migrate).
ALTER TABLE web_sessions ADD COLUMN IF NOT EXISTS token_id uuid REFERENCES api_tokens (id);

-- Sessions signed in with a token before this cannot name it: they end
-- here, and their people sign in again.
DELETE FROM web_sessions WHERE signed_in_with = 'token' AND token_id IS NULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'web_sessions_token_signs_in_with_token') THEN
        ALTER TABLE web_sessions ADD CONSTRAINT web_sessions_token_signs_in_with_token
            CHECK ((token_id IS NOT NULL) = (signed_in_with = 'token'));
    END IF;
END
$$;
