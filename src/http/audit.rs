//! `GET /v1/audit/verify` (admin): recomputes every event's hash and every
//! chain link in `seq` order, reports the first broken one, and names events
//! left unchained longer than `audit.unchained_lag_secs`.
//!
//! A chain proves nothing about links cut off its newest end. For that the
//! answer names its `head`; kept outside Countersign and passed back later as
//! `anchor_seq` + `anchor_hash`, it shows that nothing up to it was removed or
//! rewritten since.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::Query;
use crate::app::Actor;
use crate::db;
use crate::domain::audit::{Anchor, ChainCheck};
use crate::domain::employee::Role;
use crate::domain::fields::FieldErrors;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// True when every chained event and link recomputes.
    pub valid: bool,
    pub events_checked: u64,
    /// The first event whose content or link does not recompute; null when
    /// the chain is whole but ends before the anchor (`broken_reason` says so).
    pub first_broken_event_id: Option<Uuid>,
    /// Why that link is broken.
    pub broken_reason: Option<String>,
    /// Events committed but not chained within the configured lag.
    pub unchained_overdue: Vec<Uuid>,
    /// The newest link that verified. Keep it outside Countersign and pass
    /// it back as the anchor to detect links removed from the end.
    pub head: Option<ChainHead>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainHead {
    pub seq: i64,
    /// Hex SHA-256.
    pub chain_hash: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// `head.seq` of an earlier verification; with `anchor_hash`.
    #[param(minimum = 1)]
    pub anchor_seq: Option<i64>,
    /// `head.chain_hash` of that verification (64 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub anchor_hash: Option<String>,
}

impl VerifyQuery {
    fn anchor(&self) -> Result<Option<Anchor>, ApiError> {
        match (self.anchor_seq, self.anchor_hash.as_deref()) {
            (None, None) => Ok(None),
            (Some(seq), Some(hash)) => {
                let mut errors = FieldErrors::new();
                if seq < 1 {
                    errors.add("anchor_seq", "must be 1 or more");
                }
                let chain_hash = hex::decode(hash).ok().filter(|bytes| bytes.len() == 32);
                if chain_hash.is_none() {
                    errors.add("anchor_hash", "must be 64 hex digits (a SHA-256)");
                }
                errors.finish()?;
                Ok(chain_hash.map(|chain_hash| Anchor { seq, chain_hash }))
            }
            (Some(_), None) => Err(FieldErrors::single("anchor_hash", "is required with anchor_seq").into()),
            (None, Some(_)) => Err(FieldErrors::single("anchor_seq", "is required with anchor_hash").into()),
        }
    }
}

/// Recompute the audit chain.
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    params(VerifyQuery),
    responses(
        (status = 200, body = Verification), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn verify_audit_chain(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<VerifyQuery>,
) -> Result<axum::Json<Verification>, ApiError> {
    actor.require(Role::Admin)?;
    let anchor = query.anchor()?;
    let mut conn = state.pool.acquire().await?;
    let mut check = ChainCheck::new(anchor);
    db::audit::walk_chain(&mut conn, |link| check.check(link)).await?;
    let report = check.finish();
    let lag = chrono::Duration::seconds(state.settings.audit.unchained_lag_secs as i64);
    let unchained_overdue = db::audit::overdue_unchained(&mut conn, lag).await?;
    Ok(axum::Json(Verification {
        valid: report.broken_reason.is_none(),
        events_checked: report.events_checked,
        first_broken_event_id: report.first_broken_event_id,
        broken_reason: report.broken_reason,
        unchained_overdue,
        head: report.head.map(|(seq, hash)| ChainHead {
            seq,
            chain_hash: hex::encode(hash),
        }),
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_audit_chain))
}
