//! `POST /v1/integrations/{id}/inbound`: the helpdesk door. The raw body is
//! verified by the integration's kind before it is parsed (`app::inbound`);
//! then the body names an action, the agent it is for and the same fields
//! REST takes, and the same use case runs. Answered as REST answers the
//! action (201 + `Location` for a filing, 200 otherwise); a delivery sent
//! again is answered as the first time, with `Idempotent-Replayed: true`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::answer;
use super::error::{ApiError, Problem};
use super::extract::{PathId, RawBody, parse_json};
use crate::app;
use crate::app::inbound::{Action, AgentRef, Target};
use crate::app::proposals::Signing;
use crate::domain::fields::{FieldErrors, optional_text, required_line, required_text};
use crate::requests::{CreateProposal, RecordOutcome, ReviseProposal, check_revision};
use crate::state::AppState;
use crate::views::Proposal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InboundActionName {
    Propose,
    Revise,
    Cosign,
    Decline,
    Withdraw,
    Outcome,
}

/// What a helpdesk asks Countersign to do, for one of its agents.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    pub action: InboundActionName,
    /// The agent's helpdesk id (their `external_id`); or `agent_id`.
    #[schema(min_length = 1, max_length = 200)]
    pub agent_external_id: Option<String>,
    /// The agent's Countersign id; or `agent_external_id`.
    pub agent_id: Option<Uuid>,
    /// `propose`: the fields of `POST /v1/proposals`. `revise`: those of
    /// `PATCH /v1/proposals/{id}`.
    #[schema(value_type = Option<Object>)]
    pub proposal: Option<Value>,
    /// The proposal acted on (all but `propose`); or `ticket_ref`.
    pub proposal_id: Option<Uuid>,
    /// The ticket the proposal was filed for, when one pending proposal
    /// (for `outcome`: one approved proposal awaiting its outcome) has it.
    #[schema(min_length = 1, max_length = 200)]
    pub ticket_ref: Option<String>,
    /// `cosign`, `decline`: the revision the agent read.
    #[schema(minimum = 1)]
    pub revision: Option<i32>,
    /// `cosign`: an optional comment.
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// `decline`: why (required); `withdraw`: why (optional).
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// `outcome`: the fields of `POST /v1/proposals/{id}/outcome`.
    pub outcome: Option<RecordOutcome>,
}

/// Act for one of the helpdesk's agents: file, revise, co-sign, decline,
/// withdraw, or record the outcome. Authenticated by the request's
/// signature (no bearer token): `generic` integrations sign with Standard
/// Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`);
/// `zendesk` ones with `x-zendesk-webhook-signature` and
/// `x-zendesk-webhook-signature-timestamp` (the invocation id in
/// `x-zendesk-webhook-invocation-id`); `freshdesk` ones send their token as
/// `Authorization: Bearer`, HTTP Basic password or `x-countersign-token`,
/// with an optional `Idempotency-Key`. A delivery id already done is
/// answered as the first time.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/inbound", tag = "integrations",
    params(("id" = Uuid, Path)),
    request_body = InboundRequest,
    responses(
        (status = 200, body = Proposal, description = "done (or done before: `Idempotent-Replayed: true`)"),
        (status = 201, body = Proposal, headers(("Location" = String)), description = "filed"),
        (status = 400, body = Problem, description = "not JSON"),
        (status = 401, body = Problem, description = "signature-refused: a bad, missing or stale signature or token; or the integration is deactivated"),
        (status = 403, body = Problem, description = "the agent may not do this, or the integration may not act for them"),
        (status = 404, body = Problem, description = "no such integration or proposal"),
        (status = 409, body = Problem, description = "refused by the proposal's state (already signed, not pending, revision-changed, …)"),
        (status = 422, body = Problem),
        (status = 428, body = Problem, description = "revision-required"),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    RawBody(body, digest): RawBody,
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let sender = app::inbound::verify_sender(&state, id, header, &body).await?;
    let request: InboundRequest = parse_json(&body)?;
    let (agent, action) = request.into_action()?;
    let written = app::inbound::act(&state, &sender, agent, action, digest.0).await?;
    Ok(answer::written(written))
}

impl InboundRequest {
    /// The agent and the action, every field checked as REST checks it;
    /// a field the action does not take is refused, so that a template's
    /// mistake shows at once.
    fn into_action(self) -> Result<(AgentRef, Action), ApiError> {
        use InboundActionName::*;
        let mut errors = FieldErrors::new();
        let name = match self.action {
            Propose => "propose",
            Revise => "revise",
            Cosign => "cosign",
            Decline => "decline",
            Withdraw => "withdraw",
            Outcome => "outcome",
        };
        let agent = match (self.agent_external_id, self.agent_id) {
            (Some(external), None) => Some(AgentRef::ExternalId(required_line(
                &mut errors,
                "agent_external_id",
                &external,
                200,
            ))),
            (None, Some(id)) => Some(AgentRef::Id(id)),
            _ => {
                errors.add(
                    "agent_external_id",
                    "name the agent: `agent_external_id` or `agent_id`, one of them",
                );
                None
            }
        };
        let mut not_for = |field: &str, given: bool| {
            if given {
                errors.add(field, format!("does not apply to `{name}`"));
            }
        };
        not_for(
            "proposal",
            self.proposal.is_some() && !matches!(self.action, Propose | Revise),
        );
        not_for(
            "revision",
            self.revision.is_some() && !matches!(self.action, Cosign | Decline),
        );
        not_for("comment", self.comment.is_some() && self.action != Cosign);
        not_for(
            "reason",
            self.reason.is_some() && !matches!(self.action, Decline | Withdraw),
        );
        not_for("outcome", self.outcome.is_some() && self.action != Outcome);
        not_for("proposal_id", self.proposal_id.is_some() && self.action == Propose);
        let target = match (self.action, self.proposal_id, self.ticket_ref) {
            (Propose, _, Some(_)) => {
                errors.add("ticket_ref", "does not apply to `propose` (give it under `proposal`)");
                None
            }
            (Propose, _, None) => None,
            (_, Some(id), None) => Some(Target::Id(id)),
            (_, None, Some(ticket)) => Some(Target::Ticket(required_line(&mut errors, "ticket_ref", &ticket, 200))),
            _ => {
                errors.add(
                    "proposal_id",
                    "name the proposal: `proposal_id` or `ticket_ref`, one of them",
                );
                None
            }
        };
        check_revision(&mut errors, self.revision);
        let proposal = match (self.action, self.proposal) {
            (Propose | Revise, None) => {
                errors.add("proposal", format!("`{name}` needs the proposal's fields"));
                None
            }
            (_, proposal) => proposal,
        };
        let action = match self.action {
            Propose => proposal
                .and_then(|fields| nested::<CreateProposal>(&mut errors, &fields))
                .map(|body| {
                    let mut inner = FieldErrors::new();
                    let terms = body.terms(&mut inner);
                    errors.add_nested("proposal", inner);
                    Action::Propose(terms)
                }),
            Revise => proposal
                .and_then(|fields| nested::<ReviseProposal>(&mut errors, &fields))
                .and_then(|body| {
                    let mut inner = FieldErrors::new();
                    let change = body.change(&mut inner);
                    errors.add_nested("proposal", inner);
                    Some(Action::Revise(target.clone()?, change))
                }),
            Cosign => {
                let comment = optional_text(&mut errors, "comment", self.comment.as_deref(), 2000);
                target.clone().map(|target| {
                    let signing = Signing {
                        revision: self.revision,
                        if_match: None,
                        text: comment,
                    };
                    Action::Cosign(target, signing)
                })
            }
            Decline => {
                let reason = match &self.reason {
                    Some(reason) => Some(required_text(&mut errors, "reason", reason, 2000)),
                    None => {
                        errors.add("reason", "`decline` needs a reason");
                        None
                    }
                };
                target.clone().map(|target| {
                    let signing = Signing {
                        revision: self.revision,
                        if_match: None,
                        text: reason,
                    };
                    Action::Decline(target, signing)
                })
            }
            Withdraw => {
                let reason = optional_text(&mut errors, "reason", self.reason.as_deref(), 2000);
                target.clone().map(|target| Action::Withdraw(target, reason))
            }
            Outcome => match self.outcome {
                Some(outcome) => {
                    let mut inner = FieldErrors::new();
                    let report = outcome.report(&mut inner);
                    errors.add_nested("outcome", inner);
                    target.clone().map(|target| Action::Outcome(target, report))
                }
                None => {
                    errors.add("outcome", "`outcome` needs the outcome's fields");
                    None
                }
            },
        };
        errors.finish()?;
        match (agent, action) {
            (Some(agent), Some(action)) => Ok((agent, action)),
            _ => Err(anyhow::anyhow!("an inbound request passed its checks without an agent or an action").into()),
        }
    }
}

/// The object under `proposal` read as `T`, its problems named
/// `proposal.<field>`.
fn nested<T: serde::de::DeserializeOwned + utoipa::PartialSchema>(
    errors: &mut FieldErrors,
    fields: &Value,
) -> Option<T> {
    if !fields.is_object() {
        errors.add("proposal", "must be an object with the proposal's fields");
        return None;
    }
    let bytes = serde_json::to_vec(fields).ok()?;
    match parse_json::<T>(&bytes) {
        Ok(body) => Some(body),
        Err(ApiError::Validation(inner)) => {
            errors.add_nested("proposal", inner);
            None
        }
        Err(other) => {
            errors.add("proposal", other.to_string());
            None
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}
