//! Signing in and out of the web pages, the session cookie, and the CSRF
//! check every form post passes.
//!
//! The cookie holds a random secret (its SHA-256 is stored); it is
//! `HttpOnly` and `SameSite=Strict`, `Secure` when served over HTTPS, and
//! lasts no longer than the session. Each session has its own CSRF token,
//! carried by every form as `csrf` and compared on every post; the sign-in
//! forms, before any session, carry a token that must match a short-lived
//! cookie of their own (double submit). A post whose `Origin` is another
//! site is refused before anything else.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::page::{Frame, WebError, render};
use crate::app;
use crate::app::sessions::{Presence, StartedSession, WebSession};
use crate::config::SecureCookies;
use crate::secrets;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "countersign_session";
/// The sign-in forms' own CSRF cookie (there is no session yet).
const SIGN_IN_COOKIE: &str = "countersign_sign_in";

/// The value of cookie `name` in the request, if sent.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Whether cookies must carry `Secure` for this request.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    match state.settings.web.secure_cookies {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            state.settings.web.public_url.starts_with("https://")
                || headers
                    .get("x-forwarded-proto")
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
        }
    }
}

fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are base64url")
}

/// Two secrets compared through their hashes, so the time taken says
/// nothing about how much of the secret was guessed right.
fn same_secret(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

// -------------------------------------------------------------- extractors

/// A page request from someone signed in. Without a working session the
/// answer is a redirect to the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed(pub WebSession);

/// A page refreshing itself (the inbox): signed in like [`Signed`], but
/// not counted as the person being there, so an unattended open page still
/// idles out after `web.idle_minutes`.
#[derive(Debug, Clone)]
pub struct Refreshing(pub WebSession);

async fn session_of(parts: &Parts, state: &AppState, presence: Presence) -> Result<WebSession, WebError> {
    let cookie = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
    match app::sessions::recognise(state, cookie, presence).await {
        Ok(session) => Ok(session),
        Err(app::AppError::Unauthenticated(_)) => Err(WebError::SignIn),
        Err(error) => Err(error.into()),
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        session_of(parts, state, Presence::Active).await.map(Signed)
    }
}

impl FromRequestParts<AppState> for Refreshing {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        session_of(parts, state, Presence::Refresh).await.map(Refreshing)
    }
}

impl OptionalFromRequestParts<AppState> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match <Signed as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(signed) => Ok(Some(signed)),
            Err(WebError::SignIn) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A form post from someone signed in, with their session's CSRF token:
/// the session and the form's fields (`T`, read from the urlencoded body).
pub struct Posted<T> {
    pub session: WebSession,
    pub form: T,
}

/// The fields of a form that is only a button (besides its CSRF token).
#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// Refuses a post another site's page sent (browsers send `Origin` with
/// every form post; `Sec-Fetch-Site` too, in current ones). The origin must
/// be the address the request came to, or `web.public_url` (behind a proxy
/// that rewrites `Host`).
fn check_same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), WebError> {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site");
    let origin = headers.get(header::ORIGIN).and_then(|origin| origin.to_str().ok());
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    let public = state.settings.web.public_url.trim_end_matches('/');
    let foreign_origin = origin.is_some_and(|origin| {
        let origin_host = origin.split_once("://").map_or(origin, |(_, host)| host);
        Some(origin_host) != host && (public.is_empty() || origin != public)
    });
    if cross_site || foreign_origin {
        return Err(WebError::forged());
    }
    Ok(())
}

/// The form's fields, and its `csrf` field.
fn read_form<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Option<String>), WebError> {
    let csrf = form_urlencoded::parse(body)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned());
    let form = serde_urlencoded::from_bytes(body).map_err(|error| WebError::bad_form(&error.to_string()))?;
    Ok((form, csrf))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        check_same_origin(state, &parts.headers)?;
        let session = session_of(&parts, state, Presence::Active).await?;
        let body = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| WebError::bad_form("the form could not be read"))?;
        let (form, csrf) = read_form(&body)?;
        if !csrf.is_some_and(|csrf| same_secret(&csrf, &session.csrf_token)) {
            return Err(WebError::forged());
        }
        Ok(Posted { session, form })
    }
}

/// A sign-in form's post: its own CSRF cookie must match its field.
fn check_sign_in_form(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<(), WebError> {
    check_same_origin(state, headers)?;
    match cookie(headers, SIGN_IN_COOKIE) {
        Some(expected) if same_secret(csrf, expected) => Ok(()),
        _ => Err(WebError::forged()),
    }
}

// ----------------------------------------------------------------- pages

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    frame: Frame,
    csrf: String,
    /// Whom the link signs in; `None` for the token form.
    link_holder: Option<String>,
    error: Option<String>,
}

/// The sign-in form with a fresh form token (and its cookie).
fn sign_in_page(state: &AppState, headers: &HeaderMap, status: StatusCode, page: SignInPage) -> Response {
    let mut response = render(status, &page);
    let cookie = set_cookie(SIGN_IN_COOKIE, &page.csrf, 3600, secure(state, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

fn blank_sign_in(link_holder: Option<String>, error: Option<String>) -> SignInPage {
    SignInPage {
        frame: Frame::anonymous("Sign in"),
        csrf: secrets::new_random_text(),
        link_holder,
        error,
    }
}

async fn show_sign_in(State(state): State<AppState>, headers: HeaderMap) -> Response {
    sign_in_page(&state, &headers, StatusCode::OK, blank_sign_in(None, None))
}

#[derive(Deserialize)]
struct TokenSignIn {
    csrf: String,
    token: String,
}

/// Signing in again in the same browser ends the session it had, so no
/// forgotten session stays valid on the server.
async fn end_previous_session(state: &AppState, headers: &HeaderMap) -> Result<(), WebError> {
    if let Some(cookie) = cookie(headers, SESSION_COOKIE)
        && let Ok(previous) = app::sessions::recognise(state, cookie, Presence::Refresh).await
    {
        app::sessions::sign_out(state, &previous).await?;
    }
    Ok(())
}

/// Starts the session: its cookie, and the sign-in form's cookie cleared.
fn signed_in(state: &AppState, headers: &HeaderMap, started: StartedSession) -> Response {
    let secure = secure(state, headers);
    let lifetime = (started.expires_at - chrono::Utc::now()).num_seconds().max(1);
    let mut response = Redirect::to("/").into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &started.cookie, lifetime, secure),
    );
    cookies.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, "", 0, secure));
    response
}

fn refused_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    link_holder: Option<String>,
    error: app::AppError,
) -> Response {
    match error {
        app::AppError::Unauthenticated(detail) => {
            let page = blank_sign_in(link_holder, Some(detail));
            sign_in_page(state, headers, StatusCode::UNAUTHORIZED, page)
        }
        other => WebError::from(other).into_response(),
    }
}

async fn sign_in_with_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<TokenSignIn>,
) -> Result<Response, WebError> {
    check_sign_in_form(&state, &headers, &form.csrf)?;
    end_previous_session(&state, &headers).await?;
    match app::sessions::sign_in_with_token(&state, form.token.trim()).await {
        Ok(started) => Ok(signed_in(&state, &headers, started)),
        Err(error) => Ok(refused_sign_in(&state, &headers, None, error)),
    }
}

/// A sign-in link opened: who it signs in, and a button to do it. Opening
/// the link spends nothing, so a mail scanner's preview cannot use it up.
async fn show_link(State(state): State<AppState>, headers: HeaderMap, Path(link): Path<String>) -> Response {
    match app::sessions::link_holder(&state, &link).await {
        Ok(name) => sign_in_page(&state, &headers, StatusCode::OK, blank_sign_in(Some(name), None)),
        Err(error) => refused_sign_in(&state, &headers, None, error),
    }
}

#[derive(Deserialize)]
struct LinkSignIn {
    csrf: String,
}

async fn sign_in_with_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(link): Path<String>,
    axum::Form(form): axum::Form<LinkSignIn>,
) -> Result<Response, WebError> {
    check_sign_in_form(&state, &headers, &form.csrf)?;
    end_previous_session(&state, &headers).await?;
    match app::sessions::sign_in_with_link(&state, &link).await {
        Ok(started) => Ok(signed_in(&state, &headers, started)),
        Err(error) => Ok(refused_sign_in(&state, &headers, None, error)),
    }
}

#[derive(Deserialize)]
struct SignOut {}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<SignOut>,
) -> Result<Response, WebError> {
    app::sessions::sign_out(&state, &posted.session).await?;
    let mut response = Redirect::to("/sign-in").into_response();
    let cookie = set_cookie(SESSION_COOKIE, "", 0, secure(&state, &headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(show_sign_in).post(sign_in_with_token))
        // `{secret}`: the request log shows the route, not the link.
        .route("/sign-in/{secret}", get(show_link).post(sign_in_with_link))
        .route("/sign-out", post(sign_out))
}
