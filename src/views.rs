//! The shapes Countersign shows the outside world. A proposal looks the same
//! in a REST answer, an idempotent replay and (next) a webhook payload,
//! because all of them are built here and nowhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::proposals::ProposalRow;
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
    /// Distinct endorsements of the current revision by active agents.
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
