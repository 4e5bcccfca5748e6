//! `/v1/integrations`: helpdesk integrations (admin only). Each gets an API
//! token and an inbound signing secret, both shown once at creation.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, FieldErrors, Problem, required_text};
use super::extract::{Json, Query};
use super::page::Keyset;
use crate::db;
use crate::db::integrations::IntegrationRow;
use crate::domain::employee::Role;
use crate::secrets;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    /// Signs with Standard Webhooks.
    Generic,
    /// Signs with `x-zendesk-webhook-signature`.
    Zendesk,
    /// Cannot sign: sends a shared token.
    Freshdesk,
}

impl IntegrationKind {
    fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Generic => "generic",
            IntegrationKind::Zendesk => "zendesk",
            IntegrationKind::Freshdesk => "freshdesk",
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<IntegrationRow> for Integration {
    fn from(row: IntegrationRow) -> Self {
        Integration {
            id: row.id,
            name: row.name,
            kind: row.kind,
            active: row.active,
            created_at: row.created_at,
        }
    }
}

/// An integration as created: `token` and `secret` are shown this once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedIntegration {
    #[serde(flatten)]
    pub integration: Integration,
    pub token_id: Uuid,
    /// API token for calls to /v1 (Bearer).
    pub token: String,
    /// Secret the helpdesk signs inbound webhooks with.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationList {
    pub items: Vec<Integration>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub name: String,
    pub kind: IntegrationKind,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IntegrationQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
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
    let name = required_text(&mut errors, "name", &body.name, 200);
    errors.finish()?;

    let secret = secrets::new_signing_secret();
    let (token, token_hash) = secrets::new_api_token();
    let mut tx = state.pool.begin().await?;
    let row = db::integrations::insert(&mut tx, &name, body.kind.as_str(), &secret).await?;
    let token_row = db::tokens::insert(
        &mut tx,
        db::tokens::Owner::Integration(row.id),
        Some(&name),
        &token_hash,
    )
    .await?;
    let event = db::audit::event(
        "integration.created",
        "integration",
        row.id,
        actor.audit_ids(),
        json!({ "name": row.name, "kind": row.kind, "token_id": token_row.id }),
    );
    db::audit::record(&mut tx, &[event]).await?;
    tx.commit().await?;
    let location = format!("/v1/integrations/{}", row.id);
    let created = CreatedIntegration {
        integration: row.into(),
        token_id: token_row.id,
        token,
        secret,
    };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(created)))
}

/// List integrations (never their secrets).
#[utoipa::path(
    get, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    params(IntegrationQuery),
    responses((status = 200, body = IntegrationList), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn list_integrations(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<IntegrationQuery>,
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_integration, list_integrations))
}
