//! SQL for people.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::employee::{Person, Role};

#[derive(Debug, Clone, serde::Serialize)]
pub struct EmployeeRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team: Option<String>,
    /// Signer groups (e.g. `senior`), for thresholds that need them.
    pub groups: Vec<String>,
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EmployeeRow {
    /// The person as the rules see them.
    pub fn person(&self) -> Person {
        Person {
            id: self.id,
            role: self.role,
            active: self.active,
        }
    }
}

/// Employees by a WHERE clause (and locking) given in `$suffix`.
macro_rules! select_employees {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            EmployeeRow,
            r#"SELECT id, name, email, role AS "role: Role", team, groups, external_id, active, created_at, updated_at
               FROM employees "#
                + $suffix
            $(, $arg)*
        )
    };
}

pub struct NewEmployee<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub team: Option<&'a str>,
    pub groups: &'a [String],
    pub external_id: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, new: &NewEmployee<'_>) -> sqlx::Result<EmployeeRow> {
    sqlx::query_as!(
        EmployeeRow,
        r#"
        INSERT INTO employees (id, name, email, role, team, external_id, groups)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING id, name, email, role AS "role: Role", team, groups, external_id, active, created_at, updated_at
        "#,
        Uuid::now_v7(),
        new.name,
        new.email,
        new.role.as_str(),
        new.team,
        new.external_id,
        new.groups,
    )
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EmployeeRow>> {
    select_employees!("WHERE id = $1", id).fetch_optional(conn).await
}

/// Holds the person's row until the transaction ends, as a foreign key
/// to it does (`FOR KEY SHARE`): a deactivation waits for the
/// transaction, or came first and the transaction sees its effects.
pub async fn hold(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query_scalar!("SELECT id FROM employees WHERE id = $1 FOR KEY SHARE", id)
        .fetch_optional(conn)
        .await?;
    Ok(())
}

/// The row, locked for an update in this transaction.
pub async fn find_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EmployeeRow>> {
    select_employees!("WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(conn)
        .await
}

pub async fn find_by_email(conn: &mut PgConnection, email: &str) -> sqlx::Result<Option<EmployeeRow>> {
    select_employees!("WHERE lower(email) = lower($1)", email)
        .fetch_optional(conn)
        .await
}

/// An employee by id (as text) or by helpdesk external_id.
pub async fn find_by_reference(conn: &mut PgConnection, reference: &str) -> sqlx::Result<Option<EmployeeRow>> {
    let id = Uuid::parse_str(reference).ok();
    select_employees!(
        "WHERE id = $1 OR external_id = $2 ORDER BY (id = $1) DESC NULLS LAST LIMIT 1",
        id,
        reference
    )
    .fetch_optional(conn)
    .await
}

/// The agent an integration names (by id or helpdesk external_id), if it
/// is an active agent the integration may act for; `None` otherwise, for
/// whichever reason: the caller is told no more than that.
pub async fn agent_for_integration(
    conn: &mut PgConnection,
    integration_id: Uuid,
    id: Option<Uuid>,
    external_id: Option<&str>,
) -> sqlx::Result<Option<EmployeeRow>> {
    sqlx::query_as!(
        EmployeeRow,
        r#"
        SELECT e.id, e.name, e.email, e.role AS "role: Role", e.team, e.groups, e.external_id, e.active,
               e.created_at, e.updated_at
        FROM employees e JOIN integrations i ON i.id = $1
        WHERE (e.id = $2 OR e.external_id = $3) AND e.active AND e.role = 'agent'
          AND (i.acts_for_all OR e.team = ANY(i.acts_for_teams) OR e.id = ANY(i.acts_for_agents))
        ORDER BY (e.id = $2) DESC NULLS LAST
        LIMIT 1
        "#,
        integration_id,
        id,
        external_id
    )
    .fetch_optional(conn)
    .await
}

/// Those of `ids` that are agents (active or not), for checking a list.
pub async fn agents_among(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM employees WHERE id = ANY($1) AND role = 'agent'", ids)
        .fetch_all(conn)
        .await
}

pub struct ListFilter<'a> {
    pub role: Option<Role>,
    pub team: Option<&'a str>,
    pub active: Option<bool>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut PgConnection, filter: &ListFilter<'_>) -> sqlx::Result<Vec<EmployeeRow>> {
    sqlx::query_as!(
        EmployeeRow,
        r#"
        SELECT id, name, email, role AS "role: Role", team, groups, external_id, active, created_at, updated_at
        FROM employees
        WHERE ($1::text IS NULL OR role = $1)
          AND ($2::text IS NULL OR team = $2)
          AND ($3::bool IS NULL OR active = $3)
          AND ($4::uuid IS NULL OR id > $4)
        ORDER BY id
        LIMIT $5
        "#,
        filter.role.map(Role::as_str),
        filter.team,
        filter.active,
        filter.after,
        filter.limit,
    )
    .fetch_all(conn)
    .await
}

/// Writes every field of the row as given (the caller merged the change).
pub async fn update(conn: &mut PgConnection, row: &EmployeeRow) -> sqlx::Result<EmployeeRow> {
    sqlx::query_as!(
        EmployeeRow,
        r#"
        UPDATE employees
        SET name = $2, email = $3, role = $4, team = $5, external_id = $6, active = $7, groups = $8,
            updated_at = now()
        WHERE id = $1
        RETURNING id, name, email, role AS "role: Role", team, groups, external_id, active, created_at, updated_at
        "#,
        row.id,
        row.name,
        row.email,
        row.role.as_str(),
        row.team,
        row.external_id,
        row.active,
        &row.groups,
    )
    .fetch_one(conn)
    .await
}

/// Active admins other than `except`, counted under lock so two admins
/// cannot demote each other at once and leave nobody in charge.
pub async fn other_active_admins(conn: &mut PgConnection, except: Uuid) -> sqlx::Result<i64> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM employees WHERE role = 'admin' AND active AND id <> $1 FOR UPDATE",
        except
    )
    .fetch_all(conn)
    .await?;
    Ok(ids.len() as i64)
}
