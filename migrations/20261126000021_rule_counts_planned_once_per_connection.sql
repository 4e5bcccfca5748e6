-- The counts the two-person rule's triggers take on every signature and
-- every decision, as PL/pgSQL instead of SQL functions: the same queries,
-- the same results, the same snapshot (STABLE: the calling statement's).
-- A SQL function called from a PL/pgSQL expression is parsed and planned
-- again in every transaction that calls it (about a tenth of the
-- database's CPU in the benchmark's file → co-sign pairs, measured with
-- perf); a PL/pgSQL function keeps its statements' plans for the life of
-- the connection. countersign_counted_endorsers stays a SQL function: it
-- is inlined into the queries below, which are planned once.

CREATE OR REPLACE FUNCTION countersign_active_endorsements(proposal proposals) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) FROM countersign_counted_endorsers(proposal));
END
$$;

CREATE OR REPLACE FUNCTION countersign_distinct_decliners(proposal proposals) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(DISTINCT employee_id) FROM signatures
            WHERE proposal_id = proposal.id AND decision = 'decline');
END
$$;

CREATE OR REPLACE FUNCTION countersign_missing_groups(proposal proposals) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) FROM unnest(proposal.required_groups) AS g (name)
            WHERE NOT EXISTS (SELECT 1 FROM countersign_counted_endorsers(proposal) c
                              WHERE g.name = ANY (c.groups)));
END
$$;
