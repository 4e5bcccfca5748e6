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

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, FieldErrors, Problem};
use super::extract::Query;
use crate::db;
use crate::db::audit::ChainedEvent;
use crate::domain::audit::{GENESIS, chain_hash};
use crate::domain::employee::Role;

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
    pub anchor_seq: Option<i64>,
    /// `head.chain_hash` of that verification.
    pub anchor_hash: Option<String>,
}

/// A link known from an earlier verification.
struct Anchor {
    seq: i64,
    chain_hash: Vec<u8>,
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
                let chain_hash = hex::decode(hash.trim()).ok().filter(|bytes| bytes.len() == 32);
                if chain_hash.is_none() {
                    errors.add("anchor_hash", "must be 64 hex digits (a SHA-256)");
                }
                errors.finish()?;
                Ok(chain_hash.map(|chain_hash| Anchor { seq, chain_hash }))
            }
            (Some(_), None) => Err(FieldErrors::single("anchor_hash", "is required with anchor_seq")),
            (None, Some(_)) => Err(FieldErrors::single("anchor_seq", "is required with anchor_hash")),
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
    let mut checked = 0u64;
    // The newest link that verified: what the next one must follow from.
    let mut head: Option<(i64, Vec<u8>)> = None;
    let mut broken: Option<(Option<Uuid>, String)> = None;
    db::audit::walk_chain(&mut conn, |link| {
        checked += 1;
        let previous = head.as_ref().map_or(GENESIS.as_slice(), |(_, hash)| hash.as_slice());
        match broken_link(&link, checked as i64, previous, anchor.as_ref()) {
            Some(reason) => {
                broken = Some((Some(link.event_id), reason));
                false
            }
            None => {
                head = Some((link.seq, link.chain_hash));
                true
            }
        }
    })
    .await?;
    if let Some(anchor) = &anchor
        && broken.is_none()
        && (checked as i64) < anchor.seq
    {
        let reason = format!(
            "the chain ends at seq {checked}, before the anchor at seq {}: newer links were removed",
            anchor.seq
        );
        broken = Some((None, reason));
    }
    let lag = chrono::Duration::seconds(state.settings.audit.unchained_lag_secs as i64);
    let unchained_overdue = db::audit::overdue_unchained(&mut conn, lag).await?;
    let (first_broken_event_id, broken_reason) = broken.map_or((None, None), |(id, reason)| (id, Some(reason)));
    Ok(axum::Json(Verification {
        valid: broken_reason.is_none(),
        events_checked: checked,
        first_broken_event_id,
        broken_reason,
        unchained_overdue,
        head: head.map(|(seq, hash)| ChainHead {
            seq,
            chain_hash: hex::encode(hash),
        }),
    }))
}

/// Why a link does not verify: out of place, its event missing or changed,
/// not following from the previous link, or not the anchor it should be.
fn broken_link(link: &ChainedEvent, expected_seq: i64, previous: &[u8], anchor: Option<&Anchor>) -> Option<String> {
    if link.seq != expected_seq {
        return Some(format!("chain position {} follows {}", link.seq, expected_seq - 1));
    }
    let (Some(content), Some(stored_hash)) = (&link.content, &link.content_hash) else {
        return Some("the chained event is missing".to_owned());
    };
    let recomputed = content.hash();
    if recomputed.as_slice() != stored_hash.as_slice() {
        return Some("the event's content does not match its hash".to_owned());
    }
    if chain_hash(previous, &recomputed).as_slice() != link.chain_hash.as_slice() {
        return Some("the chain link does not follow from the previous one".to_owned());
    }
    match anchor {
        Some(anchor) if anchor.seq == link.seq && anchor.chain_hash != link.chain_hash => {
            Some(format!("the link at seq {} differs from the anchor", anchor.seq))
        }
        _ => None,
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_audit_chain))
}
