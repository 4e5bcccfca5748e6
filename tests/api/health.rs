//! What operators and tooling read: liveness and readiness, request ids,
//! metrics, the OpenAPI document and its docs page, and the pool's settings.

use crate::helpers::TestApp;

#[tokio::test]
async fn liveness_and_readiness_answer_json() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz", None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz", None).await.expect(200);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"], "ok");
    assert!(
        ready.header("x-request-id").is_some(),
        "every answer carries a request id"
    );
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_kept() {
    let app = TestApp::spawn().await;
    let answer = app
        .send(
            app.request(reqwest::Method::GET, "/healthz", None)
                .header("x-request-id", "abc-123"),
        )
        .await
        .expect(200);
    assert_eq!(answer.header("x-request-id"), Some("abc-123"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz", None).await.expect(200);
    let metrics = app.get("/metrics", None).await.expect(200);
    let text = metrics.body.as_str().expect("metrics are text");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency is a histogram: {text}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await.expect(200);
    assert!(
        spec.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec.body["openapi"]
    );
    let paths = spec.body["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/employees",
        "/v1/employees/{id}",
        "/v1/tokens/{id}",
        "/v1/employees/{id}/tokens",
        "/v1/integrations",
        "/v1/integrations/{id}",
        "/v1/me",
        "/v1/policy",
        "/v1/proposals",
        "/v1/proposals/{id}",
        "/v1/proposals/{id}/cosign",
        "/v1/proposals/{id}/decline",
        "/v1/proposals/{id}/withdraw",
        "/v1/proposals/{id}/outcome",
        "/v1/proposals/{id}/events",
        "/v1/proposals/{id}/review",
        "/v1/inbox",
        "/v1/review-queue",
        "/v1/audit/verify",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the spec");
    }
    assert!(spec.body["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec.body["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_docs_page_loads_nothing_from_the_internet() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/", None).await.expect(200);
    let html = page.body.as_str().unwrap();
    assert!(html.contains("swagger"), "{html}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let file = app.get(&format!("/docs/{asset}"), None).await.expect(200);
        let text = file.body.as_str().unwrap_or_default().to_owned();
        assert!(!text.is_empty(), "{asset} is served from the binary");
    }
    let initializer = app.get("/docs/swagger-initializer.js", None).await.expect(200);
    let script = initializer.body.as_str().unwrap();
    assert!(script.contains("/openapi.json"), "{script}");
    assert!(
        !html.contains("https://") && !script.contains("https://"),
        "no remote assets"
    );
}

#[tokio::test]
async fn pooled_connections_run_without_jit() {
    let app = TestApp::spawn().await;
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(app.pool.acquire().await.unwrap());
    }
    for conn in &mut connections {
        let jit: String = sqlx::query_scalar("SHOW jit").fetch_one(&mut **conn).await.unwrap();
        assert_eq!(jit, "off");
    }
}
