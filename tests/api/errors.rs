//! Bad input of any kind: a 4xx problem document, nothing written.

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

#[tokio::test]
async fn unknown_paths_and_methods_answer_problems() {
    let app = TestApp::spawn().await;
    app.get("/v2/nothing", None).await.expect_problem(404, None);
    let answer = app.delete("/healthz", None).await.expect_problem(405, None);
    assert!(answer.header("allow").is_some_and(|allow| allow.contains("GET")));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.count("SELECT count(*) FROM employees").await;
    let answer = app
        .send(
            app.request(Method::POST, "/v1/employees", Some(&app.admin.token))
                .header("content-type", "application/json")
                .body(r#"{"name": "Ann", "email": "#),
        )
        .await
        .expect_problem(400, None);
    assert!(
        answer.body["detail"].as_str().unwrap().contains("not valid JSON"),
        "{}",
        answer.body
    );
    assert_eq!(app.count("SELECT count(*) FROM employees").await, before);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = TestApp::spawn().await;
    app.send(
        app.request(Method::POST, "/v1/employees", Some(&app.admin.token))
            .header("content-type", "text/plain")
            .body("name=Ann"),
    )
    .await
    .expect_problem(415, None);
}

#[tokio::test]
async fn missing_unknown_and_mistyped_fields_are_named() {
    let app = TestApp::spawn().await;
    let admin = Some(app.admin.token.as_str());
    app.post("/v1/employees", admin, &json!({ "name": "Ann", "role": "agent" }))
        .await
        .expect_problem(422, Some("email"));
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": "Ann", "email": "ann@example.com", "role": "agent", "nick": "A" }),
    )
    .await
    .expect_problem(422, Some("nick"));
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": 5, "email": "ann@example.com", "role": "agent" }),
    )
    .await
    .expect_problem(422, Some("name"));
    let answer = app
        .post(
            "/v1/employees",
            admin,
            &json!({ "name": "Ann", "email": "ann@example.com", "role": "owner" }),
        )
        .await
        .expect_problem(422, Some("role"));
    assert!(
        answer.body["errors"]["role"].as_str().unwrap().contains("agent"),
        "lists valid roles: {}",
        answer.body
    );
    app.post(
        "/v1/employees",
        admin,
        &json!({ "name": " ", "email": "not-an-email", "role": "agent" }),
    )
    .await
    .expect_problem(422, Some("email"))
    .body["errors"]["name"]
        .as_str()
        .expect("both bad fields are named");
    assert_eq!(
        app.count("SELECT count(*) FROM employees").await,
        1,
        "only the bootstrap admin"
    );
}

#[tokio::test]
async fn an_oversize_body_is_a_413_problem() {
    let app = TestApp::spawn_with(|s| s.server.body_limit_bytes = 2048).await;
    let huge = json!({ "name": "x".repeat(4096), "email": "big@example.com", "role": "agent" });
    let refused = app
        .post("/v1/employees", Some(&app.admin.token), &huge)
        .await
        .expect_problem(413, None);
    assert_eq!(refused.body["type"], "urn:countersign:problem:payload-too-large");
    // Without Content-Length (chunked), the limit still holds.
    let body = huge.to_string();
    let mut request = format!(
        "POST /v1/employees HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        app.admin.token
    );
    for chunk in body.as_bytes().chunks(512) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(
        response.contains("urn:countersign:problem:payload-too-large"),
        "{response}"
    );
    assert_eq!(app.count("SELECT count(*) FROM employees").await, 1);
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_a_400_problem() {
    let app = TestApp::spawn().await;
    app.get("/v1/employees/42", Some(&app.admin.token))
        .await
        .expect_problem(400, None);
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = TestApp::spawn().await;
    let admin = Some(app.admin.token.as_str());
    app.get("/v1/employees?limit=500", admin)
        .await
        .expect_problem(422, Some("limit"));
    app.get("/v1/employees?limit=many", admin)
        .await
        .expect_problem(422, Some("limit"));
    app.get("/v1/employees?colour=red", admin)
        .await
        .expect_problem(422, Some("colour"));
    app.get("/v1/employees?cursor=zzz", admin)
        .await
        .expect_problem(422, Some("cursor"));
}

#[tokio::test]
async fn an_empty_filing_names_every_required_field_in_one_answer() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let problem = agent
        .post("/v1/proposals", &serde_json::json!({}))
        .await
        .expect_problem(422, None)
        .problem();
    let fields: Vec<String> = problem.errors.unwrap_or_default().into_keys().collect();
    assert_eq!(
        fields,
        vec!["category", "justification", "policy_ref", "resolution", "summary"],
        "every missing field at once"
    );
}

#[tokio::test]
async fn a_filing_with_several_wrong_fields_names_each_of_them_and_nothing_is_filed() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let problem = agent
        .post(
            "/v1/proposals",
            &serde_json::json!({
                "category": 7,
                "summary": ["not", "text"],
                "amount_minor": "forty",
                "amount_minor_typo": 1,
                "resolution": "Refund in full",
                "justification": "Lost parcel",
                "currency": "EUR"
            }),
        )
        .await
        .expect_problem(422, None)
        .problem();
    let errors = problem.errors.unwrap_or_default();
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        vec!["amount_minor", "amount_minor_typo", "category", "policy_ref", "summary"],
        "every mistyped, unknown and missing field at once: {errors:?}"
    );
    assert_eq!(
        errors["amount_minor"], r#"must be a whole number, not the text "forty""#,
        "in plain words, not Rust's types: {errors:?}"
    );
    assert_eq!(errors["category"], "must be text, not 7", "{errors:?}");
    assert_eq!(errors["summary"], "must be text, not a list", "{errors:?}");
    assert!(errors["policy_ref"].starts_with("missing field"), "{errors:?}");
    let filed: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(filed, 0);
}
