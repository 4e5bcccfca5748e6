-- The queue of events waiting to be chained is protected like the log: a
-- row leaves it only once its event is chained, and it is never rewritten
-- or truncated. Before, any session could delete a queued event's row and
-- that event would never be chained (verification now also checks that
-- every event is chained or queued).

CREATE FUNCTION audit_unchained_leave_when_chained() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_chain WHERE event_id = OLD.event_id) THEN
        RAISE EXCEPTION 'event % leaves the queue only once it is chained', OLD.event_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'unchained_until_chained';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER audit_unchained_until_chained BEFORE DELETE ON audit_unchained
    FOR EACH ROW EXECUTE FUNCTION audit_unchained_leave_when_chained();
CREATE TRIGGER audit_unchained_append_only BEFORE UPDATE ON audit_unchained
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change();
CREATE TRIGGER audit_unchained_no_truncate BEFORE TRUNCATE ON audit_unchained
    FOR EACH STATEMENT EXECUTE FUNCTION countersign_refuse_change();
