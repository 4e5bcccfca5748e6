//! Rule 8: managers review decided proposals, blamelessly, once; the review
//! never changes the decision.

use countersign::domain::employee::Role;
use countersign::domain::proposal::{Status, Verdict};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, User};

/// A review as sent, for bodies the typed `User::review` cannot express.
async fn post_review(who: &User, id: &str, body: Value) -> Answer {
    who.post(&format!("/v1/proposals/{id}/review"), &body).await
}

async fn reviews_of(app: &TestApp, id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM proposal_reviews WHERE proposal_id = $1")
        .bind(Uuid::parse_str(id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_review_is_recorded_beside_the_decision_which_stands() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let id = app.approved_proposal(&proposer, &peer).await;

    let before = manager.read(&id).await.expect(200);
    let answer = manager
        .review(
            &id,
            Verdict::PromoteToPolicy,
            "  Third lost-parcel refund this month.  ",
        )
        .await
        .expect(200);
    let reviewed = answer.proposal();
    assert_eq!(reviewed.status, Status::Approved, "a review never changes the decision");
    // Compared as JSON: the answer's fields as they were, to the byte.
    for unchanged in ["decided_at", "updated_at", "revision", "signatures"] {
        assert_eq!(answer.body[unchanged], before.body[unchanged], "{unchanged}");
    }
    let review = reviewed.review.expect("the review is in the answer");
    assert_eq!(review.verdict, Verdict::PromoteToPolicy);
    assert_eq!(review.note, "Third lost-parcel refund this month.");
    assert_eq!(review.reviewer_id, manager.id);

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
    // The event list is read as JSON: its item type only serializes.
    let events = manager.events(&id).await.expect(200);
    let event = &events.body["items"][3];
    assert_eq!(event["actor_employee_id"], manager.id.to_string());
    assert_eq!(event["payload"]["review"]["verdict"], "promote_to_policy");

    let fetched = proposer.read(&id).await.expect(200).proposal();
    assert_eq!(
        fetched.review.map(|review| review.verdict),
        Some(Verdict::PromoteToPolicy)
    );
    app.wait_until_chained().await;
    let verify = app.admin.get("/v1/audit/verify").await.expect(200);
    assert!(verify.verification().valid, "{}", verify.body);
}

#[tokio::test]
async fn a_reviewed_proposal_leaves_the_review_queue() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let (manager, other_manager) = (app.create_user("manager").await, app.create_user("manager").await);
    let id = app.approved_proposal(&proposer, &peer).await;

    let queue = manager.review_queue("").await.expect(200).proposals();
    assert_eq!(queue.ids(), vec![id.clone()]);
    manager.review(&id, Verdict::Endorse, "a fair call").await.expect(200);
    let queue = other_manager.review_queue("").await.expect(200);
    assert!(queue.proposals().items.is_empty(), "reviewed proposals leave the queue");
    let listed = manager.get("/v1/proposals?reviewed=true").await.expect(200);
    assert_eq!(listed.proposals().ids(), vec![id]);
}

#[tokio::test]
async fn a_proposal_is_reviewed_once() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let (manager, other_manager) = (app.create_user("manager").await, app.create_user("manager").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    manager
        .review(&id, Verdict::PromoteToPolicy, "Third lost-parcel refund this month.")
        .await
        .expect(200);
    for who in [&manager, &other_manager] {
        who.review(&id, Verdict::Coach, "second opinion")
            .await
            .expect_problem(409, None);
    }
    assert_eq!(reviews_of(&app, &id).await, 1);
}

/// A proposer's three proposals: one left pending, one rejected by two
/// declines, one withdrawn (in that order); answers their ids.
async fn pending_rejected_and_withdrawn(app: &TestApp) -> [String; 3] {
    let (proposer, first, second) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let pending = proposer.file(json!({})).await.expect(201).id();
    let rejected = proposer.file(json!({})).await.expect(201).id();
    first
        .decline(&rejected, "goodwill credit covers this")
        .await
        .expect(200);
    second.decline(&rejected, "over the usual amount").await.expect(200);
    let withdrawn = proposer.file(json!({})).await.expect(201).id();
    proposer.withdraw(&withdrawn).await.expect(200);
    [pending, rejected, withdrawn]
}

#[tokio::test]
async fn the_review_queue_holds_every_decided_status_oldest_first() {
    let app = TestApp::spawn().await;
    let [_, rejected, withdrawn] = pending_rejected_and_withdrawn(&app).await;
    let manager = app.create_user("manager").await;

    let queue = manager.review_queue("").await.expect(200).proposals();
    assert_eq!(queue.ids(), vec![rejected.clone(), withdrawn.clone()], "oldest first");
    let only_rejected = manager.review_queue("status=rejected").await.expect(200);
    assert_eq!(only_rejected.proposals().ids(), vec![rejected]);
    manager
        .review_queue("status=pending")
        .await
        .expect_problem(422, Some("status"));
}

#[tokio::test]
async fn a_pending_proposal_is_not_reviewed() {
    let app = TestApp::spawn().await;
    let [pending, _, _] = pending_rejected_and_withdrawn(&app).await;
    let manager = app.create_user("manager").await;
    manager
        .review(&pending, Verdict::Endorse, "early")
        .await
        .expect_problem(409, None);
    assert_eq!(reviews_of(&app, &pending).await, 0);
}

#[tokio::test]
async fn rejected_and_withdrawn_proposals_are_reviewed() {
    let app = TestApp::spawn().await;
    let [_, rejected, withdrawn] = pending_rejected_and_withdrawn(&app).await;
    let manager = app.create_user("manager").await;
    for (id, status) in [(&rejected, Status::Rejected), (&withdrawn, Status::Withdrawn)] {
        let reviewed = manager
            .review(id, Verdict::Coach, "talk it through")
            .await
            .expect(200)
            .proposal();
        assert_eq!(reviewed.status, status);
    }
}

/// An app whose expiry worker stays asleep (the tests run it by hand), a
/// manager, and two proposals past their deadline with nothing written yet.
async fn two_overdue() -> (TestApp, User, String, String) {
    let app = TestApp::spawn_with(|settings| settings.proposals.expiry_interval_secs = 3600).await;
    let proposer = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let (first, second) = (
        proposer.file(json!({})).await.expect(201).id(),
        proposer.file(json!({})).await.expect(201).id(),
    );
    app.let_deadline_pass(None).await;
    (app, manager, first, second)
}

#[tokio::test]
async fn an_overdue_proposal_is_reviewed_as_expired_its_expiry_written_first() {
    let (app, manager, reviewed, _) = two_overdue().await;

    // Found as expired and unreviewed, a review writes the expiry first.
    let listed = manager
        .get("/v1/proposals?status=expired&reviewed=false")
        .await
        .expect(200);
    assert_eq!(listed.proposals().ids().len(), 2);
    let answer = manager
        .review(&reviewed, Verdict::Coach, "nobody picked it up")
        .await
        .expect(200)
        .proposal();
    assert_eq!(answer.status, Status::Expired);
    assert_eq!(answer.decided_at, Some(answer.expires_at));
    assert_eq!(
        app.event_types(&reviewed).await,
        vec!["proposal.created", "proposal.expired", "proposal.reviewed"]
    );
}

#[tokio::test]
async fn an_overdue_proposal_joins_the_review_queue_once_its_expiry_is_written() {
    let (app, manager, reviewed, queued) = two_overdue().await;
    manager
        .review(&reviewed, Verdict::Coach, "nobody picked it up")
        .await
        .expect(200);

    // The queue holds what is written down as decided: the other one joins
    // it when the worker writes its expiry.
    let queue = manager.review_queue("").await.expect(200);
    assert!(queue.proposals().items.is_empty(), "{}", queue.body);
    let expired = countersign::app::proposals::expire_overdue(&app.state).await.unwrap();
    assert_eq!(expired, 1, "the reviewed one is not expired twice");
    let queue = manager.review_queue("").await.expect(200).proposals();
    assert_eq!(queue.ids(), vec![queued]);
    assert_eq!(
        app.count("SELECT count(*) FROM proposals WHERE status = 'expired' AND decided_at = expires_at")
            .await,
        2
    );
}

/// An approved proposal that another agent declined first (declines to
/// reject: two), so proposer, co-signer and decliner are all involved.
async fn approved_after_a_decline(app: &TestApp) -> (String, [User; 3]) {
    let (proposer, peer, decliner) = (
        app.create_user("agent").await,
        app.create_user("agent").await,
        app.create_user("agent").await,
    );
    let id = proposer.file(json!({})).await.expect(201).id();
    decliner.decline(&id, "I would offer a voucher").await.expect(200);
    peer.cosign(&id).await.expect(200);
    (id, [proposer, peer, decliner])
}

#[tokio::test]
async fn only_managers_review_and_never_through_an_integration() {
    let app = TestApp::spawn().await;
    let (id, [proposer, peer, _]) = approved_after_a_decline(&app).await;
    let manager = app.create_user("manager").await;

    for who in [&proposer, &peer, &app.admin] {
        let refused = who
            .review(&id, Verdict::Endorse, "good call")
            .await
            .expect_problem(403, None);
        assert_eq!(refused.problem().required_role, Some(Role::Manager));
        who.review_queue("").await.expect_problem(403, None);
    }
    let integration = app.integration("zendesk").await;
    for through_integration in [integration.itself(), integration.acting_for(manager.id.to_string())] {
        through_integration
            .review(&id, Verdict::Endorse, "good call")
            .await
            .expect_problem(403, None);
    }
    assert_eq!(reviews_of(&app, &id).await, 0);
}

#[tokio::test]
async fn people_involved_never_review_even_once_promoted() {
    let app = TestApp::spawn().await;
    let (id, involved) = approved_after_a_decline(&app).await;
    let manager = app.create_user("manager").await;

    // People change roles. Promoted, the proposer, the co-signer and the
    // decliner still cannot grade their own call, and their queues leave it
    // out, while another manager's queue shows it.
    for person in &involved {
        app.set_employee(person, json!({ "role": "manager" })).await;
        let refused = person
            .review(&id, Verdict::Endorse, "good call")
            .await
            .expect_problem(403, None);
        assert!(refused.problem().detail.contains("filed or signed"));
        let own_queue = person.review_queue("").await.expect(200).proposals();
        assert!(own_queue.items.is_empty());
    }
    let queue = manager.review_queue("").await.expect(200).proposals();
    assert_eq!(queue.ids(), vec![id.clone()]);
    assert_eq!(reviews_of(&app, &id).await, 0);
}

#[tokio::test]
async fn a_deactivated_manager_does_not_review() {
    let app = TestApp::spawn().await;
    let (id, _) = approved_after_a_decline(&app).await;
    let manager = app.create_user("manager").await;
    app.set_employee(&manager, json!({ "active": false })).await;
    manager
        .review(&id, Verdict::Endorse, "good call")
        .await
        .expect_problem(401, None);
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
        post_review(&manager, &id, body).await.expect_problem(422, Some(field));
    }
    assert_eq!(reviews_of(&app, &id).await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'proposal.reviewed'")
            .await,
        0
    );
}

#[tokio::test]
async fn reviewing_an_unknown_proposal_is_a_404() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    manager
        .review(&Uuid::now_v7().to_string(), Verdict::Endorse, "x")
        .await
        .expect_problem(404, None);
    assert_eq!(app.count("SELECT count(*) FROM proposal_reviews").await, 0);
}

#[tokio::test]
async fn bad_review_queue_parameters_are_named() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    for query in ["cursor=nope", "limit=0", "status=bogus", "category=a%00b", "colour=red"] {
        let field = query.split('=').next().unwrap();
        manager.review_queue(query).await.expect_problem(422, Some(field));
    }
}

#[tokio::test]
async fn parallel_reviews_write_exactly_one() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = app.approved_proposal(&proposer, &peer).await;
    let managers = app.create_users("manager", 10).await;
    let answers = futures_util::future::join_all(
        managers
            .iter()
            .map(|manager| manager.review(&id, Verdict::Endorse, "fine")),
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
        Answer::of(
            manager
                .request(reqwest::Method::POST, &format!("/v1/proposals/{id}/review"))
                .header("idempotency-key", "review-1")
                .json(&body),
        )
    };
    let body = json!({ "verdict": "endorse", "note": "well handled" });
    let first = send(body.clone()).await.expect(200);
    let again = send(body).await.expect(200);
    // Byte for byte the first answer: compared as JSON, not as a Proposal.
    assert_eq!(first.body, again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    send(json!({ "verdict": "coach", "note": "well handled" }))
        .await
        .expect_problem(422, Some("Idempotency-Key"));
    assert_eq!(reviews_of(&app, &id).await, 1);
}

/// Three approved proposals, the middle one a goodwill credit; answers a
/// manager and the ids, oldest first.
async fn three_approved(app: &TestApp) -> (User, Vec<String>) {
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let category = if n == 1 { "goodwill_credit" } else { "refund" };
        let id = proposer.file(json!({ "category": category })).await.expect(201).id();
        peer.cosign(&id).await.expect(200);
        ids.push(id);
    }
    (manager, ids)
}

#[tokio::test]
async fn the_review_queue_pages_oldest_first() {
    let app = TestApp::spawn().await;
    let (manager, ids) = three_approved(&app).await;
    let first = manager.review_queue("limit=2").await.expect(200).proposals();
    assert_eq!(first.ids(), ids[..2]);
    let cursor = first.next_cursor.expect("a next page");
    let second = manager
        .review_queue(&format!("limit=2&cursor={cursor}"))
        .await
        .expect(200)
        .proposals();
    assert_eq!(second.ids(), ids[2..]);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn the_review_queue_filters_by_category() {
    let app = TestApp::spawn().await;
    let (manager, ids) = three_approved(&app).await;
    let goodwill = manager
        .review_queue("category=goodwill_credit")
        .await
        .expect(200)
        .proposals();
    assert_eq!(goodwill.ids(), vec![ids[1].clone()]);
}

// ------------------------------------------------------------------ schema
//
// What a bug in the application could try, or someone with a database
// login: the schema refuses it on its own.

/// Inserts a review by hand; answers the database's refusal as text.
async fn insert_review(app: &TestApp, proposal: Uuid, reviewer: Uuid) -> Result<(), String> {
    sqlx::query(
        "INSERT INTO proposal_reviews (proposal_id, reviewer_id, verdict, note, reviewed_at)
         VALUES ($1, $2, 'endorse', 'n', now())",
    )
    .bind(proposal)
    .bind(reviewer)
    .execute(&app.pool)
    .await
    .map(|_| ())
    .map_err(|error| error.to_string())
}

#[track_caller]
fn refused(result: Result<(), String>, expected: &str) {
    let error = result.expect_err(expected);
    assert!(error.contains(expected), "expected `{expected}`, got `{error}`");
}

#[tokio::test]
async fn the_schema_lets_only_uninvolved_active_managers_review_decided_proposals() {
    let app = TestApp::spawn().await;
    let (approved, [proposer, peer, decliner]) = approved_after_a_decline(&app).await;
    let (manager, gone) = (app.create_user("manager").await, app.create_user("manager").await);
    let pending = Uuid::parse_str(&proposer.file(json!({})).await.expect(201).id()).unwrap();
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
    refused(insert_review(&app, pending, manager.id).await, "still pending");
    refused(
        insert_review(&app, approved, app.admin.id).await,
        "only active managers",
    );
    refused(insert_review(&app, approved, gone.id).await, "only active managers");
    for involved in [proposer.id, peer.id, decliner.id] {
        refused(insert_review(&app, approved, involved).await, "filed or signed");
    }
    insert_review(&app, approved, manager.id)
        .await
        .expect("an uninvolved manager's review is fine");
    assert_eq!(
        app.count("SELECT count(*) FROM review_backlog").await,
        0,
        "the review took it off the backlog"
    );
}

#[tokio::test]
async fn the_schema_keeps_one_review_per_proposal_never_edited_or_deleted() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let approved = Uuid::parse_str(&app.approved_proposal(&proposer, &peer).await).unwrap();
    insert_review(&app, approved, manager.id)
        .await
        .expect("an uninvolved manager's review is fine");
    refused(insert_review(&app, approved, manager.id).await, "proposal_reviews_pkey");
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
