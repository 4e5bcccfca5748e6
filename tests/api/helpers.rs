//! `TestApp`: the real application on a fresh database of its own, and the
//! people who call it (`User`), each acting by themselves through typed
//! helpers whose answers read back into the service's own response types.
//!
//! The database server is `DATABASE_URL`'s when set, else one embedded
//! throwaway cluster per test process. Each test gets its own database,
//! cloned from a migrated template (created once, under an advisory lock, and
//! named after the migrations so a changed migration gets a new template).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use countersign::config::Settings;
use countersign::db::embedded::{ClusterOptions, EmbeddedCluster};
use countersign::domain::proposal::Verdict;
use countersign::http::audit::Verification;
use countersign::http::employees::{Employee, IssuedToken};
use countersign::http::error::Problem;
use countersign::http::integrations::CreatedIntegration;
use countersign::http::me::Me;
use countersign::startup::Application;
use countersign::views::Proposal;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// An HTTP client for the tests (the crate's TLS provider installed first:
/// reqwest is built without one of its own).
pub fn client() -> reqwest::Client {
    countersign::webhooks::sender::install_tls_provider();
    reqwest::Client::new()
}

/// Asks `probe` every 20 ms until it answers `Some`, for at most `limit`;
/// fails the test saying `what` was awaited if it never does.
pub async fn eventually<T>(what: &str, limit: std::time::Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {limit:?} in vain for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A loopback address nothing listens on (its port was free a moment ago).
pub fn free_local_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").to_string()
}

/// Where test databases are created.
struct TestServer {
    admin_options: PgConnectOptions,
    _cluster: Option<EmbeddedCluster>,
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

async fn server() -> &'static TestServer {
    SERVER
        .get_or_init(|| async {
            init_logs();
            match std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) {
                Some(url) => TestServer {
                    admin_options: PgConnectOptions::from_str(&url).expect("DATABASE_URL parses"),
                    _cluster: None,
                },
                None => {
                    let cluster = start_embedded().await;
                    TestServer {
                        admin_options: cluster.connect_options("postgres"),
                        _cluster: Some(cluster),
                    }
                }
            }
        })
        .await
}

/// One throwaway cluster per test process, under /tmp (reachable by the
/// `postgres` user when we are root); clusters of finished runs are swept.
async fn start_embedded() -> EmbeddedCluster {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("countersign-test-")
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let base = tmp.join(format!("countersign-test-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cluster = EmbeddedCluster::start(&ClusterOptions {
        data_dir: base.join("data"),
        bin_dir: None,
        ephemeral: true,
        max_connections: 300,
        settings: Vec::new(),
    })
    .await
    .expect("the embedded test cluster starts");
    let _ = CLEAN_UP_AT_EXIT.set((base, cluster.pid()));
    // SAFETY: registers a plain function with no arguments, run once at exit.
    unsafe {
        libc::atexit(remove_test_cluster);
    }
    cluster
}

/// The test cluster's directory and postmaster, removed when the test
/// process exits, so a run leaves nothing behind in the temporary directory.
static CLEAN_UP_AT_EXIT: OnceLock<(std::path::PathBuf, i32)> = OnceLock::new();

extern "C" fn remove_test_cluster() {
    let Some((base, pid)) = CLEAN_UP_AT_EXIT.get() else {
        return;
    };
    // SAFETY: kill(2) on the postmaster this process started.
    unsafe {
        libc::kill(*pid, libc::SIGQUIT);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(base);
}

fn migrations_digest() -> String {
    let mut hasher = Sha256::new();
    for migration in countersign::db::MIGRATOR.iter() {
        hasher.update(migration.version.to_le_bytes());
        hasher.update(&*migration.checksum);
    }
    hex::encode(hasher.finalize())[..16].to_owned()
}

async fn template_name(server: &TestServer) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("countersign_template_{}", migrations_digest());
            let mut conn = PgConnection::connect_with(&server.admin_options)
                .await
                .expect("connect as admin");
            conn.execute("SELECT pg_advisory_lock(716542)").await.unwrap();
            sweep_abandoned_databases(&mut conn).await;
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if !exists {
                let building = format!("{name}_building");
                conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{building}\"")))
                    .await
                    .unwrap();
                conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{building}\"")))
                    .await
                    .unwrap();
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(server.admin_options.clone().database(&building))
                    .await
                    .unwrap();
                countersign::db::migrate(&pool).await.expect("migrations apply");
                pool.close().await;
                conn.execute(AssertSqlSafe(format!(
                    "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
                )))
                .await
                .unwrap();
            }
            conn.execute("SELECT pg_advisory_unlock(716542)").await.unwrap();
            conn.close().await.unwrap();
            name
        })
        .await
        .clone()
}

const TEST_DATABASE_PREFIX: &str = "cs_test_";

/// A fresh database cloned from the template: its name and pool.
async fn fresh_database() -> (String, PgPool) {
    let server = server().await;
    let template = template_name(server).await;
    let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::now_v7().simple());
    let mut conn = PgConnection::connect_with(&server.admin_options).await.unwrap();
    // Concurrent clones of one template can collide on its lock; retry.
    let mut attempt = 0;
    loop {
        match conn
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            )))
            .await
        {
            Ok(_) => break,
            Err(error) if attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                let _ = error;
            }
            Err(error) => panic!("creating the test database: {error}"),
        }
    }
    conn.close().await.unwrap();
    let options = server.admin_options.clone().database(&name);
    let pool = countersign::db::pool_options(&test_settings())
        .connect_with(options)
        .await
        .unwrap();
    (name, pool)
}

/// Drops a test's database when the test ends (passed or failed), from a
/// thread of its own since the test's runtime is ending.
fn drop_after_test(name: String) {
    let Some(server) = SERVER.get() else { return };
    let options = server.admin_options.clone();
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect_with(&options).await?;
            drop_test_database(&mut conn, &name).await
        })?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .join();
    if let Ok(Err(error)) = dropped {
        eprintln!("could not drop the test database: {error}");
    }
}

/// Drops a test database, ending any session still connected to it.
async fn drop_test_database(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .await?;
    Ok(())
}

/// Drops test databases an earlier, killed run left behind: those over an
/// hour old by the UUIDv7 in their name (no test runs that long).
async fn sweep_abandoned_databases(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(TEST_DATABASE_PREFIX)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in names {
        let created = name
            .strip_prefix(TEST_DATABASE_PREFIX)
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| std::time::UNIX_EPOCH + std::time::Duration::from_secs(ts.to_unix().0));
        if created.is_some_and(|created| created < hour_ago) {
            let _ = drop_test_database(conn, &name).await;
        }
    }
}

/// Logs of the whole test process, captured so tests can look into them;
/// printed too when TEST_LOG=1.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,hyper_util=info,reqwest=info,h2=info")
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .try_init();
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The Python with the `standardwebhooks` package: `STANDARDWEBHOOKS_PYTHON`
/// or `python3`. Without it the test says it skipped, unless
/// `REQUIRE_TEST_TOOLS=1` (CI), where it fails.
pub fn standardwebhooks_python(test: &str) -> Option<String> {
    let python = std::env::var("STANDARDWEBHOOKS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = std::process::Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var("REQUIRE_TEST_TOOLS").as_deref() != Ok("1"),
        "the standardwebhooks Python package is required here ({python} cannot import it)"
    );
    // Written to stderr itself, not through the test harness's capture,
    // so that a plain `cargo test` shows what it skipped.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {python} cannot import \
         standardwebhooks (pip install standardwebhooks==1.1.0, or set STANDARDWEBHOOKS_PYTHON; .ci/run does)"
    );
    None
}

/// Runs `script` with `python`, the JSON `input` on its stdin; answers what
/// it printed, failing the test (with its stderr) when it fails.
#[track_caller]
pub fn run_python(python: &str, script: &str, input: &Value) -> String {
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    said
}

/// The key that seals stored secrets in tests: base64 of 32 bytes. A
/// binary a test starts on a test's database is given it too
/// (`COUNTERSIGN_SECRETS__KEY`).
pub const TEST_SEALING_KEY: &str = "Y291bnRlcnNpZ24tdGVzdHMtc2VhbGluZy1rZXktMzI=";

/// Settings as a fresh install has them, on a free port.
pub fn test_settings() -> Settings {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), HashMap::new()).unwrap();
    settings.server.addr = "127.0.0.1:0".to_owned();
    settings.audit.sequencer_interval_ms = 20;
    // A fixed key (never a file in the working tree): secrets sealed by one
    // test application open in another on the same database.
    settings.secrets.key = TEST_SEALING_KEY.to_owned();
    // Tests write past history straight into the tables (no audit events
    // tell the builder of it): the stored report figures are built where a
    // test asks for them.
    settings.reports.rollup_interval_secs = 0;
    settings
}

/// Someone who can call the API, and calls it by themselves:
/// `peer.cosign(&id)`, `proposer.withdraw(&id)`, `manager.review(&id, …)`.
/// Either a person with a token of their own, or an integration's token,
/// calling in its own name or on behalf of an agent.
#[derive(Debug, Clone)]
pub struct User {
    /// Whose token this is: the person's, or the integration's.
    pub id: Uuid,
    pub token: String,
    /// Sent as `Countersign-On-Behalf-Of`: the agent an integration acts for.
    pub on_behalf_of: Option<String>,
    client: reqwest::Client,
    address: String,
}

/// An integration as created: its token and inbound secret, shown once.
#[derive(Debug, Clone)]
pub struct Integration {
    pub id: Uuid,
    pub token: String,
    pub secret: String,
    client: reqwest::Client,
    address: String,
}

impl Integration {
    /// The integration calling in its own name, naming no agent.
    pub fn itself(&self) -> User {
        User {
            id: self.id,
            token: self.token.clone(),
            on_behalf_of: None,
            client: self.client.clone(),
            address: self.address.clone(),
        }
    }

    /// The integration acting for the agent named by `reference` (their id
    /// or their helpdesk external_id).
    pub fn acting_for(&self, reference: impl Into<String>) -> User {
        self.itself().acting_for(reference)
    }
}

/// Settings that let a proposer act alone on refunds up to 50.00 EUR.
pub fn alone_for_small_refunds(settings: &mut Settings) {
    settings.routing.act_alone = vec![countersign::domain::routing::ActAlone {
        category: "refund".to_owned(),
        currency: Some("EUR".to_owned()),
        max_amount_minor: Some(5000),
    }];
}

/// The body a filing sends unless a test overrides a field: a refund of
/// 49.99 EUR, which one co-signer approves under the default policy, for a
/// ticket of its own (a ticket has one open proposal per category).
pub fn proposal_body(overrides: Value) -> Value {
    let mut body = json!({
        "category": "refund",
        "policy_ref": "REFUND-30-DAYS",
        "summary": "Refund after 45 days",
        "resolution": "Refund the order in full",
        "justification": "Long-standing customer; the parcel was lost by the carrier",
        "customer_ref": "CUST-1",
        "ticket_ref": format!("T-{}", Uuid::now_v7().simple()),
        "amount_minor": 4999,
        "currency": "EUR"
    });
    if let (Some(body), Some(overrides)) = (body.as_object_mut(), overrides.as_object()) {
        for (key, value) in overrides {
            body.insert(key.clone(), value.clone());
        }
    }
    body
}

impl User {
    /// The same caller, talking to another replica of the service.
    pub fn at(&self, address: &str) -> User {
        User {
            address: address.to_owned(),
            ..self.clone()
        }
    }

    /// This caller's token, naming `reference` in `Countersign-On-Behalf-Of`
    /// (which only an integration's token may do).
    pub fn acting_for(&self, reference: impl Into<String>) -> User {
        User {
            on_behalf_of: Some(reference.into()),
            ..self.clone()
        }
    }

    /// A request in this caller's name (and for the agent it acts for).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .bearer_auth(&self.token);
        match &self.on_behalf_of {
            Some(reference) => builder.header("countersign-on-behalf-of", reference),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::of(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        Answer::of(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        Answer::of(self.request(Method::PATCH, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        Answer::of(self.request(Method::PUT, path).json(body)).await
    }

    /// A body that is not JSON (CSV), as text, after a 200.
    pub async fn text(&self, path: &str) -> String {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .expect("the request is sent");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Answer::of(self.request(Method::DELETE, path)).await
    }

    /// Who the API takes this caller for.
    pub async fn me(&self) -> Answer {
        self.get("/v1/me").await
    }

    /// Files a proposal: `proposal_body` with the given overrides.
    pub async fn file(&self, overrides: Value) -> Answer {
        self.post("/v1/proposals", &proposal_body(overrides)).await
    }

    /// Reads a proposal.
    pub async fn read(&self, id: &str) -> Answer {
        self.get(&format!("/v1/proposals/{id}")).await
    }

    /// The revision this caller reads now, as a client does before signing
    /// (1 when the proposal cannot be read, so the refusal shows).
    pub async fn current_revision(&self, id: &str) -> i64 {
        self.read(id).await.body["revision"].as_i64().unwrap_or(1)
    }

    /// Reads the proposal, then endorses the revision read.
    pub async fn cosign(&self, id: &str) -> Answer {
        let revision = self.current_revision(id).await;
        self.cosign_revision(id, revision).await
    }

    /// Endorses the given revision, without reading the proposal first.
    pub async fn cosign_revision(&self, id: &str, revision: i64) -> Answer {
        self.post(&format!("/v1/proposals/{id}/cosign"), &json!({ "revision": revision }))
            .await
    }

    /// Reads the proposal, then declines the revision read.
    pub async fn decline(&self, id: &str, reason: &str) -> Answer {
        let revision = self.current_revision(id).await;
        self.post(
            &format!("/v1/proposals/{id}/decline"),
            &json!({ "revision": revision, "reason": reason }),
        )
        .await
    }

    /// Changes a pending proposal's terms.
    pub async fn revise(&self, id: &str, change: Value) -> Answer {
        self.patch(&format!("/v1/proposals/{id}"), &change).await
    }

    /// Withdraws a proposal, giving no reason.
    pub async fn withdraw(&self, id: &str) -> Answer {
        self.post(&format!("/v1/proposals/{id}/withdraw"), &json!({})).await
    }

    /// Withdraws a proposal, saying why.
    pub async fn withdraw_because(&self, id: &str, reason: &str) -> Answer {
        self.post(&format!("/v1/proposals/{id}/withdraw"), &json!({ "reason": reason }))
            .await
    }

    /// Records what came of an approved proposal.
    pub async fn record_outcome(&self, id: &str, outcome: Value) -> Answer {
        self.post(&format!("/v1/proposals/{id}/outcome"), &outcome).await
    }

    /// Reviews a decided proposal.
    pub async fn review(&self, id: &str, verdict: Verdict, note: &str) -> Answer {
        self.post(
            &format!("/v1/proposals/{id}/review"),
            &json!({ "verdict": verdict, "note": note }),
        )
        .await
    }

    /// A proposal's audit events, as the API lists them.
    pub async fn events(&self, id: &str) -> Answer {
        self.get(&format!("/v1/proposals/{id}/events")).await
    }

    pub async fn inbox(&self) -> Answer {
        self.get("/v1/inbox").await
    }

    /// The review queue, with an optional query string (`status=rejected`).
    pub async fn review_queue(&self, query: &str) -> Answer {
        self.get(&format!("/v1/review-queue?{query}")).await
    }
}

/// A page of a list: `items` and the cursor of the next page. (The
/// service's list types only serialize; this reads any of them.)
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl Page<Proposal> {
    /// The proposals' ids, in the order listed.
    pub fn ids(&self) -> Vec<String> {
        self.items.iter().map(|proposal| proposal.id.to_string()).collect()
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub admin: User,
    pub state: countersign::state::AppState,
    database: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop_after_test(std::mem::take(&mut self.database));
    }
}

/// A response, read: status, headers and JSON body (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Sends the request and reads the response.
    pub async fn of(request: RequestBuilder) -> Answer {
        let response = request.send().await.expect("the request is sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `id` of the resource in the body.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }

    /// The body read into one of the service's response types, printing
    /// the body when it is not one.
    #[track_caller]
    pub fn parse<T: DeserializeOwned>(&self) -> T {
        match T::deserialize(&self.body) {
            Ok(value) => value,
            Err(error) => panic!(
                "the body is not a {}: {error}; body: {}",
                std::any::type_name::<T>(),
                self.body
            ),
        }
    }

    #[track_caller]
    pub fn proposal(&self) -> Proposal {
        self.parse()
    }

    #[track_caller]
    pub fn proposals(&self) -> Page<Proposal> {
        self.parse()
    }

    #[track_caller]
    pub fn problem(&self) -> Problem {
        self.parse()
    }

    #[track_caller]
    pub fn employee(&self) -> Employee {
        self.parse()
    }

    #[track_caller]
    pub fn employees(&self) -> Page<Employee> {
        self.parse()
    }

    #[track_caller]
    pub fn issued_token(&self) -> IssuedToken {
        self.parse()
    }

    #[track_caller]
    pub fn created_integration(&self) -> CreatedIntegration {
        self.parse()
    }

    #[track_caller]
    pub fn me(&self) -> Me {
        self.parse()
    }

    #[track_caller]
    pub fn verification(&self) -> Verification {
        self.parse()
    }

    /// Asserts the status, printing the body when it is not what we expected.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts a problem response naming `field` in `errors`.
    #[track_caller]
    pub fn expect_problem(self, status: u16, field: Option<&str>) -> Self {
        let answer = self.expect(status);
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "problems are problem+json"
        );
        assert_eq!(answer.body["status"], status, "{}", answer.body);
        assert!(
            answer.body["type"].is_string() && answer.body["title"].is_string(),
            "{}",
            answer.body
        );
        if let Some(field) = field {
            assert!(
                answer.body["errors"][field].is_string(),
                "expected `{field}` in errors: {}",
                answer.body
            );
        }
        answer
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings();
        configure(&mut settings);
        let (database, pool) = fresh_database().await;
        let application = Application::with_pool(settings, pool.clone(), None)
            .await
            .expect("the app builds");
        let address = format!("http://{}", application.local_addr());
        let state = application.state().clone();
        tokio::spawn(application.run_until(std::future::pending()));
        let token = countersign::app::people::bootstrap_admin(&pool, "admin@example.com", "First Admin")
            .await
            .expect("bootstrap admin");
        let admin_id = sqlx::query_scalar("SELECT id FROM employees WHERE email = 'admin@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
        let client = client();
        TestApp {
            admin: User {
                id: admin_id,
                token,
                on_behalf_of: None,
                client: client.clone(),
                address: address.clone(),
            },
            address,
            client,
            pool,
            state,
            database,
        }
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{}", self.address, path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn send(&self, builder: RequestBuilder) -> Answer {
        Answer::of(builder).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.request(Method::GET, path, token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path, token).json(body)).await
    }

    // Kept beside get, post and delete for calls with any token or none,
    // though every PATCH in the suite now goes through a `User`.
    #[allow(dead_code)]
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(self.request(Method::PATCH, path, token).json(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.request(Method::DELETE, path, token)).await
    }

    /// A caller holding `token`, `id`'s.
    fn caller(&self, id: Uuid, token: String) -> User {
        User {
            id,
            token,
            on_behalf_of: None,
            client: self.client.clone(),
            address: self.address.clone(),
        }
    }

    /// Creates a person with the given role and issues them a token.
    pub async fn create_user(&self, role: &str) -> User {
        self.create_user_with(role, json!({})).await
    }

    /// Like `create_user`, with extra fields (team, external_id, …).
    pub async fn create_user_with(&self, role: &str, extra: Value) -> User {
        let n = Uuid::now_v7().simple().to_string();
        let mut body =
            json!({ "name": format!("{role} {}", &n[24..]), "email": format!("{role}-{n}@example.com"), "role": role });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let employee = self.admin.post("/v1/employees", &body).await.expect(201).employee();
        let issued = self
            .admin
            .post(&format!("/v1/employees/{}/tokens", employee.id), &json!({}))
            .await
            .expect(201)
            .issued_token();
        self.caller(employee.id, issued.token)
    }

    /// Creates `n` people with the given role.
    pub async fn create_users(&self, role: &str, n: usize) -> Vec<User> {
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            users.push(self.create_user(role).await);
        }
        users
    }

    /// Changes a person as the admin does (`{"active": false}`, `{"role": "manager"}`).
    pub async fn set_employee(&self, who: &User, change: Value) {
        self.admin
            .patch(&format!("/v1/employees/{}", who.id), &change)
            .await
            .expect(200);
    }

    /// Creates an integration of the given kind; a `zendesk` one is given
    /// a signing secret as Zendesk would generate it.
    pub async fn integration(&self, kind: &str) -> Integration {
        let name = format!("{kind}-{}", Uuid::now_v7().simple());
        let mut body = json!({ "name": name, "kind": kind });
        let zendesk_secret = (kind == "zendesk").then(|| format!("zd-{}", Uuid::now_v7().simple()));
        if let Some(secret) = &zendesk_secret {
            body["secret"] = json!(secret);
        }
        let created = self
            .admin
            .post("/v1/integrations", &body)
            .await
            .expect(201)
            .created_integration();
        Integration {
            id: created.integration.id,
            token: created.token,
            secret: created.secret.or(zendesk_secret).expect("a secret, generated or given"),
            client: self.client.clone(),
            address: self.address.clone(),
        }
    }

    /// Creates an integration; answers its id, token and inbound secret.
    pub async fn create_integration(&self, kind: &str) -> (Uuid, String, String) {
        let integration = self.integration(kind).await;
        (integration.id, integration.token, integration.secret)
    }

    /// Files a proposal as `proposer` and has `peer` approve it; answers its id.
    pub async fn approved_proposal(&self, proposer: &User, peer: &User) -> String {
        let id = proposer.file(json!({})).await.expect(201).id();
        peer.cosign(&id).await.expect(200);
        id
    }

    /// Event types of a proposal, oldest first.
    pub async fn event_types(&self, id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM audit_events WHERE subject_id = $1 ORDER BY id")
            .bind(Uuid::parse_str(id).unwrap())
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Waits (bounded) until the running sequencer has chained every event.
    pub async fn wait_until_chained(&self) {
        eventually(
            "the sequencer to chain the events",
            std::time::Duration::from_secs(30),
            async || (self.count("SELECT count(*) FROM audit_unchained").await == 0).then_some(()),
        )
        .await;
    }

    /// Moves pending deadlines into the past (of one proposal, or all), as
    /// if the time-to-live had run out. The schema fixes a deadline per
    /// revision, so only a superuser with the guarding trigger off can do it.
    pub async fn let_deadline_pass(&self, id: Option<&str>) {
        let only = id.map_or(String::new(), |id| {
            format!("AND id = '{}'", Uuid::parse_str(id).unwrap())
        });
        let sql = format!(
            "BEGIN; ALTER TABLE proposals DISABLE TRIGGER proposals_transition; \
             UPDATE proposals SET expires_at = created_at + interval '1 millisecond' WHERE status = 'pending' {only}; \
             ALTER TABLE proposals ENABLE TRIGGER proposals_transition; COMMIT;"
        );
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .expect("the superuser's rewrite runs");
    }

    /// Another replica of the service on this test's database (its own
    /// pool, listener and workers), as a second instance in production.
    /// Answers its address.
    pub async fn spawn_replica(&self, configure: impl FnOnce(&mut Settings)) -> String {
        let mut settings = test_settings();
        configure(&mut settings);
        let options = (*self.pool.connect_options()).clone();
        let pool = countersign::db::pool_options(&settings)
            .connect_with(options)
            .await
            .unwrap();
        let application = Application::with_pool(settings, pool, None)
            .await
            .expect("the replica builds");
        let address = format!("http://{}", application.local_addr());
        tokio::spawn(application.run_until(std::future::pending()));
        address
    }

    /// Registers a webhook endpoint (`event_types`: a list, or null for
    /// all); answers its id and signing secret.
    pub async fn webhook_endpoint(&self, url: &str, event_types: Value) -> (String, String) {
        let created = self
            .admin
            .post(
                "/v1/webhook-endpoints",
                &json!({ "url": url, "event_types": event_types }),
            )
            .await
            .expect(201);
        (created.id(), created.body["secret"].as_str().unwrap().to_owned())
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count query runs")
    }
}
