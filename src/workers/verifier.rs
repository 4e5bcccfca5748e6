//! Keeps this replica's verification of the audit chain current: the links
//! chained since it last looked every `audit.verify_interval_secs`, the
//! whole chain again every `audit.full_check_interval_secs`; and writes the
//! chain head to the log and a metric every `audit.head_export_interval_secs`,
//! so a copy of it exists outside the database without anyone asking.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::app;
use crate::state::AppState;

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let audit = &state.settings.audit;
    let period = Duration::from_secs(audit.verify_interval_secs);
    let export_every = Duration::from_secs(audit.head_export_interval_secs);
    let mut exported: Option<Instant> = None;
    super::every(period, stop, || {
        let state = state.clone();
        let due = exported.is_none_or(|at| at.elapsed() >= export_every);
        if due {
            exported = Some(Instant::now());
        }
        async move {
            match app::audit::verify_in_background(&state).await {
                Ok(progress) => {
                    if due && let Some((seq, hash)) = &progress.head {
                        metrics::gauge!("audit_chain_head_seq").set(*seq as f64);
                        tracing::info!(
                            seq,
                            chain_hash = hex::encode(hash),
                            valid = progress.broken.is_none(),
                            "audit chain head (keep it: it anchors a later verification)"
                        );
                    }
                }
                Err(error) => tracing::warn!(error = format!("{error:#}"), "verifying the audit chain failed"),
            }
        }
    })
    .await;
}
