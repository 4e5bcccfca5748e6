//! The shared application state: what the doors (HTTP today; inbound
//! webhooks and web pages next), the workers and the application layer all
//! reach. Nothing here knows HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Remembers when this replica last wrote `last_used_at` for each token, so
/// a busy token costs one write a minute, not one per request.
#[derive(Debug, Default)]
pub struct TokenUsage {
    written: Mutex<HashMap<Uuid, Instant>>,
}

const USAGE_WRITE_INTERVAL: Duration = Duration::from_secs(60);

impl TokenUsage {
    /// True when this token's use should be written now (and notes that it is).
    pub fn should_write(&self, token_id: Uuid) -> bool {
        let now = Instant::now();
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written.get(&token_id) {
            Some(last) if now.duration_since(*last) < USAGE_WRITE_INTERVAL => false,
            _ => {
                written.insert(token_id, now);
                true
            }
        }
    }
}
