//! Inbound helpdesk webhooks: a helpdesk files, revises, co-signs,
//! declines, withdraws or records an outcome for the agent who pressed the
//! button. The request is verified first ([`verify_sender`], before its
//! body is read); then [`act`] runs exactly the use case REST runs, as that
//! agent on behalf of the integration, with the delivery recorded in the
//! same transaction (`commit::commit_delivery`).

use uuid::Uuid;

use super::actor::within_rate_limit;
use super::commit::{Written, commit_delivery, delivered_before};
use super::proposals::{self, OutcomeReport, Signing};
use super::{Actor, AppError};
use crate::db;
use crate::db::inbound::Delivery;
use crate::domain::fields::FieldErrors;
use crate::domain::integration::IntegrationKind;
use crate::domain::proposal::{Status, Terms, TermsChange};
use crate::sealing::Purpose;
use crate::state::AppState;
use crate::views::Proposal;
use crate::webhooks::inbound::{self, Check};

/// A verified sender: the integration, and its id for this delivery.
#[derive(Debug, Clone)]
pub struct Sender {
    pub integration_id: Uuid,
    pub kind: IntegrationKind,
    pub delivery_id: Option<String>,
    pub signed_hash: Option<[u8; 32]>,
}

/// Verifies a request to integration `id` from its headers (`header` looks
/// one up by lowercase name) and raw body. Nothing is stored.
pub async fn verify_sender<'h>(
    state: &AppState,
    id: Uuid,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<Sender, AppError> {
    let mut conn = state.pool.acquire().await?;
    let (row, sealed) = db::integrations::find_with_secret(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("integration"))?;
    drop(conn);
    // A secret that does not open is the service's fault (a missing key),
    // not the sender's: it is answered 500 and logged.
    let secret = sealed
        .map(|sealed| state.sealer.open(Purpose::IntegrationSecret(id), &sealed))
        .transpose()
        .map_err(|error| anyhow::anyhow!("integration {id}: its secret cannot be opened: {error}"))?;
    let check = Check {
        kind: row.kind,
        secret: secret.as_deref(),
        now: chrono::Utc::now(),
        tolerance_secs: state.settings.inbound.timestamp_tolerance_secs,
    };
    let verified = inbound::verify(&check, header, body).map_err(|refusal| {
        tracing::info!(integration_id = %id, %refusal, "inbound webhook refused");
        AppError::SignatureRefused(refusal.to_string())
    })?;
    if !row.active {
        return Err(AppError::Unauthenticated("the integration is deactivated".to_owned()));
    }
    within_rate_limit(state, id)?;
    Ok(Sender {
        integration_id: id,
        kind: row.kind,
        delivery_id: verified.delivery_id,
        signed_hash: verified.signed_hash,
    })
}

/// The agent a request acts for, as it names them.
#[derive(Debug, Clone)]
pub enum AgentRef {
    Id(Uuid),
    ExternalId(String),
}

/// Which proposal an action is about: by id, or by the helpdesk ticket it
/// was filed for.
#[derive(Debug, Clone)]
pub enum Target {
    Id(Uuid),
    Ticket(String),
}

/// What the helpdesk asks for, each as its REST counterpart takes it.
#[derive(Debug, Clone)]
pub enum Action {
    Propose(Terms),
    Revise(Target, TermsChange),
    Cosign(Target, Signing),
    Decline(Target, Signing),
    Withdraw(Target, Option<String>),
    Outcome(Target, OutcomeReport),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Propose(_) => "propose",
            Action::Revise(..) => "revise",
            Action::Cosign(..) => "cosign",
            Action::Decline(..) => "decline",
            Action::Withdraw(..) => "withdraw",
            Action::Outcome(..) => "outcome",
        }
    }
}

/// Does `action` for `agent` through the sender's integration, once per
/// delivery id (`request_hash` fingerprints the body: the same id with
/// another body is refused). Without a delivery id (a Freshdesk template
/// that sets no `Idempotency-Key`) the body is the id: the same request
/// sent again within `inbound.keep_deliveries_days` does nothing twice.
pub async fn act(
    state: &AppState,
    sender: &Sender,
    agent: AgentRef,
    action: Action,
    request_hash: [u8; 32],
) -> Result<Written<Proposal>, AppError> {
    let mut delivery = Delivery {
        integration_id: sender.integration_id,
        delivery_id: (sender.delivery_id.clone()).unwrap_or_else(|| format!("body:{}", hex::encode(request_hash))),
        signed_hash: sender.signed_hash,
        request_hash,
        action: action.name(),
        employee_id: Uuid::nil(),
    };
    if let Some(replayed) = delivered_before(state, &delivery).await? {
        return Ok(replayed);
    }
    let actor = acting_for(state, sender.integration_id, agent).await?;
    delivery.employee_id = actor.person.map_or(Uuid::nil(), |p| p.id);
    let via = sender.integration_id;
    let work = async |conn: &mut sqlx::PgConnection, now| {
        let policy = &state.policy;
        match action {
            Action::Propose(terms) => {
                proposals::file_in(conn, policy, super::routing::Routing::of(state), &actor, terms, now).await
            }
            Action::Revise(target, change) => {
                let id = resolve(conn, via, target, Status::Pending).await?;
                proposals::revise_in(conn, policy, &actor, id, change, now).await
            }
            Action::Cosign(target, signing) => {
                let id = resolve(conn, via, target, Status::Pending).await?;
                proposals::cosign_in(conn, &actor, id, signing, now).await
            }
            Action::Decline(target, signing) => {
                let id = resolve(conn, via, target, Status::Pending).await?;
                proposals::decline_in(conn, &actor, id, signing, now).await
            }
            Action::Withdraw(target, reason) => {
                let id = resolve(conn, via, target, Status::Pending).await?;
                proposals::withdraw_in(conn, &actor, id, reason, now).await
            }
            Action::Outcome(target, report) => {
                let id = resolve(conn, via, target, Status::Approved).await?;
                proposals::record_outcome_in(conn, policy, &actor, id, report, now).await
            }
        }
    };
    commit_delivery(state, &delivery, work).await
}

/// The agent named, as an actor through the integration: refused alike
/// when unknown, not an active agent, or outside the integration's scope.
async fn acting_for(state: &AppState, integration_id: Uuid, agent: AgentRef) -> Result<Actor, AppError> {
    let (id, external_id, field) = match &agent {
        AgentRef::Id(id) => (Some(*id), None, "agent_id"),
        AgentRef::ExternalId(external) => (None, Some(external.as_str()), "agent_external_id"),
    };
    let mut conn = state.pool.acquire().await?;
    let found = db::employees::agent_for_integration(&mut conn, integration_id, id, external_id).await?;
    let row = found.ok_or_else(|| AppError::AgentRefused {
        field,
        reference: match agent {
            AgentRef::Id(id) => id.to_string(),
            AgentRef::ExternalId(external) => external,
        },
    })?;
    Ok(Actor {
        person: Some(row.person()),
        via_integration: Some(integration_id),
        token_id: integration_id,
    })
}

/// The proposal a target names. A ticket names the one proposal filed for
/// it through this integration (ticket numbers of two helpdesks collide)
/// that the action can apply to: pending, or (`Approved`) approved and
/// still awaiting its outcome.
async fn resolve(
    conn: &mut sqlx::PgConnection,
    integration_id: Uuid,
    target: Target,
    status: Status,
) -> Result<Uuid, AppError> {
    let ticket = match target {
        Target::Id(id) => return Ok(id),
        Target::Ticket(ticket) => ticket,
    };
    let awaiting_outcome = status == Status::Approved;
    let found = db::proposals::for_ticket(conn, integration_id, &ticket, &[status], awaiting_outcome).await?;
    match found.as_slice() {
        [id] => Ok(*id),
        [] => Err(AppError::NotFound("proposal")),
        _ => {
            let which = if awaiting_outcome {
                "approved proposals awaiting an outcome"
            } else {
                "pending proposals"
            };
            Err(FieldErrors::single(
                "ticket_ref",
                format!("names more than one of the {which}; name `proposal_id` instead"),
            )
            .into())
        }
    }
}
