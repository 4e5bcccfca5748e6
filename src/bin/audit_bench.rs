//! How long verifying the audit chain takes on a large log. Fills a fresh
//! database with N chained events (default 1,000,000), then times the
//! background verifier's full pass and the `/v1/audit/verify` answers a
//! client sees: after the background pass, with new events since, and
//! `full=true`. Prints figures; asserts nothing.
//!
//! `DATABASE_URL=postgres://… cargo run --release --bin audit_bench [-- N]`
//! (the server is used to create and drop a database of its own).

use std::str::FromStr;
use std::time::Instant;

use countersign::app::audit::{self, Scope};
use countersign::config::Settings;
use countersign::domain::audit::{ActorIds, Anchor, EventContent};
use countersign::domain::event::EventType;
use countersign::startup::Application;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

const BATCH: usize = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let url = std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("set DATABASE_URL to a server"))?;
    let server = PgConnectOptions::from_str(&url)?;
    let name = format!("countersign_audit_bench_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect_with(&server).await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await?;
    let result = run(server.clone().database(&name), events).await;
    admin
        .execute(AssertSqlSafe(format!("DROP DATABASE \"{name}\" WITH (FORCE)")))
        .await?;
    result
}

async fn run(options: PgConnectOptions, events: usize) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await?;
    countersign::db::migrate(&pool).await?;

    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let batch: Vec<EventContent> = (0..BATCH.min(events - written))
            .map(|i| {
                EventContent::new(
                    EventType::ProposalCreated,
                    Uuid::now_v7(),
                    ActorIds::default(),
                    json!({ "after": { "status": "pending", "summary": "bench", "n": written + i } }),
                    chrono::Utc::now(),
                )
            })
            .collect();
        let mut tx = pool.begin().await?;
        countersign::db::audit::record(&mut tx, &batch, &[]).await?;
        tx.commit().await?;
        written += batch.len();
    }
    println!("wrote {events} events in {:.1} s", started.elapsed().as_secs_f64());

    let mut settings = Settings::load_from(std::path::Path::new("/nonexistent"), Default::default())?;
    settings.server.addr = "127.0.0.1:0".to_owned();
    // The workers stay idle: this measures the calls below, one at a time.
    settings.audit.verify_interval_secs = 86_400;
    settings.audit.sequencer_interval_ms = 86_400_000;
    let keying = settings.chain_keying();
    let started = Instant::now();
    loop {
        let mut tx = pool.begin().await?;
        let chained = countersign::db::audit::chain_batch(&mut tx, BATCH as i64, &keying).await?;
        tx.commit().await?;
        if chained < BATCH {
            break;
        }
    }
    println!("chained them in {:.1} s", started.elapsed().as_secs_f64());
    // What autovacuum does to a table this size soon after: the counts of
    // the completeness check then read the indexes only.
    pool.execute("VACUUM (ANALYZE) audit_events, audit_chain, audit_unchained")
        .await?;

    let application = Application::with_pool(settings, pool.clone(), None).await?;
    let state = application.state().clone();
    let started = Instant::now();
    let progress = audit::verify_in_background(&state).await?;
    let full_pass = started.elapsed();
    println!(
        "background full pass: {} links in {:.2} s ({:.1} µs per event), broken: {}",
        progress.events_checked,
        full_pass.as_secs_f64(),
        full_pass.as_secs_f64() * 1e6 / progress.events_checked.max(1) as f64,
        progress.broken.is_some()
    );

    let timed = |label: String, scope: Scope| {
        let state = state.clone();
        async move {
            let started = Instant::now();
            let verified = audit::verify(&state, None, scope).await?;
            println!(
                "/v1/audit/verify {label}: {:.0} ms, valid {}, {} links, complete {}",
                started.elapsed().as_secs_f64() * 1000.0,
                verified.valid(),
                verified.report.events_checked,
                verified.complete
            );
            anyhow::Ok(verified)
        }
    };
    timed("after the background pass".into(), Scope::SinceVerified).await?;
    timed("again".into(), Scope::SinceVerified).await?;
    for round in 0..3 {
        let batch: Vec<EventContent> = (0..1000)
            .map(|i| {
                EventContent::new(
                    EventType::ProposalCreated,
                    Uuid::now_v7(),
                    ActorIds::default(),
                    json!({ "after": { "status": "pending", "round": round, "n": i } }),
                    chrono::Utc::now(),
                )
            })
            .collect();
        let mut tx = pool.begin().await?;
        countersign::db::audit::record(&mut tx, &batch, &[]).await?;
        countersign::db::audit::chain_batch(&mut tx, 1000, &keying).await?;
        tx.commit().await?;
    }
    timed("with 3,000 links chained since".into(), Scope::SinceVerified).await?;
    // A full check, page by page (audit.full_check_page_links each), each
    // page resuming from the head the previous one answered.
    let started = Instant::now();
    let mut resume = None;
    for page in 1.. {
        let verified = timed(format!("full=true, page {page}"), Scope::Full { resume }).await?;
        if verified.complete || !verified.valid() {
            break;
        }
        resume = verified.report.head.map(|(seq, chain_hash)| Anchor { seq, chain_hash });
    }
    println!(
        "full check, every page: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
