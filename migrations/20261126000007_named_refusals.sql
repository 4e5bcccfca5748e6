-- Every refusal a trigger raises carries a constraint name (and the
-- check_violation code), so the service maps it by name to the same problem
-- type the domain answers for the same rule, and no database text reaches
-- a client. The rules themselves are unchanged but for one addition: a
-- proposal is filed only by someone who is an active agent at that moment.

CREATE OR REPLACE FUNCTION countersign_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME
        USING ERRCODE = 'check_violation', CONSTRAINT = 'never_deleted';
END
$$;

CREATE OR REPLACE FUNCTION countersign_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'check_violation', CONSTRAINT = 'append_only';
END
$$;

CREATE OR REPLACE FUNCTION signatures_check_signer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
    signer   employees%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status <> 'pending' THEN
        RAISE EXCEPTION 'the proposal is %, not pending', proposal.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signature_on_pending_proposal';
    END IF;
    IF NEW.revision <> proposal.revision THEN
        RAISE EXCEPTION 'a signature must be for the current revision %', proposal.revision
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signature_on_current_revision';
    END IF;
    SELECT * INTO signer FROM employees WHERE id = NEW.employee_id;
    IF signer.role <> 'agent' OR NOT signer.active THEN
        RAISE EXCEPTION 'only active agents may sign proposals'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signature_by_active_agent';
    END IF;
    RETURN NEW;
END
$$;

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
           OR NEW.expires_at <> OLD.expires_at) THEN
        RAISE EXCEPTION 'required co-signers, declines to reject and the deadline are fixed per revision'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'rule_fixed_per_revision';
    END IF;
    IF NEW.status = 'approved' THEN
        IF countersign_active_endorsements(NEW) < NEW.required_cosigners THEN
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

CREATE OR REPLACE FUNCTION signatures_check_decided() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status <> 'pending' THEN
        RETURN NULL;
    END IF;
    IF NEW.decision = 'endorse' AND countersign_active_endorsements(proposal) >= proposal.required_cosigners THEN
        RAISE EXCEPTION 'a proposal with % active endorsements must be approved with the last of them',
            proposal.required_cosigners
            USING ERRCODE = 'check_violation', CONSTRAINT = 'decided_with_last_endorsement';
    END IF;
    IF NEW.decision = 'decline' AND countersign_distinct_decliners(proposal) >= proposal.declines_to_reject THEN
        RAISE EXCEPTION 'a proposal with % declines must be rejected with the last of them',
            proposal.declines_to_reject
            USING ERRCODE = 'check_violation', CONSTRAINT = 'decided_with_last_decline';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION proposal_outcomes_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM proposals WHERE id = NEW.proposal_id) <> 'approved' THEN
        RAISE EXCEPTION 'outcomes are recorded for approved proposals only'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'outcome_needs_approval';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION proposal_reviews_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
    reviewer employees%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status = 'pending' THEN
        RAISE EXCEPTION 'the proposal is still pending; it is reviewed once decided'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'review_needs_decided';
    END IF;
    SELECT * INTO reviewer FROM employees WHERE id = NEW.reviewer_id;
    IF reviewer.role <> 'manager' OR NOT reviewer.active THEN
        RAISE EXCEPTION 'only active managers may review proposals'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'review_by_active_manager';
    END IF;
    IF proposal.proposer_id = NEW.reviewer_id OR EXISTS (
           SELECT 1 FROM signatures WHERE proposal_id = NEW.proposal_id AND employee_id = NEW.reviewer_id
       ) THEN
        RAISE EXCEPTION 'a reviewer cannot review a proposal they filed or signed'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reviewer_not_involved';
    END IF;
    RETURN NEW;
END
$$;

-- ... and, new here, only by an active agent.
CREATE OR REPLACE FUNCTION proposals_check_birth() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'pending' OR NEW.revision <> 1 OR NEW.decided_at IS NOT NULL THEN
        RAISE EXCEPTION 'a proposal is filed pending, at revision 1'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'proposal_born_pending';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM employees WHERE id = NEW.proposer_id AND active AND role = 'agent') THEN
        RAISE EXCEPTION 'only active agents file proposals'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'filed_by_active_agent';
    END IF;
    RETURN NEW;
END
$$;
