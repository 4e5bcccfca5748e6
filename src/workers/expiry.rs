//! Marks pending proposals past their deadline `expired`, with an audit
//! event each, and forgets idempotency keys older than a day. Replicas share
//! the work through `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use tokio::sync::watch;

use crate::db;
use crate::http::AppState;

const BATCH: i64 = 200;

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.settings.proposals.expiry_interval_secs);
    super::every(period, stop, || async {
        if let Err(error) = expire_overdue(&state).await {
            tracing::warn!(error = format!("{error:#}"), "expiring overdue proposals failed");
        }
    })
    .await;
}

/// Expires everything overdue now; answers how many proposals it expired.
pub async fn expire_overdue(state: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = state.pool.begin().await?;
        let now = crate::domain::audit::storable_time(chrono::Utc::now());
        let expired = db::proposals::expire_overdue(&mut tx, now, None, BATCH).await?;
        let events: Vec<_> = expired
            .iter()
            .map(|(id, proposer_id, expires_at)| db::proposals::expired_event(*id, *proposer_id, *expires_at))
            .collect();
        if !events.is_empty() {
            db::audit::record(&mut tx, &events).await?;
        }
        db::idempotency::forget_older_than_a_day(&mut tx).await?;
        tx.commit().await?;
        total += expired.len();
        if !events.is_empty() {
            state.audit_wake.notify_one();
        }
        if expired.len() < BATCH as usize {
            return Ok(total);
        }
    }
}
