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


-- What managers still have to review: decided proposals without a review. A
-- work list, not a record (the record is proposals, proposal_reviews and the
-- audit log). Triggers keep it exact inside the deciding and the reviewing
-- transactions, on every path that decides or reviews, so the review queue
-- reads this short list instead of walking every proposal ever reviewed.
CREATE TABLE review_backlog (
    proposal_id uuid PRIMARY KEY REFERENCES proposals (id)
);

CREATE FUNCTION review_backlog_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO review_backlog (proposal_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER proposals_decided_await_review AFTER UPDATE OF status ON proposals
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
    EXECUTE FUNCTION review_backlog_add();

CREATE FUNCTION review_backlog_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM review_backlog WHERE proposal_id = NEW.proposal_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER proposal_reviews_leave_backlog AFTER INSERT ON proposal_reviews
    FOR EACH ROW EXECUTE FUNCTION review_backlog_remove();

INSERT INTO review_backlog (proposal_id)
SELECT p.id FROM proposals p
WHERE p.status <> 'pending' AND NOT EXISTS (SELECT 1 FROM proposal_reviews r WHERE r.proposal_id = p.id);

-- A proposal is born pending, at revision 1, undecided: approval only ever
-- comes through the checked transition, never by inserting it approved.
CREATE FUNCTION proposals_check_birth() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'pending' OR NEW.revision <> 1 OR NEW.decided_at IS NOT NULL THEN
        RAISE EXCEPTION 'a proposal is filed pending, at revision 1';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER proposals_born_pending BEFORE INSERT ON proposals
    FOR EACH ROW EXECUTE FUNCTION proposals_check_birth();
