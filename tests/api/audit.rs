//! The audit chain: it verifies after concurrent writers, and a superuser's
//! rewrite of an event or a link, or links cut off its end, are detected
//! (the last against an anchor kept outside Countersign).

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};

/// What only a superuser could do: rewrite an append-only table with its
/// guarding trigger switched off for one transaction.
async fn tamper(app: &TestApp, table: &str, update: String) {
    let sql = format!(
        "BEGIN; ALTER TABLE {table} DISABLE TRIGGER {table}_append_only; {update}; \
         ALTER TABLE {table} ENABLE TRIGGER {table}_append_only; COMMIT;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&app.pool)
        .await
        .expect("the superuser's rewrite runs");
}

#[tokio::test]
async fn the_audit_chain_verifies_after_concurrent_writers_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peers = app.create_users("agent", 8).await;
    let filings = (0..8).map(|_| proposer.file(json!({})));
    let ids: Vec<String> = futures_util::future::join_all(filings)
        .await
        .iter()
        .map(Answer::id)
        .collect();
    let cosigns = ids.iter().zip(&peers).map(|(id, peer)| peer.cosign(id));
    for answer in futures_util::future::join_all(cosigns).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    app.wait_until_chained().await;
    let answer = app.admin.get("/v1/audit/verify").await.expect(200);
    let verified = answer.verification();
    assert!(verified.valid, "{}", answer.body);
    let total = app.count("SELECT count(*) FROM audit_events").await;
    assert_eq!(i64::try_from(verified.events_checked).unwrap(), total);
    assert_eq!(verified.first_broken_event_id, None);

    // A superuser rewrites an approval's payload with the trigger disabled.
    let victim: Uuid =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE event_type = 'proposal.approved' ORDER BY id LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    tamper(
        &app,
        "audit_events",
        format!("UPDATE audit_events SET payload = '{{\"forged\": true}}' WHERE id = '{victim}'"),
    )
    .await;
    let broken = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(!broken.valid);
    assert_eq!(broken.first_broken_event_id, Some(victim));
}

#[tokio::test]
async fn only_an_admin_verifies_the_chain() {
    let app = TestApp::spawn().await;
    let (agent, manager) = (app.create_user("agent").await, app.create_user("manager").await);
    for who in [&agent, &manager] {
        who.get("/v1/audit/verify").await.expect_problem(403, None);
    }
}

#[tokio::test]
async fn a_tampered_chain_row_is_detected() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let (seq, event): (i64, Uuid) =
        sqlx::query_as("SELECT seq, event_id FROM audit_chain ORDER BY seq DESC LIMIT 1 OFFSET 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    tamper(
        &app,
        "audit_chain",
        format!("UPDATE audit_chain SET chain_hash = sha256('forged') WHERE seq = {seq}"),
    )
    .await;
    let broken = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(!broken.valid);
    assert_eq!(broken.first_broken_event_id, Some(event));
}

#[tokio::test]
async fn links_cut_off_the_end_are_detected_against_an_anchor() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let head = app
        .admin
        .get("/v1/audit/verify")
        .await
        .expect(200)
        .verification()
        .head
        .expect("a head once events are chained");
    let (seq, hash) = (head.seq, head.chain_hash);
    assert_eq!(seq, app.count("SELECT max(seq) FROM audit_chain").await);
    let anchored = format!("/v1/audit/verify?anchor_seq={seq}&anchor_hash={hash}");
    let answer = app.admin.get(&anchored).await.expect(200);
    assert!(answer.verification().valid, "{}", answer.body);

    // The newest link and its event go; the rest of the chain still adds up.
    tamper(
        &app,
        "audit_chain",
        format!("DELETE FROM audit_chain WHERE seq = {seq}"),
    )
    .await;
    let unanchored = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(unanchored.valid, "without an anchor the cut is invisible");
    let answer = app.admin.get(&anchored).await.expect(200);
    let cut = answer.verification();
    assert!(!cut.valid);
    assert!(
        cut.broken_reason.expect("a reason").contains("before the anchor"),
        "{}",
        answer.body
    );

    let wrong = format!(
        "/v1/audit/verify?anchor_seq={}&anchor_hash={}",
        seq - 1,
        "ab".repeat(32)
    );
    let differs = app.admin.get(&wrong).await.expect(200).verification();
    assert!(!differs.valid);
    assert!(
        differs
            .broken_reason
            .expect("a reason")
            .contains("differs from the anchor")
    );
}

#[tokio::test]
async fn a_malformed_anchor_is_named() {
    let app = TestApp::spawn().await;
    let zero = format!("anchor_seq=0&anchor_hash={}", "ab".repeat(32));
    for (query, field) in [
        ("anchor_seq=3", "anchor_hash"),
        ("anchor_hash=abcd", "anchor_seq"),
        ("anchor_seq=3&anchor_hash=abcd", "anchor_hash"),
        (zero.as_str(), "anchor_seq"),
    ] {
        app.admin
            .get(&format!("/v1/audit/verify?{query}"))
            .await
            .expect_problem(422, Some(field));
    }
}
