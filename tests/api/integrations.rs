//! Which agents an integration may act for: every active agent by default
//! (so existing set-ups keep working), or only the teams and agents an admin
//! names. An agent it may not act for gets the same answer as one that does
//! not exist, so an integration cannot enumerate people.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_new_integration_acts_for_every_active_agent() {
    let app = TestApp::spawn().await;
    let agent = app.create_user_with("agent", json!({ "team": "support" })).await;
    let integration = app.integration("zendesk").await;
    let read = app
        .admin
        .get(&format!("/v1/integrations/{}", integration.id))
        .await
        .expect(200);
    assert_eq!(read.body["acts_for_all"], true);
    integration.acting_for(agent.id.to_string()).me().await.expect(200);
}

#[tokio::test]
async fn a_scoped_integration_acts_only_for_its_teams_and_agents_and_refuses_the_rest_alike() {
    let app = TestApp::spawn().await;
    let billing = app
        .create_user_with("agent", json!({ "team": "billing", "external_id": "zd-b" }))
        .await;
    let named = app
        .create_user_with("agent", json!({ "team": "returns", "external_id": "zd-n" }))
        .await;
    let outside = app
        .create_user_with("agent", json!({ "team": "support", "external_id": "zd-s" }))
        .await;
    let leaver = app
        .create_user_with("agent", json!({ "team": "billing", "external_id": "zd-l" }))
        .await;
    app.set_employee(&leaver, json!({ "active": false })).await;
    let integration = app.integration("zendesk").await;
    let scoped = app
        .admin
        .patch(
            &format!("/v1/integrations/{}", integration.id),
            &json!({ "acts_for_all": false, "acts_for_teams": ["billing"], "acts_for_agents": [named.id] }),
        )
        .await
        .expect(200);
    assert_eq!(scoped.body["acts_for_teams"], json!(["billing"]));

    for allowed in ["zd-b", "zd-n"] {
        integration.acting_for(allowed).me().await.expect(200);
    }
    let _ = (billing, named);
    // Out of scope, inactive, or nobody at all: one answer.
    for refused in ["zd-s", "zd-l", "nobody-42"] {
        let problem = integration
            .acting_for(refused)
            .me()
            .await
            .expect_problem(403, None)
            .problem();
        assert_eq!(problem.problem_type, "urn:countersign:problem:on-behalf-of-refused");
        assert_eq!(
            problem.detail,
            format!("Countersign-On-Behalf-Of: this integration may not act for `{refused}`")
        );
    }
    // It cannot file for someone outside its scope either.
    integration
        .acting_for(outside.id.to_string())
        .file(json!({}))
        .await
        .expect_problem(403, None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);

    let (actor, before, after): (Option<Uuid>, bool, bool) = sqlx::query_as(
        "SELECT actor_employee_id, (payload->'before'->>'acts_for_all')::bool, (payload->'after'->>'acts_for_all')::bool
         FROM audit_events WHERE event_type = 'integration.updated'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((actor, before, after), (Some(app.admin.id), true, false));
}

#[tokio::test]
async fn a_scope_names_only_agents_and_a_deactivated_integration_stops() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let agent = app.create_user("agent").await;
    let integration = app.integration("generic").await;
    let path = format!("/v1/integrations/{}", integration.id);
    for body in [
        json!({ "acts_for_agents": [manager.id] }),
        json!({ "acts_for_agents": [Uuid::now_v7()] }),
        json!({ "acts_for_teams": ["  "] }),
    ] {
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        app.admin.patch(&path, &body).await.expect_problem(422, Some(&field));
    }
    app.admin.patch(&path, &json!({ "active": false })).await.expect(200);
    integration
        .acting_for(agent.id.to_string())
        .me()
        .await
        .expect_problem(401, None);
    app.admin
        .get(&format!("/v1/integrations/{}", Uuid::now_v7()))
        .await
        .expect_problem(404, None);
}
