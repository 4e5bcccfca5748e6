//! The shared application state: what the doors (the REST API, the inbound
//! helpdesk webhooks, the web pages), the workers and the application layer
//! all reach. Nothing here knows HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Settings;
use crate::db::embedded::ClusterStatus;
use crate::domain::audit::VerifiedChain;
use crate::domain::policy::ApprovalPolicy;
use crate::sealing::Sealer;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub policy: Arc<ApprovalPolicy>,
    pub metrics: PrometheusHandle,
    pub token_usage: Arc<TokenUsage>,
    /// Poked after commits: the sequencer and the delivery worker.
    pub wakes: Arc<Wakes>,
    /// Requests per token, when `server.rate_limit_per_second` is set.
    pub rate_limit: Option<Arc<TokenRateLimit>>,
    /// How the embedded database stands, when the service runs one.
    pub database_status: Option<Arc<ClusterStatus>>,
    /// How much of the audit chain this replica has verified.
    pub audit_progress: Arc<Mutex<VerifiedChain>>,
    /// Seals and opens the secrets stored in the database.
    pub sealer: Arc<Sealer>,
    /// Exceptions exports running at once (`reports.max_concurrent_exports`).
    pub export_slots: Arc<tokio::sync::Semaphore>,
    /// When each person's activity was last written (availability).
    pub activity: Arc<TokenUsage>,
    /// The time the rules see.
    pub clock: Arc<Clock>,
}

/// The time the rules see: the real time, which tests move forward to see
/// a wait of minutes pass without sleeping through it.
#[derive(Debug, Default)]
pub struct Clock {
    ahead_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this replica's time forward (tests only: it never goes back).
    pub fn advance(&self, by: chrono::Duration) {
        self.ahead_ms.fetch_add(by.num_milliseconds().max(0), Ordering::Relaxed);
    }
}

/// What a commit wakes in this replica.
#[derive(Debug, Default)]
pub struct Wakes {
    /// New audit events: the sequencer chains them.
    pub audit: tokio::sync::Notify,
    /// New webhook deliveries (or a redelivery): the delivery worker.
    pub delivery: tokio::sync::Notify,
}

/// How often each token may call, per replica.
pub type TokenRateLimit = governor::DefaultKeyedRateLimiter<Uuid>;

/// The limiter the settings ask for, if any.
pub fn token_rate_limit(settings: &Settings) -> Option<Arc<TokenRateLimit>> {
    let per_second = std::num::NonZeroU32::new(settings.server.rate_limit_per_second)?;
    let burst = std::num::NonZeroU32::new(settings.server.rate_limit_burst).unwrap_or(per_second);
    let quota = governor::Quota::per_second(per_second).allow_burst(burst);
    Some(Arc::new(governor::RateLimiter::keyed(quota)))
}

/// Remembers when this replica last wrote something down for each key (a
/// token's `last_used_at`, a person's activity), so a busy caller costs one
/// write a minute, not one per request.
#[derive(Debug, Default)]
pub struct TokenUsage {
    written: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

const USAGE_WRITE_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

impl TokenUsage {
    /// True when this key's use at `now` should be written (and notes that it is).
    pub fn should_write(&self, key: Uuid, now: DateTime<Utc>) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written.get(&key) {
            Some(last) if now - *last < USAGE_WRITE_INTERVAL => false,
            _ => {
                written.insert(key, now);
                true
            }
        }
    }
}
