//! `countersign seed`: fills an empty database with a year of realistic
//! history for measuring reports: agents in teams, managers, proposals in
//! every category and outcome, signatures, outcomes and reviews. Written
//! in batches of set-based SQL through the schema's own triggers, so the
//! seeded rows pass every rule real ones do. It writes no audit events: it
//! is test data, refused on a database that already holds proposals.

use sqlx::PgPool;
use uuid::Uuid;

const AGENTS: usize = 300;
const MANAGERS: usize = 20;
const TEAMS: usize = 12;
/// Proposals per transaction. Each filing with a ticket takes the ticket's
/// advisory lock until its transaction ends, and PostgreSQL's lock table is
/// one pool shared by every connection, `max_locks_per_transaction` (64)
/// times `max_connections` (100) on a default server: 20,000 in one
/// transaction ran it out of shared memory.
const BATCH: u64 = 2_000;

/// Seeds `proposals` proposals filed over the last `days` days; answers how
/// many it wrote.
pub async fn seed(pool: &PgPool, proposals: u64, days: u32, categories: &[String]) -> anyhow::Result<u64> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(pool)
        .await?;
    if existing > 0 {
        anyhow::bail!("the database already holds {existing} proposals: seed an empty one (a database of its own)");
    }
    let agents = people(pool, "agent", AGENTS).await?;
    let managers = people(pool, "manager", MANAGERS).await?;
    // Batch by batch from the oldest: rows lie on disk in the order they
    // were filed, as they do in a real history.
    let batches = proposals.div_ceil(BATCH).max(1);
    let slice = f64::from(days) / batches as f64;
    let mut written = 0;
    for b in 0..batches {
        let n = BATCH.min(proposals - written);
        let oldest_days_ago = f64::from(days) - b as f64 * slice;
        batch(pool, n, (oldest_days_ago, slice), &agents, &managers, categories).await?;
        written += n;
        tracing::info!(written, of = proposals, "seeding");
    }
    sqlx::query("ANALYZE proposals, signatures, proposal_outcomes, proposal_reviews")
        .execute(pool)
        .await?;
    Ok(written)
}

/// `count` people of `role` named `Seed <role> NNN` (made if absent).
async fn people(pool: &PgPool, role: &str, count: usize) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query(
        r#"
        INSERT INTO employees (id, name, email, role, team, external_id)
        SELECT countersign_uuid_v7(now()), format('Seed %s %s', $1, lpad(n::text, 3, '0')),
               format('seed-%s-%s@seed.example', $1, n), $1,
               CASE WHEN $1 = 'agent' THEN format('team-%s', 1 + n % $3) END,
               format('seed-%s-%s', $1, n)
        FROM generate_series(1, $2) AS n
        WHERE NOT EXISTS (SELECT 1 FROM employees WHERE email = format('seed-%s-%s@seed.example', $1, n))
        "#,
    )
    .bind(role)
    .bind(count as i32)
    .bind(TEAMS as i32)
    .execute(pool)
    .await?;
    sqlx::query_scalar(
        "SELECT id FROM employees WHERE email LIKE format('seed-%s-%%@seed.example', $1::text) ORDER BY email",
    )
    .bind(role)
    .fetch_all(pool)
    .await
}

/// `n` proposals filed in the `window.1` days starting `window.0` days ago.
async fn batch(
    pool: &PgPool,
    n: u64,
    window: (f64, f64),
    agents: &[Uuid],
    managers: &[Uuid],
    categories: &[String],
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    // Who, what and how it ended, drawn once per proposal.
    sqlx::query(
        r#"
        CREATE TEMP TABLE seed_batch ON COMMIT DROP AS
        SELECT countersign_uuid_v7(created_at) AS id, *,
               -- most wait minutes for a peer, a few much longer
               least(1790, 20 + (-ln(1 - random()) * 300))::int AS wait_secs,
               CASE WHEN amount_minor > 50000 THEN 2 ELSE 1 END AS required
        FROM (
            SELECT now() - make_interval(secs => 86400 * ($2 - random() * $5)) AS created_at,
                   a AS proposer_i,
                   (a + 1 + floor(random() * ($3 - 2))::int) % $3 AS first_i,
                   category,
                   format('%s-%s', upper(category), 1 + floor(random() * random() * 12)::int) AS policy_ref,
                   CASE WHEN category IN ('refund', 'fee_waiver', 'goodwill_credit')
                        THEN (100 * floor(exp(random() * 8.5)))::bigint END AS amount_minor,
                   (ARRAY['EUR', 'EUR', 'EUR', 'USD', 'GBP'])[1 + floor(random() * 5)::int] AS currency,
                   random() AS fate_draw, random() AS outcome_draw, random() AS review_draw
            FROM (
                SELECT floor(random() * $3)::int AS a,
                       ($4::text[])[1 + floor(random() * cardinality($4::text[]))::int] AS category
                FROM generate_series(1, $1)
            ) drawn
        ) d
        "#,
    )
    .bind(n as i64)
    .bind(window.0)
    .bind(agents.len() as i32)
    .bind(categories)
    .bind(window.1)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "ALTER TABLE seed_batch ADD COLUMN fate text, ADD COLUMN proposer uuid, ADD COLUMN first uuid, \
         ADD COLUMN second uuid",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        UPDATE seed_batch SET
            fate = CASE WHEN created_at > now() - interval '31 minutes' THEN 'pending'
                        WHEN fate_draw < 0.72 THEN 'approved'
                        WHEN fate_draw < 0.80 THEN 'rejected'
                        WHEN fate_draw < 0.88 THEN 'withdrawn'
                        ELSE 'expired' END,
            proposer = ($1::uuid[])[1 + proposer_i],
            first = ($1::uuid[])[1 + first_i],
            second = ($1::uuid[])[1 + (first_i + 1 + (first_i = proposer_i - 1)::int
                                         + ((first_i + 1) % cardinality($1::uuid[]) = proposer_i)::int)
                                        % cardinality($1::uuid[])]
        "#,
    )
    .bind(agents)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification,
                               customer_ref, ticket_ref, amount_minor, currency, required_cosigners,
                               declines_to_reject, created_at, updated_at, expires_at)
        SELECT id, proposer, category, policy_ref,
               format('%s for customer %s', initcap(replace(category, '_', ' ')), (random() * 99999)::int),
               'As agreed with the customer on the phone', 'Long-standing customer; our mistake',
               format('CUST-%s', (random() * 99999)::int),
               -- a ticket of its own (from the id's random bits): one open proposal per ticket
               'T-' || upper(substr(replace(id::text, '-', ''), 21, 12)),
               amount_minor, CASE WHEN amount_minor IS NOT NULL THEN currency END, required, 2,
               created_at, created_at, created_at + interval '30 minutes'
        FROM seed_batch
        ORDER BY created_at
        "#,
    )
    .execute(&mut *tx)
    .await?;
    // Endorsements for the approved, declines for the rejected.
    sqlx::query(
        r#"
        INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, comment, reason, created_at)
        SELECT countersign_uuid_v7(at), id, proposer, signer, 1, decision,
               CASE WHEN decision = 'endorse' THEN 'Fine by me' END,
               CASE WHEN decision = 'decline' THEN 'Policy covers this' END, at
        FROM (
            SELECT b.id, b.proposer, s.signer, s.k,
                   CASE WHEN b.fate = 'approved' THEN 'endorse' ELSE 'decline' END AS decision,
                   b.created_at + make_interval(secs => b.wait_secs * s.k / greatest(b.required, 2)) AS at
            FROM seed_batch b
            CROSS JOIN LATERAL (VALUES (1, b.first), (2, b.second)) AS s (k, signer)
            WHERE (b.fate = 'approved' AND s.k <= b.required) OR b.fate = 'rejected'
        ) signed
        "#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        UPDATE proposals p
        SET status = b.fate,
            decided_at = CASE WHEN b.fate = 'expired' THEN p.expires_at
                              ELSE p.created_at + make_interval(secs => b.wait_secs) END,
            updated_at = p.created_at + make_interval(secs => b.wait_secs)
        FROM seed_batch b
        WHERE p.id = b.id AND b.fate <> 'pending'
        "#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO proposal_outcomes (proposal_id, recorded_by, executed, actual_amount_minor, currency,
                                       customer_outcome, recorded_at)
        SELECT id, proposer, executed,
               CASE WHEN executed AND amount_minor IS NOT NULL THEN amount_minor END,
               CASE WHEN executed AND amount_minor IS NOT NULL THEN currency END,
               CASE WHEN outcome_draw < 0.60 THEN 'satisfied' WHEN outcome_draw < 0.80 THEN 'neutral'
                    WHEN outcome_draw < 0.90 THEN 'dissatisfied' ELSE 'unknown' END,
               least(created_at + make_interval(secs => wait_secs + 600), now())
        FROM (SELECT *, random() < 0.95 AS executed FROM seed_batch) b
        WHERE fate = 'approved' AND outcome_draw < 0.85
        "#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO proposal_reviews (proposal_id, reviewer_id, verdict, note, reviewed_at)
        SELECT id, ($1::uuid[])[1 + floor(review_draw * 1000)::int % cardinality($1::uuid[])],
               CASE WHEN review_draw < 0.35 THEN 'endorse' WHEN review_draw < 0.45 THEN 'promote_to_policy'
                    ELSE 'coach' END,
               'Reviewed in the weekly round', least(created_at + interval '2 days', now())
        FROM seed_batch
        WHERE fate <> 'pending' AND review_draw < 0.6
        "#,
    )
    .bind(managers)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
