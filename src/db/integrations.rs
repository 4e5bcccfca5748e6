//! SQL for helpdesk integrations.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::integration::IntegrationKind;

#[derive(Debug, Clone)]
pub struct IntegrationRow {
    pub id: Uuid,
    pub name: String,
    pub kind: IntegrationKind,
    pub active: bool,
    pub created_at: DateTime<Utc>,
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
        RETURNING id, name, kind AS "kind: IntegrationKind", active, created_at
        "#,
        Uuid::now_v7(),
        name,
        kind.as_str(),
        inbound_secret,
    )
    .fetch_one(conn)
    .await
}

pub async fn list(conn: &mut PgConnection, after: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<IntegrationRow>> {
    sqlx::query_as!(
        IntegrationRow,
        r#"SELECT id, name, kind AS "kind: IntegrationKind", active, created_at FROM integrations
         WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}
