//! `/v1/webhook-endpoints` and `/v1/webhook-deliveries`: where proposal
//! events are sent, the delivery log, and resending (admin only).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::{Keyset, PageQuery};
use crate::app::webhooks::{EndpointChange, EndpointSpec};
use crate::app::{self, Actor};
use crate::db;
use crate::db::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::domain::employee::Role;
use crate::domain::event::EventType;
use crate::domain::fields::{FieldErrors, optional_text};
use crate::state::AppState;
use crate::webhooks::destination;

/// An event an endpoint can subscribe to: one of the proposal events
/// (`EventType::PROPOSAL`), by the name the audit log stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalEvent(EventType);

impl<'de> Deserialize<'de> for ProposalEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EventType::PROPOSAL
            .into_iter()
            .find(|event| event.as_str() == name)
            .map(ProposalEvent)
            .ok_or_else(|| {
                let names: Vec<&str> = EventType::PROPOSAL.iter().map(|event| event.as_str()).collect();
                serde::de::Error::custom(format!("unknown event `{name}`, expected one of {}", names.join(", ")))
            })
    }
}

impl utoipa::PartialSchema for ProposalEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(EventType::PROPOSAL.iter().map(|event| event.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ProposalEvent {}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The proposal events sent here; `null` for all of them.
    #[schema(value_type = Option<Vec<ProposalEvent>>)]
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    /// Why it is disabled: by an admin, a 410 Gone, or failing continuously.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (`null` after any success).
    pub failing_since: Option<DateTime<Utc>>,
    /// After a rotation, the old secret signs too until then.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            url: row.url,
            description: row.description,
            event_types: row.event_types,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            disabled_at: row.disabled_at,
            failing_since: row.failing_since,
            previous_secret_until: row.previous_secret_until.filter(|until| *until > Utc::now()),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown on creation and rotation only.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_<base64>`: verify the `webhook-signature` header with it.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub items: Vec<WebhookEndpoint>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    #[schema(pattern = "^https?://[^\\s]+$", max_length = 2000)]
    pub url: String,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Only these proposal events; left out or `null`, all of them.
    #[schema(min_items = 1, max_items = 15)]
    pub event_types: Option<Vec<ProposalEvent>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Fields left out stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    #[schema(pattern = "^https?://[^\\s]+$", max_length = 2000)]
    pub url: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Only these proposal events; `null`, all of them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<ProposalEvent>>, min_items = 1, max_items = 15)]
    pub event_types: Option<Option<Vec<ProposalEvent>>>,
    /// True re-enables a disabled endpoint (its pending deliveries go out).
    pub enabled: Option<bool>,
}

/// A field that is present, even as `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A URL's host must parse (and, where the deployment refuses private
/// addresses, not be one); the schema's pattern only says the scheme.
/// Stored as the URL parser writes it (`HTTPS://Example.com` becomes
/// `https://example.com/`).
fn checked_url(errors: &mut FieldErrors, state: &AppState, url: &str) -> String {
    match destination::check_url(url, state.settings.webhooks.allow_private_destinations) {
        Ok(parsed) => parsed.to_string(),
        Err(reason) => {
            errors.add("url", reason);
            url.to_owned()
        }
    }
}

fn checked_event_types(errors: &mut FieldErrors, types: Option<Vec<ProposalEvent>>) -> Option<Vec<EventType>> {
    let mut types = types?;
    if types.is_empty() {
        errors.add("event_types", "must name at least one event (or be null for all)");
    }
    if types.len() > EventType::PROPOSAL.len() {
        errors.add(
            "event_types",
            format!("must list at most {} events (each once)", EventType::PROPOSAL.len()),
        );
    }
    types.sort_by_key(|t| t.0.as_str());
    types.dedup();
    Some(types.into_iter().map(|t| t.0).collect())
}

/// Register an endpoint for proposal events. The answer holds its signing
/// secret, shown this once (and on rotation).
#[utoipa::path(
    post, path = "/v1/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, body = EndpointWithSecret, headers(("Location" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    actor: Actor,
    Json(body, _): Json<CreateEndpoint>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let url = checked_url(&mut errors, &state, &body.url);
    let description = optional_text(&mut errors, "description", body.description.as_deref(), 500).unwrap_or_default();
    let event_types = checked_event_types(&mut errors, body.event_types);
    errors.finish()?;
    let spec = EndpointSpec {
        url,
        description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
    };
    let created = app::webhooks::create_endpoint(&state, &actor, spec).await?;
    let location = format!("/v1/webhook-endpoints/{}", created.row.id);
    let answer = EndpointWithSecret {
        endpoint: created.row.into(),
        secret: created.secret,
    };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(answer)))
}

/// List endpoints (never their secrets).
#[utoipa::path(
    get, path = "/v1/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = EndpointList), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<EndpointList>, ApiError> {
    actor.require(Role::Admin)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = db::webhooks::list_endpoints(&mut conn, keyset.after, keyset.fetch_limit()).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    Ok(axum::Json(EndpointList {
        items: rows.into_iter().map(WebhookEndpoint::from).collect(),
        next_cursor,
    }))
}

/// One endpoint (never its secret).
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<WebhookEndpoint>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let row = db::webhooks::find_endpoint(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("webhook endpoint"))?;
    Ok(axum::Json(row.into()))
}

/// Change an endpoint: its URL, description, events, or whether it is
/// enabled (re-enabling one the service disabled sends what is pending).
#[utoipa::path(
    patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, body = WebhookEndpoint), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn update_endpoint(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<UpdateEndpoint>,
) -> Result<axum::Json<WebhookEndpoint>, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let url = body.url.as_deref().map(|url| checked_url(&mut errors, &state, url));
    let description = body
        .description
        .as_deref()
        .map(|text| optional_text(&mut errors, "description", Some(text), 500).unwrap_or_default());
    let event_types = body.event_types.map(|types| checked_event_types(&mut errors, types));
    errors.finish()?;
    let change = EndpointChange {
        url,
        description,
        event_types,
        enabled: body.enabled,
    };
    let row = app::webhooks::update_endpoint(&state, &actor, id, change).await?;
    Ok(axum::Json(row.into()))
}

/// Delete an endpoint: nothing more is sent to it; its pending deliveries
/// fail; its delivery log stays readable by delivery id.
#[utoipa::path(
    delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    actor.require(Role::Admin)?;
    app::webhooks::delete_endpoint(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret, shown this once. The old one keeps signing beside
/// it (two `v1,` signatures) for `webhooks.secret_overlap_secs`.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = EndpointWithSecret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<EndpointWithSecret>, ApiError> {
    actor.require(Role::Admin)?;
    let rotated = app::webhooks::rotate_secret(&state, &actor, id).await?;
    Ok(axum::Json(EndpointWithSecret {
        endpoint: rotated.row.into(),
        secret: rotated.secret,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Messages from this time on (not in the future).
    pub since: DateTime<Utc>,
    /// Default true: only deliveries that failed (and messages this
    /// endpoint never got). False: every message since then, again.
    pub only_failed: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Deliveries queued.
    pub queued: u64,
}

/// After an outage: send this endpoint every stored message since a time
/// again, under their original `webhook-id`s.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = Replay,
    responses(
        (status = 202, body = Replayed), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the endpoint is disabled"),
        (status = 422, body = Problem),
    )
)]
pub async fn replay(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<Replay>,
) -> Result<(StatusCode, axum::Json<Replayed>), ApiError> {
    actor.require(Role::Admin)?;
    if body.since > Utc::now() {
        return Err(FieldErrors::single("since", "must not be in the future").into());
    }
    let queued = app::webhooks::replay(&state, &actor, id, body.since, body.only_failed.unwrap_or(true)).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Replayed { queued })))
}

// ------------------------------------------------------------ deliveries

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Due, in flight, or waiting to retry.
    Pending,
    Succeeded,
    /// The retry schedule is used up, the endpoint answered 410 or was deleted.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    /// The message's id: the `webhook-id` header, the same on every attempt
    /// and resend, and the id of the audit event it tells of.
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    #[schema(value_type = ProposalEvent)]
    pub event_type: String,
    pub proposal_id: Uuid,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When pending: the next attempt (or, in flight, when its lease ends).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = ApiError;

    fn try_from(row: DeliveryRow) -> Result<Self, ApiError> {
        let status = DeliveryStatus::parse(&row.status)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown delivery status {}", row.status)))?;
        Ok(Delivery {
            id: row.id,
            message_id: row.message_id,
            endpoint_id: row.endpoint_id,
            event_type: row.event_type,
            proposal_id: row.proposal_id,
            status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_status_code: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub id: Uuid,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// `scheduled` (the worker's own) or `redelivery` (an admin asked).
    pub trigger: String,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's status; `null` when no answer came (see `error`).
    pub status_code: Option<i32>,
    /// The start of the receiver's answer (`webhooks.keep_response_bytes`).
    pub response_body: Option<String>,
    pub error: Option<String>,
}

impl From<AttemptRow> for Attempt {
    fn from(row: AttemptRow) -> Self {
        Attempt {
            id: row.id,
            attempt: row.attempt,
            trigger: row.trigger,
            url: row.url,
            started_at: row.started_at,
            duration_ms: row.duration_ms,
            status_code: row.status_code,
            response_body: row.response_body,
            error: row.error,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryWithAttempts {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Oldest first.
    pub attempts_log: Vec<Attempt>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// An endpoint's deliveries, oldest first, optionally of one status.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Query(query): Query<DeliveryQuery>,
) -> Result<axum::Json<DeliveryList>, ApiError> {
    actor.require(Role::Admin)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    db::webhooks::find_endpoint(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("webhook endpoint"))?;
    let status = query.status.map(DeliveryStatus::as_str);
    let rows = db::webhooks::list_deliveries(&mut conn, id, status, keyset.after, keyset.fetch_limit()).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    Ok(axum::Json(DeliveryList {
        items: rows.into_iter().map(Delivery::try_from).collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// One delivery with every attempt: status, duration, the start of the
/// answer, the error.
#[utoipa::path(
    get, path = "/v1/webhook-deliveries/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DeliveryWithAttempts), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_delivery(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<DeliveryWithAttempts>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let row = db::webhooks::find_delivery(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("webhook delivery"))?;
    let attempts = db::webhooks::list_attempts(&mut conn, id).await?;
    Ok(axum::Json(DeliveryWithAttempts {
        delivery: row.try_into()?,
        attempts_log: attempts.into_iter().map(Attempt::from).collect(),
    }))
}

/// Send a delivery again, now, with the same `webhook-id` (receivers that
/// deduplicate on it see a repeat, not a new event).
#[utoipa::path(
    post, path = "/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 202, body = Delivery), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the endpoint is disabled"),
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<(StatusCode, axum::Json<Delivery>), ApiError> {
    actor.require(Role::Admin)?;
    let row = app::webhooks::redeliver(&state, &actor, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(row.try_into()?)))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(replay))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}
