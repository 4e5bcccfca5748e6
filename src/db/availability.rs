//! SQL for who is on shift (`agent_availability`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::availability::Availability;

pub async fn find(conn: &mut PgConnection, employee_id: Uuid) -> sqlx::Result<Option<Availability>> {
    sqlx::query_as!(
        Availability,
        "SELECT available, changed_at, last_active_at FROM agent_availability WHERE employee_id = $1 FOR UPDATE",
        employee_id
    )
    .fetch_optional(conn)
    .await
}

/// Stores what the agent said (they are active now, as they said it).
pub async fn set(conn: &mut PgConnection, employee_id: Uuid, said: &Availability) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO agent_availability (employee_id, available, changed_at, last_active_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (employee_id) DO UPDATE
        SET available = EXCLUDED.available, changed_at = EXCLUDED.changed_at, last_active_at = EXCLUDED.last_active_at
        "#,
        employee_id,
        said.available,
        said.changed_at,
        said.last_active_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Notes that an agent on shift was active at `now`; one whose
/// availability lapsed (last seen more than `idle_secs` ago) stays lapsed
/// until they say otherwise.
pub async fn touch(pool: &PgPool, employee_id: Uuid, now: DateTime<Utc>, idle_secs: f64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE agent_availability SET last_active_at = $2
        WHERE employee_id = $1 AND last_active_at < $2
          AND countersign_on_shift(available, last_active_at, $2, $3)
        "#,
        employee_id,
        now,
        idle_secs
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// An agent who may co-sign someone's proposal, as a preview lists them.
#[derive(Debug, Clone)]
pub struct Peer {
    pub id: Uuid,
    pub name: String,
    pub team: Option<String>,
    /// Signer groups (e.g. `senior`).
    pub groups: Vec<String>,
    /// On shift now.
    pub available: bool,
    /// How many there are in all, and how many of them on shift.
    pub eligible: i64,
    pub on_shift: i64,
}

/// The active agents other than `proposer_id`, on shift first, then the
/// proposer's team first, then by name: the first `limit`, each with the
/// counts of all.
pub async fn eligible_peers(
    conn: &mut PgConnection,
    proposer_id: Uuid,
    now: DateTime<Utc>,
    idle_secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Peer>> {
    sqlx::query_as!(
        Peer,
        r#"
        WITH peers AS (
            SELECT e.id, e.name, e.team, e.groups,
                   countersign_on_shift(a.available, a.last_active_at, $2, $3) AS on_shift,
                   e.team IS NOT DISTINCT FROM (SELECT p.team FROM employees p WHERE p.id = $1) AS same_team
            FROM employees e
            LEFT JOIN agent_availability a ON a.employee_id = e.id
            WHERE e.role = 'agent' AND e.active AND e.id <> $1
        )
        SELECT id, name, team, groups, on_shift AS "available!",
               count(*) OVER () AS "eligible!", count(*) FILTER (WHERE on_shift) OVER () AS "on_shift!"
        FROM peers
        ORDER BY on_shift DESC, same_team DESC, name, id
        LIMIT $4
        "#,
        proposer_id,
        now,
        idle_secs,
        limit
    )
    .fetch_all(conn)
    .await
}
