//! The proposal state machine and the two-person rule.
//!
//! `pending` → `approved` | `rejected` | `withdrawn` | `expired`, nothing else.
//! Every decision takes the proposal as last read under a row lock, the person
//! acting and the time, and answers what happens or which rule forbids it.
//! The schema checks the same rule again (one signature per person and
//! revision, never the proposer's own, approval only with enough endorsements).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::employee::Person;
use super::fields::FieldErrors;
use super::policy::{MaterialTolerance, Money, check_money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::Withdrawn,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Withdrawn => "withdrawn",
            Status::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Endorse,
    Decline,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Endorse => "endorse",
            Decision::Decline => "decline",
        }
    }
}

/// A manager's verdict on a decided proposal. Reviews are blameless: a
/// verdict never changes the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A good call.
    Endorse,
    /// This exception recurs and should become written policy.
    PromoteToPolicy,
    /// Worth a conversation with the people involved.
    Coach,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Endorse => "endorse",
            Verdict::PromoteToPolicy => "promote_to_policy",
            Verdict::Coach => "coach",
        }
    }
}

/// How the customer took the resolution, as the proposer recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerOutcome {
    Satisfied,
    Neutral,
    Dissatisfied,
    Unknown,
}

impl CustomerOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerOutcome::Satisfied => "satisfied",
            CustomerOutcome::Neutral => "neutral",
            CustomerOutcome::Dissatisfied => "dissatisfied",
            CustomerOutcome::Unknown => "unknown",
        }
    }
}

/// One person's signature on one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFact {
    pub employee_id: Uuid,
    pub revision: i32,
    pub decision: Decision,
    /// Whether the signer is an active agent now. An endorsement by someone
    /// since deactivated, or no longer frontline, does not count.
    pub by_active_agent: bool,
    /// The signer's groups now (e.g. `senior`).
    pub groups: Vec<String>,
}

/// What the rules need to know about a proposal.
#[derive(Debug, Clone)]
pub struct ProposalFacts {
    pub status: Status,
    pub proposer_id: Uuid,
    pub revision: i32,
    pub required_cosigners: i32,
    /// Signer groups each needing an endorser (fixed per revision).
    pub required_groups: Vec<String>,
    /// Where the current revision kept the endorsements of earlier ones
    /// (a change within the tolerance): the first revision whose
    /// endorsements still count. None: only the current revision's count.
    pub endorsements_kept_from: Option<i32>,
    pub declines_to_reject: i32,
    pub expires_at: DateTime<Utc>,
    pub signatures: Vec<SignatureFact>,
    pub outcome_recorded: bool,
    pub reviewed: bool,
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("only active agents may {action}")]
    NotAnActiveAgent { action: &'static str },
    #[error("the proposer cannot co-sign or decline their own proposal")]
    OwnProposal,
    #[error("only the proposer may {action}")]
    NotProposer { action: &'static str },
    #[error("you have already signed revision {revision} of this proposal")]
    AlreadySigned { revision: i32 },
    #[error("you read revision {read}, but the proposal is now at revision {current}; read it again before signing")]
    RevisionChanged { read: i32, current: i32 },
    #[error("the proposal is {}, not pending", .0.as_str())]
    NotPending(Status),
    #[error("the proposal expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("outcomes are recorded for approved proposals only; this one is {}", .0.as_str())]
    NotApproved(Status),
    #[error("the outcome is already recorded")]
    OutcomeRecorded,
    #[error("the proposal was revised {max} times, as often as allowed; withdraw it and file a new one")]
    TooManyRevisions { max: u32 },
    #[error("only active managers may review proposals")]
    NotAnActiveManager,
    #[error("a reviewer cannot review a proposal they filed or signed")]
    ReviewerInvolved,
    #[error("the proposal is still pending; it is reviewed once decided")]
    NotDecided,
    #[error("the proposal is already reviewed")]
    AlreadyReviewed,
    #[error("proposal {open} is already open for this ticket and category; revise or withdraw it instead")]
    TicketHasOpenProposal { open: Uuid },
    #[error("{why}")]
    ActingAloneNotAllowed { why: String },
    #[error(
        "peers may still answer ({on_shift} eligible on shift, everyone eligible asked): acting alone is possible from {from} if nobody does"
    )]
    PeerAvailable { on_shift: usize, from: DateTime<Utc> },
    #[error("a peer declined this proposal: it is never approved alone")]
    PeerDeclined,
    #[error(
        "{employee} cannot be asked to co-sign this proposal: not an active agent, the proposer, or already signed"
    )]
    CannotBeAsked { employee: Uuid },
    #[error(
        "the remaining co-signature{} must come from the group{} {}; you belong to none of them",
        if *.remaining == 1 { "" } else { "s" },
        if .groups.len() == 1 { "" } else { "s" },
        .groups.join(", ")
    )]
    SignerGroupNeeded { groups: Vec<String>, remaining: i32 },
    #[error("the standing approval is already retired")]
    StandingApprovalRetired,
    #[error("the validity window is empty or already over: valid_until must come after valid_from and now")]
    StandingApprovalWindow,
    #[error("proposal {0} is still pending: a standing approval is promoted from a decided one")]
    SourceNotDecided(Uuid),
}

/// What a signature does to the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureEffect {
    /// Counted; the proposal stays pending.
    Recorded,
    /// The endorsement that met the threshold: the proposal is approved.
    Approves,
    /// The decline that reached `declines_to_reject`: the proposal is rejected.
    Rejects,
}

/// Anyone filing must be an active agent: frontline staff only.
pub fn check_may_file(proposer: &Person) -> Result<(), RuleViolation> {
    if proposer.is_active_agent() {
        Ok(())
    } else {
        Err(RuleViolation::NotAnActiveAgent {
            action: "file proposals",
        })
    }
}

/// The pending proposal already filed for a ticket and category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOnTicket {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A ticket has one open proposal per category: filing another (or
/// revising one onto it) is refused, naming the open one. One past its
/// deadline is no longer open: answers it, for the caller to expire first.
pub fn check_ticket_free(open: Option<OpenOnTicket>, now: DateTime<Utc>) -> Result<Option<Uuid>, RuleViolation> {
    match open {
        None => Ok(None),
        Some(open) if now >= open.expires_at => Ok(Some(open.id)),
        Some(open) => Err(RuleViolation::TicketHasOpenProposal { open: open.id }),
    }
}

impl ProposalFacts {
    /// The status a reader should see: a pending proposal past its deadline is
    /// expired even before the expiry worker has written it down.
    pub fn effective_status(&self, now: DateTime<Utc>) -> Status {
        if self.status == Status::Pending && now >= self.expires_at {
            Status::Expired
        } else {
            self.status
        }
    }

    /// Distinct active agents endorsing the current revision (or one whose
    /// endorsements it kept): only they count toward approval when the
    /// deciding signature arrives.
    pub fn endorsements(&self) -> i32 {
        self.counted(Decision::Endorse).len() as i32
    }

    /// Distinct people who declined any revision: a revision does not erase
    /// a peer's objection, so revising cannot dodge a rejection.
    pub fn distinct_decliners(&self) -> i32 {
        self.counted(Decision::Decline).len() as i32
    }

    /// The people whose signatures count toward a decision of this kind:
    /// active agents endorsing the current revision (or one it kept the
    /// endorsements of, unless they declined a later one since), or
    /// everyone who declined any revision (once each), in the order they
    /// signed.
    pub fn counted(&self, decision: Decision) -> Vec<Uuid> {
        let mut people: Vec<Uuid> = Vec::new();
        for signature in &self.signatures {
            let counts = match decision {
                Decision::Endorse => {
                    let withdrawn = self.signatures.iter().any(|later| {
                        later.employee_id == signature.employee_id
                            && later.decision == Decision::Decline
                            && later.revision > signature.revision
                    });
                    signature.decision == Decision::Endorse
                        && (self.endorsements_from()..=self.revision).contains(&signature.revision)
                        && signature.by_active_agent
                        && !withdrawn
                }
                Decision::Decline => signature.decision == Decision::Decline,
            };
            if counts && !people.contains(&signature.employee_id) {
                people.push(signature.employee_id);
            }
        }
        people
    }

    /// The first revision whose endorsements count.
    pub fn endorsements_from(&self) -> i32 {
        self.endorsements_kept_from.unwrap_or(self.revision)
    }

    /// The required groups no counted endorser belongs to (sorted).
    pub fn missing_groups(&self) -> Vec<String> {
        let endorsers = self.counted(Decision::Endorse);
        self.required_groups
            .iter()
            .filter(|group| {
                !self.signatures.iter().any(|s| {
                    endorsers.contains(&s.employee_id) && s.decision == Decision::Endorse && s.groups.contains(group)
                })
            })
            .cloned()
            .collect()
    }

    pub fn check_pending(&self, now: DateTime<Utc>) -> Result<(), RuleViolation> {
        match self.effective_status(now) {
            Status::Pending => Ok(()),
            Status::Expired if self.status == Status::Pending => Err(RuleViolation::Expired(self.expires_at)),
            other => Err(RuleViolation::NotPending(other)),
        }
    }

    /// A signer names the revision they read: they sign what they saw,
    /// never a text revised since.
    fn check_signer(
        &self,
        signer: &Person,
        decision: Decision,
        read_revision: i32,
        now: DateTime<Utc>,
    ) -> Result<(), RuleViolation> {
        let action = match decision {
            Decision::Endorse => "co-sign proposals",
            Decision::Decline => "decline proposals",
        };
        if !signer.is_active_agent() {
            return Err(RuleViolation::NotAnActiveAgent { action });
        }
        if signer.id == self.proposer_id {
            return Err(RuleViolation::OwnProposal);
        }
        self.check_pending(now)?;
        if read_revision != self.revision {
            return Err(RuleViolation::RevisionChanged {
                read: read_revision,
                current: self.revision,
            });
        }
        // One signature per person and revision; and an endorsement stands
        // on every later revision that kept it: no second one on those
        // terms (a decline of the new revision withdraws it instead).
        let standing = self.signatures.iter().find(|s| {
            s.employee_id == signer.id
                && (s.revision == self.revision
                    || (decision == Decision::Endorse && s.revision >= self.endorsements_from()))
        });
        if let Some(signed) = standing {
            return Err(RuleViolation::AlreadySigned {
                revision: signed.revision,
            });
        }
        Ok(())
    }

    /// A peer in no signer group endorses the revision they read, which
    /// must be the current one (see [`ProposalFacts::cosign_as`]).
    pub fn cosign(
        &self,
        signer: &Person,
        read_revision: i32,
        now: DateTime<Utc>,
    ) -> Result<SignatureEffect, RuleViolation> {
        self.cosign_as(signer, &[], read_revision, now)
    }

    /// A peer, member of `groups`, endorses the revision they read. It
    /// approves when the count is met and every required group has an
    /// endorser. A peer who covers no missing group is refused once every
    /// remaining place is needed for the groups still missing, so a
    /// proposal never collects the count without the people it needs.
    pub fn cosign_as(
        &self,
        signer: &Person,
        groups: &[String],
        read_revision: i32,
        now: DateTime<Utc>,
    ) -> Result<SignatureEffect, RuleViolation> {
        self.check_signer(signer, Decision::Endorse, read_revision, now)?;
        let missing = self.missing_groups();
        let remaining = (self.required_cosigners - self.endorsements()).max(0);
        let covers = missing.iter().any(|group| groups.contains(group));
        if !missing.is_empty() && !covers && remaining <= missing.len() as i32 {
            return Err(RuleViolation::SignerGroupNeeded {
                groups: missing,
                remaining,
            });
        }
        let still_missing = missing.iter().filter(|group| !groups.contains(group)).count();
        if self.endorsements() + 1 >= self.required_cosigners && still_missing == 0 {
            Ok(SignatureEffect::Approves)
        } else {
            Ok(SignatureEffect::Recorded)
        }
    }

    /// A peer declines the revision they read, which must be the current one.
    pub fn decline(
        &self,
        signer: &Person,
        read_revision: i32,
        now: DateTime<Utc>,
    ) -> Result<SignatureEffect, RuleViolation> {
        self.check_signer(signer, Decision::Decline, read_revision, now)?;
        let already_declined = self
            .signatures
            .iter()
            .any(|s| s.employee_id == signer.id && s.decision == Decision::Decline);
        let decliners = self.distinct_decliners() + i32::from(!already_declined);
        if decliners >= self.declines_to_reject {
            Ok(SignatureEffect::Rejects)
        } else {
            Ok(SignatureEffect::Recorded)
        }
    }

    fn check_proposer(&self, actor: &Person, action: &'static str) -> Result<(), RuleViolation> {
        if actor.id != self.proposer_id {
            return Err(RuleViolation::NotProposer { action });
        }
        if !actor.is_active_agent() {
            return Err(RuleViolation::NotAnActiveAgent { action });
        }
        Ok(())
    }

    /// The proposer revises while pending, up to `max` times in all
    /// (`so_far` revisions already made).
    pub fn check_may_revise(
        &self,
        actor: &Person,
        now: DateTime<Utc>,
        so_far: i64,
        max: u32,
    ) -> Result<(), RuleViolation> {
        self.check_proposer(actor, "revise this proposal")?;
        self.check_pending(now)?;
        if so_far >= i64::from(max) {
            return Err(RuleViolation::TooManyRevisions { max });
        }
        Ok(())
    }

    /// The proposer withdraws while pending.
    pub fn check_may_withdraw(&self, actor: &Person, now: DateTime<Utc>) -> Result<(), RuleViolation> {
        self.check_proposer(actor, "withdraw this proposal")?;
        self.check_pending(now)
    }

    /// The proposer records what happened, once, after approval.
    pub fn check_may_record_outcome(&self, actor: &Person) -> Result<(), RuleViolation> {
        self.check_proposer(actor, "record the outcome")?;
        match self.status {
            Status::Approved if self.outcome_recorded => Err(RuleViolation::OutcomeRecorded),
            Status::Approved => Ok(()),
            other => Err(RuleViolation::NotApproved(other)),
        }
    }

    /// A manager reviews a decided proposal, once, unless they filed or
    /// signed it: nobody grades their own call.
    pub fn check_may_review(&self, reviewer: &Person, now: DateTime<Utc>) -> Result<(), RuleViolation> {
        if !reviewer.is_active_manager() {
            return Err(RuleViolation::NotAnActiveManager);
        }
        let involved = reviewer.id == self.proposer_id || self.signatures.iter().any(|s| s.employee_id == reviewer.id);
        if involved {
            return Err(RuleViolation::ReviewerInvolved);
        }
        if self.effective_status(now) == Status::Pending {
            return Err(RuleViolation::NotDecided);
        }
        if self.reviewed {
            return Err(RuleViolation::AlreadyReviewed);
        }
        Ok(())
    }
}

/// What a proposal says: the text and the amount a co-signer agrees to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub resolution: String,
    pub justification: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    pub amount: Option<Money>,
}

/// A revision as asked for, its texts already checked: `None` keeps a
/// field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct TermsChange {
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    pub summary: Option<String>,
    pub resolution: Option<String>,
    pub justification: Option<String>,
    pub customer_ref: Option<Option<String>>,
    pub ticket_ref: Option<Option<String>>,
    pub amount_minor: Option<Option<i64>>,
    pub currency: Option<Option<String>>,
}

impl Terms {
    /// The terms after a change. The amount and its currency are merged one
    /// by one, then checked as a pair: both or neither.
    pub fn revised(&self, change: TermsChange) -> Result<Terms, FieldErrors> {
        let minor = change
            .amount_minor
            .unwrap_or_else(|| self.amount.as_ref().map(|m| m.minor));
        let currency = change
            .currency
            .unwrap_or_else(|| self.amount.as_ref().map(|m| m.currency.clone()));
        let mut errors = FieldErrors::new();
        let amount = check_money(&mut errors, "amount_minor", minor, currency.as_deref());
        errors.finish()?;
        Ok(Terms {
            category: change.category.unwrap_or_else(|| self.category.clone()),
            policy_ref: change.policy_ref.unwrap_or_else(|| self.policy_ref.clone()),
            summary: change.summary.unwrap_or_else(|| self.summary.clone()),
            resolution: change.resolution.unwrap_or_else(|| self.resolution.clone()),
            justification: change.justification.unwrap_or_else(|| self.justification.clone()),
            customer_ref: change.customer_ref.unwrap_or_else(|| self.customer_ref.clone()),
            ticket_ref: change.ticket_ref.unwrap_or_else(|| self.ticket_ref.clone()),
            amount,
        })
    }

    /// What co-signers agree to; a change here starts a new revision.
    pub fn material(&self) -> MaterialTerms {
        MaterialTerms {
            category: self.category.clone(),
            policy_ref: self.policy_ref.clone(),
            resolution: self.resolution.clone(),
            amount: self.amount.clone(),
            customer_ref: self.customer_ref.clone(),
        }
    }
}

/// The fields whose change makes a new revision: what the co-signers agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialTerms {
    pub category: String,
    pub policy_ref: String,
    pub resolution: String,
    pub amount: Option<Money>,
    pub customer_ref: Option<String>,
}

/// A change to any material field starts a new revision.
pub fn starts_new_revision(before: &MaterialTerms, after: &MaterialTerms) -> bool {
    before != after
}

/// Whether a new revision keeps the endorsements given so far. `endorsed`
/// holds the terms they were given to (the category, policy rule,
/// customer and currency stay the same while they are kept, so those are
/// the current ones): kept only when those four stay, the amount is no
/// more than was endorsed (and below it by at most the tolerated share),
/// and the resolution is the endorsed one or a typo's worth of characters
/// from it with every word that holds a digit unchanged. Measured against
/// what was endorsed, small edits cannot add up. Anything else voids them.
pub fn keeps_endorsements(endorsed: &MaterialTerms, after: &MaterialTerms, tolerance: &MaterialTolerance) -> bool {
    if endorsed.category != after.category
        || endorsed.policy_ref != after.policy_ref
        || endorsed.customer_ref != after.customer_ref
    {
        return false;
    }
    let amount_kept = match (&endorsed.amount, &after.amount) {
        (None, None) => true,
        (Some(was), Some(now)) if was.currency == now.currency => {
            let fall = i128::from(was.minor) - i128::from(now.minor);
            fall == 0
                || (fall > 0 && fall * 100 <= i128::from(was.minor) * i128::from(tolerance.amount_decrease_percent))
        }
        _ => false,
    };
    amount_kept && is_typo_fix(&endorsed.resolution, &after.resolution, tolerance.resolution_typo_chars)
}

/// The words of a text that hold a digit ("10", "1.50", "10k", "#4521"), in
/// order; words are separated by ASCII white space, as the schema's
/// `countersign_numbers_in` separates them.
pub fn numbers_in(text: &str) -> Vec<&str> {
    text.split([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
        .filter(|word| word.bytes().any(|b| b.is_ascii_digit()))
        .collect()
}

/// The same text, or one at most `chars` edits away whose words holding a
/// digit are all unchanged ("Refnud" for "Refund"; never "1.50" to "150",
/// "10" to "10k" or "100").
fn is_typo_fix(before: &str, after: &str, chars: u32) -> bool {
    if before == after {
        return true;
    }
    chars > 0 && numbers_in(before) == numbers_in(after) && within_edits(before, after, chars as usize)
}

/// The most characters of two texts' differing middles compared (their
/// product): more is taken as more than a typo. The schema's
/// `countersign_within_edits` stops at the same size.
const MOST_COMPARED: usize = 100_000;

/// Whether `b` is at most `k` characters inserted, deleted or replaced
/// from `a`: what both share at the start and the end is set aside first
/// (it changes no distance), then the middles are compared.
pub fn within_edits(a: &str, b: &str, k: usize) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[start..], &b[start..]);
    let end = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[..a.len() - end], &b[..b.len() - end]);
    if a.len().abs_diff(b.len()) > k || a.len().saturating_mul(b.len()) > MOST_COMPARED {
        return false;
    }
    strsim::generic_levenshtein(&a.to_vec(), &b.to_vec()) <= k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::Role;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn agent() -> Person {
        Person {
            id: Uuid::now_v7(),
            role: Role::Agent,
            active: true,
        }
    }

    fn proposal(proposer: &Person, required: i32) -> ProposalFacts {
        ProposalFacts {
            status: Status::Pending,
            proposer_id: proposer.id,
            revision: 1,
            required_cosigners: required,
            required_groups: vec![],
            endorsements_kept_from: None,
            declines_to_reject: 2,
            expires_at: now() + Duration::minutes(30),
            signatures: vec![],
            outcome_recorded: false,
            reviewed: false,
        }
    }

    fn sign(p: &mut ProposalFacts, who: &Person, decision: Decision) {
        p.signatures.push(SignatureFact {
            employee_id: who.id,
            revision: p.revision,
            decision,
            by_active_agent: true,
            groups: vec![],
        });
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
    }

    /// The name written to the database (`as_str`) is the one serde reads
    /// back from the rows' JSON, and an unknown name is refused.
    fn stored_name_round_trips<T>(value: T, unknown: &str, stored: &str)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        assert_eq!(serde_json::to_value(&value).unwrap(), stored);
        assert_eq!(serde_json::from_value::<T>(stored.into()).unwrap(), value);
        assert!(serde_json::from_value::<T>(unknown.into()).is_err(), "{unknown}");
    }

    #[test]
    fn stored_names_of_decisions_verdicts_and_customer_outcomes_round_trip() {
        for decision in [Decision::Endorse, Decision::Decline] {
            stored_name_round_trips(decision, "abstain", decision.as_str());
        }
        for verdict in [Verdict::Endorse, Verdict::PromoteToPolicy, Verdict::Coach] {
            stored_name_round_trips(verdict, "blame", verdict.as_str());
        }
        let outcomes = [
            CustomerOutcome::Satisfied,
            CustomerOutcome::Neutral,
            CustomerOutcome::Dissatisfied,
            CustomerOutcome::Unknown,
        ];
        for outcome in outcomes {
            stored_name_round_trips(outcome, "thrilled", outcome.as_str());
        }
    }

    #[test]
    fn only_active_agents_file() {
        assert_eq!(check_may_file(&agent()), Ok(()));
        for role in [Role::Manager, Role::Admin] {
            let person = Person {
                id: Uuid::now_v7(),
                role,
                active: true,
            };
            assert!(matches!(
                check_may_file(&person),
                Err(RuleViolation::NotAnActiveAgent { .. })
            ));
        }
        let inactive = Person {
            active: false,
            ..agent()
        };
        assert!(matches!(
            check_may_file(&inactive),
            Err(RuleViolation::NotAnActiveAgent { .. })
        ));
    }

    #[test]
    fn one_peer_endorsement_approves_by_default() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        assert_eq!(p.cosign(&agent(), p.revision, now()), Ok(SignatureEffect::Approves));
    }

    #[test]
    fn the_proposer_can_never_sign_their_own() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        assert_eq!(p.cosign(&proposer, p.revision, now()), Err(RuleViolation::OwnProposal));
        assert_eq!(p.decline(&proposer, p.revision, now()), Err(RuleViolation::OwnProposal));
    }

    #[test]
    fn managers_admins_and_inactive_agents_cannot_sign() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        for role in [Role::Manager, Role::Admin] {
            let person = Person {
                id: Uuid::now_v7(),
                role,
                active: true,
            };
            assert!(matches!(
                p.cosign(&person, p.revision, now()),
                Err(RuleViolation::NotAnActiveAgent { .. })
            ));
            assert!(matches!(
                p.decline(&person, p.revision, now()),
                Err(RuleViolation::NotAnActiveAgent { .. })
            ));
        }
        let inactive = Person {
            active: false,
            ..agent()
        };
        assert!(matches!(
            p.cosign(&inactive, p.revision, now()),
            Err(RuleViolation::NotAnActiveAgent { .. })
        ));
    }

    #[test]
    fn a_peer_signs_each_revision_at_most_once() {
        let proposer = agent();
        let peer = agent();
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &peer, Decision::Endorse);
        assert_eq!(
            p.cosign(&peer, p.revision, now()),
            Err(RuleViolation::AlreadySigned { revision: 1 })
        );
        assert_eq!(
            p.decline(&peer, p.revision, now()),
            Err(RuleViolation::AlreadySigned { revision: 1 })
        );
    }

    #[test]
    fn two_required_cosigners_need_two_distinct_people() {
        let proposer = agent();
        let (first, second) = (agent(), agent());
        let mut p = proposal(&proposer, 2);
        assert_eq!(p.cosign(&first, p.revision, now()), Ok(SignatureEffect::Recorded));
        sign(&mut p, &first, Decision::Endorse);
        assert_eq!(p.endorsements(), 1);
        assert_eq!(
            p.cosign(&first, p.revision, now()),
            Err(RuleViolation::AlreadySigned { revision: 1 })
        );
        assert_eq!(p.cosign(&second, p.revision, now()), Ok(SignatureEffect::Approves));
    }

    #[test]
    fn a_decline_does_not_count_toward_approval() {
        let proposer = agent();
        let (decliner, endorser) = (agent(), agent());
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &decliner, Decision::Decline);
        assert_eq!(p.cosign(&endorser, p.revision, now()), Ok(SignatureEffect::Recorded));
    }

    #[test]
    fn declines_reject_at_the_configured_count_of_distinct_people() {
        let proposer = agent();
        let (first, second) = (agent(), agent());
        let mut p = proposal(&proposer, 1);
        assert_eq!(p.decline(&first, p.revision, now()), Ok(SignatureEffect::Recorded));
        sign(&mut p, &first, Decision::Decline);
        assert_eq!(p.decline(&second, p.revision, now()), Ok(SignatureEffect::Rejects));

        p.declines_to_reject = 1;
        p.signatures.clear();
        assert_eq!(p.decline(&first, p.revision, now()), Ok(SignatureEffect::Rejects));
    }

    #[test]
    fn endorsements_of_an_earlier_revision_no_longer_count() {
        let proposer = agent();
        let (first, second) = (agent(), agent());
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &first, Decision::Endorse);
        p.revision = 2;
        assert_eq!(p.endorsements(), 0);
        assert_eq!(
            p.cosign(&second, p.revision, now()),
            Ok(SignatureEffect::Recorded),
            "one endorsement of revision 2 is not two"
        );
        assert_eq!(
            p.cosign(&first, p.revision, now()),
            Ok(SignatureEffect::Recorded),
            "the earlier signer may endorse the new revision"
        );
    }

    #[test]
    fn a_signer_signs_the_revision_they_read_or_nothing() {
        let proposer = agent();
        let peer = agent();
        let mut p = proposal(&proposer, 1);
        p.revision = 2;
        let changed = Err(RuleViolation::RevisionChanged { read: 1, current: 2 });
        assert_eq!(p.cosign(&peer, 1, now()), changed);
        assert_eq!(p.decline(&peer, 1, now()), changed);
        assert_eq!(
            p.cosign(&peer, 3, now()),
            Err(RuleViolation::RevisionChanged { read: 3, current: 2 })
        );
        assert_eq!(p.cosign(&peer, 2, now()), Ok(SignatureEffect::Approves));
    }

    #[test]
    fn endorsements_by_people_no_longer_active_agents_do_not_count() {
        let proposer = agent();
        let (gone, second, third) = (agent(), agent(), agent());
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &gone, Decision::Endorse);
        assert_eq!(p.endorsements(), 1);
        p.signatures[0].by_active_agent = false;
        assert_eq!(p.endorsements(), 0, "deactivated (or promoted) since");
        assert_eq!(
            p.cosign(&second, 1, now()),
            Ok(SignatureEffect::Recorded),
            "one active endorsement of two"
        );
        sign(&mut p, &second, Decision::Endorse);
        assert_eq!(p.cosign(&third, 1, now()), Ok(SignatureEffect::Approves));
    }

    #[test]
    fn declines_survive_a_revision_and_are_counted_once_per_person() {
        let proposer = agent();
        let (first, second) = (agent(), agent());
        let mut p = proposal(&proposer, 1);
        sign(&mut p, &first, Decision::Decline);
        p.revision = 2;
        assert_eq!(p.distinct_decliners(), 1);
        assert_eq!(
            p.decline(&first, p.revision, now()),
            Ok(SignatureEffect::Recorded),
            "the same person twice is still one"
        );
        assert_eq!(p.decline(&second, p.revision, now()), Ok(SignatureEffect::Rejects));
    }

    #[test]
    fn decided_proposals_take_no_more_signatures() {
        let proposer = agent();
        for status in [Status::Approved, Status::Rejected, Status::Withdrawn, Status::Expired] {
            let mut p = proposal(&proposer, 1);
            p.status = status;
            assert_eq!(
                p.cosign(&agent(), p.revision, now()),
                Err(RuleViolation::NotPending(status))
            );
            assert_eq!(
                p.decline(&agent(), p.revision, now()),
                Err(RuleViolation::NotPending(status))
            );
            assert_eq!(
                p.check_may_withdraw(&proposer, now()),
                Err(RuleViolation::NotPending(status))
            );
            assert_eq!(
                p.check_may_revise(&proposer, now(), 0, 20),
                Err(RuleViolation::NotPending(status))
            );
        }
    }

    #[test]
    fn a_pending_proposal_past_its_deadline_is_expired_for_everyone() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        let late = p.expires_at;
        assert_eq!(p.effective_status(late - Duration::seconds(1)), Status::Pending);
        assert_eq!(p.effective_status(late), Status::Expired);
        assert_eq!(
            p.cosign(&agent(), p.revision, late),
            Err(RuleViolation::Expired(p.expires_at))
        );
        assert_eq!(
            p.decline(&agent(), p.revision, late),
            Err(RuleViolation::Expired(p.expires_at))
        );
        assert_eq!(
            p.check_may_withdraw(&proposer, late),
            Err(RuleViolation::Expired(p.expires_at))
        );
        assert_eq!(
            p.check_may_revise(&proposer, late, 0, 20),
            Err(RuleViolation::Expired(p.expires_at))
        );
    }

    #[test]
    fn a_decided_proposal_keeps_its_status_after_the_deadline() {
        let proposer = agent();
        let mut p = proposal(&proposer, 1);
        p.status = Status::Approved;
        assert_eq!(p.effective_status(p.expires_at + Duration::days(1)), Status::Approved);
    }

    #[test]
    fn only_the_proposer_revises_withdraws_and_records_outcomes() {
        let proposer = agent();
        let other = agent();
        let mut p = proposal(&proposer, 1);
        assert_eq!(p.check_may_revise(&proposer, now(), 0, 20), Ok(()));
        assert_eq!(p.check_may_withdraw(&proposer, now()), Ok(()));
        assert!(matches!(
            p.check_may_revise(&other, now(), 0, 20),
            Err(RuleViolation::NotProposer { .. })
        ));
        assert!(matches!(
            p.check_may_withdraw(&other, now()),
            Err(RuleViolation::NotProposer { .. })
        ));
        p.status = Status::Approved;
        assert_eq!(p.check_may_record_outcome(&proposer), Ok(()));
        assert!(matches!(
            p.check_may_record_outcome(&other),
            Err(RuleViolation::NotProposer { .. })
        ));
        p.outcome_recorded = true;
        assert_eq!(
            p.check_may_record_outcome(&proposer),
            Err(RuleViolation::OutcomeRecorded),
            "once"
        );
    }

    #[test]
    fn a_proposal_is_revised_at_most_the_allowed_number_of_times() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        assert_eq!(p.check_may_revise(&proposer, now(), 19, 20), Ok(()));
        assert_eq!(
            p.check_may_revise(&proposer, now(), 20, 20),
            Err(RuleViolation::TooManyRevisions { max: 20 })
        );
    }

    #[test]
    fn a_proposer_who_left_cannot_act_on_their_proposal() {
        let proposer = agent();
        let p = proposal(&proposer, 1);
        let gone = Person {
            active: false,
            ..proposer
        };
        assert!(matches!(
            p.check_may_withdraw(&gone, now()),
            Err(RuleViolation::NotAnActiveAgent { .. })
        ));
    }

    #[test]
    fn outcomes_only_for_approved_proposals() {
        let proposer = agent();
        for status in [Status::Pending, Status::Rejected, Status::Withdrawn, Status::Expired] {
            let mut p = proposal(&proposer, 1);
            p.status = status;
            assert_eq!(
                p.check_may_record_outcome(&proposer),
                Err(RuleViolation::NotApproved(status))
            );
        }
    }

    fn manager() -> Person {
        Person {
            id: Uuid::now_v7(),
            role: Role::Manager,
            active: true,
        }
    }

    #[test]
    fn managers_review_every_decided_proposal_but_no_pending_one() {
        let proposer = agent();
        for status in [Status::Approved, Status::Rejected, Status::Withdrawn, Status::Expired] {
            let mut p = proposal(&proposer, 1);
            p.status = status;
            assert_eq!(p.check_may_review(&manager(), now()), Ok(()), "{status:?}");
        }
        let p = proposal(&proposer, 1);
        assert_eq!(p.check_may_review(&manager(), now()), Err(RuleViolation::NotDecided));
        assert_eq!(
            p.check_may_review(&manager(), p.expires_at),
            Ok(()),
            "past its deadline it is expired, so decided"
        );
    }

    #[test]
    fn a_proposal_is_reviewed_once() {
        let proposer = agent();
        let mut p = proposal(&proposer, 1);
        p.status = Status::Rejected;
        p.reviewed = true;
        assert_eq!(
            p.check_may_review(&manager(), now()),
            Err(RuleViolation::AlreadyReviewed)
        );
    }

    #[test]
    fn only_active_managers_review() {
        let proposer = agent();
        let mut p = proposal(&proposer, 1);
        p.status = Status::Approved;
        let admin = Person {
            role: Role::Admin,
            ..manager()
        };
        let gone = Person {
            active: false,
            ..manager()
        };
        for person in [agent(), admin, gone] {
            assert_eq!(
                p.check_may_review(&person, now()),
                Err(RuleViolation::NotAnActiveManager),
                "{person:?}"
            );
        }
    }

    #[test]
    fn nobody_reviews_a_proposal_they_filed_or_signed() {
        // People change roles: an agent who filed or signed may later be a manager.
        let (proposer, endorser, decliner) = (agent(), agent(), agent());
        let mut p = proposal(&proposer, 1);
        sign(&mut p, &decliner, Decision::Decline);
        sign(&mut p, &endorser, Decision::Endorse);
        p.status = Status::Approved;
        for person in [proposer, endorser, decliner] {
            let promoted = Person {
                role: Role::Manager,
                ..person
            };
            assert_eq!(
                p.check_may_review(&promoted, now()),
                Err(RuleViolation::ReviewerInvolved)
            );
        }
    }

    fn terms() -> Terms {
        Terms {
            category: "refund".into(),
            policy_ref: "REF-7".into(),
            summary: "Refund after 45 days".into(),
            resolution: "refund in full".into(),
            justification: "lost parcel".into(),
            customer_ref: Some("C-1".into()),
            ticket_ref: Some("T-1".into()),
            amount: Some(Money {
                minor: 1000,
                currency: "EUR".into(),
            }),
        }
    }

    #[test]
    fn a_revision_changes_what_it_names_and_keeps_the_rest() {
        let before = terms();
        let after = before
            .revised(TermsChange {
                summary: Some("Refund after 46 days".into()),
                ticket_ref: Some(None),
                amount_minor: Some(Some(900)),
                ..TermsChange::default()
            })
            .unwrap();
        assert_eq!(after.summary, "Refund after 46 days");
        assert_eq!(after.ticket_ref, None, "null clears");
        assert_eq!(after.customer_ref, before.customer_ref, "left out keeps");
        assert_eq!(
            after.amount,
            Some(Money {
                minor: 900,
                currency: "EUR".into()
            }),
            "the currency stays with a new amount"
        );
        assert_ne!(after.material(), before.material());
        let cosmetic = before
            .revised(TermsChange {
                summary: Some("s".into()),
                ..TermsChange::default()
            })
            .unwrap();
        assert_eq!(cosmetic.material(), before.material());
    }

    #[test]
    fn a_revision_keeps_amount_and_currency_together() {
        let half = TermsChange {
            amount_minor: Some(None),
            ..TermsChange::default()
        };
        let errors = terms().revised(half).unwrap_err();
        assert!(errors.as_map().contains_key("amount_minor"), "{errors:?}");
        let both = TermsChange {
            amount_minor: Some(None),
            currency: Some(None),
            ..TermsChange::default()
        };
        assert_eq!(terms().revised(both).unwrap().amount, None);
    }

    #[test]
    fn material_fields_start_a_new_revision_and_others_do_not() {
        let base = MaterialTerms {
            category: "refund".into(),
            policy_ref: "REF-7".into(),
            resolution: "refund in full".into(),
            amount: Some(Money {
                minor: 1000,
                currency: "EUR".into(),
            }),
            customer_ref: Some("C-1".into()),
        };
        assert!(!starts_new_revision(&base, &base.clone()));
        let changes = [
            MaterialTerms {
                category: "fee_waiver".into(),
                ..base.clone()
            },
            MaterialTerms {
                policy_ref: "REF-8".into(),
                ..base.clone()
            },
            MaterialTerms {
                resolution: "refund half".into(),
                ..base.clone()
            },
            MaterialTerms {
                amount: Some(Money {
                    minor: 1001,
                    currency: "EUR".into(),
                }),
                ..base.clone()
            },
            MaterialTerms {
                amount: Some(Money {
                    minor: 1000,
                    currency: "USD".into(),
                }),
                ..base.clone()
            },
            MaterialTerms {
                amount: None,
                ..base.clone()
            },
            MaterialTerms {
                customer_ref: None,
                ..base.clone()
            },
        ];
        for after in changes {
            assert!(starts_new_revision(&base, &after), "{after:?}");
        }
    }

    fn in_groups(p: &mut ProposalFacts, who: &Person, groups: &[&str]) {
        p.signatures.push(SignatureFact {
            employee_id: who.id,
            revision: p.revision,
            decision: Decision::Endorse,
            by_active_agent: true,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        });
    }

    #[test]
    fn a_group_rule_refuses_two_peers_where_a_senior_is_needed_and_approves_with_one() {
        let proposer = agent();
        let (first, second, senior) = (agent(), agent(), agent());
        let mut p = proposal(&proposer, 2);
        p.required_groups = vec!["senior".into()];
        assert_eq!(
            p.cosign(&first, 1, now()),
            Ok(SignatureEffect::Recorded),
            "a peer takes the free place"
        );
        in_groups(&mut p, &first, &[]);
        assert_eq!(
            p.cosign(&second, 1, now()),
            Err(RuleViolation::SignerGroupNeeded {
                groups: vec!["senior".into()],
                remaining: 1
            }),
            "the last place is the senior's"
        );
        assert_eq!(p.missing_groups(), vec!["senior".to_owned()]);
        let senior_groups = ["senior".to_owned()];
        assert_eq!(
            p.cosign_as(&senior, &senior_groups, 1, now()),
            Ok(SignatureEffect::Approves)
        );
        // The other way round: the senior first, then any peer completes it.
        let mut p = proposal(&proposer, 2);
        p.required_groups = vec!["senior".into()];
        assert_eq!(
            p.cosign_as(&senior, &senior_groups, 1, now()),
            Ok(SignatureEffect::Recorded)
        );
        in_groups(&mut p, &senior, &["senior"]);
        assert!(p.missing_groups().is_empty());
        assert_eq!(p.cosign(&first, 1, now()), Ok(SignatureEffect::Approves));
    }

    #[test]
    fn a_deactivated_seniors_endorsement_leaves_the_group_missing() {
        let proposer = agent();
        let senior = agent();
        let mut p = proposal(&proposer, 2);
        p.required_groups = vec!["senior".into()];
        in_groups(&mut p, &senior, &["senior"]);
        p.signatures[0].by_active_agent = false;
        assert_eq!(p.missing_groups(), vec!["senior".to_owned()]);
        assert_eq!(p.endorsements(), 0);
    }

    #[test]
    fn a_kept_revision_counts_earlier_endorsements_and_its_signers_sign_once() {
        let proposer = agent();
        let (first, second) = (agent(), agent());
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &first, Decision::Endorse);
        p.revision = 2;
        p.endorsements_kept_from = Some(1);
        assert_eq!(p.endorsements(), 1, "revision 2 kept revision 1's endorsements");
        assert_eq!(
            p.cosign(&first, 2, now()),
            Err(RuleViolation::AlreadySigned { revision: 1 })
        );
        assert_eq!(p.cosign(&second, 2, now()), Ok(SignatureEffect::Approves));
        p.endorsements_kept_from = None;
        assert_eq!(p.endorsements(), 0, "a revision that voided them");
        assert_eq!(p.cosign(&first, 2, now()), Ok(SignatureEffect::Recorded));
    }

    #[test]
    fn a_kept_endorser_may_decline_the_new_revision_which_withdraws_the_endorsement() {
        let proposer = agent();
        let first = agent();
        let mut p = proposal(&proposer, 2);
        sign(&mut p, &first, Decision::Endorse);
        p.revision = 2;
        p.endorsements_kept_from = Some(1);
        assert_eq!(p.decline(&first, 2, now()), Ok(SignatureEffect::Recorded));
        sign(&mut p, &first, Decision::Decline);
        assert_eq!(p.endorsements(), 0, "the decline withdrew it");
        assert_eq!(p.distinct_decliners(), 1);
        assert_eq!(
            p.decline(&first, 2, now()),
            Err(RuleViolation::AlreadySigned { revision: 2 })
        );
    }

    fn material(minor: i64, resolution: &str) -> MaterialTerms {
        MaterialTerms {
            category: "refund".into(),
            policy_ref: "REFUND-30-DAYS".into(),
            resolution: resolution.into(),
            amount: Some(Money {
                minor,
                currency: "EUR".into(),
            }),
            customer_ref: Some("CUST-1".into()),
        }
    }

    #[test]
    fn a_decrease_or_a_typo_fix_keeps_endorsements_and_anything_more_voids_them() {
        let tolerance = MaterialTolerance {
            amount_decrease_percent: 50,
            resolution_typo_chars: 2,
        };
        let base = material(10_000, "Refund the order in full");
        let keeps = |after: MaterialTerms| keeps_endorsements(&base, &after, &tolerance);
        assert!(keeps(material(8_000, "Refund the order in full")), "a decrease");
        assert!(keeps(material(5_000, "Refund the order in full")), "by half exactly");
        assert!(!keeps(material(4_999, "Refund the order in full")), "by more than half");
        assert!(!keeps(material(10_001, "Refund the order in full")), "any rise");
        assert!(keeps(material(10_000, "Refund the ordre in full")), "a typo");
        assert!(!keeps(material(10_000, "Refund the order in half")), "other words");
        assert!(!keeps(material(10_000, "Refund the order in full 1")), "a digit");
        let priced = material(10_000, "Refund 1.50 EUR for order 4521");
        let keeps_priced = |resolution: &str| keeps_endorsements(&priced, &material(10_000, resolution), &tolerance);
        assert!(
            keeps_priced("Refnud 1.50 EUR for order 4521"),
            "a typo beside the numbers"
        );
        assert!(!keeps_priced("Refund 150 EUR for order 4521"), "a point removed");
        assert!(
            !keeps_priced("Refund 1.50k EUR for order 4521"),
            "a letter added to a number"
        );
        assert!(!keeps_priced("Refund 1.50 EUR for order 4521 9"), "a number added");
        assert_eq!(numbers_in("Refund 1.50 EUR\tfor #4521"), ["1.50", "#4521"]);
        assert!(within_edits("kitten", "sitting", 3) && !within_edits("kitten", "sitting", 2));
        assert!(within_edits("abc", "", 3) && !within_edits("abcd", "", 3));
        let long = "x".repeat(400);
        assert!(
            !within_edits(&format!("a{long}"), &format!("b{long}c"), 20),
            "a middle of 401 x 402 characters is more than a typo"
        );
        let usd = MaterialTerms {
            amount: Some(Money {
                minor: 100,
                currency: "USD".into(),
            }),
            ..base.clone()
        };
        assert!(!keeps(usd), "another currency");
        for changed in [
            MaterialTerms {
                category: "goodwill_credit".into(),
                ..base.clone()
            },
            MaterialTerms {
                policy_ref: "OTHER".into(),
                ..base.clone()
            },
            MaterialTerms {
                customer_ref: None,
                ..base.clone()
            },
            MaterialTerms {
                amount: None,
                ..base.clone()
            },
        ] {
            assert!(!keeps(changed.clone()), "{changed:?}");
        }
        let strict = MaterialTolerance {
            amount_decrease_percent: 0,
            resolution_typo_chars: 0,
        };
        assert!(!keeps_endorsements(
            &base,
            &material(9_999, "Refund the order in full"),
            &strict
        ));
        assert!(!keeps_endorsements(
            &base,
            &material(10_000, "Refund the ordre in full"),
            &strict
        ));
    }
}
