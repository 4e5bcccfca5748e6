//! `/v1/employees`: people, their roles and their tokens (admin only).
//! Nothing is deleted: deactivating a person stops their tokens at once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{Json, PathId, Query};
use super::pagination::Keyset;
use crate::app::people::{NewPerson, PersonChange};
use crate::app::{self, Actor};
use crate::db;
use crate::db::employees::EmployeeRow;
use crate::domain::employee::{Role, check_groups};
use crate::domain::fields::{FieldErrors, email_address, optional_line, required_line};
use crate::requests::double_option;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Employee {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team: Option<String>,
    /// Signer groups (e.g. `senior`), for thresholds that need them.
    pub groups: Vec<String>,
    /// The person's id in the helpdesk.
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EmployeeRow> for Employee {
    fn from(row: EmployeeRow) -> Self {
        Employee {
            id: row.id,
            name: row.name,
            email: row.email,
            role: row.role,
            team: row.team,
            groups: row.groups,
            external_id: row.external_id,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeList {
    pub items: Vec<Employee>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEmployee {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 254)]
    pub email: String,
    pub role: Role,
    #[schema(max_length = 100)]
    pub team: Option<String>,
    /// Signer groups (e.g. `["senior"]`): thresholds may need an endorser
    /// of a group (`proposals.thresholds[].required_groups`).
    #[schema(max_items = 20)]
    pub groups: Option<Vec<String>>,
    #[schema(max_length = 200)]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEmployee {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 254)]
    pub email: Option<String>,
    pub role: Option<Role>,
    /// `null` clears the team.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub team: Option<Option<String>>,
    /// Replaces the person's signer groups (`[]`: none). A change reaches
    /// pending proposals at once: endorsements count by the groups their
    /// signers are in when the deciding signature arrives.
    #[schema(max_items = 20)]
    pub groups: Option<Vec<String>>,
    /// `null` clears the helpdesk id.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub external_id: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EmployeeQuery {
    pub role: Option<Role>,
    pub team: Option<String>,
    pub active: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by, e.g. "zendesk sidebar".
    #[schema(max_length = 200)]
    pub name: Option<String>,
}

/// A token as issued: `token` is shown this once and never again.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub id: Uuid,
    pub employee_id: Uuid,
    pub name: Option<String>,
    pub token: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenInfo>,
    pub next_cursor: Option<String>,
}

/// Create a person.
#[utoipa::path(
    post, path = "/v1/employees", tag = "people", security(("bearer" = [])),
    request_body = CreateEmployee,
    responses(
        (status = 201, body = Employee, headers(("Location" = String))),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "email or external_id taken"),
        (status = 422, body = Problem),
    )
)]
pub async fn create_employee(
    State(state): State<AppState>,
    actor: Actor,
    Json(body, _): Json<CreateEmployee>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let person = NewPerson {
        name: required_line(&mut errors, "name", &body.name, 200),
        email: email_address(&mut errors, &body.email),
        role: body.role,
        team: optional_line(&mut errors, "team", body.team.as_deref(), 100),
        groups: check_groups(&mut errors, body.groups.as_deref().unwrap_or_default()),
        external_id: optional_line(&mut errors, "external_id", body.external_id.as_deref(), 200),
    };
    errors.finish()?;
    let row = app::people::create_employee(&state, &actor, person).await?;
    tracing::info!(employee_id = %row.id, by = %admin.id, "employee created");
    let location = format!("/v1/employees/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(Employee::from(row)),
    ))
}

/// List people, oldest first.
#[utoipa::path(
    get, path = "/v1/employees", tag = "people", security(("bearer" = [])),
    params(EmployeeQuery),
    responses((status = 200, body = EmployeeList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem))
)]
pub async fn list_employees(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<EmployeeQuery>,
) -> Result<axum::Json<EmployeeList>, ApiError> {
    actor.require(Role::Admin)?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = db::employees::list(
        &mut conn,
        &db::employees::ListFilter {
            role: query.role,
            team: query.team.as_deref(),
            active: query.active,
            after: keyset.after,
            limit: keyset.fetch_limit(),
        },
    )
    .await?;
    let (rows, next_cursor) = keyset.finish(rows, |row| row.id);
    Ok(axum::Json(EmployeeList {
        items: rows.into_iter().map(Employee::from).collect(),
        next_cursor,
    }))
}

/// One person.
#[utoipa::path(
    get, path = "/v1/employees/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Employee), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_employee(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<Employee>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let row = db::employees::find(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("employee"))?;
    Ok(axum::Json(row.into()))
}

/// Change a person; `active: false` stops their tokens on the next request.
/// Someone who stops being an active agent (deactivated, or given another
/// role) has their pending proposals withdrawn.
#[utoipa::path(
    patch, path = "/v1/employees/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateEmployee,
    responses(
        (status = 200, body = Employee), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn update_employee(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<UpdateEmployee>,
) -> Result<axum::Json<Employee>, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let change = PersonChange {
        name: body.name.as_deref().map(|v| required_line(&mut errors, "name", v, 200)),
        email: body.email.as_deref().map(|v| email_address(&mut errors, v)),
        role: body.role,
        team: body
            .team
            .as_ref()
            .map(|v| optional_line(&mut errors, "team", v.as_deref(), 100)),
        groups: body.groups.as_deref().map(|groups| check_groups(&mut errors, groups)),
        external_id: body
            .external_id
            .as_ref()
            .map(|v| optional_line(&mut errors, "external_id", v.as_deref(), 200)),
        active: body.active,
    };
    errors.finish()?;
    let row = app::people::update_employee(&state, &actor, id, change).await?;
    Ok(axum::Json(row.into()))
}

/// Issue a token for a person; the clear token is in this answer only.
#[utoipa::path(
    post, path = "/v1/employees/{id}/tokens", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body(content = CreateToken, description = "optional"),
    responses(
        (status = 201, body = IssuedToken), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the person is inactive"),
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
    Json(body, _): Json<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Role::Admin)?;
    let mut errors = FieldErrors::new();
    let name = optional_line(&mut errors, "name", body.name.as_deref(), 200);
    errors.finish()?;
    let issued = app::people::issue_token(&state, &actor, id, name).await?;
    let answer = IssuedToken {
        id: issued.row.id,
        employee_id: id,
        name: issued.row.name,
        token: issued.token,
        created_at: issued.row.created_at,
    };
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// A one-time sign-in link for the web pages.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedSignInLink {
    pub employee_id: Uuid,
    /// Shown this once: it signs the person in, once, until `expires_at`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Issue a one-time sign-in link to the web pages for an active person
/// (`web.sign_in_link_minutes`, default 60); its address starts with
/// `web.public_url`, or the address this request was sent to.
#[utoipa::path(
    post, path = "/v1/employees/{id}/sign-in-links", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = IssuedSignInLink), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the person is inactive"),
    )
)]
pub async fn issue_sign_in_link(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<impl IntoResponse, ApiError> {
    let link = app::sessions::issue_sign_in_link(&state, &actor, id).await?;
    let answer = IssuedSignInLink {
        employee_id: id,
        url: format!("{}{}", state.settings.web.public_address(&headers), link.path()),
        expires_at: link.expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// A person's tokens (never the tokens themselves).
#[utoipa::path(
    get, path = "/v1/employees/{id}/tokens", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TokenList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<axum::Json<TokenList>, ApiError> {
    actor.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    db::employees::find(&mut conn, id)
        .await?
        .ok_or(ApiError::not_found("employee"))?;
    let items = db::tokens::list_for_employee(&mut conn, id)
        .await?
        .into_iter()
        .map(|row| TokenInfo {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
        .collect();
    Ok(axum::Json(TokenList {
        items,
        next_cursor: None,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_employee, list_employees))
        .routes(routes!(get_employee, update_employee))
        .routes(routes!(issue_token, list_tokens))
        .routes(routes!(issue_sign_in_link))
}
