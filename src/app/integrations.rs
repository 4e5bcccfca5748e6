//! Helpdesk integrations: registered by an admin with an API token and an
//! inbound signing secret, both shown once (a Zendesk integration verifies
//! with the secret Zendesk generates instead, given by the admin); changed
//! by an admin, who also says which agents each may act for (all, by
//! default). Secrets are stored sealed (`crate::sealing`).

use serde_json::json;

use super::commit::{Change, commit};
use super::{Actor, AppError};
use crate::db;
use crate::db::integrations::IntegrationRow;
use crate::domain::audit::EventContent;
use crate::domain::employee::Role;
use crate::domain::event::EventType;
use crate::domain::fields::FieldErrors;
use crate::domain::integration::IntegrationKind;
use crate::sealing::Purpose;
use crate::secrets::{self, GivenSecret};
use crate::state::AppState;

/// An integration as created: `token` and `secret` exist only in this
/// answer (`secret` is `None` for a Zendesk integration: it has Zendesk's).
#[derive(Clone)]
pub struct CreatedIntegration {
    pub row: IntegrationRow,
    pub token_id: uuid::Uuid,
    pub token: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for CreatedIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedIntegration")
            .field("row", &self.row)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

/// The secret an integration verifies inbound requests with: Zendesk's,
/// as given (or none yet), or one generated here for the others.
fn inbound_secret(kind: IntegrationKind, given: Option<GivenSecret>) -> Result<Option<String>, AppError> {
    match (kind, given) {
        (IntegrationKind::Zendesk, given) => Ok(given.map(|secret| secret.0)),
        (_, None) => Ok(Some(secrets::new_signing_secret())),
        (_, Some(_)) => Err(FieldErrors::single(
            "secret",
            "only a zendesk integration is given its secret (Zendesk generates it); Countersign generates the others'",
        )
        .into()),
    }
}

/// Zendesk's signing secret as given: printable ASCII, 8 to 200 characters.
pub fn zendesk_secret(errors: &mut FieldErrors, secret: Option<GivenSecret>) -> Option<GivenSecret> {
    let secret = secret?;
    let secret = secret.0.trim();
    if !(8..=200).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        errors.add(
            "secret",
            "must be the signing secret Zendesk shows: 8-200 printable ASCII characters",
        );
    }
    Some(GivenSecret(secret.to_owned()))
}

pub async fn create_integration(
    state: &AppState,
    actor: &Actor,
    name: String,
    kind: IntegrationKind,
    zendesk_secret: Option<GivenSecret>,
) -> Result<CreatedIntegration, AppError> {
    actor.require(Role::Admin)?;
    let secret = inbound_secret(kind, zendesk_secret)?;
    let id = uuid::Uuid::now_v7();
    let sealed = secret
        .as_deref()
        .map(|secret| state.sealer.seal(Purpose::IntegrationSecret(id), secret));
    let (token, token_hash) = secrets::new_api_token();
    commit(state, async |conn, now| {
        let row = db::integrations::insert(conn, id, &name, kind, sealed.as_deref()).await?;
        let token_row =
            db::tokens::insert(conn, db::tokens::Owner::Integration(row.id), Some(&name), &token_hash).await?;
        let event = EventContent::new(
            EventType::IntegrationCreated,
            row.id,
            actor.audit_ids(),
            json!({ "name": row.name, "kind": row.kind, "token_id": token_row.id }),
            now,
        );
        Ok(Change::created(
            CreatedIntegration {
                row,
                token_id: token_row.id,
                token,
                secret: secret.filter(|_| kind != IntegrationKind::Zendesk),
            },
            vec![event],
        ))
    })
    .await
}

/// A change to an integration: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct IntegrationChange {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub acts_for_all: Option<bool>,
    pub acts_for_teams: Option<Vec<String>>,
    pub acts_for_agents: Option<Vec<uuid::Uuid>>,
    /// Zendesk's signing secret, for a `zendesk` integration only.
    pub secret: Option<GivenSecret>,
}

pub async fn update_integration(
    state: &AppState,
    actor: &Actor,
    id: uuid::Uuid,
    change: IntegrationChange,
) -> Result<IntegrationRow, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        let before = db::integrations::find_for_update(conn, id)
            .await?
            .ok_or(AppError::NotFound("integration"))?;
        if let Some(agents) = &change.acts_for_agents {
            let known = db::employees::agents_among(conn, agents).await?;
            if let Some(unknown) = agents.iter().find(|agent| !known.contains(agent)) {
                return Err(FieldErrors::single("acts_for_agents", format!("{unknown} is not an agent")).into());
            }
        }
        if change.secret.is_some() && before.kind != IntegrationKind::Zendesk {
            return Err(FieldErrors::single(
                "secret",
                "only a zendesk integration is given its secret (Zendesk generates it)",
            )
            .into());
        }
        let secret_set = change.secret.is_some();
        if let Some(secret) = &change.secret {
            let sealed = state.sealer.seal(Purpose::IntegrationSecret(id), &secret.0);
            db::integrations::set_secret(conn, id, &sealed).await?;
        }
        let mut after = before.clone();
        after.name = change.name.unwrap_or(after.name);
        after.active = change.active.unwrap_or(after.active);
        after.acts_for_all = change.acts_for_all.unwrap_or(after.acts_for_all);
        after.acts_for_teams = change.acts_for_teams.unwrap_or(after.acts_for_teams);
        after.acts_for_agents = change.acts_for_agents.unwrap_or(after.acts_for_agents);
        let after = db::integrations::update(conn, &after).await?;
        let event = EventContent::new(
            EventType::IntegrationUpdated,
            id,
            actor.audit_ids(),
            json!({ "before": before, "after": after, "secret_set": secret_set }),
            now,
        );
        Ok(Change::new(after, vec![event]))
    })
    .await
}
