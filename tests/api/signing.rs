//! What a signature agrees to and whom it counts for: the revision read,
//! active agents only, amounts where money moves, and idempotency keys that
//! belong to the person acting.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User};

fn sign_path(id: &str, action: &str) -> String {
    format!("/v1/proposals/{id}/{action}")
}

#[tokio::test]
async fn a_cosign_of_a_superseded_revision_is_refused_naming_the_current_one() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    // The peer reads revision 1 ("refund 49.99") …
    let read = app
        .get(&format!("/v1/proposals/{id}"), Some(&peer.token))
        .await
        .expect(200);
    assert_eq!(read.body["revision"], 1);
    assert_eq!(read.header("etag"), Some("\"revision-1\""));
    // … the proposer raises it before the peer's co-sign arrives.
    let revised = app
        .patch(
            &format!("/v1/proposals/{id}"),
            Some(&proposer.token),
            &json!({ "resolution": "Refund in full plus a free replacement", "amount_minor": 50000 }),
        )
        .await
        .expect(200);
    assert_eq!(revised.body["revision"], 2);
    assert_eq!(revised.header("etag"), Some("\"revision-2\""));

    for (action, body) in [
        ("cosign", json!({ "revision": 1 })),
        ("decline", json!({ "revision": 1, "reason": "no" })),
    ] {
        let refused = app
            .post(&sign_path(&id, action), Some(&peer.token), &body)
            .await
            .expect_problem(409, None);
        assert_eq!(refused.body["type"], "urn:countersign:problem:revision-changed");
        assert_eq!(refused.body["current_revision"], 2, "{}", refused.body);
    }
    // The same through If-Match with the ETag read.
    let refused = app
        .send(
            app.request(Method::POST, &sign_path(&id, "cosign"), Some(&peer.token))
                .header("if-match", "\"revision-1\"")
                .json(&json!({})),
        )
        .await
        .expect_problem(409, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:revision-changed");
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);

    // Having read revision 2, the peer approves what they saw.
    let approved = app
        .send(
            app.request(Method::POST, &sign_path(&id, "cosign"), Some(&peer.token))
                .header("if-match", "\"revision-2\"")
                .json(&json!({})),
        )
        .await
        .expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["signatures"][0]["revision"], 2);
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
async fn a_signature_without_a_revision_is_a_428_and_a_bad_one_a_422() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    for (action, body) in [("cosign", json!({})), ("decline", json!({ "reason": "no" }))] {
        let missing = app
            .post(&sign_path(&id, action), Some(&peer.token), &body)
            .await
            .expect_problem(428, None);
        assert_eq!(missing.body["type"], "urn:countersign:problem:revision-required");
    }
    let bad = [
        (json!({ "revision": 0 }), None, "revision"),
        (json!({ "revision": "1" }), None, "revision"),
        (json!({}), Some("*"), "If-Match"),
        (json!({}), Some("W/\"revision-1\""), "If-Match"),
        (json!({ "revision": 2 }), Some("\"revision-1\""), "revision"),
    ];
    for (body, if_match, field) in bad {
        let mut request = app.request(Method::POST, &sign_path(&id, "cosign"), Some(&peer.token));
        if let Some(if_match) = if_match {
            request = request.header("if-match", if_match);
        }
        app.send(request.json(&body)).await.expect_problem(422, Some(field));
    }
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    let proposal = app
        .get(&format!("/v1/proposals/{id}"), Some(&peer.token))
        .await
        .expect(200);
    assert_eq!(proposal.body["status"], "pending");
}

#[tokio::test]
async fn two_agents_using_one_integration_key_get_their_own_proposals() {
    let app = TestApp::spawn().await;
    let first = app.create_user_with("agent", json!({ "external_id": "zd-10" })).await;
    let second = app.create_user_with("agent", json!({ "external_id": "zd-11" })).await;
    let peer = app.create_user_with("agent", json!({ "external_id": "zd-12" })).await;
    let (_, token, _) = app.create_integration("zendesk").await;
    let body = json!({
        "category": "refund", "policy_ref": "R-1", "summary": "s", "resolution": "r", "justification": "j",
        "amount_minor": 1000, "currency": "EUR"
    });
    let file_for = |agent: &'static str| {
        app.send(
            app.request(Method::POST, "/v1/proposals", Some(&token))
                .header("countersign-on-behalf-of", agent)
                .header("idempotency-key", "ticket-42")
                .json(&body),
        )
    };
    let for_first = file_for("zd-10").await.expect(201);
    let for_second = file_for("zd-11").await.expect(201);
    assert_eq!(for_second.header("idempotent-replayed"), None, "not agent 10's answer");
    assert_eq!(for_first.body["proposer_id"], first.id.to_string());
    assert_eq!(for_second.body["proposer_id"], second.id.to_string());
    assert_ne!(for_first.id(), for_second.id());
    // Each agent's retry replays their own answer.
    let retried = file_for("zd-11").await.expect(201);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.id(), for_second.id());
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 2);

    // The same key co-signs for one agent and, separately, for another.
    let cosign_for = |agent: &'static str, id: String| {
        app.send(
            app.request(Method::POST, &sign_path(&id, "cosign"), Some(&token))
                .header("countersign-on-behalf-of", agent)
                .header("idempotency-key", "cosign-ticket-42")
                .json(&json!({ "revision": 1 })),
        )
    };
    let by_peer = cosign_for("zd-12", for_first.id()).await.expect(200);
    assert_eq!(by_peer.body["signatures"][0]["employee_id"], peer.id.to_string());
    let by_second = cosign_for("zd-11", for_first.id()).await.expect(409);
    assert_eq!(by_second.header("idempotent-replayed"), None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 1);
    // A person's own key is theirs too: the same key in the agent's own
    // name is a new request, not the integration's.
    let own = app
        .send(
            app.request(Method::POST, "/v1/proposals", Some(&first.token))
                .header("idempotency-key", "ticket-42")
                .json(&body),
        )
        .await
        .expect(201);
    assert_eq!(own.header("idempotent-replayed"), None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 3);
}

#[tokio::test]
async fn a_money_category_without_an_amount_is_a_422_on_filing_and_on_revision() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    for category in ["refund", "fee_waiver", "goodwill_credit"] {
        let refused = app
            .file_proposal(
                &proposer,
                json!({ "category": category, "amount_minor": null, "currency": null }),
            )
            .await
            .expect_problem(422, Some("amount_minor"));
        assert!(
            refused.body["errors"]["amount_minor"]
                .as_str()
                .unwrap()
                .contains(category),
            "{}",
            refused.body
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);

    // A 4,000 EUR refund needs two co-signers; dropping its amount is refused.
    let big = app
        .file_proposal(&proposer, json!({ "amount_minor": 400000 }))
        .await
        .expect(201);
    assert_eq!(big.body["required_cosigners"], 2);
    let path = format!("/v1/proposals/{}", big.id());
    for change in [
        json!({ "amount_minor": null, "currency": null }),
        json!({ "category": "fee_waiver", "amount_minor": null, "currency": null }),
    ] {
        app.patch(&path, Some(&proposer.token), &change)
            .await
            .expect_problem(422, Some("amount_minor"));
    }
    // Categories that move no money take no amount.
    let replacement = app
        .patch(
            &path,
            Some(&proposer.token),
            &json!({ "category": "replacement", "amount_minor": null, "currency": null }),
        )
        .await
        .expect(200);
    assert_eq!(replacement.body["required_cosigners"], 1);
    assert_eq!(replacement.body["revision"], 2);
    let (revision, amount): (i32, Option<i64>) =
        sqlx::query_as("SELECT revision, amount_minor FROM proposals WHERE id = $1")
            .bind(Uuid::parse_str(&big.id()).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((revision, amount), (2, None));
}

async fn set_employee(app: &TestApp, who: &User, change: Value) {
    app.patch(&format!("/v1/employees/{}", who.id), Some(&app.admin.token), &change)
        .await
        .expect(200);
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
        let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
        assert_eq!(app.cosign(gone, &id).await.expect(200).body["endorsements"], 1);
        set_employee(&app, gone, change).await;
        let read = app
            .get(&format!("/v1/proposals/{id}"), Some(&second.token))
            .await
            .expect(200);
        assert_eq!(read.body["endorsements"], 0, "{}", read.body);
        assert_eq!(
            read.body["signatures"].as_array().unwrap().len(),
            1,
            "kept, not counted"
        );
        let one = app.cosign(&second, &id).await.expect(200);
        assert_eq!(
            (one.body["status"].as_str(), one.body["endorsements"].as_u64()),
            (Some("pending"), Some(1))
        );
        let two = app.cosign(&third, &id).await.expect(200);
        assert_eq!(two.body["status"], "approved");
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
    let pending = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    let approved = app.approved_proposal(&proposer, &peer).await;
    let someone_elses = app.file_proposal(&other, json!({})).await.expect(201).id();
    set_employee(&app, &proposer, json!({ "active": false })).await;

    let read = app
        .get(&format!("/v1/proposals/{pending}"), Some(&peer.token))
        .await
        .expect(200);
    assert_eq!(read.body["status"], "withdrawn");
    app.cosign(&peer, &pending).await.expect_problem(409, None);
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
    for (id, status) in [(&approved, "approved"), (&someone_elses, "pending")] {
        let read = app
            .get(&format!("/v1/proposals/{id}"), Some(&peer.token))
            .await
            .expect(200);
        assert_eq!(read.body["status"], status, "{id}");
    }

    // Made a manager: no longer frontline, the same happens.
    let filed = app.file_proposal(&other, json!({})).await.expect(201).id();
    set_employee(&app, &other, json!({ "role": "manager" })).await;
    for id in [&someone_elses, &filed] {
        let read = app
            .get(&format!("/v1/proposals/{id}"), Some(&peer.token))
            .await
            .expect(200);
        assert_eq!(read.body["status"], "withdrawn", "{id}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM review_backlog").await,
        4,
        "withdrawn proposals await review like any decided one"
    );
}
