//! The REST door's authentication: `Authorization: Bearer <token>` and, for
//! integration tokens, `Countersign-On-Behalf-Of` (employee id or helpdesk
//! external_id). Who that makes the caller is decided in `app::actor`.

use axum::extract::FromRequestParts;
use axum::http::{HeaderName, header, request::Parts};

use super::error::ApiError;
use crate::app::{self, Actor};
use crate::state::AppState;

pub const ON_BEHALF_OF: HeaderName = HeaderName::from_static("countersign-on-behalf-of");

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is malformed"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is malformed"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized("use the Bearer scheme"));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let on_behalf_of = parts
            .headers
            .get(&ON_BEHALF_OF)
            .map(|value| value.to_str().map(str::trim))
            .transpose()
            .map_err(|_| ApiError::bad_request("Countersign-On-Behalf-Of is not valid text"))?;
        Ok(app::actor::authenticate(state, token, on_behalf_of).await?)
    }
}
