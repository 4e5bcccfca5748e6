//! The contract a client builds on: every refusal has its own problem `type`
//! (so a client tells them apart without reading English), and the OpenAPI
//! document says every status an operation answers, problems as
//! problem+json, with the constraints the service enforces. The fuzz run
//! (fuzz/run.sh, in CI) keeps the document and the service in step.

use std::collections::BTreeMap;

use countersign::domain::proposal::Verdict;
use countersign::http::error::ProblemType;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};

/// Asserts the problem's `type` and answers it.
#[track_caller]
fn problem_type(answer: Answer, kind: ProblemType) -> String {
    let problem = answer.expect_problem(kind.status().as_u16(), None).problem();
    assert_eq!(problem.problem_type, kind.uri(), "{}", problem.detail);
    problem.problem_type
}

#[tokio::test]
async fn a_client_tells_every_refusal_apart_by_its_type_alone() {
    let app = TestApp::spawn_with(|s| s.proposals.expiry_interval_secs = 3600).await;
    let [proposer, peer, other] = <[_; 3]>::try_from(app.create_users("agent", 3).await).unwrap();
    let manager = app.create_user("manager").await;
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut saw = |kind: String, case: &'static str| {
        if let Some(earlier) = seen.insert(kind.clone(), case) {
            panic!("`{earlier}` and `{case}` answer the same type {kind}");
        }
    };

    let pending = proposer.file(json!({})).await.expect(201).id();
    saw(
        problem_type(proposer.cosign(&pending).await, ProblemType::SelfSigning),
        "self-signing",
    );
    saw(
        problem_type(manager.cosign(&pending).await, ProblemType::RoleRequired),
        "role",
    );
    saw(
        problem_type(
            peer.revise(&pending, json!({ "summary": "x" })).await,
            ProblemType::NotTheProposer,
        ),
        "not the proposer",
    );
    saw(
        problem_type(
            manager.review(&pending, Verdict::Endorse, "early").await,
            ProblemType::NotDecided,
        ),
        "not decided",
    );
    saw(
        problem_type(
            peer.post(&format!("/v1/proposals/{pending}/cosign"), &json!({})).await,
            ProblemType::RevisionRequired,
        ),
        "no revision",
    );
    saw(
        problem_type(peer.cosign_revision(&pending, 7).await, ProblemType::RevisionChanged),
        "stale revision",
    );
    saw(
        problem_type(
            proposer
                .record_outcome(&pending, json!({ "executed": true, "customer_outcome": "satisfied" }))
                .await,
            ProblemType::NotApproved,
        ),
        "outcome before approval",
    );

    let two = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
    peer.cosign(&two).await.expect(200);
    saw(
        problem_type(peer.cosign(&two).await, ProblemType::AlreadySigned),
        "signed twice",
    );

    let approved = app.approved_proposal(&proposer, &peer).await;
    saw(
        problem_type(other.cosign_revision(&approved, 1).await, ProblemType::NotPending),
        "decided",
    );
    let outcome = json!({ "executed": true, "customer_outcome": "satisfied" });
    proposer.record_outcome(&approved, outcome.clone()).await.expect(200);
    saw(
        problem_type(
            proposer.record_outcome(&approved, outcome).await,
            ProblemType::OutcomeAlreadyRecorded,
        ),
        "second outcome",
    );
    manager.review(&approved, Verdict::Endorse, "fine").await.expect(200);
    let second_manager = app.create_user("manager").await;
    saw(
        problem_type(
            second_manager.review(&approved, Verdict::Coach, "again").await,
            ProblemType::AlreadyReviewed,
        ),
        "second review",
    );

    let late = proposer.file(json!({})).await.expect(201).id();
    app.let_deadline_pass(Some(&late)).await;
    saw(
        problem_type(peer.cosign_revision(&late, 1).await, ProblemType::Expired),
        "expired",
    );

    let promoted = app.create_user("agent").await;
    let signed_by_promoted = proposer.file(json!({})).await.expect(201).id();
    promoted.decline(&signed_by_promoted, "no").await.expect(200);
    app.set_employee(&promoted, json!({ "role": "manager" })).await;
    other.decline(&signed_by_promoted, "no").await.expect(200);
    saw(
        problem_type(
            promoted.review(&signed_by_promoted, Verdict::Coach, "mine").await,
            ProblemType::ReviewerInvolved,
        ),
        "own review",
    );

    let policy_cases: [(Value, ProblemType, &'static str); 4] = [
        (json!({ "category": "bribe" }), ProblemType::UnknownCategory, "category"),
        (
            json!({ "amount_minor": null, "currency": null }),
            ProblemType::AmountRequired,
            "amount required",
        ),
        (
            json!({ "currency": "JPY" }),
            ProblemType::CurrencyNotAccepted,
            "currency",
        ),
        (
            json!({ "amount_minor": 500001 }),
            ProblemType::ExceedsPeerLimit,
            "peer limit",
        ),
    ];
    for (overrides, kind, case) in policy_cases {
        saw(problem_type(proposer.file(overrides).await, kind), case);
    }
    saw(
        problem_type(proposer.file(json!({ "summary": "" })).await, ProblemType::Validation),
        "field",
    );

    let keyed = |body: Value| {
        proposer
            .request(Method::POST, "/v1/proposals")
            .header("idempotency-key", "same-key")
            .json(&crate::helpers::proposal_body(body))
    };
    Answer::of(keyed(json!({}))).await.expect(201);
    saw(
        problem_type(
            Answer::of(keyed(json!({ "summary": "other" }))).await,
            ProblemType::IdempotencyKeyReused,
        ),
        "key reused",
    );

    let admin = &app.admin;
    let taken = json!({ "name": "Dup", "email": "dup@example.com", "role": "agent", "external_id": "dup-1" });
    admin.post("/v1/employees", &taken).await.expect(201);
    let same_email = json!({ "name": "Dup", "email": "DUP@example.com", "role": "agent" });
    saw(
        problem_type(admin.post("/v1/employees", &same_email).await, ProblemType::EmailTaken),
        "email taken",
    );
    let same_external = json!({ "name": "Dup", "email": "dup2@example.com", "role": "agent", "external_id": "dup-1" });
    saw(
        problem_type(
            admin.post("/v1/employees", &same_external).await,
            ProblemType::ExternalIdTaken,
        ),
        "external id taken",
    );
    let integration = json!({ "name": "Desk", "kind": "generic" });
    admin.post("/v1/integrations", &integration).await.expect(201);
    saw(
        problem_type(
            admin.post("/v1/integrations", &integration).await,
            ProblemType::NameTaken,
        ),
        "name taken",
    );
    saw(
        problem_type(
            admin
                .patch(
                    &format!("/v1/employees/{}", app.admin.id),
                    &json!({ "role": "manager" }),
                )
                .await,
            ProblemType::LastActiveAdmin,
        ),
        "last admin",
    );
    let leaver = app.create_user("agent").await;
    app.set_employee(&leaver, json!({ "active": false })).await;
    saw(
        problem_type(
            admin
                .post(&format!("/v1/employees/{}/tokens", leaver.id), &json!({}))
                .await,
            ProblemType::EmployeeInactive,
        ),
        "inactive employee",
    );

    let desk = app.integration("zendesk").await;
    saw(
        problem_type(desk.itself().file(json!({})).await, ProblemType::OnBehalfOfRequired),
        "integration alone",
    );
    saw(
        problem_type(
            desk.acting_for("nobody").file(json!({})).await,
            ProblemType::OnBehalfOfRefused,
        ),
        "unknown agent",
    );
    saw(
        problem_type(
            app.get("/v1/me", Some("cs_not-a-token")).await,
            ProblemType::Unauthorized,
        ),
        "bad token",
    );
    saw(
        problem_type(peer.read(&Uuid::now_v7().to_string()).await, ProblemType::NotFound),
        "no such proposal",
    );
    saw(
        problem_type(peer.get("/v1/proposals/not-an-id").await, ProblemType::BadRequest),
        "bad id",
    );
    saw(
        problem_type(
            Answer::of(
                peer.request(Method::POST, "/v1/proposals")
                    .header("content-type", "text/plain")
                    .body("hello"),
            )
            .await,
            ProblemType::UnsupportedMediaType,
        ),
        "not JSON",
    );
    saw(
        problem_type(peer.delete("/v1/inbox").await, ProblemType::MethodNotAllowed),
        "method",
    );
    assert!(seen.len() >= 30, "{seen:?}");
}

/// Every operation of the served document, with its path and method.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

#[tokio::test]
async fn every_operation_documents_its_problems_as_problem_json() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await.expect(200).body;
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    for (path, method, operation) in operations(&spec) {
        let responses = operation["responses"].as_object().unwrap();
        let mut must = vec!["408", "413", "500"];
        if path.starts_with("/v1/") {
            must.extend(["400", "401", "403", "503"]);
        }
        if path.contains('{') {
            must.push("404");
        }
        if operation.get("requestBody").is_some() {
            must.extend(["415", "422"]);
        }
        for code in must {
            assert!(responses.contains_key(code), "{method} {path} leaves out {code}");
        }
        for (code, response) in responses {
            let problem_status = code.starts_with('4') || code.starts_with('5');
            if problem_status && !(path == "/readyz" && code == "503") {
                assert_eq!(response["content"], problem, "{method} {path} {code}");
            }
        }
    }
}

#[tokio::test]
async fn the_document_states_the_constraints_the_service_enforces() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await.expect(200).body;
    // Every reference resolves.
    let text = spec.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(spec["components"]["schemas"][name].is_object(), "{name} is not defined");
    }
    // Pages are 1-200 long and cursors are what the API gives out.
    for (path, method, operation) in operations(&spec) {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            match parameter["name"].as_str().unwrap() {
                "limit" => {
                    assert_eq!(parameter["schema"]["minimum"], 1, "{method} {path}");
                    assert_eq!(parameter["schema"]["maximum"], 200, "{method} {path}");
                }
                "cursor" => assert!(parameter["schema"]["pattern"].is_string(), "{method} {path}"),
                _ => {}
            }
        }
    }
    // The preview answers a policy refusal in its 200 (allowed: false), so
    // its body is a filing's shape without the policy's enums and limits.
    let previewed =
        &spec["paths"]["/v1/proposals/preview"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(previewed, "#/components/schemas/PreviewedFiling");
    let previewed = &spec["components"]["schemas"]["PreviewedFiling"];
    assert!(previewed["properties"]["category"]["enum"].is_null());
    assert_eq!(previewed["properties"]["currency"]["pattern"], "^[A-Z]{3}$");
    assert!(previewed["anyOf"].is_array(), "amount and currency still come together");
    // The configured categories and currencies, and what text must hold.
    let filing = &spec["components"]["schemas"]["CreateProposal"];
    let categories: Vec<&str> = filing["properties"]["category"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        categories.contains(&"refund") && categories.contains(&"replacement"),
        "{categories:?}"
    );
    assert_eq!(
        filing["properties"]["currency"]["enum"],
        json!(["EUR", "GBP", "USD", null])
    );
    assert_eq!(filing["properties"]["summary"]["maxLength"], 500);
    assert!(filing["properties"]["summary"]["pattern"].is_string());
    assert!(filing["anyOf"].is_array(), "amounts and currencies come in pairs");
    // Bodies whose fields are all optional may be left out.
    let revise = &spec["paths"]["/v1/employees/{id}"]["patch"]["requestBody"];
    assert_eq!(revise["required"], false);
    let cosign = &spec["paths"]["/v1/proposals/{id}/cosign"]["post"]["requestBody"];
    assert_eq!(cosign["required"], true);
    // The anchor's two parameters come together or not at all, and so do a
    // full check's resume point's.
    let parameters = spec["paths"]["/v1/audit/verify"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for pair in ["anchor", "resume"] {
        let link = parameters
            .iter()
            .find(|p| p["name"] == pair)
            .unwrap_or_else(|| panic!("the {pair} pair"));
        assert_eq!(
            link["schema"]["required"],
            json!([format!("{pair}_hash"), format!("{pair}_seq")])
        );
        assert!(parameters.iter().all(|p| p["name"] != format!("{pair}_seq")));
    }
}

#[tokio::test]
async fn the_readme_lists_every_problem_type_with_its_status() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for kind in ProblemType::ALL {
        let row = format!("| `{}` | {} |", kind.slug(), kind.status().as_u16());
        assert!(readme.contains(&row), "the README's problem list lacks {row}");
    }
}

#[tokio::test]
async fn an_inverted_window_is_empty_and_an_impossible_year_is_named() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    agent.file(json!({})).await.expect(201);
    let inverted = agent
        .get("/v1/proposals?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z")
        .await
        .expect(200);
    assert!(inverted.proposals().items.is_empty());
    agent
        .get("/v1/proposals?from=-4714-11-23T00:00:00Z")
        .await
        .expect_problem(422, Some("from"));
}
