//! `GET /v1/audit/verify` (admin): recomputes every event's hash and every
//! chain link in `seq` order, reports the first broken one, and names events
//! left unchained longer than `audit.unchained_lag_secs`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, Problem};
use crate::db;
use crate::domain::audit::{GENESIS, chain_hash};
use crate::domain::employee::Role;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// True when every chained event and link recomputes.
    pub valid: bool,
    pub events_checked: u64,
    /// The first event whose content or link does not recompute.
    pub first_broken_event_id: Option<Uuid>,
    /// Why that link is broken.
    pub broken_reason: Option<String>,
    /// Events committed but not chained within the configured lag.
    pub unchained_overdue: Vec<Uuid>,
}

/// Recompute the audit chain.
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Verification), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn verify_audit_chain(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<axum::Json<Verification>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let mut checked = 0u64;
    let mut previous = GENESIS.to_vec();
    let mut broken: Option<(Uuid, String)> = None;
    db::audit::walk_chain(&mut conn, |link| {
        checked += 1;
        let reason = if link.seq != checked as i64 {
            Some(format!("chain position {} follows {}", link.seq, checked - 1))
        } else {
            match (&link.content, &link.content_hash) {
                (Some(content), Some(stored_hash)) => {
                    let recomputed = content.hash();
                    if recomputed.as_slice() != stored_hash.as_slice() {
                        Some("the event's content does not match its hash".to_owned())
                    } else if chain_hash(&previous, &recomputed).as_slice() != link.chain_hash.as_slice() {
                        Some("the chain link does not follow from the previous one".to_owned())
                    } else {
                        None
                    }
                }
                _ => Some("the chained event is missing".to_owned()),
            }
        };
        previous = link.chain_hash.clone();
        match reason {
            Some(reason) => {
                broken = Some((link.event_id, reason));
                false
            }
            None => true,
        }
    })
    .await?;
    let lag = chrono::Duration::seconds(state.settings.audit.unchained_lag_secs as i64);
    let unchained_overdue = db::audit::overdue_unchained(&mut conn, lag).await?;
    let (first_broken_event_id, broken_reason) = broken.map_or((None, None), |(id, reason)| (Some(id), Some(reason)));
    Ok(axum::Json(Verification {
        valid: first_broken_event_id.is_none(),
        events_checked: checked,
        first_broken_event_id,
        broken_reason,
        unchained_overdue,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_audit_chain))
}
