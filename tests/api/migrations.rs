//! Migrations as deployed databases meet them.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};
use uuid::Uuid;

use crate::helpers::TestApp;

/// An empty database of the test's own, beside its app's: its name and
/// how to connect to it.
async fn scratch_database(app: &TestApp) -> (String, PgConnectOptions) {
    let name = format!("cs_test_migrations_{}", Uuid::now_v7().simple());
    app.pool
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap();
    let options = app.pool.connect_options().as_ref().clone().database(&name);
    (name, options)
}

/// A proposal filed, signed and revised before migration 19 (which lets
/// revisions keep endorsements) counts only its current revision's
/// endorsements after it, as before, and goes on under the new rules.
#[tokio::test]
async fn a_proposal_revised_before_endorsements_could_be_kept_counts_only_its_current_revision() {
    let app = TestApp::spawn().await;
    let (name, options) = scratch_database(&app).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let (before, from_19): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|path| path.file_name().unwrap().to_str().unwrap() < "20261126000019");
    for path in &before {
        sqlx::raw_sql(AssertSqlSafe(std::fs::read_to_string(path).unwrap()))
            .execute(&pool)
            .await
            .unwrap();
    }
    let (proposer, first, second) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let proposal = Uuid::now_v7();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO employees (id, name, email, role) VALUES
             ('{proposer}', 'P', 'p@example.com', 'agent'), ('{first}', 'F', 'f@example.com', 'agent'),
             ('{second}', 'S', 's@example.com', 'agent');
         INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification,
                                amount_minor, currency, required_cosigners, declines_to_reject, created_at,
                                updated_at, expires_at)
         VALUES ('{proposal}', '{proposer}', 'refund', 'R', 'S', 'Refund 40 EUR', 'J', 4000, 'EUR', 2, 2, now(),
                 now(), now() + interval '1 hour');
         INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
         VALUES ('{}', '{proposal}', '{proposer}', '{first}', 1, 'endorse', now());
         UPDATE proposals SET revision = 2, amount_minor = 3000, resolution = 'Refund 30 EUR' WHERE id = '{proposal}';",
        Uuid::now_v7()
    )))
    .execute(&pool)
    .await
    .unwrap();
    for path in &from_19 {
        sqlx::raw_sql(AssertSqlSafe(std::fs::read_to_string(path).unwrap()))
            .execute(&pool)
            .await
            .unwrap();
    }
    let counted: i64 = sqlx::query_scalar("SELECT countersign_active_endorsements(p) FROM proposals p WHERE id = $1")
        .bind(proposal)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        counted, 0,
        "revision 1's endorsement did not carry over before, and does not now"
    );
    // It goes on: the first peer may endorse revision 2, and with the
    // second it is approved.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
         VALUES ('{}', '{proposal}', '{proposer}', '{first}', 2, 'endorse', now()),
                ('{}', '{proposal}', '{proposer}', '{second}', 2, 'endorse', now());
         UPDATE proposals SET status = 'approved', decided_at = now() WHERE id = '{proposal}';",
        Uuid::now_v7(),
        Uuid::now_v7()
    )))
    .execute(&pool)
    .await
    .expect("approved under the new rules");
    pool.close().await;
    app.pool
        .execute(AssertSqlSafe(format!("DROP DATABASE \"{name}\"")))
        .await
        .unwrap();
}

/// One build shipped migration 13 with migration 18's token column written
/// into it. A database that build migrated migrates on: its record of 13 is
/// taken as 13's own, and 18 finds its work done.
#[tokio::test]
async fn a_database_migrated_with_the_edited_web_sessions_migration_migrates_on() {
    let app = TestApp::spawn().await;
    let (name, options) = scratch_database(&app).await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    countersign::db::migrate(&pool)
        .await
        .expect("a fresh database migrates");
    // As that build left it: its checksum for 13, and 18 not yet run.
    sqlx::raw_sql(
        "UPDATE _sqlx_migrations SET checksum = decode('2b88626ea5dac8a31dd2b9ae2e0296e927f86c46b1ea8de41e8bc294319e1f78f4f8f54ebf358c7c906937d8324afdf0', 'hex') WHERE version = 20261126000013;
         DELETE FROM _sqlx_migrations WHERE version = 20261126000018;",
    )
    .execute(&pool)
    .await
    .unwrap();
    // (On a pool of its own: a refused run keeps its connection's migration lock.)
    let alone = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    let refused = countersign::db::MIGRATOR.run(&alone).await;
    alone.close().await;
    assert!(refused.is_err(), "sqlx alone refuses the changed checksum");

    countersign::db::migrate(&pool)
        .await
        .expect("the service migrates it on");
    let (checksum_ok, applied): (bool, i64) = sqlx::query_as(
        "SELECT bool_and(checksum <> decode('2b88626ea5dac8a31dd2b9ae2e0296e927f86c46b1ea8de41e8bc294319e1f78f4f8f54ebf358c7c906937d8324afdf0', 'hex')),
                count(*) FILTER (WHERE version = 20261126000018)
         FROM _sqlx_migrations",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((checksum_ok, applied), (true, 1));
    // The schema is the one a fresh database gets: a token session names its token.
    let (column, constraint): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM information_schema.columns
                 WHERE table_name = 'web_sessions' AND column_name = 'token_id'),
                (SELECT count(*) FROM pg_constraint WHERE conname = 'web_sessions_token_signs_in_with_token')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    app.pool
        .execute(AssertSqlSafe(format!("DROP DATABASE \"{name}\"")))
        .await
        .unwrap();
    assert_eq!((column, constraint), (1, 1));
}
