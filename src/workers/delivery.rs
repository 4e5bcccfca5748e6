//! The webhook delivery worker, one per replica: claims due deliveries
//! (any replica may; `FOR UPDATE SKIP LOCKED` and a lease keep them apart),
//! sends up to `webhooks.max_in_flight` at once (at most
//! `webhooks.max_in_flight_per_endpoint` to one endpoint), and looks again when this
//! replica commits new deliveries, when an attempt ends, and every
//! `webhooks.poll_interval_ms` (for retries coming due and other
//! replicas' commits). Also keeps the queue metrics and the retention.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::app;
use crate::app::webhooks::Attempted;
use crate::db;
use crate::state::AppState;
use crate::webhooks::sender::Sender;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let settings = state.settings.webhooks.clone();
    let sender = match Sender::new(settings.sender_options()) {
        Ok(sender) => Arc::new(sender),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "webhook delivery cannot start");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(settings.max_in_flight));
    let poll = Duration::from_millis(settings.poll_interval_ms);
    let lease_secs = settings.lease().as_secs_f64();
    // Finished attempts come back here, each with its slot, and are
    // recorded in batches; a slot is free again once its attempt is recorded.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Attempted, OwnedSemaphorePermit)>();
    let mut in_flight = JoinSet::new();
    let per_endpoint_cap = settings.max_in_flight_per_endpoint;
    let mut per_endpoint: HashMap<Uuid, usize> = HashMap::new();
    let mut upkept = Instant::now() - Duration::from_secs(3600);
    loop {
        if *stop.borrow() {
            break;
        }
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            let busy: Vec<Uuid> = per_endpoint
                .iter()
                .filter(|(_, sending)| **sending >= per_endpoint_cap)
                .map(|(endpoint, _)| *endpoint)
                .collect();
            let taken = match state.pool.acquire().await {
                Ok(mut conn) => db::webhooks::claim_due(&mut conn, free as i64, lease_secs, &busy).await,
                Err(error) => Err(error),
            };
            match taken {
                Ok(deliveries) => {
                    claimed = deliveries.len();
                    let mut over_cap = Vec::new();
                    for delivery in deliveries {
                        let sending = per_endpoint.entry(delivery.endpoint_id).or_default();
                        if *sending >= per_endpoint_cap {
                            over_cap.push((delivery.delivery_id, delivery.claim));
                            continue;
                        }
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            over_cap.push((delivery.delivery_id, delivery.claim));
                            continue;
                        };
                        *sending += 1;
                        let (sender, sealer, done) = (sender.clone(), state.sealer.clone(), done_tx.clone());
                        in_flight.spawn(async move {
                            let attempted = app::webhooks::attempt(&sender, &sealer, delivery).await;
                            let _ = done.send((attempted, slot));
                        });
                    }
                    release(&state, &over_cap).await;
                }
                Err(error) => tracing::warn!(error = format!("{error:#}"), "claiming webhook deliveries failed"),
            }
        }
        if upkept.elapsed() >= Duration::from_secs(5) {
            upkeep(&state).await;
            upkept = Instant::now();
        }
        while in_flight.try_join_next().is_some() {}
        // A full batch: more may be due at once.
        if claimed > 0 && claimed == free {
            continue;
        }
        tokio::select! {
            () = super::stopped(&mut stop) => break,
            Some(first) = done_rx.recv() => record_finished(&state, first, &mut done_rx, &mut per_endpoint).await,
            () = state.wakes.delivery.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
    // Attempts in flight end within their timeout; record them rather than
    // leave them to their lease.
    while in_flight.join_next().await.is_some() {}
    drop(done_tx);
    if let Some(first) = done_rx.recv().await {
        record_finished(&state, first, &mut done_rx, &mut per_endpoint).await;
    }
}

/// Gives back deliveries claimed beyond an endpoint's share (one claim
/// takes what is due in order, whoever it is for).
async fn release(state: &AppState, over_cap: &[(Uuid, Uuid)]) {
    let Some((_, claim)) = over_cap.first() else {
        return;
    };
    let ids: Vec<Uuid> = over_cap.iter().map(|(id, _)| *id).collect();
    let released = match state.pool.acquire().await {
        Ok(mut conn) => db::webhooks::release(&mut conn, &ids, *claim).await,
        Err(error) => Err(error),
    };
    if let Err(error) = released {
        tracing::debug!(%error, "giving back webhook deliveries failed; their lease ends them");
    }
}

/// Records `first` and every other attempt finished by now, together.
async fn record_finished(
    state: &AppState,
    first: (Attempted, OwnedSemaphorePermit),
    more: &mut mpsc::UnboundedReceiver<(Attempted, OwnedSemaphorePermit)>,
    per_endpoint: &mut HashMap<Uuid, usize>,
) {
    let mut finished = vec![first];
    while let Ok(next) = more.try_recv() {
        finished.push(next);
    }
    let (attempts, _slots): (Vec<Attempted>, Vec<OwnedSemaphorePermit>) = finished.into_iter().unzip();
    for attempt in &attempts {
        if let Some(sending) = per_endpoint.get_mut(&attempt.claimed.endpoint_id) {
            *sending = sending.saturating_sub(1);
        }
    }
    per_endpoint.retain(|_, sending| *sending > 0);
    for attempt in &attempts {
        metrics::histogram!("webhook_attempt_duration_seconds").record(attempt.sent.duration.as_secs_f64());
    }
    match app::webhooks::record(state, &attempts).await {
        Ok(outcomes) => {
            for (endpoint, delivered) in outcomes {
                let labels = [
                    ("endpoint", endpoint.to_string()),
                    ("outcome", delivered.as_str().to_owned()),
                ];
                metrics::counter!("webhook_deliveries_total", &labels).increment(1);
            }
        }
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            attempts = attempts.len(),
            "recording webhook attempts failed; they are sent again when their lease ends"
        ),
    }
}

/// Queue metrics, and the retention of finished messages.
async fn upkeep(state: &AppState) {
    let Ok(mut conn) = state.pool.acquire().await else {
        return;
    };
    let now = Utc::now();
    match db::webhooks::queue_stats(&mut conn, now).await {
        Ok((pending, oldest_due_secs)) => {
            metrics::gauge!("webhook_queue_depth").set(pending as f64);
            metrics::gauge!("webhook_oldest_due_seconds").set(oldest_due_secs);
        }
        Err(error) => tracing::debug!(%error, "reading the webhook queue failed"),
    }
    let retention = chrono::Duration::days(i64::from(state.settings.webhooks.retention_days));
    if let Err(error) = db::webhooks::forget_finished_before(&mut conn, now - retention).await {
        tracing::debug!(%error, "removing old webhook messages failed");
    }
}
