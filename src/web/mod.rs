//! The web pages: the third door to the application layer, beside the REST
//! API (`http/`) and inbound webhooks. Server-rendered HTML from templates
//! compiled into the binary (askama escapes every value), a little vendored
//! script for the live inbox and local times, nothing from the internet.
//!
//! Every page needs a session (`session::Signed`); every form post goes
//! through `session::Posted`, which checks the session's CSRF token. The
//! pages call the same `app::` use cases as REST, so the rules, the audit
//! events and the webhooks are the same whichever door was used. Nothing
//! here decides a rule.

mod admin;
mod agent;
mod format;
mod manager;
mod page;
mod session;
mod standing;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;
pub use session::SESSION_COOKIE;

/// Pages may load only this service's own script, styles and images, send
/// forms only to it, and be framed by nobody.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &str = include_str!("static/app.css");
const APP_JS: &str = include_str!("static/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .merge(session::router())
        .merge(agent::router())
        .merge(manager::router())
        .merge(admin::router())
        .merge(standing::router())
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .layer(middleware::from_fn(security_headers))
}

/// Where each role starts.
async fn home(signed: Option<session::Signed>) -> Redirect {
    use crate::domain::employee::Role;
    match signed.map(|signed| signed.0.person.role) {
        None => Redirect::to("/sign-in"),
        Some(Role::Agent) => Redirect::to("/inbox"),
        Some(Role::Manager) => Redirect::to("/reviews"),
        Some(Role::Admin) => Redirect::to("/people"),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Sign-in links carry their secret in the path: never send it to
    // another site. (Not `no-referrer`: with it, browsers send `Origin:
    // null` on the pages' own form posts, which the origin check refuses.)
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
