//! `GET /v1/audit/verify` (admin): recomputes every event's hash and every
//! chain link in `seq` order, reports the first broken one, and names events
//! left unchained longer than `audit.unchained_lag_secs`.
//!
//! A chain proves nothing about links cut off its newest end. For that the
//! answer names its `head`; kept outside Countersign and passed back later as
//! `anchor_seq` + `anchor_hash`, it shows that nothing up to it was removed or
//! rewritten since. A full check (`full=true`) answers in bounded time too:
//! a page of links at a time, the next page resuming from the `head` the
//! previous one answered (`resume_seq` + `resume_hash`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::Query;
use crate::app::audit::Scope;
use crate::app::{self, Actor};
use crate::domain::audit::Anchor;
use crate::domain::employee::Role;
use crate::domain::fields::FieldErrors;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// True when every chained event and link recomputes and every event is
    /// chained or waiting to be.
    pub valid: bool,
    /// Links verified, by this request and by this replica before it.
    pub events_checked: u64,
    /// Every link chained so far is verified. False when more came than one
    /// request verifies: the background verifier catches up, and a
    /// `full=true` check goes on with its next page (pass `head` back as
    /// `resume_seq` + `resume_hash`).
    pub complete: bool,
    /// The chain is keyed (`audit.chain_key`), so a database owner cannot
    /// rewrite it and make it verify.
    pub keyed: bool,
    /// When this replica last verified the whole chain from the start
    /// (`full=true` does it now when the chain fits in one page).
    pub last_full_check_at: Option<DateTime<Utc>>,
    /// Events neither chained nor waiting to be: removed from the queue.
    pub unaccounted_events: Vec<Uuid>,
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
    /// Verify the whole chain from the start now (about 5–10 µs per event),
    /// rather than what was chained since this replica last verified; at
    /// most `audit.full_check_page_links` links a request, the rest page by
    /// page (`resume_seq` + `resume_hash`).
    pub full: Option<bool>,
    /// `head.seq` of an earlier verification; with `anchor_hash`.
    #[param(minimum = 1)]
    pub anchor_seq: Option<i64>,
    /// `head.chain_hash` of that verification (64 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub anchor_hash: Option<String>,
    /// Continues a full check (so `full` is implied): `head.seq` of the
    /// previous page, when it was not `complete`; with `resume_hash`.
    #[param(minimum = 1)]
    pub resume_seq: Option<i64>,
    /// `head.chain_hash` of the previous page (64 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub resume_hash: Option<String>,
}

impl VerifyQuery {
    fn scope(&self) -> Result<(Option<Anchor>, Scope), ApiError> {
        let anchor = link(
            self.anchor_seq,
            self.anchor_hash.as_deref(),
            ("anchor_seq", "anchor_hash"),
        )?;
        let resume = link(
            self.resume_seq,
            self.resume_hash.as_deref(),
            ("resume_seq", "resume_hash"),
        )?;
        // A resume point only exists within a full check, which it continues.
        let scope = match (self.full.unwrap_or(false), resume) {
            (false, None) => Scope::SinceVerified,
            (_, resume) => Scope::Full { resume },
        };
        Ok((anchor, scope))
    }
}

/// A link named by a query's two parameters (`names`), both or neither.
fn link(seq: Option<i64>, hash: Option<&str>, names: (&str, &str)) -> Result<Option<Anchor>, ApiError> {
    let (seq_name, hash_name) = names;
    match (seq, hash) {
        (None, None) => Ok(None),
        (Some(seq), Some(hash)) => {
            let mut errors = FieldErrors::new();
            if seq < 1 {
                errors.add(seq_name, "must be 1 or more");
            }
            let chain_hash = hex::decode(hash).ok().filter(|bytes| bytes.len() == 32);
            if chain_hash.is_none() {
                errors.add(hash_name, "must be 64 hex digits (a SHA-256)");
            }
            errors.finish()?;
            Ok(chain_hash.map(|chain_hash| Anchor { seq, chain_hash }))
        }
        (Some(_), None) => Err(FieldErrors::single(hash_name, format!("is required with {seq_name}")).into()),
        (None, Some(_)) => Err(FieldErrors::single(seq_name, format!("is required with {hash_name}")).into()),
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
    let (anchor, scope) = query.scope()?;
    let verified = app::audit::verify(&state, anchor, scope).await?;
    let report = &verified.report;
    Ok(axum::Json(Verification {
        valid: verified.valid(),
        events_checked: report.events_checked,
        complete: verified.complete,
        keyed: verified.keyed,
        last_full_check_at: verified.last_full_check,
        unaccounted_events: verified.unaccounted_events.clone(),
        first_broken_event_id: report.first_broken_event_id,
        broken_reason: report.broken_reason.clone(),
        unchained_overdue: verified.unchained_overdue.clone(),
        head: report.head.as_ref().map(|(seq, hash)| ChainHead {
            seq: *seq,
            chain_hash: hex::encode(hash),
        }),
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_audit_chain))
}
