-- Asking the right peers. On filing, a few available eligible peers are
-- asked to co-sign (a request row each, and a proposal.cosign_requested
-- event); after routing.remind_after_secs a reminder widens the circle;
-- after routing.escalate_after_secs the team's managers are told, and a
-- manager may reassign the request to named agents. Requests never change
-- and are never deleted: they are the record of who was asked, when, why.

CREATE TABLE cosign_requests (
    proposal_id  uuid NOT NULL REFERENCES proposals (id),
    employee_id  uuid NOT NULL REFERENCES employees (id),
    reason       text NOT NULL CHECK (reason IN ('requested', 'reminder', 'reassigned')),
    requested_at timestamptz NOT NULL,
    -- The manager who reassigned it (reason 'reassigned').
    requested_by uuid REFERENCES employees (id),
    PRIMARY KEY (proposal_id, employee_id),
    CONSTRAINT cosign_requests_reassigned_by_someone CHECK ((reason = 'reassigned') = (requested_by IS NOT NULL))
);
CREATE INDEX cosign_requests_of_employee ON cosign_requests (employee_id, requested_at);

-- The steps taken for a proposal nobody answered: each at most once.
CREATE TABLE routing_steps (
    proposal_id uuid NOT NULL REFERENCES proposals (id),
    step        text NOT NULL CHECK (step IN ('reminded', 'escalated')),
    taken_at    timestamptz NOT NULL,
    PRIMARY KEY (proposal_id, step)
);

-- The routing worker looks for pending proposals by age.
CREATE INDEX proposals_pending_by_age ON proposals (created_at) WHERE status = 'pending';

CREATE TRIGGER cosign_requests_append_only BEFORE UPDATE OR DELETE ON cosign_requests
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();
CREATE TRIGGER routing_steps_append_only BEFORE UPDATE OR DELETE ON routing_steps
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();
