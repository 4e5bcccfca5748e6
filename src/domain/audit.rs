//! How audit events are hashed and chained.
//!
//! An event's hash covers its canonical content: a JSON object with sorted
//! keys, compact, timestamps in RFC 3339 with microseconds (what PostgreSQL
//! keeps). The chain hash of position n is SHA-256(chain hash of n-1 ‖ event
//! hash), starting from 32 zero bytes. Writers hash their own events; only the
//! sequencer chains them, so no writer waits on a global row.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{KeyInit, Mac};
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

/// How links are hashed. Plain SHA-256 can be recomputed by anyone who can
/// write the tables; keyed with a secret kept outside the database (HMAC-
/// SHA-256), a rewritten link cannot be made to verify. A chain that began
/// plain is keyed from `since` on.
#[derive(Clone)]
pub struct ChainKeying {
    key: Option<Vec<u8>>,
    since: i64,
}

impl std::fmt::Debug for ChainKeying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKeying")
            .field("keyed", &self.key.is_some())
            .field("since", &self.since)
            .finish()
    }
}

impl ChainKeying {
    pub fn plain() -> Self {
        ChainKeying { key: None, since: 1 }
    }

    /// Links from `since` on are keyed with `key`.
    pub fn keyed(key: &[u8], since: i64) -> Self {
        ChainKeying {
            key: Some(key.to_vec()),
            since,
        }
    }

    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The chain hash of the link at `seq`.
    pub fn link_hash(&self, seq: i64, previous: &[u8], event_hash: &[u8]) -> [u8; 32] {
        match &self.key {
            Some(key) if seq >= self.since => {
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
                mac.update(previous);
                mac.update(event_hash);
                mac.finalize().into_bytes().into()
            }
            _ => chain_hash(previous, event_hash),
        }
    }
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

/// What one replica has verified of the chain so far (kept in memory, not
/// in the database whose tables it checks).
#[derive(Debug, Clone, Default)]
pub struct VerifiedChain {
    /// The newest link verified, and how many links up to it.
    pub head: Option<(i64, Vec<u8>)>,
    pub events_checked: u64,
    /// The first broken link found, if any: its event and why.
    pub broken: Option<(Option<Uuid>, String)>,
    /// When the whole chain was last verified from the start.
    pub last_full_check: Option<DateTime<Utc>>,
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
    keying: ChainKeying,
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
    pub fn new(keying: ChainKeying, anchor: Option<Anchor>) -> Self {
        ChainCheck {
            keying,
            anchor,
            checked: 0,
            head: None,
            broken: None,
        }
    }

    /// Goes on from a link verified earlier (`checked` links up to it).
    pub fn resume(keying: ChainKeying, anchor: Option<Anchor>, head: Option<(i64, Vec<u8>)>, checked: u64) -> Self {
        ChainCheck {
            keying,
            anchor,
            checked,
            head,
            broken: None,
        }
    }

    /// The newest link verified so far.
    pub fn head(&self) -> Option<&(i64, Vec<u8>)> {
        self.head.as_ref()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// A link known from before this check (an anchor kept outside, or the
    /// head this replica verified earlier) must still be stored as it was:
    /// gone means links were cut off the end, different means rewritten.
    pub fn check_known_link(&mut self, seq: i64, expected: &[u8], stored: Option<(Uuid, Vec<u8>)>, known_as: &str) {
        if self.broken.is_some() {
            return;
        }
        match stored {
            None => {
                self.broken = Some((
                    None,
                    format!(
                        "the link at seq {seq} ({known_as}) is gone: the chain ends before the anchor; newer links were removed"
                    ),
                ))
            }
            Some((event_id, hash)) if hash != expected => {
                self.broken = Some((
                    Some(event_id),
                    format!("the link at seq {seq} differs from the anchor ({known_as})"),
                ))
            }
            Some(_) => {}
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
        if self.keying.link_hash(link.seq, previous, &recomputed).as_slice() != link.chain_hash.as_slice() {
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
        let reached = self.head.as_ref().map_or(0, |(seq, _)| *seq);
        if let Some(anchor) = &self.anchor
            && broken.is_none()
            && reached < anchor.seq
        {
            let reason = format!(
                "the chain ends at seq {reached}, before the anchor at seq {}: newer links were removed",
                anchor.seq
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
        let mut check = ChainCheck::new(ChainKeying::plain(), anchor);
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

    #[test]
    fn a_keyed_chain_verifies_only_with_its_key() {
        let key = b"a secret kept outside the database".as_slice();
        let keying = ChainKeying::keyed(key, 1);
        let mut previous = GENESIS.to_vec();
        let links: Vec<ChainLink> = (1..=3)
            .map(|seq| {
                let content = event();
                let hash = content.hash();
                previous = keying.link_hash(seq, &previous, &hash).to_vec();
                ChainLink {
                    seq,
                    event_id: content.id,
                    chain_hash: previous.clone(),
                    content: Some(content),
                    content_hash: Some(hash.to_vec()),
                }
            })
            .collect();
        let verify_with = |keying: ChainKeying| {
            let mut check = ChainCheck::new(keying, None);
            for link in links.clone() {
                if !check.check(link) {
                    break;
                }
            }
            check.finish()
        };
        assert_eq!(verify_with(keying.clone()).broken_reason, None);
        assert!(
            verify_with(ChainKeying::plain()).broken_reason.is_some(),
            "plain SHA-256 cannot forge it"
        );
        assert!(
            verify_with(ChainKeying::keyed(b"another key", 1))
                .broken_reason
                .is_some()
        );
        // A chain keyed from seq 3 on: the first two links are plain.
        let later = ChainKeying::keyed(key, 3);
        assert_eq!(later.link_hash(2, &GENESIS, &[1; 32]), chain_hash(&GENESIS, &[1; 32]));
        assert_ne!(later.link_hash(3, &GENESIS, &[1; 32]), chain_hash(&GENESIS, &[1; 32]));
    }
}
