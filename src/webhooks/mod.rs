//! Webhooks, the parts that are neither SQL nor use cases: Standard
//! Webhooks signatures, the retry schedule, where a webhook may go, and
//! the sender (the one part here that does I/O: HTTP out).
//!
//! The outbox itself is written by the commit routine (`app::commit`), in
//! the transaction of the change it tells of; the delivery worker
//! (`workers::delivery`) claims due deliveries and sends them through
//! [`sender::Sender`].

pub mod destination;
pub mod inbound;
pub mod schedule;
pub mod sender;
pub mod signature;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::EventType;

/// The body every receiver gets: `{"id", "type", "timestamp", "data"}`,
/// where `id` is the audit event's (and the `webhook-id` header) and
/// `data` the proposal as the REST API shows it after the change; events
/// that name people (whom a routing step asks or tells) add them as
/// `details`.
pub fn message_body(
    id: Uuid,
    event_type: EventType,
    at: DateTime<Utc>,
    data: &impl Serialize,
    details: Option<&serde_json::Value>,
) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Body<'a, T> {
        id: Uuid,
        #[serde(rename = "type")]
        event_type: &'a str,
        timestamp: String,
        data: &'a T,
        #[serde(skip_serializing_if = "Option::is_none")]
        details: Option<&'a serde_json::Value>,
    }
    serde_json::to_string(&Body {
        id,
        event_type: event_type.as_str(),
        timestamp: at.to_rfc3339_opts(SecondsFormat::Micros, true),
        data,
        details,
    })
}
