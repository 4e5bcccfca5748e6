//! Manager review (rule 8): `POST /v1/proposals/{id}/review` and
//! `GET /v1/review-queue`. A review is blameless and written once; it sits
//! beside the decision and never changes it.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::answer::{self, idempotency_key};
use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::Keyset;
use super::proposals::{ProposalList, list_page};
use crate::app::{self, Actor};
use crate::db;
use crate::domain::employee::Role;
use crate::domain::fields::{FieldErrors, required_text};
use crate::domain::proposal::{Status, Verdict};
use crate::state::AppState;
use crate::views::Proposal;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewProposal {
    pub verdict: Verdict,
    /// What went well, what to learn, or why it should become policy.
    #[schema(min_length = 1, max_length = 5000)]
    pub note: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQueueQuery {
    /// One decided status: approved, rejected, withdrawn or expired.
    #[param(inline)]
    pub status: Option<DecidedStatus>,
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The statuses of decided proposals: what the review queue holds.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecidedStatus {
    Approved,
    Rejected,
    Withdrawn,
    Expired,
}

impl From<DecidedStatus> for Status {
    fn from(status: DecidedStatus) -> Self {
        match status {
            DecidedStatus::Approved => Status::Approved,
            DecidedStatus::Rejected => Status::Rejected,
            DecidedStatus::Withdrawn => Status::Withdrawn,
            DecidedStatus::Expired => Status::Expired,
        }
    }
}

/// Review a decided proposal, once: `endorse`, `promote_to_policy` or
/// `coach`, with a note. Managers who filed or signed it cannot review it.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/review", tag = "reviews", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ReviewProposal,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "not an active manager, or filed or signed it"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "still pending, or already reviewed"),
        (status = 422, body = Problem),
    )
)]
pub async fn review_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<ReviewProposal>,
) -> Result<Response, ApiError> {
    actor.require(Role::Manager)?;
    let mut errors = FieldErrors::new();
    let note = required_text(&mut errors, "note", &body.note, 5000);
    errors.finish()?;
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/review"), digest)?;
    let written = app::proposals::review(&state, &actor, id, body.verdict, note, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// Decided proposals nobody has reviewed yet, oldest first, leaving out
/// those the caller filed or signed (someone else reviews them). A proposal
/// joins the queue when its decision is written; an expiry is written by the
/// worker within `proposals.expiry_interval_secs` of the deadline.
#[utoipa::path(
    get, path = "/v1/review-queue", tag = "reviews", security(("bearer" = [])),
    params(ReviewQueueQuery),
    responses(
        (status = 200, body = ProposalList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn list_review_queue(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<ReviewQueueQuery>,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let manager = actor.require(Role::Manager)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let filter = db::proposals::ListFilter {
        status: query.status.map(Status::from),
        category: query.category,
        policy_ref: query.policy_ref,
        awaiting_review: true,
        reviewable_by: Some(manager.id),
        ..db::proposals::ListFilter::default()
    };
    list_page(&state, filter, keyset).await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(review_proposal))
        .routes(routes!(list_review_queue))
}
