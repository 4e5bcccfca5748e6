//! The REST door's answer to an error: the problem document of
//! `crate::problem` as `application/problem+json`, with the headers some
//! kinds need (`WWW-Authenticate`, `Retry-After`). Internal errors are
//! logged here once with their cause chain and answered with a generic
//! body. The error type and the problem types live below the doors, in
//! `crate::problem`, and are re-exported here for this door's handlers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use crate::problem::{ApiError, Problem, ProblemType};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem response for a bare status (used for router and layer errors).
pub fn problem_response(kind: ProblemType, detail: String) -> Response {
    ApiError::refused(kind, detail).into_response()
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
        match self.kind() {
            ProblemType::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ProblemType::Unavailable | ProblemType::ConcurrentChange => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ProblemType::RateLimited => {
                if let ApiError::RateLimited { retry_after_secs } = self {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                }
            }
            _ => {}
        }
        response
    }
}
