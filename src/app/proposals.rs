//! The proposal use cases: file, revise, co-sign, decline, withdraw, record
//! the outcome, review, and expire. Every one locks the proposal first
//! (nothing else), reads it afresh, lets `domain::proposal` decide, writes
//! through `db::proposals` and hands its events to the commit routine.
//!
//! Where "a co-sign approves" happens, end to end: [`cosign_in`] asks
//! `ProposalFacts::cosign` for the effect, inserts the signature, records
//! the decision and names both events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::commit::{Change, IdempotencyKey, Written, commit, commit_once};
use super::routing::Routing;
use super::{Actor, AppError};
use crate::db;
use crate::db::availability::Peer;
use crate::db::proposals::{Expired, OutcomeRow, ProposalRow, ReviewRow, SignatureRow};
use crate::domain::audit::{ActorIds, EventContent};
use crate::domain::employee::{Person, Role};
use crate::domain::event::EventType;
use crate::domain::policy::{AppliedRule, ApprovalPolicy, Money, PolicyViolation};
use crate::domain::proposal::{
    CustomerOutcome, Decision, RuleViolation, SignatureEffect, Status, Terms, TermsChange, Verdict, check_may_file,
    check_ticket_free, keeps_endorsements, starts_new_revision,
};
use crate::state::AppState;
use crate::views::{self, Proposal};

/// A signature as sent: the revision the signer read, named in the body
/// and/or as `If-Match` (naming none is refused; each named must be the
/// current one), and a comment (co-sign) or reason (decline).
#[derive(Debug, Clone, Default)]
pub struct Signing {
    pub revision: Option<i32>,
    pub if_match: Option<i32>,
    pub text: Option<String>,
}

impl Signing {
    /// The revision the signer read, as it decides: a named one that is
    /// not `current` if there is one (it makes the signature stale), else
    /// the one named.
    fn read_revision(&self, current: i32) -> Option<i32> {
        let named = [self.revision, self.if_match].into_iter().flatten();
        named.clone().find(|revision| *revision != current).or(named.last())
    }
}

/// What the proposer reports once the resolution was carried out, or not.
#[derive(Debug, Clone)]
pub struct OutcomeReport {
    pub executed: bool,
    pub actual_amount: Option<Money>,
    pub customer_outcome: CustomerOutcome,
    pub note: Option<String>,
}

/// How many overdue proposals one expiry transaction takes.
const EXPIRY_BATCH: i64 = 200;

fn proposal_event(
    event_type: EventType,
    row: &ProposalRow,
    actor: ActorIds,
    payload: Value,
    now: DateTime<Utc>,
) -> EventContent {
    EventContent::new(event_type, row.id, actor, payload, now)
}

/// The part of a proposal an audit event records as "before"/"after".
fn snapshot(row: &ProposalRow) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

/// What a revision changed, field by field: `{field: {before, after}}`.
/// Only the changes are kept, so a long text revised many times does not
/// fill the log with copies of what stayed the same.
fn changes(before: &ProposalRow, after: &ProposalRow) -> Value {
    let (Value::Object(before), Value::Object(after)) = (snapshot(before), snapshot(after)) else {
        return Value::Null;
    };
    let changed: serde_json::Map<String, Value> = after
        .into_iter()
        .filter(|(field, value)| {
            // Bookkeeping, not terms: the event says `endorsements_kept`.
            before.get(field) != Some(value)
                && !matches!(
                    field.as_str(),
                    "updated_at"
                        | "revision_started_at"
                        | "endorsements_from"
                        | "endorsed_resolution"
                        | "endorsed_amount_minor"
                )
        })
        .map(|(field, value)| {
            let was = before.get(&field).cloned().unwrap_or(Value::Null);
            (field, json!({ "before": was, "after": value }))
        })
        .collect();
    Value::Object(changed)
}

/// A proposal's id: a UUIDv7 of its filing time, as the service's clock
/// tells it (the schema checks it; reports read by id ranges).
fn id_at(now: DateTime<Utc>) -> Uuid {
    let timestamp = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now.timestamp().max(0) as u64,
        now.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(timestamp)
}

async fn locked(conn: &mut PgConnection, id: Uuid) -> Result<ProposalRow, AppError> {
    db::proposals::find_for_update(conn, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))
}

/// Before a filing or a revision puts `terms` on their ticket: holds the
/// ticket's lock for their category, and refuses when another proposal is
/// open there (one past its deadline is expired first, its event added to
/// `events`).
async fn claim_ticket(
    conn: &mut PgConnection,
    terms: &Terms,
    except: Option<Uuid>,
    now: DateTime<Utc>,
    events: &mut Vec<EventContent>,
) -> Result<(), AppError> {
    let Some(ticket) = terms.ticket_ref.as_deref() else {
        return Ok(());
    };
    db::proposals::lock_ticket(conn, &terms.category, ticket).await?;
    let open = db::proposals::open_on_ticket(conn, &terms.category, ticket, except).await?;
    if let Some(overdue) = check_ticket_free(open, now)? {
        expire_overdue_in(conn, now, Some(overdue), events).await?;
    }
    Ok(())
}

// --------------------------------------------------------------- preview

/// What filing some terms would do now (nothing is written).
#[derive(Debug, Clone)]
pub struct Preview {
    /// The rule that would apply, or the policy's reason peers may not
    /// approve it (filing would be refused with it).
    pub rule: Result<AppliedRule, PolicyViolation>,
    /// The proposal already open for the ticket in this category (filing
    /// would be refused, naming it).
    pub open_on_ticket: Option<Uuid>,
    /// The deadline a filing now would get.
    pub expires_at: DateTime<Utc>,
    /// Who may co-sign: on shift first, the proposer's team first; the
    /// first [`PREVIEW_PEERS`], each with the counts of all.
    pub peers: Vec<Peer>,
    /// The standing approval that would approve it as filed, if one covers it.
    pub standing_approval_id: Option<Uuid>,
}

/// How many co-signers a preview lists by name.
pub const PREVIEW_PEERS: i64 = 50;

/// Answers what filing `terms` as `actor` would do now: the same checks
/// as [`file_in`], read without a lock, and who could co-sign it.
pub async fn preview(state: &AppState, actor: &Actor, terms: &Terms) -> Result<Preview, AppError> {
    let proposer = actor.require(Role::Agent)?;
    check_may_file(&proposer)?;
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await?;
    let open = match terms.ticket_ref.as_deref() {
        Some(ticket) => db::proposals::open_on_ticket(&mut conn, &terms.category, ticket, None).await?,
        None => None,
    };
    let open_on_ticket = match check_ticket_free(open, now) {
        Err(RuleViolation::TicketHasOpenProposal { open }) => Some(open),
        _ => None,
    };
    let idle_secs = super::availability::idle(state).num_seconds() as f64;
    let peers = db::availability::eligible_peers(&mut conn, proposer.id, now, idle_secs, PREVIEW_PEERS).await?;
    let team = db::employees::find(&mut conn, proposer.id).await?.and_then(|e| e.team);
    let standing_approval_id =
        super::standing_approvals::covering(&mut conn, terms, team.as_deref(), now, false).await?;
    Ok(Preview {
        standing_approval_id,
        rule: state.policy.rule_for(&terms.category, terms.amount.as_ref()),
        open_on_ticket,
        expires_at: now + state.policy.pending_ttl,
        peers,
    })
}

// ------------------------------------------------------------------ file

/// An agent (or an integration acting for one) files a proposal.
pub async fn file(
    state: &AppState,
    actor: &Actor,
    terms: Terms,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        file_in(conn, &state.policy, Routing::of(state), actor, terms, now).await
    })
    .await
}

pub async fn file_in(
    conn: &mut PgConnection,
    policy: &ApprovalPolicy,
    routing: Routing<'_>,
    actor: &Actor,
    terms: Terms,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let proposer = actor.require(Role::Agent)?;
    check_may_file(&proposer)?;
    let rule = policy.rule_for(&terms.category, terms.amount.as_ref())?;
    let mut events = Vec::with_capacity(2);
    claim_ticket(conn, &terms, None, now, &mut events).await?;
    let mut row = ProposalRow {
        id: id_at(now),
        status: Status::Pending,
        proposer_id: proposer.id,
        filed_via_integration_id: actor.via_integration,
        category: String::new(),
        policy_ref: String::new(),
        summary: String::new(),
        resolution: String::new(),
        justification: String::new(),
        customer_ref: None,
        ticket_ref: None,
        amount_minor: None,
        currency: None,
        required_cosigners: rule.required_cosigners as i32,
        required_groups: rule.required_groups,
        // As the schema sets them at filing.
        endorsements_from: Some(1),
        endorsed_resolution: Some(terms.resolution.clone()),
        endorsed_amount_minor: terms.amount.as_ref().map(|m| m.minor),
        declines_to_reject: policy.declines_to_reject as i32,
        revision: 1,
        created_at: now,
        updated_at: now,
        expires_at: now + policy.pending_ttl,
        decided_at: None,
        approved_alone: false,
        revision_started_at: None,
        standing_approval_id: None,
        proposer_name: String::new(),
        proposer_team: None,
        signatures: sqlx::types::Json(vec![]),
        outcome: None,
        review: None,
    };
    row.set_terms(terms);
    // None: deactivated (or given another role) since the request began.
    let (name, team) = db::proposals::insert(conn, &row)
        .await?
        .ok_or(RuleViolation::NotAnActiveAgent {
            action: "file proposals",
        })?;
    (row.proposer_name, row.proposer_team) = (name, team);
    events.push(proposal_event(
        EventType::ProposalCreated,
        &row,
        actor.audit_ids(),
        json!({ "after": snapshot(&row) }),
        now,
    ));
    // An exception promoted to policy needs no peer: approved as filed.
    if let Some(standing) = super::standing_approvals::covering_in(conn, &row, now).await? {
        db::proposals::approve_standing(conn, &mut row, standing, now).await?;
        events.push(proposal_event(
            EventType::ProposalApproved,
            &row,
            actor.audit_ids(),
            json!({
                "before": { "status": "pending" },
                "after": { "status": "approved", "decided_at": now },
                "revision": row.revision,
                "signers": [],
                "standing_approval_id": standing,
            }),
            now,
        ));
        return Ok(Change::filed(views::proposal(&row, now), events));
    }
    super::routing::ask_first_in(conn, routing, &row, actor.audit_ids(), now, &mut events).await?;
    Ok(Change::filed(views::proposal(&row, now), events))
}

// ---------------------------------------------------------------- revise

/// The proposer revises a pending proposal. Changing a material field
/// (resolution, amount, customer, category, policy_ref) starts a new
/// revision; endorsements of earlier revisions no longer count unless the
/// change stays within the policy's tolerance (a lower amount, a typo).
pub async fn revise(state: &AppState, actor: &Actor, id: Uuid, change: TermsChange) -> Result<Proposal, AppError> {
    commit(state, async |conn, now| {
        revise_in(conn, &state.policy, actor, id, change, now).await
    })
    .await
}

pub async fn revise_in(
    conn: &mut PgConnection,
    policy: &ApprovalPolicy,
    actor: &Actor,
    id: Uuid,
    change: TermsChange,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let proposer = actor.require(Role::Agent)?;
    let before = locked(conn, id).await?;
    let so_far = db::proposals::revisions_made(conn, id).await?;
    before
        .facts()
        .check_may_revise(&proposer, now, so_far, policy.max_revisions)?;
    let terms = before.terms().revised(change)?;
    // Whatever changed, the terms must still pass the policy: a category
    // that moves money keeps its amount, and the amount its limit.
    let rule = policy.rule_for(&terms.category, terms.amount.as_ref())?;
    if terms == before.terms() {
        return Ok(Change::new(views::proposal(&before, now), vec![]));
    }
    let mut events = Vec::with_capacity(1);
    if terms.category != before.category || terms.ticket_ref != before.ticket_ref {
        claim_ticket(conn, &terms, Some(id), now, &mut events).await?;
    }
    let (was, will_be) = (before.terms().material(), terms.material());
    let material = starts_new_revision(&was, &will_be);
    let kept = material
        && before
            .endorsed_terms()
            .is_some_and(|endorsed| keeps_endorsements(&endorsed, &will_be, &policy.tolerance));
    // The endorsements kept, so is the bar they were given under.
    let rule = if kept {
        rule.at_least(before.required_cosigners as u32, &before.required_groups)
    } else {
        rule
    };
    let mut after = before.clone();
    after.set_terms(terms);
    if material {
        after.revision += 1;
        after.required_cosigners = rule.required_cosigners as i32;
        after.required_groups = rule.required_groups;
    }
    if material && !kept {
        // From now the endorsements are given to these terms.
        after.endorsements_from = Some(after.revision);
        after.endorsed_resolution = Some(after.resolution.clone());
        after.endorsed_amount_minor = after.amount_minor;
        after.revision_started_at = Some(now);
    }
    after.updated_at = now;
    db::proposals::revise(conn, &after).await?;
    events.push(proposal_event(
        EventType::ProposalRevised,
        &after,
        actor.audit_ids(),
        json!({
            "changed": changes(&before, &after),
            "revision": after.revision,
            "new_revision": material,
            "endorsements_kept": kept,
        }),
        now,
    ));
    Ok(Change::of_proposal(views::proposal(&after, now), events))
}

// -------------------------------------------------------- cosign, decline

/// A peer endorses the revision they read; approves when the threshold is met.
pub async fn cosign(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    signing: Signing,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        cosign_in(conn, actor, id, signing, now).await
    })
    .await
}

pub async fn cosign_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    signing: Signing,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    sign_in(conn, actor, id, Decision::Endorse, signing, now).await
}

/// A peer declines the revision they read; rejects at the configured count.
pub async fn decline(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    signing: Signing,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        decline_in(conn, actor, id, signing, now).await
    })
    .await
}

pub async fn decline_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    signing: Signing,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    sign_in(conn, actor, id, Decision::Decline, signing, now).await
}

/// Co-sign or decline, decided on the proposal as it is once its lock is
/// held, with the signer's and the endorsers' rows held until commit.
async fn sign_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    decision: Decision,
    signing: Signing,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let caller = actor.require(Role::Agent)?;
    if signing.revision.is_none() && signing.if_match.is_none() {
        return Err(AppError::RevisionRequired);
    }
    if !db::proposals::lock(conn, id).await? {
        return Err(AppError::NotFound("proposal"));
    }
    let found = db::proposals::lock_signers(conn, id, caller.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the signer {} has no employee row", caller.id))?;
    let signer = Person {
        role: found.role,
        active: found.active,
        ..caller
    };
    let mut row = db::proposals::find(conn, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))?;
    let facts = row.facts();
    let read_revision = signing.read_revision(row.revision).ok_or(AppError::RevisionRequired)?;
    let effect = match decision {
        Decision::Endorse => facts.cosign_as(&signer, &found.groups, read_revision, now)?,
        Decision::Decline => facts.decline(&signer, read_revision, now)?,
    };
    let signature = SignatureRow {
        id: Uuid::now_v7(),
        employee_id: signer.id,
        via_integration_id: actor.via_integration,
        revision: row.revision,
        decision,
        comment: signing.text.clone().filter(|_| decision == Decision::Endorse),
        reason: signing.text.filter(|_| decision == Decision::Decline),
        created_at: now,
        by_active_agent: true,
        name: found.name,
        team: found.team,
        groups: found.groups,
    };
    db::proposals::insert_signature(conn, &row, &signature).await?;
    if decision == Decision::Endorse && !row.signatures.iter().any(|s| s.decision == Decision::Endorse) {
        // How long until a second person noticed and agreed.
        let waited = (now - row.created_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("time_to_first_cosign_seconds").record(waited);
    }
    row.signatures.push(signature.clone());
    let signed = match decision {
        Decision::Endorse => EventType::ProposalCosigned,
        Decision::Decline => EventType::ProposalDeclined,
    };
    let mut events = vec![proposal_event(
        signed,
        &row,
        actor.audit_ids(),
        json!({ "signature": signature, "revision": row.revision }),
        now,
    )];
    let decided = match effect {
        SignatureEffect::Recorded => None,
        SignatureEffect::Approves => Some((Status::Approved, EventType::ProposalApproved)),
        SignatureEffect::Rejects => Some((Status::Rejected, EventType::ProposalRejected)),
    };
    if let Some((status, event_type)) = decided {
        db::proposals::decide(conn, &mut row, status, now).await?;
        let signers = row.facts().counted(decision);
        events.push(proposal_event(
            event_type,
            &row,
            actor.audit_ids(),
            json!({
                "before": { "status": "pending" },
                "after": { "status": status.as_str(), "decided_at": now },
                "revision": row.revision,
                "signers": signers,
            }),
            now,
        ));
    }
    Ok(Change::of_proposal(views::proposal(&row, now), events))
}

// -------------------------------------------------------------- withdraw

/// The proposer withdraws a pending proposal.
pub async fn withdraw(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    reason: Option<String>,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        withdraw_in(conn, actor, id, reason, now).await
    })
    .await
}

pub async fn withdraw_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let proposer = actor.require(Role::Agent)?;
    let mut row = locked(conn, id).await?;
    row.facts().check_may_withdraw(&proposer, now)?;
    db::proposals::decide(conn, &mut row, Status::Withdrawn, now).await?;
    let event = withdrawn_event(row.id, actor.audit_ids(), reason.as_deref(), now);
    Ok(Change::of_proposal(views::proposal(&row, now), vec![event]))
}

/// The `proposal.withdrawn` event, by the proposer or (when the proposer
/// stops being an active agent) by whoever changed them.
pub(super) fn withdrawn_event(id: Uuid, actor: ActorIds, reason: Option<&str>, now: DateTime<Utc>) -> EventContent {
    EventContent::new(
        EventType::ProposalWithdrawn,
        id,
        actor,
        json!({ "before": { "status": "pending" }, "after": { "status": "withdrawn", "decided_at": now }, "reason": reason }),
        now,
    )
}

// --------------------------------------------------------------- outcome

/// The proposer (or an integration acting for them) records what happened.
pub async fn record_outcome(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    report: OutcomeReport,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        record_outcome_in(conn, &state.policy, actor, id, report, now).await
    })
    .await
}

pub async fn record_outcome_in(
    conn: &mut PgConnection,
    policy: &ApprovalPolicy,
    actor: &Actor,
    id: Uuid,
    report: OutcomeReport,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let proposer = actor.require(Role::Agent)?;
    let mut row = locked(conn, id).await?;
    row.facts().check_may_record_outcome(&proposer)?;
    if let Some(actual) = &report.actual_amount {
        let approved = row.terms().amount;
        policy
            .check_outcome_amount(approved.as_ref(), actual)
            .map_err(AppError::from)?;
        // Approved alone or by a standing approval, nobody else agreed to
        // more than the proposer filed.
        let without_peer = row.approved_alone || row.standing_approval_id.is_some();
        if without_peer && actual.minor > approved.as_ref().map_or(0, |a| a.minor) {
            return Err(PolicyViolation::OutcomeAboveApprovedAlone {
                approved_minor: approved.map_or(0, |a| a.minor),
                currency: actual.currency.clone(),
            }
            .into());
        }
    }
    let outcome = OutcomeRow {
        recorded_by: proposer.id,
        via_integration_id: actor.via_integration,
        executed: report.executed,
        actual_amount_minor: report.actual_amount.as_ref().map(|m| m.minor),
        currency: report.actual_amount.map(|m| m.currency),
        customer_outcome: report.customer_outcome,
        note: report.note,
        recorded_at: now,
    };
    db::proposals::insert_outcome(conn, id, &outcome).await?;
    let event = proposal_event(
        EventType::ProposalOutcomeRecorded,
        &row,
        actor.audit_ids(),
        json!({ "outcome": outcome }),
        now,
    );
    row.outcome = Some(sqlx::types::Json(outcome));
    Ok(Change::of_proposal(views::proposal(&row, now), vec![event]))
}

// ---------------------------------------------------------------- review

/// A manager reviews a decided proposal, once: blameless, beside the
/// decision, never changing it.
pub async fn review(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    verdict: Verdict,
    note: String,
    key: Option<&IdempotencyKey>,
) -> Result<Written<Proposal>, AppError> {
    commit_once(state, key, async |conn, now| {
        review_in(conn, actor, id, verdict, note, now).await
    })
    .await
}

pub async fn review_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    verdict: Verdict,
    note: String,
    now: DateTime<Utc>,
) -> Result<Change<Proposal>, AppError> {
    let reviewer = actor.require(Role::Manager)?;
    let mut row = locked(conn, id).await?;
    row.facts().check_may_review(&reviewer, now)?;
    let mut events = Vec::with_capacity(2);
    // Past its deadline but not yet written down by the expiry worker:
    // write the expiry first, the same way the worker does, so the review
    // is of a decided proposal.
    if row.status == Status::Pending {
        for expired in expire_overdue_in(conn, now, Some(id), &mut events).await? {
            row.status = Status::Expired;
            row.decided_at = Some(expired.expires_at);
            row.updated_at = now;
        }
    }
    let mut review = ReviewRow {
        reviewer_id: reviewer.id,
        verdict,
        note,
        reviewed_at: now,
        reviewer_name: String::new(),
        reviewer_team: None,
    };
    db::proposals::insert_review(conn, id, &mut review).await?;
    events.push(proposal_event(
        EventType::ProposalReviewed,
        &row,
        actor.audit_ids(),
        json!({ "review": review, "status": row.status }),
        now,
    ));
    row.review = Some(sqlx::types::Json(review));
    Ok(Change::of_proposal(views::proposal(&row, now), events))
}

// ---------------------------------------------------------------- expire

/// Expires everything overdue now, a batch per transaction; answers how
/// many proposals it expired. The expiry worker's tick.
pub async fn expire_overdue(state: &AppState) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let expired = commit(state, async |conn, now| {
            let mut events = Vec::new();
            let expired = expire_overdue_in(conn, now, None, &mut events).await?;
            Ok(Change::new(expired.len(), events))
        })
        .await?;
        total += expired;
        if expired < EXPIRY_BATCH as usize {
            return Ok(total);
        }
    }
}

/// Marks overdue pending proposals expired (a batch, or only `only`) and
/// adds a `proposal.expired` event for each to `events`. Nobody acted: the
/// deadline did. Replicas share the work (SKIP LOCKED).
pub async fn expire_overdue_in(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<Uuid>,
    events: &mut Vec<EventContent>,
) -> Result<Vec<Expired>, AppError> {
    let batch = if only.is_some() { 1 } else { EXPIRY_BATCH };
    let expired = db::proposals::expire_overdue(conn, now, only, batch).await?;
    events.extend(expired.iter().map(|expired| {
        EventContent::new(
            EventType::ProposalExpired,
            expired.id,
            ActorIds::default(),
            json!({
                "before": { "status": "pending" },
                "after": { "status": "expired", "decided_at": expired.expires_at },
                "proposer_id": expired.proposer_id,
            }),
            now,
        )
    }));
    Ok(expired)
}

/// Withdraws the pending proposals of someone who is no longer an active
/// agent, in the caller's transaction; `actor` changed them, for `reason`.
pub(super) async fn withdraw_pending_of(
    conn: &mut PgConnection,
    proposer_id: Uuid,
    actor: ActorIds,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EventContent>, AppError> {
    let withdrawn = db::proposals::withdraw_pending_of(conn, proposer_id, now).await?;
    Ok(withdrawn
        .into_iter()
        .map(|id| withdrawn_event(id, actor, Some(reason), now))
        .collect())
}
