//! People, roles, tokens and integrations: who may call, as whom, and what
//! the admin endpoints write.

use countersign::domain::employee::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, User, captured_logs};

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
        .admin
        .post(&format!("/v1/employees/{}/tokens", target.id), &json!({}))
        .await
        .expect(201)
        .issued_token()
        .id;

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
                answer.problem().required_role,
                Some(Role::Admin),
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

/// Ann Lee, an agent of team north, as an admin creates her.
async fn create_ann(app: &TestApp) -> Answer {
    app.admin
        .post(
            "/v1/employees",
            &json!({ "name": " Ann Lee ", "email": "Ann@Example.com", "role": "agent", "team": "north", "external_id": "zd-1" }),
        )
        .await
        .expect(201)
}

#[tokio::test]
async fn an_employee_is_created_active_with_a_trimmed_name_and_read_back() {
    let app = TestApp::spawn().await;
    let created = create_ann(&app).await;
    let ann = created.employee();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/employees/{}", ann.id).as_str())
    );
    assert_eq!(ann.name, "Ann Lee", "names are trimmed");
    assert!(ann.active);

    let fetched = app
        .admin
        .get(&format!("/v1/employees/{}", ann.id))
        .await
        .expect(200)
        .employee();
    assert_eq!(fetched.external_id.as_deref(), Some("zd-1"));
}

/// Makes Ann a manager and clears her team, as an admin; answers the change.
async fn promote_ann(app: &TestApp, id: Uuid) -> Answer {
    app.admin
        .patch(
            &format!("/v1/employees/{id}"),
            &json!({ "role": "manager", "team": null }),
        )
        .await
        .expect(200)
}

#[tokio::test]
async fn a_change_sets_given_fields_clears_nulls_and_keeps_absent_ones() {
    let app = TestApp::spawn().await;
    let id = create_ann(&app).await.employee().id;
    let changed = promote_ann(&app, id).await.employee();
    assert_eq!(changed.role, Role::Manager);
    assert_eq!(changed.team, None, "null clears");
    assert_eq!(changed.external_id.as_deref(), Some("zd-1"), "absent fields stay");
}

#[tokio::test]
async fn employees_are_listed_by_role() {
    let app = TestApp::spawn().await;
    let id = create_ann(&app).await.employee().id;
    promote_ann(&app, id).await;
    let listed = app
        .admin
        .get("/v1/employees?role=manager")
        .await
        .expect(200)
        .employees();
    let ids: Vec<Uuid> = listed.items.iter().map(|employee| employee.id).collect();
    assert_eq!(ids, vec![id]);
}

#[tokio::test]
async fn creating_and_changing_an_employee_is_audited_as_the_admin() {
    let app = TestApp::spawn().await;
    let id = create_ann(&app).await.employee().id;
    promote_ann(&app, id).await;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM audit_events WHERE subject_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, vec!["employee.created", "employee.updated"]);
    let actor: Option<Uuid> =
        sqlx::query_scalar("SELECT actor_employee_id FROM audit_events WHERE subject_id = $1 LIMIT 1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, Some(app.admin.id));
}

#[tokio::test]
async fn an_unknown_employee_is_a_404() {
    let app = TestApp::spawn().await;
    app.admin
        .get(&format!("/v1/employees/{}", Uuid::now_v7()))
        .await
        .expect_problem(404, None);
}

#[tokio::test]
async fn the_list_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    app.create_users("agent", 3).await;
    let first = app.admin.get("/v1/employees?limit=2").await.expect(200).employees();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.expect("more follow");
    let second = app
        .admin
        .get(&format!("/v1/employees?limit=2&cursor={cursor}"))
        .await
        .expect(200)
        .employees();
    assert_eq!(second.items.len(), 2, "4 people: admin and 3 agents");
    assert_eq!(second.next_cursor, None);
    assert_ne!(first.items[0].id, second.items[0].id);
}

#[tokio::test]
async fn duplicate_email_and_external_id_are_409_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = &app.admin;
    admin
        .post(
            "/v1/employees",
            &json!({ "name": "A", "email": "a@example.com", "role": "agent", "external_id": "x1" }),
        )
        .await
        .expect(201);
    admin
        .post(
            "/v1/employees",
            &json!({ "name": "B", "email": "A@EXAMPLE.COM", "role": "agent" }),
        )
        .await
        .expect_problem(409, Some("email"));
    admin
        .post(
            "/v1/employees",
            &json!({ "name": "C", "email": "c@example.com", "role": "agent", "external_id": "x1" }),
        )
        .await
        .expect_problem(409, Some("external_id"));
    let other = app.create_user("agent").await;
    admin
        .patch(
            &format!("/v1/employees/{}", other.id),
            &json!({ "email": "a@Example.com" }),
        )
        .await
        .expect_problem(409, Some("email"));
    assert_eq!(app.count("SELECT count(*) FROM employees").await, 3);
}

#[tokio::test]
async fn deactivation_revokes_every_token_and_reactivation_issues_none_back() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    agent.me().await.expect(200);
    app.set_employee(&agent, json!({ "active": false })).await;
    agent.me().await.expect_problem(401, None);
    app.set_employee(&agent, json!({ "active": true })).await;
    // Reactivated, the person has no working token until one is issued.
    agent.me().await.expect_problem(401, None);
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE employee_id = $1 AND revoked_at IS NOT NULL")
            .bind(agent.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(revoked, 1);
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE event_type = 'token.revoked' AND payload->>'employee_id' = $1",
    )
    .bind(agent.id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 1, "the revocation is audited");
    let fresh = app
        .admin
        .post(&format!("/v1/employees/{}/tokens", agent.id), &json!({}))
        .await
        .expect(201)
        .issued_token();
    let status = app.get("/v1/me", Some(&fresh.token)).await.status;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_even_in_the_schema() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    app.set_employee(&agent, json!({ "active": false })).await;
    for change in [
        "revoked_at = NULL",
        "revoked_at = revoked_at + interval '1 day'",
        "token_hash = sha256('other')",
    ] {
        let refused = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE api_tokens SET {change} WHERE employee_id = '{}'",
            agent.id
        )))
        .execute(&app.pool)
        .await;
        assert!(refused.is_err(), "{change}");
    }
}

/// The id of the one token issued to `who`, as the admin's list shows it.
async fn only_token_id(app: &TestApp, who: &User) -> String {
    let tokens = app
        .admin
        .get(&format!("/v1/employees/{}/tokens", who.id))
        .await
        .expect(200);
    // Read as JSON: what matters is what the list leaves out.
    assert!(
        tokens.body["items"][0].get("token").is_none(),
        "the clear token is never listed"
    );
    tokens.body["items"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn revoking_a_token_takes_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    agent.me().await.expect(200);
    let token_id = only_token_id(&app, &agent).await;
    app.admin.delete(&format!("/v1/tokens/{token_id}")).await.expect(204);
    agent.me().await.expect_problem(401, None);
}

#[tokio::test]
async fn revoking_is_idempotent_and_an_unknown_token_is_a_404() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let token_id = only_token_id(&app, &agent).await;
    for _ in 0..2 {
        app.admin.delete(&format!("/v1/tokens/{token_id}")).await.expect(204);
    }
    app.admin
        .delete(&format!("/v1/tokens/{}", Uuid::now_v7()))
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
    app.admin
        .patch(&path, &json!({ "active": false }))
        .await
        .expect_problem(409, None);
    app.admin
        .patch(&path, &json!({ "role": "agent" }))
        .await
        .expect_problem(409, None);
    let second = app.create_user("admin").await;
    second.patch(&path, &json!({ "role": "manager" })).await.expect(200);
}

#[tokio::test]
async fn issuing_a_token_to_an_inactive_person_is_refused() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    app.set_employee(&agent, json!({ "active": false })).await;
    app.admin
        .post(&format!("/v1/employees/{}/tokens", agent.id), &json!({}))
        .await
        .expect_problem(409, None);
}

#[tokio::test]
async fn an_integration_gets_a_token_and_a_secret_shown_once() {
    let app = TestApp::spawn().await;
    let created = app
        .admin
        .post("/v1/integrations", &json!({ "name": "Zendesk EU", "kind": "zendesk" }))
        .await
        .expect(201)
        .created_integration();
    assert!(created.token.starts_with("cs_"));
    // Zendesk signs with its own secret: none is generated, none is set yet.
    assert_eq!(created.secret, None);
    assert!(!created.integration.has_secret);
    let listed = app.admin.get("/v1/integrations").await.expect(200);
    // Read as JSON: what matters is what the list leaves out.
    assert_eq!(listed.body["items"][0]["name"], "Zendesk EU");
    assert!(listed.body["items"][0].get("secret").is_none() && listed.body["items"][0].get("token").is_none());
}

#[tokio::test]
async fn integration_names_are_unique() {
    let app = TestApp::spawn().await;
    app.admin
        .post("/v1/integrations", &json!({ "name": "Zendesk EU", "kind": "zendesk" }))
        .await
        .expect(201);
    app.admin
        .post("/v1/integrations", &json!({ "name": "Zendesk EU", "kind": "generic" }))
        .await
        .expect_problem(409, Some("name"));
}

#[tokio::test]
async fn an_unknown_integration_kind_is_named() {
    let app = TestApp::spawn().await;
    app.admin
        .post("/v1/integrations", &json!({ "name": "X", "kind": "salesforce" }))
        .await
        .expect_problem(422, Some("kind"));
    assert_eq!(app.count("SELECT count(*) FROM integrations").await, 0);
}

#[tokio::test]
async fn an_integration_acts_for_an_agent_named_by_id_or_external_id() {
    let app = TestApp::spawn().await;
    let agent = app
        .create_user_with("agent", json!({ "external_id": "zd-agent-7" }))
        .await;
    let integration = app.integration("zendesk").await;

    let alone = integration.itself().me().await.expect(200).me();
    assert_eq!(alone.employee_id, None);
    assert_eq!(alone.via_integration_id, Some(integration.id));

    for reference in [agent.id.to_string(), "zd-agent-7".to_owned()] {
        let acting = integration.acting_for(reference).me().await.expect(200).me();
        assert_eq!(acting.employee_id, Some(agent.id));
        assert_eq!(acting.role, Some(Role::Agent));
        assert_eq!(acting.via_integration_id, Some(integration.id));
    }
}

#[tokio::test]
async fn an_integration_acts_only_for_known_active_agents() {
    let app = TestApp::spawn().await;
    let integration = app.integration("generic").await;
    let manager = app.create_user("manager").await;
    let leaver = app.create_user_with("agent", json!({ "external_id": "gone-1" })).await;
    app.set_employee(&leaver, json!({ "active": false })).await;

    for reference in [
        "nobody-42".to_owned(),
        Uuid::now_v7().to_string(),
        "gone-1".to_owned(),
        manager.id.to_string(),
    ] {
        integration.acting_for(reference).me().await.expect_problem(403, None);
    }
}

#[tokio::test]
async fn a_person_never_acts_on_behalf_of_another() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let other = app.create_user("agent").await;
    agent
        .acting_for(other.id.to_string())
        .me()
        .await
        .expect_problem(403, None);
}

#[tokio::test]
async fn no_token_or_secret_appears_in_the_logs() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let integration = app.integration("generic").await;
    agent.me().await.expect(200);
    integration.itself().me().await.expect(200);
    agent.get("/v1/employees").await.expect(403);
    let logs = captured_logs();
    assert!(
        logs.contains("/v1/me"),
        "requests are logged at all: {} bytes",
        logs.len()
    );
    for secret in [&agent.token, &integration.token, &integration.secret, &app.admin.token] {
        assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs");
    }
}
