//! `GET /v1/me`: who the API takes the caller to be. A helpdesk uses it to
//! check its token and its Countersign-On-Behalf-Of setup.

use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use crate::app::Actor;
use crate::domain::employee::Role;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The person acting, if any (an integration without on-behalf-of has none).
    pub employee_id: Option<Uuid>,
    pub role: Option<Role>,
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
pub async fn get_me(actor: Actor) -> Result<axum::Json<Me>, ApiError> {
    Ok(axum::Json(Me {
        employee_id: actor.person.map(|p| p.id),
        role: actor.person.map(|p| p.role),
        via_integration_id: actor.via_integration,
        token_id: actor.token_id,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}
