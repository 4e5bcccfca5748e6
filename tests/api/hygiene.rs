//! Input a person cannot see through: text made only of invisible
//! characters, direction changes and line breaks in one-line fields, the
//! same email written two ways, an outcome in another currency or beyond
//! any limit, a proposal revised without end.

use countersign::domain::proposal::Status;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn one_line_fields_refuse_line_breaks_and_direction_changes_and_texts_must_show_something() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    for (overrides, field) in [
        (json!({ "summary": "refund\nand more" }), "summary"),
        (json!({ "summary": "\u{200b}\u{200b}\u{feff}" }), "summary"),
        (json!({ "policy_ref": "REF\u{202e}7" }), "policy_ref"),
        (json!({ "customer_ref": "C\u{2066}1" }), "customer_ref"),
        (json!({ "resolution": "\u{200b}" }), "resolution"),
    ] {
        agent.file(overrides).await.expect_problem(422, Some(field));
    }
    // Several lines are fine where a text is meant to have them.
    let filed = agent
        .file(json!({ "justification": "First line.\nSecond line." }))
        .await
        .expect(201)
        .proposal();
    assert_eq!(filed.justification, "First line.\nSecond line.");
    for (body, field) in [
        (
            json!({ "name": "Eve\u{202e}lyn", "email": "eve@example.com", "role": "agent" }),
            "name",
        ),
        (
            json!({ "name": "Eve", "email": "eve@example.com", "role": "agent", "team": "a\nb" }),
            "team",
        ),
    ] {
        app.admin
            .post("/v1/employees", &body)
            .await
            .expect_problem(422, Some(field));
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
}

#[tokio::test]
async fn the_same_email_written_two_ways_is_one_person() {
    let app = TestApp::spawn().await;
    let composed = json!({ "name": "René", "email": "ren\u{e9}@example.com", "role": "agent" });
    let created = app.admin.post("/v1/employees", &composed).await.expect(201).employee();
    assert_eq!(created.email, "ren\u{e9}@example.com");
    let decomposed = json!({ "name": "René", "email": "rene\u{301}@EXAMPLE.com", "role": "agent" });
    let taken = app
        .admin
        .post("/v1/employees", &decomposed)
        .await
        .expect_problem(409, Some("email"));
    assert_eq!(taken.problem().problem_type, "urn:countersign:problem:email-taken");
}

#[tokio::test]
async fn an_outcome_is_paid_in_the_approved_currency_and_within_what_peers_may_approve() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    for (outcome, field, kind) in [
        (
            json!({ "executed": true, "customer_outcome": "satisfied", "actual_amount_minor": 999_999_999_999_999_i64, "currency": "EUR" }),
            "actual_amount_minor",
            "exceeds-peer-limit",
        ),
        (
            json!({ "executed": true, "customer_outcome": "satisfied", "actual_amount_minor": 1000, "currency": "USD" }),
            "currency",
            "outcome-currency",
        ),
    ] {
        let refused = proposer
            .record_outcome(&id, outcome)
            .await
            .expect_problem(422, Some(field));
        assert_eq!(
            refused.problem().problem_type,
            format!("urn:countersign:problem:{kind}")
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, 0);
    let paid =
        json!({ "executed": true, "customer_outcome": "satisfied", "actual_amount_minor": 5200, "currency": "EUR" });
    let recorded = proposer.record_outcome(&id, paid).await.expect(200).proposal();
    assert_eq!(recorded.outcome.unwrap().actual_amount_minor, Some(5200));
}

#[tokio::test]
async fn a_proposal_is_revised_at_most_the_allowed_number_of_times_and_each_keeps_only_its_changes() {
    let app = TestApp::spawn_with(|s| s.proposals.max_revisions = 2).await;
    let proposer = app.create_user("agent").await;
    let id = proposer.file(json!({})).await.expect(201).id();
    proposer.revise(&id, json!({ "summary": "first" })).await.expect(200);
    proposer
        .revise(&id, json!({ "resolution": "Refund half" }))
        .await
        .expect(200);
    let refused = proposer
        .revise(&id, json!({ "summary": "third" }))
        .await
        .expect_problem(409, None)
        .problem();
    assert_eq!(refused.problem_type, "urn:countersign:problem:too-many-revisions");
    let read = proposer.read(&id).await.expect(200).proposal();
    assert_eq!((read.status, read.summary.as_str()), (Status::Pending, "first"));
    let changed: serde_json::Value = sqlx::query_scalar(
        "SELECT payload->'changed' FROM audit_events WHERE event_type = 'proposal.revised' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let fields: Vec<&str> = changed.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, vec!["resolution", "revision"], "{changed}");
    assert_eq!(changed["resolution"]["after"], "Refund half");
}
