-- Proposals, signatures, outcomes, reviews and idempotency keys.
-- The two-person rule is enforced here a second time, whatever the code does:
-- a signature is never the proposer's (composite key + check), one per person
-- and revision, only by an active agent on a pending proposal's current
-- revision; approval needs enough endorsements of the current revision; a
-- decided proposal never changes again.

CREATE TABLE proposals (
    id                       uuid PRIMARY KEY,
    status                   text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
    proposer_id              uuid NOT NULL REFERENCES employees (id),
    filed_via_integration_id uuid REFERENCES integrations (id),
    category                 text NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    policy_ref               text NOT NULL CHECK (length(policy_ref) BETWEEN 1 AND 200),
    summary                  text NOT NULL CHECK (length(summary) BETWEEN 1 AND 500),
    resolution               text NOT NULL CHECK (length(resolution) BETWEEN 1 AND 5000),
    justification            text NOT NULL CHECK (length(justification) BETWEEN 1 AND 5000),
    customer_ref             text CHECK (length(customer_ref) BETWEEN 1 AND 200),
    ticket_ref               text CHECK (length(ticket_ref) BETWEEN 1 AND 200),
    amount_minor             bigint CHECK (amount_minor >= 0),
    currency                 text CHECK (currency ~ '^[A-Z]{3}$'),
    required_cosigners       integer NOT NULL CHECK (required_cosigners BETWEEN 1 AND 10),
    declines_to_reject       integer NOT NULL CHECK (declines_to_reject BETWEEN 1 AND 10),
    revision                 integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    expires_at               timestamptz NOT NULL,
    decided_at               timestamptz,
    CONSTRAINT proposals_amount_has_currency CHECK ((amount_minor IS NULL) = (currency IS NULL)),
    CONSTRAINT proposals_decided_when_not_pending CHECK ((status = 'pending') = (decided_at IS NULL)),
    CONSTRAINT proposals_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT proposals_id_proposer_key UNIQUE (id, proposer_id)
);
CREATE INDEX proposals_pending_by_expiry ON proposals (expires_at) WHERE status = 'pending';
CREATE INDEX proposals_status ON proposals (status, id);
CREATE INDEX proposals_proposer ON proposals (proposer_id, id);
CREATE INDEX proposals_category ON proposals (category, id);
CREATE INDEX proposals_policy_ref ON proposals (policy_ref, id);
CREATE INDEX proposals_created ON proposals (created_at, id);

CREATE TABLE signatures (
    id                 uuid PRIMARY KEY,
    proposal_id        uuid NOT NULL,
    -- Copied from the proposal and tied to it by the composite key below, so
    -- the check against self-signing needs no trigger.
    proposer_id        uuid NOT NULL,
    employee_id        uuid NOT NULL REFERENCES employees (id),
    via_integration_id uuid REFERENCES integrations (id),
    revision           integer NOT NULL CHECK (revision >= 1),
    decision           text NOT NULL CHECK (decision IN ('endorse', 'decline')),
    comment            text CHECK (length(comment) BETWEEN 1 AND 2000),
    reason             text CHECK (length(reason) BETWEEN 1 AND 2000),
    created_at         timestamptz NOT NULL,
    CONSTRAINT signatures_proposal_fkey FOREIGN KEY (proposal_id, proposer_id)
        REFERENCES proposals (id, proposer_id),
    CONSTRAINT signatures_not_by_proposer CHECK (employee_id <> proposer_id),
    CONSTRAINT signatures_one_per_person_and_revision UNIQUE (proposal_id, revision, employee_id),
    CONSTRAINT signatures_decline_has_reason CHECK ((decision = 'decline') = (reason IS NOT NULL))
);
CREATE INDEX signatures_by_employee ON signatures (employee_id, proposal_id);

CREATE FUNCTION signatures_check_signer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
    signer   employees%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status <> 'pending' THEN
        RAISE EXCEPTION 'the proposal is %, not pending', proposal.status;
    END IF;
    IF NEW.revision <> proposal.revision THEN
        RAISE EXCEPTION 'a signature must be for the current revision %', proposal.revision;
    END IF;
    SELECT * INTO signer FROM employees WHERE id = NEW.employee_id;
    IF signer.role <> 'agent' OR NOT signer.active THEN
        RAISE EXCEPTION 'only active agents may sign proposals';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER signatures_signer BEFORE INSERT ON signatures
    FOR EACH ROW EXECUTE FUNCTION signatures_check_signer();
CREATE TRIGGER signatures_append_only BEFORE UPDATE OR DELETE ON signatures
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();

CREATE FUNCTION proposals_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'the proposal is % and can no longer change', OLD.status;
    END IF;
    IF NEW.proposer_id <> OLD.proposer_id OR NEW.created_at <> OLD.created_at
       OR NEW.filed_via_integration_id IS DISTINCT FROM OLD.filed_via_integration_id THEN
        RAISE EXCEPTION 'who filed a proposal and when never changes';
    END IF;
    IF NEW.revision < OLD.revision THEN
        RAISE EXCEPTION 'revisions only go forward';
    END IF;
    IF NEW.revision = OLD.revision AND (
           NEW.category <> OLD.category OR NEW.policy_ref <> OLD.policy_ref
           OR NEW.resolution <> OLD.resolution
           OR NEW.customer_ref IS DISTINCT FROM OLD.customer_ref
           OR NEW.amount_minor IS DISTINCT FROM OLD.amount_minor
           OR NEW.currency IS DISTINCT FROM OLD.currency) THEN
        RAISE EXCEPTION 'a change to material fields must start a new revision';
    END IF;
    IF NEW.status = 'approved' AND (
           SELECT count(*) FROM signatures
           WHERE proposal_id = NEW.id AND revision = NEW.revision AND decision = 'endorse'
       ) < NEW.required_cosigners THEN
        RAISE EXCEPTION 'approval needs % distinct co-signers of revision %', NEW.required_cosigners, NEW.revision;
    END IF;
    IF NEW.status = 'rejected' AND (
           SELECT count(DISTINCT employee_id) FROM signatures
           WHERE proposal_id = NEW.id AND decision = 'decline'
       ) < NEW.declines_to_reject THEN
        RAISE EXCEPTION 'rejection needs % distinct declines', NEW.declines_to_reject;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER proposals_transition BEFORE UPDATE ON proposals
    FOR EACH ROW EXECUTE FUNCTION proposals_check_transition();
CREATE TRIGGER proposals_never_deleted BEFORE DELETE ON proposals
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_delete();

CREATE TABLE proposal_outcomes (
    proposal_id         uuid PRIMARY KEY REFERENCES proposals (id),
    recorded_by         uuid NOT NULL REFERENCES employees (id),
    via_integration_id  uuid REFERENCES integrations (id),
    executed            boolean NOT NULL,
    actual_amount_minor bigint CHECK (actual_amount_minor >= 0),
    currency            text CHECK (currency ~ '^[A-Z]{3}$'),
    customer_outcome    text NOT NULL
        CHECK (customer_outcome IN ('satisfied', 'neutral', 'dissatisfied', 'unknown')),
    note                text CHECK (length(note) BETWEEN 1 AND 2000),
    recorded_at         timestamptz NOT NULL,
    CONSTRAINT proposal_outcomes_amount_has_currency CHECK ((actual_amount_minor IS NULL) = (currency IS NULL))
);

CREATE FUNCTION proposal_outcomes_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM proposals WHERE id = NEW.proposal_id) <> 'approved' THEN
        RAISE EXCEPTION 'outcomes are recorded for approved proposals only';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER proposal_outcomes_approved_only BEFORE INSERT ON proposal_outcomes
    FOR EACH ROW EXECUTE FUNCTION proposal_outcomes_check();
CREATE TRIGGER proposal_outcomes_append_only BEFORE UPDATE OR DELETE ON proposal_outcomes
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();

CREATE TABLE proposal_reviews (
    proposal_id uuid PRIMARY KEY REFERENCES proposals (id),
    reviewer_id uuid NOT NULL REFERENCES employees (id),
    verdict     text NOT NULL CHECK (verdict IN ('endorse', 'promote_to_policy', 'coach')),
    note        text NOT NULL CHECK (length(note) BETWEEN 1 AND 5000),
    reviewed_at timestamptz NOT NULL
);
CREATE TRIGGER proposal_reviews_append_only BEFORE UPDATE OR DELETE ON proposal_reviews
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();

-- Idempotency-Key: one row per caller and key, holding the first response.
CREATE TABLE idempotency_keys (
    principal_id      uuid NOT NULL,
    key               text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash      bytea NOT NULL,
    response_status   smallint,
    response_body     jsonb,
    response_location text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
