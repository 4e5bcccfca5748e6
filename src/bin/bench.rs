//! The benchmark: how close the service comes to what its database can do.
//! Loopback only, bounded in time; prints figures, asserts nothing.
//!
//! 1. A fresh PostgreSQL cluster of its own (durable: fsync on) with
//!    `pg_stat_statements`, and the release service (`countersign serve`,
//!    a separate process) on it, with `AGENTS` agents and one webhook
//!    endpoint subscribed to every event, pointing at a receiver here.
//! 2. A warm-up of the same load (a fifth of `SECONDS`, at least 2 s), then
//!    `ANALYZE`, so the service is measured on planner statistics as a
//!    running installation has them (as pgbench is, later), not on the
//!    empty tables it started with. Then `CLIENTS` concurrent keep-alive
//!    clients file → co-sign pairs for `SECONDS`: pairs/s, p50/p90/p99 of each request, the service's idle and
//!    peak RSS, webhook lag (commit to arrival), the CPU time per pair (the
//!    machine's, the service's, this process's as load generator and
//!    webhook receiver, and the rest: PostgreSQL), and the statements the
//!    database ran per pair (from `pg_stat_statements`). Then the same load
//!    paced at 80 % of the pairs/s reached: request times and webhook lag
//!    near, not at, the limit.
//! 3. The reports, timed on the database the run left.
//! 4. `pgbench` on the same cluster, for as long, with as many clients:
//!    `bench/pair_service.sql` (the statements the service issues for one
//!    pair, as `pg_stat_statements` lists them) and `bench/pair_minimal.sql`
//!    (the least SQL a pair needs); pairs/s of each, the machine's CPU time
//!    per pair, and the service's ratio to them.
//!
//! `bench/run.sh [SECONDS [CLIENTS [AGENTS]]]` builds and runs it (defaults
//! 20, 16, 300); `SERVICE_BIN` names another service binary (not a
//! `COUNTERSIGN_…` variable: those are the service's configuration);
//! `BENCH_WEBHOOKS=off` leaves the webhook endpoint out (the service and
//! `pair_service.sql` then write no outbox rows, `pair_minimal.sql` no
//! deliveries), to show what delivering webhooks costs; `BENCH_PG_SETTINGS` adds PostgreSQL settings
//! (`name=value`, space-separated) to the benchmark's cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, Utc};
use countersign::db::embedded::{ClusterOptions, EmbeddedCluster};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::process::Command;
use uuid::Uuid;

/// Arrival time of each webhook message, by message id, with its commit time.
type Arrivals = Arc<Mutex<HashMap<String, (DateTime<Utc>, DateTime<Utc>)>>>;

#[derive(Clone)]
struct Plan {
    seconds: u64,
    clients: usize,
    agents: usize,
    service: PathBuf,
    repository: PathBuf,
    /// Webhook messages per pair: 3 with the endpoint, 0 without it
    /// (`BENCH_WEBHOOKS=off`, to see what delivering them costs).
    messages_per_pair: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |n: usize, default: u64| -> anyhow::Result<u64> {
        Ok(std::env::args()
            .nth(n)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let service = match std::env::var("SERVICE_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => std::env::current_exe()?.with_file_name("countersign"),
    };
    anyhow::ensure!(
        service.is_file(),
        "no service binary at {} (cargo build --release, or set SERVICE_BIN)",
        service.display()
    );
    let plan = Plan {
        seconds: arg(1, 20)?,
        clients: arg(2, 16)? as usize,
        agents: arg(3, 300)?.max(2) as usize,
        service,
        repository: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        messages_per_pair: if std::env::var("BENCH_WEBHOOKS").is_ok_and(|v| v == "off") {
            0
        } else {
            3
        },
    };
    let work = std::env::temp_dir().join(format!("countersign-bench-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&work)?;
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    println!(
        "Countersign benchmark: {} s, {} clients, {} agents{}",
        plan.seconds,
        plan.clients,
        plan.agents,
        if plan.messages_per_pair == 0 {
            ", no webhook endpoint (BENCH_WEBHOOKS=off)"
        } else {
            ""
        }
    );
    let cluster = EmbeddedCluster::start(&ClusterOptions {
        data_dir: work.join("data"),
        bin_dir: None,
        ephemeral: false,
        max_connections: 200,
        settings: vec![
            "shared_preload_libraries=pg_stat_statements".to_owned(),
            "pg_stat_statements.track=all".to_owned(),
            "pg_stat_statements.max=5000".to_owned(),
            "pg_stat_statements.track_planning=on".to_owned(),
        ]
        .into_iter()
        .chain(
            std::env::var("BENCH_PG_SETTINGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned),
        )
        .collect(),
    })
    .await
    .context("starting the benchmark's PostgreSQL")?;
    let result = run(&plan, &cluster, &work).await;
    cluster.stop().await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn millis(sorted: &[f64]) -> String {
    format!(
        "p50 {:6.1} ms  p90 {:6.1} ms  p99 {:6.1} ms  (n = {})",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.len()
    )
}

/// The process's resident memory now and at its peak, in MB.
fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time in ms (Linux counts it in hundredths of a second): of the
/// whole machine (busy, every core), or of one process.
#[derive(Clone, Copy)]
struct CpuTimes {
    machine: f64,
    service: f64,
    generator: f64,
}

/// The machine's busy CPU time so far (every core), in ms.
fn machine_busy_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let busy: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .enumerate()
        // user, nice, system, (idle, iowait), irq, softirq, steal
        .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6 | 7))
        .filter_map(|(_, ticks)| ticks.parse::<u64>().ok())
        .sum();
    busy as f64 * 10.0
}

/// A process's CPU time so far (user and system), in ms, from its
/// `/proc/…/stat`.
fn process_cpu_ms(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10.0
}

impl CpuTimes {
    fn now(service: u32) -> CpuTimes {
        CpuTimes {
            machine: machine_busy_ms(),
            service: process_cpu_ms(&format!("/proc/{service}/stat")),
            generator: process_cpu_ms("/proc/self/stat"),
        }
    }

    /// Per pair from `self` to `later`: (machine, service, load generator
    /// and receiver, PostgreSQL and everything else).
    fn per_pair(&self, later: &CpuTimes, pairs: u64) -> (f64, f64, f64, f64) {
        let n = pairs.max(1) as f64;
        let machine = (later.machine - self.machine) / n;
        let service = (later.service - self.service) / n;
        let generator = (later.generator - self.generator) / n;
        (machine, service, generator, machine - service - generator)
    }
}

async fn receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    async fn receive(State(arrivals): State<Arrivals>, headers: axum::http::HeaderMap, body: Bytes) {
        let now = Utc::now();
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let committed = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|message| message["timestamp"].as_str().map(str::to_owned))
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
            .map_or(now, |at| at.with_timezone(&Utc));
        arrivals.lock().unwrap().insert(id, (committed, now));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(arrivals);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

struct Person {
    id: String,
    token: String,
}

async fn create_person(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    role: &str,
    n: usize,
) -> anyhow::Result<Person> {
    let employee: Value = http
        .post(format!("{base}/v1/employees"))
        .bearer_auth(admin)
        .json(
            &json!({ "name": format!("Bench {role} {n}"), "email": format!("bench-{role}-{n}@example.com"),
                       "role": role, "team": format!("team-{}", n % 10) }),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = employee["id"].as_str().context("an employee id")?.to_owned();
    let issued: Value = http
        .post(format!("{base}/v1/employees/{id}/tokens"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = issued["token"].as_str().context("a token")?.to_owned();
    Ok(Person { id, token })
}

#[derive(Default)]
struct Timings {
    pairs: u64,
    refused: u64,
    file_ms: Vec<f64>,
    cosign_ms: Vec<f64>,
}

/// One client: file as one agent, co-sign as another, until `deadline`;
/// as fast as answers come, or paced: from the first instant, one pair
/// every period (a late pair starts at once, and its wait is not counted:
/// request times are the service's).
async fn drive(
    base: String,
    agents: Arc<Vec<Person>>,
    client: usize,
    deadline: Instant,
    pace: Option<(Instant, Duration)>,
) -> Timings {
    countersign::webhooks::sender::install_tls_provider();
    let http = reqwest::Client::new();
    let mut timings = Timings::default();
    let n = agents.len();
    let mut turn = client * 7919;
    let mut next = pace.map(|(first, _)| first);
    while Instant::now() < deadline {
        if let (Some(at), Some((_, period))) = (next.as_mut(), pace) {
            tokio::time::sleep_until((*at).into()).await;
            *at += period;
        }
        turn += 1;
        let proposer = &agents[turn % n];
        let peer = &agents[(turn % n + 1 + turn / n % (n - 1)) % n];
        let body = json!({
            "category": "refund", "policy_ref": "REFUND-30-DAYS", "summary": "Refund a lost parcel",
            "resolution": "Refund in full", "justification": "The carrier lost it",
            "amount_minor": 2500, "currency": "EUR", "ticket_ref": format!("T-{turn}"),
        });
        let started = Instant::now();
        let filed = http
            .post(format!("{base}/v1/proposals"))
            .bearer_auth(&proposer.token)
            .json(&body)
            .send()
            .await;
        let Ok(filed) = filed else {
            timings.refused += 1;
            continue;
        };
        let location = filed
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = filed.status();
        let _ = filed.bytes().await;
        timings.file_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let (true, Some(location)) = (status.is_success(), location) else {
            timings.refused += 1;
            continue;
        };
        let started = Instant::now();
        let signed = http
            .post(format!("{base}{location}/cosign"))
            .bearer_auth(&peer.token)
            .json(&json!({ "revision": 1 }))
            .send()
            .await;
        match signed {
            Ok(answer) if answer.status().is_success() => {
                let _ = answer.bytes().await;
                timings.cosign_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                timings.pairs += 1;
            }
            _ => timings.refused += 1,
        }
    }
    timings
}

/// `CLIENTS` clients driving pairs for `SECONDS` (each one pair every
/// `pace`, spread over it, when paced): their timings and the seconds taken.
async fn load(
    plan: &Plan,
    base: &str,
    agents: &Arc<Vec<Person>>,
    pace: Option<Duration>,
) -> anyhow::Result<(Timings, f64)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(plan.seconds);
    let clients = (0..plan.clients).map(|client| {
        let first = pace.map(|period| (started + period.mul_f64(client as f64 / plan.clients as f64), period));
        tokio::spawn(drive(base.to_owned(), agents.clone(), client, deadline, first))
    });
    let mut total = Timings::default();
    for finished in futures_util::future::join_all(clients).await {
        let timings = finished?;
        total.pairs += timings.pairs;
        total.refused += timings.refused;
        total.file_ms.extend(timings.file_ms);
        total.cosign_ms.extend(timings.cosign_ms);
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

/// Waits until `expected` webhook messages have arrived, or a minute passed.
async fn drained(arrivals: &Arrivals, expected: usize) {
    let waited = Instant::now();
    while arrivals.lock().unwrap().len() < expected && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Commit-to-arrival lags (ms, sorted) of the messages committed since `since`.
fn lags(arrivals: &Arrivals, since: DateTime<Utc>) -> Vec<f64> {
    let mut lags: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .values()
        .filter(|(committed, _)| *committed >= since)
        .map(|(committed, arrived)| (*arrived - *committed).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .collect();
    lags.sort_by(f64::total_cmp);
    lags
}

/// `pgbench` running `script` for the plan's time and clients: its pairs/s
/// and the machine's CPU time per pair (ms).
async fn pgbench(plan: &Plan, cluster: &EmbeddedCluster, script: &Path) -> anyhow::Result<(f64, f64)> {
    let bin = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("pgbench"))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("pgbench"));
    let busy_before = machine_busy_ms();
    let output = Command::new(bin)
        .args(["-n", "-M", "prepared", "-U", "postgres", "-h"])
        .arg(cluster.socket_dir())
        .args([
            "-c",
            &plan.clients.to_string(),
            "-j",
            "2",
            "-T",
            &plan.seconds.to_string(),
        ])
        .args(["-D", &format!("agents={}", plan.agents), "-f"])
        .arg(script)
        .arg("bench")
        .stdin(Stdio::null())
        .output()
        .await
        .context("running pgbench")?;
    let busy = machine_busy_ms() - busy_before;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed on {}: {}{}",
        script.display(),
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    let pairs: u64 = text
        .lines()
        .find(|line| line.starts_with("number of transactions actually processed: "))
        .and_then(|line| line.split_whitespace().nth(5))
        .and_then(|n| n.parse().ok())
        .context("pgbench printed no count")?;
    let tps = text
        .lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|tps| tps.parse().ok())
        .context("pgbench printed no tps")?;
    Ok((tps, busy / pairs.max(1) as f64))
}

async fn run(plan: &Plan, cluster: &EmbeddedCluster, work: &Path) -> anyhow::Result<()> {
    let mut server = PgConnection::connect_with(&cluster.connect_options("postgres")).await?;
    server.execute("CREATE DATABASE bench").await?;
    let mut db = PgConnection::connect_with(&cluster.connect_options("bench")).await?;
    db.execute("CREATE EXTENSION pg_stat_statements").await?;
    let url = format!(
        "postgres://postgres@localhost/bench?host={}",
        cluster.socket_dir().display()
    );

    // The service, as its own process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let key = base64_key();
    let log = std::fs::File::create(work.join("service.log"))?;
    let env = [
        ("COUNTERSIGN_DATABASE__URL", url.as_str()),
        ("COUNTERSIGN_SERVER__ADDR", &format!("127.0.0.1:{port}")),
        ("COUNTERSIGN_SECRETS__KEY", key.as_str()),
        ("COUNTERSIGN_LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
    ];
    let admin = Command::new(&plan.service)
        .args([
            "bootstrap-admin",
            "--email",
            "bench-admin@example.com",
            "--name",
            "Bench Admin",
        ])
        .envs(env)
        .env_remove("DATABASE_URL")
        .output()
        .await?;
    anyhow::ensure!(
        admin.status.success(),
        "bootstrap-admin: {}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let admin = String::from_utf8(admin.stdout)?.trim().to_owned();
    let mut service = Command::new(&plan.service)
        .arg("serve")
        .envs(env)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let pid = service.id().context("the service's pid")?;
    countersign::webhooks::sender::install_tls_provider();
    let http = reqwest::Client::new();
    let ready = Instant::now();
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(30),
            "the service did not get ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // People, the webhook endpoint, and the tokens pgbench signs in with.
    let mut agents = Vec::new();
    for chunk in (0..plan.agents).collect::<Vec<_>>().chunks(16) {
        let made =
            futures_util::future::join_all(chunk.iter().map(|n| create_person(&http, &base, &admin, "agent", *n)))
                .await;
        for person in made {
            agents.push(person?);
        }
    }
    let manager = create_person(&http, &base, &admin, "manager", 0).await?;
    let arrivals: Arrivals = Arc::default();
    if plan.messages_per_pair > 0 {
        let hook = receiver(arrivals.clone()).await?;
        http.post(format!("{base}/v1/webhook-endpoints"))
            .bearer_auth(&admin)
            .json(&json!({ "url": hook, "description": "benchmark receiver" }))
            .send()
            .await?
            .error_for_status()?;
    }
    db.execute("CREATE TABLE bench_agents (n int PRIMARY KEY, employee_id uuid NOT NULL, token_hash bytea NOT NULL)")
        .await?;
    for (n, agent) in agents.iter().enumerate() {
        sqlx::query("INSERT INTO bench_agents VALUES ($1, $2, $3)")
            .bind(n as i32 + 1)
            .bind(Uuid::parse_str(&agent.id)?)
            .bind(Sha256::digest(agent.token.as_bytes()).to_vec())
            .execute(&mut db)
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = rss_mb(pid);

    // The warm-up, then statistics, then the load.
    let agents = Arc::new(agents);
    let warm_up = Plan {
        seconds: (plan.seconds / 5).max(2),
        ..plan.clone()
    };
    let (warm, _) = load(&warm_up, &base, &agents, None).await?;
    let warmed = warm.pairs as usize * plan.messages_per_pair;
    drained(&arrivals, warmed).await;
    db.execute("ANALYZE").await?;
    db.execute("SELECT pg_stat_statements_reset()").await?;
    let measured_from = Utc::now();
    let cpu_before = CpuTimes::now(pid);
    let (mut total, elapsed) = load(plan, &base, &agents, None).await?;
    let cpu = cpu_before.per_pair(&CpuTimes::now(pid), total.pairs);
    let (_, peak_rss) = rss_mb(pid);
    let statements = sqlx::query(
        "SELECT calls, plans, toplevel, total_exec_time + total_plan_time AS total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements s
         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench' ORDER BY toplevel DESC, calls DESC",
    )
    .fetch_all(&mut db)
    .await?;

    let pairs_per_second = total.pairs as f64 / elapsed;
    let expected = warmed + total.pairs as usize * plan.messages_per_pair;
    drained(&arrivals, expected).await;
    let peak_lags = lags(&arrivals, measured_from);

    // The same load paced at 80 % of that peak: the latency a service
    // running near, not at, its limit gives.
    let paced_from = Utc::now();
    let period = Duration::from_secs_f64(plan.clients as f64 / (0.8 * pairs_per_second).max(1.0));
    let (mut paced, paced_elapsed) = load(plan, &base, &agents, Some(period)).await?;
    drained(&arrivals, expected + paced.pairs as usize * plan.messages_per_pair).await;
    let paced_lags = lags(&arrivals, paced_from);

    // The reports, on what the run left: as it is (the planner's
    // statistics as autovacuum left them), then after ANALYZE.
    let mut reports = Vec::new();
    for analyzed in [false, true] {
        if analyzed {
            db.execute("ANALYZE").await?;
        }
        for path in [
            "/v1/reports/summary",
            "/v1/reports/summary?group_by=cosigner",
            "/v1/reports/policy-candidates",
            "/v1/reports/cosign-pairs",
            "/v1/reports/waiting",
        ] {
            let started = Instant::now();
            let answer = http
                .get(format!("{base}{path}"))
                .bearer_auth(&manager.token)
                .send()
                .await?;
            let status = answer.status();
            let _ = answer.bytes().await?;
            reports.push((analyzed, path, status, started.elapsed().as_secs_f64() * 1000.0));
        }
    }
    let proposals: i64 = sqlx::query_scalar("SELECT count(*) FROM proposals")
        .fetch_one(&mut db)
        .await?;
    service.start_kill()?;
    let _ = service.wait().await;

    // The ceilings.
    let scripts = [
        ("same statements as the service", "bench/pair_service.sql"),
        ("least SQL a pair needs", "bench/pair_minimal.sql"),
    ];
    let mut ceilings = Vec::new();
    for (what, script) in scripts {
        ceilings.push((what, pgbench(plan, cluster, &plan.repository.join(script)).await?));
    }

    total.file_ms.sort_by(f64::total_cmp);
    total.cosign_ms.sort_by(f64::total_cmp);
    paced.file_ms.sort_by(f64::total_cmp);
    paced.cosign_ms.sort_by(f64::total_cmp);
    println!();
    println!(
        "service: {:.0} pairs/s ({} pairs in {elapsed:.1} s, {} refused or failed)",
        pairs_per_second, total.pairs, total.refused
    );
    println!("  file    {}", millis(&total.file_ms));
    println!("  co-sign {}", millis(&total.cosign_ms));
    println!("  RSS: {idle_rss:.1} MB idle, {peak_rss:.1} MB peak");
    println!(
        "  CPU per pair: {:.2} ms in all: the service {:.2}, the load generator and webhook receiver {:.2}, \
         PostgreSQL (and anything else running) {:.2}",
        cpu.0, cpu.1, cpu.2, cpu.3
    );
    println!(
        "  webhooks: {} of {} messages arrived; lag from commit p50 {:.1} ms, p99 {:.1} ms",
        peak_lags.len(),
        expected - warmed,
        percentile(&peak_lags, 50.0),
        percentile(&peak_lags, 99.0)
    );
    println!(
        "at 80 % of that peak: {:.0} pairs/s ({} pairs in {paced_elapsed:.1} s, {} refused or failed)",
        paced.pairs as f64 / paced_elapsed,
        paced.pairs,
        paced.refused
    );
    println!("  file    {}", millis(&paced.file_ms));
    println!("  co-sign {}", millis(&paced.cosign_ms));
    println!(
        "  webhooks: lag from commit p50 {:.1} ms, p99 {:.1} ms (n = {})",
        percentile(&paced_lags, 50.0),
        percentile(&paced_lags, 99.0),
        paced_lags.len()
    );
    let per_pair = |calls: i64| calls as f64 / total.pairs.max(1) as f64;
    // A column of pg_stat_statements summed over the statements the
    // service sent (toplevel) or over those run inside them.
    let summed = |column: &str, toplevel: bool| {
        statements
            .iter()
            .filter(|row| row.get::<bool, _>("toplevel") == toplevel)
            .map(|row| row.get::<i64, _>(column))
            .sum::<i64>()
    };
    println!(
        "  statements per pair: {:.1} sent by the service (one round trip each: requests and workers), \
         {:.1} more run inside them (triggers, foreign keys)",
        per_pair(summed("calls", true)),
        per_pair(summed("calls", false))
    );
    println!(
        "  plans made per pair: {:.2} for statements the service sent, {:.2} for those inside them",
        per_pair(summed("plans", true)),
        per_pair(summed("plans", false))
    );
    // A statement's text as printed: its first 100 characters.
    let shown = |row: &sqlx::postgres::PgRow| -> String { row.get::<String, _>("query").chars().take(100).collect() };
    for row in statements.iter().filter(|row| per_pair(row.get("plans")) >= 0.2) {
        println!("    {:5.2} plans per pair: {}", per_pair(row.get("plans")), shown(row));
    }
    let time_per_pair = |row: &sqlx::postgres::PgRow| row.get::<f64, _>("total_exec_time") / total.pairs.max(1) as f64;
    println!("  sent by the service, per pair: calls, plans made, database time (ms, planning included):");
    for row in statements
        .iter()
        .filter(|row| row.get::<bool, _>("toplevel") && per_pair(row.get("calls")) >= 0.05)
    {
        println!(
            "    {:5.2} {:5.2} {:6.3}  {}",
            per_pair(row.get("calls")),
            per_pair(row.get("plans")),
            time_per_pair(row),
            shown(row)
        );
    }
    println!("  where the database's time goes, per pair (ms; nested statements inside their callers' time too):");
    let mut by_time: Vec<_> = statements.iter().collect();
    by_time.sort_by(|a, b| time_per_pair(b).total_cmp(&time_per_pair(a)));
    for row in by_time.into_iter().take(8) {
        let nested = if row.get::<bool, _>("toplevel") {
            ""
        } else {
            "(nested) "
        };
        println!("    {:6.3}  {nested}{}", time_per_pair(row), shown(row));
    }
    println!();
    for (what, (tps, cpu_per_pair)) in &ceilings {
        println!(
            "pgbench, {what}: {tps:.0} pairs/s; the service does {:.2}× that (CPU per pair: {cpu_per_pair:.2} ms)",
            pairs_per_second / tps
        );
    }
    println!();
    println!("reports on {proposals} proposals:");
    for (analyzed, path, status, ms) in reports {
        let when = if analyzed { "after ANALYZE" } else { "as left" };
        println!("  {ms:7.1} ms  {status}  {path}  ({when})");
    }
    Ok(())
}

fn base64_key() -> String {
    use base64::Engine;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("random bytes");
    base64::engine::general_purpose::STANDARD.encode(key)
}
