//! What a signature agrees to and whom it counts for: the revision read,
//! active agents only, amounts where money moves, and idempotency keys that
//! belong to the person acting.

use countersign::domain::proposal::Status;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, User};

fn sign_path(id: &str, action: &str) -> String {
    format!("/v1/proposals/{id}/{action}")
}

/// A co-sign naming the revision read through `If-Match`, as a client
/// holding the ETag of its last read does.
async fn cosign_if_match(signer: &User, id: &str, etag: &str) -> Answer {
    Answer::of(
        signer
            .request(Method::POST, &sign_path(id, "cosign"))
            .header("if-match", etag)
            .json(&json!({})),
    )
    .await
}

/// A proposal the peer read at revision 1 and the proposer then raised to
/// revision 2 before the peer's signature arrived; answers its id.
async fn revised_after_the_peer_read_it(proposer: &User, peer: &User) -> String {
    let id = proposer.file(json!({})).await.expect(201).id();
    // The peer reads revision 1 ("refund 49.99") …
    let read = peer.read(&id).await.expect(200);
    assert_eq!(read.proposal().revision, 1);
    assert_eq!(read.header("etag"), Some("\"revision-1\""));
    // … the proposer raises it before the peer's co-sign arrives.
    let revised = proposer
        .revise(
            &id,
            json!({ "resolution": "Refund in full plus a free replacement", "amount_minor": 50000 }),
        )
        .await
        .expect(200);
    assert_eq!(revised.proposal().revision, 2);
    assert_eq!(revised.header("etag"), Some("\"revision-2\""));
    id
}

#[tokio::test]
async fn a_signature_of_a_superseded_revision_is_refused_naming_the_current_one() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = revised_after_the_peer_read_it(&proposer, &peer).await;

    for (action, body) in [
        ("cosign", json!({ "revision": 1 })),
        ("decline", json!({ "revision": 1, "reason": "no" })),
    ] {
        let refused = peer
            .post(&sign_path(&id, action), &body)
            .await
            .expect_problem(409, None);
        let problem = refused.problem();
        assert_eq!(problem.problem_type, "urn:countersign:problem:revision-changed");
        assert_eq!(problem.current_revision, Some(2), "{}", refused.body);
    }
    // The same through If-Match with the ETag read.
    let refused = cosign_if_match(&peer, &id, "\"revision-1\"")
        .await
        .expect_problem(409, None);
    assert_eq!(
        refused.problem().problem_type,
        "urn:countersign:problem:revision-changed"
    );
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

#[tokio::test]
async fn a_signature_through_if_match_signs_the_revision_read() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = revised_after_the_peer_read_it(&proposer, &peer).await;

    // Having read revision 2, the peer approves what they saw.
    let approved = cosign_if_match(&peer, &id, "\"revision-2\"")
        .await
        .expect(200)
        .proposal();
    assert_eq!(approved.status, Status::Approved);
    assert_eq!(approved.signatures[0].revision, 2);
    assert_eq!(
        app.event_types(&id).await,
        vec![
            "proposal.created",
            "proposal.revised",
            "proposal.cosigned",
            "proposal.approved"
        ]
    );
}

#[tokio::test]
async fn a_signature_naming_no_revision_is_a_428() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    for (action, body) in [("cosign", json!({})), ("decline", json!({ "reason": "no" }))] {
        let missing = peer
            .post(&sign_path(&id, action), &body)
            .await
            .expect_problem(428, None);
        assert_eq!(
            missing.problem().problem_type,
            "urn:countersign:problem:revision-required"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    assert_eq!(peer.read(&id).await.expect(200).proposal().status, Status::Pending);
}

#[tokio::test]
async fn a_malformed_revision_is_a_422_naming_where_it_came_from() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    let bad = [
        (json!({ "revision": 0 }), None, "revision"),
        (json!({ "revision": "1" }), None, "revision"),
        (json!({}), Some("*"), "If-Match"),
        (json!({}), Some("W/\"revision-1\""), "If-Match"),
    ];
    for (body, if_match, field) in bad {
        let mut request = peer.request(Method::POST, &sign_path(&id, "cosign"));
        if let Some(if_match) = if_match {
            request = request.header("if-match", if_match);
        }
        Answer::of(request.json(&body)).await.expect_problem(422, Some(field));
    }
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    assert_eq!(peer.read(&id).await.expect(200).proposal().status, Status::Pending);
}

#[tokio::test]
async fn a_body_revision_and_an_if_match_must_both_be_the_current_revision() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({})).await.expect(201).id();
    // Each names a revision read; one of them is not the current one.
    for (body, if_match) in [(2, "\"revision-1\""), (1, "\"revision-2\"")] {
        let request = peer
            .request(Method::POST, &sign_path(&id, "cosign"))
            .header("if-match", if_match)
            .json(&json!({ "revision": body }));
        let refused = Answer::of(request).await.expect_problem(409, None).problem();
        assert_eq!(refused.problem_type, "urn:countersign:problem:revision-changed");
        assert_eq!(refused.current_revision, Some(1));
    }
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    let agreeing = peer
        .request(Method::POST, &sign_path(&id, "cosign"))
        .header("if-match", "\"revision-1\"")
        .json(&json!({ "revision": 1 }));
    assert_eq!(
        Answer::of(agreeing).await.expect(200).proposal().status,
        Status::Approved
    );
}

/// A refund as a helpdesk files it for whichever agent it acts for.
fn helpdesk_filing() -> Value {
    json!({
        "category": "refund", "policy_ref": "R-1", "summary": "s", "resolution": "r", "justification": "j",
        "amount_minor": 1000, "currency": "EUR"
    })
}

/// Sends `request` under the given idempotency key.
async fn with_key(request: reqwest::RequestBuilder, key: &str) -> Answer {
    Answer::of(request.header("idempotency-key", key)).await
}

#[tokio::test]
async fn two_agents_using_one_integration_key_get_their_own_proposals() {
    let app = TestApp::spawn().await;
    let first = app.create_user_with("agent", json!({ "external_id": "zd-10" })).await;
    let second = app.create_user_with("agent", json!({ "external_id": "zd-11" })).await;
    let integration = app.integration("zendesk").await;
    let file_for = |agent: &'static str| {
        with_key(
            integration
                .acting_for(agent)
                .request(Method::POST, "/v1/proposals")
                .json(&helpdesk_filing()),
            "ticket-42",
        )
    };
    let for_first = file_for("zd-10").await.expect(201);
    let for_second = file_for("zd-11").await.expect(201);
    assert_eq!(for_second.header("idempotent-replayed"), None, "not agent 10's answer");
    assert_eq!(for_first.proposal().proposer_id, first.id);
    assert_eq!(for_second.proposal().proposer_id, second.id);
    assert_ne!(for_first.id(), for_second.id());
    // Each agent's retry replays their own answer.
    let retried = file_for("zd-11").await.expect(201);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.id(), for_second.id());
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 2);
}

#[tokio::test]
async fn two_agents_using_one_integration_key_cosign_separately() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user_with("agent", json!({ "external_id": "zd-10" })).await;
    app.create_user_with("agent", json!({ "external_id": "zd-11" })).await;
    let peer = app.create_user_with("agent", json!({ "external_id": "zd-12" })).await;
    let integration = app.integration("zendesk").await;
    let id = proposer.file(helpdesk_filing()).await.expect(201).id();

    // The same key co-signs for one agent and, separately, for another.
    let cosign_for = |agent: &'static str| {
        with_key(
            integration
                .acting_for(agent)
                .request(Method::POST, &sign_path(&id, "cosign"))
                .json(&json!({ "revision": 1 })),
            "cosign-ticket-42",
        )
    };
    let by_peer = cosign_for("zd-12").await.expect(200);
    assert_eq!(by_peer.proposal().signatures[0].employee_id, peer.id);
    let by_second = cosign_for("zd-11").await.expect(409);
    assert_eq!(by_second.header("idempotent-replayed"), None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 1);
}

#[tokio::test]
async fn a_persons_own_idempotency_key_is_not_the_integrations() {
    let app = TestApp::spawn().await;
    let agent = app.create_user_with("agent", json!({ "external_id": "zd-10" })).await;
    let integration = app.integration("zendesk").await;
    let through_integration = with_key(
        integration
            .acting_for("zd-10")
            .request(Method::POST, "/v1/proposals")
            .json(&helpdesk_filing()),
        "ticket-42",
    )
    .await
    .expect(201);
    assert_eq!(through_integration.proposal().proposer_id, agent.id);
    // The same key in the agent's own name is a new request, not the
    // integration's.
    let own = with_key(
        agent.request(Method::POST, "/v1/proposals").json(&helpdesk_filing()),
        "ticket-42",
    )
    .await
    .expect(201);
    assert_eq!(own.header("idempotent-replayed"), None);
    assert_ne!(own.id(), through_integration.id());
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 2);
}

#[tokio::test]
async fn a_money_category_without_an_amount_is_refused_on_filing() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    for category in ["refund", "fee_waiver", "goodwill_credit"] {
        let refused = proposer
            .file(json!({ "category": category, "amount_minor": null, "currency": null }))
            .await
            .expect_problem(422, Some("amount_minor"));
        let errors = refused.problem().errors.expect("field errors");
        assert!(errors["amount_minor"].contains(category), "{}", refused.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
}

/// A 4,000 EUR refund, which needs two co-signers; answers its id.
async fn a_big_refund(proposer: &User) -> String {
    let big = proposer.file(json!({ "amount_minor": 400000 })).await.expect(201);
    assert_eq!(big.proposal().required_cosigners, 2);
    big.id()
}

#[tokio::test]
async fn a_revision_dropping_the_amount_of_a_money_category_is_refused() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let id = a_big_refund(&proposer).await;
    for change in [
        json!({ "amount_minor": null, "currency": null }),
        json!({ "category": "fee_waiver", "amount_minor": null, "currency": null }),
    ] {
        proposer
            .revise(&id, change)
            .await
            .expect_problem(422, Some("amount_minor"));
    }
    let unchanged = proposer.read(&id).await.expect(200).proposal();
    assert_eq!((unchanged.revision, unchanged.amount_minor), (1, Some(400000)));
}

#[tokio::test]
async fn a_revision_into_a_category_that_moves_no_money_drops_the_amount() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let id = a_big_refund(&proposer).await;
    let replacement = proposer
        .revise(
            &id,
            json!({ "category": "replacement", "amount_minor": null, "currency": null }),
        )
        .await
        .expect(200)
        .proposal();
    assert_eq!(replacement.required_cosigners, 1);
    assert_eq!(replacement.revision, 2);
    let (revision, amount): (i32, Option<i64>) =
        sqlx::query_as("SELECT revision, amount_minor FROM proposals WHERE id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((revision, amount), (2, None));
}

#[tokio::test]
async fn an_endorsement_by_someone_deactivated_or_promoted_since_does_not_count() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let proposer = app.create_user("agent").await;
    let (leaver, promoted, second, third) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    for (gone, change) in [
        (&leaver, json!({ "active": false })),
        (&promoted, json!({ "role": "manager" })),
    ] {
        let id = proposer.file(json!({})).await.expect(201).id();
        assert_eq!(gone.cosign(&id).await.expect(200).proposal().endorsements, 1);
        app.set_employee(gone, change).await;
        let answer = second.read(&id).await.expect(200);
        let read = answer.proposal();
        assert_eq!(read.endorsements, 0, "{}", answer.body);
        assert_eq!(read.signatures.len(), 1, "kept, not counted");
        let one = second.cosign(&id).await.expect(200).proposal();
        assert_eq!((one.status, one.endorsements), (Status::Pending, 1));
        let two = third.cosign(&id).await.expect(200).proposal();
        assert_eq!(two.status, Status::Approved);
        let recorded: Value = sqlx::query_scalar(
            "SELECT payload->'signers' FROM audit_events WHERE subject_id = $1 AND event_type = 'proposal.approved'",
        )
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            recorded,
            json!([second.id, third.id]),
            "the approval names the endorsements that counted"
        );
    }
}

#[tokio::test]
async fn deactivating_a_proposer_withdraws_their_pending_proposals_with_a_reason() {
    let app = TestApp::spawn().await;
    let (proposer, other, peer) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let pending = proposer.file(json!({})).await.expect(201).id();
    let approved = app.approved_proposal(&proposer, &peer).await;
    let someone_elses = other.file(json!({})).await.expect(201).id();
    app.set_employee(&proposer, json!({ "active": false })).await;

    let read = peer.read(&pending).await.expect(200).proposal();
    assert_eq!(read.status, Status::Withdrawn);
    peer.cosign(&pending).await.expect_problem(409, None);
    let (actor, reason): (Option<Uuid>, String) = sqlx::query_as(
        "SELECT actor_employee_id, payload->>'reason' FROM audit_events
         WHERE subject_id = $1 AND event_type = 'proposal.withdrawn'",
    )
    .bind(Uuid::parse_str(&pending).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, Some(app.admin.id), "the admin's change did it");
    assert_eq!(reason, "the proposer was deactivated");
    for (id, status) in [(&approved, Status::Approved), (&someone_elses, Status::Pending)] {
        let read = peer.read(id).await.expect(200).proposal();
        assert_eq!(read.status, status, "{id}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM review_backlog").await,
        2,
        "withdrawn proposals await review like any decided one"
    );
}

#[tokio::test]
async fn promoting_a_proposer_to_manager_withdraws_their_pending_proposals() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let filed = [
        proposer.file(json!({})).await.expect(201).id(),
        proposer.file(json!({})).await.expect(201).id(),
    ];
    // Made a manager: no longer frontline, the same happens.
    app.set_employee(&proposer, json!({ "role": "manager" })).await;
    for id in &filed {
        let read = peer.read(id).await.expect(200).proposal();
        assert_eq!(read.status, Status::Withdrawn, "{id}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM review_backlog").await,
        2,
        "withdrawn proposals await review like any decided one"
    );
}
