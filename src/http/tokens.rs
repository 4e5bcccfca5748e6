//! `/v1/tokens/{id}`: revoking a token, a person's or an integration's
//! (admin only). Tokens are issued under `/v1/employees/{id}/tokens` and
//! with an integration.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem};
use super::extract::PathId;
use crate::app::{self, Actor};
use crate::domain::employee::Role;
use crate::state::AppState;

/// Revoke a token (a person's or an integration's); effective at once.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    actor: Actor,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    actor.require(Role::Admin)?;
    app::people::revoke_token(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(revoke_token))
}
