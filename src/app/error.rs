//! Why a use case did not happen. Each door renders these its own way (the
//! REST API as problem JSON); nothing here knows HTTP.

use crate::domain::employee::{PeopleViolation, Role};
use crate::domain::fields::FieldErrors;
use crate::domain::policy::PolicyViolation;
use crate::domain::proposal::RuleViolation;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Fields that are missing, malformed or out of range.
    #[error("the request has invalid fields")]
    Invalid(FieldErrors),
    /// The two-person rule (or another proposal rule) forbids it.
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    /// The approval policy from configuration forbids it.
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    #[error(transparent)]
    People(#[from] PeopleViolation),
    /// Nobody known is calling.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{detail}")]
    Forbidden {
        detail: String,
        required_role: Option<Role>,
    },
    /// An integration acting without naming the agent it acts for.
    #[error("an integration must name the agent it acts for in Countersign-On-Behalf-Of")]
    OnBehalfOfRequired,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The token made more requests than the rate limit allows.
    #[error("this token made too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    /// A signature that does not say which revision the signer read.
    #[error("say which revision you read: `revision` in the body, or If-Match with the proposal's ETag")]
    RevisionRequired,
    /// The same idempotency key came with a different request.
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// An inbound delivery id sent again with a different body.
    #[error("this delivery id was used for a different request")]
    DeliveryIdReused,
    /// An inbound request whose signature (or token) does not verify.
    #[error("{0}")]
    SignatureRefused(String),
    /// An inbound request naming an agent its integration may not act for:
    /// unknown, not an active agent, or outside its scope (one answer, so
    /// an integration cannot probe for people).
    #[error("this integration may not act for `{reference}` (unknown, not an active agent, or outside its scope)")]
    AgentRefused { field: &'static str, reference: String },
    /// A resend to a webhook endpoint that is disabled.
    #[error("the webhook endpoint is disabled; enable it before resending to it")]
    EndpointDisabled,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Invalid(errors)
    }
}

impl AppError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        AppError::Forbidden {
            detail: detail.into(),
            required_role: None,
        }
    }

    pub fn requires_role(role: Role) -> Self {
        AppError::Forbidden {
            detail: format!("this needs the `{}` role", role.as_str()),
            required_role: Some(role),
        }
    }
}
