//! Audit events: written in the caller's transaction with their own hash and
//! a queue entry for the sequencer; chained later, in batches, by one
//! sequencer at a time. No writer touches a row shared with unrelated work.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::audit::{EventContent, storable_time};

/// Who did it: the person, and the integration they acted through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActorIds {
    pub employee_id: Option<Uuid>,
    pub via_integration_id: Option<Uuid>,
}

/// Builds an event stamped now, ready to record.
pub fn event(event_type: &str, subject_type: &str, subject_id: Uuid, actor: ActorIds, payload: Value) -> EventContent {
    EventContent {
        id: Uuid::now_v7(),
        occurred_at: storable_time(chrono::Utc::now()),
        event_type: event_type.to_owned(),
        subject_type: subject_type.to_owned(),
        subject_id,
        actor_employee_id: actor.employee_id,
        via_integration_id: actor.via_integration_id,
        payload,
    }
}

/// Inserts events and their queue entries in one statement.
pub async fn record(conn: &mut PgConnection, events: &[EventContent]) -> sqlx::Result<()> {
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "occurred_at": e.occurred_at,
                "event_type": e.event_type,
                "subject_type": e.subject_type,
                "subject_id": e.subject_id,
                "actor_employee_id": e.actor_employee_id,
                "via_integration_id": e.via_integration_id,
                "payload": e.payload,
                "content_hash": hex::encode(e.hash()),
            })
        })
        .collect();
    sqlx::query!(
        r#"
        WITH inserted AS (
            INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id,
                                      actor_employee_id, via_integration_id, payload, content_hash)
            SELECT e.id, e.occurred_at, e.event_type, e.subject_type, e.subject_id,
                   e.actor_employee_id, e.via_integration_id, e.payload, decode(e.content_hash, 'hex')
            FROM jsonb_to_recordset($1::jsonb) AS e(
                id uuid, occurred_at timestamptz, event_type text, subject_type text, subject_id uuid,
                actor_employee_id uuid, via_integration_id uuid, payload jsonb, content_hash text)
            RETURNING id
        )
        INSERT INTO audit_unchained (event_id) SELECT id FROM inserted
        "#,
        Value::Array(rows),
    )
    .execute(conn)
    .await?;
    Ok(())
}
