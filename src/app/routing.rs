//! Asking the right peers, so nobody waits (the rules: `domain::routing`).
//! On filing, a few peers on shift are asked ([`ask_first_in`], inside the
//! filing's transaction); the routing worker reminds and escalates what
//! nobody decided in time ([`advance`]); a manager may ask named agents
//! ([`reassign`]). Each step is an audit event, and a webhook message that
//! names the people in `details`.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::commit::{Change, IdempotencyKey, Written, commit, commit_once};
use super::{Actor, AppError};
use crate::config::RoutingSettings;
use crate::db;
use crate::db::proposals::ProposalRow;
use crate::db::routing::{CandidateRow, Named};
use crate::domain::audit::{ActorIds, EventContent};
use crate::domain::employee::Role;
use crate::domain::event::EventType;
use crate::domain::proposal::{Decision, RuleViolation, Status};
use crate::domain::routing::{AloneFacts, Step, check_act_alone, first_asked_with_groups, widened};
use crate::state::AppState;
use crate::views::{self, Proposal};

/// How many waiting proposals one worker tick takes at most.
const BATCH: usize = 50;

/// What a routing step needs besides the transaction.
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    pub settings: &'a RoutingSettings,
    /// How long "on shift" lasts without a request, in seconds.
    pub idle_secs: f64,
    /// How long a proposal stays pending, in seconds (requests older than
    /// this are answered or moot).
    pub pending_ttl_secs: f64,
}

impl<'a> Routing<'a> {
    /// Who might be asked for a proposal (see `db::routing::candidates`).
    pub async fn candidates(
        &self,
        conn: &mut PgConnection,
        proposal_id: Uuid,
        proposer_id: Uuid,
        now: DateTime<Utc>,
        on_shift_only: bool,
    ) -> sqlx::Result<Vec<CandidateRow>> {
        let (idle, ttl) = (self.idle_secs, self.pending_ttl_secs);
        if on_shift_only && !db::routing::anyone_on_shift(conn, proposer_id, now, idle).await? {
            return Ok(Vec::new());
        }
        db::routing::candidates(conn, proposal_id, proposer_id, now, idle, on_shift_only, ttl).await
    }

    pub fn of(state: &'a AppState) -> Self {
        Routing {
            settings: &state.settings.routing,
            idle_secs: super::availability::idle(state).num_seconds() as f64,
            pending_ttl_secs: state.policy.pending_ttl.num_seconds() as f64,
        }
    }
}

fn named(candidates: &[CandidateRow], ids: &[Uuid]) -> Vec<Named> {
    candidates
        .iter()
        .filter(|c| ids.contains(&c.id))
        .map(CandidateRow::named)
        .collect()
}

/// On filing: asks up to `routing.first_ask` peers on shift, and adds the
/// `proposal.cosign_requested` event (none when nobody is on shift: the
/// reminder then asks everyone). A proposal that needs signer groups asks
/// a member of each first.
pub async fn ask_first_in(
    conn: &mut PgConnection,
    routing: Routing<'_>,
    filed: &ProposalRow,
    actor: ActorIds,
    now: DateTime<Utc>,
    events: &mut Vec<EventContent>,
) -> Result<(), AppError> {
    let (proposal_id, proposer_id, groups) = (filed.id, filed.proposer_id, &filed.required_groups);
    let candidates = routing.candidates(conn, proposal_id, proposer_id, now, true).await?;
    let facts: Vec<_> = candidates.iter().map(CandidateRow::candidate).collect();
    let picked = first_asked_with_groups(&facts, routing.settings.first_ask as usize, proposal_id, groups);
    if picked.is_empty() {
        return Ok(());
    }
    let asked = db::routing::ask(conn, proposal_id, &picked, "requested", None, now).await?;
    metrics::counter!("cosign_requests_total", "reason" => "requested").increment(asked.len() as u64);
    events.push(EventContent::new(
        EventType::ProposalCosignRequested,
        proposal_id,
        actor,
        json!({ "reason": "requested", "asked": named(&candidates, &asked) }),
        now,
    ));
    Ok(())
}

/// The routing worker's tick: reminds and escalates the proposals due, one
/// proposal per transaction (so the worker holds one proposal's lock at a
/// time, and never one while it waits for a person's row that a
/// deactivation holds); answers how many steps it took.
pub async fn advance(state: &AppState) -> Result<usize, AppError> {
    let routing = Routing::of(state);
    let mut total = 0;
    for _ in 0..BATCH {
        let (steps, found) = commit(state, async |conn, now| {
            let remind = routing.settings.remind_after_secs as f64;
            let escalate = routing.settings.escalate_after_secs as f64;
            let Some(proposal) = db::routing::waiting(conn, now, remind, escalate, 1).await?.pop() else {
                return Ok(Change::new((0, false), vec![]));
            };
            let mut events = Vec::new();
            let mut steps = 0;
            let due = routing
                .settings
                .schedule()
                .due(proposal.created_at, now, proposal.reminded, false);
            for step in due {
                if take_step(conn, routing, &proposal, step, now, &mut events).await? {
                    steps += 1;
                }
            }
            Ok(Change::new((steps, true), events))
        })
        .await?;
        total += steps;
        if !found || steps == 0 {
            break;
        }
    }
    Ok(total)
}

async fn take_step(
    conn: &mut PgConnection,
    routing: Routing<'_>,
    proposal: &db::routing::Waiting,
    step: Step,
    now: DateTime<Utc>,
    events: &mut Vec<EventContent>,
) -> Result<bool, AppError> {
    // Taken once: another replica that took it first wins.
    if !db::routing::record_step(conn, proposal.id, step.as_str(), now).await? {
        return Ok(false);
    }
    let waiting_secs = (now - proposal.created_at).num_seconds();
    let (event_type, payload) = match step {
        Step::Remind => {
            let candidates = routing
                .candidates(conn, proposal.id, proposal.proposer_id, now, false)
                .await?;
            let facts: Vec<_> = candidates.iter().map(CandidateRow::candidate).collect();
            let added = db::routing::ask(conn, proposal.id, &widened(&facts), "reminder", None, now).await?;
            metrics::counter!("cosign_requests_total", "reason" => "reminder").increment(added.len() as u64);
            metrics::counter!("cosign_reminders_total").increment(1);
            let reminded: Vec<Uuid> = candidates
                .iter()
                .filter(|c| c.asked && !c.signed)
                .map(|c| c.id)
                .collect();
            (
                EventType::ProposalCosignReminded,
                json!({
                    "reason": "reminder",
                    "asked": named(&candidates, &added),
                    "reminded": named(&candidates, &reminded),
                    "waiting_secs": waiting_secs,
                }),
            )
        }
        Step::Escalate => {
            let managers = db::routing::managers_for(conn, proposal.proposer_id).await?;
            metrics::counter!("cosign_escalations_total").increment(1);
            (
                EventType::ProposalEscalated,
                json!({ "managers": managers, "waiting_secs": waiting_secs }),
            )
        }
    };
    events.push(EventContent::new(
        event_type,
        proposal.id,
        ActorIds::default(),
        payload,
        now,
    ));
    Ok(true)
}

/// A manager asks named agents to co-sign a pending proposal (after an
/// escalation, or whenever they see it waiting). Each must be an active
/// agent other than the proposer who has not signed it.
pub async fn reassign(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    employees: Vec<Uuid>,
    note: Option<String>,
) -> Result<Proposal, AppError> {
    let manager = actor.require(Role::Manager)?;
    let routing = Routing::of(state);
    commit(state, async |conn, now| {
        let row = db::proposals::find_for_update(conn, id)
            .await?
            .ok_or(AppError::NotFound("proposal"))?;
        row.facts().check_pending(now)?;
        let candidates = routing.candidates(conn, id, row.proposer_id, now, false).await?;
        if let Some(named) = employees
            .iter()
            .find(|named| !candidates.iter().any(|c| c.id == **named && !c.signed))
        {
            return Err(RuleViolation::CannotBeAsked { employee: *named }.into());
        }
        let added = db::routing::ask(conn, id, &employees, "reassigned", Some(manager.id), now).await?;
        metrics::counter!("cosign_requests_total", "reason" => "reassigned").increment(added.len() as u64);
        let event = EventContent::new(
            EventType::ProposalReassigned,
            id,
            actor.audit_ids(),
            json!({ "reason": "reassigned", "asked": named(&candidates, &employees), "note": note }),
            now,
        );
        Ok(Change::of_proposal(views::proposal(&row, now), vec![event]))
    })
    .await
}

/// The proposer approves alone, with a reason, where the company allows it
/// (`routing.act_alone`) and no eligible peer is on shift, or nobody
/// answered within the escalation window; never over a peer's decline.
/// The approval is marked `approved_alone`; the peers asked and the team's
/// managers are told at once (`proposal.acted_alone`), and the review
/// queue shows it first.
pub async fn act_alone(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    reason: String,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    let proposer = actor.require(Role::Agent)?;
    if actor.via_integration.is_some() {
        return Err(RuleViolation::ActingAloneNotAllowed {
            why: "acting alone takes the proposer's own token or the web page, never an integration".to_owned(),
        }
        .into());
    }
    let routing = Routing::of(state);
    commit_once(state, key, async |conn, now| {
        // The proposer's row before the proposal's, in the order a
        // deactivation takes them (it then withdraws their proposals).
        db::employees::hold(conn, proposer.id).await?;
        let mut row = db::proposals::find_for_update(conn, id)
            .await?
            .ok_or(AppError::NotFound("proposal"))?;
        row.facts().check_may_withdraw(&proposer, now)?;
        let candidates = routing.candidates(conn, id, row.proposer_id, now, false).await?;
        let amount = row.terms().amount;
        let because = check_act_alone(
            &routing.settings.act_alone,
            &routing.settings.schedule(),
            AloneFacts {
                category: &row.category,
                amount: amount.as_ref(),
                eligible_peers: candidates.iter().filter(|c| !c.signed).count(),
                peers_on_shift: candidates.iter().filter(|c| c.on_shift && !c.signed).count(),
                declined: row.signatures.iter().any(|s| s.decision == Decision::Decline),
                revision_started_at: row.revision_started_at.unwrap_or(row.created_at),
                now,
            },
        )?;
        let before = row.status;
        db::proposals::approve_alone(conn, &mut row, &reason, because.as_str(), now).await?;
        metrics::counter!("solo_approvals_total").increment(1);
        let skipped: Vec<Uuid> = candidates
            .iter()
            .filter(|c| c.asked && !c.signed)
            .map(|c| c.id)
            .collect();
        let managers = db::routing::managers_for(conn, row.proposer_id).await?;
        let events = vec![
            EventContent::new(
                EventType::ProposalApproved,
                id,
                actor.audit_ids(),
                json!({
                    "before": { "status": before }, "after": { "status": Status::Approved, "approved_alone": true },
                    "approved_alone": true, "reason": reason, "because": because.as_str(),
                }),
                now,
            ),
            EventContent::new(
                EventType::ProposalActedAlone,
                id,
                actor.audit_ids(),
                json!({
                    "reason": reason, "because": because.as_str(),
                    "skipped": named(&candidates, &skipped), "managers": managers,
                }),
                now,
            ),
        ];
        Ok(Change::of_proposal(views::proposal(&row, now), events))
    })
    .await
}
