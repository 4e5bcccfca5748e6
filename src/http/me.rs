//! `GET /v1/me`: who the API takes the caller to be. A helpdesk uses it to
//! check its token and its Countersign-On-Behalf-Of setup.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use crate::app::Actor;
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}
