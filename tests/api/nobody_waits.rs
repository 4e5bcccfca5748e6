//! Nobody waits: who is on shift, the preview before filing, and one open
//! proposal per ticket and category. Time moves with the service's clock
//! (`state.clock.advance`), never by sleeping.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User, alone_for_small_refunds, eventually};

fn ticket() -> String {
    format!("T-{}", Uuid::now_v7().simple())
}

async fn availability(agent: &User) -> Value {
    agent.get("/v1/me/availability").await.expect(200).body
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

async fn events_about(app: &TestApp, subject: Uuid, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE subject_id = $1 AND event_type = $2")
        .bind(subject)
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_agent_says_they_are_on_shift_and_it_lapses_without_activity() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let never = availability(&agent).await;
    assert_eq!(
        never,
        json!({ "available": false, "available_until": null, "changed_at": null })
    );

    let said = agent
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200)
        .body;
    assert_eq!(said["available"], true);
    let until = time(&said["available_until"]);
    let changed = time(&said["changed_at"]);
    assert_eq!(until - changed, Duration::minutes(30), "the default idle window");
    assert_eq!(events_about(&app, agent.id, "employee.availability_changed").await, 1);
    // Saying it again changes nothing but the activity: no second event.
    agent
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    assert_eq!(events_about(&app, agent.id, "employee.availability_changed").await, 1);
    assert_eq!(availability(&agent).await["changed_at"], said["changed_at"]);

    // A request 20 minutes later keeps them on shift for another 30.
    app.state.clock.advance(Duration::minutes(20));
    agent.get("/v1/me").await.expect(200);
    let kept = eventually("the activity noted", std::time::Duration::from_secs(5), async || {
        let now = availability(&agent).await;
        // (Saying it again above moved it by milliseconds; this moves it 20 minutes.)
        (time(&now["available_until"]) >= until + Duration::minutes(20)).then_some(now)
    })
    .await;
    assert_eq!(kept["available"], true);
    // 31 minutes without a request: lapsed, and a request then does not
    // bring it back (they went home; they say so again when they return).
    app.state.clock.advance(Duration::minutes(31));
    let lapsed = availability(&agent).await;
    assert_eq!(
        (lapsed["available"].clone(), lapsed["available_until"].clone()),
        (json!(false), json!(null))
    );
    app.state.clock.advance(Duration::minutes(2));
    agent.get("/v1/me").await.expect(200);
    assert_eq!(availability(&agent).await["available"], false);
    let row: (bool, DateTime<Utc>) =
        sqlx::query_as("SELECT available, last_active_at FROM agent_availability WHERE employee_id = $1")
            .bind(agent.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(row.0, "the lapse is computed, not written: nobody acted");
    assert_eq!(row.1, time(&kept["available_until"]) - Duration::minutes(30));

    // Off shift: an event, and never available.
    let off = agent
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    assert_eq!(off.body["available"], true);
    let off = agent
        .put("/v1/me/availability", &json!({ "available": false }))
        .await
        .expect(200);
    assert_eq!(off.body["available"], false);
    assert_eq!(events_about(&app, agent.id, "employee.availability_changed").await, 3);
}

#[tokio::test]
async fn availability_is_an_agents_and_its_body_is_checked() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    manager
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect_problem(403, None);
    let agent = app
        .create_user_with("agent", json!({ "external_id": "zd-agent-7" }))
        .await;
    agent
        .put("/v1/me/availability", &json!({}))
        .await
        .expect_problem(422, Some("available"));
    agent
        .put("/v1/me/availability", &json!({ "available": "yes" }))
        .await
        .expect_problem(422, Some("available"));
    assert_eq!(app.count("SELECT count(*) FROM agent_availability").await, 0);
    // A helpdesk sidebar says it for the agent: recorded as through it.
    let helpdesk = app.integration("zendesk").await;
    let said = helpdesk
        .acting_for("zd-agent-7")
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    assert_eq!(said.body["available"], true);
    let via: Option<Uuid> = sqlx::query_scalar(
        "SELECT via_integration_id FROM audit_events WHERE subject_id = $1 AND event_type = 'employee.availability_changed'",
    )
    .bind(agent.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(via, Some(helpdesk.id));
}

#[tokio::test]
async fn the_preview_says_what_filing_would_do_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user_with("agent", json!({ "team": "north" })).await;
    let north = app
        .create_user_with("agent", json!({ "team": "north", "name": "B north" }))
        .await;
    let south = app
        .create_user_with("agent", json!({ "team": "south", "name": "A south" }))
        .await;
    let on_shift = app
        .create_user_with("agent", json!({ "team": "south", "name": "Z south" }))
        .await;
    let gone = app.create_user_with("agent", json!({ "team": "north" })).await;
    app.set_employee(&gone, json!({ "active": false })).await;
    on_shift
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    let written = async || {
        [
            app.count("SELECT count(*) FROM proposals").await,
            app.count("SELECT count(*) FROM audit_events").await,
        ]
    };
    let before = written().await;

    let preview = proposer
        .post("/v1/proposals/preview", &crate::helpers::proposal_body(json!({})))
        .await
        .expect(200)
        .body;
    assert_eq!(preview["allowed"], true);
    assert_eq!(preview["refusal"], Value::Null);
    assert_eq!(preview["required_cosigners"], 1);
    assert_eq!(preview["threshold"], Value::Null);
    assert_eq!(
        preview["peer_limit"],
        json!({ "amount_minor": 500000, "currency": "EUR" })
    );
    assert_eq!(
        (preview["eligible_count"].clone(), preview["available_count"].clone()),
        (json!(3), json!(1))
    );
    let order: Vec<(String, bool)> = preview["cosigners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["employee_id"].as_str().unwrap().to_owned(),
                c["available"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (on_shift.id.to_string(), true),
            (north.id.to_string(), false),
            (south.id.to_string(), false)
        ],
        "on shift first, then the proposer's team, then by name; never the proposer or someone deactivated"
    );
    assert_eq!(written().await, before, "a preview writes nothing");

    // Above a threshold: the rule named, and filing then does the same.
    let large = crate::helpers::proposal_body(json!({ "amount_minor": 80000 }));
    let preview = proposer.post("/v1/proposals/preview", &large).await.expect(200).body;
    assert_eq!(preview["required_cosigners"], 2);
    assert_eq!(
        preview["threshold"],
        json!({ "currency": "EUR", "above_minor": 50000, "required_cosigners": 2 })
    );
    let filed = proposer.post("/v1/proposals", &large).await.expect(201).body;
    assert_eq!(filed["required_cosigners"], preview["required_cosigners"]);
    let after_filing = written().await;

    // What filing would refuse: allowed false, with the problem filing answers.
    let too_much = proposer
        .post(
            "/v1/proposals/preview",
            &crate::helpers::proposal_body(json!({ "amount_minor": 600000 })),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(too_much["allowed"], false);
    assert_eq!(
        too_much["refusal"]["type"],
        "urn:countersign:problem:exceeds-peer-limit"
    );
    assert_eq!(too_much["required_cosigners"], Value::Null);
    let unknown = crate::helpers::proposal_body(json!({ "category": "teleportation" }));
    let previewed = proposer.post("/v1/proposals/preview", &unknown).await.expect(200).body;
    assert_eq!(previewed["allowed"], false);
    let refused = proposer
        .post("/v1/proposals", &unknown)
        .await
        .expect_problem(422, Some("category"));
    assert_eq!(
        previewed["refusal"]["type"], refused.body["type"],
        "the problem filing answers"
    );
    let same_ticket = proposer.post("/v1/proposals/preview", &large).await.expect(200).body;
    assert_eq!(same_ticket["allowed"], false);
    assert_eq!(
        same_ticket["refusal"]["type"],
        "urn:countersign:problem:ticket-has-open-proposal"
    );
    assert_eq!(same_ticket["refusal"]["open_proposal_id"], filed["id"]);
    proposer
        .post("/v1/proposals", &large)
        .await
        .expect_problem(409, Some("ticket_ref"));
    // Bad input is a 422 naming the field; other roles may not preview.
    proposer
        .post(
            "/v1/proposals/preview",
            &crate::helpers::proposal_body(json!({ "summary": "" })),
        )
        .await
        .expect_problem(422, Some("summary"));
    assert_eq!(written().await, after_filing, "refusals and previews write nothing");
    app.create_user("manager")
        .await
        .post("/v1/proposals/preview", &crate::helpers::proposal_body(json!({})))
        .await
        .expect_problem(403, None);
}

#[tokio::test]
async fn a_ticket_has_one_open_proposal_per_category() {
    let app = TestApp::spawn().await;
    let [first, second, peer] = <[User; 3]>::try_from(app.create_users("agent", 3).await).unwrap();
    let t = ticket();
    let open = first.file(json!({ "ticket_ref": t })).await.expect(201).id();

    // Another agent, the same ticket and category: 409 naming the open one.
    let refused = second
        .file(json!({ "ticket_ref": t }))
        .await
        .expect_problem(409, Some("ticket_ref"));
    assert_eq!(refused.body["type"], "urn:countersign:problem:ticket-has-open-proposal");
    assert_eq!(refused.body["open_proposal_id"], open.as_str());
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
    // Another category on the same ticket is another matter.
    let replacement = second
        .file(json!({ "ticket_ref": t, "category": "replacement", "amount_minor": null, "currency": null }))
        .await
        .expect(201)
        .id();
    // Revising it into the open one's category is refused, and changes nothing.
    second
        .revise(
            &replacement,
            json!({ "category": "refund", "amount_minor": 100, "currency": "EUR" }),
        )
        .await
        .expect_problem(409, Some("ticket_ref"));
    assert_eq!(second.read(&replacement).await.body["category"], "replacement");
    // Moving a refund onto the ticket by revision is refused as well.
    let elsewhere = second.file(json!({})).await.expect(201).id();
    second
        .revise(&elsewhere, json!({ "ticket_ref": t }))
        .await
        .expect_problem(409, Some("ticket_ref"));

    // The schema refuses it too, whoever writes.
    let error = sqlx::query("UPDATE proposals SET ticket_ref = $1 WHERE id = $2")
        .bind(&t)
        .bind(Uuid::parse_str(&elsewhere).unwrap())
        .execute(&app.pool)
        .await
        .expect_err("the trigger refuses a second open proposal");
    let constraint = error
        .as_database_error()
        .and_then(|e| e.constraint().map(str::to_owned));
    assert_eq!(constraint.as_deref(), Some("one_open_proposal_per_ticket"));

    // Once decided, the ticket takes a new proposal.
    peer.cosign(&open).await.expect(200);
    let next = second.file(json!({ "ticket_ref": t })).await.expect(201).id();
    // One past its deadline is no longer open: filing expires it first,
    // with its event, in the same transaction.
    app.let_deadline_pass(Some(&next)).await;
    let after = first.file(json!({ "ticket_ref": t })).await.expect(201).id();
    assert_eq!(first.read(&next).await.body["status"], "expired");
    let stored: String = sqlx::query_scalar("SELECT status FROM proposals WHERE id = $1")
        .bind(Uuid::parse_str(&next).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, "expired");
    assert_eq!(
        events_about(&app, Uuid::parse_str(&next).unwrap(), "proposal.expired").await,
        1
    );
    assert_eq!(first.read(&after).await.body["status"], "pending");
}

/// The routing worker's ticks a minute apart, so the test's own calls of
/// `app::routing::advance` take each step (the worker would take it too,
/// and a step it holds is skipped, not waited for).
fn steps_taken_by_the_test(settings: &mut countersign::config::Settings) {
    settings.routing.interval_ms = 60_000;
}

/// The payloads of a proposal's events of one type, oldest first.
async fn payloads(app: &TestApp, proposal: &str, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM audit_events WHERE subject_id = $1 AND event_type = $2 ORDER BY id")
        .bind(Uuid::parse_str(proposal).unwrap())
        .bind(event_type)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

fn ids_named(people: &Value) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = people
        .as_array()
        .expect("a list of people")
        .iter()
        .map(|p| Uuid::parse_str(p["employee_id"].as_str().unwrap()).unwrap())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn asked_inbox(agent: &User) -> Vec<String> {
    agent.get("/v1/inbox?asked=true").await.expect(200).proposals().ids()
}

#[tokio::test]
async fn peers_on_shift_are_asked_first_then_reminded_then_the_managers_told_at_their_times() {
    let app = TestApp::spawn_with(|settings| {
        settings.routing.first_ask = 2;
        steps_taken_by_the_test(settings);
    })
    .await;
    app.webhook_endpoint("http://127.0.0.1:9/hook", json!(null)).await;
    let agent = async |team: &str, on_shift: bool| {
        let user = app.create_user_with("agent", json!({ "team": team })).await;
        if on_shift {
            user.put("/v1/me/availability", &json!({ "available": true }))
                .await
                .expect(200);
        }
        user
    };
    let proposer = agent("north", false).await;
    let north_on = agent("north", true).await;
    let north_off = agent("north", false).await;
    let south_on = [agent("south", true).await, agent("south", true).await];
    let south_off = agent("south", false).await;
    let north_manager = app.create_user_with("manager", json!({ "team": "north" })).await;
    app.create_user_with("manager", json!({ "team": "south" })).await;

    let id = proposer.file(json!({})).await.expect(201).id();
    // On filing: two peers on shift, the proposer's team first.
    let requested = payloads(&app, &id, "proposal.cosign_requested").await;
    assert_eq!(requested.len(), 1);
    let first = ids_named(&requested[0]["asked"]);
    assert_eq!(first.len(), 2);
    assert!(first.contains(&north_on.id), "the proposer's team first: {first:?}");
    let other_south = south_on
        .iter()
        .find(|s| !first.contains(&s.id))
        .expect("one south peer left");
    assert!(
        !first.contains(&north_off.id) && !first.contains(&south_off.id),
        "never someone off shift"
    );
    assert_eq!(
        asked_inbox(&north_on).await,
        std::slice::from_ref(&id),
        "first in their inbox"
    );
    assert!(asked_inbox(other_south).await.is_empty());
    assert_eq!(requested[0]["asked"][0]["external_id"], Value::Null);
    // The webhook message names them too.
    let body: String =
        sqlx::query_scalar("SELECT body FROM webhook_messages WHERE event_type = 'proposal.cosign_requested'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids_named(&body["details"]["asked"]), first);
    assert_eq!(body["data"]["id"], id.as_str());

    // Not before its time: nothing at 119 s.
    app.state.clock.advance(Duration::seconds(119));
    countersign::app::routing::advance(&app.state).await.unwrap();
    assert!(payloads(&app, &id, "proposal.cosign_reminded").await.is_empty());
    // At 120 s the reminder asks the other peer on shift and reminds the first two.
    app.state.clock.advance(Duration::seconds(1));
    countersign::app::routing::advance(&app.state).await.unwrap();
    let reminded = payloads(&app, &id, "proposal.cosign_reminded").await;
    assert_eq!(reminded.len(), 1, "once");
    assert_eq!(ids_named(&reminded[0]["asked"]), [other_south.id]);
    assert_eq!(ids_named(&reminded[0]["reminded"]), first);
    assert_eq!(asked_inbox(other_south).await, std::slice::from_ref(&id));
    assert!(payloads(&app, &id, "proposal.escalated").await.is_empty());
    // At 299 s still no escalation; at 300 s the north team's manager is told.
    app.state.clock.advance(Duration::seconds(179));
    countersign::app::routing::advance(&app.state).await.unwrap();
    assert!(payloads(&app, &id, "proposal.escalated").await.is_empty());
    app.state.clock.advance(Duration::seconds(1));
    countersign::app::routing::advance(&app.state).await.unwrap();
    let escalated = payloads(&app, &id, "proposal.escalated").await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(ids_named(&escalated[0]["managers"]), [north_manager.id]);
    assert_eq!(escalated[0]["waiting_secs"], 300);
    countersign::app::routing::advance(&app.state).await.unwrap();
    assert_eq!(
        payloads(&app, &id, "proposal.escalated").await.len(),
        1,
        "each step once"
    );
    // The waiting report and the metrics count them.
    let waiting = north_manager.get("/v1/reports/waiting").await.expect(200).body;
    let total = |field: &str| -> i64 {
        waiting["by_hour"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[field].as_i64().unwrap())
            .sum()
    };
    assert_eq!((total("filed"), total("reminded"), total("escalated")), (1, 1, 1));
    let fresh = proposer.file(json!({})).await.expect(201).id();
    north_on.cosign(&fresh).await.expect(200);
    let metrics = app.get("/metrics", None).await.expect(200);
    let text = metrics.body.as_str().expect("metrics are text");
    for counter in [
        "cosign_requests_total",
        "cosign_reminders_total",
        "cosign_escalations_total",
        "time_to_first_cosign_seconds_bucket",
    ] {
        assert!(text.contains(counter), "{counter} in /metrics");
    }

    // The manager reassigns it to someone off shift.
    let reassigned = north_manager
        .post(
            &format!("/v1/proposals/{id}/reassign"),
            &json!({ "employee_ids": [north_off.id], "note": "Ana is at her desk" }),
        )
        .await
        .expect(200);
    assert_eq!(reassigned.body["id"], id.as_str());
    let event = payloads(&app, &id, "proposal.reassigned").await;
    assert_eq!(ids_named(&event[0]["asked"]), [north_off.id]);
    assert_eq!(event[0]["note"], "Ana is at her desk");
    assert_eq!(asked_inbox(&north_off).await, std::slice::from_ref(&id));
    let by: Option<Uuid> = sqlx::query_scalar("SELECT requested_by FROM cosign_requests WHERE employee_id = $1")
        .bind(north_off.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(by, Some(north_manager.id));
    // Never to the proposer or to nobody, and only by a manager.
    for named in [proposer.id, Uuid::now_v7()] {
        let refused = north_manager
            .post(
                &format!("/v1/proposals/{id}/reassign"),
                &json!({ "employee_ids": [named] }),
            )
            .await
            .expect_problem(409, Some("employee_ids"));
        assert_eq!(refused.body["type"], "urn:countersign:problem:cannot-be-asked");
    }
    assert_eq!(
        events_about(&app, Uuid::parse_str(&id).unwrap(), "proposal.reassigned").await,
        1
    );
    north_on
        .post(
            &format!("/v1/proposals/{id}/reassign"),
            &json!({ "employee_ids": [south_off.id] }),
        )
        .await
        .expect_problem(403, None);
    // Once decided, nobody is asked and a reassignment is refused.
    north_off.cosign(&id).await.expect(200);
    north_manager
        .post(
            &format!("/v1/proposals/{id}/reassign"),
            &json!({ "employee_ids": [south_off.id] }),
        )
        .await
        .expect_problem(409, None);
    assert_eq!(
        sorted(
            sqlx::query_scalar("SELECT employee_id FROM cosign_requests WHERE proposal_id = $1")
                .bind(Uuid::parse_str(&id).unwrap())
                .fetch_all(&app.pool)
                .await
                .unwrap()
        ),
        sorted(vec![first[0], first[1], other_south.id, north_off.id])
    );
}

#[tokio::test]
async fn with_nobody_on_shift_nobody_is_asked_at_once_and_the_reminder_asks_everyone() {
    let app = TestApp::spawn_with(steps_taken_by_the_test).await;
    let [proposer, a, b] = <[User; 3]>::try_from(app.create_users("agent", 3).await).unwrap();
    let id = proposer.file(json!({})).await.expect(201).id();
    assert!(payloads(&app, &id, "proposal.cosign_requested").await.is_empty());
    assert_eq!(app.count("SELECT count(*) FROM cosign_requests").await, 0);
    app.state.clock.advance(Duration::seconds(120));
    countersign::app::routing::advance(&app.state).await.unwrap();
    let reminded = payloads(&app, &id, "proposal.cosign_reminded").await;
    assert_eq!(ids_named(&reminded[0]["asked"]), sorted(vec![a.id, b.id]));
    // No manager anywhere: the escalation names nobody, and is still recorded.
    app.state.clock.advance(Duration::seconds(180));
    countersign::app::routing::advance(&app.state).await.unwrap();
    let escalated = payloads(&app, &id, "proposal.escalated").await;
    assert_eq!(escalated[0]["managers"], json!([]));
}

async fn act_alone(proposer: &User, id: &str, reason: &str) -> crate::helpers::Answer {
    proposer
        .post(&format!("/v1/proposals/{id}/act-alone"), &json!({ "reason": reason }))
        .await
}

#[tokio::test]
async fn acting_alone_is_off_by_default() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let id = proposer.file(json!({})).await.expect(201).id();
    let refused = act_alone(&proposer, &id, "Nobody is here")
        .await
        .expect_problem(403, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:acting-alone-not-allowed");
    assert_eq!(proposer.read(&id).await.body["status"], "pending");
    assert_eq!(app.count("SELECT count(*) FROM solo_approvals").await, 0);
}

#[tokio::test]
async fn acting_alone_waits_for_peers_on_shift_and_is_loud_marked_and_reviewed_first() {
    let app = TestApp::spawn_with(alone_for_small_refunds).await;
    let proposer = app.create_user_with("agent", json!({ "team": "north" })).await;
    let peer = app.create_user_with("agent", json!({ "team": "north" })).await;
    let off_shift = app.create_user_with("agent", json!({ "team": "south" })).await;
    let manager = app.create_user_with("manager", json!({ "team": "north" })).await;
    // An older decided proposal already waits in the review queue.
    let older = app.approved_proposal(&proposer, &off_shift).await;
    peer.put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    let id = proposer.file(json!({})).await.expect(201).id();

    // A peer is on shift and the window has not passed: ask them.
    let refused = act_alone(&proposer, &id, "In a hurry").await.expect_problem(409, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:peer-available");
    // Only the proposer, and only with a reason.
    act_alone(&peer, &id, "Me instead").await.expect_problem(403, None);
    act_alone(&proposer, &id, " ").await.expect_problem(422, Some("reason"));
    app.state.clock.advance(Duration::seconds(299));
    act_alone(&proposer, &id, "In a hurry").await.expect_problem(409, None);
    assert_eq!(app.count("SELECT count(*) FROM solo_approvals").await, 0);

    // The escalation window passed with no answer: allowed, and marked.
    app.state.clock.advance(Duration::seconds(1));
    let approved = act_alone(&proposer, &id, "The customer is at the counter and leaving")
        .await
        .expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["approved_alone"], true);
    assert_eq!(approved.body["signatures"], json!([]));
    let solo: (Uuid, String, String) =
        sqlx::query_as("SELECT employee_id, reason, why FROM solo_approvals WHERE proposal_id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        solo,
        (
            proposer.id,
            "The customer is at the counter and leaving".to_owned(),
            "no_answer_in_time".to_owned()
        )
    );
    // Loud: the peer asked and the team's manager are named at once.
    let told = payloads(&app, &id, "proposal.acted_alone").await;
    assert_eq!(told.len(), 1);
    assert_eq!(ids_named(&told[0]["skipped"]), [peer.id]);
    assert_eq!(ids_named(&told[0]["managers"]), [manager.id]);
    assert_eq!(told[0]["because"], "no_answer_in_time");
    let approvals = payloads(&app, &id, "proposal.approved").await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["approved_alone"], true);
    // First in the review queue, ahead of the older proposal.
    let queue = manager.review_queue("").await.expect(200).proposals().ids();
    assert_eq!(queue, [id.clone(), older.clone()]);
    let first_page = manager.review_queue("limit=1").await.expect(200);
    assert_eq!(first_page.proposals().ids(), std::slice::from_ref(&id));
    let cursor = first_page.body["next_cursor"].as_str().unwrap().to_owned();
    let second_page = manager
        .review_queue(&format!("limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(
        second_page.proposals().ids(),
        std::slice::from_ref(&older),
        "the cursor walks on past it"
    );
    // Counted in the reports, per team.
    let summary = manager.get("/v1/reports/summary?group_by=team").await.expect(200).body;
    let north = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "north")
        .unwrap()
        .clone();
    assert_eq!(
        (north["approved"].clone(), north["approved_alone"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(summary["totals"]["approved_alone"], 1);
    // And like any approval, it takes no more changes.
    peer.cosign(&id).await.expect_problem(409, None);
}

#[tokio::test]
async fn acting_alone_with_nobody_on_shift_within_the_limit_and_never_over_a_decline() {
    let app = TestApp::spawn_with(alone_for_small_refunds).await;
    let [proposer, peer] = <[User; 2]>::try_from(app.create_users("agent", 2).await).unwrap();
    // Nobody on shift: everyone eligible is asked by the reminder and has
    // until then; after it, alone.
    let id = proposer.file(json!({})).await.expect(201).id();
    let early = act_alone(&proposer, &id, "Night shift, nobody else on")
        .await
        .expect_problem(409, None);
    assert_eq!(early.body["type"], "urn:countersign:problem:peer-available");
    app.state.clock.advance(Duration::seconds(120));
    let approved = act_alone(&proposer, &id, "Night shift, nobody else on")
        .await
        .expect(200);
    assert_eq!(approved.body["approved_alone"], true);
    assert_eq!(
        payloads(&app, &id, "proposal.acted_alone").await[0]["because"],
        "no_peer_available"
    );
    // Above the limit, or in another category: a peer is needed.
    let large = proposer.file(json!({ "amount_minor": 5001 })).await.expect(201).id();
    act_alone(&proposer, &large, "Too much").await.expect_problem(403, None);
    let replacement = proposer
        .file(json!({ "category": "replacement", "amount_minor": null, "currency": null }))
        .await
        .expect(201)
        .id();
    act_alone(&proposer, &replacement, "Not enabled")
        .await
        .expect_problem(403, None);
    // A peer declined: never overruled alone.
    let declined = proposer.file(json!({})).await.expect(201).id();
    peer.decline(&declined, "Not without the receipt").await.expect(200);
    let refused = act_alone(&proposer, &declined, "I disagree")
        .await
        .expect_problem(409, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:peer-declined");
    assert_eq!(proposer.read(&declined).await.body["status"], "pending");
    // The schema holds it too: no approval alone without the recorded
    // reason, and never over a decline.
    for (proposal, constraint) in [
        (&large, "approved_alone_needs_reason"),
        (&declined, "approved_alone_needs_reason"),
    ] {
        let error = sqlx::query(
            "UPDATE proposals SET status = 'approved', approved_alone = true, decided_at = now() WHERE id = $1",
        )
        .bind(Uuid::parse_str(proposal).unwrap())
        .execute(&app.pool)
        .await
        .expect_err("refused");
        assert_eq!(error.as_database_error().and_then(|e| e.constraint()), Some(constraint));
    }
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO solo_approvals (proposal_id, employee_id, revision, reason, why, approved_at) \
         VALUES ($1, $2, 1, 'forced', 'no_peer_available', now())",
    )
    .bind(Uuid::parse_str(&declined).unwrap())
    .bind(proposer.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let error = sqlx::query(
        "UPDATE proposals SET status = 'approved', approved_alone = true, decided_at = now() WHERE id = $1",
    )
    .bind(Uuid::parse_str(&declined).unwrap())
    .execute(&mut *tx)
    .await
    .expect_err("refused over a decline");
    assert_eq!(
        error.as_database_error().and_then(|e| e.constraint()),
        Some("approved_alone_over_a_decline")
    );
}

#[tokio::test]
async fn acting_alone_cannot_be_reached_through_an_integration_a_revision_or_the_outcome() {
    let app = TestApp::spawn_with(alone_for_small_refunds).await;
    let proposer = app
        .create_user_with("agent", json!({ "external_id": "zd-proposer" }))
        .await;
    let peer = app.create_user_with("agent", json!({ "external_id": "zd-peer" })).await;
    let helpdesk = app.integration("zendesk").await;
    // An integration may put an agent on shift, never off it.
    helpdesk
        .acting_for("zd-peer")
        .put("/v1/me/availability", &json!({ "available": true }))
        .await
        .expect(200);
    helpdesk
        .acting_for("zd-peer")
        .put("/v1/me/availability", &json!({ "available": false }))
        .await
        .expect_problem(403, None);
    assert_eq!(
        peer.get("/v1/me/availability").await.expect(200).body["available"],
        true
    );
    // Nor act alone for the proposer, even when it would be allowed.
    let id = proposer.file(json!({ "amount_minor": 1000 })).await.expect(201).id();
    app.state.clock.advance(Duration::seconds(300));
    let refused = helpdesk
        .acting_for("zd-proposer")
        .post(
            &format!("/v1/proposals/{id}/act-alone"),
            &json!({ "reason": "From the ticket" }),
        )
        .await
        .expect_problem(403, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:acting-alone-not-allowed");
    // A material revision restarts the wait: peers get their time with
    // the new terms.
    proposer
        .revise(&id, json!({ "amount_minor": 4000, "currency": "EUR" }))
        .await
        .expect(200);
    act_alone(&proposer, &id, "Waited long enough")
        .await
        .expect_problem(409, None);
    app.state.clock.advance(Duration::seconds(300));
    let approved = act_alone(&proposer, &id, "Waited long enough").await.expect(200);
    assert_eq!(approved.body["revision"], 2);
    let revision: i32 = sqlx::query_scalar("SELECT revision FROM solo_approvals WHERE proposal_id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(revision, 2);
    // What was approved alone is what may be paid: not a cent more.
    proposer
        .post(
            &format!("/v1/proposals/{id}/outcome"),
            &json!({ "executed": true, "actual_amount_minor": 4001, "currency": "EUR", "customer_outcome": "satisfied" }),
        )
        .await
        .expect_problem(422, Some("actual_amount_minor"));
    proposer
        .post(
            &format!("/v1/proposals/{id}/outcome"),
            &json!({ "executed": true, "actual_amount_minor": 4000, "currency": "EUR", "customer_outcome": "satisfied" }),
        )
        .await
        .expect(200);
}
