//! How audit events are hashed and chained.
//!
//! An event's hash covers its canonical content: a JSON object with sorted
//! keys, compact, timestamps in RFC 3339 with microseconds (what PostgreSQL
//! keeps). The chain hash of position n is SHA-256(chain hash of n-1 ‖ event
//! hash), starting from 32 zero bytes. Writers hash their own events; only the
//! sequencer chains them, so no writer waits on a global row.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The chain's starting point.
pub const GENESIS: [u8; 32] = [0; 32];

/// Everything an audit event says, as it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventContent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub subject_type: String,
    pub subject_id: Uuid,
    pub actor_employee_id: Option<Uuid>,
    pub via_integration_id: Option<Uuid>,
    pub payload: Value,
}

/// Truncates to what a `timestamptz` keeps, so the hash computed before the
/// insert matches the one recomputed from the stored row.
pub fn storable_time(time: DateTime<Utc>) -> DateTime<Utc> {
    let micros = time.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(time)
}

impl EventContent {
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // serde_json's map keeps keys sorted (no preserve_order feature), so
        // the same content always serialises to the same bytes.
        let canonical = json!({
            "id": self.id,
            "occurred_at": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "event_type": self.event_type,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "actor_employee_id": self.actor_employee_id,
            "via_integration_id": self.via_integration_id,
            "payload": self.payload,
        });
        serde_json::to_vec(&canonical).expect("JSON values always serialise")
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

pub fn chain_hash(previous: &[u8], event_hash: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(event_hash);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventContent {
        EventContent {
            id: Uuid::now_v7(),
            occurred_at: storable_time(Utc::now()),
            event_type: "proposal.created".into(),
            subject_type: "proposal".into(),
            subject_id: Uuid::now_v7(),
            actor_employee_id: Some(Uuid::now_v7()),
            via_integration_id: None,
            payload: json!({"after": {"status": "pending", "amount_minor": 1200}}),
        }
    }

    #[test]
    fn the_hash_is_stable_and_ignores_key_order_in_the_payload() {
        let a = event();
        let mut b = a.clone();
        b.payload = serde_json::from_str(r#"{"after": {"amount_minor": 1200, "status": "pending"}}"#).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash(), a.clone().hash());
    }

    #[test]
    fn any_change_to_the_content_changes_the_hash() {
        let a = event();
        let variants = [
            EventContent {
                event_type: "proposal.approved".into(),
                ..a.clone()
            },
            EventContent {
                actor_employee_id: None,
                ..a.clone()
            },
            EventContent {
                via_integration_id: Some(Uuid::now_v7()),
                ..a.clone()
            },
            EventContent {
                occurred_at: a.occurred_at + chrono::Duration::microseconds(1),
                ..a.clone()
            },
            EventContent {
                payload: json!({"after": {"status": "approved"}}),
                ..a.clone()
            },
        ];
        for variant in variants {
            assert_ne!(a.hash(), variant.hash(), "{variant:?}");
        }
    }

    #[test]
    fn times_are_truncated_to_microseconds() {
        let time = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(storable_time(time).timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn the_chain_depends_on_the_previous_link() {
        let event_hash = event().hash();
        let first = chain_hash(&GENESIS, &event_hash);
        let second = chain_hash(&first, &event_hash);
        assert_ne!(first, second);
        assert_eq!(first, chain_hash(&GENESIS, &event_hash));
    }
}
