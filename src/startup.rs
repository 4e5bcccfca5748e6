//! Builds the application: database (embedded or configured), migrations,
//! router, background workers, and the graceful shutdown that stops them in
//! order. Tests start this very same application on a database of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app;
use crate::config::Settings;
use crate::db::{self, Database};
use crate::sealing::{KeySource, Sealer};
use crate::state::AppState;
use crate::workers;
use crate::{http, web};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    database: Option<Database>,
}

impl Application {
    /// Opens the configured database (starting the embedded cluster when none
    /// is configured), migrates it and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database = Database::open(&settings).await?;
        let pool = match database.pool(&settings).await {
            Ok(pool) => pool,
            Err(error) => {
                database.close().await;
                return Err(error.context("connecting to the database"));
            }
        };
        if settings.database.migrate_at_start {
            db::migrate(&pool).await.context("running migrations")?;
        } else {
            db::check_migrated(&pool).await?;
        }
        Self::with_pool(settings, pool, Some(database)).await
    }

    /// The application on an existing, migrated pool (tests use this).
    pub async fn with_pool(settings: Settings, pool: PgPool, database: Option<Database>) -> anyhow::Result<Self> {
        let policy = settings.approval_policy()?;
        let addr = settings.server_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr} (setting `server.addr`)"))?;
        let rate_limit = crate::state::token_rate_limit(&settings);
        let secrets = &settings.secrets;
        let (sealer, source) = Sealer::load(&secrets.key, &secrets.previous_keys, &secrets.key_file)?;
        match source {
            KeySource::Setting => {}
            KeySource::File(path) => {
                tracing::info!(key_file = %path.display(), "secrets sealed with the key file's key")
            }
            KeySource::CreatedFile(path) => tracing::warn!(
                key_file = %path.display(),
                "created a new key for sealing stored secrets; back it up with the database, \
                 and give every replica the same key (secrets.key)"
            ),
        }
        if !settings.chain_keying().is_keyed() {
            tracing::warn!(
                "the audit chain is not keyed (audit.chain_key is not set): whoever owns the tables \
                 can rewrite an event and recompute the chain so that it still verifies; see \
                 \"Set `audit.chain_key`\" under \"The audit log\" in the README"
            );
        }
        app::sealing::seal_stored(&pool, &sealer)
            .await
            .context("sealing the stored secrets (setting `secrets.key`)")?;
        let export_slots = Arc::new(tokio::sync::Semaphore::new(settings.reports.max_concurrent_exports));
        let state = AppState {
            pool,
            settings: Arc::new(settings),
            policy: Arc::new(policy),
            metrics: metrics_handle(),
            token_usage: Arc::default(),
            activity: Arc::default(),
            clock: Arc::default(),
            wakes: Arc::default(),
            rate_limit,
            database_status: database.as_ref().and_then(|d| d.cluster.as_ref()).map(|c| c.status()),
            audit_progress: Arc::default(),
            sealer: Arc::new(sealer),
            export_slots,
        };
        Ok(Application {
            listener,
            state,
            database,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish (up to `server.shutdown_grace_secs`), stops the workers,
    /// closes the pool and stops the embedded cluster.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            database,
        } = self;
        let grace = Duration::from_secs(state.settings.server.shutdown_grace_secs);
        tracing::info!(addr = %listener.local_addr()?, "countersign listening");

        let (stop_tx, stop_rx) = watch::channel(false);
        let worker_handles = workers::spawn_all(&state, stop_rx.clone());

        let server = &state.settings.server;
        let limits = http::serve::Limits {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(server.idle_timeout_secs),
            max_connections: server.max_connections,
        };
        let server = http::serve::serve(
            listener,
            http::router(state.clone(), web::router()),
            limits,
            stop_rx.clone(),
        );
        let mut server = tokio::spawn(server);
        let result = tokio::select! {
            result = &mut server => result,
            () = shutdown => {
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stop_tx.send(true);
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!(seconds = grace.as_secs(), "in-flight requests did not finish in time");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        let _ = stop_tx.send(true);
        for handle in worker_handles {
            let _ = handle.await;
        }
        state.pool.close().await;
        if let Some(database) = database {
            database.close().await;
        }
        result.context("server task")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// What each metric means: the `# HELP` lines of `/metrics`.
fn describe_metrics() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status"
    );
    metrics::describe_counter!(
        "http_connections_refused_total",
        "Connections answered 503 and closed because server.max_connections were open"
    );
    metrics::describe_counter!(
        "embedded_postgres_restarts_total",
        "Times the embedded PostgreSQL died under the service and was started again"
    );
    metrics::describe_gauge!(
        "audit_chain_head_seq",
        "Position of the newest audit chain link this replica verified (see the log for its hash)"
    );
    metrics::describe_counter!(
        "webhook_deliveries_total",
        "Webhook attempts made by this replica, by endpoint id and outcome (succeeded, retry, failed, claim_lost)"
    );
    metrics::describe_histogram!(
        "webhook_attempt_duration_seconds",
        metrics::Unit::Seconds,
        "Time from sending a webhook to its answer (or to the error)"
    );
    metrics::describe_gauge!(
        "webhook_queue_depth",
        "Pending webhook deliveries to enabled endpoints (due, waiting to retry, or in flight)"
    );
    metrics::describe_histogram!(
        "time_to_first_cosign_seconds",
        metrics::Unit::Seconds,
        "Time from filing a proposal to its first endorsement (p50/p90 from the buckets)"
    );
    metrics::describe_counter!(
        "cosign_requests_total",
        "Agents asked to co-sign, by reason (requested on filing, reminder, reassigned by a manager)"
    );
    metrics::describe_counter!(
        "cosign_reminders_total",
        "Proposals reminded: nobody decided within routing.remind_after_secs"
    );
    metrics::describe_counter!(
        "cosign_escalations_total",
        "Proposals escalated to managers: nobody decided within routing.escalate_after_secs"
    );
    metrics::describe_counter!(
        "solo_approvals_total",
        "Proposals their proposer approved alone (routing.act_alone)"
    );
    metrics::describe_gauge!(
        "webhook_oldest_due_seconds",
        "How long the oldest due, unclaimed webhook delivery has waited (0 when none is due)"
    );
}

/// The process-wide Prometheus recorder (one per process; tests share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                // A customer waits seconds to minutes for a second person.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("time_to_first_cosign_seconds".to_owned()),
                    &[5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0],
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}
