//! `GET /v1/me`: who the API takes the caller to be. A helpdesk uses it to
//! check its token and its Countersign-On-Behalf-Of setup.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::Json;
use crate::app::availability::OnShift;
use crate::app::{self, Actor};
use crate::db;
use crate::domain::employee::Role;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The person acting, if any (an integration without on-behalf-of has none).
    pub employee_id: Option<Uuid>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub team: Option<String>,
    /// The integration the request came through.
    pub via_integration_id: Option<Uuid>,
    pub token_id: Uuid,
}

/// The authenticated caller.
#[utoipa::path(
    get, path = "/v1/me", tag = "people", security(("bearer" = [])),
    params(("Countersign-On-Behalf-Of" = Option<String>, Header, description = "integrations only: the agent's id or external_id")),
    responses((status = 200, body = Me), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn get_me(State(state): State<AppState>, actor: Actor) -> Result<axum::Json<Me>, ApiError> {
    let person = match actor.person {
        Some(person) => {
            let mut conn = state.pool.acquire().await?;
            db::employees::find(&mut conn, person.id).await?
        }
        None => None,
    };
    Ok(axum::Json(Me {
        employee_id: actor.person.map(|p| p.id),
        name: person.as_ref().map(|p| p.name.clone()),
        role: actor.person.map(|p| p.role),
        team: person.and_then(|p| p.team),
        via_integration_id: actor.via_integration,
        token_id: actor.token_id,
    }))
}

/// Whether an agent is on shift, so requests to co-sign reach them first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Availability {
    /// On shift now: said so, and active within `routing.availability_idle_minutes`.
    pub available: bool,
    /// While on shift: when it lapses unless they make a request before.
    pub available_until: Option<DateTime<Utc>>,
    /// When they last said they are on shift or off it (never: null).
    pub changed_at: Option<DateTime<Utc>>,
}

impl From<OnShift> for Availability {
    fn from(on_shift: OnShift) -> Self {
        Availability {
            available: on_shift.available,
            available_until: on_shift.until,
            changed_at: on_shift.changed_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAvailability {
    /// true: on shift (asked first to co-sign); false: off shift.
    pub available: bool,
}

/// The calling agent's availability.
#[utoipa::path(
    get, path = "/v1/me/availability", tag = "people", security(("bearer" = [])),
    params(("Countersign-On-Behalf-Of" = Option<String>, Header, description = "integrations only: the agent's id or external_id")),
    responses((status = 200, body = Availability), (status = 401, body = Problem), (status = 403, body = Problem))
)]
pub async fn get_availability(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<axum::Json<Availability>, ApiError> {
    Ok(axum::Json(app::availability::current(&state, &actor).await?.into()))
}

/// The calling agent says they are on shift, or off it. On shift lapses by
/// itself after `routing.availability_idle_minutes` without a request.
#[utoipa::path(
    put, path = "/v1/me/availability", tag = "people", security(("bearer" = [])),
    params(("Countersign-On-Behalf-Of" = Option<String>, Header, description = "integrations only: the agent's id or external_id")),
    request_body = SetAvailability,
    responses(
        (status = 200, body = Availability), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn put_availability(
    State(state): State<AppState>,
    actor: Actor,
    Json(body, _): Json<SetAvailability>,
) -> Result<axum::Json<Availability>, ApiError> {
    Ok(axum::Json(
        app::availability::set(&state, &actor, body.available).await?.into(),
    ))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(get_availability, put_availability))
}
