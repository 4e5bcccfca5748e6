//! Asking the right peers, so nobody waits: whom a new proposal asks
//! first, whom a reminder adds, and when each step is due. Decided here
//! from facts the caller read; nothing here reads or writes.
//!
//! The first ask goes to a few peers on shift: the proposer's team first,
//! then those with the fewest requests open, then those this proposer
//! asked longest ago (or never), so the same two people do not end up
//! approving each other's exceptions by habit; ties are broken by a hash
//! of the proposal, which differs from one proposal to the next.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::policy::Money;
use super::proposal::RuleViolation;

/// A peer who might be asked, as read for one proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    /// On shift now.
    pub on_shift: bool,
    pub same_team: bool,
    /// Requests to co-sign they have open (on pending proposals).
    pub open_requests: i64,
    /// When this proposer last asked them (any proposal).
    pub last_asked_by_proposer: Option<DateTime<Utc>>,
    /// Already asked for this proposal, or already signed it.
    pub asked: bool,
    pub signed: bool,
    /// Their signer groups (e.g. `senior`).
    pub groups: Vec<String>,
}

/// The waits between the steps, from the filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How many peers the first ask goes to.
    pub first_ask: usize,
    pub remind_after: Duration,
    pub escalate_after: Duration,
}

/// A step a waiting proposal is due for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask more peers, and remind those asked.
    Remind,
    /// Tell the team's managers.
    Escalate,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Remind => "reminded",
            Step::Escalate => "escalated",
        }
    }
}

impl Schedule {
    /// The steps due at `now` for a proposal filed at `filed_at`, not yet
    /// taken (`reminded`, `escalated`), in order. A service that was down
    /// takes both at once.
    pub fn due(&self, filed_at: DateTime<Utc>, now: DateTime<Utc>, reminded: bool, escalated: bool) -> Vec<Step> {
        let mut due = Vec::new();
        if !reminded && now >= filed_at + self.remind_after {
            due.push(Step::Remind);
        }
        if !escalated && now >= filed_at + self.escalate_after {
            due.push(Step::Escalate);
        }
        due
    }
}

/// Where a company lets a proposer act alone: a category, and for money
/// up to an amount in one currency (another currency, or more, needs a peer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActAlone {
    pub category: String,
    pub currency: Option<String>,
    pub max_amount_minor: Option<i64>,
}

/// Why a proposer acted alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AloneBecause {
    /// No eligible peer was on shift.
    NoPeerAvailable,
    /// Peers were on shift, but nobody answered within the escalation window.
    NoAnswerInTime,
}

impl AloneBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            AloneBecause::NoPeerAvailable => "no_peer_available",
            AloneBecause::NoAnswerInTime => "no_answer_in_time",
        }
    }
}

/// What acting alone on one pending proposal depends on, as read under its lock.
#[derive(Debug, Clone, Copy)]
pub struct AloneFacts<'a> {
    pub category: &'a str,
    pub amount: Option<&'a Money>,
    /// Active agents other than the proposer who have not signed the
    /// current revision, and how many of them are on shift now.
    pub eligible_peers: usize,
    pub peers_on_shift: usize,
    /// A peer declined it: acting alone would overrule them.
    pub declined: bool,
    /// When the current revision began (the filing, or the last material
    /// revision): peers get their time to answer these terms.
    pub revision_started_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Whether the proposer may approve alone, and why; off unless `rules`
/// name the category (and cover the amount). With peers on shift, they
/// have until the escalation window passes; with nobody on shift, the
/// reminder asks everyone eligible, who have until it is due.
pub fn check_act_alone(
    rules: &[ActAlone],
    schedule: &Schedule,
    facts: AloneFacts<'_>,
) -> Result<AloneBecause, RuleViolation> {
    let refused = |why: String| Err(RuleViolation::ActingAloneNotAllowed { why });
    let Some(rule) = rules.iter().find(|rule| rule.category == facts.category) else {
        return refused(format!("acting alone is not enabled for category {}", facts.category));
    };
    if let Some(amount) = facts.amount {
        let covered = rule.max_amount_minor.is_some_and(|max| amount.minor <= max)
            && rule.currency.as_deref() == Some(amount.currency.as_str());
        if !covered {
            return refused(match (rule.max_amount_minor, rule.currency.as_deref()) {
                (Some(max), Some(currency)) => format!(
                    "acting alone covers at most {} in category {}",
                    super::policy::major_units(max, currency),
                    facts.category
                ),
                _ => format!("acting alone covers no amount in category {}", facts.category),
            });
        }
    }
    if facts.declined {
        return Err(RuleViolation::PeerDeclined);
    }
    if facts.eligible_peers == 0 {
        return Ok(AloneBecause::NoPeerAvailable);
    }
    let (wait, because) = if facts.peers_on_shift == 0 {
        (schedule.remind_after, AloneBecause::NoPeerAvailable)
    } else {
        (schedule.escalate_after, AloneBecause::NoAnswerInTime)
    };
    let from = facts.revision_started_at + wait;
    if facts.now >= from {
        Ok(because)
    } else {
        Err(RuleViolation::PeerAvailable {
            on_shift: facts.peers_on_shift,
            from,
        })
    }
}

fn tiebreak(seed: Uuid, id: Uuid) -> u128 {
    (seed.as_u128() ^ id.as_u128()).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
}

fn open(candidate: &&Candidate) -> bool {
    !candidate.asked && !candidate.signed
}

/// Whom a new proposal asks first: up to `n` peers on shift, in the order
/// the module describes. `seed` is the proposal's id.
pub fn first_asked(candidates: &[Candidate], n: usize, seed: Uuid) -> Vec<Uuid> {
    first_asked_with_groups(candidates, n, seed, &[])
}

/// As [`first_asked`], for a proposal that needs endorsers of `groups`:
/// the best-placed peer on shift of each such group is asked first (one
/// ask may hold more places than `n` when more groups are needed), then
/// the others in the same order, so the people the rule needs hear of it
/// at once.
pub fn first_asked_with_groups(candidates: &[Candidate], n: usize, seed: Uuid, groups: &[String]) -> Vec<Uuid> {
    let mut on_shift: Vec<&Candidate> = candidates.iter().filter(open).filter(|c| c.on_shift).collect();
    on_shift.sort_by_key(|c| {
        (
            !c.same_team,
            c.open_requests,
            c.last_asked_by_proposer,
            tiebreak(seed, c.id),
        )
    });
    let mut picked: Vec<Uuid> = Vec::with_capacity(n);
    for group in groups {
        let covered = on_shift
            .iter()
            .any(|c| picked.contains(&c.id) && c.groups.contains(group));
        if let Some(member) = on_shift.iter().find(|c| c.groups.contains(group)).filter(|_| !covered) {
            picked.push(member.id);
        }
    }
    for candidate in on_shift {
        if picked.len() >= n {
            break;
        }
        if !picked.contains(&candidate.id) {
            picked.push(candidate.id);
        }
    }
    picked
}

/// Whom a reminder adds: everyone on shift not asked yet; when there is
/// nobody such, everyone eligible not asked yet (someone may be at their
/// desk without having said so).
pub fn widened(candidates: &[Candidate]) -> Vec<Uuid> {
    let not_asked: Vec<&Candidate> = candidates.iter().filter(open).collect();
    let on_shift: Vec<Uuid> = not_asked.iter().filter(|c| c.on_shift).map(|c| c.id).collect();
    if on_shift.is_empty() {
        not_asked.iter().map(|c| c.id).collect()
    } else {
        on_shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    fn peer(n: u128, on_shift: bool, same_team: bool, open_requests: i64) -> Candidate {
        Candidate {
            id: Uuid::from_u128(n),
            on_shift,
            same_team,
            open_requests,
            last_asked_by_proposer: None,
            asked: false,
            signed: false,
            groups: vec![],
        }
    }

    #[test]
    fn a_proposal_needing_a_senior_asks_the_best_placed_senior_first() {
        let mut peers: Vec<Candidate> = (1..=5).map(|n| peer(n, true, true, 0)).collect();
        peers[4].groups = vec!["senior".into()];
        peers[4].same_team = false;
        let seed = Uuid::from_u128(99);
        let plain = first_asked(&peers, 2, seed);
        assert!(!plain.contains(&peers[4].id), "without the rule, the team first");
        let picked = first_asked_with_groups(&peers, 2, seed, &["senior".to_owned()]);
        assert_eq!(picked.len(), 2);
        assert_eq!(picked[0], peers[4].id, "the senior, though of another team");
        let off_shift = Candidate {
            on_shift: false,
            ..peers[4].clone()
        };
        peers[4] = off_shift;
        let picked = first_asked_with_groups(&peers, 2, seed, &["senior".to_owned()]);
        assert!(!picked.contains(&peers[4].id), "nobody off shift is asked first");
    }

    #[test]
    fn the_first_ask_goes_to_peers_on_shift_own_team_first_then_the_least_busy() {
        let peers = [
            peer(1, true, false, 0),
            peer(2, true, true, 3),
            peer(3, false, true, 0),
            peer(4, true, true, 1),
            peer(5, true, false, 2),
        ];
        let seed = Uuid::from_u128(99);
        assert_eq!(
            first_asked(&peers, 3, seed),
            [Uuid::from_u128(4), Uuid::from_u128(2), Uuid::from_u128(1)]
        );
        assert_eq!(
            first_asked(&peers[2..3], 3, seed),
            Vec::<Uuid>::new(),
            "nobody on shift: nobody asked"
        );
    }

    #[test]
    fn a_proposer_does_not_ask_the_same_peer_every_time() {
        let mut peers = [peer(1, true, true, 0), peer(2, true, true, 0)];
        let first = first_asked(&peers, 1, Uuid::from_u128(7))[0];
        // Having asked that one, the next proposal asks the other.
        peers.iter_mut().find(|p| p.id == first).unwrap().last_asked_by_proposer = Some(at(0));
        let second = first_asked(&peers, 1, Uuid::from_u128(8))[0];
        assert_ne!(first, second);
        // With no history, different proposals still spread over the ties.
        let fresh = [peer(1, true, true, 0), peer(2, true, true, 0), peer(3, true, true, 0)];
        let picked: std::collections::HashSet<Uuid> = (0..20)
            .map(|n| first_asked(&fresh, 1, Uuid::from_u128(1000 + n))[0])
            .collect();
        assert!(picked.len() > 1, "ties are not always broken the same way");
    }

    #[test]
    fn a_reminder_adds_those_on_shift_or_everyone_when_nobody_is() {
        let mut peers = [
            peer(1, true, true, 0),
            peer(2, true, false, 0),
            peer(3, false, false, 0),
        ];
        peers[0].asked = true;
        assert_eq!(widened(&peers), [Uuid::from_u128(2)]);
        let nobody = [peer(1, false, true, 0), peer(2, false, false, 0)];
        assert_eq!(widened(&nobody), [Uuid::from_u128(1), Uuid::from_u128(2)]);
        let signed = [
            Candidate {
                signed: true,
                ..peer(1, true, true, 0)
            },
            peer(2, false, false, 0),
        ];
        assert_eq!(
            widened(&signed),
            [Uuid::from_u128(2)],
            "a peer who signed is not asked again"
        );
        peers[1].asked = true;
        assert_eq!(
            widened(&peers),
            [Uuid::from_u128(3)],
            "those on shift all asked: everyone else"
        );
    }

    #[test]
    fn acting_alone_is_off_unless_enabled_and_leaves_peers_their_time() {
        let eur = |minor| Money {
            minor,
            currency: "EUR".into(),
        };
        let schedule = Schedule {
            first_ask: 3,
            remind_after: Duration::minutes(2),
            escalate_after: Duration::minutes(5),
        };
        let rules = [ActAlone {
            category: "refund".into(),
            currency: Some("EUR".into()),
            max_amount_minor: Some(5000),
        }];
        let small = eur(4000);
        let facts = AloneFacts {
            category: "refund",
            amount: Some(&small),
            eligible_peers: 3,
            peers_on_shift: 0,
            declined: false,
            revision_started_at: at(0),
            now: at(0),
        };
        let check = |facts| check_act_alone(&rules, &schedule, facts);
        assert!(
            matches!(
                check_act_alone(&[], &schedule, facts),
                Err(RuleViolation::ActingAloneNotAllowed { .. })
            ),
            "off by default"
        );
        // Nobody on shift: everyone eligible is asked by the reminder, and
        // has until it is due.
        assert_eq!(
            check(facts),
            Err(RuleViolation::PeerAvailable {
                on_shift: 0,
                from: at(2)
            })
        );
        assert_eq!(
            check(AloneFacts { now: at(2), ..facts }),
            Ok(AloneBecause::NoPeerAvailable)
        );
        // Nobody eligible at all: at once.
        assert_eq!(
            check(AloneFacts {
                eligible_peers: 0,
                ..facts
            }),
            Ok(AloneBecause::NoPeerAvailable)
        );
        // Someone on shift: until the escalation window, from the current revision.
        let on_shift = AloneFacts {
            peers_on_shift: 2,
            now: at(4),
            ..facts
        };
        assert_eq!(
            check(on_shift),
            Err(RuleViolation::PeerAvailable {
                on_shift: 2,
                from: at(5)
            })
        );
        assert_eq!(
            check(AloneFacts { now: at(5), ..on_shift }),
            Ok(AloneBecause::NoAnswerInTime)
        );
        let revised = AloneFacts {
            revision_started_at: at(3),
            now: at(6),
            ..on_shift
        };
        assert!(check(revised).is_err(), "a revision restarts the wait");
        assert_eq!(
            check(AloneFacts {
                declined: true,
                now: at(9),
                ..on_shift
            }),
            Err(RuleViolation::PeerDeclined)
        );
        // The amount: within the limit, in its currency; a category whose
        // rule names no limit covers no amount.
        let large = eur(5001);
        let dollars = Money {
            minor: 10,
            currency: "USD".into(),
        };
        for amount in [&large, &dollars] {
            let refused = check(AloneFacts {
                amount: Some(amount),
                now: at(9),
                ..facts
            });
            assert_eq!(
                refused,
                Err(RuleViolation::ActingAloneNotAllowed {
                    why: "acting alone covers at most 50.00 EUR in category refund".into()
                })
            );
        }
        let unpriced = [ActAlone {
            category: "replacement".into(),
            currency: None,
            max_amount_minor: None,
        }];
        let replacement = AloneFacts {
            category: "replacement",
            now: at(9),
            ..facts
        };
        assert!(matches!(
            check_act_alone(&unpriced, &schedule, replacement),
            Err(RuleViolation::ActingAloneNotAllowed { .. })
        ));
        assert_eq!(
            check_act_alone(
                &unpriced,
                &schedule,
                AloneFacts {
                    amount: None,
                    ..replacement
                }
            ),
            Ok(AloneBecause::NoPeerAvailable)
        );
    }

    #[test]
    fn steps_fall_due_at_their_times_and_not_before() {
        let schedule = Schedule {
            first_ask: 3,
            remind_after: Duration::minutes(2),
            escalate_after: Duration::minutes(5),
        };
        let filed = at(0);
        assert_eq!(schedule.due(filed, filed + Duration::seconds(119), false, false), []);
        assert_eq!(schedule.due(filed, at(2), false, false), [Step::Remind]);
        assert_eq!(schedule.due(filed, at(4), true, false), []);
        assert_eq!(schedule.due(filed, at(5), true, false), [Step::Escalate]);
        assert_eq!(schedule.due(filed, at(9), false, false), [Step::Remind, Step::Escalate]);
        assert_eq!(schedule.due(filed, at(9), true, true), []);
    }
}
