-- One open proposal per ticket and category: a second pending proposal for
-- the same ticket_ref and category is refused (the service answers 409
-- naming the open one). Two agents filing for one ticket at the same
-- moment are serialised by an advisory lock on (category, ticket_ref),
-- which the service takes before it looks for an open proposal and this
-- trigger takes again before it checks. A trigger rather than a unique
-- index: proposals filed before this rule existed stay as they are.

-- The lock, in its own key space (two int4 keys never meet the one-bigint
-- keys the sequencer uses); held until the transaction ends.
CREATE FUNCTION countersign_lock_ticket(category text, ticket_ref text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(hashtext('countersign.ticket'), hashtext(category || chr(31) || ticket_ref));
$$;

CREATE FUNCTION countersign_one_open_proposal_per_ticket() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    open_id uuid;
BEGIN
    PERFORM countersign_lock_ticket(NEW.category, NEW.ticket_ref);
    -- A statement of its own, so it sees what committed while it waited.
    SELECT id INTO open_id FROM proposals
    WHERE ticket_ref = NEW.ticket_ref AND category = NEW.category AND status = 'pending' AND id <> NEW.id
    LIMIT 1;
    IF open_id IS NOT NULL THEN
        RAISE EXCEPTION 'proposal % is already open for this ticket and category', open_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'one_open_proposal_per_ticket';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER proposals_one_open_per_ticket_on_insert BEFORE INSERT ON proposals
    FOR EACH ROW WHEN (NEW.ticket_ref IS NOT NULL AND NEW.status = 'pending')
    EXECUTE FUNCTION countersign_one_open_proposal_per_ticket();
CREATE TRIGGER proposals_one_open_per_ticket_on_update BEFORE UPDATE OF category, ticket_ref ON proposals
    FOR EACH ROW WHEN (NEW.ticket_ref IS NOT NULL AND NEW.status = 'pending'
                       AND (NEW.category IS DISTINCT FROM OLD.category OR NEW.ticket_ref IS DISTINCT FROM OLD.ticket_ref))
    EXECUTE FUNCTION countersign_one_open_proposal_per_ticket();

-- Finding the open proposal of a ticket (proposals_ticket_ref covers
-- ticket_ref and status; category is checked on the few rows it finds).
