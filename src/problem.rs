//! Why a door refused a request, told the same way by every door: one
//! error type (`ApiError`), the RFC 9457 problem document it reads as, and
//! the one list of problem types. Each rule the service enforces has its
//! own stable `type` and status, so a client tells one refusal from
//! another without reading English. The REST door sends the document as
//! problem JSON; the pages show its title and detail. Both turn an
//! `AppError` into a refusal here, once, so they never disagree.
//!
//! Database errors are mapped by constraint name (the schema's triggers name
//! theirs too), so a broken rule is never answered as a 500 and no database
//! text reaches a client; an internal error keeps its cause chain for the
//! door to log, and its document says only that one occurred. Nothing here
//! writes a response.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;

use crate::app::AppError;
use crate::domain::employee::{PeopleViolation, Role};
use crate::domain::fields::FieldErrors;
use crate::domain::policy::PolicyViolation;
use crate::domain::proposal::RuleViolation;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:countersign:problem:already-signed`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: field → what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
    /// For 403: the role the endpoint needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_role: Option<Role>,
    /// For `revision-changed`: the proposal's revision now, to read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<i32>,
    /// For `ticket-has-open-proposal`: the pending proposal of that ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_proposal_id: Option<uuid::Uuid>,
}

/// Declares every problem type once: its slug (the end of its `type`), its
/// status and what it means (listed in the README).
macro_rules! problem_types {
    ($($kind:ident = $slug:literal, $status:ident, $meaning:literal;)+) => {
        /// Every kind of problem the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemType {
            $($kind,)+
        }

        impl ProblemType {
            pub const ALL: &[ProblemType] = &[$(ProblemType::$kind,)+];

            /// The end of its `type` URN, e.g. `already-signed`.
            pub fn slug(self) -> &'static str {
                match self {
                    $(ProblemType::$kind => $slug,)+
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ProblemType::$kind => StatusCode::$status,)+
                }
            }

            /// What it means, for the README's list.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ProblemType::$kind => $meaning,)+
                }
            }
        }
    };
}

problem_types! {
    BadRequest = "bad-request", BAD_REQUEST, "the request is malformed: not JSON, a path id that is not a UUID, a header that is not text";
    Unauthorized = "unauthorized", UNAUTHORIZED, "no token, an unknown or revoked one, or its owner is deactivated";
    SignatureRefused = "signature-refused", UNAUTHORIZED, "an inbound webhook whose signature, timestamp or token does not verify (nothing was read or stored)";
    RoleRequired = "role-required", FORBIDDEN, "the endpoint needs another role (`required_role` names it)";
    OnBehalfOfRequired = "on-behalf-of-required", FORBIDDEN, "an integration must name the agent it acts for in Countersign-On-Behalf-Of";
    OnBehalfOfRefused = "on-behalf-of-refused", FORBIDDEN, "the integration may not act for the agent it named (or a person's token tried to)";
    NotAnActiveAgent = "not-an-active-agent", FORBIDDEN, "only active agents file, co-sign and decline";
    NotAnActiveManager = "not-an-active-manager", FORBIDDEN, "only active managers review";
    SelfSigning = "self-signing", FORBIDDEN, "the proposer cannot co-sign or decline their own proposal";
    NotTheProposer = "not-the-proposer", FORBIDDEN, "only the proposer revises, withdraws and records the outcome";
    ReviewerInvolved = "reviewer-involved", FORBIDDEN, "nobody reviews a proposal they filed or signed";
    NotFound = "not-found", NOT_FOUND, "no such resource or endpoint";
    MethodNotAllowed = "method-not-allowed", METHOD_NOT_ALLOWED, "the endpoint does not take that method (`Allow` names those it takes)";
    Timeout = "timeout", REQUEST_TIMEOUT, "the request took longer than `server.request_timeout_secs`";
    AlreadySigned = "already-signed", CONFLICT, "the signer already signed this revision";
    RevisionChanged = "revision-changed", CONFLICT, "the proposal was revised after the signer read it (`current_revision` says which to read)";
    NotPending = "not-pending", CONFLICT, "the proposal is decided (approved, rejected or withdrawn) and takes no more changes";
    Expired = "expired", CONFLICT, "the proposal passed its deadline while pending";
    NotApproved = "not-approved", CONFLICT, "outcomes are recorded for approved proposals only";
    OutcomeAlreadyRecorded = "outcome-already-recorded", CONFLICT, "the outcome is recorded once";
    TooManyRevisions = "too-many-revisions", CONFLICT, "the proposal was revised as often as `proposals.max_revisions` allows";
    NotDecided = "not-decided", CONFLICT, "a proposal is reviewed once decided";
    AlreadyReviewed = "already-reviewed", CONFLICT, "a proposal is reviewed once";
    ActingAloneNotAllowed = "acting-alone-not-allowed", FORBIDDEN, "acting alone is not enabled for the category, or not for this amount or currency (`routing.act_alone`)";
    PeerAvailable = "peer-available", CONFLICT, "peers may still answer: one is on shift and the escalation window has not passed, or nobody is and everyone eligible was asked less than `routing.remind_after_secs` ago (the detail says from when acting alone is possible)";
    PeerDeclined = "peer-declined", CONFLICT, "a peer declined the proposal: it is never approved alone";
    CannotBeAsked = "cannot-be-asked", CONFLICT, "a manager named someone who cannot co-sign the proposal (not an active agent, the proposer, or already signed)";
    SignerGroupNeeded = "signer-group-needed", CONFLICT, "the proposal's remaining co-signatures must come from a signer group the signer is not in (the detail names the groups)";
    StandingApprovalRetired = "standing-approval-retired", CONFLICT, "the standing approval is already retired";
    StandingApprovalWindow = "standing-approval-window", CONFLICT, "the validity window is empty or already over (`valid_until` must come after `valid_from` and now)";
    SourceNotDecided = "source-not-decided", CONFLICT, "a standing approval is promoted from a decided proposal; the one named is still pending";
    TicketHasOpenProposal = "ticket-has-open-proposal", CONFLICT, "the ticket already has a pending proposal in this category (`open_proposal_id` names it): revise or withdraw that one";
    LastActiveAdmin = "last-active-admin", CONFLICT, "the change would leave no active admin";
    EmployeeInactive = "employee-inactive", CONFLICT, "tokens go to active people only";
    EmailTaken = "email-taken", CONFLICT, "another person has this email";
    ExternalIdTaken = "external-id-taken", CONFLICT, "another person has this helpdesk id";
    NameTaken = "name-taken", CONFLICT, "another integration has this name";
    EndpointDisabled = "endpoint-disabled", CONFLICT, "the webhook endpoint is disabled: enable it (PATCH `enabled`) before resending to it";
    ConcurrentChange = "concurrent-change", CONFLICT, "someone else changed the same thing at the same moment; read it again and retry";
    PayloadTooLarge = "payload-too-large", PAYLOAD_TOO_LARGE, "the body is larger than `server.body_limit_bytes`";
    UnsupportedMediaType = "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "a body must be sent as `application/json`";
    RateLimited = "rate-limited", TOO_MANY_REQUESTS, "the token made more requests than `server.rate_limit_per_second` allows (`Retry-After` says when to retry)";
    Validation = "validation", UNPROCESSABLE_ENTITY, "fields are missing, malformed or out of range (`errors` names each)";
    UnknownCategory = "unknown-category", UNPROCESSABLE_ENTITY, "the category is not one configured";
    AmountRequired = "amount-required", UNPROCESSABLE_ENTITY, "the category moves money, so `amount_minor` and `currency` are required";
    CurrencyNotAccepted = "currency-not-accepted", UNPROCESSABLE_ENTITY, "the currency has no peer limit configured";
    OutcomeCurrency = "outcome-currency", UNPROCESSABLE_ENTITY, "an outcome's amount must be in the currency the proposal was approved in";
    ExceedsPeerLimit = "exceeds-peer-limit", UNPROCESSABLE_ENTITY, "the amount is above what peers may approve in Countersign";
    IdempotencyKeyReused = "idempotency-key-reused", UNPROCESSABLE_ENTITY, "the Idempotency-Key was used for a different request";
    DeliveryIdReused = "delivery-id-reused", UNPROCESSABLE_ENTITY, "an inbound delivery id came again with a different body";
    RevisionRequired = "revision-required", PRECONDITION_REQUIRED, "a signature must name the revision read (`revision`, or `If-Match`)";
    Internal = "internal", INTERNAL_SERVER_ERROR, "a fault of the service, logged with its cause";
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, "the database does not answer or is busy; retry";
}

impl ProblemType {
    pub fn uri(self) -> String {
        format!("urn:countersign:problem:{}", self.slug())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields that are missing, malformed or out of range.
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    /// Any other refusal: its kind, what happened, and the field it is about.
    #[error("{detail}")]
    Refused {
        kind: ProblemType,
        detail: String,
        field: Option<String>,
        required_role: Option<Role>,
        current_revision: Option<i32>,
        open_proposal_id: Option<uuid::Uuid>,
    },
    /// Too many requests from one token: retry after this many seconds.
    #[error("this token made too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn refused(kind: ProblemType, detail: impl Into<String>) -> Self {
        ApiError::Refused {
            kind,
            detail: detail.into(),
            field: None,
            required_role: None,
            current_revision: None,
            open_proposal_id: None,
        }
    }

    /// The refusal names the field it is about (in `errors`).
    pub fn on_field(self, name: &str) -> Self {
        match self {
            ApiError::Refused {
                kind,
                detail,
                required_role,
                current_revision,
                open_proposal_id,
                ..
            } => ApiError::Refused {
                kind,
                detail,
                field: Some(name.to_owned()),
                required_role,
                current_revision,
                open_proposal_id,
            },
            other => other,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::refused(ProblemType::BadRequest, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::refused(ProblemType::Unauthorized, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::refused(ProblemType::NotFound, format!("{what} not found"))
    }

    pub fn kind(&self) -> ProblemType {
        match self {
            ApiError::Validation(_) => ProblemType::Validation,
            ApiError::Refused { kind, .. } => *kind,
            ApiError::RateLimited { .. } => ProblemType::RateLimited,
            ApiError::Internal(_) => ProblemType::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind().status()
    }

    pub fn to_problem(&self) -> Problem {
        let kind = self.kind();
        let status = kind.status();
        let (errors, required_role, current_revision, open_proposal_id) = match self {
            ApiError::Validation(errors) => (Some(errors.as_map().clone()), None, None, None),
            ApiError::Refused {
                detail,
                field,
                required_role,
                current_revision,
                open_proposal_id,
                ..
            } => (
                field
                    .as_ref()
                    .map(|field| BTreeMap::from([(field.clone(), detail.clone())])),
                *required_role,
                *current_revision,
                *open_proposal_id,
            ),
            ApiError::RateLimited { .. } | ApiError::Internal(_) => (None, None, None, None),
        };
        let detail = match self {
            ApiError::Validation(errors) => {
                let fields: Vec<String> = errors.as_map().iter().map(|(f, m)| format!("{f}: {m}")).collect();
                format!("invalid fields: {}", fields.join("; "))
            }
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        Problem {
            problem_type: kind.uri(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            required_role,
            current_revision,
            open_proposal_id,
        }
    }
}

/// Constraint name → (problem type, field, message). Every constraint that
/// input or a race can violate is listed, the schema's triggers included
/// (they raise with a constraint name of their own): the answer is the one
/// the domain gives for the same rule, and no database text reaches a client.
fn constraint_problem(constraint: &str) -> Option<(ProblemType, Option<&'static str>, &'static str)> {
    use ProblemType::*;
    Some(match constraint {
        "employees_email_unique" => (EmailTaken, Some("email"), "an employee with this email already exists"),
        "employees_external_id_key" => (
            ExternalIdTaken,
            Some("external_id"),
            "an employee with this external_id already exists",
        ),
        "integrations_name_key" => (NameTaken, Some("name"), "an integration with this name already exists"),
        "signatures_one_per_person_and_revision" => {
            (AlreadySigned, None, "this person has already signed this revision")
        }
        "signatures_not_by_proposer" => (SelfSigning, None, "the proposer cannot sign their own proposal"),
        "signature_on_pending_proposal" | "decided_proposals_never_change" => {
            (NotPending, None, "the proposal is decided and takes no more changes")
        }
        "signature_on_current_revision" => (
            RevisionChanged,
            None,
            "the proposal was revised meanwhile; read it again before signing",
        ),
        "signature_by_active_agent" => (NotAnActiveAgent, None, "only active agents may sign proposals"),
        "filed_by_active_agent" => (NotAnActiveAgent, None, "only active agents file proposals"),
        "approval_needs_endorsements"
        | "approval_needs_signer_groups"
        | "standing_approval_covers_filing"
        | "standing_approval_on_filing"
        | "standing_approval_once_per_case"
        | "kept_endorsements_within_tolerance"
        | "approval_refused_when_declined"
        | "approval_needs_active_proposer"
        | "rejection_needs_declines"
        | "decided_with_last_endorsement"
        | "decided_with_last_decline" => (
            ConcurrentChange,
            None,
            "the proposal or the people on it changed while you acted; read it again and retry",
        ),
        "proposal_outcomes_pkey" => (OutcomeAlreadyRecorded, None, "the outcome is already recorded"),
        "outcome_needs_approval" => (NotApproved, None, "outcomes are recorded for approved proposals only"),
        "proposal_reviews_pkey" => (AlreadyReviewed, None, "the proposal is already reviewed"),
        "review_needs_decided" => (NotDecided, None, "the proposal is reviewed once decided"),
        "review_by_active_manager" => (NotAnActiveManager, None, "only active managers may review proposals"),
        "reviewer_not_involved" => (
            ReviewerInvolved,
            None,
            "a reviewer cannot review a proposal they filed or signed",
        ),
        "approved_alone_over_a_decline" => (PeerDeclined, None, "a proposal a peer declined is never approved alone"),
        "solo_by_proposer" => (NotTheProposer, None, "only the proposer acts alone"),
        "one_open_proposal_per_ticket" => (
            TicketHasOpenProposal,
            Some("ticket_ref"),
            "the ticket already has a pending proposal in this category",
        ),
        _ => return None,
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if let Some((kind, field, message)) = db.constraint().and_then(constraint_problem) {
                let refused = ApiError::refused(kind, message);
                return match field {
                    Some(field) => refused.on_field(field),
                    None => refused,
                };
            }
            if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
                return ApiError::refused(
                    ProblemType::ConcurrentChange,
                    "the request raced with another change; try again",
                );
            }
        }
        if matches!(error, sqlx::Error::PoolTimedOut) {
            return ApiError::refused(ProblemType::Unavailable, "the database is busy; try again");
        }
        // Anything else, a trigger raising without a known name included,
        // is a fault of ours: logged with its text, answered without it.
        ApiError::Internal(error.into())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(errors) => ApiError::Validation(errors),
            AppError::Rule(violation) => violation.into(),
            AppError::Policy(violation) => violation.into(),
            AppError::People(violation) => violation.into(),
            AppError::Unauthenticated(detail) => ApiError::unauthorized(detail),
            AppError::Forbidden { detail, required_role } => {
                let kind = match required_role {
                    Some(_) => ProblemType::RoleRequired,
                    None => ProblemType::OnBehalfOfRefused,
                };
                ApiError::Refused {
                    kind,
                    detail,
                    field: None,
                    required_role,
                    current_revision: None,
                    open_proposal_id: None,
                }
            }
            AppError::OnBehalfOfRequired => ApiError::Refused {
                kind: ProblemType::OnBehalfOfRequired,
                detail: AppError::OnBehalfOfRequired.to_string(),
                field: None,
                required_role: Some(Role::Agent),
                current_revision: None,
                open_proposal_id: None,
            },
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::RateLimited { retry_after } => ApiError::RateLimited {
                retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
            AppError::RevisionRequired => {
                ApiError::refused(ProblemType::RevisionRequired, AppError::RevisionRequired.to_string())
            }
            AppError::IdempotencyKeyReused => ApiError::refused(
                ProblemType::IdempotencyKeyReused,
                AppError::IdempotencyKeyReused.to_string(),
            )
            .on_field("Idempotency-Key"),
            AppError::DeliveryIdReused => {
                ApiError::refused(ProblemType::DeliveryIdReused, AppError::DeliveryIdReused.to_string())
            }
            AppError::SignatureRefused(detail) => ApiError::refused(ProblemType::SignatureRefused, detail),
            error @ AppError::AgentRefused { field, .. } => {
                ApiError::refused(ProblemType::OnBehalfOfRefused, error.to_string()).on_field(field)
            }
            AppError::EndpointDisabled => {
                ApiError::refused(ProblemType::EndpointDisabled, AppError::EndpointDisabled.to_string())
            }
            AppError::Database(error) => error.into(),
            AppError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<PeopleViolation> for ApiError {
    fn from(violation: PeopleViolation) -> Self {
        let kind = match violation {
            PeopleViolation::LastActiveAdmin => ProblemType::LastActiveAdmin,
            PeopleViolation::Inactive => ProblemType::EmployeeInactive,
        };
        ApiError::refused(kind, violation.to_string())
    }
}

impl From<RuleViolation> for ApiError {
    fn from(violation: RuleViolation) -> Self {
        use ProblemType::*;
        let detail = violation.to_string();
        let open_proposal_id = match violation {
            RuleViolation::TicketHasOpenProposal { open } => Some(open),
            _ => None,
        };
        let (kind, required_role, current_revision) = match violation {
            RuleViolation::NotAnActiveAgent { .. } => (NotAnActiveAgent, Some(Role::Agent), None),
            RuleViolation::NotAnActiveManager => (NotAnActiveManager, Some(Role::Manager), None),
            RuleViolation::OwnProposal => (SelfSigning, None, None),
            RuleViolation::NotProposer { .. } => (NotTheProposer, None, None),
            RuleViolation::ReviewerInvolved => (ReviewerInvolved, None, None),
            RuleViolation::AlreadySigned { .. } => (AlreadySigned, None, None),
            RuleViolation::RevisionChanged { current, .. } => (RevisionChanged, None, Some(current)),
            RuleViolation::NotPending(_) => (NotPending, None, None),
            RuleViolation::Expired(_) => (Expired, None, None),
            RuleViolation::NotApproved(_) => (NotApproved, None, None),
            RuleViolation::OutcomeRecorded => (OutcomeAlreadyRecorded, None, None),
            RuleViolation::TooManyRevisions { .. } => (TooManyRevisions, None, None),
            RuleViolation::NotDecided => (NotDecided, None, None),
            RuleViolation::AlreadyReviewed => (AlreadyReviewed, None, None),
            RuleViolation::TicketHasOpenProposal { .. } => (TicketHasOpenProposal, None, None),
            RuleViolation::ActingAloneNotAllowed { .. } => (ActingAloneNotAllowed, None, None),
            RuleViolation::PeerAvailable { .. } => (PeerAvailable, None, None),
            RuleViolation::PeerDeclined => (PeerDeclined, None, None),
            RuleViolation::CannotBeAsked { .. } => (CannotBeAsked, None, None),
            RuleViolation::SignerGroupNeeded { .. } => (SignerGroupNeeded, None, None),
            RuleViolation::StandingApprovalRetired => (StandingApprovalRetired, None, None),
            RuleViolation::StandingApprovalWindow => (StandingApprovalWindow, None, None),
            RuleViolation::SourceNotDecided(_) => (SourceNotDecided, None, None),
        };
        ApiError::Refused {
            kind,
            detail,
            field: match kind {
                TicketHasOpenProposal => Some("ticket_ref".to_owned()),
                CannotBeAsked => Some("employee_ids".to_owned()),
                StandingApprovalWindow => Some("valid_until".to_owned()),
                _ => None,
            },
            required_role,
            current_revision,
            open_proposal_id,
        }
    }
}

impl From<PolicyViolation> for ApiError {
    fn from(violation: PolicyViolation) -> Self {
        let (kind, field) = match violation {
            PolicyViolation::UnknownCategory { .. } => (ProblemType::UnknownCategory, "category"),
            PolicyViolation::AmountRequired { .. } => (ProblemType::AmountRequired, "amount_minor"),
            PolicyViolation::CurrencyNotAccepted { .. } => (ProblemType::CurrencyNotAccepted, "currency"),
            PolicyViolation::ExceedsPeerLimit { .. } => (ProblemType::ExceedsPeerLimit, "amount_minor"),
            PolicyViolation::OutcomeCurrency { .. } => (ProblemType::OutcomeCurrency, "currency"),
            PolicyViolation::OutcomeAboveLimit { .. } | PolicyViolation::OutcomeAboveApprovedAlone { .. } => {
                (ProblemType::ExceedsPeerLimit, "actual_amount_minor")
            }
        };
        ApiError::refused(kind, violation.to_string()).on_field(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_has_its_own_slug() {
        let mut slugs: Vec<&str> = ProblemType::ALL.iter().map(|kind| kind.slug()).collect();
        slugs.sort_unstable();
        let before = slugs.len();
        slugs.dedup();
        assert_eq!(slugs.len(), before, "two problem types share a slug");
        for kind in ProblemType::ALL {
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
        }
    }

    /// Every refusal a trigger raises (by its constraint name) answers a
    /// problem type, except those that guard against the service itself
    /// (deleting, rewriting history): reaching one is a fault, a 500.
    #[test]
    fn every_trigger_refusal_is_mapped_by_its_name() {
        let faults_of_ours = [
            "never_deleted",
            "append_only",
            "proposal_filing_fixed",
            "revisions_only_forward",
            "material_change_starts_revision",
            "rule_fixed_per_revision",
            "proposal_born_pending",
            // The service records the reason before it approves alone.
            "approved_alone_is_an_approval",
            "approved_alone_needs_reason",
        ];
        let sql = [
            include_str!("../migrations/20261126000007_named_refusals.sql"),
            include_str!("../migrations/20261126000014_one_open_proposal_per_ticket.sql"),
            include_str!("../migrations/20261126000017_acting_alone.sql"),
        ]
        .concat();
        let names: Vec<&str> = sql
            .split("CONSTRAINT = '")
            .skip(1)
            .map(|rest| rest.split('\'').next().unwrap())
            .collect();
        assert!(names.len() > 15, "{names:?}");
        for name in names {
            assert!(
                constraint_problem(name).is_some() != faults_of_ours.contains(&name),
                "{name}: mapped to a problem type, or listed as a fault of ours (not both)"
            );
        }
    }

    #[test]
    fn every_rule_violation_answers_its_own_type() {
        let violations = [
            RuleViolation::OwnProposal,
            RuleViolation::AlreadySigned { revision: 1 },
            RuleViolation::RevisionChanged { read: 1, current: 2 },
            RuleViolation::NotPending(crate::domain::proposal::Status::Approved),
            RuleViolation::NotDecided,
            RuleViolation::AlreadyReviewed,
            RuleViolation::OutcomeRecorded,
        ];
        let mut slugs: Vec<&str> = violations
            .into_iter()
            .map(|v| ApiError::from(v).kind().slug())
            .collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), 7);
    }
}
