//! People, roles, tokens and integrations.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, User, captured_logs};

/// Every admin endpoint: 401 without a token, 403 for every other kind of
/// caller, 2xx for an admin.
#[tokio::test]
async fn admin_endpoints_answer_401_403_and_2xx_by_role() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let (_, integration_token, _) = app.create_integration("generic").await;
    let target = app.create_user("agent").await;
    let token_to_revoke = app
        .post(
            &format!("/v1/employees/{}/tokens", target.id),
            Some(&app.admin.token),
            &json!({}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let new_employee = || json!({ "name": "New", "email": format!("{}@example.com", Uuid::now_v7()), "role": "agent" });
    let new_integration = || json!({ "name": format!("int-{}", Uuid::now_v7()), "kind": "zendesk" });
    let cases: Vec<(&str, String, Option<serde_json::Value>, u16)> = vec![
        ("POST", "/v1/employees".into(), Some(new_employee()), 201),
        ("GET", "/v1/employees".into(), None, 200),
        ("GET", format!("/v1/employees/{}", target.id), None, 200),
        (
            "PATCH",
            format!("/v1/employees/{}", target.id),
            Some(json!({ "team": "north" })),
            200,
        ),
        (
            "POST",
            format!("/v1/employees/{}/tokens", target.id),
            Some(json!({ "name": "x" })),
            201,
        ),
        ("GET", format!("/v1/employees/{}/tokens", target.id), None, 200),
        ("DELETE", format!("/v1/tokens/{token_to_revoke}"), None, 204),
        ("POST", "/v1/integrations".into(), Some(new_integration()), 201),
        ("GET", "/v1/integrations".into(), None, 200),
    ];
    for (method, path, body, success) in cases {
        let method: reqwest::Method = method.parse().unwrap();
        let call = |token: Option<String>| {
            let mut request = app.request(method.clone(), &path, token.as_deref());
            if let Some(body) = &body {
                // Fresh unique values per call so the admin's 2xx is not a 409.
                let body = if path == "/v1/employees" {
                    new_employee()
                } else if path == "/v1/integrations" {
                    new_integration()
                } else {
                    body.clone()
                };
                request = request.json(&body);
            }
            app.send(request)
        };
        call(None).await.expect_problem(401, None);
        for (who, token) in [
            ("agent", &agent.token),
            ("manager", &manager.token),
            ("integration", &integration_token),
        ] {
            let answer = call(Some(token.clone())).await;
            assert_eq!(answer.status, 403, "{method} {path} as {who}: {}", answer.body);
            assert_eq!(
                answer.body["required_role"], "admin",
                "{method} {path}: {}",
                answer.body
            );
        }
        let answer = call(Some(app.admin.token.clone())).await;
        assert_eq!(
            answer.status.as_u16(),
            success,
            "{method} {path} as admin: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn malformed_and_unknown_tokens_are_401() {
    let app = TestApp::spawn().await;
    let unknown = format!("cs_{}", "A".repeat(43));
    for header in ["Bearer", "Basic abc", "Bearer nonsense", &format!("Bearer {unknown}")] {
        app.send(
            app.request(reqwest::Method::GET, "/v1/me", None)
                .header("authorization", header),
        )
        .await
        .expect_problem(401, None);
    }
}

#[tokio::test]
async fn an_employee_is_created_read_listed_and_changed_with_audit_events() {
    let app = TestApp::spawn().await;
    let admin = Some(app.admin.token.as_str());
    let created = app
        .post(
            "/v1/employees",
            admin,
            &json!({ "name": " Ann Lee ", "email": "Ann@Example.com", "role": "agent", "team": "north", "external_id": "zd-1" }),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), Some(format!("/v1/employees/{id}").as_str()));
    assert_eq!(created.body["name"], "Ann Lee", "names are trimmed");
    assert_eq!(created.body["active"], true);

    let fetched = app.get(&format!("/v1/employees/{id}"), admin).await.expect(200);
    assert_eq!(fetched.body["external_id"], "zd-1");

    let changed = app
        .patch(
            &format!("/v1/employees/{id}"),
            admin,
            &json!({ "role": "manager", "team": null }),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["role"], "manager");
    assert_eq!(changed.body["team"], serde_json::Value::Null, "null clears");
    assert_eq!(changed.body["external_id"], "zd-1", "absent fields stay");

    let listed = app.get("/v1/employees?role=manager", admin).await.expect(200);
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);

    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM audit_events WHERE subject_id = $1 ORDER BY id")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, vec!["employee.created", "employee.updated"]);
    let actor: Option<Uuid> =
        sqlx::query_scalar("SELECT actor_employee_id FROM audit_events WHERE subject_id = $1 LIMIT 1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, Some(app.admin.id));
    app.get(&format!("/v1/employees/{}", Uuid::now_v7()), admin)
        .await
        .expect_problem(404, None);
}

#[tokio::test]
async fn the_list_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.create_user("agent").await;
    }
    let admin = Some(app.admin.token.as_str());
    let first = app.get("/v1/employees?limit=2", admin).await.expect(200);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().expect("more follow").to_owned();
    let second = app
        .get(&format!("/v1/employees?limit=2&cursor={cursor}"), admin)
        .await
        .expect(200);
    assert_eq!(
        second.body["items"].as_array().unwrap().len(),
        2,
        "4 people: admin and 3 agents"
    );
    assert_eq!(second.body["next_cursor"], serde_json::Value::Null);
    assert_ne!(first.body["items"][0]["id"], second.body["items"][0]["id"]);
}

#[tokio::test]
async fn duplicate_email_and_external_id_are_409_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = Some(app.admin.token.as_str());
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": "A", "email": "a@example.com", "role": "agent", "external_id": "x1" }),
    )
    .await
    .expect(201);
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": "B", "email": "A@EXAMPLE.COM", "role": "agent" }),
    )
    .await
    .expect_problem(409, Some("email"));
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": "C", "email": "c@example.com", "role": "agent", "external_id": "x1" }),
    )
    .await
    .expect_problem(409, Some("external_id"));
    let other = app.create_user("agent").await;
    app.patch(
        &format!("/v1/employees/{}", other.id),
        admin,
        &json!({ "email": "a@Example.com" }),
    )
    .await
    .expect_problem(409, Some("email"));
    assert_eq!(app.count("SELECT count(*) FROM employees").await, 3);
}

#[tokio::test]
async fn deactivation_and_revocation_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    app.get("/v1/me", Some(&agent.token)).await.expect(200);
    app.patch(
        &format!("/v1/employees/{}", agent.id),
        Some(&app.admin.token),
        &json!({ "active": false }),
    )
    .await
    .expect(200);
    app.get("/v1/me", Some(&agent.token)).await.expect_problem(401, None);
    app.patch(
        &format!("/v1/employees/{}", agent.id),
        Some(&app.admin.token),
        &json!({ "active": true }),
    )
    .await
    .expect(200);
    app.get("/v1/me", Some(&agent.token)).await.expect(200);

    let tokens = app
        .get(&format!("/v1/employees/{}/tokens", agent.id), Some(&app.admin.token))
        .await
        .expect(200);
    let token_id = tokens.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        tokens.body["items"][0].get("token").is_none(),
        "the clear token is never listed"
    );
    app.delete(&format!("/v1/tokens/{token_id}"), Some(&app.admin.token))
        .await
        .expect(204);
    app.get("/v1/me", Some(&agent.token)).await.expect_problem(401, None);
    app.delete(&format!("/v1/tokens/{token_id}"), Some(&app.admin.token))
        .await
        .expect(204);
    app.delete(&format!("/v1/tokens/{}", Uuid::now_v7()), Some(&app.admin.token))
        .await
        .expect_problem(404, None);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    assert!(
        agent.token.starts_with("cs_") && agent.token.len() >= 46,
        "{}",
        agent.token
    );
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE employee_id = $1")
        .bind(agent.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0], countersign::secrets::hash_token(&agent.token).to_vec());
    let any_clear: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%cs\\_%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(any_clear, 0);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = TestApp::spawn().await;
    let path = format!("/v1/employees/{}", app.admin.id);
    app.patch(&path, Some(&app.admin.token), &json!({ "active": false }))
        .await
        .expect_problem(409, None);
    app.patch(&path, Some(&app.admin.token), &json!({ "role": "agent" }))
        .await
        .expect_problem(409, None);
    let second = app.create_user("admin").await;
    app.patch(&path, Some(&second.token), &json!({ "role": "manager" }))
        .await
        .expect(200);
}

#[tokio::test]
async fn issuing_a_token_to_an_inactive_person_is_refused() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    app.patch(
        &format!("/v1/employees/{}", agent.id),
        Some(&app.admin.token),
        &json!({ "active": false }),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/employees/{}/tokens", agent.id),
        Some(&app.admin.token),
        &json!({}),
    )
    .await
    .expect_problem(409, None);
}

#[tokio::test]
async fn integrations_get_a_token_and_a_secret_once() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/integrations",
            Some(&app.admin.token),
            &json!({ "name": "Zendesk EU", "kind": "zendesk" }),
        )
        .await
        .expect(201);
    assert!(created.body["token"].as_str().unwrap().starts_with("cs_"));
    assert!(created.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = app.get("/v1/integrations", Some(&app.admin.token)).await.expect(200);
    assert_eq!(listed.body["items"][0]["name"], "Zendesk EU");
    assert!(listed.body["items"][0].get("secret").is_none() && listed.body["items"][0].get("token").is_none());
    app.post(
        "/v1/integrations",
        Some(&app.admin.token),
        &json!({ "name": "Zendesk EU", "kind": "generic" }),
    )
    .await
    .expect_problem(409, Some("name"));
    app.post(
        "/v1/integrations",
        Some(&app.admin.token),
        &json!({ "name": "X", "kind": "salesforce" }),
    )
    .await
    .expect_problem(422, Some("kind"));
}

async fn me_as(app: &TestApp, token: &str, on_behalf_of: Option<&str>) -> crate::helpers::Answer {
    let mut request = app.request(reqwest::Method::GET, "/v1/me", Some(token));
    if let Some(reference) = on_behalf_of {
        request = request.header("countersign-on-behalf-of", reference);
    }
    app.send(request).await
}

#[tokio::test]
async fn an_integration_acts_for_an_agent_named_by_id_or_external_id() {
    let app = TestApp::spawn().await;
    let agent = app
        .create_user_with("agent", json!({ "external_id": "zd-agent-7" }))
        .await;
    let (integration_id, token, _) = app.create_integration("zendesk").await;

    let alone = me_as(&app, &token, None).await.expect(200);
    assert_eq!(alone.body["employee_id"], serde_json::Value::Null);
    assert_eq!(alone.body["via_integration_id"], integration_id.to_string());

    for reference in [agent.id.to_string(), "zd-agent-7".to_owned()] {
        let acting = me_as(&app, &token, Some(&reference)).await.expect(200);
        assert_eq!(acting.body["employee_id"], agent.id.to_string());
        assert_eq!(acting.body["role"], "agent");
        assert_eq!(acting.body["via_integration_id"], integration_id.to_string());
    }
}

#[tokio::test]
async fn acting_on_behalf_is_refused_for_unknown_inactive_or_non_agents_and_for_people() {
    let app = TestApp::spawn().await;
    let (_, token, _) = app.create_integration("generic").await;
    let manager = app.create_user("manager").await;
    let leaver: User = app.create_user_with("agent", json!({ "external_id": "gone-1" })).await;
    app.patch(
        &format!("/v1/employees/{}", leaver.id),
        Some(&app.admin.token),
        &json!({ "active": false }),
    )
    .await
    .expect(200);

    me_as(&app, &token, Some("nobody-42")).await.expect_problem(403, None);
    me_as(&app, &token, Some(&Uuid::now_v7().to_string()))
        .await
        .expect_problem(403, None);
    me_as(&app, &token, Some("gone-1")).await.expect_problem(403, None);
    me_as(&app, &token, Some(&manager.id.to_string()))
        .await
        .expect_problem(403, None);

    let agent = app.create_user("agent").await;
    let other = app.create_user("agent").await;
    me_as(&app, &agent.token, Some(&other.id.to_string()))
        .await
        .expect_problem(403, None);
}

#[tokio::test]
async fn no_token_or_secret_appears_in_the_logs() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let (_, integration_token, secret) = app.create_integration("generic").await;
    app.get("/v1/me", Some(&agent.token)).await.expect(200);
    app.get("/v1/me", Some(&integration_token)).await.expect(200);
    app.get("/v1/employees", Some(&agent.token)).await.expect(403);
    let logs = captured_logs();
    assert!(
        logs.contains("/v1/me"),
        "requests are logged at all: {} bytes",
        logs.len()
    );
    for secret in [&agent.token, &integration_token, &secret, &app.admin.token] {
        assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs");
    }
}
