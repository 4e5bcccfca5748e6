//! One error type for the whole API, rendered as RFC 9457 problem JSON.
//!
//! Database errors are mapped by constraint name to 409/422 so a broken rule
//! is never answered as a 500; internal errors are logged once with their
//! cause chain and answered with a generic body.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::AppError;
use crate::domain::employee::{PeopleViolation, Role};
use crate::domain::fields::FieldErrors;
use crate::domain::policy::PolicyViolation;
use crate::domain::proposal::RuleViolation;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:countersign:problem:validation`.
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
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    #[error("{detail}")]
    Unprocessable { detail: String, field: Option<String> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    Forbidden {
        detail: String,
        required_role: Option<Role>,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { detail: String, field: Option<String> },
    /// A signature names a revision that is no longer the current one.
    #[error("{detail}")]
    RevisionChanged { detail: String, current: i32 },
    /// A signature that does not say which revision the signer read.
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than this server accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            detail: detail.into(),
            required_role: None,
        }
    }

    pub fn requires_role(role: Role) -> Self {
        ApiError::Forbidden {
            detail: format!("this needs the `{}` role", role.as_str()),
            required_role: Some(role),
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            detail: detail.into(),
            field: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::RevisionChanged { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Validation(_) => "validation",
            ApiError::Unprocessable { .. } => "rule-violation",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::RevisionChanged { .. } => "revision-changed",
            ApiError::PreconditionRequired(_) => "revision-required",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let errors = match self {
            ApiError::Validation(errors) => Some(errors.as_map().clone()),
            ApiError::Unprocessable {
                detail,
                field: Some(field),
            }
            | ApiError::Conflict {
                detail,
                field: Some(field),
            } => Some(BTreeMap::from([(field.clone(), detail.clone())])),
            _ => None,
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
            problem_type: format!("urn:countersign:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            required_role: match self {
                ApiError::Forbidden { required_role, .. } => *required_role,
                _ => None,
            },
            current_revision: match self {
                ApiError::RevisionChanged { current, .. } => Some(*current),
                _ => None,
            },
        }
    }
}

/// A problem response for a bare status (used for router and layer errors).
pub fn problem_response(status: StatusCode, detail: String) -> Response {
    let problem = Problem {
        problem_type: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: None,
        required_role: None,
        current_revision: None,
    };
    render(status, &problem)
}

fn render(status: StatusCode, problem: &Problem) -> Response {
    let mut response = (status, axum::Json(problem)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let mut response = render(self.status(), &self.to_problem());
        if let ApiError::Unauthorized(_) = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Constraint name → (status, field, message). Every constraint that input
/// can violate is listed, so it answers 409/422 naming the field.
fn constraint_problem(constraint: &str) -> Option<(StatusCode, &'static str, &'static str)> {
    Some(match constraint {
        "employees_email_unique" => (
            StatusCode::CONFLICT,
            "email",
            "an employee with this email already exists",
        ),
        "employees_external_id_key" => (
            StatusCode::CONFLICT,
            "external_id",
            "an employee with this external_id already exists",
        ),
        "integrations_name_key" => (
            StatusCode::CONFLICT,
            "name",
            "an integration with this name already exists",
        ),
        "signatures_one_per_person_and_revision" => (
            StatusCode::CONFLICT,
            "employee_id",
            "this person has already signed this revision",
        ),
        "signatures_not_by_proposer" => (
            StatusCode::CONFLICT,
            "employee_id",
            "the proposer cannot sign their own proposal",
        ),
        "proposal_outcomes_pkey" => (StatusCode::CONFLICT, "proposal_id", "the outcome is already recorded"),
        "proposal_reviews_pkey" => (StatusCode::CONFLICT, "proposal_id", "the proposal is already reviewed"),
        _ => return None,
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if let Some((status, field, message)) = db.constraint().and_then(constraint_problem) {
                let (detail, field) = (message.to_owned(), Some(field.to_owned()));
                return if status == StatusCode::CONFLICT {
                    ApiError::Conflict { detail, field }
                } else {
                    ApiError::Unprocessable { detail, field }
                };
            }
            // Raised by our triggers: the schema refusing what the domain
            // should already have refused (a second line of defence).
            if db.code().as_deref() == Some("P0001") {
                return ApiError::conflict(db.message().to_owned());
            }
            if db.code().as_deref() == Some("40001") || db.code().as_deref() == Some("40P01") {
                return ApiError::conflict("the request raced with another change; try again");
            }
        }
        if matches!(error, sqlx::Error::PoolTimedOut) {
            return ApiError::Unavailable("the database is busy; try again".to_owned());
        }
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
            AppError::Unauthenticated(detail) => ApiError::Unauthorized(detail),
            AppError::Forbidden { detail, required_role } => ApiError::Forbidden { detail, required_role },
            AppError::NotFound(what) => ApiError::NotFound(what),
            AppError::RevisionRequired => ApiError::PreconditionRequired(AppError::RevisionRequired.to_string()),
            AppError::IdempotencyKeyReused => ApiError::Unprocessable {
                detail: AppError::IdempotencyKeyReused.to_string(),
                field: Some("Idempotency-Key".to_owned()),
            },
            AppError::Database(error) => error.into(),
            AppError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<PeopleViolation> for ApiError {
    fn from(violation: PeopleViolation) -> Self {
        ApiError::conflict(violation.to_string())
    }
}

impl From<RuleViolation> for ApiError {
    fn from(violation: RuleViolation) -> Self {
        let detail = violation.to_string();
        match violation {
            RuleViolation::NotAnActiveAgent { .. } => ApiError::Forbidden {
                detail,
                required_role: Some(Role::Agent),
            },
            RuleViolation::NotAnActiveManager => ApiError::Forbidden {
                detail,
                required_role: Some(Role::Manager),
            },
            RuleViolation::OwnProposal | RuleViolation::NotProposer { .. } | RuleViolation::ReviewerInvolved => {
                ApiError::forbidden(detail)
            }
            RuleViolation::RevisionChanged { current, .. } => ApiError::RevisionChanged { detail, current },
            RuleViolation::AlreadySigned { .. }
            | RuleViolation::NotPending(_)
            | RuleViolation::Expired(_)
            | RuleViolation::NotApproved(_)
            | RuleViolation::OutcomeRecorded
            | RuleViolation::NotDecided
            | RuleViolation::AlreadyReviewed => ApiError::conflict(detail),
        }
    }
}

impl From<PolicyViolation> for ApiError {
    fn from(violation: PolicyViolation) -> Self {
        let field = match violation {
            PolicyViolation::UnknownCategory { .. } => "category",
            PolicyViolation::AmountRequired { .. } => "amount_minor",
            PolicyViolation::CurrencyNotAccepted { .. } => "currency",
            PolicyViolation::ExceedsPeerLimit { .. } => "amount_minor",
        };
        ApiError::Unprocessable {
            detail: violation.to_string(),
            field: Some(field.to_owned()),
        }
    }
}
