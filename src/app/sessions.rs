//! Web sessions: signing in (with an API token, or a one-time link an admin
//! issued), recognising a session on each request, signing out. A session
//! acts as its person exactly as their token would: the same `Actor`, the
//! same use cases, the same audit events. Nothing here knows cookies or
//! HTTP; the web door carries the secrets.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::commit::{Change, commit};
use super::{Actor, AppError};
use crate::db;
use crate::db::web::{NewLink, NewSession};
use crate::domain::audit::{ActorIds, EventContent};
use crate::domain::employee::{Person, Role, check_may_hold_token};
use crate::domain::event::EventType;
use crate::secrets;
use crate::state::AppState;

const COOKIE_PREFIX: &str = "css_";
const LINK_PREFIX: &str = "csl_";
/// A session's last use is written at most this often.
const TOUCH_EVERY_SECS: i64 = 60;

/// A session just started: the cookie value goes to the browser, once.
pub struct StartedSession {
    pub cookie: String,
    pub expires_at: DateTime<Utc>,
}

/// The person behind a session, as each web request sees them.
#[derive(Clone)]
pub struct WebSession {
    pub id: Uuid,
    pub actor: Actor,
    pub person: Person,
    pub name: String,
    pub team: Option<String>,
    /// Every form of this session must carry it.
    pub csrf_token: String,
}

/// A one-time sign-in link, shown once to the admin who issued it.
pub struct IssuedLink {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

// The cookie, the CSRF token and the link are secrets: `Debug` leaves them
// out, so no log line or panic message can carry one.
impl std::fmt::Debug for StartedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("id", &self.id)
            .field("person", &self.person)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for IssuedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedLink")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl IssuedLink {
    /// Where the web door serves it, below the service's address.
    pub fn path(&self) -> String {
        format!("/sign-in/{}", self.secret)
    }
}

fn unknown_session() -> AppError {
    AppError::Unauthenticated("your session has ended; sign in again".to_owned())
}

async fn start_session(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    person: Person,
    token_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(StartedSession, EventContent), AppError> {
    let signed_in_with = if token_id.is_some() { "token" } else { "link" };
    let (cookie, cookie_hash) = secrets::new_hashed_secret(COOKIE_PREFIX);
    let csrf_token = secrets::new_random_text();
    let expires_at = now + Duration::hours(i64::from(state.settings.web.session_hours));
    let id = db::web::insert_session(
        conn,
        &NewSession {
            cookie_hash: &cookie_hash,
            employee_id: person.id,
            token_id,
            csrf_token: &csrf_token,
            signed_in_with,
            now,
            expires_at,
        },
    )
    .await?;
    let event = EventContent::new(
        EventType::WebSessionStarted,
        id,
        ActorIds {
            employee_id: Some(person.id),
            via_integration_id: None,
        },
        json!({ "employee_id": person.id, "signed_in_with": signed_in_with, "expires_at": expires_at }),
        now,
    );
    Ok((StartedSession { cookie, expires_at }, event))
}

/// Signs in with a person's own API token (an integration's token is
/// refused: an integration is nobody to sign in as).
pub async fn sign_in_with_token(state: &AppState, token: &str) -> Result<StartedSession, AppError> {
    let refused = || AppError::Unauthenticated("the token is unknown or revoked".to_owned());
    if !secrets::looks_like_token(token) {
        return Err(refused());
    }
    let owner = db::tokens::find_owner(&state.pool, &secrets::hash_token(token))
        .await?
        .filter(|owner| !owner.revoked)
        .ok_or_else(refused)?;
    super::actor::within_rate_limit(state, owner.token_id)?;
    let (Some(id), Some(role), Some(active)) = (owner.employee_id, owner.employee_role, owner.employee_active) else {
        return Err(AppError::Unauthenticated(
            "an integration's token cannot sign in to the web pages; use a person's token".to_owned(),
        ));
    };
    if !active {
        return Err(AppError::Unauthenticated("the token's owner is deactivated".to_owned()));
    }
    let person = Person { id, role, active };
    commit(state, async |conn, now| {
        let (started, event) = start_session(conn, state, person, Some(owner.token_id), now).await?;
        Ok(Change::new(started, vec![event]))
    })
    .await
}

/// Whom a link would sign in, without using it (the confirmation page:
/// a link opened by a mail scanner's preview is not spent).
pub async fn link_holder(state: &AppState, link: &str) -> Result<String, AppError> {
    if !link.starts_with(LINK_PREFIX) {
        return Err(spent_link());
    }
    let found = db::web::find_usable_link(&state.pool, &secrets::hash_token(link), Utc::now())
        .await?
        .ok_or_else(spent_link)?;
    Ok(found.name)
}

fn spent_link() -> AppError {
    AppError::Unauthenticated(
        "this sign-in link is unknown, expired or already used; ask an admin for a new one".to_owned(),
    )
}

/// Signs in with a one-time link: the link is spent and the session
/// started in one transaction.
pub async fn sign_in_with_link(state: &AppState, link: &str) -> Result<StartedSession, AppError> {
    if !link.starts_with(LINK_PREFIX) {
        return Err(spent_link());
    }
    let hash = secrets::hash_token(link);
    commit(state, async |conn, now| {
        let found = db::web::use_link(conn, &hash, now).await?.ok_or_else(spent_link)?;
        let employee = db::employees::find(conn, found.employee_id)
            .await?
            .ok_or(AppError::NotFound("employee"))?;
        let (started, event) = start_session(conn, state, employee.person(), None, now).await?;
        Ok(Change::new(started, vec![event]))
    })
    .await
}

/// Whether a request counts as the person being there (it keeps the session
/// from idling out); a page refreshing itself does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Active,
    Refresh,
}

/// The session behind a cookie, if it still works: not ended, not past its
/// end or idle limit, its person still active and its token not revoked.
pub async fn recognise(state: &AppState, cookie: &str, presence: Presence) -> Result<WebSession, AppError> {
    if !cookie.starts_with(COOKIE_PREFIX) || cookie.len() > 100 {
        return Err(unknown_session());
    }
    let row = db::web::find_session(&state.pool, &secrets::hash_token(cookie))
        .await?
        .ok_or_else(unknown_session)?;
    let now = Utc::now();
    let idle_limit = Duration::minutes(i64::from(state.settings.web.idle_minutes));
    if row.ended || !row.active || row.expires_at <= now || now - row.last_seen_at > idle_limit {
        return Err(unknown_session());
    }
    super::actor::within_rate_limit(state, row.id)?;
    if presence == Presence::Active && now - row.last_seen_at > Duration::seconds(TOUCH_EVERY_SECS) {
        db::web::touch_session(&state.pool, row.id, now).await?;
    }
    let person = Person {
        id: row.employee_id,
        role: row.role,
        active: row.active,
    };
    if presence == Presence::Active {
        super::availability::noticed(state, &person);
    }
    Ok(WebSession {
        id: row.id,
        actor: Actor {
            person: Some(person),
            via_integration: None,
            token_id: row.id,
        },
        person,
        name: row.name,
        team: row.team,
        csrf_token: row.csrf_token,
    })
}

/// Ends the session (signing out).
pub async fn sign_out(state: &AppState, session: &WebSession) -> Result<(), AppError> {
    commit(state, async |conn, now| {
        let mut events = Vec::new();
        if db::web::end_session(conn, session.id, now).await? {
            events.push(EventContent::new(
                EventType::WebSessionEnded,
                session.id,
                session.actor.audit_ids(),
                json!({ "employee_id": session.person.id, "reason": "signed out" }),
                now,
            ));
        }
        Ok(Change::new((), events))
    })
    .await
}

/// An admin issues a one-time sign-in link for an active person.
pub async fn issue_sign_in_link(state: &AppState, actor: &Actor, employee_id: Uuid) -> Result<IssuedLink, AppError> {
    let admin = actor.require(Role::Admin)?;
    let minutes = i64::from(state.settings.web.sign_in_link_minutes);
    commit(state, async |conn, now| {
        let employee = db::employees::find_for_update(conn, employee_id)
            .await?
            .ok_or(AppError::NotFound("employee"))?;
        check_may_hold_token(&employee.person())?;
        let (secret, hash) = secrets::new_hashed_secret(LINK_PREFIX);
        let expires_at = now + Duration::minutes(minutes);
        let id = db::web::insert_link(
            conn,
            &NewLink {
                link_hash: &hash,
                employee_id,
                issued_by: Some(admin.id),
                now,
                expires_at,
            },
        )
        .await?;
        let event = EventContent::new(
            EventType::SignInLinkIssued,
            id,
            actor.audit_ids(),
            json!({ "employee_id": employee_id, "expires_at": expires_at }),
            now,
        );
        Ok(Change::created(IssuedLink { secret, expires_at }, vec![event]))
    })
    .await
}
