-- Exceptions become policy, and rules that need the right people.
--
-- * Employees carry named signer groups (e.g. `senior`), set by an admin.
--   A threshold may require, among a proposal's endorsers, one person of
--   each named group: the groups a proposal needs are fixed per revision,
--   like its count, and approval needs every one of them covered by an
--   active agent endorsing.
-- * A revision that changes the terms only within the configured
--   tolerance (a lower amount, a typo in the resolution) keeps the
--   endorsements given since the last revision that voided them
--   (`endorsements_from`), measured against the terms those endorsements
--   were given to (`endorsed_resolution`, `endorsed_amount_minor`), so
--   small edits cannot add up. Whatever the configuration, the schema never
--   lets endorsements carry over an amount above what was endorsed, another
--   currency, category, policy rule or customer, a changed number in the
--   resolution, or a lower bar. An endorser whose endorsement was kept may
--   decline the new revision, which withdraws it. Rows filed before this
--   migration keep NULL there: only their current revision's endorsements
--   count, as before.
-- * Standing approvals: a (category, policy rule) exception a manager
--   promoted to policy, with an amount limit, an optional team and a
--   validity window. A filing that matches an active one is approved on
--   filing, by the proposer alone, naming it: only a filing that names its
--   customer, and at most once per ticket and once per customer (compared
--   ignoring case) in 7 days, so a case cannot be split into several
--   filings under the limit. Never deleted: retired.

ALTER TABLE employees ADD COLUMN groups text[] NOT NULL DEFAULT '{}';
ALTER TABLE employees ADD CONSTRAINT employee_groups_named
    CHECK (cardinality(groups) <= 20 AND array_position(groups, NULL) IS NULL);

CREATE TABLE standing_approvals (
    id                 uuid PRIMARY KEY,
    category           text NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    policy_ref         text NOT NULL CHECK (length(policy_ref) BETWEEN 1 AND 200),
    -- The most a filing may name, in this currency (none: filings that
    -- name no amount, in categories that move no money).
    max_amount_minor   bigint CHECK (max_amount_minor >= 0),
    currency           text CHECK (currency ~ '^[A-Z]{3}$'),
    -- Only proposers of this team (none: everyone).
    team               text CHECK (length(team) BETWEEN 1 AND 100),
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz,
    -- The reviewed proposal that started it, when one did.
    source_proposal_id uuid REFERENCES proposals (id),
    note               text NOT NULL CHECK (length(btrim(note)) BETWEEN 1 AND 2000),
    created_by         uuid NOT NULL REFERENCES employees (id),
    created_at         timestamptz NOT NULL,
    retired_at         timestamptz,
    retired_by         uuid REFERENCES employees (id),
    retire_reason      text CHECK (length(btrim(retire_reason)) BETWEEN 1 AND 2000),
    CONSTRAINT standing_approval_amount_has_currency CHECK ((max_amount_minor IS NULL) = (currency IS NULL)),
    CONSTRAINT standing_approval_window CHECK (valid_until IS NULL OR valid_until > valid_from),
    CONSTRAINT standing_approval_retired_by_someone CHECK ((retired_at IS NULL) = (retired_by IS NULL))
);
CREATE INDEX standing_approvals_matching ON standing_approvals (category, policy_ref) WHERE retired_at IS NULL;
CREATE INDEX standing_approvals_by_source ON standing_approvals (source_proposal_id) WHERE source_proposal_id IS NOT NULL;

-- Only ever retired, once: every other field stays as created.
CREATE FUNCTION standing_approvals_check_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'standing approvals are retired, never deleted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'standing_approvals_never_deleted';
    END IF;
    IF OLD.retired_at IS NOT NULL OR NEW.retired_at IS NULL
       OR to_jsonb(NEW) - 'retired_at' - 'retired_by' - 'retire_reason'
          <> to_jsonb(OLD) - 'retired_at' - 'retired_by' - 'retire_reason' THEN
        RAISE EXCEPTION 'a standing approval changes only by being retired, once'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'standing_approvals_only_retired';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER standing_approvals_checked BEFORE UPDATE OR DELETE ON standing_approvals
    FOR EACH ROW EXECUTE FUNCTION standing_approvals_check_change();

ALTER TABLE proposals ADD COLUMN required_groups text[] NOT NULL DEFAULT '{}';
-- No default for the rows already there (NULL: as before, only the current
-- revision's endorsements count); new rows are given theirs at filing.
ALTER TABLE proposals ADD COLUMN endorsements_from integer;
ALTER TABLE proposals ADD COLUMN endorsed_resolution text;
ALTER TABLE proposals ADD COLUMN endorsed_amount_minor bigint;
ALTER TABLE proposals ADD COLUMN standing_approval_id uuid REFERENCES standing_approvals (id);
ALTER TABLE proposals ADD CONSTRAINT proposals_endorsements_from_a_revision
    CHECK (endorsements_from BETWEEN 1 AND revision);
ALTER TABLE proposals ADD CONSTRAINT proposals_endorsed_terms_together
    CHECK ((endorsements_from IS NULL) = (endorsed_resolution IS NULL));

-- At filing, the endorsements to come are given to the terms as filed.
CREATE FUNCTION proposals_endorsed_terms_at_filing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.endorsements_from := NEW.revision;
    NEW.endorsed_resolution := NEW.resolution;
    NEW.endorsed_amount_minor := NEW.amount_minor;
    RETURN NEW;
END
$$;
CREATE TRIGGER proposals_endorsed_terms_at_filing BEFORE INSERT ON proposals
    FOR EACH ROW EXECUTE FUNCTION proposals_endorsed_terms_at_filing();

-- The words of a text that hold a digit ("10", "1.50", "10k", "#4521"), in
-- order: a kept revision changes none of them.
CREATE FUNCTION countersign_numbers_in(text text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(m[1] ORDER BY n), '{}')
    FROM regexp_matches(text, E'([^ \\t\\n\\r\\f\\v]*[0-9][^ \\t\\n\\r\\f\\v]*)', 'g') WITH ORDINALITY AS r (m, n)
$$;

-- Whether `b` is at most `k` characters inserted, deleted or replaced
-- from `a`. The part both share at the start and at the end is set aside
-- first (it changes nothing); a middle of more than 100,000 cells to
-- compare is taken as more than a typo, as the service takes it.
CREATE FUNCTION countersign_within_edits(a text, b text, k integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    x text[] := regexp_split_to_array(a, '');
    y text[] := regexp_split_to_array(b, '');
    m integer;
    n integer;
    start integer := 1;
    previous integer[];
    current integer[];
    i integer;
    j integer;
BEGIN
    IF a = b THEN
        RETURN true;
    END IF;
    m := coalesce(array_length(x, 1), 0);
    n := coalesce(array_length(y, 1), 0);
    WHILE start <= m AND start <= n AND x[start] = y[start] LOOP
        start := start + 1;
    END LOOP;
    WHILE m >= start AND n >= start AND x[m] = y[n] LOOP
        m := m - 1;
        n := n - 1;
    END LOOP;
    x := x[start:m];
    y := y[start:n];
    m := m - start + 1;
    n := n - start + 1;
    IF abs(m - n) > k THEN
        RETURN false;
    END IF;
    IF m::bigint * n > 100000 THEN
        RETURN false;
    END IF;
    IF m = 0 OR n = 0 THEN
        RETURN greatest(m, n) <= k;
    END IF;
    previous := ARRAY(SELECT generate_series(0, n));
    FOR i IN 1..m LOOP
        current := ARRAY[i];
        FOR j IN 1..n LOOP
            current := current || least(previous[j + 1] + 1, current[j] + 1,
                                        previous[j] + CASE WHEN x[i] = y[j] THEN 0 ELSE 1 END);
        END LOOP;
        previous := current;
    END LOOP;
    RETURN previous[n + 1] <= k;
END
$$;

-- One approval under a standing approval per customer at a time: filings
-- for one customer under one standing approval are taken one after another.
CREATE FUNCTION countersign_lock_standing_customer(standing_approval_id uuid, customer_ref text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('standing:' || standing_approval_id || ':' || lower(customer_ref), 0))
$$;
ALTER TABLE proposals ADD CONSTRAINT proposals_standing_approval_is_an_approval
    CHECK (standing_approval_id IS NULL OR (status = 'approved' AND NOT approved_alone));
CREATE INDEX proposals_by_standing_approval ON proposals (standing_approval_id, lower(customer_ref), created_at)
    WHERE standing_approval_id IS NOT NULL;
CREATE INDEX proposals_by_standing_approval_and_ticket ON proposals (standing_approval_id, ticket_ref)
    WHERE standing_approval_id IS NOT NULL;

-- The endorsements that count: of a revision from `endorsements_from` to
-- the current one, by a person who is an active agent now and has not
-- declined a later revision since.
CREATE FUNCTION countersign_counted_endorsers(proposal proposals) RETURNS TABLE (employee_id uuid, groups text[])
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT s.employee_id, e.groups FROM signatures s JOIN employees e ON e.id = s.employee_id
    WHERE s.proposal_id = proposal.id AND s.decision = 'endorse'
      AND s.revision BETWEEN coalesce(proposal.endorsements_from, proposal.revision) AND proposal.revision
      AND e.active AND e.role = 'agent'
      AND NOT EXISTS (SELECT 1 FROM signatures d
                      WHERE d.proposal_id = s.proposal_id AND d.employee_id = s.employee_id
                        AND d.decision = 'decline' AND d.revision > s.revision)
$$;

CREATE OR REPLACE FUNCTION countersign_active_endorsements(proposal proposals) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM countersign_counted_endorsers(proposal)
$$;

-- Required groups no counted endorser belongs to.
CREATE FUNCTION countersign_missing_groups(proposal proposals) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM unnest(proposal.required_groups) AS g (name)
    WHERE NOT EXISTS (SELECT 1 FROM countersign_counted_endorsers(proposal) c WHERE g.name = ANY (c.groups))
$$;

-- Whether `employee` could take a place among a proposal's endorsers: a
-- place is free for anyone while more remain than required groups are
-- missing; after that only for a member of a missing group (the inbox
-- leaves the others out, and a co-sign of theirs is refused).
CREATE FUNCTION countersign_may_take_a_place(proposal proposals, employee uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT countersign_missing_groups(proposal) = 0
        OR greatest(proposal.required_cosigners - countersign_active_endorsements(proposal), 0)
           > countersign_missing_groups(proposal)
        OR EXISTS (SELECT 1 FROM unnest(proposal.required_groups) AS g (name)
                   WHERE g.name = ANY ((SELECT e.groups FROM employees e WHERE e.id = employee)::text[])
                     AND NOT EXISTS (SELECT 1 FROM countersign_counted_endorsers(proposal) c
                                     WHERE g.name = ANY (c.groups)))
$$;

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
       AND countersign_missing_groups(proposal) = 0 THEN
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

-- A signer signs once while their signature stands: once per revision, and
-- no second endorsement on a revision that kept one they gave (they may
-- decline it, which withdraws their endorsement).
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
    IF NEW.decision = 'endorse' AND EXISTS (
           SELECT 1 FROM signatures s
           WHERE s.proposal_id = NEW.proposal_id AND s.employee_id = NEW.employee_id
             AND s.revision >= coalesce(proposal.endorsements_from, proposal.revision)) THEN
        RAISE EXCEPTION 'the signer''s signature on these terms stands; they sign once'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'signatures_one_per_person_and_revision';
    END IF;
    RETURN NEW;
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
            IF countersign_missing_groups(NEW) > 0 THEN
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
