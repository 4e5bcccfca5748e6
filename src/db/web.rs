//! SQL for the web pages' sessions and one-time sign-in links. Both are
//! looked up by the SHA-256 of the secret the browser holds.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::employee::Role;

/// A session with everything the web door checks on each request.
#[derive(Clone)]
pub struct SessionRow {
    pub id: Uuid,
    pub employee_id: Uuid,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Signed out, ended by deactivation, or its token revoked.
    pub ended: bool,
    pub role: Role,
    pub active: bool,
    pub name: String,
    pub team: Option<String>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("employee_id", &self.employee_id)
            .finish_non_exhaustive()
    }
}

pub struct NewSession<'a> {
    pub cookie_hash: &'a [u8],
    pub employee_id: Uuid,
    pub token_id: Option<Uuid>,
    pub csrf_token: &'a str,
    pub signed_in_with: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(conn: &mut PgConnection, session: &NewSession<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO web_sessions (id, cookie_hash, employee_id, token_id, csrf_token, signed_in_with,
                                  created_at, last_seen_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
        RETURNING id
        "#,
        Uuid::now_v7(),
        session.cookie_hash,
        session.employee_id,
        session.token_id,
        session.csrf_token,
        session.signed_in_with,
        session.now,
        session.expires_at,
    )
    .fetch_one(conn)
    .await
}

pub async fn find_session(pool: &PgPool, cookie_hash: &[u8]) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as!(
        SessionRow,
        r#"
        SELECT s.id, s.employee_id, s.csrf_token, s.last_seen_at, s.expires_at,
               (s.ended_at IS NOT NULL OR t.revoked_at IS NOT NULL) AS "ended!",
               e.role AS "role: Role", e.active, e.name, e.team
        FROM web_sessions s
        JOIN employees e ON e.id = s.employee_id
        LEFT JOIN api_tokens t ON t.id = s.token_id
        WHERE s.cookie_hash = $1
        "#,
        cookie_hash
    )
    .fetch_optional(pool)
    .await
}

/// Records that the session was used (it keeps it from idling out).
pub async fn touch_session(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE web_sessions SET last_seen_at = $2 WHERE id = $1 AND ended_at IS NULL",
        id,
        now
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends one session; false when it had already ended.
pub async fn end_session(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let ended = sqlx::query!(
        "UPDATE web_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
        id,
        now
    )
    .execute(conn)
    .await?;
    Ok(ended.rows_affected() == 1)
}

/// Ends every open session of a person; answers how many there were.
pub async fn end_sessions_of(conn: &mut PgConnection, employee_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let ended = sqlx::query!(
        "UPDATE web_sessions SET ended_at = $2 WHERE employee_id = $1 AND ended_at IS NULL",
        employee_id,
        now
    )
    .execute(conn)
    .await?;
    Ok(ended.rows_affected())
}

pub struct NewLink<'a> {
    pub link_hash: &'a [u8],
    pub employee_id: Uuid,
    pub issued_by: Option<Uuid>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_link(conn: &mut PgConnection, link: &NewLink<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO sign_in_links (id, link_hash, employee_id, issued_by, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING id
        "#,
        Uuid::now_v7(),
        link.link_hash,
        link.employee_id,
        link.issued_by,
        link.now,
        link.expires_at,
    )
    .fetch_one(conn)
    .await
}

/// Whom an unused, unexpired link signs in (nothing is changed).
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub employee_id: Uuid,
    pub name: String,
}

pub async fn find_usable_link(pool: &PgPool, link_hash: &[u8], now: DateTime<Utc>) -> sqlx::Result<Option<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"
        SELECT l.employee_id, e.name
        FROM sign_in_links l
        JOIN employees e ON e.id = l.employee_id
        WHERE l.link_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2 AND e.active
        "#,
        link_hash,
        now
    )
    .fetch_optional(pool)
    .await
}

/// Uses a link: one statement, so two browsers racing with the same link
/// cannot both sign in.
pub async fn use_link(conn: &mut PgConnection, link_hash: &[u8], now: DateTime<Utc>) -> sqlx::Result<Option<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"
        UPDATE sign_in_links l SET used_at = $2
        FROM employees e
        WHERE l.link_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2
          AND e.id = l.employee_id AND e.active
        RETURNING l.employee_id, e.name
        "#,
        link_hash,
        now
    )
    .fetch_optional(conn)
    .await
}

/// Forgets sessions and links that stopped working more than `days` ago.
pub async fn forget_older_than(pool: &PgPool, days: u32) -> sqlx::Result<()> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    sqlx::query!(
        r#"
        DELETE FROM web_sessions
        WHERE LEAST(expires_at, COALESCE(ended_at, expires_at)) < now() - make_interval(days => $1)
        "#,
        days
    )
    .execute(pool)
    .await?;
    sqlx::query!(
        "DELETE FROM sign_in_links WHERE expires_at < now() - make_interval(days => $1)",
        days
    )
    .execute(pool)
    .await?;
    Ok(())
}
