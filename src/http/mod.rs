//! The HTTP API: merges each resource's router, adds the tower-http layers
//! (request id, tracing, timeout, body limit, compression, metrics) and the
//! OpenAPI document. Handlers live one file per resource, each ending in
//! `pub fn router()`.

pub mod answer;
pub mod audit;
pub mod auth;
pub mod employees;
pub mod error;
pub mod extract;
pub mod health;
pub mod inbound;
pub mod integrations;
pub mod me;
pub mod openapi;
pub mod pagination;
pub mod policy;
pub mod proposals;
pub mod reports;
pub mod reviews;
pub mod serve;
pub mod standing_approvals;
pub mod tokens;
pub mod webhooks;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::domain::policy::ApprovalPolicy;
use crate::state::AppState;
use error::{ProblemType, problem_response};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route with its OpenAPI description, before state and layers.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(employees::router())
        .merge(tokens::router())
        .merge(integrations::router())
        .merge(inbound::router())
        .merge(me::router())
        .merge(proposals::router())
        .merge(policy::router())
        .merge(reviews::router())
        .merge(standing_approvals::router())
        .merge(reports::router())
        .merge(audit::router())
        .merge(webhooks::router())
}

/// The OpenAPI document the running service serves (with what `policy`
/// accepts, when given).
pub fn openapi_document(policy: Option<&ApprovalPolicy>) -> serde_json::Value {
    openapi::complete(api().split_for_parts().1, policy)
}

/// The whole service: the API with its document, and `pages` (the web
/// door, which sits above this one) behind the same layers.
pub fn router(state: AppState, pages: Router<AppState>) -> Router {
    let (api_router, openapi) = api().split_for_parts();
    let document = openapi::complete(openapi, Some(&state.policy));
    let body_limit = state.settings.server.body_limit_bytes;
    let timeout = state.settings.request_timeout();
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // Method and path only: headers carry tokens and never reach logs.
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            // A route whose path carries a secret names it `{secret}` (a
            // sign-in link): its template is logged, never the path.
            let path = match request.extensions().get::<MatchedPath>() {
                Some(route) if route.as_str().contains("{secret}") => route.as_str(),
                _ => request.uri().path(),
            };
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = %path,
                request_id = %request_id,
            )
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(middleware::from_fn(track_metrics))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::max(body_limit));
    api_router
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document))
        .merge(pages)
        .fallback(|| async { problem_response(ProblemType::NotFound, "no such endpoint".to_owned()) })
        .layer(layers)
        .with_state(state)
}

/// Router and layer errors (404, 405, 408, 413) arrive empty or as plain
/// text; give them the same problem format as everything else.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let formatted = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json") || value.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !formatted {
        let (kind, detail) = match status {
            StatusCode::METHOD_NOT_ALLOWED => {
                (ProblemType::MethodNotAllowed, "this endpoint does not take that method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (
                ProblemType::PayloadTooLarge,
                "the request body is larger than this server accepts",
            ),
            StatusCode::REQUEST_TIMEOUT => (ProblemType::Timeout, "the request took too long and was stopped"),
            StatusCode::NOT_FOUND => (ProblemType::NotFound, "no such endpoint"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (ProblemType::UnsupportedMediaType, "send the body as JSON"),
            StatusCode::SERVICE_UNAVAILABLE => (ProblemType::Unavailable, "the service cannot answer now; retry"),
            status if status.is_client_error() => (ProblemType::BadRequest, "the request could not be served"),
            _ => (ProblemType::Internal, "the request could not be served"),
        };
        let mut problem = problem_response(kind, detail.to_owned());
        if let Some(allow) = response.headers().get(header::ALLOW) {
            problem.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return problem;
    }
    response
}

/// Request count and latency by route template and status.
async fn track_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
