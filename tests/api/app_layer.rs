//! The application layer without HTTP: the use cases every door calls,
//! driven directly on a test app's database with actors built by hand, and
//! checked in what they answer, in the rows and in the audit events. What
//! holds here holds for any door, not only the REST API.

use countersign::app::proposals::{self, Signing};
use countersign::app::{Actor, AppError, Written};
use countersign::domain::employee::{Person, Role};
use countersign::domain::policy::Money;
use countersign::domain::proposal::{RuleViolation, Status, Terms, Verdict};
use countersign::problem::{ApiError, ProblemType};
use countersign::views::Proposal;
use uuid::Uuid;

use crate::helpers::{TestApp, User};

/// The actor a door would authenticate for `user`, acting in person. The
/// token id is only for idempotency scopes, which these calls do not use.
fn actor(user: &User, role: Role) -> Actor {
    Actor {
        person: Some(Person {
            id: user.id,
            role,
            active: true,
        }),
        via_integration: None,
        token_id: Uuid::now_v7(),
    }
}

/// A 49.99 EUR refund, which one co-signer approves under the default policy.
fn refund() -> Terms {
    Terms {
        category: "refund".to_owned(),
        policy_ref: "REFUND-30-DAYS".to_owned(),
        summary: "Refund after 45 days".to_owned(),
        resolution: "Refund the order in full".to_owned(),
        justification: "Long-standing customer; the parcel was lost by the carrier".to_owned(),
        customer_ref: Some("CUST-1".to_owned()),
        ticket_ref: Some("T-100".to_owned()),
        amount: Some(Money {
            minor: 4999,
            currency: "EUR".to_owned(),
        }),
    }
}

/// The proposal a write answered, which must have happened now (with no
/// idempotency key there is nothing to replay), created or changed.
#[track_caller]
fn done(written: Result<Written<Proposal>, AppError>, created: bool) -> Proposal {
    match written {
        Ok(Written::Done {
            value,
            created: was_created,
        }) => {
            assert_eq!(was_created, created, "created");
            value
        }
        other => panic!("expected the write done now, got {other:?}"),
    }
}

/// The problem `type` every door answers a refusal with.
fn problem_type(refused: AppError) -> String {
    ApiError::from(refused).to_problem().problem_type
}

async fn stored_status(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM proposals WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn expiry_a_cosign_and_reviews_write_their_rows_and_events_without_http() {
    // The expiry worker stays asleep: the test runs it by hand.
    let app = TestApp::spawn_with(|settings| settings.proposals.expiry_interval_secs = 3600).await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let (as_proposer, as_peer, as_manager) = (
        actor(&proposer, Role::Agent),
        actor(&peer, Role::Agent),
        actor(&manager, Role::Manager),
    );

    // Filed and co-signed: one endorsement approves.
    let filed = done(proposals::file(&app.state, &as_proposer, refund(), None).await, true);
    assert_eq!(
        (
            filed.status,
            filed.proposer_id,
            filed.revision,
            filed.required_cosigners
        ),
        (Status::Pending, proposer.id, 1, 1)
    );
    let approved = filed.id;
    let signing = Signing {
        revision: Some(1),
        ..Signing::default()
    };
    let cosigned = done(
        proposals::cosign(&app.state, &as_peer, approved, signing, None).await,
        false,
    );
    assert_eq!((cosigned.status, cosigned.endorsements), (Status::Approved, 1));
    assert_eq!(cosigned.signatures[0].employee_id, peer.id);
    assert!(cosigned.decided_at.is_some());
    assert_eq!(stored_status(&app, approved).await, "approved");
    let signatures: Vec<(Uuid, i32, String)> =
        sqlx::query_as("SELECT employee_id, revision, decision FROM signatures WHERE proposal_id = $1")
            .bind(approved)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(signatures, vec![(peer.id, 1, "endorse".to_owned())]);

    // A second proposal runs out of time; the expiry leaves the approved one be.
    let late = done(proposals::file(&app.state, &as_proposer, refund(), None).await, true).id;
    app.let_deadline_pass(Some(&late.to_string())).await;
    assert_eq!(proposals::expire_overdue(&app.state).await.unwrap(), 1);
    assert_eq!(stored_status(&app, late).await, "expired");
    assert_eq!(stored_status(&app, approved).await, "approved");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM proposals WHERE id = '{late}' AND decided_at = expires_at"
        ))
        .await,
        1,
        "expired at the deadline, not when the worker ran"
    );

    // A manager reviews both; a review never changes the decision.
    for (id, status, verdict) in [
        (approved, Status::Approved, Verdict::Endorse),
        (late, Status::Expired, Verdict::Coach),
    ] {
        let reviewed = done(
            proposals::review(&app.state, &as_manager, id, verdict, "a fair call".to_owned(), None).await,
            false,
        );
        assert_eq!(reviewed.status, status);
        let review = reviewed.review.expect("the review is in the answer");
        assert_eq!((review.reviewer_id, review.verdict), (manager.id, verdict));
        let row: (Uuid, String, String) = sqlx::query_as(
            "SELECT r.reviewer_id, r.verdict, p.status FROM proposal_reviews r JOIN proposals p ON p.id = r.proposal_id
             WHERE r.proposal_id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            row,
            (manager.id, verdict.as_str().to_owned(), status.as_str().to_owned())
        );
    }

    assert_eq!(
        app.event_types(&approved.to_string()).await,
        vec![
            "proposal.created",
            "proposal.cosigned",
            "proposal.approved",
            "proposal.reviewed"
        ]
    );
    assert_eq!(
        app.event_types(&late.to_string()).await,
        vec!["proposal.created", "proposal.expired", "proposal.reviewed"]
    );
}

#[tokio::test]
async fn the_proposer_cosigning_their_own_proposal_is_refused_and_writes_nothing_without_http() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let as_proposer = actor(&proposer, Role::Agent);
    let id = done(proposals::file(&app.state, &as_proposer, refund(), None).await, true).id;

    let refused = proposals::cosign(
        &app.state,
        &as_proposer,
        id,
        Signing {
            revision: Some(1),
            ..Signing::default()
        },
        None,
    )
    .await;
    assert!(
        matches!(refused, Err(AppError::Rule(RuleViolation::OwnProposal))),
        "{refused:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
    assert_eq!(stored_status(&app, id).await, "pending");
    assert_eq!(app.event_types(&id.to_string()).await, vec!["proposal.created"]);
}

#[tokio::test]
async fn a_filing_by_someone_deactivated_since_they_were_authenticated_is_refused() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    // Authenticated while active; deactivated before the filing is written.
    let stale = actor(&proposer, Role::Agent);
    app.set_employee(&proposer, serde_json::json!({ "active": false }))
        .await;

    let refused = proposals::file(&app.state, &stale, refund(), None)
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, AppError::Rule(RuleViolation::NotAnActiveAgent { .. })),
        "{refused:?}"
    );
    assert_eq!(problem_type(refused), ProblemType::NotAnActiveAgent.uri());
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE subject_type = 'proposal'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_review_by_a_manager_deactivated_since_they_were_authenticated_is_refused() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    let manager = app.create_user("manager").await;
    let id = app.approved_proposal(&proposer, &peer).await;
    // Authenticated while active; deactivated before the review is written.
    let stale = actor(&manager, Role::Manager);
    app.set_employee(&manager, serde_json::json!({ "active": false })).await;

    let id = Uuid::parse_str(&id).unwrap();
    let refused = proposals::review(&app.state, &stale, id, Verdict::Endorse, "late".to_owned(), None)
        .await
        .expect_err("refused");
    assert_eq!(problem_type(refused), ProblemType::NotAnActiveManager.uri());
    assert_eq!(app.count("SELECT count(*) FROM proposal_reviews").await, 0);
    assert_eq!(
        app.event_types(&id.to_string()).await,
        vec!["proposal.created", "proposal.cosigned", "proposal.approved"]
    );
}
