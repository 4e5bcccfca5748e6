//! SQL for asking peers: who might be asked for a proposal, the requests
//! made, the proposals due a reminder or an escalation, and whom an
//! escalation tells.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::routing::Candidate;

/// A peer who might be asked, with what the request's event names.
#[derive(Debug, Clone)]
pub struct CandidateRow {
    pub id: Uuid,
    pub name: String,
    pub team: Option<String>,
    pub external_id: Option<String>,
    pub on_shift: bool,
    pub same_team: bool,
    pub open_requests: i64,
    pub last_asked_by_proposer: Option<DateTime<Utc>>,
    pub asked: bool,
    pub signed: bool,
    pub groups: Vec<String>,
}

impl CandidateRow {
    pub fn candidate(&self) -> Candidate {
        Candidate {
            id: self.id,
            on_shift: self.on_shift,
            same_team: self.same_team,
            open_requests: self.open_requests,
            last_asked_by_proposer: self.last_asked_by_proposer,
            asked: self.asked,
            signed: self.signed,
            groups: self.groups.clone(),
        }
    }

    pub fn named(&self) -> Named {
        Named {
            employee_id: self.id,
            name: self.name.clone(),
            team: self.team.clone(),
            external_id: self.external_id.clone(),
        }
    }
}

/// A person as routing events name them (with the helpdesk id, so a
/// helpdesk can notify them in its own tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    pub employee_id: Uuid,
    pub name: String,
    pub team: Option<String>,
    pub external_id: Option<String>,
}

/// Whether any active agent other than `proposer_id` is on shift: a cheap
/// look before [`candidates`] with `on_shift_only`, whose plan depends on
/// who is on shift and is made again at each call (its generic plan cannot
/// know that the on-shift filter applies), about 0.6 ms of planning per
/// filing in the benchmark.
pub async fn anyone_on_shift(
    conn: &mut PgConnection,
    proposer_id: Uuid,
    now: DateTime<Utc>,
    idle_secs: f64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"
        SELECT EXISTS (
            SELECT 1 FROM agent_availability a JOIN employees e ON e.id = a.employee_id
            WHERE countersign_on_shift(a.available, a.last_active_at, $2, $3)
              AND e.role = 'agent' AND e.active AND e.id <> $1
        ) AS "anyone!"
        "#,
        proposer_id,
        now,
        idle_secs
    )
    .fetch_one(conn)
    .await
}

/// The active agents other than the proposer who might be asked for
/// `proposal_id` (only those on shift with `on_shift_only`). `signed`: a
/// signature on the current revision. How busy each is counts the requests
/// of the last `pending_ttl_secs` they have not answered; the proposer's
/// last request to them is looked for in the last week.
pub async fn candidates(
    conn: &mut PgConnection,
    proposal_id: Uuid,
    proposer_id: Uuid,
    now: DateTime<Utc>,
    idle_secs: f64,
    on_shift_only: bool,
    pending_ttl_secs: f64,
) -> sqlx::Result<Vec<CandidateRow>> {
    sqlx::query_as!(
        CandidateRow,
        r#"
        SELECT e.id, e.name, e.team, e.external_id, e.groups,
               countersign_on_shift(a.available, a.last_active_at, $3, $4) AS "on_shift!",
               coalesce(e.team = (SELECT p.team FROM employees p WHERE p.id = $2), false) AS "same_team!",
               (SELECT count(*) FROM cosign_requests r JOIN proposals q ON q.id = r.proposal_id
                WHERE r.employee_id = e.id AND r.requested_at > $3::timestamptz - make_interval(secs => $6)
                  AND q.status = 'pending' AND q.expires_at > $3
                  AND NOT EXISTS (SELECT 1 FROM signatures s
                                  WHERE s.proposal_id = q.id AND s.employee_id = e.id AND s.revision = q.revision))
                   AS "open_requests!",
               (SELECT max(r.requested_at) FROM cosign_requests r JOIN proposals q ON q.id = r.proposal_id
                WHERE r.employee_id = e.id AND r.requested_at > $3::timestamptz - interval '7 days'
                  AND q.proposer_id = $2) AS last_asked_by_proposer,
               EXISTS (SELECT 1 FROM cosign_requests r WHERE r.proposal_id = $1 AND r.employee_id = e.id) AS "asked!",
               EXISTS (SELECT 1 FROM signatures s
                       WHERE s.proposal_id = $1 AND s.employee_id = e.id
                         AND s.revision = (SELECT q.revision FROM proposals q WHERE q.id = $1)) AS "signed!"
        FROM employees e
        LEFT JOIN agent_availability a ON a.employee_id = e.id
        WHERE e.role = 'agent' AND e.active AND e.id <> $2
          AND (NOT $5 OR countersign_on_shift(a.available, a.last_active_at, $3, $4))
        ORDER BY e.id
        "#,
        proposal_id,
        proposer_id,
        now,
        idle_secs,
        on_shift_only,
        pending_ttl_secs
    )
    .fetch_all(conn)
    .await
}

/// Records that `employees` were asked to co-sign `proposal_id` (those
/// asked before are left as they were); answers those newly asked.
pub async fn ask(
    conn: &mut PgConnection,
    proposal_id: Uuid,
    employees: &[Uuid],
    reason: &str,
    requested_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO cosign_requests (proposal_id, employee_id, reason, requested_at, requested_by)
        SELECT $1, e, $3, $4, $5 FROM unnest($2::uuid[]) AS e
        ON CONFLICT (proposal_id, employee_id) DO NOTHING
        RETURNING employee_id
        "#,
        proposal_id,
        employees,
        reason,
        now,
        requested_by
    )
    .fetch_all(conn)
    .await
}

/// A pending proposal old enough for a step, locked until commit.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: Uuid,
    pub proposer_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub reminded: bool,
}

/// Pending proposals due a step (not reminded and filed at least
/// `remind_after_secs` ago, or not escalated and filed at least
/// `escalate_after_secs` ago), oldest first, locked (only these, only
/// while the step is taken); replicas share them (SKIP LOCKED).
pub async fn waiting(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    remind_after_secs: f64,
    escalate_after_secs: f64,
    batch: i64,
) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as!(
        Waiting,
        r#"
        SELECT p.id, p.proposer_id, p.created_at,
               EXISTS (SELECT 1 FROM routing_steps s WHERE s.proposal_id = p.id AND s.step = 'reminded') AS "reminded!"
        FROM proposals p
        WHERE p.status = 'pending' AND p.expires_at > $1
          AND p.created_at <= $1::timestamptz - make_interval(secs => $2)
          AND NOT EXISTS (SELECT 1 FROM routing_steps s WHERE s.proposal_id = p.id AND s.step = 'escalated')
          AND (p.created_at <= $1::timestamptz - make_interval(secs => $4)
               OR NOT EXISTS (SELECT 1 FROM routing_steps s WHERE s.proposal_id = p.id AND s.step = 'reminded'))
        ORDER BY p.created_at
        LIMIT $3
        FOR NO KEY UPDATE OF p SKIP LOCKED
        "#,
        now,
        remind_after_secs,
        batch,
        escalate_after_secs
    )
    .fetch_all(conn)
    .await
}

/// Records a step taken; false when it was taken already (by another
/// replica that read the proposal before this one's lock).
pub async fn record_step(
    conn: &mut PgConnection,
    proposal_id: Uuid,
    step: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let taken = sqlx::query!(
        "INSERT INTO routing_steps (proposal_id, step, taken_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        proposal_id,
        step,
        now
    )
    .execute(conn)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Whom an escalation tells: the active managers of the proposer's team,
/// or every active manager when the team has none.
pub async fn managers_for(conn: &mut PgConnection, proposer_id: Uuid) -> sqlx::Result<Vec<Named>> {
    sqlx::query_as!(
        Named,
        r#"
        WITH managers AS (
            SELECT m.id, m.name, m.team, m.external_id,
                   coalesce(m.team = (SELECT p.team FROM employees p WHERE p.id = $1), false) AS same_team
            FROM employees m
            WHERE m.role = 'manager' AND m.active
        )
        SELECT id AS employee_id, name, team, external_id FROM managers
        WHERE same_team OR NOT EXISTS (SELECT 1 FROM managers WHERE same_team)
        ORDER BY name, id
        "#,
        proposer_id
    )
    .fetch_all(conn)
    .await
}
