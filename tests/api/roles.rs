//! Two database roles: the owner migrates, the service runs as a role
//! granted only what it needs, which cannot switch off the triggers that
//! keep the audit log append-only (only an owner can).

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor};
use uuid::Uuid;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_table_has_a_runtime_grant() {
    let app = TestApp::spawn().await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let granted: Vec<&str> = countersign::db::RUNTIME_GRANTS
        .iter()
        .map(|(table, _)| *table)
        .collect();
    for table in &tables {
        assert!(
            granted.contains(&table.as_str()),
            "no runtime grant decided for table {table}"
        );
    }
}

#[tokio::test]
async fn the_service_runs_as_a_runtime_role_that_cannot_rewrite_the_log() {
    let app = TestApp::spawn().await;
    let role = format!("cs_runtime_{}", &Uuid::now_v7().simple().to_string()[20..]);
    app.pool
        .execute(AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
        .await
        .unwrap();
    countersign::db::grant_runtime_role(&app.pool, &role).await.unwrap();
    let options = app.pool.connect_options().as_ref().clone().username(&role);
    let runtime = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();

    // The whole flow works through the application layer as that role.
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    let mut settings = crate::helpers::test_settings();
    settings.database.migrate_at_start = false;
    countersign::db::check_migrated(&runtime)
        .await
        .expect("the owner migrated");
    let application = countersign::startup::Application::with_pool(settings, runtime.clone(), None)
        .await
        .unwrap();
    let address = format!("http://{}", application.local_addr());
    tokio::spawn(application.run_until(std::future::pending()));
    let filed = crate::helpers::client()
        .post(format!("{address}/v1/proposals"))
        .bearer_auth(&proposer.token)
        .json(&crate::helpers::proposal_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status().as_u16(), 201, "{}", filed.text().await.unwrap());

    // It stores the report figures of the days before today too (one
    // proposal filed two days ago, written as the owner).
    sqlx::query(
        "INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification, \
         required_cosigners, declines_to_reject, created_at, updated_at, expires_at) \
         SELECT countersign_uuid_v7(at), $1, 'refund', 'REFUND-30', 'Past case', 'Resolve it', 'Because', 1, 2, \
                at, at, at + interval '30 minutes' FROM (SELECT now() - interval '2 days' AS at) past",
    )
    .bind(proposer.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let built = countersign::reports::rollups::build(&runtime, 10, std::time::Duration::from_secs(600))
        .await
        .unwrap();
    assert!(built.is_some_and(|built| built.days >= 1), "{built:?}");

    // What an owner could do, the runtime role cannot.
    for attack in [
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only",
        "DELETE FROM audit_events",
        "UPDATE audit_chain SET chain_hash = sha256('forged')",
        "TRUNCATE audit_unchained",
        "DROP TABLE signatures",
    ] {
        let refused = runtime.execute(attack).await;
        assert!(refused.is_err(), "{attack} ran as the runtime role");
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE subject_id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 3, "the log is whole");
    runtime.close().await;
    // The role owns nothing; its grants go with the test database.
    let _ = app
        .pool
        .execute(AssertSqlSafe(format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; REVOKE USAGE ON SCHEMA public FROM {role}; DROP ROLE {role}"
        )))
        .await;
}
