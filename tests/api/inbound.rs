//! Inbound helpdesk webhooks, end to end: requests signed per scheme
//! (Standard Webhooks, also by the reference Python package; Zendesk's
//! HMAC, computed here independently; Freshdesk's token), each action
//! running the REST rules and writing the same rows, refusals that store
//! nothing, retried deliveries answered once, and the two-person rule
//! holding through the helpdesk.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, Integration, TestApp, User, client, proposal_body};

/// Signs like a helpdesk of each kind would, and sends.
struct Helpdesk {
    url: String,
    kind: &'static str,
    integration: Integration,
}

/// How a request is signed.
enum Signed {
    /// Standard Webhooks: this id, timestamp (seconds) and secret.
    Standard { id: String, timestamp: i64 },
    /// Zendesk: this RFC 3339 timestamp and invocation id.
    Zendesk { timestamp: String, invocation: String },
    /// Freshdesk: these headers as they are.
    Headers(Vec<(String, String)>),
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn fresh_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

impl Helpdesk {
    async fn of(app: &TestApp, kind: &'static str) -> Helpdesk {
        let integration = app.integration(kind).await;
        Helpdesk {
            url: format!("{}/v1/integrations/{}/inbound", app.address, integration.id),
            kind,
            integration,
        }
    }

    /// Sends `body` as is, signed as `signed` says with `secret`.
    async fn send_raw(&self, body: &str, signed: &Signed, secret: &str) -> Answer {
        let mut request = client()
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        match signed {
            Signed::Standard { id, timestamp } => {
                request = request
                    .header("webhook-id", id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", standard_signature(secret, id, *timestamp, body));
            }
            Signed::Zendesk { timestamp, invocation } => {
                request = request
                    .header(
                        "x-zendesk-webhook-signature",
                        zendesk_signature(secret, timestamp, body),
                    )
                    .header("x-zendesk-webhook-signature-timestamp", timestamp)
                    .header("x-zendesk-webhook-invocation-id", invocation)
                    .header("x-zendesk-webhook-id", "01F1KRFQ6BG29CNWFR60NK5FNY");
            }
            Signed::Headers(headers) => {
                for (name, value) in headers {
                    request = request.header(name, value);
                }
            }
        }
        Answer::of(request).await
    }

    /// Sends `body` signed with the integration's own secret, as a fresh
    /// delivery of its kind.
    async fn send(&self, body: &Value) -> Answer {
        let signed = self.fresh();
        self.send_raw(&body.to_string(), &signed, &self.integration.secret.clone())
            .await
    }

    fn fresh(&self) -> Signed {
        match self.kind {
            "zendesk" => Signed::Zendesk {
                timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                invocation: Uuid::now_v7().as_u128().to_string(),
            },
            "freshdesk" => Signed::Headers(vec![(
                "authorization".to_owned(),
                format!("Bearer {}", self.integration.secret),
            )]),
            _ => Signed::Standard {
                id: fresh_id(),
                timestamp: now(),
            },
        }
    }
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the bytes of
/// the `whsec_` secret: the Standard Webhooks scheme, written out here.
fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// base64 HMAC-SHA256 of timestamp followed by body, keyed with the secret's
/// text: Zendesk's scheme, written out here.
fn zendesk_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(body.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn agent_with_external_id(app: &TestApp, external_id: &str) -> User {
    app.create_user_with("agent", json!({ "external_id": external_id }))
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::now_v7().simple().to_string()[20..])
}

/// Rows whose count must not move when a request is refused.
async fn written(app: &TestApp) -> [i64; 4] {
    [
        app.count("SELECT count(*) FROM proposals").await,
        app.count("SELECT count(*) FROM signatures").await,
        app.count("SELECT count(*) FROM audit_events WHERE event_type LIKE 'proposal.%'")
            .await,
        app.count("SELECT count(*) FROM inbound_deliveries").await,
    ]
}

#[tokio::test]
async fn every_action_runs_the_rest_rules_and_writes_the_same_rows() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "generic").await;
    let (a, b, c) = (unique("zd-a"), unique("zd-b"), unique("zd-c"));
    let proposer = agent_with_external_id(&app, &a).await;
    let peer = agent_with_external_id(&app, &b).await;
    let other = agent_with_external_id(&app, &c).await;
    let ticket = unique("ZD");

    // File, revise by ticket, co-sign the revision read: approved.
    let filed = helpdesk
        .send(&json!({ "action": "propose", "agent_external_id": a,
                       "proposal": proposal_body(json!({ "ticket_ref": ticket })) }))
        .await
        .expect(201);
    let id = filed.id();
    assert_eq!(filed.header("location"), Some(format!("/v1/proposals/{id}").as_str()));
    assert_eq!(filed.body["proposer_id"], proposer.id.to_string());
    assert_eq!(filed.body["status"], "pending");
    let revised = helpdesk
        .send(
            &json!({ "action": "revise", "agent_external_id": a, "ticket_ref": ticket,
                       "proposal": { "amount_minor": 4500 } }),
        )
        .await
        .expect(200);
    assert_eq!(revised.body["revision"], 2);
    // A co-sign of the revision before the change is refused, as in REST.
    helpdesk
        .send(&json!({ "action": "cosign", "agent_id": peer.id, "proposal_id": id, "revision": 1 }))
        .await
        .expect_problem(409, None);
    let approved = helpdesk
        .send(
            &json!({ "action": "cosign", "agent_id": peer.id, "proposal_id": id, "revision": 2,
                       "comment": "fine by me" }),
        )
        .await
        .expect(200);
    assert_eq!(approved.body["status"], "approved");
    let recorded = helpdesk
        .send(
            &json!({ "action": "outcome", "agent_external_id": a, "ticket_ref": ticket,
                       "outcome": { "executed": true, "actual_amount_minor": 4500, "currency": "EUR",
                                    "customer_outcome": "satisfied" } }),
        )
        .await
        .expect(200);
    assert_eq!(recorded.body["outcome"]["executed"], true);

    // The same events as REST writes, each by the agent, via the integration.
    assert_eq!(
        app.event_types(&id).await,
        [
            "proposal.created",
            "proposal.revised",
            "proposal.cosigned",
            "proposal.approved",
            "proposal.outcome_recorded"
        ]
    );
    let actors: Vec<(Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT actor_employee_id, via_integration_id FROM audit_events WHERE subject_id = $1 ORDER BY id",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let via = Some(helpdesk.integration.id);
    assert_eq!(
        actors,
        [
            (Some(proposer.id), via),
            (Some(proposer.id), via),
            (Some(peer.id), via),
            (Some(peer.id), via),
            (Some(proposer.id), via)
        ]
    );
    let signature: (Uuid, Option<Uuid>, i32, Option<String>) = sqlx::query_as(
        "SELECT employee_id, via_integration_id, revision, comment FROM signatures WHERE proposal_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(signature, (peer.id, via, 2, Some("fine by me".to_owned())));
    // REST reads the same proposal the helpdesk was answered.
    let read = proposer.read(&id).await.expect(200);
    assert_eq!(read.body["status"], "approved");
    assert_eq!(read.body["outcome"], recorded.body["outcome"]);

    // Two declines reject; a withdrawal withdraws.
    let second = proposer
        .file(json!({ "ticket_ref": unique("ZD") }))
        .await
        .expect(201)
        .id();
    for agent in [&b, &c] {
        helpdesk
            .send(
                &json!({ "action": "decline", "agent_external_id": agent, "proposal_id": second,
                           "revision": 1, "reason": "policy covers this" }),
            )
            .await
            .expect(200);
    }
    assert_eq!(other.read(&second).await.body["status"], "rejected");
    let third = proposer.file(json!({})).await.expect(201).id();
    let withdrawn = helpdesk
        .send(&json!({ "action": "withdraw", "agent_external_id": a, "proposal_id": third, "reason": "solved" }))
        .await
        .expect(200);
    assert_eq!(withdrawn.body["status"], "withdrawn");

    // Each delivery that acted is recorded with its answer.
    let deliveries: Vec<(String, i16)> = sqlx::query_as(
        "SELECT action, response_status FROM inbound_deliveries WHERE integration_id = $1 ORDER BY received_at",
    )
    .bind(helpdesk.integration.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = deliveries.iter().map(|(action, _)| action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "propose", "revise", "cosign", "outcome", "decline", "decline", "withdraw"
        ]
    );
    assert_eq!(deliveries[0].1, 201);
    assert!(deliveries[1..].iter().all(|(_, status)| *status == 200));
}

#[tokio::test]
async fn the_reference_standardwebhooks_library_signs_what_is_accepted() {
    let Some(python) =
        crate::helpers::standardwebhooks_python("the_reference_standardwebhooks_library_signs_what_is_accepted")
    else {
        return;
    };
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "generic").await;
    let agent = unique("sw");
    agent_with_external_id(&app, &agent).await;
    let body =
        json!({ "action": "propose", "agent_external_id": agent, "proposal": proposal_body(json!({})) }).to_string();
    let id = fresh_id();
    let script = r#"
import json, sys
from datetime import datetime, timezone
from standardwebhooks import Webhook
case = json.load(sys.stdin)
at = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
print(Webhook(case["secret"]).sign(case["id"], at, case["body"]))
"#;
    let timestamp = now();
    let case = json!({ "secret": helpdesk.integration.secret, "id": id, "timestamp": timestamp, "body": body });
    let signature = crate::helpers::run_python(&python, script, &case).trim().to_owned();
    assert!(signature.starts_with("v1,"), "{signature}");
    // Python's signature is the one the Rust test signer makes, too.
    assert_eq!(
        signature,
        standard_signature(&helpdesk.integration.secret, &id, timestamp, &body)
    );

    let headers = Signed::Headers(vec![
        ("webhook-id".to_owned(), id),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signature),
    ]);
    helpdesk.send_raw(&body, &headers, "").await.expect(201);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
}

#[tokio::test]
async fn bad_missing_or_stale_signatures_are_refused_before_the_body_is_read() {
    let app = TestApp::spawn().await;
    let agent = unique("bad");
    agent_with_external_id(&app, &agent).await;
    let body =
        json!({ "action": "propose", "agent_external_id": agent, "proposal": proposal_body(json!({})) }).to_string();
    let stale = now() - 330;
    let stale_text =
        (chrono::Utc::now() - chrono::Duration::seconds(330)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let fresh_text = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let generic = Helpdesk::of(&app, "generic").await;
    let zendesk = Helpdesk::of(&app, "zendesk").await;
    let secret = generic.integration.secret.clone();
    let zd_secret = zendesk.integration.secret.clone();
    let wrong = countersign::secrets::new_signing_secret();
    let signed_at = now();
    let standard = |timestamp| Signed::Standard {
        id: fresh_id(),
        timestamp,
    };
    let zd = |timestamp: &str| Signed::Zendesk {
        timestamp: timestamp.to_owned(),
        invocation: "1".to_owned(),
    };
    let cases: Vec<(&Helpdesk, String, Signed, String, &str)> = vec![
        (&generic, body.clone(), standard(now()), wrong.clone(), "another secret"),
        (
            &generic,
            body.clone(),
            standard(stale),
            secret.clone(),
            "5½ minutes old",
        ),
        (
            &generic,
            body.clone(),
            standard(now() + 330),
            secret.clone(),
            "from the future",
        ),
        (
            &generic,
            body.clone(),
            Signed::Headers(vec![]),
            secret.clone(),
            "no signature at all",
        ),
        (
            &generic,
            body.replace("Refund the order", "Refund twice the order"),
            Signed::Headers(vec![
                ("webhook-id".to_owned(), "msg_1".to_owned()),
                ("webhook-timestamp".to_owned(), signed_at.to_string()),
                (
                    "webhook-signature".to_owned(),
                    standard_signature(&secret, "msg_1", signed_at, &body),
                ),
            ]),
            secret.clone(),
            "a body changed after signing",
        ),
        (
            &generic,
            "not json at all".to_owned(),
            standard(now()),
            wrong.clone(),
            "garbage, badly signed",
        ),
        (
            &zendesk,
            body.clone(),
            zd(&fresh_text),
            "another-secret".to_owned(),
            "zendesk, another secret",
        ),
        (
            &zendesk,
            body.clone(),
            zd(&stale_text),
            zd_secret.clone(),
            "zendesk, stale",
        ),
        (
            &zendesk,
            body.clone(),
            zd("yesterday"),
            zd_secret.clone(),
            "zendesk, a malformed timestamp",
        ),
    ];
    for (helpdesk, body, signed, secret, what) in cases {
        let answer = helpdesk.send_raw(&body, &signed, &secret).await;
        assert_eq!(answer.status.as_u16(), 401, "{what}: {}", answer.body);
        assert_eq!(
            answer.body["type"], "urn:countersign:problem:signature-refused",
            "{what}"
        );
        assert_eq!(written(&app).await, [0, 0, 0, 0], "{what}: nothing stored");
    }

    // A Zendesk integration with no secret yet refuses everything, saying
    // why; once an admin gives Zendesk's secret, the same request passes.
    let created = app
        .admin
        .post(
            "/v1/integrations",
            &json!({ "name": unique("zd-later"), "kind": "zendesk" }),
        )
        .await
        .expect(201)
        .created_integration();
    let url = format!("{}/v1/integrations/{}/inbound", app.address, created.integration.id);
    let later = Helpdesk {
        url,
        kind: "zendesk",
        integration: zendesk.integration.clone(),
    };
    let refused = later
        .send_raw(&body, &zd(&fresh_text), "zd-later-secret")
        .await
        .expect(401);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("PATCH"),
        "{}",
        refused.body
    );
    let patched = app
        .admin
        .patch(
            &format!("/v1/integrations/{}", created.integration.id),
            &json!({ "secret": "zd-later-secret" }),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["has_secret"], true);
    later
        .send_raw(&body, &zd(&fresh_text), "zd-later-secret")
        .await
        .expect(201);

    // A generic integration is never given a secret: it has its own.
    app.admin
        .patch(
            &format!("/v1/integrations/{}", generic.integration.id),
            &json!({ "secret": "mine-mine-mine" }),
        )
        .await
        .expect_problem(422, Some("secret"));
    // A deactivated integration is refused even with a good signature.
    app.admin
        .patch(
            &format!("/v1/integrations/{}", generic.integration.id),
            &json!({ "active": false }),
        )
        .await
        .expect(200);
    generic
        .send(&serde_json::from_str(&body).unwrap())
        .await
        .expect_problem(401, None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
}

#[tokio::test]
async fn a_retried_delivery_is_answered_as_the_first_time_without_a_second_write() {
    let app = TestApp::spawn().await;
    let agent = unique("retry");
    agent_with_external_id(&app, &agent).await;
    let fields = proposal_body(json!({}));
    let body = json!({ "action": "propose", "agent_external_id": agent, "proposal": fields }).to_string();
    // Each helpdesk files for a ticket of its own (a ticket has one open
    // proposal per category).
    let ticket = fields["ticket_ref"].as_str().unwrap();
    let original = body.clone();
    let for_another_ticket = || original.replace(ticket, &unique("T"));

    // Standard Webhooks: the same message sent three times, twice at once.
    let generic = Helpdesk::of(&app, "generic").await;
    let signed = Signed::Standard {
        id: fresh_id(),
        timestamp: now(),
    };
    let secret = generic.integration.secret.clone();
    // Three copies at the same instant: one acts, the others wait for it
    // and answer what it answered.
    let barrier = tokio::sync::Barrier::new(3);
    let send = async || {
        barrier.wait().await;
        generic.send_raw(&body, &signed, &secret).await
    };
    let (a, b, c) = tokio::join!(send(), send(), send());
    let answers = [a.expect(201), b.expect(201), c.expect(201)];
    let replayed = answers
        .iter()
        .filter(|answer| answer.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 2, "exactly one copy acted");
    assert!(answers.iter().all(|answer| answer.body == answers[0].body));
    // And once more, later.
    let again = generic.send_raw(&body, &signed, &secret).await.expect(201);
    assert_eq!(again.body, answers[0].body);
    assert_eq!(again.header("location"), answers[0].header("location"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM inbound_deliveries").await, 1);
    // The same id with another body (properly signed) is refused, and
    // nothing is written for it.
    let before = written(&app).await;
    let other = body.replace("Refund after 45 days", "Refund after 50 days");
    let refused = generic
        .send_raw(&other, &signed, &secret)
        .await
        .expect_problem(422, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:delivery-id-reused");
    assert_eq!(written(&app).await, before, "nothing written");
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 1);

    // Zendesk: a retry keeps its invocation id; and the signed request
    // sent again under another invocation id is still the same delivery.
    let zendesk = Helpdesk::of(&app, "zendesk").await;
    let body = for_another_ticket();
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let zd_secret = zendesk.integration.secret.clone();
    let signed = |invocation: &str| Signed::Zendesk {
        timestamp: timestamp.clone(),
        invocation: invocation.to_owned(),
    };
    let first = zendesk.send_raw(&body, &signed("900001"), &zd_secret).await.expect(201);
    for invocation in ["900001", "900002"] {
        let again = zendesk
            .send_raw(&body, &signed(invocation), &zd_secret)
            .await
            .expect(201);
        assert_eq!(again.body["id"], first.body["id"], "{invocation}");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 2);

    // Freshdesk dedupes on the Idempotency-Key its template may set.
    let freshdesk = Helpdesk::of(&app, "freshdesk").await;
    let body = for_another_ticket();
    let keyed = Signed::Headers(vec![
        ("x-countersign-token".to_owned(), freshdesk.integration.secret.clone()),
        ("idempotency-key".to_owned(), "ticket-77-propose".to_owned()),
    ]);
    let first = freshdesk.send_raw(&body, &keyed, "").await.expect(201);
    let again = freshdesk.send_raw(&body, &keyed, "").await.expect(201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 3);
    // Without a key, the body is the delivery: the same request again does
    // nothing twice; another body acts.
    let unkeyed = Signed::Headers(vec![(
        "x-countersign-token".to_owned(),
        freshdesk.integration.secret.clone(),
    )]);
    let other = for_another_ticket().replace("Refund after 45 days", "Refund after 46 days");
    let first = freshdesk.send_raw(&other, &unkeyed, "").await.expect(201);
    let again = freshdesk.send_raw(&other, &unkeyed, "").await.expect(201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 4);

    // A retry of a delivery that acted is answered as the first time even
    // once its agent has left: what it did is done.
    let person: Uuid = sqlx::query_scalar("SELECT id FROM employees WHERE external_id = $1")
        .bind(&agent)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.admin
        .patch(&format!("/v1/employees/{person}"), &json!({ "active": false }))
        .await
        .expect(200);
    let late = freshdesk.send_raw(&other, &unkeyed, "").await.expect(201);
    assert_eq!(late.body["id"], first.body["id"]);
}

#[tokio::test]
async fn the_two_person_rule_holds_through_the_helpdesk() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "zendesk").await;
    let (a, b) = (unique("zd-a"), unique("zd-b"));
    let proposer = agent_with_external_id(&app, &a).await;
    let peer = agent_with_external_id(&app, &b).await;
    let id = helpdesk
        .send(&json!({ "action": "propose", "agent_external_id": a, "proposal": proposal_body(json!({})) }))
        .await
        .expect(201)
        .id();
    let before = written(&app).await;

    // The proposer's helpdesk id co-signing, by id or by external id: refused.
    for who in [json!({ "agent_external_id": a }), json!({ "agent_id": proposer.id })] {
        let mut body = json!({ "action": "cosign", "proposal_id": id, "revision": 1 });
        body.as_object_mut().unwrap().extend(who.as_object().unwrap().clone());
        let refused = helpdesk.send(&body).await.expect_problem(403, None);
        assert_eq!(refused.body["type"], "urn:countersign:problem:self-signing");
    }
    // Nor through REST with the integration's token acting for them.
    helpdesk
        .integration
        .acting_for(&a)
        .post(&format!("/v1/proposals/{id}/cosign"), &json!({ "revision": 1 }))
        .await
        .expect_problem(403, None);
    assert_eq!(written(&app).await, before, "nothing written");

    // An inactive agent, an unknown one, a manager: the same refusal.
    app.set_employee(&peer, json!({ "active": false })).await;
    let manager_id = unique("mgr");
    app.create_user_with("manager", json!({ "external_id": manager_id }))
        .await;
    for name in [b.clone(), unique("nobody"), manager_id] {
        let refused = helpdesk
            .send(&json!({ "action": "cosign", "agent_external_id": name, "proposal_id": id, "revision": 1 }))
            .await
            .expect_problem(403, Some("agent_external_id"));
        assert_eq!(
            refused.body["type"], "urn:countersign:problem:on-behalf-of-refused",
            "{name}"
        );
    }
    // An agent outside the integration's scope: refused alike.
    let scoped = unique("zd-scope");
    agent_with_external_id(&app, &scoped).await;
    app.admin
        .patch(
            &format!("/v1/integrations/{}", helpdesk.integration.id),
            &json!({ "acts_for_all": false, "acts_for_agents": [proposer.id] }),
        )
        .await
        .expect(200);
    helpdesk
        .send(&json!({ "action": "cosign", "agent_external_id": scoped, "proposal_id": id, "revision": 1 }))
        .await
        .expect_problem(403, Some("agent_external_id"));
    assert_eq!(written(&app).await, before, "nothing written");
    assert_eq!(proposer.read(&id).await.body["status"], "pending");
}

#[tokio::test]
async fn malformed_bodies_name_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "generic").await;
    let agent = unique("form");
    agent_with_external_id(&app, &agent).await;
    let cases = [
        (json!({ "action": "approve", "agent_external_id": agent }), "action"),
        (
            json!({ "action": "propose", "proposal": proposal_body(json!({})) }),
            "agent_external_id",
        ),
        (
            json!({ "action": "propose", "agent_external_id": agent, "proposal": proposal_body(json!({ "summary": " " })) }),
            "proposal.summary",
        ),
        (
            json!({ "action": "propose", "agent_external_id": agent, "proposal": { "category": "refund" } }),
            "proposal.policy_ref",
        ),
        (json!({ "action": "propose", "agent_external_id": agent }), "proposal"),
        (
            json!({ "action": "cosign", "agent_external_id": agent, "revision": 1 }),
            "proposal_id",
        ),
        (
            json!({ "action": "decline", "agent_external_id": agent, "proposal_id": Uuid::now_v7(), "revision": 1 }),
            "reason",
        ),
        (
            json!({ "action": "cosign", "agent_external_id": agent, "proposal_id": Uuid::now_v7(), "revision": 1,
                    "reason": "wrong field" }),
            "reason",
        ),
        (
            json!({ "action": "outcome", "agent_external_id": agent, "proposal_id": Uuid::now_v7(),
                    "outcome": { "executed": true } }),
            "outcome.customer_outcome",
        ),
        (
            json!({ "action": "propose", "agent_external_id": agent, "surprise": 1 }),
            "surprise",
        ),
    ];
    for (body, field) in cases {
        helpdesk.send(&body).await.expect_problem(422, Some(field));
    }
    // A co-sign naming no revision: 428, as in REST.
    let proposer = app.create_user("agent").await;
    let id = proposer.file(json!({})).await.expect(201).id();
    helpdesk
        .send(&json!({ "action": "cosign", "agent_external_id": agent, "proposal_id": id }))
        .await
        .expect_problem(428, None);
    // A ticket naming two pending proposals (in two categories) is
    // ambiguous; naming none, 404.
    let ticket = unique("T");
    let filer = unique("form-filer");
    agent_with_external_id(&app, &filer).await;
    for category in [json!({ "category": "refund" }), json!({ "category": "replacement" })] {
        let mut fields = proposal_body(category);
        fields["ticket_ref"] = json!(ticket);
        helpdesk
            .send(&json!({ "action": "propose", "agent_external_id": filer, "proposal": fields }))
            .await
            .expect(201);
    }
    let before = app.count("SELECT count(*) FROM inbound_deliveries").await;
    helpdesk
        .send(&json!({ "action": "cosign", "agent_external_id": agent, "ticket_ref": ticket, "revision": 1 }))
        .await
        .expect_problem(422, Some("ticket_ref"));
    helpdesk
        .send(&json!({ "action": "cosign", "agent_external_id": agent, "ticket_ref": "T-none", "revision": 1 }))
        .await
        .expect_problem(404, None);
    assert_eq!(app.count("SELECT count(*) FROM inbound_deliveries").await, before);
    assert_eq!(app.count("SELECT count(*) FROM signatures").await, 0);
}

#[tokio::test]
async fn freshdesk_sends_a_token_as_bearer_or_basic_and_a_wrong_one_is_refused() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "freshdesk").await;
    let agent = unique("fd");
    agent_with_external_id(&app, &agent).await;
    let body =
        json!({ "action": "propose", "agent_external_id": agent, "proposal": proposal_body(json!({})) }).to_string();
    let token = helpdesk.integration.secret.clone();
    let basic = format!("Basic {}", STANDARD.encode(format!("freshdesk:{token}")));
    for (n, authorization) in [format!("Bearer {token}"), basic].into_iter().enumerate() {
        let headers = Signed::Headers(vec![("authorization".to_owned(), authorization)]);
        let fields = proposal_body(json!({ "summary": format!("Refund number {n}") }));
        let body = json!({ "action": "propose", "agent_external_id": agent, "proposal": fields }).to_string();
        helpdesk.send_raw(&body, &headers, "").await.expect(201);
    }
    for authorization in [
        format!("Bearer {token}x"),
        "Bearer ".to_owned(),
        "Digest abc".to_owned(),
    ] {
        let headers = Signed::Headers(vec![("authorization".to_owned(), authorization.clone())]);
        let refused = helpdesk.send_raw(&body, &headers, "").await.expect_problem(401, None);
        assert_eq!(
            refused.body["type"], "urn:countersign:problem:signature-refused",
            "{authorization}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 2);
}

#[tokio::test]
async fn secrets_are_stored_sealed_and_clear_ones_are_sealed_at_start() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "generic").await;
    let zendesk = Helpdesk::of(&app, "zendesk").await;
    // (Sealed endpoint secrets still sign: the signature tests in
    // `webhooks` check every delivery against the secret shown at creation.)
    let (_, endpoint_secret) = app.webhook_endpoint("http://127.0.0.1:9/hook", json!(null)).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT inbound_secret FROM integrations ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let stored_endpoint: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (value, secret) in [
        (&stored[0], &helpdesk.integration.secret),
        (&stored[1], &zendesk.integration.secret),
        (&stored_endpoint, &endpoint_secret),
    ] {
        assert!(value.starts_with("sealed:v1:"), "{value}");
        let bare = secret.trim_start_matches("whsec_");
        assert!(!value.contains(bare), "the stored value gives the secret away");
    }

    // A secret stored in clear (before sealing existed) is sealed when a
    // replica starts, and still verifies.
    sqlx::query("UPDATE integrations SET inbound_secret = $1 WHERE id = $2")
        .bind(&helpdesk.integration.secret)
        .bind(helpdesk.integration.id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.spawn_replica(|_| {}).await;
    let resealed: String = sqlx::query_scalar("SELECT inbound_secret FROM integrations WHERE id = $1")
        .bind(helpdesk.integration.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(resealed.starts_with("sealed:v1:"), "{resealed}");
    let agent = unique("seal");
    agent_with_external_id(&app, &agent).await;
    helpdesk
        .send(&json!({ "action": "propose", "agent_external_id": agent, "proposal": proposal_body(json!({})) }))
        .await
        .expect(201);
}

#[tokio::test]
async fn edges_of_the_contract_unknown_integrations_the_window_and_whose_ticket() {
    let app = TestApp::spawn().await;
    let helpdesk = Helpdesk::of(&app, "generic").await;
    let (a, b) = (unique("edge-a"), unique("edge-b"));
    let proposer = agent_with_external_id(&app, &a).await;
    agent_with_external_id(&app, &b).await;
    let propose = |ticket: &str| {
        json!({ "action": "propose", "agent_external_id": a,
                "proposal": proposal_body(json!({ "ticket_ref": ticket })) })
        .to_string()
    };
    let secret = helpdesk.integration.secret.clone();

    // No such integration: 404, whatever is signed.
    let nowhere = Helpdesk {
        url: format!("{}/v1/integrations/{}/inbound", app.address, Uuid::now_v7()),
        kind: "generic",
        integration: helpdesk.integration.clone(),
    };
    nowhere
        .send(&serde_json::from_str(&propose("T-x")).unwrap())
        .await
        .expect_problem(404, None);

    // The window: 4 m 50 s old passes, 5 m 10 s old does not.
    let signed = |age: i64| Signed::Standard {
        id: fresh_id(),
        timestamp: now() - age,
    };
    helpdesk
        .send_raw(&propose(&unique("T")), &signed(290), &secret)
        .await
        .expect(201);
    helpdesk
        .send_raw(&propose(&unique("T")), &signed(310), &secret)
        .await
        .expect_problem(401, None);

    // A ticket names proposals filed through this integration only: the
    // same number filed elsewhere (REST, another helpdesk) is not its own.
    let ticket = unique("T-shared");
    proposer
        .file(json!({ "ticket_ref": ticket, "category": "replacement" }))
        .await
        .expect(201);
    let cosign = json!({ "action": "cosign", "agent_external_id": b, "ticket_ref": ticket, "revision": 1 });
    helpdesk.send(&cosign).await.expect_problem(404, None);
    let own = helpdesk
        .send_raw(&propose(&ticket), &helpdesk.fresh(), &secret)
        .await
        .expect(201)
        .id();
    let approved = helpdesk.send(&cosign).await.expect(200);
    assert_eq!(approved.id(), own);
    assert_eq!(approved.body["status"], "approved");
}

#[tokio::test]
async fn inbound_secrets_never_reach_the_logs() {
    let app = TestApp::spawn().await;
    let zendesk = Helpdesk::of(&app, "zendesk").await;
    let freshdesk = Helpdesk::of(&app, "freshdesk").await;
    let rotated = format!("zd-rotated-{}", Uuid::now_v7().simple());
    app.admin
        .patch(
            &format!("/v1/integrations/{}", zendesk.integration.id),
            &json!({ "secret": rotated }),
        )
        .await
        .expect(200);
    let body = json!({ "action": "propose", "agent_external_id": "nobody" });
    zendesk.send(&body).await.expect_problem(401, None);
    let wrong = format!("Bearer {}x", freshdesk.integration.secret);
    freshdesk
        .send_raw(
            &body.to_string(),
            &Signed::Headers(vec![("authorization".to_owned(), wrong)]),
            "",
        )
        .await
        .expect_problem(401, None);
    let logs = crate::helpers::captured_logs();
    assert!(logs.contains("inbound webhook refused"), "refusals are logged at all");
    for secret in [&zendesk.integration.secret, &rotated, &freshdesk.integration.secret] {
        assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs");
    }
}
