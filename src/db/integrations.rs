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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Integrations by a WHERE clause (and locking or ordering) in `$suffix`.
macro_rules! select_integrations {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            IntegrationRow,
            r#"SELECT id, name, kind AS "kind: IntegrationKind", active, acts_for_all, acts_for_teams,
                      acts_for_agents, created_at, updated_at
               FROM integrations "# + $suffix
            $(, $arg)*
        )
    };
}

pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    kind: IntegrationKind,
    inbound_secret: &str,
) -> sqlx::Result<IntegrationRow> {
    sqlx::query_as!(
        IntegrationRow,
        r#"
        INSERT INTO integrations (id, name, kind, inbound_secret)
        VALUES ($1, $2, $3, $4)
        RETURNING id, name, kind AS "kind: IntegrationKind", active, acts_for_all, acts_for_teams,
                  acts_for_agents, created_at, updated_at
        "#,
        Uuid::now_v7(),
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
                  acts_for_agents, created_at, updated_at
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
