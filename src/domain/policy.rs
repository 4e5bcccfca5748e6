//! The approval policy from configuration: categories, how many co-signers an
//! amount needs, and the limit above which peers may not approve at all.

use std::collections::BTreeMap;

use super::fields::FieldErrors;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub name: String,
    pub description: String,
    /// Refunds, waived fees, credits: a proposal in this category must say
    /// how much, so thresholds and the peer limit always see the amount.
    pub moves_money: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountThreshold {
    pub currency: String,
    /// Amounts strictly above this (minor units) need `required_cosigners`.
    pub above_minor: i64,
    pub required_cosigners: u32,
    /// Signer groups of which at least one endorser each is needed
    /// (e.g. `senior`): "one peer and one senior" is two co-signers and
    /// the group `senior`.
    pub required_groups: Vec<String>,
}

/// How far a revision may change the terms and keep the endorsements
/// already given (anything else starts over: see
/// [`super::proposal::keeps_endorsements`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaterialTolerance {
    /// A lower amount keeps them when it falls by at most this share, in
    /// percent (0: every change of the amount voids them).
    pub amount_decrease_percent: u32,
    /// A correction of at most this many characters in the resolution
    /// that changes no digit keeps them (0: every change voids them).
    pub resolution_typo_chars: u32,
}

/// Money as integer minor units and an ISO 4217 code; never floats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

/// Digits after the decimal point of a currency (ISO 4217's minor unit).
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// An amount as people read it, in major units: `1050, "EUR"` → `10.50 EUR`.
pub fn major_units(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return format!("{minor} {currency}");
    }
    let scale = 10_u64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$} {currency}",
        minor / scale,
        minor % scale,
        width = digits as usize
    )
}

/// The largest amount accepted anywhere, in minor units.
const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// Checks an amount and its currency as sent: both or neither, whole minor
/// units (0 or more), an ISO 4217 code in capitals. Answers the money when
/// both are there and fine; problems go into `errors` under `amount_field`
/// and `currency`.
pub fn check_money(
    errors: &mut FieldErrors,
    amount_field: &str,
    minor: Option<i64>,
    currency: Option<&str>,
) -> Option<Money> {
    // Exactly three capitals: an ISO 4217 code is a machine's field, not prose.
    let before = errors.clone();
    if let Some(minor) = minor
        && !(0..=MAX_MINOR).contains(&minor)
    {
        errors.add(amount_field, "must be a whole number of minor units from 0 to 10^18");
    }
    if let Some(code) = currency
        && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.add("currency", "must be an ISO 4217 code in capitals, e.g. EUR");
    }
    match (minor, currency) {
        (Some(_), None) => errors.add("currency", format!("is required with {amount_field}")),
        (None, Some(_)) => errors.add(amount_field, "is required with currency"),
        _ => {}
    }
    match (minor, currency) {
        (Some(minor), Some(currency)) if *errors == before => Some(Money {
            minor,
            currency: currency.to_owned(),
        }),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct ApprovalPolicy {
    pub default_required_cosigners: u32,
    pub declines_to_reject: u32,
    pub pending_ttl: chrono::Duration,
    pub categories: Vec<Category>,
    pub thresholds: Vec<AmountThreshold>,
    /// Per currency: the largest amount peers may approve. When any limit is
    /// configured, only the currencies listed are accepted.
    pub peer_limits: BTreeMap<String, i64>,
    /// How often a proposal may be revised (each revision is kept forever).
    pub max_revisions: u32,
    /// Which revisions keep the endorsements given so far.
    pub tolerance: MaterialTolerance,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("unknown category; valid categories: {}", valid.join(", "))]
    UnknownCategory { valid: Vec<String> },
    #[error("is required for category {category}, which moves money (with currency)")]
    AmountRequired { category: String },
    #[error("currency {currency} is not accepted; accepted: {}", accepted.join(", "))]
    CurrencyNotAccepted { currency: String, accepted: Vec<String> },
    #[error(
        "exceeds the peer-approval limit of {}: peers cannot approve it in Countersign; have it approved \
         outside Countersign under your company's usual process, or file a lower amount",
        major_units(*limit_minor, currency)
    )]
    ExceedsPeerLimit { currency: String, limit_minor: i64 },
    #[error("must be {approved}, the currency the proposal was approved in")]
    OutcomeCurrency { approved: String },
    #[error("is more than peers may ever approve ({})", major_units(*limit_minor, currency))]
    OutcomeAboveLimit { currency: String, limit_minor: i64 },
    #[error("is more than the {} approved without a peer", major_units(*approved_minor, currency))]
    OutcomeAboveApprovedAlone { approved_minor: i64, currency: String },
}

impl ApprovalPolicy {
    fn category(&self, name: &str) -> Result<&Category, PolicyViolation> {
        self.categories
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| PolicyViolation::UnknownCategory {
                valid: self.categories.iter().map(|c| c.name.clone()).collect(),
            })
    }

    /// What an outcome may say was paid: in the currency the proposal was
    /// approved in (when it named one), an accepted currency otherwise, and
    /// never more than peers may approve in it.
    pub fn check_outcome_amount(&self, approved: Option<&Money>, actual: &Money) -> Result<(), PolicyViolation> {
        if let Some(approved) = approved
            && approved.currency != actual.currency
        {
            return Err(PolicyViolation::OutcomeCurrency {
                approved: approved.currency.clone(),
            });
        }
        if self.peer_limits.is_empty() {
            return Ok(());
        }
        match self.peer_limits.get(&actual.currency) {
            None => Err(PolicyViolation::CurrencyNotAccepted {
                currency: actual.currency.clone(),
                accepted: self.peer_limits.keys().cloned().collect(),
            }),
            Some(&limit) if actual.minor > limit => Err(PolicyViolation::OutcomeAboveLimit {
                currency: actual.currency.clone(),
                limit_minor: limit,
            }),
            Some(_) => Ok(()),
        }
    }

    /// How many distinct co-signers a proposal in this category with this
    /// amount needs, or why peers may not approve it at all (an unknown
    /// category, a missing amount where money moves, a currency not
    /// accepted, an amount above the peer limit).
    pub fn required_cosigners(&self, category: &str, amount: Option<&Money>) -> Result<u32, PolicyViolation> {
        Ok(self.rule_for(category, amount)?.required_cosigners)
    }

    /// The rule a filing falls under: how many co-signers, because of
    /// which threshold (none: the default), below which peer limit.
    pub fn rule_for(&self, category: &str, amount: Option<&Money>) -> Result<AppliedRule, PolicyViolation> {
        let category = self.category(category)?;
        let default = AppliedRule {
            required_cosigners: self.default_required_cosigners,
            required_groups: Vec::new(),
            threshold: None,
            peer_limit: None,
        };
        let Some(amount) = amount else {
            if category.moves_money {
                return Err(PolicyViolation::AmountRequired {
                    category: category.name.clone(),
                });
            }
            return Ok(default);
        };
        let mut rule = default;
        if !self.peer_limits.is_empty() {
            match self.peer_limits.get(&amount.currency) {
                None => {
                    return Err(PolicyViolation::CurrencyNotAccepted {
                        currency: amount.currency.clone(),
                        accepted: self.peer_limits.keys().cloned().collect(),
                    });
                }
                Some(&limit) if amount.minor > limit => {
                    return Err(PolicyViolation::ExceedsPeerLimit {
                        currency: amount.currency.clone(),
                        limit_minor: limit,
                    });
                }
                Some(&limit) => {
                    rule.peer_limit = Some(Money {
                        minor: limit,
                        currency: amount.currency.clone(),
                    });
                }
            }
        }
        for threshold in &self.thresholds {
            if threshold.currency != amount.currency || amount.minor <= threshold.above_minor {
                continue;
            }
            // Every threshold passed adds its groups; the highest count wins.
            add_groups(&mut rule.required_groups, &threshold.required_groups);
            if threshold.required_cosigners > rule.required_cosigners {
                rule.required_cosigners = threshold.required_cosigners;
                rule.threshold = Some(threshold.clone());
            }
        }
        // Each group needs a person of its own unless one belongs to several.
        rule.required_cosigners = rule.required_cosigners.max(rule.required_groups.len() as u32);
        Ok(rule)
    }
}

/// Adds to `into` the groups of `groups` it lacks, keeping it sorted.
fn add_groups(into: &mut Vec<String>, groups: &[String]) {
    for group in groups {
        if !into.contains(group) {
            into.push(group.clone());
        }
    }
    into.sort();
}

impl AppliedRule {
    /// This rule, raised to at least `required` co-signers and every one
    /// of `groups`: a revision that keeps the endorsements given keeps the
    /// bar they were given under (a lower amount never lowers it).
    pub fn at_least(mut self, required: u32, groups: &[String]) -> AppliedRule {
        self.required_cosigners = self.required_cosigners.max(required);
        add_groups(&mut self.required_groups, groups);
        self
    }
}

/// The rule a filing falls under (see [`ApprovalPolicy::rule_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRule {
    pub required_cosigners: u32,
    /// Signer groups each needing an endorser of their own (sorted).
    pub required_groups: Vec<String>,
    /// The threshold that set `required_cosigners` (none: the default).
    pub threshold: Option<AmountThreshold>,
    /// The most peers may approve in the amount's currency, when limited.
    pub peer_limit: Option<Money>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn policy() -> ApprovalPolicy {
        ApprovalPolicy {
            default_required_cosigners: 1,
            declines_to_reject: 2,
            pending_ttl: chrono::Duration::minutes(30),
            categories: vec![
                Category {
                    name: "refund".into(),
                    description: "Money back".into(),
                    moves_money: true,
                },
                Category {
                    name: "replacement".into(),
                    description: "Goods shipped again".into(),
                    moves_money: false,
                },
            ],
            thresholds: vec![
                AmountThreshold {
                    currency: "EUR".into(),
                    above_minor: 50_000,
                    required_cosigners: 2,
                    required_groups: vec![],
                },
                AmountThreshold {
                    currency: "EUR".into(),
                    above_minor: 200_000,
                    required_cosigners: 3,
                    required_groups: vec![],
                },
            ],
            peer_limits: BTreeMap::from([("EUR".into(), 500_000), ("USD".into(), 100_000)]),
            max_revisions: 20,
            tolerance: MaterialTolerance {
                amount_decrease_percent: 100,
                resolution_typo_chars: 2,
            },
        }
    }

    #[test]
    fn thresholds_may_require_signer_groups_and_every_one_passed_adds_its_own() {
        let mut p = policy();
        p.thresholds[0].required_groups = vec!["senior".into()];
        p.thresholds[1].required_groups = vec!["billing".into(), "senior".into()];
        let small = p.rule_for("refund", Some(&eur(100))).unwrap();
        assert!(small.required_groups.is_empty());
        let senior = p.rule_for("refund", Some(&eur(60_000))).unwrap();
        assert_eq!(
            (senior.required_cosigners, senior.required_groups),
            (2, vec!["senior".to_owned()])
        );
        let both = p.rule_for("refund", Some(&eur(300_000))).unwrap();
        assert_eq!(
            (both.required_cosigners, both.required_groups),
            (3, vec!["billing".to_owned(), "senior".to_owned()])
        );
        // A kept revision's bar: never below the one before.
        let lower = p.rule_for("refund", Some(&eur(100))).unwrap();
        let kept = lower.at_least(2, &["senior".to_owned()]);
        assert_eq!(
            (kept.required_cosigners, kept.required_groups),
            (2, vec!["senior".to_owned()])
        );
        // More groups than co-signers: one endorser each at the least.
        p.thresholds[0].required_groups = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(p.required_cosigners("refund", Some(&eur(60_000))), Ok(3));
    }

    #[test]
    fn an_outcome_is_paid_in_the_approved_currency_and_within_what_peers_may_approve() {
        let p = policy();
        assert_eq!(
            p.check_outcome_amount(Some(&eur(1000)), &eur(1200)),
            Ok(()),
            "a little more is fine"
        );
        let usd = Money {
            minor: 1000,
            currency: "USD".into(),
        };
        assert!(matches!(
            p.check_outcome_amount(Some(&eur(1000)), &usd),
            Err(PolicyViolation::OutcomeCurrency { .. })
        ));
        assert!(matches!(
            p.check_outcome_amount(Some(&eur(1000)), &eur(999_999_999)),
            Err(PolicyViolation::OutcomeAboveLimit { .. })
        ));
        let xxx = Money {
            minor: 1,
            currency: "XXX".into(),
        };
        assert!(matches!(
            p.check_outcome_amount(None, &xxx),
            Err(PolicyViolation::CurrencyNotAccepted { .. })
        ));
        assert_eq!(p.check_outcome_amount(None, &usd), Ok(()));
    }

    #[test]
    fn the_rule_names_the_threshold_that_set_the_count_and_the_peer_limit() {
        let p = policy();
        let rule = p.rule_for("refund", Some(&eur(300_000))).unwrap();
        assert_eq!(rule.required_cosigners, 3);
        assert_eq!(
            rule.threshold.map(|t| t.above_minor),
            Some(200_000),
            "the highest that applies"
        );
        assert_eq!(rule.peer_limit, Some(eur(500_000)));
        let small = p.rule_for("refund", Some(&eur(100))).unwrap();
        assert_eq!((small.required_cosigners, small.threshold), (1, None));
        let unpriced = p.rule_for("replacement", None).unwrap();
        assert_eq!((unpriced.required_cosigners, unpriced.peer_limit), (1, None));
        assert_eq!(p.required_cosigners("refund", Some(&eur(300_000))), Ok(3));
    }

    pub(crate) fn eur(minor: i64) -> Money {
        Money {
            minor,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn money_is_both_an_amount_and_a_currency_or_neither() {
        let check = |minor: Option<i64>, currency: Option<&str>| {
            let mut errors = FieldErrors::new();
            let money = check_money(&mut errors, "amount_minor", minor, currency);
            (money, errors.as_map().keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(check(Some(1200), Some("EUR")), (Some(eur(1200)), vec![]));
        assert_eq!(check(Some(1200), Some(" EUR")), (None, vec!["currency".to_owned()]));
        assert_eq!(check(None, None), (None, vec![]));
        assert_eq!(
            check(None, Some(" ")),
            (None, vec!["amount_minor".to_owned(), "currency".to_owned()])
        );
        assert_eq!(check(Some(1), None), (None, vec!["currency".to_owned()]));
        assert_eq!(check(None, Some("EUR")), (None, vec!["amount_minor".to_owned()]));
        assert_eq!(check(Some(-1), Some("EUR")), (None, vec!["amount_minor".to_owned()]));
        assert_eq!(check(Some(1), Some("eur")), (None, vec!["currency".to_owned()]));
    }

    #[test]
    fn known_categories_pass_and_unknown_ones_list_the_valid_names() {
        assert_eq!(policy().required_cosigners("refund", Some(&eur(1))), Ok(1));
        assert_eq!(
            policy().required_cosigners("bribe", Some(&eur(1))),
            Err(PolicyViolation::UnknownCategory {
                valid: vec!["refund".into(), "replacement".into()]
            })
        );
    }

    #[test]
    fn no_amount_needs_the_default_number_of_cosigners_where_no_money_moves() {
        assert_eq!(policy().required_cosigners("replacement", None), Ok(1));
    }

    #[test]
    fn a_category_that_moves_money_needs_the_amount() {
        assert_eq!(
            policy().required_cosigners("refund", None),
            Err(PolicyViolation::AmountRequired {
                category: "refund".into()
            })
        );
    }

    #[test]
    fn thresholds_raise_the_number_of_cosigners_strictly_above_the_amount() {
        let p = policy();
        assert_eq!(p.required_cosigners("refund", Some(&eur(0))), Ok(1));
        assert_eq!(
            p.required_cosigners("refund", Some(&eur(50_000))),
            Ok(1),
            "500.00 is not above 500.00"
        );
        assert_eq!(p.required_cosigners("refund", Some(&eur(50_001))), Ok(2));
        assert_eq!(
            p.required_cosigners("refund", Some(&eur(200_001))),
            Ok(3),
            "the highest matching threshold wins"
        );
        assert_eq!(
            p.required_cosigners(
                "refund",
                Some(&Money {
                    minor: 90_000,
                    currency: "USD".into()
                })
            ),
            Ok(1),
            "thresholds are per currency"
        );
    }

    #[test]
    fn the_peer_limit_is_inclusive_and_refuses_above_it() {
        let p = policy();
        assert_eq!(p.required_cosigners("refund", Some(&eur(500_000))), Ok(3));
        assert_eq!(
            p.required_cosigners("refund", Some(&eur(500_001))),
            Err(PolicyViolation::ExceedsPeerLimit {
                currency: "EUR".into(),
                limit_minor: 500_000
            })
        );
        let text = p
            .required_cosigners("refund", Some(&eur(500_001)))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("exceeds the peer-approval limit of 5000.00 EUR"),
            "{text}"
        );
        assert!(text.contains("outside Countersign"), "{text}");
        assert!(!text.contains("minor units"), "{text}");
    }

    #[test]
    fn a_currency_without_a_limit_is_refused_when_limits_are_configured() {
        assert_eq!(
            policy().required_cosigners(
                "refund",
                Some(&Money {
                    minor: 1,
                    currency: "JPY".into()
                })
            ),
            Err(PolicyViolation::CurrencyNotAccepted {
                currency: "JPY".into(),
                accepted: vec!["EUR".into(), "USD".into()]
            })
        );
    }

    #[test]
    fn without_configured_limits_any_currency_is_accepted() {
        let mut p = policy();
        p.peer_limits.clear();
        assert_eq!(
            p.required_cosigners(
                "refund",
                Some(&Money {
                    minor: i64::MAX,
                    currency: "JPY".into()
                })
            ),
            Ok(1)
        );
    }
}
