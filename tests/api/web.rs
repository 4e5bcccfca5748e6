//! The web pages over plain HTTP: signing in (token, one-time link), the
//! session cookie's flags and its end (sign out, deactivation), CSRF and
//! cross-site posts refused with nothing written, escaping, field errors,
//! a double submit filing once, and web actions audited like API ones.
//! (`browser.rs` drives the same pages in a real Chromium.)

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User, proposal_body};
use countersign::domain::proposal::Verdict;

/// Someone using the pages: their cookies and their session's form token.
pub struct WebUser {
    client: reqwest::Client,
    address: String,
    cookies: Vec<(String, String)>,
    pub csrf: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// A form's body, as a browser sends it.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// The value of the first `name="csrf"` field of a page.
fn form_token(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("the page has a form") + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

impl WebUser {
    pub fn new(app: &TestApp) -> Self {
        countersign::webhooks::sender::install_tls_provider();
        WebUser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            address: app.address.clone(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    fn remember(&mut self, page: &Page) {
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let response = request
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("the service answers");
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        self.remember(&page);
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.address));
        self.send(request).await
    }

    /// Posts a form as the page's own form would (its Origin, its token).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        self.post_exactly(path, &fields).await
    }

    /// Posts exactly these fields (no token added).
    pub async fn post_exactly(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("origin", self.address.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        self.send(request).await
    }

    /// Signs in with `token` through the sign-in form.
    pub async fn sign_in(app: &TestApp, token: &str) -> WebUser {
        let mut user = WebUser::new(app);
        let form = user.get("/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form_token(&form.body);
        let signed = user
            .post_exactly("/sign-in", &[("csrf", &csrf), ("token", token)])
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        user.refresh_token().await;
        user
    }

    /// Reads the session's form token off the role's start page.
    pub async fn refresh_token(&mut self) {
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::SEE_OTHER);
        let start = self.get(home.location()).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        self.csrf = form_token(&start.body);
    }
}

async fn proposals_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn filing(summary: &str) -> Vec<(&'static str, String)> {
    vec![
        ("category", "deadline_extension".to_owned()),
        ("policy_ref", "POL-7".to_owned()),
        ("summary", summary.to_owned()),
        ("resolution", "Send a voucher".to_owned()),
        ("justification", "Third delay this month".to_owned()),
        ("amount", String::new()),
        ("currency", String::new()),
        ("customer_ref", String::new()),
        ("ticket_ref", String::new()),
    ]
}

fn borrowed<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn signing_in_with_a_token_starts_a_strict_session_and_records_it() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut browser = WebUser::new(&app);
    let form = browser.get("/sign-in").await;
    let policy = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert_eq!(form.headers["x-frame-options"], "DENY");
    let csrf = form_token(&form.body);

    let wrong = browser
        .post_exactly("/sign-in", &[("csrf", &csrf), ("token", "cs_not-a-real-token")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("unknown or revoked"), "{}", wrong.body);

    let csrf = form_token(&wrong.body);
    let signed = browser
        .post_exactly("/sign-in", &[("csrf", &csrf), ("token", &agent.token)])
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("countersign_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: {cookie}");
    let inbox = browser.get("/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Nothing is waiting for you"), "{}", inbox.body);

    let (signed_in_with, ended): (String, bool) =
        sqlx::query_as("SELECT signed_in_with, ended_at IS NOT NULL FROM web_sessions WHERE employee_id = $1")
            .bind(agent.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((signed_in_with.as_str(), ended), ("token", false));
    let started: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE event_type = 'web_session.started' AND actor_employee_id = $1",
    )
    .bind(agent.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(started, 1);

    // Behind an HTTPS proxy the cookie is Secure.
    let mut proxied = WebUser::new(&app);
    let form = proxied.get("/sign-in").await;
    let csrf = form_token(&form.body);
    let request = proxied
        .client
        .post(format!("{}/sign-in", app.address))
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", csrf.as_str()), ("token", agent.token.as_str())]));
    let signed = proxied.send(request).await;
    let cookie = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("countersign_session="))
        .unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // An integration's token is nobody to sign in as.
    let integration = app.integration("generic").await;
    let mut robot = WebUser::new(&app);
    let form = robot.get("/sign-in").await;
    let csrf = form_token(&form.body);
    let refused = robot
        .post_exactly("/sign-in", &[("csrf", &csrf), ("token", &integration.token)])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("integration"), "{}", refused.body);
}

#[tokio::test]
async fn a_form_without_its_token_or_from_another_site_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut browser = WebUser::sign_in(&app, &agent.token).await;
    let fields = filing("A voucher for a late delivery");
    let fields = borrowed(&fields);

    let missing = browser.post_exactly("/proposals", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    assert!(missing.body.contains("form token"), "{}", missing.body);

    let mut wrong = fields.clone();
    wrong.push(("csrf", "not-the-sessions-token"));
    assert_eq!(
        browser.post_exactly("/proposals", &wrong).await.status,
        StatusCode::FORBIDDEN
    );

    // Another session's token is not this session's.
    let other = WebUser::sign_in(&app, &agent.token).await;
    let mut borrowed_token = fields.clone();
    borrowed_token.push(("csrf", &other.csrf));
    assert_eq!(
        browser.post_exactly("/proposals", &borrowed_token).await.status,
        StatusCode::FORBIDDEN
    );

    // The right token, sent by another site's page.
    let mut right = fields.clone();
    let csrf = browser.csrf.clone();
    right.push(("csrf", &csrf));
    let request = browser
        .client
        .post(format!("{}/proposals", app.address))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&right));
    assert_eq!(browser.send(request).await.status, StatusCode::FORBIDDEN);
    assert_eq!(proposals_count(&app).await, 0, "nothing refused was written");

    let filed = browser.post("/proposals", &fields).await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    assert!(filed.location().starts_with("/proposals/"));
    assert_eq!(proposals_count(&app).await, 1);
}

#[tokio::test]
async fn field_errors_are_shown_beside_the_field_and_a_double_submit_files_once() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut browser = WebUser::sign_in(&app, &agent.token).await;

    let mut fields = filing("");
    fields[5].1 = "12.3456".to_owned();
    fields[6].1 = "EUR".to_owned();
    let refused = browser.post("/proposals", &borrowed(&fields)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(r#"id="summary-error""#), "{}", refused.body);
    assert!(refused.body.contains(r#"id="amount-error""#), "{}", refused.body);
    assert!(
        refused.body.contains("2 digits after the decimal mark"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Send a voucher"), "what was typed is kept");
    assert_eq!(proposals_count(&app).await, 0);

    // A refund needs an amount (a rule of the policy, not of one field).
    let form = browser.get("/proposals/new").await;
    let start = form.body.find(r#"name="form_key" value=""#).unwrap() + r#"name="form_key" value=""#.len();
    let form_key = form.body[start..].split('"').next().unwrap().to_owned();
    let mut fields = filing("Refund a double charge");
    fields[0].1 = "refund".to_owned();
    // Typed with a decimal comma: 25.50, not 2550.
    fields[5].1 = "25,50".to_owned();
    fields[6].1 = "EUR".to_owned();
    fields.push(("form_key", form_key));
    let first = browser.post("/proposals", &borrowed(&fields)).await;
    let second = browser.post("/proposals", &borrowed(&fields)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
    assert_eq!(
        first.location(),
        second.location(),
        "the same form posted twice files once"
    );
    assert_eq!(proposals_count(&app).await, 1);
    let amount: (i64, String) = sqlx::query_as("SELECT amount_minor, currency FROM proposals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(amount, (2550, "EUR".to_owned()));

    // The next form suggests the policy references in use.
    let next = browser.get("/proposals/new").await;
    assert!(next.body.contains(r#"<option value="POL-7">"#), "{}", next.body);
}

#[tokio::test]
async fn a_summary_with_markup_renders_as_text_everywhere() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = proposer
        .file(json!({ "summary": "<script>alert(1)</script>", "justification": "<img src=x onerror=alert(2)>" }))
        .await
        .expect(201)
        .id();
    let mut browser = WebUser::sign_in(&app, &peer.token).await;
    for path in ["/inbox", "/inbox/items", &format!("/proposals/{id}")] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<script>alert(1)"), "{path} must escape");
        assert!(!page.body.contains("<img src=x"), "{path} must escape");
    }
}

#[tokio::test]
async fn web_actions_go_through_the_same_rules_and_audit_as_the_api() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let id = proposer.file(proposal_body(json!({}))).await.expect(201).id();

    // The proposer cannot co-sign their own, from the page either.
    let mut own = WebUser::sign_in(&app, &proposer.token).await;
    let refused = own.post(&format!("/proposals/{id}/cosign"), &[("revision", "1")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains(&format!("/proposals/{id}")), "links back");

    // A stale revision is refused as revision-changed.
    proposer
        .revise(&id, json!({ "resolution": "Refund twice over" }))
        .await
        .expect(200);
    let mut browser = WebUser::sign_in(&app, &peer.token).await;
    let stale = browser
        .post(&format!("/proposals/{id}/cosign"), &[("revision", "1")])
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);

    let signed = browser
        .post(
            &format!("/proposals/{id}/cosign"),
            &[("revision", "2"), ("text", "Fair")],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let proposal = proposer.read(&id).await.expect(200).proposal();
    assert_eq!(proposal.status.as_str(), "approved");
    assert_eq!(proposal.signatures[0].comment.as_deref(), Some("Fair"));
    let cosigned_by: Option<Uuid> = sqlx::query_scalar(
        "SELECT actor_employee_id FROM audit_events WHERE subject_id = $1 AND event_type = 'proposal.cosigned'",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(cosigned_by, Some(peer.id));
    let page = browser.get(&format!("/proposals/{id}")).await;
    assert!(
        page.body.contains("proposal.approved"),
        "the audit trail is on the page"
    );

    // An actual amount needs its currency; nothing is recorded without it.
    let mut own = WebUser::sign_in(&app, &proposer.token).await;
    let outcome = [
        ("executed", "yes"),
        ("actual_amount", "49.99"),
        ("currency", ""),
        ("customer_outcome", "neutral"),
    ];
    let refused = own.post(&format!("/proposals/{id}/outcome"), &outcome).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("currency"), "{}", refused.body);
    let outcomes: i64 = sqlx::query_scalar("SELECT count(*) FROM proposal_outcomes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(outcomes, 0);

    // A double click records the outcome once: the second post is the
    // first's replay, not a refusal.
    let page = own.get(&format!("/proposals/{id}")).await;
    let start = page.body.find(r#"name="form_key" value=""#).unwrap() + r#"name="form_key" value=""#.len();
    let form_key = page.body[start..].split('"').next().unwrap().to_owned();
    let outcome = [
        ("executed", "yes"),
        ("actual_amount", "49.99"),
        ("currency", "EUR"),
        ("customer_outcome", "neutral"),
        ("form_key", form_key.as_str()),
    ];
    for _ in 0..2 {
        let recorded = own.post(&format!("/proposals/{id}/outcome"), &outcome).await;
        assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    }
    let outcome: (i64, String) = sqlx::query_as("SELECT actual_amount_minor, currency FROM proposal_outcomes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(outcome, (4999, "EUR".to_owned()));

    // A co-sign naming no revision is refused as REST refuses it.
    let other = proposer.file(proposal_body(json!({}))).await.expect(201).id();
    let unnamed = browser.post(&format!("/proposals/{other}/cosign"), &[]).await;
    assert_eq!(unnamed.status, StatusCode::PRECONDITION_REQUIRED, "{}", unnamed.body);
}

async fn issue_link(app: &TestApp, admin: &mut WebUser, person: &User) -> String {
    let issued = admin.post(&format!("/people/{}/sign-in-link", person.id), &[]).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let start = issued.body.find("/sign-in/csl_").expect("the link is shown");
    let path = issued.body[start..].split('"').next().unwrap().to_owned();
    assert!(
        issued.body.contains(&format!("{}{path}", app.address)),
        "a whole address"
    );
    path
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_opening_it_spends_nothing() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut admin = WebUser::sign_in(&app, &app.admin.token).await;
    let path = issue_link(&app, &mut admin, &agent).await;

    let mut browser = WebUser::new(&app);
    let shown = browser.get(&path).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("signs you in as"), "{}", shown.body);
    let again = browser.get(&path).await;
    assert_eq!(again.status, StatusCode::OK, "opening twice spends nothing");
    let csrf = form_token(&again.body);
    let used = browser.post_exactly(&path, &[("csrf", &csrf)]).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    assert_eq!(browser.get("/inbox").await.status, StatusCode::OK);

    let mut second = WebUser::new(&app);
    let form = second.get("/sign-in").await;
    let csrf = form_token(&form.body);
    let reused = second.post_exactly(&path, &[("csrf", &csrf)]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert!(reused.body.contains("already used"), "{}", reused.body);
    assert_eq!(second.get("/inbox").await.status, StatusCode::SEE_OTHER);

    // Two browsers racing with one link: one signs in.
    let racing_path = issue_link(&app, &mut admin, &agent).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let mut racer = WebUser::new(&app);
        let form = racer.get("/sign-in").await;
        let csrf = form_token(&form.body);
        racers.push((racer, csrf));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(racers.len()));
    let attempts = racers.into_iter().map(|(mut racer, csrf)| {
        let barrier = barrier.clone();
        let path = racing_path.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            racer.post_exactly(&path, &[("csrf", &csrf)]).await.status
        })
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let won = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    let logs = crate::helpers::captured_logs();
    for link in [&path, &racing_path] {
        let secret = link.trim_start_matches("/sign-in/");
        assert!(!logs.contains(secret), "a sign-in link reached the logs");
    }

    let (used, sessions): (bool, i64) = sqlx::query_as(
        "SELECT (SELECT bool_and(used_at IS NOT NULL) FROM sign_in_links), \
                (SELECT count(*) FROM web_sessions WHERE employee_id = $1 AND signed_in_with = 'link')",
    )
    .bind(agent.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((used, sessions), (true, 2));
    let reset = sqlx::query("UPDATE sign_in_links SET used_at = NULL")
        .execute(&app.pool)
        .await;
    assert!(reset.is_err(), "the schema keeps a used link used");

    // An expired link is refused.
    let path = issue_link(&app, &mut admin, &agent).await;
    sqlx::query(
        "UPDATE sign_in_links SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' \
         WHERE used_at IS NULL",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut late = WebUser::new(&app);
    assert_eq!(late.get(&path).await.status, StatusCode::UNAUTHORIZED);

    // Scripts issue links over REST: admins only, active people only.
    let issued = app
        .admin
        .post(&format!("/v1/employees/{}/sign-in-links", agent.id), &json!({}))
        .await
        .expect(201);
    let url = issued.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/sign-in/csl_", app.address)), "{url}");
    assert!(issued.body["expires_at"].is_string());
    let mut scripted = WebUser::new(&app);
    let path = url.trim_start_matches(&app.address).to_owned();
    let shown = scripted.get(&path).await;
    let used = scripted
        .post_exactly(&path, &[("csrf", &form_token(&shown.body))])
        .await;
    assert_eq!(used.status, StatusCode::SEE_OTHER);
    let peer = app.create_user("agent").await;
    peer.post(&format!("/v1/employees/{}/sign-in-links", agent.id), &json!({}))
        .await
        .expect_problem(403, None);
    app.set_employee(&agent, json!({ "active": false })).await;
    app.admin
        .post(&format!("/v1/employees/{}/sign-in-links", agent.id), &json!({}))
        .await
        .expect_problem(409, None);
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM sign_in_links WHERE employee_id = $1")
        .bind(agent.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(links, 4, "a refused issue writes no link");
}

/// A session ends by itself: idle longer than `web.idle_minutes`, or past
/// its end (`web.session_hours` after signing in); one used within the idle
/// limit goes on. (The times are moved in the database: sessions keep real
/// time, not the rules' clock.)
#[tokio::test]
async fn a_session_ends_when_idle_too_long_or_past_its_end() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let idle = app.state.settings.web.idle_minutes;
    for (moved, opens) in [
        (format!("last_seen_at = now() - interval '{} minutes'", idle - 1), true),
        (format!("last_seen_at = now() - interval '{} minutes'", idle + 1), false),
        (
            "created_at = now() - interval '2 days', expires_at = now() - interval '1 second'".to_owned(),
            false,
        ),
    ] {
        let mut browser = WebUser::sign_in(&app, &agent.token).await;
        assert_eq!(browser.get("/inbox").await.status, StatusCode::OK);
        let update = format!("UPDATE web_sessions SET {moved} WHERE employee_id = $1 AND ended_at IS NULL");
        sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(agent.id)
            .execute(&app.pool)
            .await
            .unwrap();
        let page = browser.get("/inbox").await;
        if opens {
            assert_eq!(page.status, StatusCode::OK, "{moved}");
        } else {
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{moved}");
            assert_eq!(page.location(), "/sign-in", "{moved}");
        }
    }
}

#[tokio::test]
async fn signing_out_or_being_deactivated_ends_the_session_at_the_next_request() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut leaving = WebUser::sign_in(&app, &agent.token).await;
    let old_cookie = leaving.cookie_header();
    let signed_out = leaving.post("/sign-out", &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), "/sign-in");
    let mut replayed = WebUser::new(&app);
    let request = replayed.client.get(format!("{}/inbox", app.address));
    let after_sign_out = replayed.send(request.header("cookie", old_cookie)).await;
    assert_eq!(
        after_sign_out.status,
        StatusCode::SEE_OTHER,
        "a signed-out cookie opens nothing"
    );

    // Signing in again in the same browser ends the session it had.
    let mut twice = WebUser::sign_in(&app, &agent.token).await;
    let first_cookie = twice.cookie_header();
    let form = twice.get("/sign-in").await;
    let again = twice
        .post_exactly(
            "/sign-in",
            &[("csrf", &form_token(&form.body)), ("token", &agent.token)],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let mut stale = WebUser::new(&app);
    let request = stale.client.get(format!("{}/inbox", app.address));
    assert_eq!(
        stale.send(request.header("cookie", first_cookie)).await.status,
        StatusCode::SEE_OTHER
    );
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE event_type = 'web_session.ended' AND actor_employee_id = $1",
    )
    .bind(agent.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ended, 2, "signing out, and signing in over a session, are recorded");
    drop(twice);

    let mut browser = WebUser::sign_in(&app, &agent.token).await;
    let stolen_cookie = browser.cookie_header();
    assert_eq!(browser.get("/inbox").await.status, StatusCode::OK);
    app.set_employee(&agent, json!({ "active": false })).await;
    let after = browser.get("/inbox").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/sign-in");
    let items = browser.get("/inbox/items").await;
    assert_eq!(items.status, StatusCode::SEE_OTHER);

    // Reactivating gives no session back.
    app.set_employee(&agent, json!({ "active": true })).await;
    let mut replayed = WebUser::new(&app);
    let request = replayed.client.get(format!("{}/inbox", app.address));
    let reused = replayed.send(request.header("cookie", stolen_cookie)).await;
    assert_eq!(reused.status, StatusCode::SEE_OTHER);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM web_sessions WHERE employee_id = $1 AND ended_at IS NULL")
        .bind(agent.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(open, 0, "signing out and deactivation end every session");
}

#[tokio::test]
async fn revoking_the_token_ends_the_sessions_signed_in_with_it() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut browser = WebUser::sign_in(&app, &agent.token).await;
    let token_id: Uuid = sqlx::query_scalar("SELECT token_id FROM web_sessions WHERE employee_id = $1")
        .bind(agent.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.admin.delete(&format!("/v1/tokens/{token_id}")).await.expect(204);
    let after = browser.get("/inbox").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/sign-in");
}

/// Every form post of the pages, as (path, fields): each must refuse a
/// post without the session's token (a new form must be added here).
fn every_form(proposal: &str, person: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        ("/sign-out".to_owned(), vec![]),
        ("/proposals".to_owned(), vec![("category", "other"), ("summary", "x")]),
        (format!("/proposals/{proposal}/revise"), vec![("summary", "x")]),
        (format!("/proposals/{proposal}/cosign"), vec![("revision", "1")]),
        (
            format!("/proposals/{proposal}/decline"),
            vec![("revision", "1"), ("text", "no")],
        ),
        (format!("/proposals/{proposal}/withdraw"), vec![]),
        (
            format!("/proposals/{proposal}/outcome"),
            vec![("executed", "yes"), ("customer_outcome", "satisfied")],
        ),
        (
            format!("/proposals/{proposal}/review"),
            vec![("verdict", "coach"), ("note", "x")],
        ),
        (
            "/people".to_owned(),
            vec![("name", "X"), ("email", "x@example.com"), ("role", "agent")],
        ),
        (format!("/people/{person}"), vec![("team", "x"), ("groups", "senior")]),
        (format!("/people/{person}/deactivate"), vec![]),
        (format!("/people/{person}/reactivate"), vec![]),
        (format!("/people/{person}/sign-in-link"), vec![]),
        (format!("/people/{person}/token"), vec![]),
        ("/integrations".to_owned(), vec![("name", "X"), ("kind", "generic")]),
        (
            format!("/integrations/{}/secret", Uuid::nil()),
            vec![("secret", "zendesk-secret")],
        ),
    ]
}

#[tokio::test]
async fn no_form_is_accepted_without_the_sessions_token() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let id = agent.file(proposal_body(json!({}))).await.expect(201).id();
    let mut admin = WebUser::sign_in(&app, &app.admin.token).await;
    let mut agent_pages = WebUser::sign_in(&app, &agent.token).await;
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (path, fields) in every_form(&id, &agent.id.to_string()) {
        for browser in [&mut admin, &mut agent_pages] {
            let refused = browser.post_exactly(&path, &fields).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path} without a token");
            let mut forged = fields.clone();
            forged.push(("csrf", "forged"));
            assert_eq!(
                browser.post_exactly(&path, &forged).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events_before, events_after, "nothing refused was done");
    assert_eq!(
        admin.get("/people").await.status,
        StatusCode::OK,
        "the sessions still work"
    );

    // The sign-in forms: their token must match their own cookie.
    let mut stranger = WebUser::new(&app);
    let form = stranger.get("/sign-in").await;
    let csrf = form_token(&form.body);
    let mut no_cookie = WebUser::new(&app);
    let refused = no_cookie
        .post_exactly("/sign-in", &[("csrf", &csrf), ("token", &agent.token)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a token without its cookie");
    let mismatched = stranger
        .post_exactly("/sign-in", &[("csrf", "another"), ("token", &agent.token)])
        .await;
    assert_eq!(mismatched.status, StatusCode::FORBIDDEN);
    let request = stranger
        .client
        .post(format!("{}/sign-in", app.address))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", csrf.as_str()), ("token", agent.token.as_str())]));
    assert_eq!(
        stranger.send(request).await.status,
        StatusCode::FORBIDDEN,
        "another site's post"
    );
}

#[tokio::test]
async fn the_pages_of_each_role_answer_and_refuse_the_others() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let peer = app.create_user("agent").await;
    app.approved_proposal(&agent, &peer).await;
    let mut agent_pages = WebUser::sign_in(&app, &agent.token).await;
    let mut manager_pages = WebUser::sign_in(&app, &manager.token).await;
    let mut admin_pages = WebUser::sign_in(&app, &app.admin.token).await;
    for path in ["/inbox", "/proposals/new", "/proposals/mine"] {
        assert_eq!(agent_pages.get(path).await.status, StatusCode::OK, "{path}");
        assert_eq!(manager_pages.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in [
        "/reviews",
        "/reports",
        "/reports/summary.csv",
        "/reports/cosign-pairs.csv",
    ] {
        assert_eq!(manager_pages.get(path).await.status, StatusCode::OK, "{path}");
        assert_eq!(agent_pages.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in ["/people", "/integrations"] {
        assert_eq!(admin_pages.get(path).await.status, StatusCode::OK, "{path}");
        assert_eq!(agent_pages.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let queue = manager_pages.get("/reviews").await;
    assert!(queue.body.contains("class=\"card status-approved\""), "{}", queue.body);
    let csv = manager_pages.get("/reports/summary.csv?from=2026-01-01").await;
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.body.starts_with("group,key,label,total"), "{}", csv.body);
    let bad = manager_pages.get("/reports?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // An admin sets a person up from the page.
    let added = admin_pages
        .post(
            "/people",
            &[
                ("name", "Nia Agent"),
                ("email", "nia@example.com"),
                ("role", "agent"),
                ("team", "billing"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let again = admin_pages
        .post(
            "/people",
            &[("name", "Nia Again"), ("email", "nia@example.com"), ("role", "agent")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already exists"), "{}", again.body);
    let created = admin_pages
        .post(
            "/integrations",
            &[("name", "Zendesk EU"), ("kind", "zendesk"), ("secret", "")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.contains("/v1/integrations/") && created.body.contains("cs_"));
}

/// Zendesk generates its signing secret, so an admin often registers the
/// integration first and gives the secret later, on its row: checked and
/// sealed as `PATCH /v1/integrations/{id}` does, recorded, and refused for
/// a kind that has no such secret.
#[tokio::test]
async fn a_zendesk_secret_is_given_later_on_the_integrations_row() {
    let app = TestApp::spawn().await;
    let mut admin = WebUser::sign_in(&app, &app.admin.token).await;
    for (name, kind) in [("Zendesk EU", "zendesk"), ("Generic", "generic")] {
        let created = admin
            .post("/integrations", &[("name", name), ("kind", kind), ("secret", "")])
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let id_of = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM integrations WHERE name = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (zendesk, generic) = (id_of("Zendesk EU").await, id_of("Generic").await);
    let stored = || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT inbound_secret FROM integrations WHERE id = $1")
            .bind(zendesk)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let page = admin.get("/integrations").await;
    assert!(
        page.body.contains("not yet (Zendesk's secret is needed)"),
        "{}",
        page.body
    );
    let path = format!("/integrations/{zendesk}/secret");
    assert!(page.body.contains(&path), "the row has the form");
    assert!(!page.body.contains(&format!("/integrations/{generic}/secret")));

    for (secret, says) in [("", "is required"), ("short", "8-200 printable ASCII")] {
        let refused = admin.post(&path, &[("secret", secret)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{secret:?}");
        assert!(refused.body.contains(says), "{}", refused.body);
        assert_eq!(stored().await, None);
    }
    let secret = "zendesk-generated-signing-secret";
    let saved = admin.post(&path, &[("secret", secret)]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("signing secret is saved"), "{}", saved.body);
    assert!(saved.body.contains("Replace"));
    let sealed = stored().await.expect("the secret is stored");
    assert!(!sealed.contains(secret), "stored sealed, not as given");
    let event: Value = sqlx::query_scalar(
        "SELECT payload FROM audit_events WHERE subject_id = $1 AND event_type = 'integration.updated'",
    )
    .bind(zendesk)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(event["secret_set"], true);
    assert!(!event.to_string().contains(secret), "the audit trail keeps no secret");

    let elsewhere = admin
        .post(&format!("/integrations/{generic}/secret"), &[("secret", secret)])
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        elsewhere.body.contains("only a zendesk integration"),
        "{}",
        elsewhere.body
    );
    let agent = app.create_user("agent").await;
    let mut agent_pages = WebUser::sign_in(&app, &agent.token).await;
    let forbidden = agent_pages.post(&path, &[("secret", "another-secret-value")]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(stored().await, Some(sealed), "unchanged by what was refused");
}

#[tokio::test]
async fn an_admin_changes_a_persons_team_and_signer_groups_on_their_row() {
    let app = TestApp::spawn().await;
    let person = app.create_user("agent").await;
    let mut admin = WebUser::sign_in(&app, &app.admin.token).await;
    let path = format!("/people/{}", person.id);
    let stored = || async {
        let row: (Option<String>, Vec<String>) = sqlx::query_as("SELECT team, groups FROM employees WHERE id = $1")
            .bind(person.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        row
    };
    let before = stored().await;

    let refused = admin
        .post(&path, &[("team", "billing"), ("groups", "senior, Team Leads")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    // The People page again, not an error page: the row keeps what the
    // admin typed, and says why under it.
    assert!(refused.body.contains("<h1>People</h1>"), "{}", refused.body);
    for typed in [
        format!("form=\"edit-{}\" name=\"team\" value=\"billing\"", person.id),
        format!(
            "form=\"edit-{}\" name=\"groups\" value=\"senior, Team Leads\"",
            person.id
        ),
    ] {
        assert!(refused.body.contains(&typed), "{typed}: {}", refused.body);
    }
    let why = refused
        .body
        .split(&format!("data-refused=\"{}\"", person.id))
        .nth(1)
        .unwrap_or_else(|| panic!("no refusal under the row: {}", refused.body));
    assert!(
        why.split("</tr>")
            .next()
            .unwrap()
            .contains("groups: `Team Leads` is not a group name"),
        "{}",
        refused.body
    );
    assert!(
        !refused
            .body
            .contains("name=\"shown_groups\" value=\"senior, Team Leads\""),
        "the row still says what is stored: {}",
        refused.body
    );
    assert_eq!(refused.body.matches("data-refused=").count(), 1, "{}", refused.body);
    assert_eq!(stored().await, before, "nothing of a refused form is written");

    // A refused deactivation (the last active admin) is shown on that row too.
    let own = format!("/people/{}/deactivate", app.admin.id);
    let last = admin.post(&own, &[]).await;
    assert_eq!(last.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", last.body);
    assert!(
        last.body.contains(&format!("data-refused=\"{}\"", app.admin.id)) && last.body.contains("last active admin"),
        "{}",
        last.body
    );
    let active: bool = sqlx::query_scalar("SELECT active FROM employees WHERE id = $1")
        .bind(app.admin.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(active, "nothing of a refused deactivation is written");
    // Someone not on the page: an error page that leads back.
    let unknown = admin
        .post(&format!("/people/{}", Uuid::now_v7()), &[("team", "billing")])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert!(unknown.body.contains("href=\"/people\""), "{}", unknown.body);

    let saved = admin
        .post(
            &path,
            &[("team", " billing "), ("groups", "senior, , billing_leads, senior")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        stored().await,
        (
            Some("billing".to_owned()),
            vec!["billing_leads".to_owned(), "senior".to_owned()]
        )
    );
    assert_eq!(
        app.event_types(&person.id.to_string()).await.last().unwrap(),
        "employee.updated"
    );
    let page = admin.get("/people").await;
    assert!(
        page.body.contains(&format!(
            "form=\"edit-{}\" name=\"groups\" value=\"billing_leads, senior\"",
            person.id
        )),
        "{}",
        page.body
    );

    assert!(
        page.body
            .contains("name=\"shown_groups\" value=\"billing_leads, senior\""),
        "the row says what it showed: {}",
        page.body
    );

    // A row loaded before another admin took `senior` away: saving its
    // team change does not give the group back, and an unchanged row
    // writes nothing.
    app.admin
        .patch(&path.replace("/people/", "/v1/employees/"), &json!({ "groups": [] }))
        .await
        .expect(200);
    let events = app.event_types(&person.id.to_string()).await.len();
    let shown = [("shown_team", "billing"), ("shown_groups", "billing_leads, senior")];
    let stale = admin
        .post(
            &path,
            &[&shown[..], &[("team", "billing"), ("groups", "billing_leads, senior")]].concat(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::SEE_OTHER, "{}", stale.body);
    assert_eq!(stored().await, (Some("billing".to_owned()), Vec::new()));
    assert_eq!(
        app.event_types(&person.id.to_string()).await.len(),
        events,
        "nothing changed"
    );
    let moved = admin
        .post(
            &path,
            &[&shown[..], &[("team", "returns"), ("groups", "senior, billing_leads")]].concat(),
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    assert_eq!(stored().await, (Some("returns".to_owned()), Vec::new()));
    // A field left out is kept.
    admin.post(&path, &[("groups", "senior")]).await;
    assert_eq!(stored().await, (Some("returns".to_owned()), vec!["senior".to_owned()]));

    // Emptied, both are cleared.
    let cleared = admin.post(&path, &[("team", ""), ("groups", "")]).await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER, "{}", cleared.body);
    assert_eq!(stored().await, (None, Vec::new()));

    // A deactivated person's row shows their team and groups, no form.
    let gone = app.create_user("agent").await;
    app.admin
        .patch(&format!("/v1/employees/{}", gone.id), &json!({ "active": false }))
        .await
        .expect(200);
    let page = admin.get("/people").await;
    assert!(
        page.body.contains(&format!("data-person=\"{}\"", gone.id)),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&format!("edit-{}", gone.id)), "{}", page.body);

    // Only admins.
    let mut agent = WebUser::sign_in(&app, &person.token).await;
    let forbidden = agent.post(&path, &[("team", "x"), ("groups", "senior")]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(stored().await, (None, Vec::new()));
}

#[tokio::test]
async fn the_inbox_says_whether_the_agent_is_on_shift_and_switches_it() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let mut browser = WebUser::sign_in(&app, &agent.token).await;
    let inbox = browser.get("/inbox").await;
    assert!(inbox.body.contains("You are off shift"), "{}", inbox.body);
    let switched = browser.post("/availability", &[("available", "true")]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.body);
    let inbox = browser.get("/inbox").await;
    assert!(inbox.body.contains("You are on shift"), "{}", inbox.body);
    assert_eq!(
        agent.get("/v1/me/availability").await.expect(200).body["available"],
        true
    );
    let event: (Option<Uuid>, Value) = sqlx::query_as(
        "SELECT actor_employee_id, payload FROM audit_events WHERE event_type = 'employee.availability_changed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(event.0, Some(agent.id), "recorded like an API action");
    assert_eq!(event.1["after"]["available"], true);
    // A manager has no shift to say: refused, nothing written.
    let manager = app.create_user("manager").await;
    let mut managing = WebUser::sign_in(&app, &manager.token).await;
    let refused = managing.post("/availability", &[("available", "true")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) FROM agent_availability").await, 1);
}

#[tokio::test]
async fn a_manager_asks_agents_from_the_page_and_a_proposer_acts_alone_where_allowed() {
    let app = TestApp::spawn_with(crate::helpers::alone_for_small_refunds).await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user_with("agent", json!({ "name": "Pat Peer" })).await;
    let manager = app.create_user("manager").await;
    let id = proposer.file(proposal_body(json!({}))).await.expect(201).id();

    // The manager's page lists who may still co-sign, and asks them.
    let mut managing = WebUser::sign_in(&app, &manager.token).await;
    let page = managing.get(&format!("/proposals/{id}")).await;
    assert!(
        page.body.contains("Pat Peer") && page.body.contains(r#"id="reassign""#),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&proposer.id.to_string()), "never the proposer");
    let peer_id = peer.id.to_string();
    let asked = managing
        .post(
            &format!("/proposals/{id}/reassign"),
            &[("employee_ids", peer_id.as_str()), ("note", "Please")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert_eq!(
        peer.get("/v1/inbox?asked=true").await.expect(200).body["items"][0]["id"],
        id.as_str()
    );
    let none = managing
        .post(&format!("/proposals/{id}/reassign"), &[("note", "nobody")])
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", none.body);

    // The proposer's page offers acting alone (the category allows it);
    // nobody is on shift and the reminder's wait has passed, so it is
    // accepted, and the page says so.
    app.state.clock.advance(chrono::Duration::seconds(120));
    let mut own = WebUser::sign_in(&app, &proposer.token).await;
    let page = own.get(&format!("/proposals/{id}")).await;
    assert!(page.body.contains(r#"id="act-alone""#), "{}", page.body);
    let form_key = page
        .body
        .split(r#"name="form_key" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let done = own
        .post(
            &format!("/proposals/{id}/act-alone"),
            &[
                ("reason", "Night shift, nobody else on"),
                ("form_key", form_key.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = own.get(&format!("/proposals/{id}")).await;
    assert!(page.body.contains(r#"id="approved-alone""#), "{}", page.body);
    assert_eq!(proposer.read(&id).await.body["approved_alone"], true);
}

#[tokio::test]
async fn a_manager_promotes_a_reviewed_exception_from_its_page_and_retires_it() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peer = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    let id = app.approved_proposal(&proposer, &peer).await;
    manager
        .review(&id, Verdict::PromoteToPolicy, "Lost parcels always end like this")
        .await
        .expect(200);
    let mut pages = WebUser::sign_in(&app, &manager.token).await;
    let page = pages.get(&format!("/proposals/{id}")).await;
    assert!(
        page.body.contains(&format!("/standing-approvals?proposal_id={id}")),
        "{}",
        page.body
    );
    // The form comes pre-filled from the review.
    let form = pages.get(&format!("/standing-approvals?proposal_id={id}")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains(r#"value="REFUND-30-DAYS""#), "{}", form.body);
    assert!(form.body.contains(r#"value="49.99""#), "{}", form.body);
    assert!(form.body.contains("Lost parcels always end like this"), "{}", form.body);
    let missing = pages
        .post(
            "/standing-approvals",
            &[
                ("category", "refund"),
                ("policy_ref", "REFUND-30-DAYS"),
                ("note", "no limit"),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.body);
    assert!(missing.body.contains("max_amount_minor"), "{}", missing.body);
    let id_text = id.clone();
    let created = pages
        .post(
            "/standing-approvals",
            &[
                ("category", "refund"),
                ("policy_ref", "REFUND-30-DAYS"),
                ("max_amount", "49.99"),
                ("currency", "EUR"),
                ("source_proposal_id", id_text.as_str()),
                ("note", "Lost parcels always end like this"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let standing: (Uuid, i64, Option<Uuid>) =
        sqlx::query_as("SELECT id, max_amount_minor, source_proposal_id FROM standing_approvals")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((standing.1, standing.2), (4999, Some(Uuid::parse_str(&id).unwrap())));
    let filed = proposer.file(proposal_body(json!({}))).await.expect(201);
    assert_eq!(filed.body["status"], "approved");
    let listed = pages.get("/standing-approvals").await;
    assert!(listed.body.contains(&standing.0.to_string()), "{}", listed.body);
    assert!(listed.body.contains("49.99 EUR approved"), "{}", listed.body);
    let retired = pages
        .post(&format!("/standing-approvals/{}/retire", standing.0), &[])
        .await;
    assert_eq!(retired.status, StatusCode::SEE_OTHER, "{}", retired.body);
    assert_eq!(
        proposer.file(proposal_body(json!({}))).await.expect(201).body["status"],
        "pending"
    );
    // Agents do not see the page.
    let mut agent_pages = WebUser::sign_in(&app, &proposer.token).await;
    assert_eq!(
        agent_pages.get("/standing-approvals").await.status,
        StatusCode::FORBIDDEN
    );
}
