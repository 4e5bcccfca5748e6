-- Manager reviews (rule 8), enforced a second time here: a review is written
-- once (primary key), only for a decided proposal, only by an active manager
-- who neither filed nor signed it. The proposal itself is never touched, so a
-- review cannot change the decision.

CREATE FUNCTION proposal_reviews_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    proposal proposals%ROWTYPE;
    reviewer employees%ROWTYPE;
BEGIN
    SELECT * INTO proposal FROM proposals WHERE id = NEW.proposal_id;
    IF proposal.status = 'pending' THEN
        RAISE EXCEPTION 'the proposal is still pending; it is reviewed once decided';
    END IF;
    SELECT * INTO reviewer FROM employees WHERE id = NEW.reviewer_id;
    IF reviewer.role <> 'manager' OR NOT reviewer.active THEN
        RAISE EXCEPTION 'only active managers may review proposals';
    END IF;
    IF proposal.proposer_id = NEW.reviewer_id OR EXISTS (
           SELECT 1 FROM signatures WHERE proposal_id = NEW.proposal_id AND employee_id = NEW.reviewer_id
       ) THEN
        RAISE EXCEPTION 'a reviewer cannot review a proposal they filed or signed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER proposal_reviews_reviewer BEFORE INSERT ON proposal_reviews
    FOR EACH ROW EXECUTE FUNCTION proposal_reviews_check();

-- The review queue walks decided proposals oldest first.
CREATE INDEX proposals_decided ON proposals (id) WHERE status <> 'pending';
