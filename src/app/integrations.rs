//! Helpdesk integrations: registered by an admin with an API token and an
//! inbound signing secret, both shown once; changed by an admin, who also
//! says which agents each may act for (all, by default).

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
use crate::secrets;
use crate::state::AppState;

/// An integration as created: `token` and `secret` exist only in this answer.
#[derive(Debug, Clone)]
pub struct CreatedIntegration {
    pub row: IntegrationRow,
    pub token_id: uuid::Uuid,
    pub token: String,
    pub secret: String,
}

pub async fn create_integration(
    state: &AppState,
    actor: &Actor,
    name: String,
    kind: IntegrationKind,
) -> Result<CreatedIntegration, AppError> {
    actor.require(Role::Admin)?;
    let secret = secrets::new_signing_secret();
    let (token, token_hash) = secrets::new_api_token();
    commit(state, async |conn, now| {
        let row = db::integrations::insert(conn, &name, kind, &secret).await?;
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
                secret,
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
            json!({ "before": before, "after": after }),
            now,
        );
        Ok(Change::new(after, vec![event]))
    })
    .await
}
