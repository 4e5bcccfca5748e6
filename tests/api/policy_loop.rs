//! Exceptions become policy: standing approvals approve the filings they
//! cover as filed (and nothing else), retire at once and count their use;
//! thresholds can need signer groups; a small revision keeps endorsements.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::helpers::{TestApp, User};
use countersign::domain::proposal::{Status, Verdict};

/// A refund of up to 50.00 EUR under REFUND-30-DAYS, as `manager` promotes it.
fn small_refunds(extra: Value) -> Value {
    let mut body = json!({
        "category": "refund",
        "policy_ref": "REFUND-30-DAYS",
        "max_amount_minor": 5000,
        "currency": "EUR",
        "note": "Lost parcels under 50 EUR: refund at once, reviewers agreed ten times"
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn promote(manager: &User, body: Value) -> String {
    manager.post("/v1/standing-approvals", &body).await.expect(201).id()
}

#[tokio::test]
async fn a_covered_filing_is_approved_as_filed_naming_its_standing_approval_and_audited() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let standing = manager
        .post("/v1/standing-approvals", &small_refunds(json!({})))
        .await
        .expect(201);
    assert_eq!(
        standing.header("location"),
        Some(format!("/v1/standing-approvals/{}", standing.id()).as_str())
    );
    assert_eq!(standing.body["active"], true);
    let standing = standing.id();

    let filed = proposer.file(json!({ "amount_minor": 4999 })).await.expect(201);
    let proposal = filed.proposal();
    assert_eq!(proposal.status, Status::Approved);
    assert_eq!(
        proposal.standing_approval_id.map(|id| id.to_string()),
        Some(standing.clone())
    );
    assert!(proposal.signatures.is_empty(), "no peer signed");
    assert_eq!(proposal.decided_at, Some(proposal.created_at));
    let (status, stored): (String, Option<Uuid>) =
        sqlx::query_as("SELECT status, standing_approval_id FROM proposals WHERE id = $1")
            .bind(proposal.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), stored),
        ("approved", Some(Uuid::parse_str(&standing).unwrap()))
    );
    let id = proposal.id.to_string();
    assert_eq!(app.event_types(&id).await, ["proposal.created", "proposal.approved"]);
    let named: Value = sqlx::query_scalar(
        "SELECT payload FROM audit_events WHERE subject_id = $1 AND event_type = 'proposal.approved'",
    )
    .bind(proposal.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(named["standing_approval_id"], standing.as_str());
    assert_eq!(app.event_types(&standing).await, ["standing_approval.created"]);
    // Approved without a peer, it is reviewed like any approval.
    let queue = manager.review_queue("").await.expect(200).proposals();
    assert!(queue.items.iter().any(|p| p.id == proposal.id));
    // The preview says so before filing.
    let preview = proposer
        .post(
            "/v1/proposals/preview",
            &crate::helpers::proposal_body(json!({ "amount_minor": 100, "customer_ref": "CUST-2" })),
        )
        .await
        .expect(200);
    assert_eq!(preview.body["standing_approval_id"], standing.as_str());
}

#[tokio::test]
async fn filings_above_the_limit_outside_the_team_or_after_valid_until_need_a_peer() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let billing = app.create_user_with("agent", json!({ "team": "billing" })).await;
    let sales = app.create_user_with("agent", json!({ "team": "sales" })).await;
    let no_team = app.create_user("agent").await;
    let until = app.state.clock.now() + Duration::hours(1);
    promote(
        &manager,
        small_refunds(json!({ "team": "billing", "valid_until": until })),
    )
    .await;
    let status = async |who: &User, overrides: Value| who.file(overrides).await.expect(201).proposal().status;
    assert_eq!(
        status(&billing, json!({ "amount_minor": 5000 })).await,
        Status::Approved
    );
    assert_eq!(
        status(&billing, json!({ "amount_minor": 5001 })).await,
        Status::Pending,
        "above the limit"
    );
    assert_eq!(
        status(&billing, json!({ "amount_minor": 100, "currency": "USD" })).await,
        Status::Pending,
        "another currency"
    );
    assert_eq!(
        status(&billing, json!({ "amount_minor": 100, "policy_ref": "REFUND-60-DAYS" })).await,
        Status::Pending,
        "another rule"
    );
    assert_eq!(
        status(&sales, json!({ "amount_minor": 100 })).await,
        Status::Pending,
        "another team"
    );
    assert_eq!(
        status(&no_team, json!({ "amount_minor": 100 })).await,
        Status::Pending,
        "no team"
    );
    app.state.clock.advance(Duration::hours(1));
    assert_eq!(
        status(&billing, json!({ "amount_minor": 100 })).await,
        Status::Pending,
        "valid_until is past"
    );
    let approved: i64 = app
        .count("SELECT count(*) FROM proposals WHERE standing_approval_id IS NOT NULL")
        .await;
    assert_eq!(approved, 1);
}

#[tokio::test]
async fn retiring_stops_it_at_once_and_nothing_is_deleted_or_edited() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let standing = promote(&manager, small_refunds(json!({}))).await;
    assert_eq!(
        proposer
            .file(json!({ "amount_minor": 100 }))
            .await
            .expect(201)
            .proposal()
            .status,
        Status::Approved
    );
    // serde would read `[null]` as a body with every field left out.
    let array = manager
        .post(&format!("/v1/standing-approvals/{standing}/retire"), &json!([null]))
        .await
        .expect_problem(422, Some("body"));
    assert!(
        array.body["errors"]["body"].to_string().contains("JSON object"),
        "{}",
        array.body
    );
    let retired = manager
        .post(
            &format!("/v1/standing-approvals/{standing}/retire"),
            &json!({ "reason": "the carrier fixed its tracking" }),
        )
        .await
        .expect(200);
    assert_eq!(retired.body["active"], false);
    assert_eq!(retired.body["retire_reason"], "the carrier fixed its tracking");
    assert_eq!(retired.body["usage"]["proposals"], 1, "its history stays");
    assert_eq!(
        proposer
            .file(json!({ "amount_minor": 100 }))
            .await
            .expect(201)
            .proposal()
            .status,
        Status::Pending
    );
    let again = manager
        .post(&format!("/v1/standing-approvals/{standing}/retire"), &json!({}))
        .await
        .expect_problem(409, None);
    assert_eq!(again.body["type"], "urn:countersign:problem:standing-approval-retired");
    assert_eq!(
        app.event_types(&standing).await,
        ["standing_approval.created", "standing_approval.retired"]
    );
    let id = Uuid::parse_str(&standing).unwrap();
    for sql in [
        "DELETE FROM standing_approvals WHERE id = $1",
        "UPDATE standing_approvals SET max_amount_minor = 1000000 WHERE id = $1",
        "UPDATE standing_approvals SET retired_at = NULL, retired_by = NULL WHERE id = $1",
    ] {
        let error = sqlx::query(sql).bind(id).execute(&app.pool).await.expect_err(sql);
        let constraint = error
            .as_database_error()
            .and_then(|e| e.constraint())
            .map(str::to_owned);
        assert!(
            matches!(
                constraint.as_deref(),
                Some("standing_approvals_never_deleted" | "standing_approvals_only_retired")
            ),
            "{sql}: {error}"
        );
    }
    // Nor can a retired one be named by a filing written straight into the database.
    let pending: Uuid = sqlx::query_scalar("SELECT id FROM proposals WHERE status = 'pending'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let error = sqlx::query(
        "UPDATE proposals SET status = 'approved', standing_approval_id = $2, decided_at = created_at WHERE id = $1",
    )
    .bind(pending)
    .bind(id)
    .execute(&app.pool)
    .await
    .expect_err("a retired standing approval approves nothing");
    assert_eq!(
        error.as_database_error().and_then(|e| e.constraint()),
        Some("standing_approval_covers_filing")
    );
}

#[tokio::test]
async fn its_usage_figures_are_exact() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let reviewer = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let standing = promote(&manager, small_refunds(json!({}))).await;
    let mut ids = Vec::new();
    for amount in [1000, 2000, 3000] {
        let customer = format!("CUST-{amount}");
        let filed = proposer
            .file(json!({ "amount_minor": amount, "customer_ref": customer }))
            .await
            .expect(201);
        assert_eq!(filed.proposal().status, Status::Approved);
        ids.push(filed.id());
    }
    // Filed above its limit: approved by a peer, not counted.
    let outside = proposer.file(json!({ "amount_minor": 6000 })).await.expect(201).id();
    peer.cosign(&outside).await.expect(200);
    proposer
        .record_outcome(
            &ids[0],
            json!({ "executed": true, "actual_amount_minor": 900, "currency": "EUR", "customer_outcome": "satisfied" }),
        )
        .await
        .expect(200);
    proposer
        .record_outcome(
            &ids[1],
            json!({ "executed": true, "actual_amount_minor": 2000, "currency": "EUR", "customer_outcome": "dissatisfied" }),
        )
        .await
        .expect(200);
    reviewer.review(&ids[0], Verdict::Endorse, "Fine").await.expect(200);
    reviewer
        .review(&ids[1], Verdict::Coach, "Ask for the tracking number")
        .await
        .expect(200);
    let shown = manager
        .get(&format!("/v1/standing-approvals/{standing}"))
        .await
        .expect(200);
    let usage = &shown.body["usage"];
    assert_eq!(usage["proposals"], 3);
    assert_eq!(
        usage["amounts"],
        json!([{ "currency": "EUR", "proposals": 3, "approved_minor": 6000, "executed_minor": 2900 }])
    );
    assert_eq!(
        usage["outcomes"],
        json!({ "satisfied": 1, "neutral": 0, "dissatisfied": 1, "unknown": 0, "not_recorded": 1 })
    );
    assert_eq!(
        usage["reviews"],
        json!({ "endorse": 1, "promote_to_policy": 0, "coach": 1, "not_reviewed": 1 })
    );
    let listed = manager.get("/v1/standing-approvals?retired=false").await.expect(200);
    assert_eq!(listed.body["items"][0]["id"], standing.as_str());
    assert_eq!(listed.body["items"][0]["usage"], *usage);
}

#[tokio::test]
async fn a_promote_to_policy_review_drafts_a_standing_approval_and_the_candidates_report_marks_it() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let mut last = String::new();
    for _ in 0..3 {
        last = app.approved_proposal(&proposer, &peer).await;
    }
    manager
        .review(&last, Verdict::PromoteToPolicy, "Every lost parcel ends like this")
        .await
        .expect(200);
    let draft = manager
        .get(&format!("/v1/proposals/{last}/standing-approval-draft"))
        .await
        .expect(200);
    assert_eq!(draft.body["category"], "refund");
    assert_eq!(draft.body["policy_ref"], "REFUND-30-DAYS");
    assert_eq!(
        (draft.body["max_amount_minor"].clone(), draft.body["currency"].clone()),
        (json!(4999), json!("EUR"))
    );
    assert_eq!(draft.body["source_proposal_id"], last.as_str());
    assert!(draft.body["note"].as_str().unwrap().contains("Every lost parcel"));

    let report = manager.get("/v1/reports/policy-candidates").await.expect(200);
    let row = &report.body["items"][0];
    assert_eq!(row["standing_approval_ids"], json!([]));
    let offered = row["create_standing_approval"].as_str().unwrap().to_owned();
    let from_candidate = manager.get(&offered).await.expect(200);
    assert_eq!(from_candidate.body["max_amount_minor"], 4999);
    assert_eq!(from_candidate.body["source_proposal_id"], last.as_str());

    let created = manager.post("/v1/standing-approvals", &draft.body).await.expect(201);
    assert_eq!(created.body["source_proposal_id"], last.as_str());
    let report = manager.get("/v1/reports/policy-candidates").await.expect(200);
    assert_eq!(report.body["items"][0]["standing_approval_ids"], json!([created.id()]));
    let csv = manager.text("/v1/reports/policy-candidates.csv").await;
    assert!(csv.lines().next().unwrap().ends_with(",standing_approvals"), "{csv}");
    assert!(csv.lines().nth(1).unwrap().ends_with(",1"), "{csv}");
}

#[tokio::test]
async fn only_managers_and_admins_promote_and_only_what_peers_could_approve() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let helpdesk = app.integration("generic").await;
    agent
        .post("/v1/standing-approvals", &small_refunds(json!({})))
        .await
        .expect_problem(403, None);
    helpdesk
        .acting_for(agent.id.to_string())
        .post("/v1/standing-approvals", &small_refunds(json!({})))
        .await
        .expect_problem(403, None);
    agent.get("/v1/standing-approvals").await.expect_problem(403, None);
    app.admin
        .post("/v1/standing-approvals", &small_refunds(json!({})))
        .await
        .expect(201);
    let refused = [
        (
            json!({ "max_amount_minor": null, "currency": null }),
            "max_amount_minor",
        ),
        (json!({ "max_amount_minor": 500001 }), "max_amount_minor"),
        (json!({ "category": "bribe" }), "category"),
        (json!({ "currency": "JPY" }), "currency"),
        (json!({ "note": "  " }), "note"),
    ];
    for (change, field) in refused {
        manager
            .post("/v1/standing-approvals", &small_refunds(change.clone()))
            .await
            .expect_problem(422, Some(field));
    }
    // A window already over, and a source that does not exist, are not
    // the fields' form but what they meet.
    let over = manager
        .post(
            "/v1/standing-approvals",
            &small_refunds(json!({ "valid_until": Utc::now() - Duration::days(1) })),
        )
        .await
        .expect_problem(409, Some("valid_until"));
    assert_eq!(over.body["type"], "urn:countersign:problem:standing-approval-window");
    manager
        .post(
            "/v1/standing-approvals",
            &small_refunds(json!({ "source_proposal_id": Uuid::now_v7() })),
        )
        .await
        .expect_problem(404, None);
    assert_eq!(app.count("SELECT count(*) FROM standing_approvals").await, 1);
}

/// Above 500.00 EUR: two co-signers, one of them a senior agent.
fn senior_above_500(settings: &mut countersign::config::Settings) {
    let threshold = settings
        .proposals
        .thresholds
        .iter_mut()
        .find(|t| t.currency == "EUR")
        .expect("an EUR threshold");
    threshold.above_minor = 50_000;
    threshold.required_cosigners = 2;
    threshold.required_groups = vec!["senior".into()];
}

#[tokio::test]
async fn a_group_rule_refuses_two_peers_where_a_senior_is_needed_and_approves_a_peer_and_a_senior() {
    let app = TestApp::spawn_with(senior_above_500).await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let senior = app.create_user_with("agent", json!({ "groups": ["senior"] })).await;

    let preview = proposer
        .post(
            "/v1/proposals/preview",
            &crate::helpers::proposal_body(json!({ "amount_minor": 60000 })),
        )
        .await
        .expect(200);
    assert_eq!(preview.body["required_groups"], json!(["senior"]));
    let listed = preview.body["cosigners"].as_array().unwrap();
    let senior_listed = listed
        .iter()
        .find(|c| c["employee_id"] == senior.id.to_string())
        .unwrap();
    assert_eq!(senior_listed["groups"], json!(["senior"]));

    let filed = proposer
        .file(json!({ "amount_minor": 60000 }))
        .await
        .expect(201)
        .proposal();
    assert_eq!(
        (filed.required_cosigners, filed.required_groups.clone()),
        (2, vec!["senior".to_owned()])
    );
    assert_eq!(filed.missing_groups, vec!["senior".to_owned()]);
    let id = filed.id.to_string();
    assert_eq!(first.cosign(&id).await.expect(200).proposal().status, Status::Pending);
    // The last place is the senior's: only the senior's inbox still shows it.
    let listed = async |who: &User| who.inbox().await.expect(200).proposals().ids().contains(&id);
    assert!(!listed(&second).await, "a second peer cannot take the senior's place");
    assert!(listed(&senior).await);
    let refused = second.cosign(&id).await.expect_problem(409, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:signer-group-needed");
    assert!(refused.body["detail"].as_str().unwrap().contains("senior"));
    let approved = senior.cosign(&id).await.expect(200).proposal();
    assert_eq!(approved.status, Status::Approved);
    assert!(approved.missing_groups.is_empty());
    let signed: i64 = app
        .count(&format!("SELECT count(*) FROM signatures WHERE proposal_id = '{id}'"))
        .await;
    assert_eq!(signed, 2, "never more signatures than it took");

    // The schema refuses an approval without the senior, whatever the code does.
    let other = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
    first.cosign(&other).await.expect(200);
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, created_at)
         VALUES ($1, $2, $3, $4, 1, 'endorse', now())",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::parse_str(&other).unwrap())
    .bind(proposer.id)
    .bind(second.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let error = sqlx::query("UPDATE proposals SET status = 'approved', decided_at = now() WHERE id = $1")
        .bind(Uuid::parse_str(&other).unwrap())
        .execute(&mut *tx)
        .await
        .expect_err("no senior endorsed it");
    assert_eq!(
        error.as_database_error().and_then(|e| e.constraint()),
        Some("approval_needs_signer_groups")
    );
}

#[tokio::test]
async fn signer_groups_are_set_by_an_admin_and_checked() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let changed = app
        .admin
        .patch(
            &format!("/v1/employees/{}", agent.id),
            &json!({ "groups": ["senior", "billing", "senior"] }),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["groups"], json!(["billing", "senior"]));
    app.admin
        .patch(
            &format!("/v1/employees/{}", agent.id),
            &json!({ "groups": ["Senior Agent"] }),
        )
        .await
        .expect_problem(422, Some("groups"));
    agent
        .patch(&format!("/v1/employees/{}", agent.id), &json!({ "groups": ["senior"] }))
        .await
        .expect_problem(403, None);
    let groups: Vec<String> = sqlx::query_scalar("SELECT groups FROM employees WHERE id = $1")
        .bind(agent.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(groups, ["billing", "senior"]);
}

#[tokio::test]
async fn an_amount_decrease_or_a_typo_fix_keeps_endorsements_and_an_increase_voids_them() {
    let app = TestApp::spawn_with(|s| {
        s.proposals.default_required_cosigners = 2;
        s.proposals.material_change.keep_endorsements_on_resolution_typo_chars = 2;
    })
    .await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({ "amount_minor": 4000 })).await.expect(201).id();
    first.cosign(&id).await.expect(200);

    let lower = proposer
        .revise(&id, json!({ "amount_minor": 3000 }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(
        (lower.revision, lower.endorsements),
        (2, 1),
        "a decrease keeps the endorsement"
    );
    assert!(
        !first.inbox().await.expect(200).proposals().ids().contains(&id),
        "a kept endorser has nothing more to co-sign"
    );
    assert!(second.inbox().await.expect(200).proposals().ids().contains(&id));
    let typo = proposer
        .revise(&id, json!({ "resolution": "Refund the ordre in full" }))
        .await
        .expect(200)
        .proposal();
    assert_eq!((typo.revision, typo.endorsements), (3, 1), "so does a typo fix");
    let again = first.cosign(&id).await.expect_problem(409, None);
    assert_eq!(again.body["type"], "urn:countersign:problem:already-signed");

    // Back up to what was endorsed: still within it.
    let back = proposer
        .revise(&id, json!({ "amount_minor": 4000 }))
        .await
        .expect(200)
        .proposal();
    assert_eq!((back.revision, back.endorsements), (4, 1), "no more than was endorsed");
    // Typo on typo: measured against the endorsed text, the edits add up.
    let drifted = proposer
        .revise(&id, json!({ "resolution": "Refund tha ordre in full" }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(drifted.endorsements, 0, "three characters from what was endorsed");
    first.cosign(&id).await.expect(200);
    let higher = proposer
        .revise(&id, json!({ "amount_minor": 4001 }))
        .await
        .expect(200)
        .proposal();
    assert_eq!((higher.revision, higher.endorsements), (6, 0), "an increase voids it");
    assert_eq!(first.cosign(&id).await.expect(200).proposal().status, Status::Pending);
    assert_eq!(second.cosign(&id).await.expect(200).proposal().status, Status::Approved);

    let kept: Vec<bool> = sqlx::query_scalar(
        "SELECT (payload->>'endorsements_kept')::boolean FROM audit_events
         WHERE subject_id = $1 AND event_type = 'proposal.revised' ORDER BY id",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, [true, true, true, false, false]);

    // The schema never lets endorsements carry over a higher amount, a
    // changed number or a rewritten resolution.
    let other = proposer.file(json!({ "amount_minor": 4000 })).await.expect(201).id();
    for change in [
        "amount_minor = amount_minor + 1",
        "resolution = 'Refund the order in full, 2 times'",
        "resolution = 'Ship a replacement and refund the order in full'",
    ] {
        let sql = format!("UPDATE proposals SET revision = revision + 1, {change} WHERE id = $1");
        let error = sqlx::query(AssertSqlSafe(sql))
            .bind(Uuid::parse_str(&other).unwrap())
            .execute(&app.pool)
            .await
            .expect_err(change);
        assert_eq!(
            error.as_database_error().and_then(|e| e.constraint()),
            Some("kept_endorsements_within_tolerance"),
            "{change}"
        );
    }
}

#[tokio::test]
async fn a_kept_revision_never_lowers_the_bar_its_endorsements_were_given_under() {
    let app = TestApp::spawn_with(senior_above_500).await;
    let proposer = app.create_user("agent").await;
    let senior = app.create_user_with("agent", json!({ "groups": ["senior"] })).await;
    let peer = app.create_user("agent").await;
    let id = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
    senior.cosign(&id).await.expect(200);
    let lower = proposer
        .revise(&id, json!({ "amount_minor": 40000 }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(lower.status, Status::Pending, "a revision never approves");
    assert_eq!(
        (
            lower.required_cosigners,
            lower.endorsements,
            lower.required_groups.clone()
        ),
        (2, 1, vec!["senior".to_owned()])
    );
    assert_eq!(peer.cosign(&id).await.expect(200).proposal().status, Status::Approved);
}

#[tokio::test]
async fn a_kept_endorser_may_decline_the_lower_amount_which_withdraws_their_endorsement() {
    let app = TestApp::spawn_with(|s| s.proposals.default_required_cosigners = 2).await;
    let proposer = app.create_user("agent").await;
    let (first, second) = (app.create_user("agent").await, app.create_user("agent").await);
    let id = proposer.file(json!({ "amount_minor": 4000 })).await.expect(201).id();
    first.cosign(&id).await.expect(200);
    let lower = proposer
        .revise(&id, json!({ "amount_minor": 1000 }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(lower.endorsements, 1);
    let declined = first
        .decline(&id, "A quarter will not settle it")
        .await
        .expect(200)
        .proposal();
    assert_eq!((declined.status, declined.endorsements), (Status::Pending, 0));
    assert_eq!(
        second.cosign(&id).await.expect(200).proposal().status,
        Status::Pending,
        "one of two: the withdrawn endorsement does not count"
    );
    // A typo fix keeps nothing by default.
    let typo = proposer
        .revise(&id, json!({ "resolution": "Refund the ordre in full" }))
        .await
        .expect(200)
        .proposal();
    assert_eq!(typo.endorsements, 0);
}

#[tokio::test]
async fn a_standing_approval_approves_one_filing_per_ticket_and_customer_and_caps_the_outcome() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user("agent").await;
    let standing = promote(&manager, small_refunds(json!({}))).await;
    let first = proposer
        .file(json!({ "amount_minor": 4000, "customer_ref": "CUST-9" }))
        .await
        .expect(201)
        .proposal();
    assert_eq!(first.status, Status::Approved);
    // The same customer again within 7 days: split into two under the
    // limit, it needs a peer.
    let again = proposer
        .file(json!({ "amount_minor": 4000, "customer_ref": "CUST-9" }))
        .await
        .expect(201)
        .proposal();
    assert_eq!(again.status, Status::Pending);
    proposer.withdraw(&again.id.to_string()).await.expect(200);
    for (customer, why) in [
        (json!("cust-9"), "the same customer, however written"),
        (json!(null), "no customer named: the case cannot be told"),
    ] {
        let filed = proposer
            .file(json!({ "amount_minor": 4000, "customer_ref": customer }))
            .await
            .expect(201)
            .proposal();
        assert_eq!(filed.status, Status::Pending, "{why}");
        proposer.withdraw(&filed.id.to_string()).await.expect(200);
    }
    let other = proposer
        .file(json!({ "amount_minor": 4000, "customer_ref": "CUST-10" }))
        .await
        .expect(201)
        .proposal();
    assert_eq!(other.status, Status::Approved, "another customer");
    app.state.clock.advance(Duration::days(8));
    assert_eq!(
        proposer
            .file(json!({ "amount_minor": 4000, "customer_ref": "CUST-9" }))
            .await
            .expect(201)
            .proposal()
            .status,
        Status::Approved,
        "a week on, a new case"
    );
    // What was paid may not exceed what was approved without a peer.
    let first_id = first.id.to_string();
    let above = proposer
        .record_outcome(
            &first_id,
            json!({ "executed": true, "actual_amount_minor": 4001, "currency": "EUR", "customer_outcome": "satisfied" }),
        )
        .await
        .expect_problem(422, Some("actual_amount_minor"));
    assert_eq!(
        above.body["errors"]["actual_amount_minor"],
        "is more than the 40.00 EUR approved without a peer"
    );
    // A draft takes what was approved; never from a pending proposal.
    let pending = proposer.file(json!({ "amount_minor": 6000 })).await.expect(201).id();
    manager
        .get(&format!("/v1/proposals/{pending}/standing-approval-draft"))
        .await
        .expect_problem(409, None);
    let refused = manager
        .post(
            "/v1/standing-approvals",
            &small_refunds(json!({ "source_proposal_id": pending })),
        )
        .await
        .expect_problem(409, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:source-not-decided");
    let usage = manager
        .get(&format!("/v1/standing-approvals/{standing}"))
        .await
        .expect(200)
        .body["usage"]["proposals"]
        .clone();
    assert_eq!(usage, 3);
}

#[tokio::test]
async fn a_standing_approval_created_again_under_its_key_is_the_first_answer_replayed() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let send = || {
        crate::helpers::Answer::of(
            manager
                .request(reqwest::Method::POST, "/v1/standing-approvals")
                .header("Idempotency-Key", "promote-lost-parcels")
                .json(&small_refunds(json!({}))),
        )
    };
    let first = send().await.expect(201);
    let again = send().await.expect(201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(app.count("SELECT count(*) FROM standing_approvals").await, 1);
}
