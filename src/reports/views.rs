//! The reports as the outside world sees them: the shapes the REST door
//! answers as JSON (and writes as CSV, `csv`), and the pages show as
//! tables, each made from the rows of its query. Built here and nowhere
//! else, so every door shows the same figures.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CandidateRow, CurrencyAmounts, CurrencyCost, ExpiredRow, GroupBy, SummaryRow, WaitingRow};

/// Customer outcomes recorded, by kind.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeCounts {
    pub satisfied: i64,
    pub neutral: i64,
    pub dissatisfied: i64,
    pub unknown: i64,
}

/// Review verdicts, by kind.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerdictCounts {
    pub endorse: i64,
    pub promote_to_policy: i64,
    pub coach: i64,
}

/// One group of the summary (or, as `totals`, all proposals of the window
/// once each).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SummaryGroup {
    /// The category, policy_ref, team ("" for none), or person id; `null`
    /// for the totals.
    pub key: Option<String>,
    /// The person's name, when grouped by proposer or co-signer.
    pub label: Option<String>,
    pub total: i64,
    pub pending: i64,
    pub approved: i64,
    /// Of those approved, how many the proposer approved alone (where the
    /// company allows it; each one reviewed).
    pub approved_alone: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    /// Pending past the deadline counts here.
    pub expired: i64,
    /// approved ÷ (approved + rejected + expired): withdrawn and pending
    /// proposals are left out; `null` when none was decided.
    pub approval_rate: Option<f64>,
    /// Seconds from filing to approval: how long the customer waited.
    pub median_secs_to_approval: Option<f64>,
    pub p90_secs_to_approval: Option<f64>,
    /// Per currency: approved, and executed as the outcomes report.
    pub amounts: Vec<CurrencyAmounts>,
    pub outcomes: OutcomeCounts,
    pub verdicts: VerdictCounts,
}

impl From<SummaryRow> for SummaryGroup {
    fn from(row: SummaryRow) -> Self {
        SummaryGroup {
            key: row.group_key,
            label: row.group_label,
            total: row.total,
            pending: row.pending,
            approved: row.approved,
            approved_alone: row.approved_alone,
            rejected: row.rejected,
            withdrawn: row.withdrawn,
            expired: row.expired,
            approval_rate: row.approval_rate,
            median_secs_to_approval: row.median_secs_to_approval,
            p90_secs_to_approval: row.p90_secs_to_approval,
            amounts: row.amounts.0,
            outcomes: OutcomeCounts {
                satisfied: row.satisfied,
                neutral: row.neutral,
                dissatisfied: row.dissatisfied,
                unknown: row.unknown,
            },
            verdicts: VerdictCounts {
                endorse: row.endorse,
                promote_to_policy: row.promote_to_policy,
                coach: row.coach,
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    /// Ordered by key.
    pub groups: Vec<SummaryGroup>,
    pub totals: SummaryGroup,
}

/// One recurring exception.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyCandidate {
    pub category: String,
    pub policy_ref: String,
    /// Proposals filed in the window.
    pub volume: i64,
    pub approved: i64,
    /// approved ÷ (approved + rejected + expired); `null` when none was decided.
    pub approval_rate: Option<f64>,
    /// What the approved ones cost, per currency (their approved amounts).
    pub cost: Vec<CurrencyCost>,
    /// satisfied ÷ outcomes whose customer outcome is known; `null` when none is.
    pub satisfied_share: Option<f64>,
    /// Reviews that said `promote_to_policy`.
    pub promote_votes: i64,
    /// Proposals in the window of equal length just before.
    pub previous_volume: i64,
    /// (volume − previous_volume) ÷ previous_volume; `null` when it is new.
    pub trend: Option<f64>,
    /// Standing approvals in force for it, now or from a later date (empty: none yet).
    pub standing_approval_ids: Vec<uuid::Uuid>,
    /// `GET` this for a pre-filled `POST /v1/standing-approvals` body.
    pub create_standing_approval: String,
}

impl From<CandidateRow> for PolicyCandidate {
    fn from(row: CandidateRow) -> Self {
        let trend =
            (row.previous_volume > 0).then(|| (row.volume - row.previous_volume) as f64 / row.previous_volume as f64);
        let draft = format!(
            "/v1/standing-approvals/draft?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("category", &row.category)
                .append_pair("policy_ref", &row.policy_ref)
                .finish()
        );
        PolicyCandidate {
            category: row.category,
            policy_ref: row.policy_ref,
            volume: row.volume,
            approved: row.approved,
            approval_rate: row.approval_rate,
            cost: row.cost.0,
            satisfied_share: row.satisfied_share,
            promote_votes: row.promote_votes,
            previous_volume: row.previous_volume,
            trend,
            create_standing_approval: draft,
            standing_approval_ids: row.standing_approval_ids,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyCandidates {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub min_count: i64,
    /// Strongest first: more `promote_to_policy` votes, then more volume,
    /// then a higher approval rate, then a higher satisfied share.
    pub items: Vec<PolicyCandidate>,
}

/// One proposer and one of their co-signers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CosignPair {
    pub proposer_id: uuid::Uuid,
    pub proposer_name: String,
    pub cosigner_id: uuid::Uuid,
    pub cosigner_name: String,
    /// The proposer's proposals this co-signer endorsed.
    pub cosigned: i64,
    /// Of those, approved.
    pub approvals: i64,
    /// Of the co-signatures, those sent through the same helpdesk
    /// integration that filed the proposal: one token acted as both people.
    pub through_one_integration: i64,
    /// All the proposer's approvals in the window.
    pub proposer_approvals: i64,
    /// approvals ÷ proposer_approvals.
    pub share_of_approvals: Option<f64>,
    /// The co-signer's proposals the proposer endorsed in turn.
    pub reciprocal: i64,
    pub median_secs_to_cosign: Option<f64>,
    /// Prompts to look, never findings: `concentrated` (this co-signer is
    /// behind at least `reports.pair_share_threshold` of the proposer's
    /// approvals, once they have `reports.pair_min_approvals`), `fast`
    /// (median co-sign under `reports.fast_cosign_secs`), `mutual` (they
    /// co-sign each other's), `one_integration` (a co-signature came
    /// through the integration that filed the proposal).
    pub flags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CosignPairs {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The most concentrated first.
    pub items: Vec<CosignPair>,
}

/// Proposals filed in one hour of the day (or on one weekday).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingBucket {
    /// 0–23, or the ISO weekday 1 (Monday) – 7 (Sunday).
    pub bucket: i32,
    pub filed: i64,
    /// Approved, rejected or expired (withdrawn ones are left out).
    pub decided: i64,
    /// Expired: nobody decided before the deadline.
    pub expired: i64,
    pub median_secs_to_decision: Option<f64>,
    pub p90_secs_to_decision: Option<f64>,
    /// Seconds from filing to the first endorsement: how long until a
    /// second person noticed and agreed.
    pub median_secs_to_first_cosign: Option<f64>,
    pub p90_secs_to_first_cosign: Option<f64>,
    /// Proposals that needed a reminder, an escalation to managers, or
    /// that the proposer approved alone.
    pub reminded: i64,
    pub escalated: i64,
    pub approved_alone: i64,
}

impl From<WaitingRow> for WaitingBucket {
    fn from(row: WaitingRow) -> Self {
        WaitingBucket {
            bucket: row.bucket,
            filed: row.filed,
            decided: row.decided,
            expired: row.expired,
            median_secs_to_decision: row.median_secs_to_decision,
            p90_secs_to_decision: row.p90_secs_to_decision,
            median_secs_to_first_cosign: row.median_secs_to_first_cosign,
            p90_secs_to_first_cosign: row.p90_secs_to_first_cosign,
            reminded: row.reminded,
            escalated: row.escalated,
            approved_alone: row.approved_alone,
        }
    }
}

/// A proposal nobody decided in time: a customer who waited for nothing.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiredProposal {
    pub id: uuid::Uuid,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub ticket_ref: Option<String>,
    pub proposer_id: uuid::Uuid,
    pub proposer_name: String,
    pub proposer_team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub endorsements: i64,
    pub declines: i64,
}

impl From<ExpiredRow> for ExpiredProposal {
    fn from(row: ExpiredRow) -> Self {
        ExpiredProposal {
            id: row.id,
            category: row.category,
            policy_ref: row.policy_ref,
            summary: row.summary,
            ticket_ref: row.ticket_ref,
            proposer_id: row.proposer_id,
            proposer_name: row.proposer_name,
            proposer_team: row.proposer_team,
            created_at: row.created_at,
            expires_at: row.expires_at,
            endorsements: row.endorsements,
            declines: row.declines,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Waiting {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    /// Hours with proposals only, in order.
    pub by_hour: Vec<WaitingBucket>,
    /// Weekdays with proposals only, in order.
    pub by_weekday: Vec<WaitingBucket>,
    /// How many expired in the window.
    pub expired_total: i64,
    /// The first 100 of them, oldest first (all are in exceptions.csv).
    pub expired: Vec<ExpiredProposal>,
}
