//! Background work that runs in every replica next to the HTTP server. Each
//! worker stops when the shutdown flag is raised, so shutdown can wait for it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub mod delivery;
pub mod expiry;
pub mod rollups;
pub mod routing;
pub mod sequencer;
pub mod verifier;

pub fn spawn_all(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(metrics_upkeep(state.clone(), stop.clone())),
        tokio::spawn(sequencer::run(state.clone(), stop.clone())),
        tokio::spawn(sequencer::notify_writes(state.clone(), stop.clone())),
        tokio::spawn(verifier::run(state.clone(), stop.clone())),
        tokio::spawn(expiry::run(state.clone(), stop.clone())),
        tokio::spawn(routing::run(state.clone(), stop.clone())),
        tokio::spawn(rollups::run(state.clone(), stop.clone())),
        tokio::spawn(delivery::run(state.clone(), stop)),
    ]
}

/// Runs `tick` every `period` until the shutdown flag is raised.
pub async fn every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => tick().await,
            () = stopped(&mut stop) => return,
        }
    }
}

/// Completes once the shutdown flag is raised.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Histograms buffer samples until rendered, and the rate limiter keeps a
/// bucket per token seen; upkeep bounds both when nobody scrapes /metrics
/// and tokens come and go.
async fn metrics_upkeep(state: AppState, stop: watch::Receiver<bool>) {
    every(Duration::from_secs(5), stop, || {
        state.metrics.run_upkeep();
        if let Some(limit) = &state.rate_limit {
            limit.retain_recent();
        }
        async {}
    })
    .await;
}
