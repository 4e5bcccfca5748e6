//! The audit sequencer: one at a time across all replicas (elected with a
//! PostgreSQL advisory lock held on a dedicated connection), it links
//! committed events into the chain in batches, every few hundred
//! milliseconds and whenever a replica signals new events.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, Executor};
use tokio::sync::watch;

use crate::db;
use crate::state::AppState;

/// The advisory lock key of the sequencer election ("counter" in ASCII).
const LEADER_LOCK: i64 = 0x0063_6f75_6e74_6572;
pub const CHANNEL: &str = "countersign_audit";
const BATCH: i64 = 1000;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.settings.audit.sequencer_interval_ms);
    loop {
        if let Err(error) = lead(&state, &mut stop, interval).await {
            tracing::warn!(error = format!("{error:#}"), "audit sequencer interrupted; retrying");
        }
        tokio::select! {
            () = super::stopped(&mut stop) => return,
            () = tokio::time::sleep(interval.max(Duration::from_millis(500))) => {}
        }
    }
}

/// Tries to become the sequencer; while it is, chains until told to stop.
async fn lead(state: &AppState, stop: &mut watch::Receiver<bool>, interval: Duration) -> anyhow::Result<()> {
    let Some(mut leader) = db::hold_advisory_lock(&state.pool, LEADER_LOCK).await? else {
        return Ok(());
    };
    tracing::debug!("this replica sequences the audit chain");
    let keying = state.settings.chain_keying();
    let mut listener = PgListener::connect_with(&state.pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        loop {
            let mut tx = state.pool.begin().await?;
            let chained = db::audit::chain_batch(&mut tx, BATCH, &keying).await?;
            tx.commit().await?;
            if chained < BATCH as usize {
                break;
            }
        }
        tokio::select! {
            () = super::stopped(stop) => {
                leader.execute("SELECT pg_advisory_unlock_all()").await?;
                leader.close().await?;
                return Ok(());
            }
            notification = listener.recv() => { notification?; }
            () = tokio::time::sleep(interval) => {
                // Still holding the lock means the leader connection lives.
                leader.execute("SELECT 1").await?;
            }
        }
    }
}

/// Tells every replica's sequencer that events were written: at most one
/// NOTIFY per 50 ms, sent outside request transactions, because a NOTIFY
/// inside them would serialise every commit on PostgreSQL's queue lock.
pub async fn notify_writes(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = super::stopped(&mut stop) => return,
            () = state.wakes.audit.notified() => {}
        }
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&state.pool)
            .await
        {
            tracing::debug!(%error, "could not signal the audit sequencer");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
