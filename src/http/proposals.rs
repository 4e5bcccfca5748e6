//! `/v1/proposals` and `/v1/inbox`: the REST door to filing, co-signing,
//! declining, revising, withdrawing and recording outcomes. Each handler
//! extracts and checks the request, calls one `app::proposals` use case and
//! renders its answer; the rules and the transaction live there. The bodies
//! other doors take too (filing, revising, an outcome) are `crate::requests`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::answer::{self, idempotency_key, if_match_revision};
use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::{Keyset, PageQuery};
use crate::app::proposals::Signing;
use crate::app::{self, Actor};
use crate::db;
use crate::domain::employee::Role;
use crate::domain::fields::{FieldErrors, optional_text, required_text};
use crate::domain::proposal::{RuleViolation, Status};
use crate::requests::{CreateProposal, RecordOutcome, ReviseProposal, check_revision};
use crate::state::AppState;
use crate::views::{self, Proposal};

// ---------------------------------------------------------------- types

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProposalList {
    pub items: Vec<Proposal>,
    pub next_cursor: Option<String>,
}

/// A signer names the revision they read (here, or as `If-Match` with the
/// proposal's ETag): they sign what they saw, never a later text.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignProposal {
    /// The revision read (`If-Match` with the ETag may name it instead).
    #[schema(value_type = i32, minimum = 1)]
    pub revision: Option<i32>,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineProposal {
    /// The revision read (`If-Match` with the ETag may name it instead).
    #[schema(value_type = i32, minimum = 1)]
    pub revision: Option<i32>,
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawProposal {
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProposalQuery {
    pub status: Option<Status>,
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    /// Proposer's employee id.
    pub proposer: Option<Uuid>,
    /// Someone who endorsed it.
    pub cosigner: Option<Uuid>,
    /// Filed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Filed before (a `to` not after `from` matches nothing).
    pub to: Option<DateTime<Utc>>,
    pub reviewed: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_employee_id: Option<Uuid>,
    pub via_integration_id: Option<Uuid>,
    pub payload: Value,
    /// Position in the audit chain, once the sequencer has linked it.
    pub chain_seq: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
    pub next_cursor: Option<String>,
}

// --------------------------------------------------------------- handlers

/// File a proposal (agents, or an integration acting for one).
#[utoipa::path(
    post, path = "/v1/proposals", tag = "proposals", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateProposal,
    responses(
        (status = 201, body = Proposal, headers(("Location" = String), ("ETag" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "the ticket already has a pending proposal in this category"),
        (status = 422, body = Problem, description = "invalid field, unknown category, or exceeds peer-approval limit"),
    )
)]
pub async fn file_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Json(body, digest): Json<CreateProposal>,
) -> Result<Response, ApiError> {
    actor.require(Role::Agent)?;
    let key = idempotency_key(&headers, &actor, "POST /v1/proposals", digest)?;
    let mut errors = FieldErrors::new();
    let terms = body.terms(&mut errors);
    errors.finish()?;
    let written = app::proposals::file(&state, &actor, terms, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// A threshold as a preview names it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewThreshold {
    pub currency: String,
    /// Amounts strictly above this need `required_cosigners`.
    pub above_minor: i64,
    pub required_cosigners: u32,
}

/// The most peers may approve in a currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewLimit {
    pub amount_minor: i64,
    pub currency: String,
}

/// Someone who may co-sign the proposal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewCosigner {
    pub employee_id: Uuid,
    pub name: String,
    pub team: Option<String>,
    /// Signer groups (e.g. `senior`): who can meet `required_groups`.
    pub groups: Vec<String>,
    /// On shift now (`PUT /v1/me/availability`).
    pub available: bool,
}

/// What filing this body now would do; nothing was written.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProposalPreview {
    /// Whether filing it now would be accepted.
    pub allowed: bool,
    /// When not: the problem filing would answer.
    pub refusal: Option<Problem>,
    /// Distinct co-signers it would need (null when peers may not approve it).
    pub required_cosigners: Option<u32>,
    /// Signer groups that need an endorser each among them (none yet has one).
    pub required_groups: Vec<String>,
    /// A standing approval that covers it: filing now approves it at once.
    pub standing_approval_id: Option<Uuid>,
    /// The threshold that sets `required_cosigners` (null: the default applies).
    pub threshold: Option<PreviewThreshold>,
    /// The peer-approval limit in its currency, when one is configured.
    pub peer_limit: Option<PreviewLimit>,
    /// The deadline a filing now would get.
    pub expires_at: DateTime<Utc>,
    /// Active agents other than the caller, and how many of them are on shift.
    pub eligible_count: i64,
    pub available_count: i64,
    /// Up to 50 of them: on shift first, then the caller's team, then by name.
    pub cosigners: Vec<PreviewCosigner>,
}

/// Preview a filing: which rule applies, how many co-signers it needs, who
/// may co-sign and who is on shift now. Nothing is written; a body filing
/// would refuse for a rule (peer limit, open ticket) is answered 200 with
/// `allowed: false` and the problem filing would answer.
#[utoipa::path(
    post, path = "/v1/proposals/preview", tag = "proposals", security(("bearer" = [])),
    params(("Countersign-On-Behalf-Of" = Option<String>, Header, description = "integrations only: the agent's id or external_id")),
    request_body = CreateProposal,
    responses(
        (status = 200, body = ProposalPreview),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "invalid field"),
    )
)]
pub async fn preview_proposal(
    State(state): State<AppState>,
    actor: Actor,
    Json(body, _): Json<CreateProposal>,
) -> Result<axum::Json<ProposalPreview>, ApiError> {
    actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let terms = body.terms(&mut errors);
    errors.finish()?;
    let preview = app::proposals::preview(&state, &actor, &terms).await?;
    let refusal = match (&preview.rule, preview.open_on_ticket) {
        (Err(violation), _) => Some(ApiError::from(violation.clone()).to_problem()),
        (Ok(_), Some(open)) => Some(ApiError::from(RuleViolation::TicketHasOpenProposal { open }).to_problem()),
        (Ok(_), None) => None,
    };
    let rule = preview.rule.ok();
    let first = preview.peers.first();
    let allowed = refusal.is_none();
    Ok(axum::Json(ProposalPreview {
        allowed,
        refusal,
        required_cosigners: rule.as_ref().map(|rule| rule.required_cosigners),
        required_groups: rule
            .as_ref()
            .map(|rule| rule.required_groups.clone())
            .unwrap_or_default(),
        standing_approval_id: preview.standing_approval_id.filter(|_| allowed),
        threshold: rule
            .as_ref()
            .and_then(|rule| rule.threshold.as_ref())
            .map(|t| PreviewThreshold {
                currency: t.currency.clone(),
                above_minor: t.above_minor,
                required_cosigners: t.required_cosigners,
            }),
        peer_limit: rule
            .as_ref()
            .and_then(|rule| rule.peer_limit.as_ref())
            .map(|limit| PreviewLimit {
                amount_minor: limit.minor,
                currency: limit.currency.clone(),
            }),
        expires_at: preview.expires_at,
        eligible_count: first.map_or(0, |peer| peer.eligible),
        available_count: first.map_or(0, |peer| peer.on_shift),
        cosigners: preview
            .peers
            .into_iter()
            .map(|peer| PreviewCosigner {
                employee_id: peer.id,
                name: peer.name,
                team: peer.team,
                groups: peer.groups,
                available: peer.available,
            })
            .collect(),
    }))
}

/// One proposal with its signatures, outcome and review.
#[utoipa::path(
    get, path = "/v1/proposals/{id}", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Proposal, headers(("ETag" = String, description = "names the revision, e.g. \"revision-2\""))),
        (status = 401, body = Problem), (status = 404, body = Problem),
    )
)]
pub async fn get_proposal(
    State(state): State<AppState>,
    _actor: Actor,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let row = db::proposals::find(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("proposal"))?;
    Ok(answer::proposal(&views::proposal(&row, state.clock.now())))
}

/// Proposals, newest first, filtered.
#[utoipa::path(
    get, path = "/v1/proposals", tag = "proposals", security(("bearer" = [])),
    params(ProposalQuery),
    responses((status = 200, body = ProposalList), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list_proposals(
    State(state): State<AppState>,
    _actor: Actor,
    Query(query): Query<ProposalQuery>,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    // RFC 3339 has four-digit years; a parser may take more, the database not.
    let mut errors = FieldErrors::new();
    for (field, time) in [("from", query.from), ("to", query.to)] {
        if time.is_some_and(|time| !(0..=9999).contains(&time.year())) {
            errors.add(field, "must be an RFC 3339 time with a four-digit year");
        }
    }
    errors.finish()?;
    // A window whose `to` is not after its `from` holds nothing: an empty
    // page, as for any other filter that matches nothing.
    let filter = db::proposals::ListFilter {
        status: query.status,
        category: query.category,
        policy_ref: query.policy_ref,
        proposer: query.proposer,
        cosigner: query.cosigner,
        from: query.from,
        to: query.to,
        reviewed: query.reviewed,
        ..db::proposals::ListFilter::default()
    };
    list_page(&state, filter, keyset).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// true: only the proposals the caller was asked to co-sign (first on
    /// filing, by a reminder, or by a manager).
    pub asked: Option<bool>,
}

/// Pending proposals the caller may co-sign, oldest first: never their own,
/// never one whose current revision they already signed. `asked=true`
/// lists those the caller was asked to co-sign.
#[utoipa::path(
    get, path = "/v1/inbox", tag = "proposals", security(("bearer" = [])),
    params(InboxQuery),
    responses((status = 200, body = ProposalList), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn list_inbox(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<InboxQuery>,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let agent = actor.require(Role::Agent)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let filter = db::proposals::ListFilter {
        signable_by: Some(agent.id),
        asked_of: query.asked.unwrap_or(false).then_some(agent.id),
        oldest_first: true,
        ..db::proposals::ListFilter::default()
    };
    list_page(&state, filter, keyset).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignProposal {
    /// The agents to ask (active agents other than the proposer who have
    /// not signed it).
    #[schema(min_items = 1, max_items = 20)]
    pub employee_ids: Vec<Uuid>,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A manager asks named agents to co-sign a pending proposal (typically
/// after `proposal.escalated`): `proposal.reassigned`, and first place in
/// their inbox.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/reassign", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ReassignProposal,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn reassign_proposal(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<ReassignProposal>,
) -> Result<Response, ApiError> {
    actor.require(Role::Manager)?;
    let mut errors = FieldErrors::new();
    let note = optional_text(&mut errors, "note", body.note.as_deref(), 2000);
    let mut employees = body.employee_ids;
    employees.sort();
    employees.dedup();
    if !(1..=20).contains(&employees.len()) {
        errors.add("employee_ids", "must name 1 to 20 agents");
    }
    errors.finish()?;
    let proposal = app::routing::reassign(&state, &actor, id, employees, note).await?;
    Ok(answer::proposal(&proposal))
}

/// One page of proposals as the filter picks them (also the review queue).
pub(super) async fn list_page(
    state: &AppState,
    mut filter: db::proposals::ListFilter,
    keyset: Keyset,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let now = state.clock.now();
    filter.now = now;
    filter.after = keyset.after;
    filter.limit = keyset.fetch_limit();
    let mut conn = state.pool.acquire().await?;
    let rows = db::proposals::list(&mut conn, &filter).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    let items = rows.iter().map(|row| views::proposal(row, now)).collect();
    Ok(axum::Json(ProposalList { items, next_cursor }))
}

/// Endorse the revision read (it must be the current one); approves when
/// the threshold is met.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/cosign", tag = "proposals", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header),
        ("If-Match" = Option<String>, Header, description = "the proposal's ETag as read, instead of `revision`"),
    ),
    request_body = CosignProposal,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "not an active agent, or the proposer"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "already signed, no longer pending, or revision-changed"),
        (status = 422, body = Problem),
        (status = 428, body = Problem, description = "no revision named (revision-required)"),
    )
)]
pub async fn cosign_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<CosignProposal>,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    let comment = optional_text(&mut errors, "comment", body.comment.as_deref(), 2000);
    check_revision(&mut errors, body.revision);
    errors.finish()?;
    actor.require(Role::Agent)?;
    let signing = Signing {
        revision: body.revision,
        if_match: if_match_revision(&headers)?,
        text: comment,
    };
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/cosign"), digest)?;
    let written = app::proposals::cosign(&state, &actor, id, signing, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// Decline the revision read (it must be the current one) with a reason;
/// rejects at the configured count.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/decline", tag = "proposals", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header),
        ("If-Match" = Option<String>, Header, description = "the proposal's ETag as read, instead of `revision`"),
    ),
    request_body = DeclineProposal,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "already signed, no longer pending, or revision-changed"),
        (status = 422, body = Problem),
        (status = 428, body = Problem, description = "no revision named (revision-required)"),
    )
)]
pub async fn decline_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<DeclineProposal>,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    let reason = required_text(&mut errors, "reason", &body.reason, 2000);
    check_revision(&mut errors, body.revision);
    errors.finish()?;
    actor.require(Role::Agent)?;
    let signing = Signing {
        revision: body.revision,
        if_match: if_match_revision(&headers)?,
        text: Some(reason),
    };
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/decline"), digest)?;
    let written = app::proposals::decline(&state, &actor, id, signing, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// The proposer revises a pending proposal. Changing a material field
/// (resolution, amount, customer, category, policy_ref) starts a new
/// revision: endorsements of earlier revisions no longer count.
#[utoipa::path(
    patch, path = "/v1/proposals/{id}", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ReviseProposal,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn revise_proposal(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<ReviseProposal>,
) -> Result<Response, ApiError> {
    actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let change = body.change(&mut errors);
    errors.finish()?;
    let revised = app::proposals::revise(&state, &actor, id, change).await?;
    Ok(answer::proposal(&revised))
}

/// The proposer withdraws a pending proposal.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/withdraw", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = WithdrawProposal, description = "optional"),
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
    )
)]
pub async fn withdraw_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<WithdrawProposal>,
) -> Result<Response, ApiError> {
    actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let reason = optional_text(&mut errors, "reason", body.reason.as_deref(), 2000);
    errors.finish()?;
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/withdraw"), digest)?;
    let written = app::proposals::withdraw(&state, &actor, id, reason, key.as_ref()).await?;
    Ok(answer::written(written))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActAloneBody {
    /// Why it could not wait for a peer (kept, shown to reviewers).
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// The proposer approves alone, where the company allows it for the
/// category and amount (`routing.act_alone`), when no eligible peer is on
/// shift or nobody answered within `routing.escalate_after_secs`: marked
/// `approved_alone`, told to the peers asked and the team's managers
/// (`proposal.acted_alone`), first in the review queue.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/act-alone", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ActAloneBody,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "not the proposer, or acting alone is not enabled for this category or amount"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "a peer is on shift and the window has not passed, a peer declined, or not pending"),
        (status = 422, body = Problem),
    )
)]
pub async fn act_alone(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<ActAloneBody>,
) -> Result<Response, ApiError> {
    actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let reason = required_text(&mut errors, "reason", &body.reason, 2000);
    errors.finish()?;
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/act-alone"), digest)?;
    let written = app::routing::act_alone(&state, &actor, id, reason, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// The proposer (or an integration acting for them) records what happened.
#[utoipa::path(
    post, path = "/v1/proposals/{id}/outcome", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = RecordOutcome,
    responses(
        (status = 200, body = Proposal), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "not approved, or already recorded"),
        (status = 422, body = Problem),
    )
)]
pub async fn record_outcome(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
    Json(body, digest): Json<RecordOutcome>,
) -> Result<Response, ApiError> {
    actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let report = body.report(&mut errors);
    errors.finish()?;
    let key = idempotency_key(&headers, &actor, &format!("POST /v1/proposals/{id}/outcome"), digest)?;
    let written = app::proposals::record_outcome(&state, &actor, id, report, key.as_ref()).await?;
    Ok(answer::written(written))
}

/// The audit trail of one proposal, oldest first.
#[utoipa::path(
    get, path = "/v1/proposals/{id}/events", tag = "proposals", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = EventList), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn list_proposal_events(
    State(state): State<AppState>,
    _actor: Actor,
    PathId(id): PathId,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<EventList>, ApiError> {
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    db::proposals::find(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("proposal"))?;
    let rows = db::proposals::events(&mut conn, id, keyset.after, keyset.fetch_limit()).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    let items = rows
        .into_iter()
        .map(|row| Event {
            id: row.id,
            event_type: row.event_type,
            occurred_at: row.occurred_at,
            actor_employee_id: row.actor_employee_id,
            via_integration_id: row.via_integration_id,
            payload: row.payload,
            chain_seq: row.chain_seq,
        })
        .collect();
    Ok(axum::Json(EventList { items, next_cursor }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(file_proposal, list_proposals))
        .routes(routes!(get_proposal, revise_proposal))
        .routes(routes!(preview_proposal))
        .routes(routes!(cosign_proposal))
        .routes(routes!(decline_proposal))
        .routes(routes!(withdraw_proposal))
        .routes(routes!(reassign_proposal))
        .routes(routes!(act_alone))
        .routes(routes!(record_outcome))
        .routes(routes!(list_proposal_events))
        .routes(routes!(list_inbox))
}
