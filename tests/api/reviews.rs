//! Rule 8: managers review decided proposals, blamelessly, once; the review
//! never changes the decision.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, User};

fn queue_ids(answer: &Answer) -> Vec<String> {
    answer.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn review(app: &TestApp, manager: &User, id: &str, body: Value) -> Answer {
    app.post(&format!("/v1/proposals/{id}/review"), Some(&manager.token), &body)
        .await
}

async fn reviews_of(app: &TestApp, id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM proposal_reviews WHERE proposal_id = $1")
        .bind(Uuid::parse_str(id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_manager_reviews_an_approved_proposal_once_and_the_decision_stands() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let (manager, other_manager) = (app.create_user("manager").await, app.create_user("manager").await);
    let id = app.approved_proposal(&proposer, &peer).await;

    let queue = app.get("/v1/review-queue", Some(&manager.token)).await.expect(200);
    assert_eq!(queue_ids(&queue), vec![id.clone()]);

    let before = app
        .get(&format!("/v1/proposals/{id}"), Some(&manager.token))
        .await
        .expect(200);
    let reviewed = review(
        &app,
        &manager,
        &id,
        json!({ "verdict": "promote_to_policy", "note": "  Third lost-parcel refund this month.  " }),
    )
    .await
    .expect(200);
    assert_eq!(
        reviewed.body["status"], "approved",
        "a review never changes the decision"
    );
    for unchanged in ["decided_at", "updated_at", "revision", "signatures"] {
        assert_eq!(reviewed.body[unchanged], before.body[unchanged], "{unchanged}");
    }
    assert_eq!(reviewed.body["review"]["verdict"], "promote_to_policy");
    assert_eq!(reviewed.body["review"]["note"], "Third lost-parcel refund this month.");
    assert_eq!(reviewed.body["review"]["reviewer_id"], manager.id.to_string());

    let (verdict, status): (String, String) = sqlx::query_as(
        "SELECT r.verdict, p.status FROM proposal_reviews r JOIN proposals p ON p.id = r.proposal_id
         WHERE r.proposal_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((verdict.as_str(), status.as_str()), ("promote_to_policy", "approved"));
    assert_eq!(
        app.event_types(&id).await,
        vec![
            "proposal.created",
            "proposal.cosigned",
            "proposal.approved",
            "proposal.reviewed"
        ]
    );
    let events = app
        .get(&format!("/v1/proposals/{id}/events"), Some(&manager.token))
        .await
        .expect(200);
    let event = &events.body["items"][3];
    assert_eq!(event["actor_employee_id"], manager.id.to_string());
    assert_eq!(event["payload"]["review"]["verdict"], "promote_to_policy");

    let fetched = app
        .get(&format!("/v1/proposals/{id}"), Some(&proposer.token))
        .await
        .expect(200);
    assert_eq!(fetched.body["review"]["verdict"], "promote_to_policy");
    let queue = app
        .get("/v1/review-queue", Some(&other_manager.token))
        .await
        .expect(200);
    assert!(queue_ids(&queue).is_empty(), "reviewed proposals leave the queue");
    let listed = app
        .get("/v1/proposals?reviewed=true", Some(&manager.token))
        .await
        .expect(200);
    assert_eq!(queue_ids(&listed), vec![id.clone()]);

    for who in [&manager, &other_manager] {
        review(&app, who, &id, json!({ "verdict": "coach", "note": "second opinion" }))
            .await
            .expect_problem(409, None);
    }
    assert_eq!(reviews_of(&app, &id).await, 1);
    app.wait_until_chained().await;
    let verify = app.get("/v1/audit/verify", Some(&app.admin.token)).await.expect(200);
    assert_eq!(verify.body["valid"], true);
}

#[tokio::test]
async fn every_decided_status_is_reviewed_and_pending_is_not() {
    let app = TestApp::spawn().await;
    let (proposer, first, second) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let manager = app.create_user("manager").await;

    let pending = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    let rejected = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.decline(&first, &rejected, "goodwill credit covers this")
        .await
        .expect(200);
    app.decline(&second, &rejected, "over the usual amount")
        .await
        .expect(200);
    let withdrawn = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.post(
        &format!("/v1/proposals/{withdrawn}/withdraw"),
        Some(&proposer.token),
        &json!({}),
    )
    .await
    .expect(200);

    let queue = app.get("/v1/review-queue", Some(&manager.token)).await.expect(200);
    assert_eq!(
        queue_ids(&queue),
        vec![rejected.clone(), withdrawn.clone()],
        "oldest first"
    );
    let only_rejected = app
        .get("/v1/review-queue?status=rejected", Some(&manager.token))
        .await
        .expect(200);
    assert_eq!(queue_ids(&only_rejected), vec![rejected.clone()]);
    app.get("/v1/review-queue?status=pending", Some(&manager.token))
        .await
        .expect_problem(422, Some("status"));

    review(
        &app,
        &manager,
        &pending,
        json!({ "verdict": "endorse", "note": "early" }),
    )
    .await
    .expect_problem(409, None);
    assert_eq!(reviews_of(&app, &pending).await, 0);
    for (id, status) in [(&rejected, "rejected"), (&withdrawn, "withdrawn")] {
        let answer = review(
            &app,
            &manager,
            id,
            json!({ "verdict": "coach", "note": "talk it through" }),
        )
        .await
        .expect(200);
        assert_eq!(answer.body["status"], status);
    }
}

#[tokio::test]
async fn overdue_proposals_are_reviewed_and_queued_once_their_expiry_is_written() {
    // The expiry worker stays asleep: the test runs it by hand.
    let app = TestApp::spawn_with(|settings| settings.proposals.expiry_interval_secs = 3600).await;
    let proposer = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let (reviewed, queued) = (
        app.file_proposal(&proposer, json!({})).await.expect(201).id(),
        app.file_proposal(&proposer, json!({})).await.expect(201).id(),
    );
    app.let_deadline_pass(None).await;

    // Found as expired and unreviewed, a review writes the expiry first.
    let listed = app
        .get("/v1/proposals?status=expired&reviewed=false", Some(&manager.token))
        .await
        .expect(200);
    assert_eq!(queue_ids(&listed).len(), 2);
    let answer = review(
        &app,
        &manager,
        &reviewed,
        json!({ "verdict": "coach", "note": "nobody picked it up" }),
    )
    .await
    .expect(200);
    assert_eq!(answer.body["status"], "expired");
    assert_eq!(answer.body["decided_at"], answer.body["expires_at"]);
    assert_eq!(
        app.event_types(&reviewed).await,
        vec!["proposal.created", "proposal.expired", "proposal.reviewed"]
    );

    // The queue holds what is written down as decided: the other one joins
    // it when the worker writes its expiry.
    let queue = app.get("/v1/review-queue", Some(&manager.token)).await.expect(200);
    assert!(queue_ids(&queue).is_empty(), "{}", queue.body);
    let expired = countersign::app::proposals::expire_overdue(&app.state).await.unwrap();
    assert_eq!(expired, 1, "the reviewed one is not expired twice");
    let queue = app.get("/v1/review-queue", Some(&manager.token)).await.expect(200);
    assert_eq!(queue_ids(&queue), vec![queued]);
    assert_eq!(
        app.count("SELECT count(*) FROM proposals WHERE status = 'expired' AND decided_at = expires_at")
            .await,
        2
    );
}

#[tokio::test]
async fn only_uninvolved_active_managers_review() {
    let app = TestApp::spawn().await;
    let (proposer, peer, decliner) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let manager = app.create_user("manager").await;
    let id = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.decline(&decliner, &id, "I would offer a voucher").await.expect(200);
    app.cosign(&peer, &id).await.expect(200);
    let note = json!({ "verdict": "endorse", "note": "good call" });

    for who in [&proposer, &peer, &app.admin] {
        let refused = review(&app, who, &id, note.clone()).await.expect_problem(403, None);
        assert_eq!(refused.body["required_role"], "manager");
        app.get("/v1/review-queue", Some(&who.token))
            .await
            .expect_problem(403, None);
    }
    let (_, integration, _) = app.create_integration("zendesk").await;
    let through_integration = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/proposals/{id}/review"),
            Some(&integration),
        )
        .json(&note);
    app.send(through_integration).await.expect_problem(403, None);
    let acting_for_manager = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/proposals/{id}/review"),
            Some(&integration),
        )
        .header("countersign-on-behalf-of", manager.id.to_string())
        .json(&note);
    app.send(acting_for_manager).await.expect_problem(403, None);

    // People change roles. Promoted, the proposer, the co-signer and the
    // decliner still cannot grade their own call, and their queues leave it
    // out, while another manager's queue shows it.
    for involved in [&proposer, &peer, &decliner] {
        app.patch(
            &format!("/v1/employees/{}", involved.id),
            Some(&app.admin.token),
            &json!({ "role": "manager" }),
        )
        .await
        .expect(200);
        let refused = review(&app, involved, &id, note.clone())
            .await
            .expect_problem(403, None);
        assert!(refused.body["detail"].as_str().unwrap().contains("filed or signed"));
        let own_queue = app.get("/v1/review-queue", Some(&involved.token)).await.expect(200);
        assert!(queue_ids(&own_queue).is_empty());
    }
    let queue = app.get("/v1/review-queue", Some(&manager.token)).await.expect(200);
    assert_eq!(queue_ids(&queue), vec![id.clone()]);

    app.patch(
        &format!("/v1/employees/{}", manager.id),
        Some(&app.admin.token),
        &json!({ "active": false }),
    )
    .await
    .expect(200);
    review(&app, &manager, &id, note).await.expect_problem(401, None);
    assert_eq!(reviews_of(&app, &id).await, 0);
}

#[tokio::test]
async fn bad_reviews_name_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let id = app.approved_proposal(&proposer, &peer).await;
    let cases = [
        (json!({ "verdict": "blame", "note": "x" }), "verdict"),
        (json!({ "note": "x" }), "verdict"),
        (json!({ "verdict": "endorse" }), "note"),
        (json!({ "verdict": "endorse", "note": "   " }), "note"),
        (json!({ "verdict": "endorse", "note": "x".repeat(5001) }), "note"),
        (json!({ "verdict": "endorse", "note": "x", "rating": 5 }), "rating"),
        (json!({ "verdict": "endorse", "note": "a\u{0}b" }), "note"),
    ];
    for (body, field) in cases {
        review(&app, &manager, &id, body).await.expect_problem(422, Some(field));
    }
    review(
        &app,
        &manager,
        &Uuid::now_v7().to_string(),
        json!({ "verdict": "endorse", "note": "x" }),
    )
    .await
    .expect_problem(404, None);
    for query in ["cursor=nope", "limit=0", "status=bogus", "category=a%00b", "colour=red"] {
        let field = query.split('=').next().unwrap();
        app.get(&format!("/v1/review-queue?{query}"), Some(&manager.token))
            .await
            .expect_problem(422, Some(field));
    }
    assert_eq!(reviews_of(&app, &id).await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'proposal.reviewed'")
            .await,
        0
    );
}

#[tokio::test]
async fn parallel_reviews_write_exactly_one() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    let mut managers = Vec::new();
    for _ in 0..10 {
        managers.push(app.create_user("manager").await);
    }
    let answers = futures_util::future::join_all(
        managers
            .iter()
            .map(|m| review(&app, m, &id, json!({ "verdict": "endorse", "note": "fine" }))),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![200], vec![409; 9]].concat());
    assert_eq!(reviews_of(&app, &id).await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'proposal.reviewed'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_review_replays_under_its_idempotency_key() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let id = app.approved_proposal(&proposer, &peer).await;
    let send = |body: Value| {
        app.send(
            app.request(
                reqwest::Method::POST,
                &format!("/v1/proposals/{id}/review"),
                Some(&manager.token),
            )
            .header("idempotency-key", "review-1")
            .json(&body),
        )
    };
    let body = json!({ "verdict": "endorse", "note": "well handled" });
    let first = send(body.clone()).await.expect(200);
    let again = send(body).await.expect(200);
    assert_eq!(first.body, again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    send(json!({ "verdict": "coach", "note": "well handled" }))
        .await
        .expect_problem(422, Some("Idempotency-Key"));
    assert_eq!(reviews_of(&app, &id).await, 1);
}

#[tokio::test]
async fn the_review_queue_pages_oldest_first() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let category = if n == 1 { "goodwill_credit" } else { "refund" };
        let id = app
            .file_proposal(&proposer, json!({ "category": category }))
            .await
            .expect(201)
            .id();
        app.cosign(&peer, &id).await.expect(200);
        ids.push(id);
    }
    let first = app
        .get("/v1/review-queue?limit=2", Some(&manager.token))
        .await
        .expect(200);
    assert_eq!(queue_ids(&first), ids[..2]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();
    let second = app
        .get(
            &format!("/v1/review-queue?limit=2&cursor={cursor}"),
            Some(&manager.token),
        )
        .await
        .expect(200);
    assert_eq!(queue_ids(&second), ids[2..]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let goodwill = app
        .get("/v1/review-queue?category=goodwill_credit", Some(&manager.token))
        .await
        .expect(200);
    assert_eq!(queue_ids(&goodwill), vec![ids[1].clone()]);
}

#[tokio::test]
async fn the_schema_refuses_reviews_the_domain_refuses() {
    let app = TestApp::spawn().await;
    let (proposer, peer, decliner) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let (manager, gone) = (app.create_user("manager").await, app.create_user("manager").await);
    let pending = Uuid::parse_str(&app.file_proposal(&proposer, json!({})).await.expect(201).id()).unwrap();
    let approved = app.file_proposal(&proposer, json!({})).await.expect(201).id();
    app.decline(&decliner, &approved, "not this time").await.expect(200);
    app.cosign(&peer, &approved).await.expect(200);
    let approved = Uuid::parse_str(&approved).unwrap();
    sqlx::query("UPDATE employees SET role = 'manager' WHERE id = ANY($1)")
        .bind(vec![proposer.id, peer.id, decliner.id])
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE employees SET active = false WHERE id = $1")
        .bind(gone.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let insert = |proposal: Uuid, reviewer: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO proposal_reviews (proposal_id, reviewer_id, verdict, note, reviewed_at)
                 VALUES ($1, $2, 'endorse', 'n', now())",
            )
            .bind(proposal)
            .bind(reviewer)
            .execute(&pool)
            .await
            .map(|_| ())
            .map_err(|error| error.to_string())
        }
    };
    let refused = |result: Result<(), String>, expected: &str| {
        let error = result.expect_err(expected);
        assert!(error.contains(expected), "expected `{expected}`, got `{error}`");
    };
    refused(insert(pending, manager.id).await, "still pending");
    refused(insert(approved, app.admin.id).await, "only active managers");
    refused(insert(approved, gone.id).await, "only active managers");
    for involved in [proposer.id, peer.id, decliner.id] {
        refused(insert(approved, involved).await, "filed or signed");
    }
    insert(approved, manager.id)
        .await
        .expect("an uninvolved manager's review is fine");
    refused(insert(approved, manager.id).await, "proposal_reviews_pkey");
    assert_eq!(
        app.count("SELECT count(*) FROM review_backlog").await,
        0,
        "the review took it off the backlog"
    );
    let edit = sqlx::query("UPDATE proposal_reviews SET verdict = 'coach'")
        .execute(&app.pool)
        .await;
    assert!(edit.is_err(), "reviews are never edited");
    assert!(
        sqlx::query("DELETE FROM proposal_reviews")
            .execute(&app.pool)
            .await
            .is_err()
    );
}
