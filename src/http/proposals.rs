//! `/v1/proposals` and `/v1/inbox`: filing, co-signing, declining, revising,
//! withdrawing and recording outcomes. Each write is one transaction: lock
//! the proposal, let `domain::proposal` decide, write the change and its
//! audit events together. Nothing else is locked.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, FieldErrors, Problem, optional_text, required_text};
use super::extract::{BodyDigest, Json, PathId, Query, double_option};
use super::page::Keyset;
use crate::db;
use crate::db::idempotency::KeyScope;
use crate::db::proposals::{OutcomeRow, ProposalRow, SignatureRow};
use crate::domain::audit::EventContent;
use crate::domain::employee::{Person, Role};
use crate::domain::policy::Money;
use crate::domain::proposal::{
    CustomerOutcome, Decision, MaterialTerms, ProposalFacts, SignatureEffect, SignatureFact, Status, Verdict,
    check_may_file, starts_new_revision,
};

/// What a signer sends: the revision they read (in the body, else in
/// `If-Match`), and a comment or a reason.
struct SignRequest {
    decision: Decision,
    revision_in_body: Option<i32>,
    text: Option<String>,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

// ---------------------------------------------------------------- types

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signature {
    pub employee_id: Uuid,
    pub decision: Decision,
    pub revision: i32,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub via_integration_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub recorded_by: Uuid,
    pub via_integration_id: Option<Uuid>,
    pub executed: bool,
    pub actual_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer_outcome: CustomerOutcome,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub reviewer_id: Uuid,
    pub verdict: Verdict,
    pub note: String,
    pub reviewed_at: DateTime<Utc>,
}

/// A proposal with its signatures, outcome and review.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Proposal {
    pub id: Uuid,
    /// The effective status: a pending proposal past `expires_at` is `expired`.
    pub status: Status,
    pub proposer_id: Uuid,
    pub filed_via_integration_id: Option<Uuid>,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub resolution: String,
    pub justification: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    /// Integer minor units (cents); never a float.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub required_cosigners: i32,
    /// Distinct endorsements of the current revision.
    pub endorsements: u32,
    pub declines_to_reject: i32,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub signatures: Vec<Signature>,
    pub outcome: Option<Outcome>,
    pub review: Option<Review>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProposalList {
    pub items: Vec<Proposal>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProposal {
    pub category: String,
    /// The written policy rule this departs from.
    pub policy_ref: String,
    pub summary: String,
    pub resolution: String,
    pub justification: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    pub amount_minor: Option<i64>,
    /// ISO 4217, e.g. EUR; required with `amount_minor`.
    pub currency: Option<String>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseProposal {
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    pub summary: Option<String>,
    pub resolution: Option<String>,
    pub justification: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub customer_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub ticket_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub amount_minor: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
}

/// A signer names the revision they read (here, or as `If-Match` with the
/// proposal's ETag): they sign what they saw, never a later text.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignProposal {
    /// The revision read; required unless `If-Match` names it.
    #[schema(minimum = 1)]
    pub revision: Option<i32>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineProposal {
    /// The revision read; required unless `If-Match` names it.
    #[schema(minimum = 1)]
    pub revision: Option<i32>,
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawProposal {
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordOutcome {
    /// Whether the resolution was carried out.
    pub executed: bool,
    pub actual_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer_outcome: CustomerOutcome,
    pub note: Option<String>,
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
    /// Filed before.
    pub to: Option<DateTime<Utc>>,
    pub reviewed: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
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

// ------------------------------------------------------- mapping helpers

pub(super) fn to_response(row: &ProposalRow, now: DateTime<Utc>) -> Proposal {
    let facts = facts(row);
    let status = facts.effective_status(now);
    Proposal {
        id: row.id,
        status,
        proposer_id: row.proposer_id,
        filed_via_integration_id: row.filed_via_integration_id,
        category: row.category.clone(),
        policy_ref: row.policy_ref.clone(),
        summary: row.summary.clone(),
        resolution: row.resolution.clone(),
        justification: row.justification.clone(),
        customer_ref: row.customer_ref.clone(),
        ticket_ref: row.ticket_ref.clone(),
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
        required_cosigners: row.required_cosigners,
        endorsements: facts.endorsements(),
        declines_to_reject: row.declines_to_reject,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
        decided_at: match (row.decided_at, status) {
            (None, Status::Expired) => Some(row.expires_at),
            (decided, _) => decided,
        },
        signatures: row
            .signatures
            .iter()
            .map(|s| Signature {
                employee_id: s.employee_id,
                decision: s.decision,
                revision: s.revision,
                comment: s.comment.clone(),
                reason: s.reason.clone(),
                via_integration_id: s.via_integration_id,
                created_at: s.created_at,
            })
            .collect(),
        outcome: row.outcome.as_ref().map(|o| Outcome {
            recorded_by: o.recorded_by,
            via_integration_id: o.via_integration_id,
            executed: o.executed,
            actual_amount_minor: o.actual_amount_minor,
            currency: o.currency.clone(),
            customer_outcome: o.customer_outcome,
            note: o.note.clone(),
            recorded_at: o.recorded_at,
        }),
        review: row.review.as_ref().map(|r| Review {
            reviewer_id: r.reviewer_id,
            verdict: r.verdict,
            note: r.note.clone(),
            reviewed_at: r.reviewed_at,
        }),
    }
}

pub(super) fn facts(row: &ProposalRow) -> ProposalFacts {
    ProposalFacts {
        status: Status::parse(&row.status).unwrap_or(Status::Pending),
        proposer_id: row.proposer_id,
        revision: row.revision,
        required_cosigners: u32::try_from(row.required_cosigners).unwrap_or(1),
        declines_to_reject: u32::try_from(row.declines_to_reject).unwrap_or(1),
        expires_at: row.expires_at,
        signatures: row
            .signatures
            .iter()
            .map(|s| SignatureFact {
                employee_id: s.employee_id,
                revision: s.revision,
                decision: s.decision,
                by_active_agent: s.by_active_agent,
            })
            .collect(),
        outcome_recorded: row.outcome.is_some(),
        reviewed: row.review.is_some(),
    }
}

fn terms(row: &ProposalRow) -> MaterialTerms {
    MaterialTerms {
        category: row.category.clone(),
        policy_ref: row.policy_ref.clone(),
        resolution: row.resolution.clone(),
        amount: money(row.amount_minor, row.currency.as_deref()),
        customer_ref: row.customer_ref.clone(),
    }
}

fn money(minor: Option<i64>, currency: Option<&str>) -> Option<Money> {
    Some(Money {
        minor: minor?,
        currency: currency?.to_owned(),
    })
}

/// The part of a proposal an audit event records as "before"/"after".
fn snapshot(row: &ProposalRow) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

/// Checks an amount and its currency: both or neither, whole minor units,
/// an ISO 4217 code.
fn check_amount(
    errors: &mut FieldErrors,
    amount_field: &str,
    minor: Option<i64>,
    currency: Option<&str>,
) -> Option<String> {
    let currency = currency.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if let Some(minor) = minor
        && !(0..=1_000_000_000_000_000).contains(&minor)
    {
        errors.add(amount_field, "must be a whole number of minor units, 0 or more");
    }
    if let Some(code) = &currency
        && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.add("currency", "must be an ISO 4217 code in capitals, e.g. EUR");
    }
    match (minor.is_some(), currency.is_some()) {
        (true, false) => errors.add("currency", format!("is required with {amount_field}")),
        (false, true) => errors.add(amount_field, "is required with currency"),
        _ => {}
    }
    currency
}

// ------------------------------------------------------------ idempotency

/// An `Idempotency-Key` in force for one request (or none).
pub(super) struct Idempotency {
    key: Option<String>,
    scope: KeyScope,
    request_hash: [u8; 32],
}

impl Idempotency {
    pub(super) fn new(headers: &HeaderMap, actor: &Actor, route: &str, body: BodyDigest) -> Result<Self, ApiError> {
        let key = match headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => {
                let key = value.to_str().map(str::trim).unwrap_or("");
                if key.is_empty() || key.len() > 255 {
                    return Err(FieldErrors::single(
                        "Idempotency-Key",
                        "must be 1-255 visible characters",
                    ));
                }
                Some(key.to_owned())
            }
        };
        // The fingerprint is the whole request: route, who acts, through
        // which integration, the revision named in If-Match, and the body.
        let scope = actor.idempotency_scope();
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update([0]);
        hasher.update(scope.principal_id.as_bytes());
        hasher.update(scope.via_integration_id.unwrap_or(Uuid::nil()).as_bytes());
        hasher.update(headers.get(header::IF_MATCH).map_or(&b""[..], HeaderValue::as_bytes));
        hasher.update([0]);
        hasher.update(body.0);
        Ok(Idempotency {
            key,
            scope,
            request_hash: hasher.finalize().into(),
        })
    }

    /// `Some(response)` when this key already has one to replay.
    pub(super) async fn claim(&self, conn: &mut PgConnection) -> Result<Option<Response>, ApiError> {
        let Some(key) = &self.key else { return Ok(None) };
        let Some(stored) = db::idempotency::claim(conn, self.scope, key, &self.request_hash).await? else {
            return Ok(None);
        };
        if stored.request_hash != self.request_hash {
            return Err(ApiError::Unprocessable {
                detail: "this Idempotency-Key was used for a different request".to_owned(),
                field: Some("Idempotency-Key".to_owned()),
            });
        }
        let status = stored
            .status
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .ok_or_else(|| anyhow::anyhow!("idempotency key stored without a response"))?;
        let body = stored.body.unwrap_or(Value::Null);
        let revision = body["revision"].as_i64().and_then(|r| i32::try_from(r).ok());
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(location) = stored.location.and_then(|l| l.parse().ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        if let Some(revision) = revision {
            response.headers_mut().insert(header::ETAG, etag(revision));
        }
        response
            .headers_mut()
            .insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
        Ok(Some(response))
    }

    async fn complete(
        &self,
        conn: &mut PgConnection,
        status: StatusCode,
        body: &Value,
        location: Option<&str>,
    ) -> Result<(), ApiError> {
        if let Some(key) = &self.key {
            db::idempotency::complete(conn, self.scope, key, status.as_u16() as i16, body, location).await?;
        }
        Ok(())
    }
}

/// Ends a write: appends its audit events, stores the idempotent response
/// (for endpoints that take a key), commits, wakes the audit sequencer, and
/// answers with the proposal as it now is (a 201 also names its `Location`).
pub(super) async fn finish(
    state: &AppState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    events: &[EventContent],
    idempotency: Option<&Idempotency>,
    status: StatusCode,
    row: &ProposalRow,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    db::audit::record(&mut tx, events).await?;
    let body = serde_json::to_value(to_response(row, now)).map_err(anyhow::Error::from)?;
    let location = (status == StatusCode::CREATED).then(|| format!("/v1/proposals/{}", row.id));
    if let Some(idempotency) = idempotency {
        idempotency
            .complete(&mut tx, status, &body, location.as_deref())
            .await?;
    }
    tx.commit().await?;
    state.audit_wake.notify_one();
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(location) = location.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert(header::ETAG, etag(row.revision));
    Ok(response)
}

/// A proposal's ETag names its revision: the terms a signer agrees to. Sent
/// with every proposal, it may come back as `If-Match` on a signature.
fn etag(revision: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"revision-{revision}\"")).expect("digits and quotes are a valid header")
}

/// The revision a signer read: `revision` in the body, or `If-Match` with
/// the ETag of the proposal as read. Naming none is a 428: a signature
/// must say which terms it agrees to.
fn read_revision(headers: &HeaderMap, in_body: Option<i32>) -> Result<i32, ApiError> {
    if let Some(revision) = in_body
        && revision < 1
    {
        return Err(FieldErrors::single("revision", "must be 1 or more"));
    }
    let in_header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let revision = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().strip_prefix("\"revision-"))
                .and_then(|v| v.strip_suffix('"'))
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|r| *r >= 1);
            Some(revision.ok_or_else(|| {
                FieldErrors::single(
                    "If-Match",
                    "must be the ETag of the proposal as read, e.g. \"revision-2\"",
                )
            })?)
        }
    };
    match (in_body, in_header) {
        (Some(body), Some(header)) if body != header => Err(FieldErrors::single(
            "revision",
            format!("says {body}, but If-Match names revision {header}"),
        )),
        (Some(revision), _) | (None, Some(revision)) => Ok(revision),
        (None, None) => Err(ApiError::PreconditionRequired(
            "say which revision you read: `revision` in the body, or If-Match with the proposal's ETag".to_owned(),
        )),
    }
}

pub(super) fn proposal_event(kind: &str, row: &ProposalRow, actor: &Actor, payload: Value) -> EventContent {
    db::audit::event(kind, "proposal", row.id, actor.audit_ids(), payload)
}

pub(super) async fn locked(conn: &mut PgConnection, id: Uuid) -> Result<ProposalRow, ApiError> {
    db::proposals::find_for_update(conn, id)
        .await?
        .ok_or(ApiError::NotFound("proposal"))
}

// --------------------------------------------------------------- handlers

/// File a proposal (agents, or an integration acting for one).
#[utoipa::path(
    post, path = "/v1/proposals", tag = "proposals", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateProposal,
    responses(
        (status = 201, body = Proposal, headers(("Location" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "invalid field, unknown category, or exceeds peer-approval limit"),
    )
)]
pub async fn file_proposal(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Json(body, digest): Json<CreateProposal>,
) -> Result<Response, ApiError> {
    let proposer = actor.require(Role::Agent)?;
    check_may_file(&proposer)?;
    let idempotency = Idempotency::new(&headers, &actor, "POST /v1/proposals", digest)?;

    let mut errors = FieldErrors::new();
    let category = required_text(&mut errors, "category", &body.category, 64);
    let policy_ref = required_text(&mut errors, "policy_ref", &body.policy_ref, 200);
    let summary = required_text(&mut errors, "summary", &body.summary, 500);
    let resolution = required_text(&mut errors, "resolution", &body.resolution, 5000);
    let justification = required_text(&mut errors, "justification", &body.justification, 5000);
    let customer_ref = optional_text(&mut errors, "customer_ref", body.customer_ref.as_deref(), 200);
    let ticket_ref = optional_text(&mut errors, "ticket_ref", body.ticket_ref.as_deref(), 200);
    let currency = check_amount(&mut errors, "amount_minor", body.amount_minor, body.currency.as_deref());
    errors.finish()?;
    let required = state
        .policy
        .required_cosigners(&category, money(body.amount_minor, currency.as_deref()).as_ref())?;

    let now = crate::domain::audit::storable_time(Utc::now());
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency.claim(&mut tx).await? {
        return Ok(replay);
    }
    let row = ProposalRow {
        id: Uuid::now_v7(),
        status: Status::Pending.as_str().to_owned(),
        proposer_id: proposer.id,
        filed_via_integration_id: actor.via_integration,
        category,
        policy_ref,
        summary,
        resolution,
        justification,
        customer_ref,
        ticket_ref,
        amount_minor: body.amount_minor,
        currency,
        required_cosigners: required as i32,
        declines_to_reject: state.policy.declines_to_reject as i32,
        revision: 1,
        created_at: now,
        updated_at: now,
        expires_at: now + state.policy.pending_ttl,
        decided_at: None,
        signatures: sqlx::types::Json(vec![]),
        outcome: None,
        review: None,
    };
    db::proposals::insert(&mut tx, &row).await?;
    let event = proposal_event("proposal.created", &row, &actor, json!({ "after": snapshot(&row) }));
    finish(&state, tx, &[event], Some(&idempotency), StatusCode::CREATED, &row, now).await
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
        .ok_or(ApiError::NotFound("proposal"))?;
    Ok((
        [(header::ETAG, etag(row.revision))],
        axum::Json(to_response(&row, Utc::now())),
    )
        .into_response())
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
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(FieldErrors::single("to", "must be after `from`"));
    }
    let filter = db::proposals::ListFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        category: query.category,
        policy_ref: query.policy_ref,
        proposer: query.proposer,
        cosigner: query.cosigner,
        from: query.from,
        to: query.to,
        reviewed: query.reviewed,
        ..db::proposals::ListFilter::default()
    };
    page(&state, filter, keyset).await
}

/// Pending proposals the caller may co-sign, oldest first: never their own,
/// never one whose current revision they already signed.
#[utoipa::path(
    get, path = "/v1/inbox", tag = "proposals", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = ProposalList), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn list_inbox(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let agent = actor.require(Role::Agent)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let filter = db::proposals::ListFilter {
        signable_by: Some(agent.id),
        oldest_first: true,
        ..db::proposals::ListFilter::default()
    };
    page(&state, filter, keyset).await
}

pub(super) async fn page(
    state: &AppState,
    mut filter: db::proposals::ListFilter,
    keyset: Keyset,
) -> Result<axum::Json<ProposalList>, ApiError> {
    let now = Utc::now();
    filter.now = now;
    filter.after = keyset.after;
    filter.limit = keyset.fetch_limit();
    let mut conn = state.pool.acquire().await?;
    let rows = db::proposals::list(&mut conn, &filter).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    let items = rows.iter().map(|row| to_response(row, now)).collect();
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
    errors.finish()?;
    let request = SignRequest {
        decision: Decision::Endorse,
        revision_in_body: body.revision,
        text: comment,
    };
    sign(state, actor, headers, id, digest, request).await
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
    errors.finish()?;
    let request = SignRequest {
        decision: Decision::Decline,
        revision_in_body: body.revision,
        text: Some(reason),
    };
    sign(state, actor, headers, id, digest, request).await
}

/// Co-sign or decline: one transaction, the proposal row locked, the
/// decision made on the proposal as it is once the lock is held.
async fn sign(
    state: AppState,
    actor: Actor,
    headers: HeaderMap,
    id: Uuid,
    digest: BodyDigest,
    request: SignRequest,
) -> Result<Response, ApiError> {
    let SignRequest {
        decision,
        revision_in_body,
        text,
    } = request;
    let caller = actor.require(Role::Agent)?;
    let read_revision = read_revision(&headers, revision_in_body)?;
    let route = format!("POST /v1/proposals/{id}/{}", decision.as_str());
    let idempotency = Idempotency::new(&headers, &actor, &route, digest)?;
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency.claim(&mut tx).await? {
        return Ok(replay);
    }
    if !db::proposals::lock(&mut tx, id).await? {
        return Err(ApiError::NotFound("proposal"));
    }
    // The signer as they are now, held until commit with every endorser.
    let (role, active) = db::proposals::lock_signers(&mut tx, id, caller.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the signer {} has no employee row", caller.id))?;
    let signer = Person {
        role: Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?,
        active,
        ..caller
    };
    let mut row = db::proposals::find(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound("proposal"))?;
    let now = crate::domain::audit::storable_time(Utc::now());
    let before = facts(&row);
    let effect = match decision {
        Decision::Endorse => before.cosign(&signer, read_revision, now)?,
        Decision::Decline => before.decline(&signer, read_revision, now)?,
    };
    let signature = SignatureRow {
        id: Uuid::now_v7(),
        employee_id: signer.id,
        via_integration_id: actor.via_integration,
        revision: row.revision,
        decision,
        comment: text.clone().filter(|_| decision == Decision::Endorse),
        reason: text.filter(|_| decision == Decision::Decline),
        created_at: now,
        by_active_agent: true,
    };
    db::proposals::insert_signature(&mut tx, &row, &signature).await?;
    row.signatures.push(signature.clone());
    let signed_type = match decision {
        Decision::Endorse => "proposal.cosigned",
        Decision::Decline => "proposal.declined",
    };
    let mut events = vec![proposal_event(
        signed_type,
        &row,
        &actor,
        json!({ "signature": signature, "revision": row.revision }),
    )];
    let decided = match effect {
        SignatureEffect::Recorded => None,
        SignatureEffect::Approves => Some((Status::Approved, "proposal.approved")),
        SignatureEffect::Rejects => Some((Status::Rejected, "proposal.rejected")),
    };
    if let Some((status, event_type)) = decided {
        db::proposals::decide(&mut tx, &mut row, status.as_str(), now).await?;
        let signers = facts(&row).counted(decision);
        events.push(proposal_event(
            event_type,
            &row,
            &actor,
            json!({
                "before": { "status": "pending" },
                "after": { "status": status.as_str(), "decided_at": now },
                "revision": row.revision,
                "signers": signers,
            }),
        ));
    }
    finish(&state, tx, &events, Some(&idempotency), StatusCode::OK, &row, now).await
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
    let proposer = actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let category = body
        .category
        .as_deref()
        .map(|v| required_text(&mut errors, "category", v, 64));
    let policy_ref = body
        .policy_ref
        .as_deref()
        .map(|v| required_text(&mut errors, "policy_ref", v, 200));
    let summary = body
        .summary
        .as_deref()
        .map(|v| required_text(&mut errors, "summary", v, 500));
    let resolution = body
        .resolution
        .as_deref()
        .map(|v| required_text(&mut errors, "resolution", v, 5000));
    let justification = body
        .justification
        .as_deref()
        .map(|v| required_text(&mut errors, "justification", v, 5000));
    let customer_ref = body
        .customer_ref
        .as_ref()
        .map(|v| optional_text(&mut errors, "customer_ref", v.as_deref(), 200));
    let ticket_ref = body
        .ticket_ref
        .as_ref()
        .map(|v| optional_text(&mut errors, "ticket_ref", v.as_deref(), 200));
    errors.finish()?;

    let mut tx = state.pool.begin().await?;
    let before = locked(&mut tx, id).await?;
    let now = crate::domain::audit::storable_time(Utc::now());
    facts(&before).check_may_revise(&proposer, now)?;
    let mut after = before.clone();
    after.category = category.unwrap_or(after.category);
    after.policy_ref = policy_ref.unwrap_or(after.policy_ref);
    after.summary = summary.unwrap_or(after.summary);
    after.resolution = resolution.unwrap_or(after.resolution);
    after.justification = justification.unwrap_or(after.justification);
    if let Some(customer_ref) = customer_ref {
        after.customer_ref = customer_ref;
    }
    if let Some(ticket_ref) = ticket_ref {
        after.ticket_ref = ticket_ref;
    }
    if let Some(amount) = body.amount_minor {
        after.amount_minor = amount;
    }
    if let Some(currency) = body.currency {
        after.currency = currency;
    }
    let mut errors = FieldErrors::new();
    after.currency = check_amount(
        &mut errors,
        "amount_minor",
        after.amount_minor,
        after.currency.as_deref(),
    );
    errors.finish()?;
    let material = starts_new_revision(&terms(&before), &terms(&after));
    // Whatever changed, the terms must still pass the policy: a category
    // that moves money keeps its amount, and the amount its limit.
    let required = state.policy.required_cosigners(
        &after.category,
        money(after.amount_minor, after.currency.as_deref()).as_ref(),
    )?;
    let unchanged = !material
        && after.summary == before.summary
        && after.justification == before.justification
        && after.ticket_ref == before.ticket_ref;
    if unchanged {
        return Ok(axum::Json(to_response(&before, now)).into_response());
    }
    if material {
        after.revision += 1;
        after.required_cosigners = required as i32;
    }
    after.updated_at = now;
    db::proposals::revise(&mut tx, &after).await?;
    let event = proposal_event(
        "proposal.revised",
        &after,
        &actor,
        json!({ "before": snapshot(&before), "after": snapshot(&after), "new_revision": material }),
    );
    finish(&state, tx, &[event], None, StatusCode::OK, &after, now).await
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
    let proposer = actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let reason = optional_text(&mut errors, "reason", body.reason.as_deref(), 2000);
    errors.finish()?;
    let idempotency = Idempotency::new(&headers, &actor, &format!("POST /v1/proposals/{id}/withdraw"), digest)?;
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency.claim(&mut tx).await? {
        return Ok(replay);
    }
    let mut row = locked(&mut tx, id).await?;
    let now = crate::domain::audit::storable_time(Utc::now());
    facts(&row).check_may_withdraw(&proposer, now)?;
    db::proposals::decide(&mut tx, &mut row, Status::Withdrawn.as_str(), now).await?;
    let event = proposal_event(
        "proposal.withdrawn",
        &row,
        &actor,
        json!({ "before": { "status": "pending" }, "after": { "status": "withdrawn", "decided_at": now }, "reason": reason }),
    );
    finish(&state, tx, &[event], Some(&idempotency), StatusCode::OK, &row, now).await
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
    let proposer = actor.require(Role::Agent)?;
    let mut errors = FieldErrors::new();
    let note = optional_text(&mut errors, "note", body.note.as_deref(), 2000);
    let currency = check_amount(
        &mut errors,
        "actual_amount_minor",
        body.actual_amount_minor,
        body.currency.as_deref(),
    );
    errors.finish()?;
    let idempotency = Idempotency::new(&headers, &actor, &format!("POST /v1/proposals/{id}/outcome"), digest)?;
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency.claim(&mut tx).await? {
        return Ok(replay);
    }
    let mut row = locked(&mut tx, id).await?;
    facts(&row).check_may_record_outcome(&proposer)?;
    let now = crate::domain::audit::storable_time(Utc::now());
    let outcome = OutcomeRow {
        recorded_by: proposer.id,
        via_integration_id: actor.via_integration,
        executed: body.executed,
        actual_amount_minor: body.actual_amount_minor,
        currency,
        customer_outcome: body.customer_outcome,
        note,
        recorded_at: now,
    };
    db::proposals::insert_outcome(&mut tx, id, &outcome).await?;
    let event = proposal_event("proposal.outcome_recorded", &row, &actor, json!({ "outcome": outcome }));
    row.outcome = Some(sqlx::types::Json(outcome));
    finish(&state, tx, &[event], Some(&idempotency), StatusCode::OK, &row, now).await
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
        .ok_or(ApiError::NotFound("proposal"))?;
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
        .routes(routes!(cosign_proposal))
        .routes(routes!(decline_proposal))
        .routes(routes!(withdraw_proposal))
        .routes(routes!(record_outcome))
        .routes(routes!(list_proposal_events))
        .routes(routes!(list_inbox))
}
