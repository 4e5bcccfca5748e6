//! The two-person rule, end to end against PostgreSQL.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User};

#[tokio::test]
async fn file_then_cosign_approves_with_events() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let filed = app.file_proposal(&proposer, json!({})).await.expect(201);
    let id = filed.id();
    assert_eq!(filed.header("location"), Some(format!("/v1/proposals/{id}").as_str()));
    assert_eq!(filed.body["status"], "pending");
    assert_eq!(filed.body["required_cosigners"], 1);
    assert_eq!(filed.body["amount_minor"], 4999);
    assert_eq!(filed.body["proposer_id"], proposer.id.to_string());

    let inbox = app.get("/v1/inbox", Some(&peer.token)).await.expect(200);
    assert_eq!(inbox.body["items"][0]["id"], id.as_str());
    let own_inbox = app.get("/v1/inbox", Some(&proposer.token)).await.expect(200);
    assert_eq!(own_inbox.body["items"].as_array().unwrap().len(), 0, "never one's own");

    let approved = app.cosign(&peer, &id).await.expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert!(approved.body["decided_at"].is_string());
    assert_eq!(approved.body["signatures"][0]["employee_id"], peer.id.to_string());
    assert_eq!(approved.body["signatures"][0]["decision"], "endorse");
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

    let fetched = app
        .get(&format!("/v1/proposals/{id}"), Some(&app.admin.token))
        .await
        .expect(200);
    assert_eq!(fetched.body["status"], "approved");
    let events = app
        .get(&format!("/v1/proposals/{id}/events"), Some(&peer.token))
        .await
        .expect(200);
    assert_eq!(events.body["items"][2]["type"], "proposal.approved");
    assert_eq!(events.body["items"][2]["actor_employee_id"], peer.id.to_string());
    let inbox = app.get("/v1/inbox", Some(&peer.token)).await.expect(200);
    assert_eq!(inbox.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_proposer_cannot_cosign_even_through_an_integration() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user_with("agent", json!({ "external_id": "zd-9" })).await;
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.cosign(&proposer, &id).await.expect_problem(403, None);
    let (_, integration, _) = app.create_integration("zendesk").await;
    for reference in [proposer.id.to_string(), "zd-9".to_owned()] {
        app.send(
            app.request(
                reqwest::Method::POST,
                &format!("/v1/proposals/{id}/cosign"),
                Some(&integration),
            )
            .header("countersign-on-behalf-of", reference)
            .json(&json!({ "revision": 1 })),
        )
        .await
        .expect_problem(403, None);
    }
    // Without naming an agent an integration cannot sign at all.
    app.post(&format!("/v1/proposals/{id}/cosign"), Some(&integration), &json!({}))
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
    let (integration_id, token, _) = app.create_integration("generic").await;
    let as_agent = |agent: &str, method: reqwest::Method, path: String, body: Value| {
        app.request(method, &path, Some(&token))
            .header("countersign-on-behalf-of", agent)
            .json(&body)
    };
    let filed = app
        .send(as_agent("p-1", reqwest::Method::POST, "/v1/proposals".into(), json!({
            "category": "replacement", "policy_ref": "FEES-1", "summary": "s", "resolution": "r", "justification": "j"
        })))
        .await
        .expect(201);
    assert_eq!(filed.body["proposer_id"], proposer.id.to_string());
    assert_eq!(filed.body["filed_via_integration_id"], integration_id.to_string());
    let id = filed.id();
    let approved = app
        .send(as_agent(
            "p-2",
            reqwest::Method::POST,
            format!("/v1/proposals/{id}/cosign"),
            json!({ "revision": 1 }),
        ))
        .await
        .expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["signatures"][0]["employee_id"], peer.id.to_string());
    assert_eq!(
        approved.body["signatures"][0]["via_integration_id"],
        integration_id.to_string()
    );
    let (actor, via): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "SELECT actor_employee_id, via_integration_id FROM audit_events WHERE event_type = 'proposal.approved'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((actor, via), (Some(peer.id), Some(integration_id)));
}

#[tokio::test]
async fn managers_and_inactive_agents_cannot_cosign_and_nobody_signs_twice() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let proposer = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let leaver = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = app
        .file_proposal(
            &proposer,
            json!({ "category": "replacement", "amount_minor": null, "currency": null }),
        )
        .await
        .expect(201)
        .id();
    app.cosign(&manager, &id).await.expect_problem(403, None);
    app.patch(
        &format!("/v1/employees/{}", leaver.id),
        Some(&app.admin.token),
        &json!({ "active": false }),
    )
    .await
    .expect(200);
    app.cosign(&leaver, &id).await.expect_problem(401, None);
    let first = app.cosign(&peer, &id).await.expect(200);
    assert_eq!(first.body["status"], "pending");
    assert_eq!(first.body["endorsements"], 1);
    app.cosign(&peer, &id).await.expect_problem(409, None);
    app.decline(&peer, &id, "changed my mind")
        .await
        .expect_problem(409, None);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 1);
}

#[tokio::test]
async fn fifty_parallel_cosigns_approve_exactly_once() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let mut peers: Vec<User> = Vec::new();
    for _ in 0..50 {
        peers.push(app.create_user("agent").await);
    }
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    let calls = peers.iter().map(|peer| app.cosign(peer, &id));
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

#[tokio::test]
async fn amounts_above_the_threshold_need_two_cosigners_and_above_the_limit_are_refused() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let big = app
        .file_proposal(&proposer, json!({ "amount_minor": 75000 }))
        .await
        .expect(201);
    assert_eq!(big.body["required_cosigners"], 2);
    let id = big.id();
    assert_eq!(app.cosign(&first, &id).await.expect(200).body["status"], "pending");
    assert_eq!(app.cosign(&second, &id).await.expect(200).body["status"], "approved");

    let before = app.count("SELECT count(*) FROM proposals").await;
    let refused = app
        .file_proposal(&proposer, json!({ "amount_minor": 500001 }))
        .await
        .expect_problem(422, Some("amount_minor"));
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("exceeds peer-approval limit"),
        "{}",
        refused.body
    );
    app.file_proposal(&proposer, json!({ "currency": "JPY" }))
        .await
        .expect_problem(422, Some("currency"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, before);
}

#[tokio::test]
async fn declines_reject_after_the_configured_count() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.post(&format!("/v1/proposals/{id}/decline"), Some(&first.token), &json!({}))
        .await
        .expect_problem(422, Some("reason"));
    let once = app.decline(&first, &id, "policy is clear here").await.expect(200);
    assert_eq!(once.body["status"], "pending");
    assert_eq!(once.body["signatures"][0]["reason"], "policy is clear here");
    let twice = app.decline(&second, &id, "agree with the first").await.expect(200);
    assert_eq!(twice.body["status"], "rejected");
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

#[tokio::test]
async fn a_material_revision_voids_earlier_endorsements_and_others_do_not() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app
        .file_proposal(
            &proposer,
            json!({ "category": "replacement", "amount_minor": null, "currency": null }),
        )
        .await
        .expect(201)
        .id();
    app.cosign(&first, &id).await.expect(200);

    let path = format!("/v1/proposals/{id}");
    let cosmetic = app
        .patch(
            &path,
            Some(&proposer.token),
            &json!({ "summary": "Refund after 46 days" }),
        )
        .await
        .expect(200);
    assert_eq!(cosmetic.body["revision"], 1);
    assert_eq!(cosmetic.body["endorsements"], 1, "a summary change keeps endorsements");

    app.patch(&path, Some(&first.token), &json!({ "resolution": "x" }))
        .await
        .expect_problem(403, None);
    let material = app
        .patch(&path, Some(&proposer.token), &json!({ "resolution": "Refund half" }))
        .await
        .expect(200);
    assert_eq!(material.body["revision"], 2);
    assert_eq!(
        material.body["endorsements"], 0,
        "the earlier endorsement no longer counts"
    );

    assert_eq!(
        app.cosign(&second, &id).await.expect(200).body["status"],
        "pending",
        "one of two"
    );
    assert_eq!(
        app.cosign(&first, &id).await.expect(200).body["status"],
        "approved",
        "re-endorsed revision 2"
    );
    app.patch(&path, Some(&proposer.token), &json!({ "resolution": "Refund all" }))
        .await
        .expect_problem(409, None);
    let revisions: Vec<i32> = sqlx::query_scalar("SELECT revision FROM signatures ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(revisions, vec![1, 2, 2]);
}

#[tokio::test]
async fn the_schema_refuses_what_the_domain_refuses() {
    // Two co-signers, so one signature inserted by hand leaves it pending.
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = Uuid::parse_str(&app.file_proposal(&proposer, json!({})).await.expect(201).id()).unwrap();
    let insert = |employee: Uuid, revision: i32| {
        sqlx::query(
            "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
             VALUES ($1, $2, $3, $4, $5, 'endorse', now())",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(proposer.id)
        .bind(employee)
        .bind(revision)
        .execute(&app.pool)
    };
    assert!(insert(proposer.id, 1).await.is_err(), "self-signature");
    assert!(insert(peer.id, 2).await.is_err(), "a revision that does not exist yet");
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
    let edit_in_place = sqlx::query("UPDATE proposals SET resolution = 'something else' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await;
    assert!(edit_in_place.is_err(), "material change without a new revision");
    insert(peer.id, 1).await.expect("a peer's signature is fine");
    assert!(insert(peer.id, 1).await.is_err(), "twice");
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

#[tokio::test]
async fn the_schema_decides_on_every_committed_signature_and_counts_only_active_agents() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let people = [
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    ];
    let [first, second, third] = [people[0].id, people[1].id, people[2].id];
    let file = |overrides: Value| {
        let app = &app;
        let proposer = &proposer;
        async move { Uuid::parse_str(&app.file_proposal(proposer, overrides).await.expect(201).id()).unwrap() }
    };
    let message = |result: sqlx::Result<()>| result.expect_err("the schema refuses").to_string();

    // One endorsement is enough, so a transaction that adds it and leaves the
    // proposal pending does not commit; nor do enough declines left pending.
    let one = file(json!({})).await;
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, one, proposer.id, first, "endorse")
        .await
        .unwrap();
    assert!(message(tx.commit().await).contains("must be approved with the last of them"));
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, one, proposer.id, first, "decline")
        .await
        .unwrap();
    insert_signature(&mut tx, one, proposer.id, second, "decline")
        .await
        .unwrap();
    assert!(message(tx.commit().await).contains("must be rejected with the last of them"));

    // Enough declines, plus an endorsement: never approved.
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
    assert!(message(approve_by_hand(&mut tx, one).await).contains("rejected, never approved"));
    drop(tx);

    // An endorser deactivated since does not count toward approval.
    let two = file(json!({ "amount_minor": 60000 })).await;
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
    assert!(message(approve_by_hand(&mut tx, two).await).contains("2 distinct active co-signers"));
    drop(tx);
    let mut tx = app.pool.begin().await.unwrap();
    insert_signature(&mut tx, two, proposer.id, second, "endorse")
        .await
        .unwrap();
    tx.commit()
        .await
        .expect("one active endorsement of two is not enough to have to approve");

    // A proposer who is no longer an active agent has nothing approved.
    let three = file(json!({})).await;
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE employees SET role = 'manager' WHERE id = $1")
        .bind(proposer.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    insert_signature(&mut tx, three, proposer.id, third, "endorse")
        .await
        .unwrap();
    assert!(message(approve_by_hand(&mut tx, three).await).contains("proposer is no longer an active agent"));
    drop(tx);

    // What a revision fixes cannot change within it.
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
        assert!(message(result).contains("fixed per revision"), "{change}");
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
async fn withdraw_expiry_and_outcomes() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;

    let withdrawn = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.post(
        &format!("/v1/proposals/{withdrawn}/withdraw"),
        Some(&peer.token),
        &json!({}),
    )
    .await
    .expect_problem(403, None);
    let answer = app
        .post(
            &format!("/v1/proposals/{withdrawn}/withdraw"),
            Some(&proposer.token),
            &json!({ "reason": "solved" }),
        )
        .await
        .expect(200);
    assert_eq!(answer.body["status"], "withdrawn");
    app.cosign(&peer, &withdrawn).await.expect_problem(409, None);
    app.post(
        &format!("/v1/proposals/{withdrawn}/outcome"),
        Some(&proposer.token),
        &json!({ "executed": true, "customer_outcome": "satisfied" }),
    )
    .await
    .expect_problem(409, None);

    // A deadline in the past: reads say expired before the worker runs.
    let late = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.let_deadline_pass(Some(&late)).await;
    let read = app
        .get(&format!("/v1/proposals/{late}"), Some(&peer.token))
        .await
        .expect(200);
    assert_eq!(read.body["status"], "expired");
    let listed = app
        .get("/v1/proposals?status=pending", Some(&peer.token))
        .await
        .expect(200);
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != late.as_str())
    );
    app.cosign(&peer, &late).await.expect_problem(409, None);
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

    let approved = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    let outcome_path = format!("/v1/proposals/{approved}/outcome");
    let outcome =
        json!({ "executed": true, "actual_amount_minor": 4500, "currency": "EUR", "customer_outcome": "satisfied" });
    app.post(&outcome_path, Some(&proposer.token), &outcome)
        .await
        .expect_problem(409, None);
    app.cosign(&peer, &approved).await.expect(200);
    app.post(&outcome_path, Some(&peer.token), &outcome)
        .await
        .expect_problem(403, None);
    app.post(
        &outcome_path,
        Some(&proposer.token),
        &json!({ "executed": true, "customer_outcome": "thrilled" }),
    )
    .await
    .expect_problem(422, Some("customer_outcome"));
    let recorded = app
        .post(&outcome_path, Some(&proposer.token), &outcome)
        .await
        .expect(200);
    assert_eq!(recorded.body["outcome"]["actual_amount_minor"], 4500);
    app.post(&outcome_path, Some(&proposer.token), &outcome)
        .await
        .expect_problem(409, None);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_a_different_body() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let body = json!({ "category": "replacement", "policy_ref": "R-1", "summary": "s", "resolution": "r", "justification": "j" });
    let send = |body: &Value| {
        app.send(
            app.request(reqwest::Method::POST, "/v1/proposals", Some(&proposer.token))
                .header("idempotency-key", "k-1")
                .json(body),
        )
    };
    let first = send(&body).await.expect(201);
    let again = send(&body).await.expect(201);
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
async fn bad_input_names_the_field_and_writes_nothing() {
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
        app.file_proposal(&proposer, overrides)
            .await
            .expect_problem(422, Some(field));
    }
    let manager = app.create_user("manager").await;
    app.file_proposal(&manager, json!({})).await.expect_problem(403, None);
    app.get("/v1/proposals?status=done", Some(&proposer.token))
        .await
        .expect_problem(422, Some("status"));
    app.get("/v1/proposals?from=yesterday", Some(&proposer.token))
        .await
        .expect_problem(422, Some("from"));
    app.get("/v1/proposals?policy_ref=R%00", Some(&proposer.token))
        .await
        .expect_problem(422, Some("policy_ref"));
    let filed = app
        .post("/v1/proposals", Some(&proposer.token), &json!({ "bad\u{0}key": 1 }))
        .await;
    filed.expect_problem(422, Some("bad\\u0000key"));
    app.cosign(&proposer, &Uuid::now_v7().to_string())
        .await
        .expect_problem(404, None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE subject_type = 'proposal'")
            .await,
        0
    );
}

#[tokio::test]
async fn lists_filter_and_page() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.create_user("agent").await, app.create_user("agent").await);
    let a1 = app
        .file_proposal(&alice, json!({ "category": "fee_waiver" }))
        .await
        .expect(201)
        .id();
    let _a2 = app.file_proposal(&alice, json!({})).await.expect(201).id();
    let b1 = app.file_proposal(&bob, json!({})).await.expect(201).id();
    app.cosign(&bob, &a1).await.expect(200);
    let token = Some(bob.token.as_str());
    let by_category = app.get("/v1/proposals?category=fee_waiver", token).await.expect(200);
    assert_eq!(by_category.body["items"].as_array().unwrap().len(), 1);
    let approved = app.get("/v1/proposals?status=approved", token).await.expect(200);
    assert_eq!(approved.body["items"][0]["id"], a1.as_str());
    let cosigned = app
        .get(&format!("/v1/proposals?cosigner={}", bob.id), token)
        .await
        .expect(200);
    assert_eq!(cosigned.body["items"].as_array().unwrap().len(), 1);
    let by_proposer = app
        .get(&format!("/v1/proposals?proposer={}", bob.id), token)
        .await
        .expect(200);
    assert_eq!(by_proposer.body["items"][0]["id"], b1.as_str());
    let first = app.get("/v1/proposals?limit=2", token).await.expect(200);
    assert_eq!(first.body["items"][0]["id"], b1.as_str(), "newest first");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("/v1/proposals?limit=2&cursor={cursor}"), token)
        .await
        .expect(200);
    assert_eq!(second.body["items"][0]["id"], a1.as_str());
    assert_eq!(second.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_audit_chain_verifies_after_concurrent_writers_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let mut peers = Vec::new();
    for _ in 0..8 {
        peers.push(app.create_user("agent").await);
    }
    let filings = (0..8).map(|_| app.file_proposal(&proposer, json!({})));
    let ids: Vec<String> = futures_util::future::join_all(filings)
        .await
        .iter()
        .map(crate::helpers::Answer::id)
        .collect();
    let cosigns = ids.iter().zip(&peers).map(|(id, peer)| app.cosign(peer, id));
    for answer in futures_util::future::join_all(cosigns).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    app.wait_until_chained().await;
    let verified = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    assert_eq!(verified.body["valid"], true, "{}", verified.body);
    let total = app.count("SELECT count(*) FROM audit_events").await;
    assert_eq!(verified.body["events_checked"], total);
    assert_eq!(verified.body["first_broken_event_id"], Value::Null);
    app.get("/v1/audit/verify", Some(&proposer.token))
        .await
        .expect_problem(403, None);

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
    let broken = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    assert_eq!(broken.body["valid"], false);
    assert_eq!(broken.body["first_broken_event_id"], victim.to_string());
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
    let broken = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    assert_eq!(broken.body["valid"], false);
    assert_eq!(broken.body["first_broken_event_id"], event.to_string());
}

#[tokio::test]
async fn links_cut_off_the_end_are_detected_against_an_anchor() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let verified = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    let head = verified.body["head"].clone();
    let (seq, hash) = (
        head["seq"].as_i64().unwrap(),
        head["chain_hash"].as_str().unwrap().to_owned(),
    );
    assert_eq!(seq, app.count("SELECT max(seq) FROM audit_chain").await);
    let anchored = format!("/v1/audit/verify?anchor_seq={seq}&anchor_hash={hash}");
    let answer = app.get(&anchored, Some(&app.admin.token)).await.expect(200);
    assert_eq!(answer.body["valid"], true, "{}", answer.body);

    // The newest link and its event go; the rest of the chain still adds up.
    tamper(
        &app,
        "audit_chain",
        format!("DELETE FROM audit_chain WHERE seq = {seq}"),
    )
    .await;
    let unanchored = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    assert_eq!(unanchored.body["valid"], true, "without an anchor the cut is invisible");
    let answer = app.get(&anchored, Some(&app.admin.token)).await.expect(200);
    assert_eq!(answer.body["valid"], false);
    assert!(
        answer.body["broken_reason"]
            .as_str()
            .unwrap()
            .contains("before the anchor"),
        "{}",
        answer.body
    );

    let wrong = format!(
        "/v1/audit/verify?anchor_seq={}&anchor_hash={}",
        seq - 1,
        "ab".repeat(32)
    );
    let answer = app.get(&wrong, Some(&app.admin.token)).await.expect(200);
    assert_eq!(answer.body["valid"], false);
    assert!(
        answer.body["broken_reason"]
            .as_str()
            .unwrap()
            .contains("differs from the anchor")
    );
    let zero = format!("anchor_seq=0&anchor_hash={}", "ab".repeat(32));
    for (query, field) in [
        ("anchor_seq=3", "anchor_hash"),
        ("anchor_hash=abcd", "anchor_seq"),
        ("anchor_seq=3&anchor_hash=abcd", "anchor_hash"),
        (zero.as_str(), "anchor_seq"),
    ] {
        app.get(&format!("/v1/audit/verify?{query}"), Some(&app.admin.token))
            .await
            .expect_problem(422, Some(field));
    }
}

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
