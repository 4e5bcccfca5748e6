//! The two-person rule, end to end against PostgreSQL: filing, co-signing
//! and declining, revising, withdrawing, expiring and recording outcomes,
//! through the API and, where the API cannot reach, against the schema
//! directly (which must refuse what the domain refuses).

use countersign::domain::proposal::{CustomerOutcome, Decision, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User};

/// An app where proposals need two co-signers, so one signature leaves
/// them pending.
async fn two_signer_app() -> TestApp {
    TestApp::spawn_with(|settings| settings.proposals.default_required_cosigners = 2).await
}

/// A proposal that moves no money: the default co-signer count applies.
fn no_money() -> Value {
    json!({ "category": "replacement", "amount_minor": null, "currency": null })
}

// ------------------------------------------------------- file and co-sign

#[tokio::test]
async fn a_filed_proposal_is_pending_and_waits_in_every_inbox_but_the_proposers() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let filed = proposer.file(json!({})).await.expect(201);
    let id = filed.id();
    assert_eq!(filed.header("location"), Some(format!("/v1/proposals/{id}").as_str()));
    let proposal = filed.proposal();
    assert_eq!(proposal.status, Status::Pending);
    assert_eq!(proposal.required_cosigners, 1);
    assert_eq!(proposal.amount_minor, Some(4999));
    assert_eq!(proposal.proposer_id, proposer.id);

    let inbox = peer.inbox().await.expect(200).proposals();
    assert_eq!(inbox.ids(), vec![id]);
    let own_inbox = proposer.inbox().await.expect(200).proposals();
    assert_eq!(own_inbox.items.len(), 0, "never one's own");
}

#[tokio::test]
async fn a_peers_cosign_approves_the_proposal_with_its_events() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();

    let approved = peer.cosign(&id).await.expect(200).proposal();
    assert_eq!(approved.status, Status::Approved);
    assert!(approved.decided_at.is_some());
    assert_eq!(approved.signatures[0].employee_id, peer.id);
    assert_eq!(approved.signatures[0].decision, Decision::Endorse);
    assert_eq!(
        app.event_types(&id).await,
        vec!["proposal.created", "proposal.cosigned", "proposal.approved"]
    );
    let stored: String = sqlx::query_scalar("SELECT status FROM proposals WHERE id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, "approved");

    let fetched = app.admin.read(&id).await.expect(200).proposal();
    assert_eq!(fetched.status, Status::Approved);
    // The event list is read as JSON: its item type only serializes.
    let events = peer.events(&id).await.expect(200);
    assert_eq!(events.body["items"][2]["type"], "proposal.approved");
    assert_eq!(events.body["items"][2]["actor_employee_id"], peer.id.to_string());
    let inbox = peer.inbox().await.expect(200).proposals();
    assert_eq!(inbox.items.len(), 0, "a decided proposal leaves the inbox");
}

#[tokio::test]
async fn the_proposer_cannot_cosign_even_through_an_integration() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user_with("agent", json!({ "external_id": "zd-9" })).await;
    let id = proposer.file(json!({})).await.expect(201).id();
    proposer.cosign(&id).await.expect_problem(403, None);
    let integration = app.integration("zendesk").await;
    for reference in [proposer.id.to_string(), "zd-9".to_owned()] {
        integration
            .acting_for(reference)
            .cosign_revision(&id, 1)
            .await
            .expect_problem(403, None);
    }
    // Without naming an agent an integration cannot sign at all.
    integration
        .itself()
        .post(&format!("/v1/proposals/{id}/cosign"), &json!({}))
        .await
        .expect_problem(403, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    assert_eq!(app.event_types(&id).await, vec!["proposal.created"]);
}

#[tokio::test]
async fn an_integration_files_and_cosigns_for_agents_and_both_are_recorded() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user_with("agent", json!({ "external_id": "p-1" })).await;
    let peer = app.create_user_with("agent", json!({ "external_id": "p-2" })).await;
    let integration = app.integration("generic").await;
    let filed = integration
        .acting_for("p-1")
        .post(
            "/v1/proposals",
            &json!({
                "category": "replacement", "policy_ref": "FEES-1", "summary": "s", "resolution": "r", "justification": "j"
            }),
        )
        .await
        .expect(201)
        .proposal();
    assert_eq!(filed.proposer_id, proposer.id);
    assert_eq!(filed.filed_via_integration_id, Some(integration.id));
    let approved = integration
        .acting_for("p-2")
        .cosign_revision(&filed.id.to_string(), 1)
        .await
        .expect(200)
        .proposal();
    assert_eq!(approved.status, Status::Approved);
    assert_eq!(approved.signatures[0].employee_id, peer.id);
    assert_eq!(approved.signatures[0].via_integration_id, Some(integration.id));
    let (actor, via): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "SELECT actor_employee_id, via_integration_id FROM audit_events WHERE event_type = 'proposal.approved'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((actor, via), (Some(peer.id), Some(integration.id)));
}

#[tokio::test]
async fn a_manager_cannot_cosign() {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let id = proposer.file(no_money()).await.expect(201).id();
    manager.cosign(&id).await.expect_problem(403, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

#[tokio::test]
async fn a_deactivated_agent_cannot_cosign() {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let leaver = app.create_user("agent").await;
    let id = proposer.file(no_money()).await.expect(201).id();
    app.set_employee(&leaver, json!({ "active": false })).await;
    leaver.cosign(&id).await.expect_problem(401, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

#[tokio::test]
async fn nobody_signs_a_proposal_twice() {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = proposer.file(no_money()).await.expect(201).id();
    let first = peer.cosign(&id).await.expect(200).proposal();
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.endorsements, 1);
    peer.cosign(&id).await.expect_problem(409, None);
    peer.decline(&id, "changed my mind").await.expect_problem(409, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 1);
}

#[tokio::test]
async fn fifty_parallel_cosigns_approve_exactly_once() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peers = app.create_users("agent", 50).await;
    let id = proposer.file(json!({})).await.expect(201).id();
    let calls = peers.iter().map(|peer| peer.cosign(&id));
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        (ok, conflicts),
        (1, 49),
        "statuses: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'proposal.approved'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM proposals WHERE status = 'approved'")
            .await,
        1
    );
}

// ------------------------------------------------------ amounts and policy

#[tokio::test]
async fn amounts_above_the_threshold_need_two_cosigners() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let big = proposer.file(json!({ "amount_minor": 75000 })).await.expect(201);
    assert_eq!(big.proposal().required_cosigners, 2);
    let id = big.id();
    assert_eq!(first.cosign(&id).await.expect(200).proposal().status, Status::Pending);
    assert_eq!(second.cosign(&id).await.expect(200).proposal().status, Status::Approved);
}

#[tokio::test]
async fn amounts_above_the_peer_approval_limit_are_refused() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let refused = proposer
        .file(json!({ "amount_minor": 500001 }))
        .await
        .expect_problem(422, Some("amount_minor"));
    let problem = refused.problem();
    assert!(
        problem
            .detail
            .contains("exceeds the peer-approval limit of 5000.00 EUR"),
        "{}",
        refused.body
    );
    assert!(problem.detail.contains("outside Countersign"), "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
}

#[tokio::test]
async fn amounts_in_a_currency_the_policy_does_not_accept_are_refused() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    proposer
        .file(json!({ "currency": "JPY" }))
        .await
        .expect_problem(422, Some("currency"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
}

// ---------------------------------------------------------------- decline

#[tokio::test]
async fn a_decline_must_give_a_reason() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    peer.post(&format!("/v1/proposals/{id}/decline"), &json!({}))
        .await
        .expect_problem(422, Some("reason"));
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

#[tokio::test]
async fn declines_reject_after_the_configured_count() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    let once = first.decline(&id, "policy is clear here").await.expect(200).proposal();
    assert_eq!(once.status, Status::Pending);
    assert_eq!(once.signatures[0].reason.as_deref(), Some("policy is clear here"));
    let twice = second.decline(&id, "agree with the first").await.expect(200).proposal();
    assert_eq!(twice.status, Status::Rejected);
    assert_eq!(
        app.event_types(&id).await,
        vec![
            "proposal.created",
            "proposal.declined",
            "proposal.declined",
            "proposal.rejected"
        ]
    );
}

// ----------------------------------------------------------------- revise

#[tokio::test]
async fn a_cosmetic_revision_keeps_the_revision_and_its_endorsements() {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = proposer.file(no_money()).await.expect(201).id();
    peer.cosign(&id).await.expect(200);
    let cosmetic = proposer
        .revise(&id, json!({ "summary": "Refund after 46 days" }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(cosmetic.revision, 1);
    assert_eq!(cosmetic.endorsements, 1, "a summary change keeps endorsements");
}

#[tokio::test]
async fn a_material_revision_voids_earlier_endorsements_until_they_are_given_again() {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(no_money()).await.expect(201).id();
    first.cosign(&id).await.expect(200);

    let material = proposer
        .revise(&id, json!({ "resolution": "Refund half" }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(material.revision, 2);
    assert_eq!(material.endorsements, 0, "the earlier endorsement no longer counts");

    assert_eq!(
        second.cosign(&id).await.expect(200).proposal().status,
        Status::Pending,
        "one of two"
    );
    assert_eq!(
        first.cosign(&id).await.expect(200).proposal().status,
        Status::Approved,
        "re-endorsed revision 2"
    );
    let revisions: Vec<i32> = sqlx::query_scalar("SELECT revision FROM signatures ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(revisions, vec![1, 2, 2]);
}

#[tokio::test]
async fn only_the_proposer_revises() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    peer.revise(&id, json!({ "resolution": "x" }))
        .await
        .expect_problem(403, None);
    let unchanged = proposer.read(&id).await.expect(200).proposal();
    assert_eq!(
        (unchanged.revision, unchanged.resolution.as_str()),
        (1, "Refund the order in full")
    );
}

#[tokio::test]
async fn a_decided_proposal_is_not_revised() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    proposer
        .revise(&id, json!({ "resolution": "Refund all" }))
        .await
        .expect_problem(409, None);
    assert_eq!(proposer.read(&id).await.expect(200).proposal().revision, 1);
}

// ---------------------------------------------------------------- withdraw

#[tokio::test]
async fn only_the_proposer_withdraws() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    peer.withdraw(&id).await.expect_problem(403, None);
    assert_eq!(peer.read(&id).await.expect(200).proposal().status, Status::Pending);
}

#[tokio::test]
async fn a_withdrawn_proposal_takes_no_signature_and_no_outcome() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    let withdrawn = proposer.withdraw_because(&id, "solved").await.expect(200).proposal();
    assert_eq!(withdrawn.status, Status::Withdrawn);
    peer.cosign(&id).await.expect_problem(409, None);
    proposer
        .record_outcome(&id, json!({ "executed": true, "customer_outcome": "satisfied" }))
        .await
        .expect_problem(409, None);
}

// ------------------------------------------------------------------ expire

/// An app whose expiry worker stays asleep: the tests run it by hand.
async fn app_with_the_expiry_worker_asleep() -> TestApp {
    TestApp::spawn_with(|settings| settings.proposals.expiry_interval_secs = 3600).await
}

#[tokio::test]
async fn a_proposal_past_its_deadline_reads_as_expired_before_the_worker_runs() {
    let app = app_with_the_expiry_worker_asleep().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let late = proposer.file(json!({})).await.expect(201).id();
    app.let_deadline_pass(Some(&late)).await;
    let read = peer.read(&late).await.expect(200).proposal();
    assert_eq!(read.status, Status::Expired);
    let listed = peer.get("/v1/proposals?status=pending").await.expect(200).proposals();
    assert!(listed.items.iter().all(|p| p.id.to_string() != late));
    let expired = peer.get("/v1/proposals?status=expired").await.expect(200).proposals();
    assert_eq!(
        expired.ids(),
        vec![late.clone()],
        "still stored pending, listed as expired"
    );
    peer.cosign(&late).await.expect_problem(409, None);
}

#[tokio::test]
async fn the_expiry_worker_writes_the_expiry_at_the_deadline() {
    let app = app_with_the_expiry_worker_asleep().await;
    let proposer = app.create_user("agent").await;
    let late = proposer.file(json!({})).await.expect(201).id();
    app.let_deadline_pass(Some(&late)).await;
    let expired = countersign::app::proposals::expire_overdue(&app.state).await.unwrap();
    assert_eq!(expired, 1);
    assert_eq!(
        app.event_types(&late).await,
        vec!["proposal.created", "proposal.expired"]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM proposals WHERE status = 'expired' AND decided_at = expires_at")
            .await,
        1
    );
}

// ---------------------------------------------------------------- outcomes

fn outcome() -> Value {
    json!({ "executed": true, "actual_amount_minor": 4500, "currency": "EUR", "customer_outcome": "satisfied" })
}

#[tokio::test]
async fn an_outcome_waits_for_the_approval() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let id = proposer.file(json!({})).await.expect(201).id();
    proposer.record_outcome(&id, outcome()).await.expect_problem(409, None);
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, 0);
}

#[tokio::test]
async fn only_the_proposer_records_the_outcome() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    peer.record_outcome(&id, outcome()).await.expect_problem(403, None);
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, 0);
}

#[tokio::test]
async fn an_unknown_customer_outcome_is_named() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    proposer
        .record_outcome(&id, json!({ "executed": true, "customer_outcome": "thrilled" }))
        .await
        .expect_problem(422, Some("customer_outcome"));
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, 0);
}

#[tokio::test]
async fn an_outcome_is_recorded_once() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    let recorded = proposer.record_outcome(&id, outcome()).await.expect(200).proposal();
    let recorded = recorded.outcome.expect("the outcome is in the answer");
    assert_eq!(recorded.actual_amount_minor, Some(4500));
    assert_eq!(recorded.customer_outcome, CustomerOutcome::Satisfied);
    proposer.record_outcome(&id, outcome()).await.expect_problem(409, None);
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, 1);
}

// ----------------------------------------------------- idempotency, input

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_a_different_body() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let body = json!({ "category": "replacement", "policy_ref": "R-1", "summary": "s", "resolution": "r", "justification": "j" });
    let send = |body: &Value| {
        app.send(
            proposer
                .request(reqwest::Method::POST, "/v1/proposals")
                .header("idempotency-key", "k-1")
                .json(body),
        )
    };
    let first = send(&body).await.expect(201);
    let again = send(&body).await.expect(201);
    // Byte for byte the first answer: compared as JSON, not as a Proposal.
    assert_eq!(first.body, again.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
    let mut other = body.clone();
    other["summary"] = json!("different");
    send(&other).await.expect_problem(422, Some("Idempotency-Key"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
}

#[tokio::test]
async fn bad_filings_name_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let cases = [
        (json!({ "category": "bribe" }), "category"),
        (json!({ "summary": "" }), "summary"),
        (json!({ "amount_minor": -5 }), "amount_minor"),
        (json!({ "amount_minor": 12.5 }), "amount_minor"),
        (json!({ "currency": "eur" }), "currency"),
        (json!({ "currency": null }), "currency"),
        (json!({ "policy_ref": "x".repeat(201) }), "policy_ref"),
        (json!({ "colour": "red" }), "colour"),
        (json!({ "justification": "fine\u{0}" }), "justification"),
        (json!({ "customer_ref": "\u{0}" }), "customer_ref"),
    ];
    for (overrides, field) in cases {
        proposer.file(overrides).await.expect_problem(422, Some(field));
    }
    // A NUL in a key, not a value: named as JSON escapes it.
    proposer
        .post("/v1/proposals", &json!({ "bad\u{0}key": 1 }))
        .await
        .expect_problem(422, Some("bad\\u0000key"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE subject_type = 'proposal'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_manager_cannot_file() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    manager.file(json!({})).await.expect_problem(403, None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
}

#[tokio::test]
async fn bad_list_filters_are_named() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    for (query, field) in [
        ("status=done", "status"),
        ("from=yesterday", "from"),
        ("policy_ref=R%00", "policy_ref"),
    ] {
        agent
            .get(&format!("/v1/proposals?{query}"))
            .await
            .expect_problem(422, Some(field));
    }
}

#[tokio::test]
async fn cosigning_an_unknown_proposal_is_a_404() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    agent
        .cosign(&Uuid::now_v7().to_string())
        .await
        .expect_problem(404, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

// ------------------------------------------------------------------- lists

/// Alice files a fee waiver, which Bob approves, and a refund; then Bob
/// files a refund. Answers Bob and the ids, oldest first.
async fn three_proposals(app: &TestApp) -> (User, [String; 3]) {
    let (alice, bob) = (app.create_user("agent").await, app.create_user("agent").await);
    let a1 = alice.file(json!({ "category": "fee_waiver" })).await.expect(201).id();
    let a2 = alice.file(json!({})).await.expect(201).id();
    let b1 = bob.file(json!({})).await.expect(201).id();
    bob.cosign(&a1).await.expect(200);
    (bob, [a1, a2, b1])
}

#[tokio::test]
async fn lists_filter_by_category_status_cosigner_and_proposer() {
    let app = TestApp::spawn().await;
    let (bob, [a1, _, b1]) = three_proposals(&app).await;
    let by_category = bob.get("/v1/proposals?category=fee_waiver").await.expect(200);
    assert_eq!(by_category.proposals().items.len(), 1);
    let approved = bob.get("/v1/proposals?status=approved").await.expect(200);
    assert_eq!(approved.proposals().ids()[0], a1);
    let cosigned = bob.get(&format!("/v1/proposals?cosigner={}", bob.id)).await.expect(200);
    assert_eq!(cosigned.proposals().items.len(), 1);
    let by_proposer = bob.get(&format!("/v1/proposals?proposer={}", bob.id)).await.expect(200);
    assert_eq!(by_proposer.proposals().ids()[0], b1);
}

/// A window is `[from, to)` of filing times, to the microsecond, however
/// the list finds its rows.
#[tokio::test]
async fn a_list_window_takes_from_and_leaves_out_to() {
    let app = TestApp::spawn().await;
    let (bob, [_, _, b1]) = three_proposals(&app).await;
    let filed = bob.read(&b1).await.expect(200).proposal().created_at;
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let micro = chrono::Duration::microseconds(1);
    for (query, listed) in [
        (format!("from={}", at(filed)), true),
        (format!("from={}", at(filed + micro)), false),
        (format!("to={}", at(filed)), false),
        (format!("to={}", at(filed + micro)), true),
        (format!("from={}&to={}", at(filed), at(filed + micro)), true),
    ] {
        let page = bob
            .get(&format!("/v1/proposals?{}", query.replace('+', "%2B")))
            .await
            .expect(200)
            .proposals();
        assert_eq!(page.ids().contains(&b1), listed, "{query}");
    }
}

#[tokio::test]
async fn lists_page_newest_first() {
    let app = TestApp::spawn().await;
    let (bob, [a1, _, b1]) = three_proposals(&app).await;
    let first = bob.get("/v1/proposals?limit=2").await.expect(200).proposals();
    assert_eq!(first.ids()[0], b1, "newest first");
    let cursor = first.next_cursor.expect("a next page");
    let second = bob
        .get(&format!("/v1/proposals?limit=2&cursor={cursor}"))
        .await
        .expect(200)
        .proposals();
    assert_eq!(second.ids()[0], a1);
    assert_eq!(second.next_cursor, None);
}

// ------------------------------------------------------------------ schema
//
// What a bug in the application could try, or someone with a database
// login: the schema refuses it on its own.

/// An endorsement inserted by hand, outside the application.
async fn insert_endorsement(
    app: &TestApp,
    proposal: Uuid,
    proposer: &User,
    signer: Uuid,
    revision: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
         VALUES ($1, $2, $3, $4, $5, 'endorse', now())",
    )
    .bind(Uuid::now_v7())
    .bind(proposal)
    .bind(proposer.id)
    .bind(signer)
    .bind(revision)
    .execute(&app.pool)
    .await
    .map(|_| ())
}

/// Two co-signers, so one signature inserted by hand leaves it pending:
/// the app, the proposer, a peer and the proposal.
async fn pending_of_two() -> (TestApp, User, User, Uuid) {
    let app = two_signer_app().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = Uuid::parse_str(&proposer.file(json!({})).await.expect(201).id()).unwrap();
    (app, proposer, peer, id)
}

#[tokio::test]
async fn the_schema_refuses_a_signature_by_the_proposer_or_of_a_revision_yet_to_come() {
    let (app, proposer, peer, id) = pending_of_two().await;
    assert!(
        insert_endorsement(&app, id, &proposer, proposer.id, 1).await.is_err(),
        "self-signature"
    );
    assert!(
        insert_endorsement(&app, id, &proposer, peer.id, 2).await.is_err(),
        "a revision that does not exist yet"
    );
}

#[tokio::test]
async fn the_schema_refuses_a_second_signature_by_the_same_person() {
    let (app, proposer, peer, id) = pending_of_two().await;
    insert_endorsement(&app, id, &proposer, peer.id, 1)
        .await
        .expect("a peer's signature is fine");
    assert!(
        insert_endorsement(&app, id, &proposer, peer.id, 1).await.is_err(),
        "twice"
    );
}

#[tokio::test]
async fn the_schema_refuses_an_approval_that_signatures_did_not_make() {
    let (app, proposer, _, id) = pending_of_two().await;
    let approve_without_signature =
        sqlx::query("UPDATE proposals SET status = 'approved', decided_at = now() WHERE id = $1")
            .bind(id)
            .execute(&app.pool)
            .await;
    assert!(approve_without_signature.is_err());
    let born_approved = sqlx::query(
        "INSERT INTO proposals (id, status, proposer_id, category, policy_ref, summary, resolution, justification,
                                required_cosigners, declines_to_reject, created_at, updated_at, expires_at, decided_at)
         VALUES ($1, 'approved', $2, 'refund', 'R', 's', 'r', 'j', 1, 2, now(), now(), now() + interval '1 hour', now())",
    )
    .bind(Uuid::now_v7())
    .bind(proposer.id)
    .execute(&app.pool)
    .await;
    assert!(
        born_approved.unwrap_err().to_string().contains("filed pending"),
        "approval never comes by inserting it approved"
    );
}

#[tokio::test]
async fn the_schema_refuses_a_material_change_without_a_new_revision() {
    let (app, _, _, id) = pending_of_two().await;
    let edit_in_place = sqlx::query("UPDATE proposals SET resolution = 'something else' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await;
    assert!(edit_in_place.is_err(), "material change without a new revision");
}

#[tokio::test]
async fn signatures_and_audit_events_are_never_deleted_or_edited() {
    let (app, proposer, peer, id) = pending_of_two().await;
    // A row in each table, so that a row trigger has something to refuse.
    insert_endorsement(&app, id, &proposer, peer.id, 1)
        .await
        .expect("a peer's signature is fine");
    assert!(app.count("SELECT count(*) FROM audit_events").await > 0);
    assert!(sqlx::query("DELETE FROM signatures").execute(&app.pool).await.is_err());
    assert!(
        sqlx::query("DELETE FROM audit_events")
            .execute(&app.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("UPDATE audit_events SET payload = '{}'")
            .execute(&app.pool)
            .await
            .is_err()
    );
}

/// Signs by hand, inside the caller's transaction.
async fn insert_signature(
    conn: &mut sqlx::PgConnection,
    proposal: Uuid,
    proposer: Uuid,
    signer: Uuid,
    decision: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, reason, created_at)
         VALUES ($1, $2, $3, $4, 1, $5, CASE WHEN $5 = 'decline' THEN 'no' END, now())",
    )
    .bind(Uuid::now_v7())
    .bind(proposal)
    .bind(proposer)
    .bind(signer)
    .bind(decision)
    .execute(conn)
    .await
    .map(|_| ())
}

async fn approve_by_hand(conn: &mut sqlx::PgConnection, proposal: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE proposals SET status = 'approved', decided_at = now() WHERE id = $1")
        .bind(proposal)
        .execute(conn)
        .await
        .map(|_| ())
}

/// What the schema said when it refused.
#[track_caller]
fn refusal(result: sqlx::Result<()>) -> String {
    result.expect_err("the schema refuses").to_string()
}

/// Files a proposal through the API; answers its id as the schema has it.
async fn filed(proposer: &User, overrides: Value) -> Uuid {
    Uuid::parse_str(&proposer.file(overrides).await.expect(201).id()).unwrap()
}

/// A proposer and three peers, under the default policy: one endorsement
/// approves, two declines reject.
async fn proposer_and_three_peers(app: &TestApp) -> (User, [Uuid; 3]) {
    let proposer = app.create_user("agent").await;
    let peers = app.create_users("agent", 3).await;
    (proposer, [peers[0].id, peers[1].id, peers[2].id])
}

#[tokio::test]
async fn the_schema_decides_on_every_committed_signature() {
    let app = TestApp::spawn().await;
    let (proposer, [first, second, _]) = proposer_and_three_peers(&app).await;
    // One endorsement is enough, so a transaction that adds it and leaves the
    // proposal pending does not commit; nor do enough declines left pending.
    let one = filed(&proposer, json!({})).await;
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, one, proposer.id, first, "endorse")
        .await
        .unwrap();
    assert!(refusal(tx.commit().await).contains("must be approved with the last of them"));
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, one, proposer.id, first, "decline")
        .await
        .unwrap();
    insert_signature(&mut tx, one, proposer.id, second, "decline")
        .await
        .unwrap();
    assert!(refusal(tx.commit().await).contains("must be rejected with the last of them"));
}

#[tokio::test]
async fn the_schema_never_approves_a_proposal_declined_enough() {
    let app = TestApp::spawn().await;
    let (proposer, [first, second, third]) = proposer_and_three_peers(&app).await;
    let one = filed(&proposer, json!({})).await;
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, one, proposer.id, first, "decline")
        .await
        .unwrap();
    insert_signature(&mut tx, one, proposer.id, second, "decline")
        .await
        .unwrap();
    insert_signature(&mut tx, one, proposer.id, third, "endorse")
        .await
        .unwrap();
    assert!(refusal(approve_by_hand(&mut tx, one).await).contains("rejected, never approved"));
}

#[tokio::test]
async fn the_schema_counts_only_active_endorsers_toward_approval() {
    let app = TestApp::spawn().await;
    let (proposer, [first, second, _]) = proposer_and_three_peers(&app).await;
    // Above the threshold: two endorsements approve.
    let two = filed(&proposer, json!({ "amount_minor": 60000 })).await;
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, two, proposer.id, first, "endorse")
        .await
        .unwrap();
    tx.commit().await.expect("one of two endorsements stays pending");
    sqlx::query("UPDATE employees SET active = false WHERE id = $1")
        .bind(first)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, two, proposer.id, second, "endorse")
        .await
        .unwrap();
    assert!(refusal(approve_by_hand(&mut tx, two).await).contains("2 distinct active co-signers"));
    drop(tx);
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, two, proposer.id, second, "endorse")
        .await
        .unwrap();
    tx.commit()
        .await
        .expect("one active endorsement of two is not enough to have to approve");
}

#[tokio::test]
async fn the_schema_approves_nothing_of_a_proposer_no_longer_an_active_agent() {
    let app = TestApp::spawn().await;
    let (proposer, [_, _, third]) = proposer_and_three_peers(&app).await;
    let three = filed(&proposer, json!({})).await;
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE employees SET role = 'manager' WHERE id = $1")
        .bind(proposer.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    insert_signature(&mut tx, three, proposer.id, third, "endorse")
        .await
        .unwrap();
    assert!(refusal(approve_by_hand(&mut tx, three).await).contains("proposer is no longer an active agent"));
}

#[tokio::test]
async fn the_schema_fixes_cosigners_declines_and_deadline_per_revision() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let three = filed(&proposer, json!({})).await;
    for change in [
        "required_cosigners = 3",
        "declines_to_reject = 5",
        "expires_at = expires_at + interval '1 day'",
    ] {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE proposals SET {change} WHERE id = '{three}'"
        )))
        .execute(&app.pool)
        .await
        .map(|_| ());
        assert!(refusal(result).contains("fixed per revision"), "{change}");
    }
    let with_new_revision = sqlx::query(
        "UPDATE proposals SET required_cosigners = 2, revision = 2, resolution = 'Refund half' WHERE id = $1",
    )
    .bind(three)
    .execute(&app.pool)
    .await;
    assert!(with_new_revision.is_ok(), "a new revision may need more co-signers");
}

#[tokio::test]
async fn people_appear_with_their_name_and_team_beside_their_id() {
    let app = TestApp::spawn().await;
    let proposer = app
        .create_user_with("agent", json!({ "name": "Ada Proposer", "team": "billing" }))
        .await;
    let peer = app.create_user_with("agent", json!({ "name": "Bo Peer" })).await;
    let manager = app
        .create_user_with("manager", json!({ "name": "Cy Manager", "team": "floor" }))
        .await;
    let filed = proposer.file(json!({})).await.expect(201).proposal();
    assert_eq!(
        (filed.proposer_name.as_str(), filed.proposer_team.as_deref()),
        ("Ada Proposer", Some("billing"))
    );
    let id = filed.id.to_string();
    let inbox = peer.inbox().await.expect(200).proposals();
    assert_eq!(inbox.items[0].proposer_name, "Ada Proposer", "the inbox says who asks");
    let approved = peer.cosign(&id).await.expect(200).proposal();
    assert_eq!(approved.signatures[0].name, "Bo Peer");
    assert_eq!(approved.signatures[0].team, None);
    let reviewed = manager
        .review(&id, countersign::domain::proposal::Verdict::Endorse, "good call")
        .await
        .expect(200)
        .proposal();
    let review = reviewed.review.expect("reviewed");
    assert_eq!(
        (review.reviewer_name.as_str(), review.reviewer_team.as_deref()),
        ("Cy Manager", Some("floor"))
    );
    let me = proposer.me().await.expect(200);
    assert_eq!(me.body["name"], "Ada Proposer");
    assert_eq!(me.body["team"], "billing");
    assert_eq!(me.body["role"], "agent");
}

#[tokio::test]
async fn any_token_reads_the_policy_a_filing_is_judged_by() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let policy = agent.get("/v1/policy").await.expect(200).body;
    let categories = policy["categories"].as_array().unwrap();
    let refund = categories
        .iter()
        .find(|c| c["name"] == "refund")
        .expect("refund is a category");
    assert_eq!(refund["moves_money"], true);
    let replacement = categories.iter().find(|c| c["name"] == "replacement").unwrap();
    assert_eq!(replacement["moves_money"], false);
    assert_eq!(categories.len(), app.state.policy.categories.len());
    assert_eq!(policy["peer_limits"]["EUR"], 500000);
    let eur = policy["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["currency"] == "EUR")
        .unwrap();
    assert_eq!(
        (eur["above_minor"].as_i64(), eur["required_cosigners"].as_u64()),
        (Some(50000), Some(2))
    );
    assert_eq!(policy["default_required_cosigners"], 1);
    assert_eq!(policy["declines_to_reject"], 2);
    assert_eq!(policy["max_revisions"], 20);

    // What it says is what a filing meets: a category it lists is taken,
    // one it does not is refused naming the field.
    agent.file(json!({ "category": "replacement" })).await.expect(201);
    let refused = agent
        .file(json!({ "category": "teleport" }))
        .await
        .expect(422)
        .problem();
    assert!(
        refused
            .errors
            .as_ref()
            .is_some_and(|errors| errors.contains_key("category")),
        "{refused:?}"
    );

    app.get("/v1/policy", None).await.expect(401);
}
