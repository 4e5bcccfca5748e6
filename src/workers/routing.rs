//! Reminds and escalates proposals nobody decided in time (see
//! `app::routing`), every `routing.interval_ms`. Replicas share the work
//! through `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use tokio::sync::watch;

use crate::app;
use crate::state::AppState;

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(state.settings.routing.interval_ms);
    super::every(period, stop, || async {
        if let Err(error) = app::routing::advance(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "reminding and escalating waiting proposals failed"
            );
        }
    })
    .await;
}
