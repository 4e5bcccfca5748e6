//! Marks pending proposals past their deadline `expired` (the same use case
//! a review runs first when it finds one), and forgets idempotency keys
//! older than a day and inbound deliveries older than
//! `inbound.keep_deliveries_days`, and web sessions and sign-in links a week
//! after they stopped working. Replicas share the work through `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use tokio::sync::watch;

use crate::app;
use crate::db;
use crate::state::AppState;

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.settings.proposals.expiry_interval_secs);
    super::every(period, stop, || async {
        if let Err(error) = app::proposals::expire_overdue(&state).await {
            tracing::warn!(error = format!("{error:#}"), "expiring overdue proposals failed");
        }
        if let Err(error) = db::idempotency::forget_older_than_a_day(&state.pool).await {
            tracing::warn!(error = format!("{error:#}"), "forgetting old idempotency keys failed");
        }
        let days = state.settings.inbound.keep_deliveries_days;
        if let Err(error) = db::inbound::forget_older_than(&state.pool, days).await {
            tracing::warn!(error = format!("{error:#}"), "forgetting old inbound deliveries failed");
        }
        // Ended sessions and spent links are kept a week for investigations.
        if let Err(error) = db::web::forget_older_than(&state.pool, 7).await {
            tracing::warn!(error = format!("{error:#}"), "forgetting old web sessions failed");
        }
    })
    .await;
}
