//! Keeps the stored figures of settled days and months (`report_cells`)
//! current: every `reports.rollup_interval_secs`, one replica at a time
//! drops the periods whose proposals changed and builds what is missing,
//! a year's worth of days at most per pass, and says they are current for
//! three intervals. With an interval of 0 nothing is stored, and what was
//! stored is dropped.

use std::time::Duration;

use tokio::sync::watch;

use crate::reports::rollups;
use crate::state::AppState;

/// How long the figures of a pass count as current: three intervals, so
/// that a pass or two may fail or run long before reports stop reading them.
pub fn fresh_for(interval_secs: u64) -> Duration {
    Duration::from_secs(interval_secs.saturating_mul(3))
}

/// Days built per pass at most, so that a first pass over years of history
/// does not hold the builder for long.
const DAYS_PER_PASS: i64 = 366;

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let secs = state.settings.reports.rollup_interval_secs;
    if secs == 0 {
        if let Err(error) = rollups::drop_all(&state.pool).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "dropping the stored report figures failed"
            );
        }
        return;
    }
    super::every(Duration::from_secs(secs), stop, || async {
        match rollups::build(&state.pool, DAYS_PER_PASS, fresh_for(secs)).await {
            Ok(Some(built)) if built != rollups::Built::default() => {
                tracing::info!(
                    invalidated = built.invalidated,
                    days = built.days,
                    months = built.months,
                    "stored report figures"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = format!("{error:#}"), "storing report figures failed"),
        }
    })
    .await;
}
