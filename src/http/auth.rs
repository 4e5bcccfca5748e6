//! Who is calling: every `/v1` request carries `Authorization: Bearer <token>`
//! of an employee or an integration. An integration may act for an agent
//! named in `Countersign-On-Behalf-Of` (employee id or helpdesk external_id);
//! both are recorded. Tokens are looked up by hash, so no comparison of
//! secrets happens in Rust at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::{HeaderName, header, request::Parts};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::db;
use crate::db::audit::ActorIds;
use crate::db::idempotency::KeyScope;
use crate::domain::employee::{Person, Role};
use crate::secrets;

pub const ON_BEHALF_OF: HeaderName = HeaderName::from_static("countersign-on-behalf-of");

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The person acting: the token's owner, or the agent an integration acts for.
    pub person: Option<Person>,
    /// The integration the request came through, if any.
    pub via_integration: Option<Uuid>,
    pub token_id: Uuid,
}

impl Actor {
    /// The acting person, who must hold `role`.
    pub fn require(&self, role: Role) -> Result<Person, ApiError> {
        match self.person {
            Some(person) if person.role == role => Ok(person),
            None if self.via_integration.is_some() && role == Role::Agent => Err(ApiError::Forbidden {
                detail: "an integration must name the agent it acts for in Countersign-On-Behalf-Of".to_owned(),
                required_role: Some(Role::Agent),
            }),
            _ => Err(ApiError::requires_role(role)),
        }
    }

    /// The person acting, whatever their role (integrations must name one).
    pub fn require_person(&self) -> Result<Person, ApiError> {
        self.person.ok_or_else(|| {
            ApiError::forbidden("an integration must name the agent it acts for in Countersign-On-Behalf-Of")
        })
    }

    /// Whose idempotency keys these are: the person acting, together with
    /// the integration acting for them. One integration acting for two
    /// agents never replays one agent's answer to the other.
    pub fn idempotency_scope(&self) -> KeyScope {
        KeyScope {
            principal_id: self.person.map_or(self.token_id, |p| p.id),
            via_integration_id: self.via_integration,
        }
    }

    pub fn audit_ids(&self) -> ActorIds {
        ActorIds {
            employee_id: self.person.map(|p| p.id),
            via_integration_id: self.via_integration,
        }
    }
}

/// Remembers when this replica last wrote `last_used_at` for each token, so
/// a busy token costs one write a minute, not one per request.
#[derive(Debug, Default)]
pub struct TokenUsage {
    written: Mutex<HashMap<Uuid, Instant>>,
}

const USAGE_WRITE_INTERVAL: Duration = Duration::from_secs(60);

impl TokenUsage {
    fn should_write(&self, token_id: Uuid) -> bool {
        let now = Instant::now();
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written.get(&token_id) {
            Some(last) if now.duration_since(*last) < USAGE_WRITE_INTERVAL => false,
            _ => {
                written.insert(token_id, now);
                true
            }
        }
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <token>`".to_owned()))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is malformed".to_owned()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header is malformed".to_owned()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized("use the Bearer scheme".to_owned()));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let unknown = || ApiError::Unauthorized("the token is unknown or revoked".to_owned());
        if !secrets::looks_like_token(token) {
            return Err(unknown());
        }
        let owner = db::tokens::find_owner(&state.pool, &secrets::hash_token(token))
            .await?
            .filter(|owner| !owner.revoked)
            .ok_or_else(unknown)?;

        let stale = owner
            .last_used_at
            .is_none_or(|at| chrono::Utc::now() - at > chrono::Duration::seconds(60));
        if stale && state.token_usage.should_write(owner.token_id) {
            let pool = state.pool.clone();
            tokio::spawn(async move {
                if let Err(error) = db::tokens::touch(&pool, owner.token_id).await {
                    tracing::warn!(%error, "could not record token use");
                }
            });
        }

        let on_behalf_of = parts
            .headers
            .get(&ON_BEHALF_OF)
            .map(|value| value.to_str().map(str::trim))
            .transpose()
            .map_err(|_| ApiError::BadRequest("Countersign-On-Behalf-Of is not valid text".to_owned()))?;

        if let (Some(id), Some(role), Some(active)) = (owner.employee_id, &owner.employee_role, owner.employee_active) {
            if !active {
                return Err(ApiError::Unauthorized("the token's owner is deactivated".to_owned()));
            }
            if on_behalf_of.is_some() {
                return Err(ApiError::forbidden(
                    "only integration tokens may act on behalf of someone (Countersign-On-Behalf-Of)",
                ));
            }
            let role = Role::parse(role).ok_or_else(|| anyhow::anyhow!("employee {id} has unknown role {role}"))?;
            return Ok(Actor {
                person: Some(Person { id, role, active }),
                via_integration: None,
                token_id: owner.token_id,
            });
        }

        let integration_id = owner.integration_id.ok_or_else(unknown)?;
        if owner.integration_active != Some(true) {
            return Err(ApiError::Unauthorized("the integration is deactivated".to_owned()));
        }
        let person = match on_behalf_of {
            None => None,
            Some(reference) => {
                let mut conn = state.pool.acquire().await?;
                let agent = db::employees::find_by_reference(&mut conn, reference)
                    .await?
                    .ok_or_else(|| {
                        ApiError::forbidden(format!("Countersign-On-Behalf-Of: no employee `{reference}`"))
                    })?;
                let role = Role::parse(&agent.role).unwrap_or(Role::Manager);
                let person = Person {
                    id: agent.id,
                    role,
                    active: agent.active,
                };
                if !person.is_active_agent() {
                    return Err(ApiError::forbidden(format!(
                        "Countersign-On-Behalf-Of: `{reference}` is not an active agent"
                    )));
                }
                Some(person)
            }
        };
        Ok(Actor {
            person,
            via_integration: Some(integration_id),
            token_id: owner.token_id,
        })
    }
}
