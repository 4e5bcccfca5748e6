//! SQL for helpdesk integrations.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::integration::IntegrationKind;

#[derive(Debug, Clone, serde::Serialize)]
pub struct IntegrationRow {
    pub id: Uuid,
    pub name: String,
    pub kind: IntegrationKind,
    pub active: bool,
    /// Acts for every active agent, or only for those below.
    pub acts_for_all: bool,
    pub acts_for_teams: Vec<String>,
    pub acts_for_agents: Vec<Uuid>,
    /// Whether it has an inbound secret (a Zendesk integration has none
    /// until an admin gives Zendesk's).
    pub has_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Integrations by a WHERE clause (and locking or ordering) in `$suffix`.
macro_rules! select_integrations {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            IntegrationRow,
            r#"SELECT id, name, kind AS "kind: IntegrationKind", active, acts_for_all, acts_for_teams,
                      acts_for_agents, (inbound_secret IS NOT NULL) AS "has_secret!", created_at, updated_at
               FROM integrations "# + $suffix
            $(, $arg)*
        )
    };
}

pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    kind: IntegrationKind,
    inbound_secret: Option<&str>,
) -> sqlx::Result<IntegrationRow> {
    sqlx::query_as!(
        IntegrationRow,
        r#"
        INSERT INTO integrations (id, name, kind, inbound_secret)
        VALUES ($1, $2, $3, $4)
        RETURNING id, name, kind AS "kind: IntegrationKind", active, acts_for_all, acts_for_teams,
                  acts_for_agents, (inbound_secret IS NOT NULL) AS "has_secret!", created_at, updated_at
        "#,
        id,
        name,
        kind.as_str(),
        inbound_secret,
    )
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<IntegrationRow>> {
    select_integrations!("WHERE id = $1", id).fetch_optional(conn).await
}

pub async fn find_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<IntegrationRow>> {
    select_integrations!("WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(conn)
        .await
}

pub async fn list(conn: &mut PgConnection, after: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<IntegrationRow>> {
    select_integrations!("WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2", after, limit)
        .fetch_all(conn)
        .await
}

/// Writes the changeable fields as the row holds them.
pub async fn update(conn: &mut PgConnection, row: &IntegrationRow) -> sqlx::Result<IntegrationRow> {
    sqlx::query_as!(
        IntegrationRow,
        r#"
        UPDATE integrations
        SET name = $2, active = $3, acts_for_all = $4, acts_for_teams = $5, acts_for_agents = $6, updated_at = now()
        WHERE id = $1
        RETURNING id, name, kind AS "kind: IntegrationKind", active, acts_for_all, acts_for_teams,
                  acts_for_agents, (inbound_secret IS NOT NULL) AS "has_secret!", created_at, updated_at
        "#,
        row.id,
        row.name,
        row.active,
        row.acts_for_all,
        &row.acts_for_teams,
        &row.acts_for_agents,
    )
    .fetch_one(conn)
    .await
}

/// An integration with its inbound secret as stored (sealed; `None` for a
/// Zendesk integration not yet given Zendesk's).
pub async fn find_with_secret(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(IntegrationRow, Option<String>)>> {
    let Some(row) = find(&mut *conn, id).await? else {
        return Ok(None);
    };
    let secret = sqlx::query_scalar!("SELECT inbound_secret FROM integrations WHERE id = $1", id)
        .fetch_one(conn)
        .await?;
    Ok(Some((row, secret)))
}

pub async fn set_secret(conn: &mut PgConnection, id: Uuid, sealed: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE integrations SET inbound_secret = $2, updated_at = now() WHERE id = $1",
        id,
        sealed
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every stored secret of integrations, as stored, for sealing at start.
pub async fn stored_secrets(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows =
        sqlx::query!("SELECT id, inbound_secret AS \"secret!\" FROM integrations WHERE inbound_secret IS NOT NULL")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.secret)).collect())
}

/// Replaces a stored secret, unless someone changed it meanwhile.
pub async fn replace_stored_secret(conn: &mut PgConnection, id: Uuid, was: &str, now: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE integrations SET inbound_secret = $3 WHERE id = $1 AND inbound_secret = $2",
        id,
        was,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}
