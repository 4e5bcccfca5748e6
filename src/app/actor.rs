//! Who is acting: the person behind a token, or the agent an integration
//! acts for (both are recorded). Every door authenticates through here, so
//! an integration can never be its own second signer whichever way it
//! calls. Tokens are looked up by hash; no secret is compared in Rust.

use uuid::Uuid;

use super::AppError;
use crate::db;
use crate::db::idempotency::KeyScope;
use crate::domain::audit::ActorIds;
use crate::domain::employee::{Person, Role};
use crate::secrets;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The person acting: the token's owner, or the agent an integration acts for.
    pub person: Option<Person>,
    /// The integration the request came through, if any.
    pub via_integration: Option<Uuid>,
    /// The credential that authenticated the call: an API token's id, or,
    /// for a signed inbound webhook, the integration's.
    pub token_id: Uuid,
}

impl Actor {
    /// The acting person, who must hold `role`.
    pub fn require(&self, role: Role) -> Result<Person, AppError> {
        match self.person {
            Some(person) if person.role == role => Ok(person),
            None if self.via_integration.is_some() && role == Role::Agent => Err(AppError::OnBehalfOfRequired),
            _ => Err(AppError::requires_role(role)),
        }
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

/// Refuses a caller (a token, or an integration's inbound webhooks) that
/// made more requests than `server.rate_limit_per_second` allows.
pub(super) fn within_rate_limit(state: &AppState, caller: Uuid) -> Result<(), AppError> {
    if let Some(limit) = &state.rate_limit
        && let Err(not_until) = limit.check_key(&caller)
    {
        let retry_after =
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return Err(AppError::RateLimited { retry_after });
    }
    Ok(())
}

/// The caller behind `token`; for an integration token, acting for the
/// agent named by `on_behalf_of` (employee id or helpdesk external_id).
pub async fn authenticate(state: &AppState, token: &str, on_behalf_of: Option<&str>) -> Result<Actor, AppError> {
    let unknown = || AppError::Unauthenticated("the token is unknown or revoked".to_owned());
    if !secrets::looks_like_token(token) {
        return Err(unknown());
    }
    let owner = db::tokens::find_owner(&state.pool, &secrets::hash_token(token))
        .await?
        .filter(|owner| !owner.revoked)
        .ok_or_else(unknown)?;

    within_rate_limit(state, owner.token_id)?;
    let stale = owner
        .last_used_at
        .is_none_or(|at| chrono::Utc::now() - at > chrono::Duration::seconds(60));
    if stale && state.token_usage.should_write(owner.token_id, state.clock.now()) {
        let pool = state.pool.clone();
        tokio::spawn(async move {
            if let Err(error) = db::tokens::touch(&pool, owner.token_id).await {
                tracing::warn!(%error, "could not record token use");
            }
        });
    }

    if let (Some(id), Some(role), Some(active)) = (owner.employee_id, owner.employee_role, owner.employee_active) {
        if !active {
            return Err(AppError::Unauthenticated("the token's owner is deactivated".to_owned()));
        }
        if on_behalf_of.is_some() {
            return Err(AppError::forbidden(
                "only integration tokens may act on behalf of someone (Countersign-On-Behalf-Of)",
            ));
        }
        let person = Person { id, role, active };
        super::availability::noticed(state, &person);
        return Ok(Actor {
            person: Some(person),
            via_integration: None,
            token_id: owner.token_id,
        });
    }

    let integration_id = owner.integration_id.ok_or_else(unknown)?;
    if owner.integration_active != Some(true) {
        return Err(AppError::Unauthenticated("the integration is deactivated".to_owned()));
    }
    let person = match on_behalf_of {
        None => None,
        Some(reference) => {
            // Unknown, not an active agent, or not one this integration may
            // act for: one answer, so an integration cannot probe for people.
            let mut conn = state.pool.acquire().await?;
            let id = Uuid::parse_str(reference).ok();
            let agent = db::employees::agent_for_integration(&mut conn, integration_id, id, Some(reference))
                .await?
                .ok_or_else(|| {
                    AppError::forbidden(format!(
                        "Countersign-On-Behalf-Of: this integration may not act for `{reference}`"
                    ))
                })?;
            let person = agent.person();
            super::availability::noticed(state, &person);
            Some(person)
        }
    };
    Ok(Actor {
        person,
        via_integration: Some(integration_id),
        token_id: owner.token_id,
    })
}
