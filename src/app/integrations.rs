//! Helpdesk integrations: registered by an admin with an API token and an
//! inbound signing secret, both shown once.

use serde_json::json;

use super::commit::{Change, commit};
use super::{Actor, AppError};
use crate::db;
use crate::db::integrations::IntegrationRow;
use crate::domain::audit::EventContent;
use crate::domain::employee::Role;
use crate::domain::event::EventType;
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
