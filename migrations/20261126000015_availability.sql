-- Who is on shift. An agent says so (REST, the inbox page, a helpdesk);
-- it lapses by itself once last_active_at is routing.availability_idle_minutes
-- old (the service notes an agent's requests at most once a minute), so a
-- person who went home without saying so is not asked to co-sign.
CREATE TABLE agent_availability (
    employee_id    uuid PRIMARY KEY REFERENCES employees (id),
    available      boolean NOT NULL,
    -- When `available` last changed (said, not lapsed).
    changed_at     timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    CONSTRAINT agent_availability_active_after_change CHECK (last_active_at >= changed_at)
);
