-- Acting alone: where a company turns it on (routing.act_alone, per
-- category with an amount limit), a proposer whose proposal no eligible
-- peer is on shift to co-sign, or nobody answered within the escalation
-- window, may approve it alone with a reason. It is recorded as
-- approved_alone, with a solo_approvals row saying who, why and when; the
-- schema allows an approval without enough endorsements only so, and
-- never over a decline. The configuration (which categories, how much) is
-- checked by the service, which the schema cannot see.

ALTER TABLE proposals ADD COLUMN approved_alone boolean NOT NULL DEFAULT false;
-- When the current revision began (null: at filing). Waits that allow
-- acting alone count from it, so revising does not inherit time peers
-- spent on other terms.
ALTER TABLE proposals ADD COLUMN revision_started_at timestamptz;

CREATE TABLE solo_approvals (
    proposal_id uuid PRIMARY KEY REFERENCES proposals (id),
    employee_id uuid NOT NULL REFERENCES employees (id),
    -- The revision approved alone: the current one, when it was approved.
    revision    integer NOT NULL,
    reason      text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    why         text NOT NULL CHECK (why IN ('no_peer_available', 'no_answer_in_time')),
    approved_at timestamptz NOT NULL
);
CREATE TRIGGER solo_approvals_append_only BEFORE UPDATE OR DELETE ON solo_approvals
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();

-- Only the proposer, on their own pending proposal.
CREATE FUNCTION solo_approvals_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.proposer_id <> NEW.employee_id THEN
        RAISE EXCEPTION 'only the proposer acts alone'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'solo_by_proposer';
    END IF;
    IF proposal.status <> 'pending' THEN
        RAISE EXCEPTION 'the proposal is %, not pending', proposal.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signature_on_pending_proposal';
    END IF;
    IF NEW.revision <> proposal.revision THEN
        RAISE EXCEPTION 'acting alone approves the current revision %', proposal.revision
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signature_on_current_revision';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER solo_approvals_checked BEFORE INSERT ON solo_approvals
    FOR EACH ROW EXECUTE FUNCTION solo_approvals_check();

CREATE OR REPLACE FUNCTION proposals_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'the proposal is % and can no longer change', OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'decided_proposals_never_change';
    END IF;
    IF NEW.proposer_id <> OLD.proposer_id OR NEW.created_at <> OLD.created_at
       OR NEW.filed_via_integration_id IS DISTINCT FROM OLD.filed_via_integration_id THEN
        RAISE EXCEPTION 'who filed a proposal and when never changes'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'proposal_filing_fixed';
    END IF;
    IF NEW.revision < OLD.revision THEN
        RAISE EXCEPTION 'revisions only go forward'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'revisions_only_forward';
    END IF;
    IF NEW.revision = OLD.revision AND (
           NEW.category <> OLD.category OR NEW.policy_ref <> OLD.policy_ref
           OR NEW.resolution <> OLD.resolution
           OR NEW.customer_ref IS DISTINCT FROM OLD.customer_ref
           OR NEW.amount_minor IS DISTINCT FROM OLD.amount_minor
           OR NEW.currency IS DISTINCT FROM OLD.currency) THEN
        RAISE EXCEPTION 'a change to material fields must start a new revision'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'material_change_starts_revision';
    END IF;
    IF NEW.revision = OLD.revision AND (
           NEW.required_cosigners <> OLD.required_cosigners
           OR NEW.declines_to_reject <> OLD.declines_to_reject
           OR NEW.expires_at <> OLD.expires_at
           OR NEW.revision_started_at IS DISTINCT FROM OLD.revision_started_at) THEN
        RAISE EXCEPTION 'required co-signers, declines to reject and the deadline are fixed per revision'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'rule_fixed_per_revision';
    END IF;
    IF NEW.approved_alone AND NEW.status <> 'approved' THEN
        RAISE EXCEPTION 'only an approval is approved alone'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approved_alone_is_an_approval';
    END IF;
    IF NEW.status = 'approved' THEN
        IF NEW.approved_alone THEN
            IF NOT EXISTS (SELECT 1 FROM solo_approvals s
                           WHERE s.proposal_id = NEW.id AND s.employee_id = NEW.proposer_id
                             AND s.revision = NEW.revision) THEN
                RAISE EXCEPTION 'an approval without enough co-signers needs the proposer''s recorded reason'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'approved_alone_needs_reason';
            END IF;
            IF countersign_distinct_decliners(NEW) > 0 THEN
                RAISE EXCEPTION 'a proposal a peer declined is never approved alone'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'approved_alone_over_a_decline';
            END IF;
        ELSIF countersign_active_endorsements(NEW) < NEW.required_cosigners THEN
            RAISE EXCEPTION 'approval needs % distinct active co-signers of revision %',
                NEW.required_cosigners, NEW.revision
                USING ERRCODE = 'check_violation', CONSTRAINT = 'approval_needs_endorsements';
        END IF;
        IF countersign_distinct_decliners(NEW) >= NEW.declines_to_reject THEN
            RAISE EXCEPTION 'a proposal with % declines is rejected, never approved', NEW.declines_to_reject
                USING ERRCODE = 'check_violation', CONSTRAINT = 'approval_refused_when_declined';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM employees WHERE id = NEW.proposer_id AND active AND role = 'agent') THEN
            RAISE EXCEPTION 'a proposal whose proposer is no longer an active agent is never approved'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'approval_needs_active_proposer';
        END IF;
    END IF;
    IF NEW.status = 'rejected' AND countersign_distinct_decliners(NEW) < NEW.declines_to_reject THEN
        RAISE EXCEPTION 'rejection needs % distinct declines', NEW.declines_to_reject
            USING ERRCODE = 'check_violation', CONSTRAINT = 'rejection_needs_declines';
    END IF;
    RETURN NEW;
END
$$;

-- Whatever writes it: approved_alone marks approved proposals only.
ALTER TABLE proposals ADD CONSTRAINT proposals_filed_not_alone CHECK (NOT approved_alone OR status = 'approved');
