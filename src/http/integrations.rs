//! `/v1/integrations`: helpdesk integrations (admin only). Each gets an API
//! token and an inbound signing secret, both shown once at creation (a
//! Zendesk one is given Zendesk's secret instead). Inbound webhooks
//! themselves arrive at `http::inbound`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::{Keyset, PageQuery};
use crate::app::integrations::IntegrationChange;
use crate::app::{self, Actor};
use crate::db;
use crate::db::integrations::IntegrationRow;
use crate::domain::employee::Role;
use crate::domain::fields::{FieldErrors, required_line};
use crate::domain::integration::IntegrationKind;
use crate::secrets::GivenSecret;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    pub kind: IntegrationKind,
    pub active: bool,
    /// Acts for every active agent (the default), or only for the agents of
    /// `acts_for_teams` and those in `acts_for_agents`.
    pub acts_for_all: bool,
    pub acts_for_teams: Vec<String>,
    pub acts_for_agents: Vec<Uuid>,
    /// Whether it can verify inbound webhooks: false for a `zendesk`
    /// integration until it is given Zendesk's signing secret.
    pub has_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<IntegrationRow> for Integration {
    fn from(row: IntegrationRow) -> Self {
        Integration {
            id: row.id,
            name: row.name,
            kind: row.kind,
            active: row.active,
            acts_for_all: row.acts_for_all,
            acts_for_teams: row.acts_for_teams,
            acts_for_agents: row.acts_for_agents,
            has_secret: row.has_secret,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An integration as created: `token` and `secret` are shown this once.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedIntegration {
    #[serde(flatten)]
    pub integration: Integration,
    pub token_id: Uuid,
    /// API token for calls to /v1 (Bearer).
    pub token: String,
    /// Secret the helpdesk signs inbound webhooks with (`generic`: a
    /// Standard Webhooks `whsec_` secret) or sends as its token
    /// (`freshdesk`). `null` for `zendesk`: it signs with its own secret.
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationList {
    pub items: Vec<Integration>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: IntegrationKind,
    /// `zendesk` only: the signing secret Zendesk shows for its webhook
    /// (may be given later with PATCH; inbound requests are refused until then).
    #[schema(value_type = Option<String>, min_length = 8, max_length = 200)]
    pub secret: Option<GivenSecret>,
}

/// Fields left out stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// False stops its tokens at once.
    pub active: Option<bool>,
    /// True: acts for every active agent. False: only for those below.
    pub acts_for_all: Option<bool>,
    /// Teams whose active agents it may act for.
    #[schema(max_items = 100)]
    pub acts_for_teams: Option<Vec<String>>,
    /// Agents it may act for, by id.
    #[schema(max_items = 1000)]
    pub acts_for_agents: Option<Vec<Uuid>>,
    /// `zendesk` only: the signing secret Zendesk shows for its webhook.
    #[schema(value_type = Option<String>, min_length = 8, max_length = 200)]
    pub secret: Option<GivenSecret>,
}

// Hand-written so that the token and secret shown once reach no log.
impl std::fmt::Debug for CreatedIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedIntegration")
            .field("integration", &self.integration)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

/// Register a helpdesk integration.
#[utoipa::path(
    post, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    request_body = CreateIntegration,
    responses(
        (status = 201, body = CreatedIntegration, headers(("Location" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "name taken"), (status = 422, body = Problem),
    )
)]
pub async fn create_integration(
    State(state): State<AppState>,
    actor: Actor,
    Json(body, _): Json<CreateIntegration>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let name = required_line(&mut errors, "name", &body.name, 200);
    let secret = app::integrations::zendesk_secret(&mut errors, body.secret);
    errors.finish()?;

    let created = app::integrations::create_integration(&state, &actor, name, body.kind, secret).await?;
    let location = format!("/v1/integrations/{}", created.row.id);
    let answer = CreatedIntegration {
        integration: created.row.into(),
        token_id: created.token_id,
        token: created.token,
        secret: created.secret,
    };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(answer)))
}

/// List integrations (never their secrets).
#[utoipa::path(
    get, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = IntegrationList), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn list_integrations(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<IntegrationList>, ApiError> {
    actor.require(Role::Admin)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = db::integrations::list(&mut conn, keyset.after, keyset.fetch_limit()).await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    Ok(axum::Json(IntegrationList {
        items: rows.into_iter().map(Integration::from).collect(),
        next_cursor,
    }))
}

/// One integration (never its secrets).
#[utoipa::path(
    get, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Integration), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_integration(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<Integration>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let row = db::integrations::find(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("integration"))?;
    Ok(axum::Json(row.into()))
}

/// Change an integration: its name, whether it is active, and which agents
/// it may act for. An agent outside its scope is refused as if unknown.
#[utoipa::path(
    patch, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateIntegration,
    responses(
        (status = 200, body = Integration), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "name taken"),
        (status = 422, body = Problem),
    )
)]
pub async fn update_integration(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<UpdateIntegration>,
) -> Result<axum::Json<Integration>, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let name = body.name.as_deref().map(|v| required_line(&mut errors, "name", v, 200));
    let teams = body.acts_for_teams.map(|teams| {
        if teams.len() > 100 {
            errors.add("acts_for_teams", "must list at most 100 teams");
        }
        teams
            .iter()
            .map(|team| required_line(&mut errors, "acts_for_teams", team, 100))
            .collect::<Vec<_>>()
    });
    if body.acts_for_agents.as_ref().is_some_and(|agents| agents.len() > 1000) {
        errors.add("acts_for_agents", "must list at most 1000 agents");
    }
    let secret = app::integrations::zendesk_secret(&mut errors, body.secret);
    errors.finish()?;
    let change = IntegrationChange {
        name,
        active: body.active,
        acts_for_all: body.acts_for_all,
        acts_for_teams: teams,
        acts_for_agents: body.acts_for_agents,
        secret,
    };
    let row = app::integrations::update_integration(&state, &actor, id, change).await?;
    Ok(axum::Json(row.into()))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_integration, list_integrations))
        .routes(routes!(get_integration, update_integration))
}
