//! `GET /v1/policy`: the approval policy this installation runs with, for
//! any token: which categories exist (and which move money), how many
//! co-signers an amount needs, and above which amount peers may not
//! approve. A form or a helpdesk app builds its choices from this.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem};
use crate::app::Actor;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyCategory {
    pub name: String,
    pub description: String,
    /// Proposals in it must carry `amount_minor` + `currency`.
    pub moves_money: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyThreshold {
    pub currency: String,
    /// Amounts strictly above this (minor units) need `required_cosigners`.
    pub above_minor: i64,
    pub required_cosigners: u32,
    /// Signer groups that need an endorser each among them.
    pub required_groups: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub categories: Vec<PolicyCategory>,
    /// Co-signers needed when no threshold applies.
    pub default_required_cosigners: u32,
    pub thresholds: Vec<PolicyThreshold>,
    /// Per accepted currency: the largest amount (minor units) peers may approve.
    pub peer_limits: BTreeMap<String, i64>,
    /// Distinct declines that reject a proposal.
    pub declines_to_reject: u32,
    /// A pending proposal expires this many seconds after filing.
    pub pending_ttl_secs: i64,
    pub max_revisions: u32,
    /// A revision lowering the amount by at most this share (percent)
    /// keeps the endorsements given; a rise never does.
    pub keep_endorsements_on_decrease_percent: u32,
    /// A resolution edit of at most this many characters, changing no
    /// digit, keeps them.
    pub keep_endorsements_on_resolution_typo_chars: u32,
}

/// The approval policy in force.
#[utoipa::path(
    get, path = "/v1/policy", tag = "proposals", security(("bearer" = [])),
    responses((status = 200, body = Policy), (status = 401, body = Problem))
)]
pub async fn get_policy(State(state): State<AppState>, _actor: Actor) -> Result<axum::Json<Policy>, ApiError> {
    let policy = &state.policy;
    Ok(axum::Json(Policy {
        categories: policy
            .categories
            .iter()
            .map(|c| PolicyCategory {
                name: c.name.clone(),
                description: c.description.clone(),
                moves_money: c.moves_money,
            })
            .collect(),
        default_required_cosigners: policy.default_required_cosigners,
        thresholds: policy
            .thresholds
            .iter()
            .map(|t| PolicyThreshold {
                currency: t.currency.clone(),
                above_minor: t.above_minor,
                required_cosigners: t.required_cosigners,
                required_groups: t.required_groups.clone(),
            })
            .collect(),
        peer_limits: policy.peer_limits.clone(),
        declines_to_reject: policy.declines_to_reject,
        pending_ttl_secs: policy.pending_ttl.num_seconds(),
        max_revisions: policy.max_revisions,
        keep_endorsements_on_decrease_percent: policy.tolerance.amount_decrease_percent,
        keep_endorsements_on_resolution_typo_chars: policy.tolerance.resolution_typo_chars,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_policy))
}
