//! Liveness, readiness and the Prometheus metrics page: open to anyone, no
//! token, nothing written.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests; `failing` when its embedded
    /// database cannot be started again (restart the service).
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok`, `restarting` (the embedded database is being started again),
    /// `unreachable` or `no answer`; the details are in the service's log.
    pub database: &'static str,
}

/// The process is alive (and, with the embedded database, able to keep it
/// running: after repeated failed restarts this answers 503).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, axum::Json<Health>) {
    if state.database_status.as_ref().is_some_and(|status| status.is_failing()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health { status: "failing" }),
        );
    }
    (StatusCode::OK, axum::Json(Health { status: "ok" }))
}

/// The service can reach its database.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
pub async fn get_readiness(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    // Known down: say so at once rather than wait for a connection.
    if state.database_status.as_ref().is_some_and(|status| status.is_down()) {
        return unavailable("restarting");
    }
    let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            axum::Json(Readiness {
                status: "ready",
                database: "ok",
            }),
        ),
        Ok(Err(error)) => {
            // The database's words stay in the log: readiness is public.
            tracing::warn!(%error, "readiness check failed");
            unavailable("unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness check failed: no answer within 2 s");
            unavailable("no answer")
        }
    }
}

fn unavailable(reason: &'static str) -> (StatusCode, axum::Json<Readiness>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(Readiness {
            status: "unavailable",
            database: reason,
        }),
    )
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_readiness))
        .routes(routes!(get_metrics))
}
