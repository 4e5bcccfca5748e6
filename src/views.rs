//! The shapes Countersign shows the outside world. A proposal looks the same
//! in a REST answer, an idempotent replay and (next) a webhook payload,
//! because all of them are built here and nowhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::proposals::ProposalRow;
use crate::db::standing_approvals::{StandingApprovalRow, UsageAmountRow, UsageRow};
use crate::domain::proposal::{CustomerOutcome, Decision, Status, Verdict};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signature {
    pub employee_id: Uuid,
    /// The signer's name and team, as they are now.
    pub name: String,
    pub team: Option<String>,
    pub decision: Decision,
    pub revision: i32,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub via_integration_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub recorded_by: Uuid,
    pub via_integration_id: Option<Uuid>,
    pub executed: bool,
    pub actual_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer_outcome: CustomerOutcome,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub reviewer_id: Uuid,
    pub reviewer_name: String,
    pub reviewer_team: Option<String>,
    pub verdict: Verdict,
    pub note: String,
    pub reviewed_at: DateTime<Utc>,
}

/// A proposal with its signatures, outcome and review.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Proposal {
    pub id: Uuid,
    /// The effective status: a pending proposal past `expires_at` is `expired`.
    pub status: Status,
    pub proposer_id: Uuid,
    /// The proposer's name and team, as they are now.
    pub proposer_name: String,
    pub proposer_team: Option<String>,
    pub filed_via_integration_id: Option<Uuid>,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub resolution: String,
    pub justification: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    /// Integer minor units (cents); never a float.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub required_cosigners: i32,
    /// Signer groups that need an endorser each (e.g. `senior`).
    #[serde(default)]
    pub required_groups: Vec<String>,
    /// Of those, the groups no counted endorser belongs to yet.
    #[serde(default)]
    pub missing_groups: Vec<String>,
    /// Distinct endorsements by active agents of the current revision (or
    /// of an earlier one whose endorsements a small revision kept).
    pub endorsements: i32,
    pub declines_to_reject: i32,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Approved by the proposer alone, where the company allows it (no
    /// peer on shift, or none answered in time); always reviewed.
    pub approved_alone: bool,
    /// The standing approval that approved it on filing, without a peer.
    #[serde(default)]
    pub standing_approval_id: Option<Uuid>,
    pub signatures: Vec<Signature>,
    pub outcome: Option<Outcome>,
    pub review: Option<Review>,
}

/// The proposal as the outside world sees it at `now`.
pub fn proposal(row: &ProposalRow, now: DateTime<Utc>) -> Proposal {
    let facts = row.facts();
    let status = facts.effective_status(now);
    Proposal {
        id: row.id,
        status,
        proposer_id: row.proposer_id,
        proposer_name: row.proposer_name.clone(),
        proposer_team: row.proposer_team.clone(),
        filed_via_integration_id: row.filed_via_integration_id,
        category: row.category.clone(),
        policy_ref: row.policy_ref.clone(),
        summary: row.summary.clone(),
        resolution: row.resolution.clone(),
        justification: row.justification.clone(),
        customer_ref: row.customer_ref.clone(),
        ticket_ref: row.ticket_ref.clone(),
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
        required_cosigners: row.required_cosigners,
        required_groups: row.required_groups.clone(),
        missing_groups: facts.missing_groups(),
        endorsements: facts.endorsements(),
        declines_to_reject: row.declines_to_reject,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
        // An expiry not yet written down happened at the deadline.
        decided_at: match (row.decided_at, status) {
            (None, Status::Expired) => Some(row.expires_at),
            (decided, _) => decided,
        },
        approved_alone: row.approved_alone,
        standing_approval_id: row.standing_approval_id,
        signatures: row
            .signatures
            .iter()
            .map(|s| Signature {
                employee_id: s.employee_id,
                name: s.name.clone(),
                team: s.team.clone(),
                decision: s.decision,
                revision: s.revision,
                comment: s.comment.clone(),
                reason: s.reason.clone(),
                via_integration_id: s.via_integration_id,
                created_at: s.created_at,
            })
            .collect(),
        outcome: row.outcome.as_ref().map(|o| Outcome {
            recorded_by: o.recorded_by,
            via_integration_id: o.via_integration_id,
            executed: o.executed,
            actual_amount_minor: o.actual_amount_minor,
            currency: o.currency.clone(),
            customer_outcome: o.customer_outcome,
            note: o.note.clone(),
            recorded_at: o.recorded_at,
        }),
        review: row.review.as_ref().map(|r| Review {
            reviewer_id: r.reviewer_id,
            reviewer_name: r.reviewer_name.clone(),
            reviewer_team: r.reviewer_team.clone(),
            verdict: r.verdict,
            note: r.note.clone(),
            reviewed_at: r.reviewed_at,
        }),
    }
}

/// A standing approval: an exception promoted to policy, and its use.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandingApproval {
    pub id: Uuid,
    pub category: String,
    pub policy_ref: String,
    /// The most a filing may name, in `currency` (none: filings without an amount).
    pub max_amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// Only proposers of this team (none: everyone).
    pub team: Option<String>,
    pub valid_from: DateTime<Utc>,
    /// Exclusive; none: until retired.
    pub valid_until: Option<DateTime<Utc>>,
    /// Approving filings now: not retired and inside its window.
    pub active: bool,
    pub source_proposal_id: Option<Uuid>,
    pub note: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<Uuid>,
    pub retire_reason: Option<String>,
    pub usage: StandingUsage,
}

/// What a standing approval approved, how it turned out, what reviewers said.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandingUsage {
    /// Filings it approved.
    pub proposals: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Per currency: approved and executed amounts.
    pub amounts: Vec<StandingAmount>,
    /// Customer outcomes as recorded; `not_recorded` where none is yet.
    pub outcomes: StandingOutcomes,
    /// Review verdicts; `not_reviewed` where none is yet.
    pub reviews: StandingReviews,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandingAmount {
    pub currency: String,
    pub proposals: i64,
    pub approved_minor: i64,
    pub executed_minor: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandingOutcomes {
    pub satisfied: i64,
    pub neutral: i64,
    pub dissatisfied: i64,
    pub unknown: i64,
    pub not_recorded: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandingReviews {
    pub endorse: i64,
    pub promote_to_policy: i64,
    pub coach: i64,
    pub not_reviewed: i64,
}

/// The standing approval as the outside world sees it at `now`.
pub fn standing_approval(
    row: StandingApprovalRow,
    usage: Option<&UsageRow>,
    amounts: &[&UsageAmountRow],
    now: DateTime<Utc>,
) -> StandingApproval {
    let usage = usage.cloned().unwrap_or_default();
    StandingApproval {
        active: row.rule().is_active(now),
        id: row.id,
        category: row.category,
        policy_ref: row.policy_ref,
        max_amount_minor: row.max_amount_minor,
        currency: row.currency,
        team: row.team,
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        source_proposal_id: row.source_proposal_id,
        note: row.note,
        created_by: row.created_by,
        created_at: row.created_at,
        retired_at: row.retired_at,
        retired_by: row.retired_by,
        retire_reason: row.retire_reason,
        usage: StandingUsage {
            proposals: usage.proposals,
            last_used_at: usage.last_used_at,
            amounts: amounts
                .iter()
                .map(|a| StandingAmount {
                    currency: a.currency.clone(),
                    proposals: a.proposals,
                    approved_minor: a.approved_minor,
                    executed_minor: a.executed_minor,
                })
                .collect(),
            outcomes: StandingOutcomes {
                satisfied: usage.satisfied,
                neutral: usage.neutral,
                dissatisfied: usage.dissatisfied,
                unknown: usage.unknown,
                not_recorded: usage.outcome_not_recorded,
            },
            reviews: StandingReviews {
                endorse: usage.reviewed_endorse,
                promote_to_policy: usage.reviewed_promote_to_policy,
                coach: usage.reviewed_coach,
                not_reviewed: usage.not_reviewed,
            },
        },
    }
}
