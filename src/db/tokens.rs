//! SQL for API tokens: stored as SHA-256 hashes, looked up by hash.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::employee::Role;

/// Everything authentication needs, in one query.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token_id: Uuid,
    pub revoked: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub employee_id: Option<Uuid>,
    pub employee_role: Option<Role>,
    pub employee_active: Option<bool>,
    pub integration_id: Option<Uuid>,
    pub integration_active: Option<bool>,
}

pub async fn find_owner(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<TokenOwner>> {
    sqlx::query_as!(
        TokenOwner,
        r#"
        SELECT t.id AS token_id, (t.revoked_at IS NOT NULL) AS "revoked!", t.last_used_at,
               e.id AS "employee_id?", e.role AS "employee_role?: Role", e.active AS "employee_active?",
               i.id AS "integration_id?", i.active AS "integration_active?"
        FROM api_tokens t
        LEFT JOIN employees e ON e.id = t.employee_id
        LEFT JOIN integrations i ON i.id = t.integration_id
        WHERE t.token_hash = $1
        "#,
        token_hash
    )
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: Uuid,
    pub employee_id: Option<Uuid>,
    pub integration_id: Option<Uuid>,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub enum Owner {
    Employee(Uuid),
    Integration(Uuid),
}

pub async fn insert(
    conn: &mut PgConnection,
    owner: Owner,
    name: Option<&str>,
    token_hash: &[u8],
) -> sqlx::Result<TokenRow> {
    let (employee_id, integration_id) = match owner {
        Owner::Employee(id) => (Some(id), None),
        Owner::Integration(id) => (None, Some(id)),
    };
    sqlx::query_as!(
        TokenRow,
        r#"
        INSERT INTO api_tokens (id, token_hash, employee_id, integration_id, name)
        VALUES ($1, $2, $3, $4, $5)
        RETURNING id, employee_id, integration_id, name, created_at, revoked_at, last_used_at
        "#,
        Uuid::now_v7(),
        token_hash,
        employee_id,
        integration_id,
        name,
    )
    .fetch_one(conn)
    .await
}

pub async fn list_for_employee(conn: &mut PgConnection, employee_id: Uuid) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "SELECT id, employee_id, integration_id, name, created_at, revoked_at, last_used_at
         FROM api_tokens WHERE employee_id = $1 ORDER BY id",
        employee_id
    )
    .fetch_all(conn)
    .await
}

/// Revokes the token; `None` when no such token exists. Revoking twice
/// keeps the first revocation time.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        r#"
        UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
        WHERE id = $1
        RETURNING id, employee_id, integration_id, name, created_at, revoked_at, last_used_at
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Revokes every live token of a person (when they are deactivated);
/// answers the tokens revoked.
pub async fn revoke_all_of(conn: &mut PgConnection, employee_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE api_tokens SET revoked_at = now() WHERE employee_id = $1 AND revoked_at IS NULL RETURNING id",
        employee_id
    )
    .fetch_all(conn)
    .await
}

/// Records use, at most once a minute per token however busy it is.
pub async fn touch(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')",
        id
    )
    .execute(pool)
    .await?;
    Ok(())
}
