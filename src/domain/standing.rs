//! Standing approvals: an exception a manager promoted to policy. A filing
//! it covers (same category and policy rule, within its amount limit, by a
//! proposer of its team, while it is valid and not retired) is approved as
//! it is filed, by the proposer alone. The schema checks the same coverage
//! again when the approval is written.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use super::fields::{FieldErrors, optional_line, required_line, required_text};
use super::policy::{ApprovalPolicy, Money, PolicyViolation, check_money};

/// What decides whether a standing approval covers a filing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingApproval {
    pub id: Uuid,
    pub category: String,
    pub policy_ref: String,
    /// The most a filing may name (none: filings that name no amount).
    pub max_amount: Option<Money>,
    /// Only proposers of this team (none: everyone).
    pub team: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// A filing as a standing approval sees it.
#[derive(Debug, Clone, Copy)]
pub struct Filing<'a> {
    pub category: &'a str,
    pub policy_ref: &'a str,
    pub amount: Option<&'a Money>,
    pub proposer_team: Option<&'a str>,
    /// Whether it names the customer: a standing approval covers only
    /// filings that do, so that one customer's case is not split.
    pub names_customer: bool,
    pub at: DateTime<Utc>,
    /// The standing approvals that already approved a filing for the same
    /// ticket, or for the same customer within [`ONE_CASE_DAYS`].
    pub used_for_the_case: &'a [Uuid],
}

/// A standing approval approves one filing per ticket, and per customer
/// within this many days: one case is not split into several filings
/// under the limit. The schema checks the same.
pub const ONE_CASE_DAYS: i64 = 7;

impl StandingApproval {
    /// Approving filings at `at`: not retired, and inside its window.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.retired_at.is_none() && self.valid_from <= at && self.valid_until.is_none_or(|until| at < until)
    }

    pub fn covers(&self, filing: &Filing<'_>) -> bool {
        let amount_within = match (&self.max_amount, filing.amount) {
            (None, None) => true,
            (Some(max), Some(amount)) => max.currency == amount.currency && amount.minor <= max.minor,
            _ => false,
        };
        let team_within = self
            .team
            .as_deref()
            .is_none_or(|team| filing.proposer_team == Some(team));
        self.is_active(filing.at)
            && filing.names_customer
            && !filing.used_for_the_case.contains(&self.id)
            && self.category == filing.category
            && self.policy_ref == filing.policy_ref
            && amount_within
            && team_within
    }
}

/// The standing approval that approves a filing, of those offered: one
/// scoped to the proposer's team before one for everyone, then the
/// oldest, so the same filing always names the same one.
pub fn covering<'a>(offered: &'a [StandingApproval], filing: &Filing<'_>) -> Option<&'a StandingApproval> {
    offered
        .iter()
        .filter(|standing| standing.covers(filing))
        .min_by_key(|standing| (standing.team.is_none(), standing.id))
}

/// A standing approval as asked for, already parsed; drafts answer it as
/// the `POST /v1/standing-approvals` body they pre-fill (checked when sent).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = StandingApprovalDraft)]
pub struct Proposed {
    pub category: String,
    pub policy_ref: String,
    pub max_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub team: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub source_proposal_id: Option<Uuid>,
    pub note: String,
}

/// A standing approval checked and ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub category: String,
    pub policy_ref: String,
    pub max_amount: Option<Money>,
    pub team: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub source_proposal_id: Option<Uuid>,
    pub note: String,
}

/// Checks a proposed standing approval against the policy: a known
/// category, an amount limit where the category moves money (in an
/// accepted currency, within what peers may approve: a standing approval
/// never reaches past the peer limit), a window that ends after it starts
/// and after `now`.
pub fn check(policy: &ApprovalPolicy, proposed: Proposed, now: DateTime<Utc>) -> Result<Checked, StandingRefusal> {
    let mut errors = FieldErrors::new();
    let category = required_line(&mut errors, "category", &proposed.category, 64);
    let policy_ref = required_line(&mut errors, "policy_ref", &proposed.policy_ref, 200);
    let team = optional_line(&mut errors, "team", proposed.team.as_deref(), 100);
    let note = required_text(&mut errors, "note", &proposed.note, 2000);
    let max_amount = check_money(
        &mut errors,
        "max_amount_minor",
        proposed.max_amount_minor,
        proposed.currency.as_deref(),
    );
    let valid_from = proposed.valid_from.unwrap_or(now);
    // Four-digit years, as RFC 3339 has them (the database takes no more).
    for (field, time) in [("valid_from", Some(valid_from)), ("valid_until", proposed.valid_until)] {
        if time.is_some_and(|time| !(1..=9999).contains(&time.year())) {
            errors.add(field, "must be a time with a four-digit year");
        }
    }
    errors.finish().map_err(StandingRefusal::Fields)?;
    // Each time well formed, the two together may still make no window;
    // that depends on now, so it is a refusal of its own, not a field's.
    if let Some(until) = proposed.valid_until
        && (until <= valid_from || until <= now)
    {
        return Err(StandingRefusal::WindowOver);
    }
    policy.rule_for(&category, max_amount.as_ref()).map_err(|violation| {
        // Named by this body's fields: the limit is `max_amount_minor`.
        let field = match violation {
            PolicyViolation::UnknownCategory { .. } => "category",
            PolicyViolation::CurrencyNotAccepted { .. } => "currency",
            _ => "max_amount_minor",
        };
        StandingRefusal::Fields(FieldErrors::single(field, violation.to_string()))
    })?;
    Ok(Checked {
        category,
        policy_ref,
        max_amount,
        team,
        valid_from,
        valid_until: proposed.valid_until,
        source_proposal_id: proposed.source_proposal_id,
        note,
    })
}

/// Why a proposed standing approval is refused: fields that are missing,
/// malformed, or outside the policy (an unknown category, a limit peers
/// could not approve), each named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandingRefusal {
    Fields(FieldErrors),
    /// `valid_until` is not after `valid_from`, or already past.
    WindowOver,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::tests::{eur, policy};
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn standing(team: Option<&str>) -> StandingApproval {
        StandingApproval {
            id: Uuid::now_v7(),
            category: "refund".into(),
            policy_ref: "REFUND-30-DAYS".into(),
            max_amount: Some(eur(5_000)),
            team: team.map(str::to_owned),
            valid_from: now() - Duration::days(1),
            valid_until: Some(now() + Duration::days(30)),
            retired_at: None,
        }
    }

    fn filing(amount: &Money) -> Filing<'_> {
        Filing {
            category: "refund",
            policy_ref: "REFUND-30-DAYS",
            amount: Some(amount),
            proposer_team: Some("billing"),
            names_customer: true,
            at: now(),
            used_for_the_case: &[],
        }
    }

    #[test]
    fn covers_its_rule_within_the_limit_team_and_window_only() {
        let s = standing(Some("billing"));
        assert!(s.covers(&filing(&eur(5_000))), "the limit is inclusive");
        assert!(!s.covers(&filing(&eur(5_001))), "above the limit");
        let usd = Money {
            minor: 1,
            currency: "USD".into(),
        };
        assert!(!s.covers(&filing(&usd)), "another currency");
        let amount = eur(100);
        assert!(
            !s.covers(&Filing {
                proposer_team: Some("sales"),
                ..filing(&amount)
            }),
            "another team"
        );
        assert!(
            !s.covers(&Filing {
                proposer_team: None,
                ..filing(&amount)
            }),
            "no team"
        );
        assert!(
            !s.covers(&Filing {
                policy_ref: "OTHER",
                ..filing(&amount)
            }),
            "another rule"
        );
        assert!(
            !s.covers(&Filing {
                at: now() + Duration::days(30),
                ..filing(&amount)
            }),
            "valid_until is exclusive"
        );
        assert!(
            !s.covers(&Filing {
                at: now() - Duration::days(2),
                ..filing(&amount)
            }),
            "before valid_from"
        );
        let retired = StandingApproval {
            retired_at: Some(now()),
            ..s.clone()
        };
        assert!(!retired.covers(&filing(&amount)));
        assert!(
            !s.covers(&Filing {
                names_customer: false,
                ..filing(&amount)
            }),
            "no customer named"
        );
        let used = [s.id];
        assert!(
            !s.covers(&Filing {
                used_for_the_case: &used,
                ..filing(&amount)
            }),
            "already used for this ticket or customer"
        );
        assert!(
            standing(None).covers(&Filing {
                proposer_team: None,
                ..filing(&amount)
            }),
            "no team scope: everyone"
        );
    }

    #[test]
    fn the_team_scoped_one_is_named_before_the_one_for_everyone() {
        let everyone = standing(None);
        let team = standing(Some("billing"));
        let offered = [everyone.clone(), team.clone()];
        let amount = eur(10);
        assert_eq!(covering(&offered, &filing(&amount)).map(|s| s.id), Some(team.id));
        assert_eq!(covering(&offered, &filing(&eur(9_999))), None);
    }

    #[test]
    fn a_proposed_one_needs_a_limit_where_money_moves_and_stays_within_the_peer_limit() {
        let proposed = Proposed {
            category: "refund".into(),
            policy_ref: "REFUND-30-DAYS".into(),
            max_amount_minor: Some(5_000),
            currency: Some("EUR".into()),
            note: "Lost parcels: refund at once".into(),
            ..Proposed::default()
        };
        let checked = check(&policy(), proposed.clone(), now()).unwrap();
        assert_eq!((checked.max_amount, checked.valid_from), (Some(eur(5_000)), now()));
        let no_limit = Proposed {
            max_amount_minor: None,
            currency: None,
            ..proposed.clone()
        };
        let named = |refusal: Result<Checked, StandingRefusal>| match refusal {
            Err(StandingRefusal::Fields(errors)) => errors.as_map().keys().cloned().collect::<Vec<_>>(),
            _ => vec![],
        };
        assert_eq!(named(check(&policy(), no_limit, now())), ["max_amount_minor"]);
        let too_much = Proposed {
            max_amount_minor: Some(500_001),
            ..proposed.clone()
        };
        assert_eq!(named(check(&policy(), too_much, now())), ["max_amount_minor"]);
        let blank = Proposed {
            note: " ".into(),
            ..proposed.clone()
        };
        assert_eq!(named(check(&policy(), blank, now())), ["note"]);
        let over = Proposed {
            valid_until: Some(now() - Duration::days(1)),
            ..proposed
        };
        assert_eq!(check(&policy(), over, now()), Err(StandingRefusal::WindowOver));
    }
}
