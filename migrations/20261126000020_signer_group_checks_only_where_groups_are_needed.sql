-- The signer-group checks of the two triggers below run only for a
-- proposal that needs a group: most need none, and the count of missing
-- groups is a function call per signature and per status change on the
-- hot path. The same rule as migration 19's, without that call where it
-- cannot find anything missing.

-- A pending proposal is decided with the signature that makes it so:
-- enough endorsements, with every required group among them, approve.
CREATE OR REPLACE FUNCTION signatures_check_decided() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status <> 'pending' THEN
        RETURN NULL;
    END IF;
    IF NEW.decision = 'endorse' AND countersign_active_endorsements(proposal) >= proposal.required_cosigners
       AND (cardinality(proposal.required_groups) = 0 OR countersign_missing_groups(proposal) = 0) THEN
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

CREATE OR REPLACE FUNCTION proposals_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    standing standing_approvals%ROWTYPE;
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
           OR NEW.required_groups <> OLD.required_groups
           OR NEW.endorsements_from IS DISTINCT FROM OLD.endorsements_from
           OR NEW.endorsed_resolution IS DISTINCT FROM OLD.endorsed_resolution
           OR NEW.endorsed_amount_minor IS DISTINCT FROM OLD.endorsed_amount_minor
           OR NEW.declines_to_reject <> OLD.declines_to_reject
           OR NEW.expires_at <> OLD.expires_at
           OR NEW.revision_started_at IS DISTINCT FROM OLD.revision_started_at) THEN
        RAISE EXCEPTION 'required co-signers and groups, declines to reject and the deadline are fixed per revision'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'rule_fixed_per_revision';
    END IF;
    -- A new revision either voids the endorsements so far (they are given
    -- to its terms from now) or keeps them: then it changed nothing a
    -- co-signer would object to, measured against what they endorsed.
    IF NEW.revision > OLD.revision THEN
        IF NEW.endorsements_from IS NOT DISTINCT FROM NEW.revision THEN
            IF NEW.endorsed_resolution IS DISTINCT FROM NEW.resolution
               OR NEW.endorsed_amount_minor IS DISTINCT FROM NEW.amount_minor THEN
                RAISE EXCEPTION 'a revision that voids the endorsements takes its own terms as the endorsed ones'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'kept_endorsements_within_tolerance';
            END IF;
        ELSIF OLD.endorsements_from IS NULL
           OR NEW.endorsements_from IS DISTINCT FROM OLD.endorsements_from
           OR NEW.endorsed_resolution IS DISTINCT FROM OLD.endorsed_resolution
           OR NEW.endorsed_amount_minor IS DISTINCT FROM OLD.endorsed_amount_minor
           OR NEW.category <> OLD.category OR NEW.policy_ref <> OLD.policy_ref
           OR NEW.customer_ref IS DISTINCT FROM OLD.customer_ref
           OR NEW.currency IS DISTINCT FROM OLD.currency
           OR NEW.amount_minor > NEW.endorsed_amount_minor
           OR countersign_numbers_in(NEW.resolution) <> countersign_numbers_in(NEW.endorsed_resolution)
           OR NOT countersign_within_edits(NEW.endorsed_resolution, NEW.resolution, 20)
           OR NEW.required_cosigners < OLD.required_cosigners
           OR NOT (NEW.required_groups @> OLD.required_groups) THEN
            RAISE EXCEPTION 'endorsements carry over only a revision that lowers the amount endorsed or fixes a typo'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'kept_endorsements_within_tolerance';
        END IF;
    END IF;
    IF NEW.approved_alone AND NEW.status <> 'approved' THEN
        RAISE EXCEPTION 'only an approval is approved alone'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approved_alone_is_an_approval';
    END IF;
    IF NEW.status = 'approved' THEN
        IF NEW.standing_approval_id IS NOT NULL THEN
            -- Held until commit: a retirement waits for this filing, or
            -- came first and this filing sees it.
            SELECT * INTO standing FROM standing_approvals WHERE id = NEW.standing_approval_id FOR SHARE;
            IF standing.retired_at IS NOT NULL
               OR NEW.created_at < standing.valid_from
               OR (standing.valid_until IS NOT NULL AND NEW.created_at >= standing.valid_until)
               OR standing.category <> NEW.category OR standing.policy_ref <> NEW.policy_ref
               OR (standing.currency IS NULL AND NEW.currency IS NOT NULL)
               OR (standing.currency IS NOT NULL AND (NEW.currency IS DISTINCT FROM standing.currency
                                                      OR NEW.amount_minor > standing.max_amount_minor))
               OR (standing.team IS NOT NULL AND standing.team IS DISTINCT FROM
                       (SELECT team FROM employees WHERE id = NEW.proposer_id))
               OR NEW.customer_ref IS NULL THEN
                RAISE EXCEPTION 'the standing approval does not cover this filing'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'standing_approval_covers_filing';
            END IF;
            IF NEW.revision <> 1 OR NEW.decided_at <> NEW.created_at
               OR EXISTS (SELECT 1 FROM signatures s WHERE s.proposal_id = NEW.id) THEN
                RAISE EXCEPTION 'a standing approval approves a filing as it is filed'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'standing_approval_on_filing';
            END IF;
            -- The ticket's lock first, then the customer's, as the service takes them.
            IF NEW.ticket_ref IS NOT NULL THEN
                PERFORM countersign_lock_ticket(NEW.category, NEW.ticket_ref);
            END IF;
            PERFORM countersign_lock_standing_customer(NEW.standing_approval_id, NEW.customer_ref);
            IF EXISTS (SELECT 1 FROM proposals p
                       WHERE p.standing_approval_id = NEW.standing_approval_id AND p.id <> NEW.id
                         AND (p.ticket_ref = NEW.ticket_ref
                              OR (lower(p.customer_ref) = lower(NEW.customer_ref)
                                  AND p.created_at > NEW.created_at - interval '7 days'))) THEN
                RAISE EXCEPTION 'a standing approval approves one filing per ticket, and per customer in 7 days'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'standing_approval_once_per_case';
            END IF;
        ELSIF NEW.approved_alone THEN
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
        ELSE
            IF countersign_active_endorsements(NEW) < NEW.required_cosigners THEN
                RAISE EXCEPTION 'approval needs % distinct active co-signers of revision %',
                    NEW.required_cosigners, NEW.revision
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'approval_needs_endorsements';
            END IF;
            IF cardinality(NEW.required_groups) > 0 AND countersign_missing_groups(NEW) > 0 THEN
                RAISE EXCEPTION 'approval needs an active co-signer of each group in %', NEW.required_groups
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'approval_needs_signer_groups';
            END IF;
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
