//! The web pages in a real headless Chromium, driven through chromedriver
//! (W3C WebDriver): a team works through the pages as people would, with
//! three browsers at once. Screenshots go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMEDRIVER` and
//! `CHROMIUM` naming them). Without them the test says it was skipped;
//! with `REQUIRE_TEST_TOOLS=1` (CI) it fails instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, proposal_body};

fn found(path: &str) -> Option<String> {
    std::path::Path::new(path).exists().then(|| path.to_owned())
}

/// chromedriver and chromium, or why the test cannot run.
fn browser_tools() -> Result<(String, String), String> {
    let tool = |variable: &str, default: &str, package: &str| match std::env::var(variable) {
        Ok(path) => found(&path).ok_or(format!("{variable}={path} names no file")),
        Err(_) => found(default).ok_or(format!("no {default} (apt-get install {package}, or set {variable})")),
    };
    Ok((
        tool("CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver")?,
        tool("CHROMIUM", "/usr/bin/chromium", "chromium")?,
    ))
}

/// A chromedriver of this test's own, stopped with the test.
struct Driver {
    child: Child,
    address: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(path: &str) -> Driver {
    let port = crate::helpers::free_local_addr().rsplit(':').next().unwrap().to_owned();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let address = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, address };
    let client = crate::helpers::client();
    let status = format!("{}/status", driver.address);
    eventually("chromedriver to listen", Duration::from_secs(20), async || {
        client
            .get(&status)
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    driver
}

/// A browser window of its own (its own cookies): one person.
async fn open_browser(driver: &Driver, chromium: &str, width: u32, height: u32) -> Client {
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", format!("--window-size={width},{height}"),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.address)
        .await
        .expect("chromium starts under chromedriver")
}

fn screenshots() -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let path = screenshots().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The text of `css` once the page shows it (after a form post the next
/// page may still be loading).
async fn text_of(browser: &Client, css: &str) -> String {
    element(browser, css).await.text().await.unwrap()
}

/// `css` once the page shows it: after a click that posts or navigates,
/// the next page may still be loading (on a busy machine, for a while).
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("`{css}` on the page: {e}"))
}

/// Waits until `css` shows a text containing `expected` (the page after a
/// post may take a moment to replace the one before).
async fn until_text(browser: &Client, css: &str, expected: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = match browser.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(expected) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("`{css}` never showed `{expected}`; last: `{text}`");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(browser: &Client) -> String {
    browser.current_url().await.unwrap().path().to_owned()
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = element(browser, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(browser: &Client, css: &str) {
    element(browser, css).await.click().await.unwrap();
}

/// Signs in through the sign-in form with an API token.
async fn sign_in_with_token(browser: &Client, app: &TestApp, token: &str) {
    browser.goto(&format!("{}/sign-in", app.address)).await.unwrap();
    fill(browser, "#token", token).await;
    click(browser, "button[type=submit]").await;
}

/// Waits (up to `limit`) until the browser shows `path`.
async fn until_path(browser: &Client, path: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while path_of(browser).await != path {
        if std::time::Instant::now() > deadline {
            let at = browser.current_url().await.unwrap();
            let source = browser.source().await.unwrap_or_default();
            panic!("waited {limit:?} in vain for the browser at {path}; it is at {at}:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes the inbox takes over the wire (compressed bodies): the page with
/// its stylesheet and script, and its latest refresh of the list.
async fn page_weight(browser: &Client) -> (u64, u64) {
    let weight = browser
        .execute(
            "const resources = performance.getEntriesByType('resource');
             const refreshes = resources.filter(e => e.name.includes('/inbox/items'));
             // Compressed body sizes, whether or not the stylesheet and
             // script came from the cache this time.
             const first = performance.getEntriesByType('navigation')
                 .concat(resources.filter(e => !e.name.includes('/inbox/items')))
                 .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0);
             const refresh = refreshes.length ? refreshes[refreshes.length - 1].encodedBodySize : 0;
             return [first, refresh];",
            vec![],
        )
        .await
        .unwrap();
    (weight[0].as_u64().unwrap_or(0), weight[1].as_u64().unwrap_or(0))
}

#[tokio::test]
async fn a_team_works_through_the_pages_in_a_real_browser() {
    let (driver_path, chromium) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var("REQUIRE_TEST_TOOLS").as_deref() == Ok("1") => {
            panic!("REQUIRE_TEST_TOOLS=1 but the browser test cannot run: {why}")
        }
        Err(why) => {
            // Past the harness's capture, so a plain `cargo test` shows it.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED browser::a_team_works_through_the_pages_in_a_real_browser: {why}"
            );
            return;
        }
    };
    let app = TestApp::spawn().await;
    let proposer = app
        .create_user_with("agent", json!({ "name": "Amira Proposer", "team": "billing" }))
        .await;
    let peer = app
        .create_user_with("agent", json!({ "name": "Bo Peer", "team": "billing" }))
        .await;
    let manager = app
        .create_user_with("manager", json!({ "name": "Maren Manager" }))
        .await;
    let driver = start_driver(&driver_path).await;
    let admin_browser = open_browser(&driver, &chromium, 1280, 900).await;
    let proposer_browser = open_browser(&driver, &chromium, 1280, 900).await;
    let peer_browser = open_browser(&driver, &chromium, 1280, 900).await;

    // The admin issues the proposer a one-time sign-in link from the page.
    sign_in_with_token(&admin_browser, &app, &app.admin.token).await;
    until_path(&admin_browser, "/people", Duration::from_secs(10)).await;
    click(
        &admin_browser,
        &format!(
            "tr[data-person=\"{}\"] form[action$=\"/sign-in-link\"] button",
            proposer.id
        ),
    )
    .await;
    let link = element(&admin_browser, "#issued-secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the link is shown");
    assert!(link.starts_with(&format!("{}/sign-in/csl_", app.address)), "{link}");
    screenshot(&admin_browser, "admin-people-sign-in-link").await;

    proposer_browser.goto(&link).await.unwrap();
    screenshot(&proposer_browser, "sign-in-link").await;
    click(&proposer_browser, "#use-link").await;
    until_path(&proposer_browser, "/inbox", Duration::from_secs(10)).await;

    // The peer signs in with their token and keeps the inbox open.
    sign_in_with_token(&peer_browser, &app, &peer.token).await;
    until_path(&peer_browser, "/inbox", Duration::from_secs(10)).await;
    assert!(
        text_of(&peer_browser, "#inbox-items")
            .await
            .contains("Nothing is waiting")
    );
    peer_browser
        .execute("window.notReloaded = true; return true;", vec![])
        .await
        .unwrap();

    // The proposer files through the form; a wrong amount first.
    proposer_browser
        .goto(&format!("{}/proposals/new", app.address))
        .await
        .unwrap();
    element(&proposer_browser, "#category")
        .await
        .select_by_value("refund")
        .await
        .unwrap();
    fill(&proposer_browser, "#policy_ref", "REFUND-30-DAYS").await;
    fill(&proposer_browser, "#summary", "Refund a parcel lost by the carrier").await;
    fill(&proposer_browser, "#resolution", "Refund 25.00 EUR").await;
    fill(&proposer_browser, "#justification", "Day 45 of 30; the carrier lost it").await;
    fill(&proposer_browser, "#amount", "25.001").await;
    element(&proposer_browser, "#currency")
        .await
        .select_by_value("EUR")
        .await
        .unwrap();
    click(&proposer_browser, "#file").await;
    until_text(&proposer_browser, "#amount-error", "2 digits").await;
    screenshot(&proposer_browser, "file-form-field-error").await;
    fill(&proposer_browser, "#amount", "25.00").await;
    click(&proposer_browser, "#file").await;
    let filed_path = eventually("the proposal page", Duration::from_secs(10), async || {
        let path = path_of(&proposer_browser).await;
        (path.starts_with("/proposals/") && path != "/proposals" && path != "/proposals/new").then_some(path)
    })
    .await;
    let id = filed_path.trim_start_matches("/proposals/").to_owned();
    Uuid::parse_str(&id).expect("a proposal id in the address");
    until_text(&proposer_browser, "#status", "PENDING").await;
    screenshot(&proposer_browser, "proposal-filed").await;

    // It shows in the peer's open inbox, without a reload.
    let card = format!("[data-proposal=\"{id}\"]");
    eventually(
        "the new proposal in the open inbox",
        Duration::from_secs(10),
        async || peer_browser.find(Locator::Css(&card)).await.ok(),
    )
    .await;
    let same_page = peer_browser
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, Value::Bool(true), "the inbox updated itself, no reload");
    screenshot(&peer_browser, "inbox-live").await;
    let (first_load, refresh) = page_weight(&peer_browser).await;
    eprintln!(
        "inbox page weight: {first_load} bytes compressed (page, stylesheet, script); each refresh {refresh} bytes"
    );
    assert!(first_load > 0, "the browser reports what it transferred");

    // A summary made of markup is shown as text, and runs nothing.
    let hostile = proposer
        .file(proposal_body(json!({ "summary": "<script>alert(1)</script>" })))
        .await
        .expect(201)
        .id();
    let hostile_card = format!("[data-proposal=\"{hostile}\"] .title");
    let shown = eventually(
        "the hostile proposal in the inbox",
        Duration::from_secs(10),
        async || match peer_browser.find(Locator::Css(&hostile_card)).await {
            Ok(title) => title.text().await.ok(),
            Err(_) => None,
        },
    )
    .await;
    assert_eq!(shown, "<script>alert(1)</script>");
    assert!(peer_browser.get_alert_text().await.is_err(), "no alert ran");
    screenshot(&peer_browser, "inbox-markup-as-text").await;

    // A form whose CSRF token was tampered with is refused, nothing signed.
    peer_browser
        .goto(&format!("{}/proposals/{id}", app.address))
        .await
        .unwrap();
    peer_browser
        .execute(
            "document.querySelector('form[action$=\"/decline\"] input[name=csrf]').value = 'forged'; return true;",
            vec![],
        )
        .await
        .unwrap();
    fill(&peer_browser, "#decline-reason", "Not without a carrier claim").await;
    click(&peer_browser, "#decline").await;
    until_path(
        &peer_browser,
        &format!("/proposals/{id}/decline"),
        Duration::from_secs(10),
    )
    .await;
    until_text(&peer_browser, "h1", "could not be accepted").await;
    screenshot(&peer_browser, "csrf-refused").await;
    let signatures: i64 = sqlx::query_scalar("SELECT count(*) FROM signatures WHERE proposal_id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(signatures, 0);

    // The peer co-signs; the proposal is approved.
    peer_browser
        .goto(&format!("{}/proposals/{id}", app.address))
        .await
        .unwrap();
    fill(&peer_browser, "#cosign-comment", "Carrier confirmed the loss").await;
    click(&peer_browser, "#cosign").await;
    until_path(&peer_browser, &filed_path, Duration::from_secs(10)).await;
    until_text(&peer_browser, "#status", "APPROVED").await;
    screenshot(&peer_browser, "proposal-approved").await;

    // The proposer sees it approved and records the outcome.
    proposer_browser.refresh().await.unwrap();
    until_text(&proposer_browser, "#status", "APPROVED").await;
    element(&proposer_browser, "#customer_outcome")
        .await
        .select_by_value("satisfied")
        .await
        .unwrap();
    click(&proposer_browser, "#record-outcome").await;
    until_text(&proposer_browser, "#outcome", "satisfied").await;
    screenshot(&proposer_browser, "proposal-outcome").await;

    // The manager reviews it from the queue and opens the reports.
    let manager_browser = open_browser(&driver, &chromium, 1280, 1000).await;
    sign_in_with_token(&manager_browser, &app, &manager.token).await;
    until_path(&manager_browser, "/reviews", Duration::from_secs(10)).await;
    screenshot(&manager_browser, "review-queue").await;
    click(&manager_browser, &format!("[data-proposal=\"{id}\"] .title")).await;
    element(&manager_browser, "#verdict")
        .await
        .select_by_value("promote_to_policy")
        .await
        .unwrap();
    fill(
        &manager_browser,
        "#review-note",
        "Lost parcels past 30 days keep coming up",
    )
    .await;
    click(&manager_browser, "#review").await;
    until_text(&manager_browser, "#review-verdict", "promote_to_policy").await;
    screenshot(&manager_browser, "proposal-reviewed").await;
    manager_browser.goto(&format!("{}/reports", app.address)).await.unwrap();
    let summary = text_of(&manager_browser, "#summary-table").await;
    assert!(summary.contains("refund"), "{summary}");
    let bars = manager_browser.find_all(Locator::Css("svg.bar rect")).await.unwrap();
    assert!(!bars.is_empty(), "the time-to-approval chart is drawn");
    screenshot(&manager_browser, "reports").await;

    // On a phone-sized screen.
    peer_browser.set_window_size(390, 844).await.unwrap();
    peer_browser.goto(&format!("{}/inbox", app.address)).await.unwrap();
    screenshot(&peer_browser, "inbox-phone").await;

    // The admin deactivates the peer: their open inbox ends at its next
    // refresh and shows the sign-in page.
    admin_browser.goto(&format!("{}/people", app.address)).await.unwrap();
    click(
        &admin_browser,
        &format!("tr[data-person=\"{}\"] form[action$=\"/deactivate\"] button", peer.id),
    )
    .await;
    until_path(&peer_browser, "/sign-in", Duration::from_secs(10)).await;
    screenshot(&peer_browser, "deactivated-signed-out").await;
    peer_browser.goto(&format!("{}/inbox", app.address)).await.unwrap();
    assert_eq!(path_of(&peer_browser).await, "/sign-in");

    for browser in [admin_browser, proposer_browser, peer_browser, manager_browser] {
        browser.close().await.unwrap();
    }
}
