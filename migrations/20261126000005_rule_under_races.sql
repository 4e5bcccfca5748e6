-- The two-person rule when people act at the same moment, enforced here a
-- second time whatever the code does:
-- * approval counts only endorsements of the current revision by people who
--   are active agents now, by a proposer who is still an active agent, and
--   never of a proposal that already has enough declines to be rejected;
-- * a proposal that has enough endorsements (or declines) is decided in the
--   same transaction as the signature that made it so: checked at commit,
--   when every concurrent signature that committed first is visible;
-- * required co-signers, declines to reject and the deadline are fixed per
--   revision;
-- * idempotency keys belong to the person acting and the integration acting
--   for them, not to the integration alone.

CREATE FUNCTION countersign_active_endorsements(proposal proposals) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM signatures s JOIN employees e ON e.id = s.employee_id
    WHERE s.proposal_id = proposal.id AND s.revision = proposal.revision AND s.decision = 'endorse'
      AND e.active AND e.role = 'agent'
$$;

CREATE FUNCTION countersign_distinct_decliners(proposal proposals) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(DISTINCT employee_id) FROM signatures
    WHERE proposal_id = proposal.id AND decision = 'decline'
$$;

CREATE OR REPLACE FUNCTION proposals_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF NEW.revision = OLD.revision AND (
           NEW.required_cosigners <> OLD.required_cosigners
           OR NEW.declines_to_reject <> OLD.declines_to_reject
           OR NEW.expires_at <> OLD.expires_at) THEN
        RAISE EXCEPTION 'required co-signers, declines to reject and the deadline are fixed per revision';
    END IF;
    IF NEW.status = 'approved' THEN
        IF countersign_active_endorsements(NEW) < NEW.required_cosigners THEN
            RAISE EXCEPTION 'approval needs % distinct active co-signers of revision %',
                NEW.required_cosigners, NEW.revision;
        END IF;
        IF countersign_distinct_decliners(NEW) >= NEW.declines_to_reject THEN
            RAISE EXCEPTION 'a proposal with % declines is rejected, never approved', NEW.declines_to_reject;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM employees WHERE id = NEW.proposer_id AND active AND role = 'agent') THEN
            RAISE EXCEPTION 'a proposal whose proposer is no longer an active agent is never approved';
        END IF;
    END IF;
    IF NEW.status = 'rejected' AND countersign_distinct_decliners(NEW) < NEW.declines_to_reject THEN
        RAISE EXCEPTION 'rejection needs % distinct declines', NEW.declines_to_reject;
    END IF;
    RETURN NEW;
END
$$;

-- Runs at commit: by then every signature committed before this one is
-- visible, so two signatures that each saw only themselves cannot leave a
-- proposal pending with enough endorsements or declines to decide it.
CREATE FUNCTION signatures_check_decided() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status <> 'pending' THEN
        RETURN NULL;
    END IF;
    IF NEW.decision = 'endorse' AND countersign_active_endorsements(proposal) >= proposal.required_cosigners THEN
        RAISE EXCEPTION 'a proposal with % active endorsements must be approved with the last of them',
            proposal.required_cosigners;
    END IF;
    IF NEW.decision = 'decline' AND countersign_distinct_decliners(proposal) >= proposal.declines_to_reject THEN
        RAISE EXCEPTION 'a proposal with % declines must be rejected with the last of them',
            proposal.declines_to_reject;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER signatures_decide_at_once AFTER INSERT ON signatures
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION signatures_check_decided();

-- Keys taken by an integration for whichever agent it acted for are
-- transient (a day) and cannot be told apart by person: they go. The nil
-- UUID stands for "no integration" (a primary key column cannot be NULL).
DELETE FROM idempotency_keys WHERE principal_id IN (SELECT id FROM integrations);
ALTER TABLE idempotency_keys
    ADD COLUMN via_integration_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (principal_id, via_integration_id, key);
COMMENT ON COLUMN idempotency_keys.principal_id IS
    'the person acting (or, for a caller acting as nobody, its token)';
COMMENT ON COLUMN idempotency_keys.via_integration_id IS
    'the integration acting for that person; the nil UUID when they call themselves';
