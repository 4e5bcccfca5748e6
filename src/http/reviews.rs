//! Manager review (rule 8): `POST /v1/proposals/{id}/review` and
//! `GET /v1/review-queue`. A review is blameless and written once; it sits
//! beside the decision and never changes it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, FieldErrors, Problem, required_text};
use super::extract::{Json, PathId, Query};
use super::page::Keyset;
use super::proposals::{Idempotency, Proposal, ProposalList, facts, finish, locked, page, proposal_event};
use crate::db;
use crate::db::proposals::ReviewRow;
use crate::domain::employee::Role;
use crate::domain::proposal::{Status, Verdict};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewProposal {
    pub verdict: Verdict,
    /// What went well, what to learn, or why it should become policy.
    pub note: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQueueQuery {
    /// One decided status: approved, rejected, withdrawn or expired.
    pub status: Option<Status>,
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
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
    let reviewer = actor.require(Role::Manager)?;
    let mut errors = FieldErrors::new();
    let note = required_text(&mut errors, "note", &body.note, 5000);
    errors.finish()?;
    let idempotency = Idempotency::new(&headers, &actor, &format!("POST /v1/proposals/{id}/review"), digest)?;
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency.claim(&mut tx).await? {
        return Ok(replay);
    }
    let mut row = locked(&mut tx, id).await?;
    let now = crate::domain::audit::storable_time(Utc::now());
    facts(&row).check_may_review(&reviewer, now)?;
    let mut events = Vec::with_capacity(2);
    // Past its deadline but not yet written down by the expiry worker:
    // write the expiry first, so the review is of a decided proposal.
    if row.status == Status::Pending.as_str() {
        for (id, proposer_id, expires_at) in db::proposals::expire_overdue(&mut tx, now, Some(id), 1).await? {
            row.status = Status::Expired.as_str().to_owned();
            row.decided_at = Some(expires_at);
            row.updated_at = now;
            events.push(db::proposals::expired_event(id, proposer_id, expires_at));
        }
    }
    let review = ReviewRow {
        reviewer_id: reviewer.id,
        verdict: body.verdict,
        note,
        reviewed_at: now,
    };
    db::proposals::insert_review(&mut tx, id, &review).await?;
    events.push(proposal_event(
        "proposal.reviewed",
        &row,
        &actor,
        json!({ "review": review, "status": row.status }),
    ));
    row.review = Some(sqlx::types::Json(review));
    finish(&state, tx, &events, Some(&idempotency), StatusCode::OK, &row, now).await
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
    if query.status == Some(Status::Pending) {
        return Err(FieldErrors::single(
            "status",
            "must be a decided status: approved, rejected, withdrawn or expired",
        ));
    }
    let filter = db::proposals::ListFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        category: query.category,
        policy_ref: query.policy_ref,
        awaiting_review: true,
        reviewable_by: Some(manager.id),
        ..db::proposals::ListFilter::default()
    };
    page(&state, filter, keyset).await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(review_proposal))
        .routes(routes!(list_review_queue))
}
