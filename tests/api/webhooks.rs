//! Outbound webhooks, end to end: endpoints registered through the API,
//! proposal events sent to a real receiver on loopback, signatures checked
//! in Rust and by the reference `standardwebhooks` Python package, retries,
//! `Retry-After`, 410, resending, rotation, two replicas and a `kill -9`.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, client, eventually, free_local_addr};
use crate::receiver::{Receiver, Reply};

/// Fast retries for tests: at once, three times.
fn quick_retries(settings: &mut countersign::config::Settings) {
    settings.webhooks.retry_schedule_secs = vec![0, 0, 0];
    settings.webhooks.retry_jitter = 0.0;
    settings.webhooks.poll_interval_ms = 100;
}

async fn delivery_rows(app: &TestApp, endpoint: &str) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "SELECT m.event_type, d.status, d.attempts FROM webhook_deliveries d \
         JOIN webhook_messages m ON m.id = d.message_id WHERE d.endpoint_id = $1 ORDER BY d.message_id",
    )
    .bind(Uuid::parse_str(endpoint).unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Waits (bounded) until the endpoint has no pending delivery left.
async fn settled(app: &TestApp, endpoint: &str) {
    let sql = format!(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = '{}' AND status = 'pending'",
        Uuid::parse_str(endpoint).unwrap()
    );
    eventually("no delivery pending", Duration::from_secs(30), async || {
        (app.count(&sql).await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_approval_reaches_the_helpdesk_signed_with_the_proposal_as_the_api_shows_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(&receiver.url, Value::Null).await;
    assert!(secret.starts_with("whsec_") && secret.len() >= 6 + 32, "{secret}");
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);

    let id = app.approved_proposal(&proposer, &peer).await;

    let received = receiver.wait_for(3).await;
    let types: Vec<String> = received.iter().map(|r| r.event_type()).collect();
    let mut sorted = types.clone();
    sorted.sort();
    assert_eq!(sorted, ["proposal.approved", "proposal.cosigned", "proposal.created"]);
    let approved = &receiver.of_type("proposal.approved")[0];
    let body = approved.json();
    // The body: id (= webhook-id = the audit event), type, timestamp, data.
    assert_eq!(body["id"], approved.webhook_id());
    assert_eq!(approved.path, "/hooks/countersign");
    assert_eq!(approved.header("content-type"), "application/json");
    let audit_event: String = sqlx::query_scalar("SELECT event_type FROM audit_events WHERE id = $1::uuid")
        .bind(approved.webhook_id())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audit_event, "proposal.approved");
    // data is the proposal exactly as GET /v1/proposals/{id} shows it.
    let shown = proposer.read(&id).await.expect(200).body;
    assert_eq!(body["data"], shown);
    assert_eq!(body["data"]["status"], "approved");
    let timestamp: i64 = approved.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(
        received.iter().all(|r| r.signed_with(&secret)),
        "every message is signed"
    );
    assert!(!approved.signed_with(&countersign::secrets::new_signing_secret()));

    settled(&app, &endpoint).await;
    let rows = delivery_rows(&app, &endpoint).await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|(_, status, attempts)| status == "succeeded" && *attempts == 1),
        "{rows:?}"
    );
    let attempts = app
        .count("SELECT count(*) FROM webhook_attempts WHERE status_code = 200 AND response_body = 'ok'")
        .await;
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn the_reference_standardwebhooks_library_verifies_what_is_sent() {
    let Some(python) =
        crate::helpers::standardwebhooks_python("the_reference_standardwebhooks_library_verifies_what_is_sent")
    else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(&receiver.url, json!(["proposal.approved"])).await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    let received = receiver.wait_for(1).await.remove(0);
    // And after a rotation, the old and the new secret each verify alone.
    let rotated = app
        .admin
        .post(&format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"), &json!({}))
        .await
        .expect(200);
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    app.approved_proposal(&proposer, &peer).await;
    let after_rotation = receiver.wait_for(2).await.remove(1);

    let script = r#"
import json, sys
from standardwebhooks import Webhook
cases = json.load(sys.stdin)
for case in cases:
    payload = Webhook(case["secret"]).verify(case["body"], case["headers"])
    assert payload["type"] == "proposal.approved", payload
    try:
        Webhook(case["wrong_secret"]).verify(case["body"], case["headers"])
        raise SystemExit("a wrong secret verified")
    except Exception as error:
        if isinstance(error, SystemExit):
            raise
print("verified", len(cases))
"#;
    let headers = |r: &crate::receiver::Received| {
        json!({
            "webhook-id": r.webhook_id(),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        })
    };
    let wrong = countersign::secrets::new_signing_secret();
    let cases = json!([
        { "secret": secret, "wrong_secret": wrong, "body": received.body, "headers": headers(&received) },
        { "secret": secret, "wrong_secret": wrong, "body": after_rotation.body, "headers": headers(&after_rotation) },
        { "secret": new_secret, "wrong_secret": wrong, "body": after_rotation.body, "headers": headers(&after_rotation) },
    ]);
    let said = crate::helpers::run_python(&python, script, &cases);
    assert_eq!(said.trim(), "verified 3");
}

#[tokio::test]
async fn events_nobody_subscribes_to_write_no_outbox_row() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    assert_eq!(app.count("SELECT count(*) FROM webhook_messages").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM webhook_deliveries").await, 0);

    // One endpoint for approvals only: only approvals are written.
    let receiver = Receiver::start().await;
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.approved"])).await;
    let id = app.approved_proposal(&proposer, &peer).await;
    let filed = proposer.file(json!({})).await.expect(201).id();
    proposer.withdraw(&filed).await.expect(200);
    receiver.wait_for(1).await;
    settled(&app, &endpoint).await;
    let rows = delivery_rows(&app, &endpoint).await;
    assert_eq!(rows, [("proposal.approved".to_owned(), "succeeded".to_owned(), 1)]);
    assert_eq!(app.count("SELECT count(*) FROM webhook_messages").await, 1);
    assert_eq!(receiver.received()[0].json()["data"]["id"], id);

    // A disabled endpoint gets no delivery, but the message is kept, so
    // that a replay once it is enabled again sends it.
    let since = chrono::Utc::now();
    let path = format!("/v1/webhook-endpoints/{endpoint}");
    app.admin.patch(&path, &json!({ "enabled": false })).await.expect(200);
    let while_disabled = app.approved_proposal(&proposer, &peer).await;
    assert_eq!(app.count("SELECT count(*) FROM webhook_messages").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM webhook_deliveries").await, 1);
    app.admin.patch(&path, &json!({ "enabled": true })).await.expect(200);
    let replayed = app
        .admin
        .post(&format!("{path}/replay"), &json!({ "since": since }))
        .await
        .expect(202);
    assert_eq!(replayed.body["queued"], 1);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].json()["data"]["id"], while_disabled);
}

#[tokio::test]
async fn failed_attempts_are_retried_under_the_same_id_and_every_attempt_is_logged() {
    let app = TestApp::spawn_with(quick_retries).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::StatusWithBody(500, "database down"), Reply::Status(502)]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let proposer = app.create_user("agent").await;
    proposer.file(json!({})).await.expect(201);

    let received = receiver.wait_for(3).await;
    let ids: Vec<&str> = received.iter().map(|r| r.webhook_id()).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id on every attempt: {ids:?}"
    );
    settled(&app, &endpoint).await;

    let list = app
        .admin
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
        .await
        .expect(200);
    let delivery = &list.body["items"][0];
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["message_id"], ids[0]);
    let detail = app
        .admin
        .get(&format!("/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap()))
        .await
        .expect(200);
    let log = detail.body["attempts_log"].as_array().unwrap();
    let codes: Vec<i64> = log.iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 502, 200]);
    assert_eq!(log[0]["response_body"], "database down");
    assert_eq!(log[0]["attempt"], 1);
    assert_eq!(log[2]["attempt"], 3);
    assert!(
        log.iter()
            .all(|a| a["trigger"] == "scheduled" && a["url"] == receiver.url.as_str())
    );
    assert!(log.iter().all(|a| a["duration_ms"].as_i64().unwrap() >= 0));
}

#[tokio::test]
async fn a_delivery_that_never_succeeds_fails_when_the_schedule_is_used_up() {
    let app = TestApp::spawn_with(|s| {
        quick_retries(s);
        s.webhooks.retry_schedule_secs = vec![0];
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::Status(500));
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);
    receiver.wait_for(2).await;
    settled(&app, &endpoint).await;
    assert_eq!(delivery_rows(&app, &endpoint).await[0].1, "failed");
    let filtered = app
        .admin
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries?status=failed"))
        .await
        .expect(200);
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered.body["items"][0]["last_status_code"], 500);
    let none = app
        .admin
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries?status=succeeded"))
        .await
        .expect(200);
    assert_eq!(none.body["items"], json!([]));
    // An unreachable receiver is an error in the log, not a status.
    let refused = TestApp::spawn_with(|s| {
        quick_retries(s);
        s.webhooks.retry_schedule_secs = vec![];
    })
    .await;
    let url = format!("http://{}/gone", free_local_addr());
    let (endpoint, _) = refused.webhook_endpoint(&url, json!(["proposal.created"])).await;
    refused.create_user("agent").await.file(json!({})).await.expect(201);
    settled(&refused, &endpoint).await;
    let (status, error): (Option<i32>, Option<String>) =
        sqlx::query_as("SELECT status_code, error FROM webhook_attempts")
            .fetch_one(&refused.pool)
            .await
            .unwrap();
    assert_eq!(status, None);
    assert!(error.as_deref().is_some_and(|e| e.contains("onnect")), "{error:?}");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = TestApp::spawn_with(quick_retries).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::RetryAfter(503, "2")]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);

    let first = receiver.wait_for(1).await.remove(0);
    // The schedule says "at once"; the receiver asked for 2 s.
    type Time = chrono::DateTime<chrono::Utc>;
    let (started, next): (Time, Time) = eventually("the first attempt recorded", Duration::from_secs(30), async || {
        sqlx::query_as(
            "SELECT a.started_at, d.next_attempt_at FROM webhook_attempts a \
             JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.claim IS NULL",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap()
    })
    .await;
    assert!(next - started >= chrono::Duration::seconds(2), "{started} → {next}");
    let second = receiver.wait_for(2).await.remove(1);
    assert!(
        second.at - first.at >= Duration::from_millis(1900),
        "{:?}",
        second.at - first.at
    );
    settled(&app, &endpoint).await;
    assert_eq!(delivery_rows(&app, &endpoint).await[0].1, "succeeded");
}

#[tokio::test]
async fn a_410_disables_the_endpoint_until_an_admin_enables_it_again() {
    let app = TestApp::spawn_with(quick_retries).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(410)]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let proposer = app.create_user("agent").await;
    proposer.file(json!({})).await.expect(201);
    receiver.wait_for(1).await;
    settled(&app, &endpoint).await;

    let shown = app
        .admin
        .get(&format!("/v1/webhook-endpoints/{endpoint}"))
        .await
        .expect(200);
    assert_eq!(shown.body["enabled"], false);
    assert!(
        shown.body["disabled_reason"].as_str().unwrap().contains("410"),
        "{}",
        shown.body
    );
    assert_eq!(delivery_rows(&app, &endpoint).await[0].1, "failed");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'webhook_endpoint.disabled'")
            .await,
        1
    );
    // Nothing more is written for it, nothing more sent.
    proposer.file(json!({})).await.expect(201);
    assert_eq!(delivery_rows(&app, &endpoint).await.len(), 1);
    // Resending to a disabled endpoint is refused, by name, and queues nothing.
    let delivery: Uuid = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let resends = [
        (format!("/v1/webhook-deliveries/{delivery}/redeliver"), json!({})),
        (
            format!("/v1/webhook-endpoints/{endpoint}/replay"),
            json!({ "since": "2020-01-01T00:00:00Z", "only_failed": false }),
        ),
    ];
    let before = delivery_rows(&app, &endpoint).await;
    for (path, body) in resends {
        let refused = app.admin.post(&path, &body).await.expect_problem(409, None);
        assert_eq!(
            refused.body["type"], "urn:countersign:problem:endpoint-disabled",
            "{path}"
        );
    }
    assert_eq!(delivery_rows(&app, &endpoint).await, before);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events \
             WHERE event_type IN ('webhook_delivery.redelivered', 'webhook_endpoint.replayed')"
        )
        .await,
        0
    );

    let enabled = app
        .admin
        .patch(
            &format!("/v1/webhook-endpoints/{endpoint}"),
            &json!({ "enabled": true }),
        )
        .await
        .expect(200);
    assert_eq!(enabled.body["disabled_reason"], Value::Null);
    proposer.file(json!({})).await.expect(201);
    receiver.wait_for(2).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn an_endpoint_failing_past_the_window_is_disabled() {
    let app = TestApp::spawn_with(|s| {
        quick_retries(s);
        s.webhooks.retry_schedule_secs = vec![1; 10];
        s.webhooks.disable_after_failing_secs = 2;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.otherwise(Reply::Status(500));
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);
    let shown = eventually("the failing endpoint disabled", Duration::from_secs(30), async || {
        let shown = app
            .admin
            .get(&format!("/v1/webhook-endpoints/{endpoint}"))
            .await
            .expect(200);
        (shown.body["enabled"] == false).then_some(shown)
    })
    .await;
    let reason = shown.body["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("every attempt failed since"), "{reason}");
    let attempts = receiver.received().len();
    assert!(
        (3..=5).contains(&attempts),
        "failed for about 2 s, 1 s apart: {attempts}"
    );
}

#[tokio::test]
async fn a_redelivery_is_sent_again_under_the_same_webhook_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);
    let first = receiver.wait_for(1).await.remove(0);
    settled(&app, &endpoint).await;
    let delivery: Uuid = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let answer = app
        .admin
        .post(&format!("/v1/webhook-deliveries/{delivery}/redeliver"), &json!({}))
        .await
        .expect(202);
    assert_eq!(answer.body["status"], "pending");
    let again = receiver.wait_for(2).await.remove(1);
    assert_eq!(again.webhook_id(), first.webhook_id());
    assert_eq!(again.body, first.body);
    assert!(again.signed_with(&secret));
    settled(&app, &endpoint).await;
    let detail = app
        .admin
        .get(&format!("/v1/webhook-deliveries/{delivery}"))
        .await
        .expect(200);
    let triggers: Vec<&str> = detail.body["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["scheduled", "redelivery"]);
    assert_eq!(detail.body["status"], "succeeded");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'webhook_delivery.redelivered'")
            .await,
        1
    );
    app.admin
        .post(
            &format!("/v1/webhook-deliveries/{}/redeliver", Uuid::now_v7()),
            &json!({}),
        )
        .await
        .expect_problem(404, None);
}

#[tokio::test]
async fn after_an_outage_a_replay_sends_what_failed_since_a_time() {
    let app = TestApp::spawn_with(|s| {
        quick_retries(s);
        s.webhooks.retry_schedule_secs = vec![];
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(503), Reply::Status(503)]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let since = chrono::Utc::now();
    let proposer = app.create_user("agent").await;
    proposer.file(json!({})).await.expect(201);
    proposer.file(json!({})).await.expect(201);
    receiver.wait_for(2).await;
    settled(&app, &endpoint).await;
    assert!(delivery_rows(&app, &endpoint).await.iter().all(|row| row.1 == "failed"));

    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    app.admin
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/replay"),
            &json!({ "since": future }),
        )
        .await
        .expect_problem(422, Some("since"));
    let replayed = app
        .admin
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/replay"),
            &json!({ "since": since }),
        )
        .await
        .expect(202);
    assert_eq!(replayed.body["queued"], 2);
    let received = receiver.wait_for(4).await;
    settled(&app, &endpoint).await;
    assert!(
        delivery_rows(&app, &endpoint)
            .await
            .iter()
            .all(|row| row.1 == "succeeded")
    );
    let mut first_ids: Vec<&str> = received[..2].iter().map(|r| r.webhook_id()).collect();
    let mut replay_ids: Vec<&str> = received[2..].iter().map(|r| r.webhook_id()).collect();
    first_ids.sort();
    replay_ids.sort();
    assert_eq!(first_ids, replay_ids, "the same messages, under their own ids");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let proposer = app.create_user("agent").await;

    let rotated = app
        .admin
        .post(&format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"), &json!({}))
        .await
        .expect(200);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated.body["previous_secret_until"].is_string());
    proposer.file(json!({})).await.expect(201);
    let during = receiver.wait_for(1).await.remove(0);
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(during.signed_with(&old) && during.signed_with(&new));

    // The secret is never shown again.
    let shown = app
        .admin
        .get(&format!("/v1/webhook-endpoints/{endpoint}"))
        .await
        .expect(200);
    assert!(!shown.body.to_string().contains(&new) && !shown.body.to_string().contains(&old));
    let listed = app.admin.get("/v1/webhook-endpoints").await.expect(200);
    assert!(!listed.body.to_string().contains("whsec_"));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE payload::text LIKE '%whsec_%'")
            .await,
        0,
        "no secret in the audit log"
    );

    // Once the overlap is over, only the new secret signs.
    sqlx::query("UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    proposer.file(json!({})).await.expect(201);
    let after = receiver.wait_for(2).await.remove(1);
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(after.signed_with(&new) && !after.signed_with(&old));
}

#[tokio::test]
async fn two_replicas_on_one_database_never_deliver_a_message_twice() {
    let app = TestApp::spawn_with(|s| s.webhooks.poll_interval_ms = 50).await;
    let second = app.spawn_replica(|s| s.webhooks.poll_interval_ms = 50).await;
    let receiver = Receiver::start().await;
    // Slow answers keep deliveries in flight while the other replica looks.
    receiver.otherwise(Reply::Slow(Duration::from_millis(30)));
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let agents = app.create_users("agent", 4).await;
    let mut filings = Vec::new();
    for round in 0..15 {
        for (index, agent) in agents.iter().enumerate() {
            let agent = if (round + index) % 2 == 1 {
                agent.at(&second)
            } else {
                agent.clone()
            };
            filings.push(tokio::spawn(async move { agent.file(json!({})).await.expect(201) }));
        }
    }
    for filing in filings {
        filing.await.unwrap();
    }
    receiver.wait_for(60).await;
    settled(&app, &endpoint).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    let mut ids: Vec<&str> = received.iter().map(|r| r.webhook_id()).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (60, 60), "every message once");
    let attempts = app.count("SELECT count(*) FROM webhook_attempts").await;
    assert_eq!(attempts, 60);
    let by_replica = metrics_deliveries(&app.address).await + metrics_deliveries(&second).await;
    assert!(by_replica >= 60.0, "{by_replica}");
}

/// The `webhook_deliveries_total` a replica reports (the metrics registry is
/// shared by every app in this process, so this is a lower bound check).
async fn metrics_deliveries(address: &str) -> f64 {
    let text = client()
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("webhook_deliveries_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
}

#[tokio::test]
async fn a_delivery_in_flight_when_its_service_is_killed_is_delivered_after_its_lease() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // The first attempt is held open until the service sending it is gone.
    receiver.script([Reply::Slow(Duration::from_secs(5))]);
    app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let agent = app.create_user("agent").await;
    use sqlx::ConnectOptions;
    let url = app.pool.connect_options().to_url_lossy().to_string();
    let service = || {
        let addr = free_local_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_countersign"))
            .env("DATABASE_URL", &url)
            .env("COUNTERSIGN_SECRETS__KEY", crate::helpers::TEST_SEALING_KEY)
            .env("COUNTERSIGN_SERVER__ADDR", &addr)
            .env("COUNTERSIGN_WEBHOOKS__TIMEOUT_SECS", "1")
            .env("COUNTERSIGN_WEBHOOKS__CONNECT_TIMEOUT_SECS", "1")
            .env("COUNTERSIGN_WEBHOOKS__POLL_INTERVAL_MS", "100")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the service starts");
        (child, format!("http://{addr}"))
    };
    let (mut first, address) = service();
    eventually("the service to start", Duration::from_secs(30), async || {
        client().get(format!("{address}/readyz")).send().await.ok()
    })
    .await;
    // Filed through the child: its own commit wakes its worker at once.
    agent.at(&address).file(json!({})).await.expect(201);
    receiver.wait_for(1).await;
    first.kill().unwrap(); // SIGKILL, mid-attempt
    first.wait().unwrap();
    let held = app
        .count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND claim IS NOT NULL")
        .await;
    assert_eq!(
        held, 1,
        "claimed, never finished: it waits for its lease (timeout + 10 s)"
    );

    let (mut restarted, _) = service();
    let delivered = receiver.wait_for_within(2, Duration::from_secs(40)).await;
    eventually(
        "the delivery recorded as succeeded",
        Duration::from_secs(10),
        async || {
            let succeeded = app
                .count("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
                .await;
            (succeeded >= 1).then_some(())
        },
    )
    .await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(
        delivered[0].webhook_id(),
        delivered[1].webhook_id(),
        "at least once, same id"
    );
    assert_eq!(app.count("SELECT attempts::bigint FROM webhook_deliveries").await, 2);
}

#[tokio::test]
async fn an_expiry_by_the_worker_is_sent_too() {
    let app = TestApp::spawn_with(|s| s.proposals.expiry_interval_secs = 1).await;
    let receiver = Receiver::start().await;
    app.webhook_endpoint(&receiver.url, json!(["proposal.expired"])).await;
    let proposer = app.create_user("agent").await;
    let id = proposer.file(json!({})).await.expect(201).id();
    app.let_deadline_pass(Some(&id)).await;
    let expired = receiver.wait_for(1).await.remove(0);
    let body = expired.json();
    assert_eq!(body["type"], "proposal.expired");
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["status"], "expired");
}

#[tokio::test]
async fn endpoints_are_for_admins_and_bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    for caller in [&agent, &manager] {
        caller
            .post("/v1/webhook-endpoints", &json!({ "url": "https://example.com/h" }))
            .await
            .expect_problem(403, None);
        caller.get("/v1/webhook-endpoints").await.expect_problem(403, None);
    }
    for (body, field) in [
        (json!({ "url": "ftp://example.com/h" }), "url"),
        (json!({ "url": "not a url" }), "url"),
        (
            json!({ "url": "https://example.com/h", "event_types": [] }),
            "event_types",
        ),
        (
            json!({ "url": "https://example.com/h", "event_types": ["employee.created"] }),
            "event_types[0]",
        ),
        (
            json!({ "url": "https://example.com/h", "description": "x".repeat(501) }),
            "description",
        ),
        (
            json!({ "url": "https://example.com/h", "secret": "whsec_mine" }),
            "secret",
        ),
        (json!({}), "url"),
    ] {
        app.admin
            .post("/v1/webhook-endpoints", &body)
            .await
            .expect_problem(422, Some(field));
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 0);

    let created = app
        .admin
        .post(
            "/v1/webhook-endpoints",
            &json!({ "url": "HTTPS://Helpdesk.Example.COM/in", "description": "Zendesk",
                     "event_types": ["proposal.rejected", "proposal.approved", "proposal.approved"] }),
        )
        .await
        .expect(201);
    let id = created.id();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/webhook-endpoints/{id}").as_str())
    );
    assert_eq!(
        created.body["event_types"],
        json!(["proposal.approved", "proposal.rejected"])
    );
    assert_eq!(
        created.body["url"], "https://helpdesk.example.com/in",
        "stored as parsed"
    );
    // null: every event again; a field left out stays.
    let changed = app
        .admin
        .patch(&format!("/v1/webhook-endpoints/{id}"), &json!({ "event_types": null }))
        .await
        .expect(200);
    assert_eq!(changed.body["event_types"], Value::Null);
    assert_eq!(changed.body["description"], "Zendesk");
    app.admin
        .patch(&format!("/v1/webhook-endpoints/{id}"), &json!({ "url": "gopher://x" }))
        .await
        .expect_problem(422, Some("url"));
    app.admin
        .delete(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .expect(204);
    app.admin
        .get(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .expect_problem(404, None);
    app.admin
        .delete(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .expect_problem(404, None);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type LIKE 'webhook_endpoint.%'")
            .await,
        3
    );
}

#[tokio::test]
async fn a_hosted_deployment_refuses_internal_destinations() {
    let app = TestApp::spawn_with(|s| s.webhooks.allow_private_destinations = false).await;
    for url in [
        "http://127.0.0.1:9/h",
        "http://localhost/h",
        "http://10.0.0.1/h",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/h",
    ] {
        let refused = app
            .admin
            .post("/v1/webhook-endpoints", &json!({ "url": url }))
            .await
            .expect_problem(422, Some("url"));
        assert!(
            refused.body["errors"]["url"].as_str().unwrap().contains("private"),
            "{}",
            refused.body
        );
    }
    // A URL stored while the rule was looser is refused when sending.
    let receiver = Receiver::start().await;
    let now = chrono::Utc::now();
    let id = Uuid::now_v7();
    let sealed = app.state.sealer.seal(
        countersign::sealing::Purpose::EndpointSecret(id),
        &countersign::secrets::new_signing_secret(),
    );
    sqlx::query("INSERT INTO webhook_endpoints (id, url, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id)
        .bind(&receiver.url)
        .bind(sealed)
        .bind(now)
        .execute(&app.pool)
        .await
        .unwrap();
    app.create_user("agent").await.file(json!({})).await.expect(201);
    let error: String = eventually("an attempt", Duration::from_secs(20), async || {
        sqlx::query_scalar("SELECT error FROM webhook_attempts LIMIT 1")
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert!(error.contains("destination refused"), "{error}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_only_when_they_keep_the_post() {
    let app = TestApp::spawn_with(|s| {
        quick_retries(s);
        s.webhooks.retry_schedule_secs = vec![];
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::Redirect(308, format!("{}/moved", receiver.base)),
        Reply::Status(200),
        Reply::Redirect(302, format!("{}/elsewhere", receiver.base)),
    ]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    let proposer = app.create_user("agent").await;
    proposer.file(json!({})).await.expect(201);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].path, "/moved");
    assert_eq!(received[1].body, received[0].body, "the body came along");
    settled(&app, &endpoint).await;
    proposer.file(json!({})).await.expect(201);
    receiver.wait_for(3).await;
    settled(&app, &endpoint).await;
    let errors: Vec<Option<String>> = sqlx::query_scalar("SELECT last_error FROM webhook_deliveries ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(errors[0], None);
    assert!(
        errors[1]
            .as_deref()
            .is_some_and(|e| e.contains("only 307 and 308 are followed")),
        "{errors:?}"
    );
    let rows = delivery_rows(&app, &endpoint).await;
    assert_eq!((rows[0].1.as_str(), rows[1].1.as_str()), ("succeeded", "failed"));
}

#[tokio::test]
async fn the_queue_is_on_the_metrics_page() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);
    receiver.wait_for(1).await;
    let what = "webhook_deliveries_total, webhook_queue_depth, webhook_oldest_due_seconds and \
                webhook_attempt_duration_seconds on /metrics";
    let text = eventually(what, Duration::from_secs(20), async || {
        let text = client()
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let has = |name: &str| text.lines().any(|line| line.starts_with(name));
        let all = has("webhook_deliveries_total{")
            && has("webhook_queue_depth")
            && has("webhook_oldest_due_seconds")
            && has("webhook_attempt_duration_seconds");
        all.then_some(text)
    })
    .await;
    assert!(text.contains("# HELP webhook_queue_depth"));
}

#[tokio::test]
async fn a_redelivery_asked_for_while_an_attempt_is_in_flight_still_happens() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Slow(Duration::from_millis(800))]);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url, json!(["proposal.created"])).await;
    app.create_user("agent").await.file(json!({})).await.expect(201);
    receiver.wait_for(1).await;
    let delivery: Uuid = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.admin
        .post(&format!("/v1/webhook-deliveries/{delivery}/redeliver"), &json!({}))
        .await
        .expect(202);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[0].webhook_id(), received[1].webhook_id());
    settled(&app, &endpoint).await;
    let triggers: Vec<String> = sqlx::query_scalar("SELECT trigger FROM webhook_attempts ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(triggers, ["scheduled", "redelivery"]);
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_the_others() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.max_in_flight = 4;
        s.webhooks.max_in_flight_per_endpoint = 2;
        s.webhooks.timeout_secs = 5;
        s.webhooks.poll_interval_ms = 100;
    })
    .await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    slow.otherwise(Reply::Slow(Duration::from_secs(3)));
    app.webhook_endpoint(&slow.url, json!(["proposal.created"])).await;
    app.webhook_endpoint(&fast.url, json!(["proposal.created"])).await;
    let agent = app.create_user("agent").await;
    for _ in 0..6 {
        agent.file(json!({})).await.expect(201);
    }
    // Each slow answer takes 3 s; were the slow endpoint to take every
    // slot, the fast one would wait for them.
    let fast_ones = fast.wait_for_within(6, Duration::from_millis(2500)).await;
    assert_eq!(fast_ones.len(), 6);
    assert!(slow.received().len() <= 2, "at most 2 in flight to one endpoint");
}
