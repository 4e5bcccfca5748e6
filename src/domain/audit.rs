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

use super::event::EventType;

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

/// Who did it: the person, and the integration they acted through (neither
/// for the system's own work, such as an expiry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActorIds {
    pub employee_id: Option<Uuid>,
    pub via_integration_id: Option<Uuid>,
}

/// Truncates to what a `timestamptz` keeps, so the hash computed before the
/// insert matches the one recomputed from the stored row.
pub fn storable_time(time: DateTime<Utc>) -> DateTime<Utc> {
    let micros = time.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(time)
}

impl EventContent {
    /// A new event of this type about `subject_id`, at `at` (kept to the
    /// microsecond, as the database stores it).
    pub fn new(event_type: EventType, subject_id: Uuid, actor: ActorIds, payload: Value, at: DateTime<Utc>) -> Self {
        EventContent {
            id: Uuid::now_v7(),
            occurred_at: storable_time(at),
            event_type: event_type.as_str().to_owned(),
            subject_type: event_type.subject().as_str().to_owned(),
            subject_id,
            actor_employee_id: actor.employee_id,
            via_integration_id: actor.via_integration_id,
            payload,
        }
    }

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

/// One link of the chain as stored, with the event it links (absent when
/// the event row is gone).
#[derive(Debug, Clone)]
pub struct ChainLink {
    pub seq: i64,
    pub event_id: Uuid,
    pub chain_hash: Vec<u8>,
    pub content: Option<EventContent>,
    pub content_hash: Option<Vec<u8>>,
}

/// A link known from an earlier verification, kept outside Countersign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub chain_hash: Vec<u8>,
}

/// Verifies the chain one link at a time, in `seq` order, stopping at the
/// first broken link.
#[derive(Debug)]
pub struct ChainCheck {
    anchor: Option<Anchor>,
    checked: u64,
    /// The newest link that verified: what the next one must follow from.
    head: Option<(i64, Vec<u8>)>,
    broken: Option<(Option<Uuid>, String)>,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub events_checked: u64,
    /// The first event whose content or link does not recompute; `None`
    /// when the chain is whole but ends before the anchor.
    pub first_broken_event_id: Option<Uuid>,
    pub broken_reason: Option<String>,
    /// The newest link that verified: `seq` and chain hash.
    pub head: Option<(i64, Vec<u8>)>,
}

impl ChainCheck {
    pub fn new(anchor: Option<Anchor>) -> Self {
        ChainCheck {
            anchor,
            checked: 0,
            head: None,
            broken: None,
        }
    }

    /// Checks the next link; false once the chain is broken (stop walking).
    pub fn check(&mut self, link: ChainLink) -> bool {
        self.checked += 1;
        let previous = self
            .head
            .as_ref()
            .map_or(GENESIS.as_slice(), |(_, hash)| hash.as_slice());
        match self.broken_link(&link, self.checked as i64, previous) {
            Some(reason) => {
                self.broken = Some((Some(link.event_id), reason));
                false
            }
            None => {
                self.head = Some((link.seq, link.chain_hash));
                true
            }
        }
    }

    /// Why a link does not verify: out of place, its event missing or
    /// changed, not following from the previous link, or not the anchor it
    /// should be.
    fn broken_link(&self, link: &ChainLink, expected_seq: i64, previous: &[u8]) -> Option<String> {
        if link.seq != expected_seq {
            return Some(format!("chain position {} follows {}", link.seq, expected_seq - 1));
        }
        let (Some(content), Some(stored_hash)) = (&link.content, &link.content_hash) else {
            return Some("the chained event is missing".to_owned());
        };
        let recomputed = content.hash();
        if recomputed.as_slice() != stored_hash.as_slice() {
            return Some("the event's content does not match its hash".to_owned());
        }
        if chain_hash(previous, &recomputed).as_slice() != link.chain_hash.as_slice() {
            return Some("the chain link does not follow from the previous one".to_owned());
        }
        match &self.anchor {
            Some(anchor) if anchor.seq == link.seq && anchor.chain_hash != link.chain_hash => {
                Some(format!("the link at seq {} differs from the anchor", anchor.seq))
            }
            _ => None,
        }
    }

    /// The verdict once every link was walked: a whole chain that ends
    /// before the anchor had links removed from its end.
    pub fn finish(self) -> ChainReport {
        let mut broken = self.broken;
        if let Some(anchor) = &self.anchor
            && broken.is_none()
            && (self.checked as i64) < anchor.seq
        {
            let reason = format!(
                "the chain ends at seq {}, before the anchor at seq {}: newer links were removed",
                self.checked, anchor.seq
            );
            broken = Some((None, reason));
        }
        let (first_broken_event_id, broken_reason) = broken.map_or((None, None), |(id, reason)| (id, Some(reason)));
        ChainReport {
            events_checked: self.checked,
            first_broken_event_id,
            broken_reason,
            head: self.head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventContent {
        EventContent {
            id: Uuid::now_v7(),
            occurred_at: storable_time(Utc::now()),
            event_type: EventType::ProposalCreated.as_str().into(),
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
                event_type: EventType::ProposalApproved.as_str().into(),
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

    /// A chain of `n` events as the sequencer writes it.
    fn chain(n: usize) -> Vec<ChainLink> {
        let mut previous = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let content = event();
                let hash = content.hash();
                previous = chain_hash(&previous, &hash).to_vec();
                ChainLink {
                    seq: seq as i64,
                    event_id: content.id,
                    chain_hash: previous.clone(),
                    content: Some(content),
                    content_hash: Some(hash.to_vec()),
                }
            })
            .collect()
    }

    fn verify(links: Vec<ChainLink>, anchor: Option<Anchor>) -> ChainReport {
        let mut check = ChainCheck::new(anchor);
        for link in links {
            if !check.check(link) {
                break;
            }
        }
        check.finish()
    }

    #[test]
    fn a_whole_chain_verifies_and_names_its_head() {
        let links = chain(3);
        let head = (3, links[2].chain_hash.clone());
        let report = verify(links, None);
        assert_eq!(report.broken_reason, None);
        assert_eq!((report.events_checked, report.head), (3, Some(head)));
    }

    #[test]
    fn a_changed_event_breaks_the_chain_there() {
        let mut links = chain(3);
        links[1].content.as_mut().unwrap().payload = json!({ "forged": true });
        let report = verify(links.clone(), None);
        assert_eq!(report.first_broken_event_id, Some(links[1].event_id));
        assert_eq!(report.head.map(|(seq, _)| seq), Some(1));
    }

    #[test]
    fn links_cut_off_the_end_are_found_against_an_anchor() {
        let links = chain(3);
        let anchor = Anchor {
            seq: 3,
            chain_hash: links[2].chain_hash.clone(),
        };
        assert_eq!(verify(links.clone(), Some(anchor.clone())).broken_reason, None);
        let cut = verify(links[..2].to_vec(), Some(anchor));
        assert_eq!(cut.first_broken_event_id, None);
        assert!(cut.broken_reason.unwrap().contains("before the anchor"));
        let wrong = Anchor {
            seq: 2,
            chain_hash: vec![0xab; 32],
        };
        assert!(
            verify(links, Some(wrong))
                .broken_reason
                .unwrap()
                .contains("differs from the anchor")
        );
    }
}
