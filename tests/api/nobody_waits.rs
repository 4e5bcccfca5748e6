//! Nobody waits: who is on shift, the preview before filing, and one open
//! proposal per ticket and category. Time moves with the service's clock
//! (`state.clock.advance`), never by sleeping.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User, eventually};

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
        (time(&now["available_until"]) > until).then_some(now)
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
