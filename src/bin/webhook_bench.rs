//! What outbound webhooks cost and how fast they arrive. On a fresh
//! database, the service in this process and a receiver on loopback:
//!
//! 1. file → co-sign pairs from `CLIENTS` concurrent clients for `SECONDS`,
//!    with no endpoint, then with one endpoint subscribed to every proposal
//!    event (three messages per pair); pairs/s of each and their ratio, and
//!    how long the queue took to drain;
//! 2. `APPROVALS` approvals one after another: approval-to-receipt latency,
//!    from the commit (the message's `timestamp`) to its arrival.
//!
//! Prints figures; asserts nothing.
//! `DATABASE_URL=postgres://… cargo run --release --bin webhook_bench [-- SECONDS CLIENTS APPROVALS]`
//! (defaults 10, 16, 300; the server is used to create and drop a database).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, Utc};
use countersign::config::Settings;
use countersign::startup::Application;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

type Arrivals = Arc<Mutex<HashMap<String, (DateTime<Utc>, Value)>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |n: usize, default: u64| -> anyhow::Result<u64> {
        Ok(std::env::args()
            .nth(n)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (seconds, clients, approvals) = (arg(1, 10)?, arg(2, 16)?, arg(3, 300)?);
    let url = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("set DATABASE_URL to a server"))?;
    let server = PgConnectOptions::from_str(&url)?;
    let name = format!("countersign_webhook_bench_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect_with(&server).await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await?;
    let result = run(
        server.clone().database(&name),
        seconds,
        clients as usize,
        approvals as usize,
    )
    .await;
    admin
        .execute(AssertSqlSafe(format!("DROP DATABASE \"{name}\" WITH (FORCE)")))
        .await?;
    result
}

async fn run(options: PgConnectOptions, seconds: u64, clients: usize, approvals: usize) -> anyhow::Result<()> {
    let mut settings = Settings::load()?;
    settings.server.addr = "127.0.0.1:0".to_owned();
    settings.database.max_connections = 40;
    let pool = countersign::db::pool_options(&settings).connect_with(options).await?;
    countersign::db::migrate(&pool).await?;
    let application = Application::with_pool(settings, pool.clone(), None).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run_until(std::future::pending()));
    let admin = countersign::app::people::bootstrap_admin(&pool, "bench@example.com", "Bench").await?;
    countersign::webhooks::sender::install_tls_provider();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{base}{path}")).bearer_auth(token)
    };

    let mut agents = Vec::new();
    for n in 0..(clients * 2) {
        let body =
            json!({ "name": format!("Agent {n}"), "email": format!("agent{n}@bench.example.com"), "role": "agent" });
        let person: Value = call(reqwest::Method::POST, "/v1/employees", &admin)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let id = person["id"].as_str().unwrap_or_default().to_owned();
        let issued: Value = call(reqwest::Method::POST, &format!("/v1/employees/{id}/tokens"), &admin)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        agents.push(issued["token"].as_str().unwrap_or_default().to_owned());
    }
    let pairs: Vec<(String, String)> = agents.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();

    // The receiver: when each message arrived, and its body.
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(async |State(arrivals): State<Arrivals>, body: Bytes| {
            let at = Utc::now();
            if let Ok(body) = serde_json::from_slice::<Value>(&body) {
                let id = body["id"].as_str().unwrap_or_default().to_owned();
                arrivals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, (at, body));
            }
            "ok"
        })
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pair = async |proposer: &str, peer: &str| -> anyhow::Result<()> {
        let filed = call(reqwest::Method::POST, "/v1/proposals", proposer)
            .json(&json!({
                "category": "replacement", "policy_ref": "BENCH", "summary": "bench",
                "resolution": "ship again", "justification": "bench"
            }))
            .send()
            .await?;
        anyhow::ensure!(filed.status() == 201, "filing answered {}", filed.status());
        let id = filed.json::<Value>().await?["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let signed = call(reqwest::Method::POST, &format!("/v1/proposals/{id}/cosign"), peer)
            .json(&json!({ "revision": 1 }))
            .send()
            .await?;
        anyhow::ensure!(signed.status() == 200, "co-sign answered {}", signed.status());
        Ok(())
    };
    let load = async |label: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        let until = started + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for (proposer, peer) in pairs.clone() {
            let pair = &pair;
            tasks.push(async move {
                let mut done = 0u64;
                while Instant::now() < until {
                    pair(&proposer, &peer).await?;
                    done += 1;
                }
                anyhow::Ok(done)
            });
        }
        let done: u64 = futures_util::future::try_join_all(tasks).await?.into_iter().sum();
        let rate = done as f64 / started.elapsed().as_secs_f64();
        println!("{label:<34} {done:>7} pairs in {seconds} s = {rate:>7.1} pairs/s");
        Ok(rate)
    };

    println!("clients: {clients}, {seconds} s per phase, loopback receiver answering 200 at once");
    let pending = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(&pool)
            .await
    };
    // Alternating phases, so that the machine's drift hits both alike.
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 1..=2 {
        without.push(load(&format!("round {round}: no webhook endpoint")).await?);
        let created: Value = call(reqwest::Method::POST, "/v1/webhook-endpoints", &admin)
            .json(&json!({ "url": receiver }))
            .send()
            .await?
            .json()
            .await?;
        let endpoint = created["id"].as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(created["secret"].is_string(), "endpoint not created: {created}");
        with.push(load(&format!("round {round}: one endpoint, every event")).await?);
        let drained = Instant::now();
        while pending().await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "round {round}: queue drained {:.2} s after the load ended",
            drained.elapsed().as_secs_f64()
        );
        if round == 1 {
            call(
                reqwest::Method::DELETE,
                &format!("/v1/webhook-endpoints/{endpoint}"),
                &admin,
            )
            .send()
            .await?;
        }
    }
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
        .fetch_one(&pool)
        .await?;
    let (a, b): (f64, f64) = (without.iter().sum(), with.iter().sum());
    println!("with / without: {:.2} ({sent} messages delivered)", b / a);

    // Latency, one approval at a time (the queue is empty).
    arrivals.lock().unwrap_or_else(|e| e.into_inner()).clear();
    for n in 0..approvals {
        let (proposer, peer) = &pairs[n % pairs.len()];
        pair(proposer, peer).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut latencies: Vec<f64> = loop {
        let got: Vec<f64> = arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|(_, body)| body["type"] == "proposal.approved")
            .filter_map(|(at, body)| {
                let committed = DateTime::parse_from_rfc3339(body["timestamp"].as_str()?).ok()?;
                Some((*at - committed.with_timezone(&Utc)).num_microseconds()? as f64 / 1000.0)
            })
            .collect();
        if got.len() >= approvals || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "approval → receipt over {} approvals: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
