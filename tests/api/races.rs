//! The two-person rule when people act at the same instant: every pair of
//! actions that can meet on one proposal is fired together, released by a
//! barrier, many times, and the result checked in the answers and the rows.

use std::sync::Arc;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, User};
use countersign::domain::proposal::Status;

/// Trials per pair: enough that a lost race shows up in nearly every run
/// before the fix (it did in every run measured), few enough to stay quick.
const TRIALS: usize = 25;

/// Sends the requests at the same instant: each waits on a barrier, on its
/// own task, so they reach the server together on separate connections.
async fn at_once(requests: Vec<RequestBuilder>) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                read(request.send().await.expect("the request is sent")).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("the request task ends"));
    }
    answers
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, headers, body }
}

/// A request and the expiry worker at the same instant.
async fn with_expiry_worker(app: &TestApp, request: RequestBuilder) -> (Answer, usize) {
    let barrier = Arc::new(Barrier::new(2));
    let sent = {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            read(request.send().await.expect("the request is sent")).await
        })
    };
    let state = app.state.clone();
    let worker = tokio::spawn(async move {
        barrier.wait().await;
        countersign::app::proposals::expire_overdue(&state).await
    });
    let answer = sent.await.unwrap();
    let expired = worker.await.unwrap().expect("the expiry worker runs");
    (answer, expired)
}

fn cosign(app: &TestApp, agent: &User, id: &str, revision: i64) -> RequestBuilder {
    app.request(Method::POST, &format!("/v1/proposals/{id}/cosign"), Some(&agent.token))
        .json(&json!({ "revision": revision }))
}

fn decline(app: &TestApp, agent: &User, id: &str, revision: i64) -> RequestBuilder {
    app.request(Method::POST, &format!("/v1/proposals/{id}/decline"), Some(&agent.token))
        .json(&json!({ "revision": revision, "reason": "outside what we can justify" }))
}

fn revise(app: &TestApp, proposer: &User, id: &str) -> RequestBuilder {
    app.request(Method::PATCH, &format!("/v1/proposals/{id}"), Some(&proposer.token))
        .json(&json!({ "resolution": "Refund in full and ship a replacement" }))
}

fn withdraw(app: &TestApp, proposer: &User, id: &str) -> RequestBuilder {
    app.request(
        Method::POST,
        &format!("/v1/proposals/{id}/withdraw"),
        Some(&proposer.token),
    )
    .json(&json!({ "reason": "the customer accepted a voucher" }))
}

fn record_outcome(app: &TestApp, proposer: &User, id: &str) -> RequestBuilder {
    app.request(
        Method::POST,
        &format!("/v1/proposals/{id}/outcome"),
        Some(&proposer.token),
    )
    .json(&json!({ "executed": true, "customer_outcome": "satisfied" }))
}

fn review(app: &TestApp, manager: &User, id: &str) -> RequestBuilder {
    app.request(
        Method::POST,
        &format!("/v1/proposals/{id}/review"),
        Some(&manager.token),
    )
    .json(&json!({ "verdict": "endorse", "note": "a fair call" }))
}

fn deactivate(app: &TestApp, who: &User) -> RequestBuilder {
    app.request(
        Method::PATCH,
        &format!("/v1/employees/{}", who.id),
        Some(&app.admin.token),
    )
    .json(&json!({ "active": false }))
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status.as_u16()).collect()
}

/// The statuses, sorted: for races where either side may win.
fn sorted_statuses(answers: &[Answer]) -> Vec<u16> {
    let mut statuses = statuses(answers);
    statuses.sort_unstable();
    statuses
}

fn problem_type(answer: &Answer) -> &str {
    answer.body["type"].as_str().unwrap_or("")
}

struct Stored {
    status: String,
    revision: i32,
    endorsements: i64,
    declines: i64,
    /// Events that decided the proposal: exactly one once it is decided.
    decisions: i64,
}

async fn stored(app: &TestApp, id: &str) -> Stored {
    let id = Uuid::parse_str(id).unwrap();
    let (status, revision, endorsements, declines): (String, i32, i64, i64) = sqlx::query_as(
        "SELECT p.status, p.revision,
                (SELECT count(*) FROM signatures s WHERE s.proposal_id = p.id AND s.decision = 'endorse'),
                (SELECT count(*) FROM signatures s WHERE s.proposal_id = p.id AND s.decision = 'decline')
         FROM proposals p WHERE p.id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let decisions = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE subject_id = $1
         AND event_type IN ('proposal.approved', 'proposal.rejected', 'proposal.withdrawn', 'proposal.expired')",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    Stored {
        status,
        revision,
        endorsements,
        declines,
        decisions,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_cosigns_at_once_on_a_two_signer_proposal_approve_every_time() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let people = app.create_users("agent", 3).await;
    let (proposer, first, second) = (&people[0], &people[1], &people[2]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, first, &id, 1), cosign(&app, second, &id, 1)]).await;
        assert_eq!(statuses(&answers), [200, 200], "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!(
            (row.status.as_str(), row.endorsements, row.decisions),
            ("approved", 2, 1),
            "trial {trial}: two of two endorsements approve, once"
        );
        let last = answers.iter().filter(|a| a.body["status"] == "approved").count();
        assert_eq!(last, 1, "trial {trial}: exactly one answer is the approval");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_declines_at_once_reject_every_time() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 3).await;
    let (proposer, first, second) = (&people[0], &people[1], &people[2]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![decline(&app, first, &id, 1), decline(&app, second, &id, 1)]).await;
        assert_eq!(statuses(&answers), [200, 200], "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!(
            (row.status.as_str(), row.declines, row.decisions),
            ("rejected", 2, 1),
            "trial {trial}: two declines reject, once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_cosigns_leaves_each_proposal_with_exactly_the_required_endorsements() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let people = app.create_users("agent", 9).await;
    let (proposer, peers) = (&people[0], &people[1..]);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(proposer.file(json!({})).await.expect(201).id());
    }
    // Every peer co-signs every proposal, all released together.
    let requests = ids
        .iter()
        .flat_map(|id| peers.iter().map(|peer| cosign(&app, peer, id, 1)))
        .collect();
    let answers = at_once(requests).await;
    for answer in &answers {
        assert!(
            [200, 409].contains(&answer.status.as_u16()),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    for id in &ids {
        let row = stored(&app, id).await;
        assert_eq!(
            (row.status.as_str(), row.endorsements, row.decisions),
            ("approved", 2, 1),
            "{id}"
        );
    }
    let accepted = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        accepted,
        2 * ids.len(),
        "exactly two signatures per proposal were accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_agent_signing_twice_at_once_signs_once() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, peer, &id, 1), decline(&app, peer, &id, 1)]).await;
        assert_eq!(sorted_statuses(&answers), [200, 409], "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!(
            (row.status.as_str(), row.endorsements + row.declines),
            ("pending", 1),
            "trial {trial}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cosign_and_a_decline_at_once_decide_once_for_whoever_came_first() {
    // One endorsement approves and one decline rejects: one of them wins.
    let app = TestApp::spawn_with(|s| s.proposals.declines_to_reject = 1).await;
    let people = app.create_users("agent", 3).await;
    let (proposer, endorser, decliner) = (&people[0], &people[1], &people[2]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, endorser, &id, 1), decline(&app, decliner, &id, 1)]).await;
        assert_eq!(sorted_statuses(&answers), [200, 409], "trial {trial}");
        let row = stored(&app, &id).await;
        let expected = if answers[0].status == 200 {
            ("approved", 1, 0)
        } else {
            ("rejected", 0, 1)
        };
        assert_eq!(
            (row.status.as_str(), row.endorsements, row.declines),
            expected,
            "trial {trial}"
        );
        assert_eq!(row.decisions, 1, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cosign_racing_a_revision_never_approves_terms_the_signer_did_not_read() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, peer, &id, 1), revise(&app, proposer, &id)]).await;
        let row = stored(&app, &id).await;
        match statuses(&answers)[..] {
            // The co-sign came first: revision 1 is approved, the revision refused.
            [200, 409] => assert_eq!(
                (row.status.as_str(), row.revision, row.endorsements),
                ("approved", 1, 1),
                "trial {trial}"
            ),
            // The revision came first: the co-sign of revision 1 is refused.
            [409, 200] => {
                assert_eq!(problem_type(&answers[0]), "urn:countersign:problem:revision-changed");
                assert_eq!(
                    (row.status.as_str(), row.revision, row.endorsements),
                    ("pending", 2, 0),
                    "trial {trial}"
                );
            }
            ref other => panic!("trial {trial}: {other:?} {} {}", answers[0].body, answers[1].body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decline_racing_a_revision_is_of_the_revision_read() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![decline(&app, peer, &id, 1), revise(&app, proposer, &id)]).await;
        assert_eq!(
            answers[1].status, 200,
            "trial {trial}: a decline does not block revising"
        );
        let row = stored(&app, &id).await;
        assert_eq!((row.status.as_str(), row.revision), ("pending", 2), "trial {trial}");
        match answers[0].status.as_u16() {
            200 => assert_eq!(row.declines, 1, "trial {trial}"),
            409 => {
                assert_eq!(problem_type(&answers[0]), "urn:countersign:problem:revision-changed");
                assert_eq!(row.declines, 0, "trial {trial}");
            }
            other => panic!("trial {trial}: {other} {}", answers[0].body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signature_racing_a_withdrawal_decides_once() {
    let app = TestApp::spawn_with(|s| s.proposals.declines_to_reject = 1).await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let signature = if trial % 2 == 0 {
            cosign(&app, peer, &id, 1)
        } else {
            decline(&app, peer, &id, 1)
        };
        let answers = at_once(vec![signature, withdraw(&app, proposer, &id)]).await;
        assert_eq!(sorted_statuses(&answers), [200, 409], "trial {trial}");
        let row = stored(&app, &id).await;
        let expected = match (answers[0].status.as_u16(), trial % 2) {
            (200, 0) => "approved",
            (200, _) => "rejected",
            _ => "withdrawn",
        };
        assert_eq!(row.status, expected, "trial {trial}");
        assert_eq!(row.decisions, 1, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revision_racing_a_withdrawal_leaves_it_withdrawn() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 1).await;
    let proposer = &people[0];
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![revise(&app, proposer, &id), withdraw(&app, proposer, &id)]).await;
        assert_eq!(
            answers[1].status, 200,
            "trial {trial}: a revision does not block withdrawing"
        );
        assert!([200, 409].contains(&answers[0].status.as_u16()), "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!((row.status.as_str(), row.decisions), ("withdrawn", 1), "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_withdrawals_at_once_withdraw_once() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 1).await;
    let proposer = &people[0];
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![withdraw(&app, proposer, &id), withdraw(&app, proposer, &id)]).await;
        assert_eq!(sorted_statuses(&answers), [200, 409], "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!((row.status.as_str(), row.decisions), ("withdrawn", 1), "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signature_racing_the_expiry_worker_never_decides_after_the_deadline() {
    let app = TestApp::spawn_with(|s| s.proposals.expiry_interval_secs = 3600).await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let id = proposer.file(json!({})).await.expect(201).id();
        app.let_deadline_pass(Some(&id)).await;
        let signature = if trial % 2 == 0 {
            cosign(&app, peer, &id, 1)
        } else {
            decline(&app, peer, &id, 1)
        };
        let (answer, expired) = with_expiry_worker(&app, signature).await;
        assert_eq!(answer.status, 409, "trial {trial}: {}", answer.body);
        // A row the signature held locked was skipped; a refused write is
        // rolled back before it is answered, so the next run gets it.
        let next_run = countersign::app::proposals::expire_overdue(&app.state).await.unwrap();
        assert_eq!(expired + next_run, 1, "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!(
            (row.status.as_str(), row.endorsements + row.declines, row.decisions),
            ("expired", 0, 1),
            "trial {trial}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_racing_the_expiry_worker_writes_one_expiry_and_one_review() {
    let app = TestApp::spawn_with(|s| s.proposals.expiry_interval_secs = 3600).await;
    let people = app.create_users("agent", 1).await;
    let manager = app.create_user("manager").await;
    for trial in 0..TRIALS {
        let id = people[0].file(json!({})).await.expect(201).id();
        app.let_deadline_pass(Some(&id)).await;
        let (answer, _) = with_expiry_worker(&app, review(&app, &manager, &id)).await;
        assert_eq!(answer.status, 200, "trial {trial}: {}", answer.body);
        assert_eq!(answer.body["status"], "expired", "trial {trial}");
        let row = stored(&app, &id).await;
        assert_eq!((row.status.as_str(), row.decisions), ("expired", 1), "trial {trial}");
        let reviews: i64 = sqlx::query_scalar("SELECT count(*) FROM proposal_reviews WHERE proposal_id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(reviews, 1, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_outcomes_or_two_reviews_at_once_write_one() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    let (first, second) = (app.create_user("manager").await, app.create_user("manager").await);
    for trial in 0..TRIALS {
        let id = app.approved_proposal(proposer, peer).await;
        let outcomes = at_once(vec![
            record_outcome(&app, proposer, &id),
            record_outcome(&app, proposer, &id),
        ])
        .await;
        assert_eq!(sorted_statuses(&outcomes), [200, 409], "trial {trial}");
        let reviews = at_once(vec![review(&app, &first, &id), review(&app, &second, &id)]).await;
        assert_eq!(sorted_statuses(&reviews), [200, 409], "trial {trial}");
    }
    let runs = TRIALS as i64;
    assert_eq!(app.count("SELECT count(*) FROM proposal_outcomes").await, runs);
    assert_eq!(app.count("SELECT count(*) FROM proposal_reviews").await, runs);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type IN ('proposal.outcome_recorded', 'proposal.reviewed')"
        )
        .await,
        2 * runs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cosign_racing_the_proposers_deactivation_approves_or_withdraws_never_both() {
    let app = TestApp::spawn().await;
    let peer = app.create_user("agent").await;
    for trial in 0..TRIALS {
        let proposer = app.create_user("agent").await;
        let id = proposer.file(json!({})).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, &peer, &id, 1), deactivate(&app, &proposer)]).await;
        assert_eq!(answers[1].status, 200, "trial {trial}");
        let row = stored(&app, &id).await;
        let expected = if answers[0].status == 200 {
            "approved"
        } else {
            "withdrawn"
        };
        assert_eq!((row.status.as_str(), row.decisions), (expected, 1), "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filing_racing_the_proposers_deactivation_leaves_nothing_pending() {
    let app = TestApp::spawn().await;
    for trial in 0..TRIALS {
        let proposer = app.create_user("agent").await;
        let filing = proposer
            .request(Method::POST, "/v1/proposals")
            .json(&crate::helpers::proposal_body(json!({})));
        let answers = at_once(vec![filing, deactivate(&app, &proposer)]).await;
        assert_eq!(answers[1].status, 200, "trial {trial}");
        assert!(
            [201, 401, 403].contains(&answers[0].status.as_u16()),
            "trial {trial}: {} {}",
            answers[0].status,
            answers[0].body
        );
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM proposals WHERE proposer_id = $1 AND status = 'pending'")
                .bind(proposer.id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(pending, 0, "trial {trial}: a deactivated proposer has nothing pending");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cosign_racing_an_endorsers_deactivation_never_counts_them_afterwards() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let people = app.create_users("agent", 2).await;
    let (proposer, last) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        let endorser = app.create_user("agent").await;
        let id = proposer.file(json!({})).await.expect(201).id();
        endorser.cosign(&id).await.expect(200);
        let answers = at_once(vec![cosign(&app, last, &id, 1), deactivate(&app, &endorser)]).await;
        assert_eq!(answers[1].status, 200, "trial {trial}");
        let row = stored(&app, &id).await;
        match (answers[0].status.as_u16(), answers[0].body["status"].as_str()) {
            // The co-sign came first, while the endorser was still active.
            (200, Some("approved")) => assert_eq!((row.status.as_str(), row.decisions), ("approved", 1)),
            // The deactivation came first: one active endorsement of two.
            (200, Some("pending")) => assert_eq!(
                (row.status.as_str(), answers[0].body["endorsements"].as_u64()),
                ("pending", Some(1)),
                "trial {trial}"
            ),
            other => panic!("trial {trial}: {other:?} {}", answers[0].body),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_sent_twice_at_once_files_once() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 1).await;
    for trial in 0..TRIALS {
        let key = format!("filing-{trial}");
        let filing = || {
            app.request(Method::POST, "/v1/proposals", Some(&people[0].token))
                .header("idempotency-key", &key)
                .json(&json!({
                    "category": "refund", "policy_ref": "R", "summary": "s", "resolution": "r",
                    "justification": "j", "amount_minor": 100, "currency": "EUR"
                }))
        };
        let answers = at_once(vec![filing(), filing()]).await;
        assert_eq!(statuses(&answers), [201, 201], "trial {trial}");
        assert_eq!(answers[0].body["id"], answers[1].body["id"], "trial {trial}");
        let replayed = answers
            .iter()
            .filter(|a| a.header("idempotent-replayed") == Some("true"))
            .count();
        assert_eq!(replayed, 1, "trial {trial}");
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, TRIALS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_filings_or_a_filing_and_a_revision_onto_one_ticket_leave_one_open() {
    let app = TestApp::spawn().await;
    let people = app.create_users("agent", 2).await;
    for trial in 0..TRIALS {
        let ticket = format!("T-race-{trial}-{}", Uuid::now_v7().simple());
        let filing = |who: &User| {
            who.request(Method::POST, "/v1/proposals")
                .json(&crate::helpers::proposal_body(json!({ "ticket_ref": ticket })))
        };
        // Filing / filing, by two agents.
        let answers = at_once(vec![filing(&people[0]), filing(&people[1])]).await;
        assert_eq!(sorted_statuses(&answers), [201, 409], "trial {trial}");
        // Filing / a revision moving another refund onto the ticket, once
        // the first is withdrawn.
        let open = answers.iter().find(|a| a.status == 201).unwrap().id();
        let owner = if answers[0].status == 201 {
            &people[0]
        } else {
            &people[1]
        };
        owner.withdraw(&open).await.expect(200);
        let elsewhere = people[0].file(json!({})).await.expect(201).id();
        let moving = people[0]
            .request(Method::PATCH, &format!("/v1/proposals/{elsewhere}"))
            .json(&json!({ "ticket_ref": ticket }));
        let answers = at_once(vec![filing(&people[1]), moving]).await;
        let outcomes = statuses(&answers);
        assert!(
            outcomes == [201, 409] || outcomes == [409, 200],
            "trial {trial}: the filing or the revision, never both: {outcomes:?}"
        );
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM proposals WHERE ticket_ref = $1 AND category = 'refund' AND status = 'pending'",
        )
        .bind(&ticket)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(open, 1, "trial {trial}: exactly one open proposal on the ticket");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acting_alone_racing_a_cosign_or_a_decline_decides_once() {
    let app = TestApp::spawn_with(crate::helpers::alone_for_small_refunds).await;
    let people = app.create_users("agent", 2).await;
    let (proposer, peer) = (&people[0], &people[1]);
    for trial in 0..TRIALS {
        for peer_action in ["cosign", "decline"] {
            let id = proposer.file(json!({})).await.expect(201).id();
            // Nobody on shift, and the reminder's wait has passed.
            app.state.clock.advance(chrono::Duration::seconds(120));
            let alone = proposer
                .request(Method::POST, &format!("/v1/proposals/{id}/act-alone"))
                .json(&json!({ "reason": "Nobody answered" }));
            let other = peer
                .request(Method::POST, &format!("/v1/proposals/{id}/{peer_action}"))
                .json(&if peer_action == "cosign" {
                    json!({ "revision": 1 })
                } else {
                    json!({ "revision": 1, "reason": "Not this one" })
                });
            let answers = at_once(vec![alone, other]).await;
            let outcomes = statuses(&answers);
            // One of the two acts; the other finds it decided (409), or,
            // for a decline that came first, acting alone is refused.
            assert!(
                outcomes == [200, 409] || outcomes == [409, 200],
                "trial {trial} {peer_action}: {outcomes:?}"
            );
            let row: (String, bool, i64, i64) = sqlx::query_as(
                "SELECT p.status, p.approved_alone,
                        (SELECT count(*) FROM audit_events e WHERE e.subject_id = p.id AND e.event_type = 'proposal.approved'),
                        (SELECT count(*) FROM signatures s WHERE s.proposal_id = p.id)
                 FROM proposals p WHERE p.id = $1",
            )
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
            let alone_won = outcomes[0] == 200;
            let expected = match (peer_action, alone_won) {
                (_, true) => ("approved".to_owned(), true, 1, 0),
                ("cosign", false) => ("approved".to_owned(), false, 1, 1),
                _ => ("pending".to_owned(), false, 0, 1),
            };
            assert_eq!(row, expected, "trial {trial} {peer_action}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acting_alone_racing_the_proposers_deactivation_never_deadlocks_or_half_decides() {
    let app = TestApp::spawn_with(crate::helpers::alone_for_small_refunds).await;
    for trial in 0..TRIALS {
        let proposer = app.create_user("agent").await;
        app.create_user("agent").await;
        let id = proposer.file(json!({})).await.expect(201).id();
        app.state.clock.advance(chrono::Duration::seconds(120));
        let alone = proposer
            .request(Method::POST, &format!("/v1/proposals/{id}/act-alone"))
            .json(&json!({ "reason": "Nobody answered" }));
        let answers = at_once(vec![alone, deactivate(&app, &proposer)]).await;
        assert_eq!(answers[1].status, 200, "trial {trial}: the deactivation goes through");
        assert!(
            [200, 401, 409].contains(&answers[0].status.as_u16()),
            "trial {trial}: {} {}",
            answers[0].status,
            answers[0].body
        );
        let status: String = sqlx::query_scalar("SELECT status FROM proposals WHERE id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let expected = if answers[0].status == 200 {
            "approved"
        } else {
            "withdrawn"
        };
        assert_eq!(status, expected, "trial {trial}");
    }
}

#[tokio::test]
async fn a_filing_racing_a_retirement_is_approved_only_if_it_came_first() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let mut approved_before = 0;
    for _ in 0..TRIALS {
        let standing = manager
            .post(
                "/v1/standing-approvals",
                &json!({
                    "category": "refund", "policy_ref": "REFUND-30-DAYS", "max_amount_minor": 5000,
                    "currency": "EUR", "note": "small refunds are policy"
                }),
            )
            .await
            .expect(201)
            .id();
        let file = app
            .request(Method::POST, "/v1/proposals", Some(&proposer.token))
            .json(&crate::helpers::proposal_body(json!({ "amount_minor": 100 })));
        let retire = app
            .request(
                Method::POST,
                &format!("/v1/standing-approvals/{standing}/retire"),
                Some(&manager.token),
            )
            .json(&json!({}));
        let answers = at_once(vec![file, retire]).await;
        let (filed, retired) = (&answers[0], &answers[1]);
        assert_eq!(
            (filed.status.as_u16(), retired.status.as_u16()),
            (201, 200),
            "{:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        // The retirement counts what was approved before it: a filing
        // approved by it committed first, one after it saw it retired.
        let approved = filed.body["status"] == "approved";
        assert_eq!(
            retired.body["usage"]["proposals"],
            i64::from(approved),
            "{:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        if approved {
            assert_eq!(filed.body["standing_approval_id"], standing.as_str());
            approved_before += 1;
        } else {
            assert_eq!(filed.body["status"], "pending");
            proposer.withdraw(&filed.id()).await.expect(200);
        }
    }
    println!("filings approved before the retirement: {approved_before} of {TRIALS}");
}

/// A service where a filing above 500.00 EUR needs two co-signers, one of
/// them a senior.
async fn one_peer_and_one_senior_above_500_eur() -> TestApp {
    TestApp::spawn_with(|s| {
        let eur = s.proposals.thresholds.iter_mut().find(|t| t.currency == "EUR").unwrap();
        (eur.above_minor, eur.required_cosigners) = (50_000, 2);
        eur.required_groups = vec!["senior".into()];
    })
    .await
}

#[tokio::test]
async fn two_peers_outside_the_needed_group_at_once_take_one_place_and_leave_the_senior_one() {
    let app = one_peer_and_one_senior_above_500_eur().await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    for _ in 0..TRIALS {
        let id = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
        let answers = at_once(vec![cosign(&app, &first, &id, 1), cosign(&app, &second, &id, 1)]).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "{:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        let refused = answers.iter().find(|a| a.status.as_u16() == 409).unwrap();
        assert_eq!(refused.body["type"], "urn:countersign:problem:signer-group-needed");
        let shown = proposer.read(&id).await.expect(200).proposal();
        assert_eq!((shown.status, shown.endorsements), (Status::Pending, 1));
        proposer.withdraw(&id).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_senior_cosign_racing_the_removal_of_their_group_approves_only_if_it_came_first() {
    let app = one_peer_and_one_senior_above_500_eur().await;
    let proposer = app.create_user("agent").await;
    let (peer, senior) = (app.create_user("agent").await, app.create_user("agent").await);
    let set_groups = |groups: Value| {
        app.request(
            Method::PATCH,
            &format!("/v1/employees/{}", senior.id),
            Some(&app.admin.token),
        )
        .json(&json!({ "groups": groups }))
    };
    let mut approved_first = 0;
    for trial in 0..TRIALS {
        assert_eq!(set_groups(json!(["senior"])).send().await.unwrap().status(), 200);
        let id = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
        peer.cosign(&id).await.expect(200);
        let answers = at_once(vec![cosign(&app, &senior, &id, 1), set_groups(json!([]))]).await;
        let trace = || {
            format!(
                "trial {trial}: {:?}",
                answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
            )
        };
        assert_eq!(answers[1].status, 200, "{}", trace());
        assert_eq!(answers[1].body["groups"], json!([]), "{}", trace());
        let row = stored(&app, &id).await;
        match answers[0].status.as_u16() {
            // The co-sign held the senior's row: the group changed after it.
            200 => {
                assert_eq!(answers[0].body["status"], "approved", "{}", trace());
                assert_eq!(
                    (row.status.as_str(), row.endorsements, row.decisions),
                    ("approved", 2, 1),
                    "{}",
                    trace()
                );
                approved_first += 1;
            }
            // The group was gone first: the senior place is still open.
            409 => {
                assert_eq!(
                    problem_type(&answers[0]),
                    "urn:countersign:problem:signer-group-needed",
                    "{}",
                    trace()
                );
                assert_eq!(
                    (row.status.as_str(), row.endorsements, row.decisions),
                    ("pending", 1, 0),
                    "{}",
                    trace()
                );
                proposer.withdraw(&id).await.expect(200);
            }
            _ => panic!("{}", trace()),
        }
    }
    println!("co-signs that came before the group's removal: {approved_first} of {TRIALS}");
}
