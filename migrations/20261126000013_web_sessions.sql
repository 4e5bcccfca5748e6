-- The web pages: server-side sessions and one-time sign-in links.
--
-- Both keep only the SHA-256 of the secret the browser holds (the cookie,
-- the link), as api_tokens do. A session belongs to one person and stops
-- working when it expires, when it is ended (signing out, deactivation), or
-- when its person is no longer active; the web door checks all three on
-- every request.

CREATE TABLE web_sessions (
    id             uuid PRIMARY KEY,
    cookie_hash    bytea NOT NULL CHECK (length(cookie_hash) = 32),
    employee_id    uuid NOT NULL REFERENCES employees (id),
    -- The token every form of this session carries (CSRF).
    csrf_token     text NOT NULL CHECK (length(csrf_token) >= 32),
    signed_in_with text NOT NULL CHECK (signed_in_with IN ('token', 'link')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    CONSTRAINT web_sessions_cookie_hash_key UNIQUE (cookie_hash),
    CONSTRAINT web_sessions_expire_after_start CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_open_of_employee ON web_sessions (employee_id) WHERE ended_at IS NULL;
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE sign_in_links (
    id          uuid PRIMARY KEY,
    link_hash   bytea NOT NULL CHECK (length(link_hash) = 32),
    employee_id uuid NOT NULL REFERENCES employees (id),
    issued_by   uuid REFERENCES employees (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CONSTRAINT sign_in_links_link_hash_key UNIQUE (link_hash),
    CONSTRAINT sign_in_links_expire_after_issue CHECK (expires_at > created_at)
);
CREATE INDEX sign_in_links_expires ON sign_in_links (expires_at);

-- A link is used once: nothing makes a used link usable again.
CREATE FUNCTION countersign_sign_in_link_used_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.used_at IS NOT NULL AND NEW.used_at IS DISTINCT FROM OLD.used_at THEN
        RAISE EXCEPTION 'a sign-in link is used once'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sign_in_links_used_once';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER sign_in_links_used_once BEFORE UPDATE ON sign_in_links
    FOR EACH ROW EXECUTE FUNCTION countersign_sign_in_link_used_once();
