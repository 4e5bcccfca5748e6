//! Standing approvals: a manager (or an admin) promotes a recurring
//! exception to policy, and filings it covers are approved as they are
//! filed. Creating, retiring, reading them with the figures of their use,
//! and the pre-filled draft a `promote_to_policy` review or a policy
//! candidate offers. Whether one covers a filing is `domain::standing`'s
//! call; [`covering_in`] asks it inside the filing's transaction.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::commit::{Change, IdempotencyKey, Written, commit, commit_once};
use super::{Actor, AppError};
use crate::db;
use crate::db::proposals::ProposalRow;
use crate::db::standing_approvals::StandingApprovalRow;
use crate::domain::audit::EventContent;
use crate::domain::employee::{Person, Role};
use crate::domain::event::EventType;
use crate::domain::proposal::{RuleViolation, Terms, Verdict};
use crate::domain::standing::{self, Filing, Proposed, StandingRefusal};
use crate::state::AppState;
use crate::views::{self, StandingApproval};

/// How long a draft's validity runs: a standing approval is looked at
/// again within a quarter, not left to run forever by default.
const DRAFT_VALIDITY_DAYS: i64 = 90;

/// How far back a draft from a policy candidate looks for its limit.
const DRAFT_LOOKBACK_DAYS: i64 = 30;

/// Managers promote exceptions to policy; admins may too (they run the
/// service). Agents and integrations may not.
fn manager_or_admin(actor: &Actor) -> Result<Person, AppError> {
    match actor.person {
        Some(person) if matches!(person.role, Role::Manager | Role::Admin) => Ok(person),
        _ => Err(AppError::Forbidden {
            detail: "only managers and admins manage standing approvals".to_owned(),
            required_role: Some(Role::Manager),
        }),
    }
}

/// The standing approval that approves this just-inserted filing, if one
/// covers it (held until commit, see `db::standing_approvals::offered_for`).
pub async fn covering_in(
    conn: &mut PgConnection,
    filing: &ProposalRow,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, AppError> {
    covering(conn, &filing.terms(), filing.proposer_team.as_deref(), now, true).await
}

/// The standing approval that covers these terms, filed now by a proposer
/// of `team`, if any. With `hold` (a filing), what it read is held until
/// the transaction ends; without (a preview), nothing is locked.
pub async fn covering(
    conn: &mut PgConnection,
    terms: &Terms,
    team: Option<&str>,
    now: DateTime<Utc>,
    hold: bool,
) -> Result<Option<Uuid>, AppError> {
    let offered = db::standing_approvals::offered_for(conn, &terms.category, &terms.policy_ref, hold).await?;
    if offered.is_empty() {
        return Ok(None);
    }
    let rules: Vec<standing::StandingApproval> = offered.iter().map(StandingApprovalRow::rule).collect();
    let mut seen = Filing {
        category: &terms.category,
        policy_ref: &terms.policy_ref,
        amount: terms.amount.as_ref(),
        proposer_team: team,
        names_customer: terms.customer_ref.is_some(),
        at: now,
        used_for_the_case: &[],
    };
    // Those that would cover it but for the case's earlier filings (none
    // where it names no customer: the domain covers only those that do).
    let candidates: Vec<Uuid> = rules
        .iter()
        .filter(|rule| rule.covers(&seen))
        .map(|rule| rule.id)
        .collect();
    let Some(customer) = terms.customer_ref.as_deref().filter(|_| !candidates.is_empty()) else {
        return Ok(None);
    };
    if hold {
        // In id order, as every filing takes them.
        for id in &candidates {
            db::standing_approvals::lock_customer(conn, *id, customer).await?;
        }
    }
    let since = now - Duration::days(standing::ONE_CASE_DAYS);
    let used =
        db::standing_approvals::used_for_case(conn, &candidates, terms.ticket_ref.as_deref(), customer, since).await?;
    seen.used_for_the_case = &used;
    Ok(standing::covering(&rules, &seen).map(|found| found.id))
}

/// A source proposal must exist (404) and be decided (409): a standing
/// approval is promoted from what happened, not from what is still asked.
async fn check_source(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<ProposalRow, AppError> {
    let row = db::proposals::find(conn, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))?;
    if row.facts().effective_status(now) == crate::domain::proposal::Status::Pending {
        return Err(RuleViolation::SourceNotDecided(id).into());
    }
    Ok(row)
}

/// The most characters a standing approval's note holds.
const NOTE_CHARS: usize = 2000;

fn refused(refusal: StandingRefusal) -> AppError {
    match refusal {
        StandingRefusal::Fields(errors) => AppError::Invalid(errors),
        StandingRefusal::WindowOver => RuleViolation::StandingApprovalWindow.into(),
    }
}

fn event(event_type: EventType, row: &StandingApprovalRow, actor: &Actor, now: DateTime<Utc>) -> EventContent {
    EventContent::new(
        event_type,
        row.id,
        actor.audit_ids(),
        json!({ "after": serde_json::to_value(row).unwrap_or_default() }),
        now,
    )
}

/// Promote an exception to policy. A source proposal, when named, must
/// exist and be decided.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    proposed: Proposed,
    key: Option<&IdempotencyKey>,
) -> Result<Written<StandingApproval>, AppError> {
    let person = manager_or_admin(actor)?;
    commit_once(state, key, async |conn, now| {
        let checked = standing::check(&state.policy, proposed, now).map_err(refused)?;
        if let Some(source) = checked.source_proposal_id {
            check_source(conn, source, now).await?;
        }
        let id = Uuid::now_v7();
        let row = db::standing_approvals::insert(conn, id, &checked, person.id, now).await?;
        let created = event(EventType::StandingApprovalCreated, &row, actor, now);
        Ok(Change::created(
            views::standing_approval(row, None, &[], now),
            vec![created],
        ))
    })
    .await
}

/// Retire it: from this moment no filing is approved by it (a filing
/// already using it finishes first). Retiring one already retired is
/// refused; nothing is ever deleted.
pub async fn retire(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    reason: Option<String>,
) -> Result<StandingApproval, AppError> {
    let person = manager_or_admin(actor)?;
    commit(state, async |conn, now| {
        let Some(row) = db::standing_approvals::retire(conn, id, person.id, reason.as_deref(), now).await? else {
            return match db::standing_approvals::find(conn, id).await? {
                Some(_) => Err(RuleViolation::StandingApprovalRetired.into()),
                None => Err(AppError::NotFound("standing approval")),
            };
        };
        let retired = event(EventType::StandingApprovalRetired, &row, actor, now);
        let shown = with_usage(conn, vec![row], now).await?.remove(0);
        Ok(Change::new(shown, vec![retired]))
    })
    .await
}

/// Rows as shown, each with the figures of its use.
async fn with_usage(
    conn: &mut PgConnection,
    rows: Vec<StandingApprovalRow>,
    now: DateTime<Utc>,
) -> Result<Vec<StandingApproval>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let (counts, amounts) = db::standing_approvals::usage(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.id;
            let count = counts.iter().find(|c| c.standing_approval_id == id);
            let money: Vec<_> = amounts.iter().filter(|a| a.standing_approval_id == id).collect();
            views::standing_approval(row, count, &money, now)
        })
        .collect())
}

pub async fn get(state: &AppState, actor: &Actor, id: Uuid) -> Result<StandingApproval, AppError> {
    manager_or_admin(actor)?;
    let mut conn = state.pool.acquire().await?;
    let row = db::standing_approvals::find(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("standing approval"))?;
    Ok(with_usage(&mut conn, vec![row], state.clock.now()).await?.remove(0))
}

/// Which ones a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub retired: Option<bool>,
    pub category: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(state: &AppState, actor: &Actor, filter: ListFilter) -> Result<Vec<StandingApproval>, AppError> {
    manager_or_admin(actor)?;
    let mut conn = state.pool.acquire().await?;
    let rows = db::standing_approvals::list(
        &mut conn,
        filter.retired,
        filter.category.as_deref(),
        filter.after,
        filter.limit,
    )
    .await?;
    with_usage(&mut conn, rows, state.clock.now()).await
}

/// Where a draft starts from.
#[derive(Debug, Clone)]
pub enum DraftFrom {
    /// A decided proposal (typically one reviewed `promote_to_policy`):
    /// its rule, its amount as the limit, its review note (404 for none,
    /// 409 while it is pending).
    Proposal(Uuid),
    /// A policy-candidates row: the largest amount approved under the rule
    /// in the last 30 days, in the currency most used, as the limit.
    Candidate { category: String, policy_ref: String },
}

/// The body of `POST /v1/standing-approvals`, pre-filled; nothing is
/// written. The manager adjusts it (a tighter limit, a team) and sends it.
pub async fn draft(state: &AppState, actor: &Actor, from: DraftFrom) -> Result<Proposed, AppError> {
    manager_or_admin(actor)?;
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await?;
    let valid_until = Some(now + Duration::days(DRAFT_VALIDITY_DAYS));
    match from {
        DraftFrom::Proposal(id) => {
            let row = check_source(&mut conn, id, now).await?;
            let review = row.review.as_ref();
            let note = match review {
                Some(review) if review.verdict == Verdict::PromoteToPolicy => {
                    format!("Promoted from review of {}: {}", row.id, review.note)
                }
                _ => format!("Promoted from proposal {}: {}", row.id, row.summary),
            };
            let note: String = note.chars().take(NOTE_CHARS).collect();
            Ok(Proposed {
                category: row.category.clone(),
                policy_ref: row.policy_ref.clone(),
                // Its amount as filed, for the manager to adjust (never
                // what was paid beyond it).
                max_amount_minor: row.amount_minor,
                currency: row.currency.clone(),
                team: None,
                valid_from: Some(now),
                valid_until,
                source_proposal_id: Some(row.id),
                note,
            })
        }
        DraftFrom::Candidate { category, policy_ref } => {
            let since = now - Duration::days(DRAFT_LOOKBACK_DAYS);
            let largest = db::standing_approvals::largest_approved(&mut conn, &category, &policy_ref, since).await?;
            let source = db::standing_approvals::latest_promoted(&mut conn, &category, &policy_ref).await?;
            Ok(Proposed {
                note: format!("Recurring exception {category} / {policy_ref} promoted to policy")
                    .chars()
                    .take(NOTE_CHARS)
                    .collect(),
                category,
                policy_ref,
                max_amount_minor: largest.as_ref().map(|m| m.minor),
                currency: largest.map(|m| m.currency),
                team: None,
                valid_from: Some(now),
                valid_until,
                source_proposal_id: source,
            })
        }
    }
}
