//! `/v1/standing-approvals`: exceptions promoted to policy. A manager (or
//! an admin) creates one, often from a `promote_to_policy` review or a
//! policy candidate (`/v1/standing-approvals/draft` pre-fills the body);
//! filings it covers are approved as they are filed; it is retired, never
//! deleted. Each answer carries the figures of its use.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::answer::{self, idempotency_key};
use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::Keyset;
use crate::app::standing_approvals::{DraftFrom, ListFilter};
use crate::app::{self, Actor};
use crate::domain::fields::{FieldErrors, optional_text};
use crate::domain::standing::Proposed;
use crate::state::AppState;
use crate::views::StandingApproval;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStandingApproval {
    #[schema(min_length = 1, max_length = 64)]
    pub category: String,
    /// The written policy rule its filings depart from.
    #[schema(min_length = 1, max_length = 200)]
    pub policy_ref: String,
    /// The most a covered filing may name, in minor units; with
    /// `currency`. Required where the category moves money, and never
    /// above the peer limit.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub max_amount_minor: Option<i64>,
    /// ISO 4217, e.g. EUR; with `max_amount_minor`.
    pub currency: Option<String>,
    /// Only proposers of this team; left out, everyone.
    #[schema(max_length = 100)]
    pub team: Option<String>,
    /// From when it approves filings; left out, now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when (exclusive); left out, until retired.
    pub valid_until: Option<DateTime<Utc>>,
    /// The reviewed proposal that started it.
    pub source_proposal_id: Option<Uuid>,
    /// Why this is policy now: what reviewers saw, what the limit covers.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireStandingApproval {
    /// Why it stops (kept with it).
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StandingApprovalList {
    pub items: Vec<StandingApproval>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StandingApprovalQuery {
    /// true: only retired ones; false: only those not retired.
    pub retired: Option<bool>,
    pub category: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DraftQuery {
    /// The policy candidate's category.
    pub category: String,
    /// The policy candidate's policy rule.
    pub policy_ref: String,
}

/// Promote an exception to policy: filings of this category and policy
/// rule, up to the limit, by proposers of the team (if one is named),
/// inside the window, are approved as they are filed, by the proposer
/// alone, naming it in `standing_approval_id`.
#[utoipa::path(
    post, path = "/v1/standing-approvals", tag = "standing approvals", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateStandingApproval,
    responses(
        (status = 201, body = StandingApproval, headers(("Location" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "not a manager or admin"),
        (status = 404, body = Problem, description = "the source proposal does not exist"),
        (status = 409, body = Problem, description = "the window is empty or over, or the source proposal is still pending"),
        (status = 422, body = Problem, description = "fields, an unknown category, or a limit above what peers may approve"),
    )
)]
pub async fn create_standing_approval(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Json(body, digest): Json<CreateStandingApproval>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers, &actor, "POST /v1/standing-approvals", digest)?;
    let proposed = Proposed {
        category: body.category,
        policy_ref: body.policy_ref,
        max_amount_minor: body.max_amount_minor,
        currency: body.currency,
        team: body.team,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        source_proposal_id: body.source_proposal_id,
        note: body.note,
    };
    let written = app::standing_approvals::create(&state, &actor, proposed, key.as_ref()).await?;
    Ok(answer::written_resource(written, "/v1/standing-approvals"))
}

/// Standing approvals, newest first, each with the figures of its use.
#[utoipa::path(
    get, path = "/v1/standing-approvals", tag = "standing approvals", security(("bearer" = [])),
    params(StandingApprovalQuery),
    responses(
        (status = 200, body = StandingApprovalList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn list_standing_approvals(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<StandingApprovalQuery>,
) -> Result<axum::Json<StandingApprovalList>, ApiError> {
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let filter = ListFilter {
        retired: query.retired,
        category: query.category,
        after: keyset.after,
        limit: keyset.fetch_limit(),
    };
    let rows = app::standing_approvals::list(&state, &actor, filter).await?;
    let (items, next_cursor) = keyset.finish(rows, |row| row.id);
    Ok(axum::Json(StandingApprovalList { items, next_cursor }))
}

/// The body of `POST /v1/standing-approvals`, pre-filled from a policy
/// candidate: the largest amount approved under its rule in the last 30
/// days (in the currency most used) as the limit, the latest proposal
/// reviewed `promote_to_policy` under it as the source, valid for 90 days
/// from now. Nothing is written; the manager adjusts it and sends it.
#[utoipa::path(
    get, path = "/v1/standing-approvals/draft", tag = "standing approvals", security(("bearer" = [])),
    params(DraftQuery),
    responses(
        (status = 200, body = Proposed), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn draft_from_candidate(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<DraftQuery>,
) -> Result<axum::Json<Proposed>, ApiError> {
    let from = DraftFrom::Candidate {
        category: query.category,
        policy_ref: query.policy_ref,
    };
    Ok(axum::Json(app::standing_approvals::draft(&state, &actor, from).await?))
}

/// The body of `POST /v1/standing-approvals`, pre-filled from a decided
/// proposal (typically one reviewed `promote_to_policy`): its rule, its
/// amount as the limit, its review's note, itself as the source, valid for
/// 90 days from now. Nothing is written.
#[utoipa::path(
    get, path = "/v1/proposals/{id}/standing-approval-draft", tag = "standing approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Proposed), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the proposal is still pending"),
    )
)]
pub async fn draft_from_proposal(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<Proposed>, ApiError> {
    let from = DraftFrom::Proposal(id);
    Ok(axum::Json(app::standing_approvals::draft(&state, &actor, from).await?))
}

/// One standing approval, with the figures of its use: filings approved,
/// amounts per currency, customer outcomes, review verdicts.
#[utoipa::path(
    get, path = "/v1/standing-approvals/{id}", tag = "standing approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = StandingApproval), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get_standing_approval(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<StandingApproval>, ApiError> {
    Ok(axum::Json(app::standing_approvals::get(&state, &actor, id).await?))
}

/// Retire it: from this moment no filing is approved by it. It stays,
/// with its figures; nothing is deleted.
#[utoipa::path(
    post, path = "/v1/standing-approvals/{id}/retire", tag = "standing approvals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RetireStandingApproval,
    responses(
        (status = 200, body = StandingApproval), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "already retired"),
        (status = 422, body = Problem),
    )
)]
pub async fn retire_standing_approval(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<RetireStandingApproval>,
) -> Result<axum::Json<StandingApproval>, ApiError> {
    let mut errors = FieldErrors::new();
    let reason = optional_text(&mut errors, "reason", body.reason.as_deref(), 2000);
    errors.finish()?;
    Ok(axum::Json(
        app::standing_approvals::retire(&state, &actor, id, reason).await?,
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_standing_approval, list_standing_approvals))
        .routes(routes!(draft_from_candidate))
        .routes(routes!(draft_from_proposal))
        .routes(routes!(get_standing_approval))
        .routes(routes!(retire_standing_approval))
}
