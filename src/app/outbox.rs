//! The transactional outbox's messages: one per proposal event, carrying
//! the proposal as the REST API shows it after the change. Built by the
//! commit routine from a change's events; whether any is stored depends on
//! who subscribes (`db::audit::record`, with the change's audit events).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::AppError;
use crate::db;
use crate::db::webhooks::OutboundMessage;
use crate::domain::audit::EventContent;
use crate::domain::event::{EventType, Subject};
use crate::views::{self, Proposal};
use crate::webhooks;

/// The messages `events` call for. Proposals the use case did not hand
/// over (an expiry batch, withdrawals on a deactivation) are read in the
/// same transaction, after the change.
pub async fn messages(
    conn: &mut PgConnection,
    events: &[EventContent],
    known: &[Proposal],
    now: DateTime<Utc>,
) -> Result<Vec<OutboundMessage>, AppError> {
    let mut proposals: HashMap<Uuid, Proposal> = known.iter().map(|p| (p.id, p.clone())).collect();
    let told: Vec<(&EventContent, EventType)> = events
        .iter()
        .filter_map(|event| {
            EventType::parse(&event.event_type)
                .filter(|t| t.subject() == Subject::Proposal)
                .map(|t| (event, t))
        })
        .collect();
    // Reading proposals costs a query each: only when someone would get them.
    let unknown: Vec<&str> = told
        .iter()
        .filter(|(event, _)| !proposals.contains_key(&event.subject_id))
        .map(|(_, t)| t.as_str())
        .collect();
    let read_unknown = !unknown.is_empty() && db::webhooks::anyone_subscribes(conn, &unknown).await?;
    let mut messages = Vec::with_capacity(told.len());
    for (event, event_type) in told {
        if !proposals.contains_key(&event.subject_id) {
            if !read_unknown {
                continue;
            }
            let Some(row) = db::proposals::find(conn, event.subject_id).await? else {
                continue;
            };
            proposals.insert(row.id, views::proposal(&row, now));
        }
        let data = &proposals[&event.subject_id];
        let details = event_type.names_people().then_some(&event.payload);
        let body = webhooks::message_body(event.id, event_type, event.occurred_at, data, details)
            .map_err(anyhow::Error::from)?;
        messages.push(OutboundMessage {
            id: event.id,
            event_type: event_type.as_str(),
            proposal_id: event.subject_id,
            body,
            created_at: event.occurred_at,
        });
    }
    Ok(messages)
}
