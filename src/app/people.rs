//! People and their tokens: create and change a person (deactivating
//! someone, or taking them off the front line, withdraws their pending
//! proposals in the same transaction), issue and revoke tokens, and the
//! first admin of a fresh install. Nothing is deleted: every change is an
//! audit event.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::commit::{Change, commit, commit_on};
use super::{Actor, AppError};
use crate::db;
use crate::db::employees::{EmployeeRow, NewEmployee};
use crate::db::tokens::TokenRow;
use crate::domain::audit::{ActorIds, EventContent};
use crate::domain::employee::{Role, check_admins_remain, check_may_hold_token, stops_administering};
use crate::domain::event::EventType;
use crate::secrets;
use crate::state::AppState;

/// A person to create, their fields already checked.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team: Option<String>,
    /// Signer groups (e.g. `senior`), names already checked.
    pub groups: Vec<String>,
    pub external_id: Option<String>,
}

/// A change to a person: `None` keeps a field, `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default)]
pub struct PersonChange {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub team: Option<Option<String>>,
    pub groups: Option<Vec<String>>,
    pub external_id: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A token as issued: the clear `token` exists only in this answer.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub row: TokenRow,
    pub token: String,
}

pub async fn create_employee(state: &AppState, actor: &Actor, person: NewPerson) -> Result<EmployeeRow, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        let row = insert_employee(conn, &person).await?;
        let event = EventContent::new(
            EventType::EmployeeCreated,
            row.id,
            actor.audit_ids(),
            json!({ "after": row }),
            now,
        );
        Ok(Change::created(row, vec![event]))
    })
    .await
}

/// A person created by a command (`source`: bootstrap-admin, demo), not
/// by anyone signed in; adds its `employee.created` event to `events`.
async fn insert_by_command(
    conn: &mut PgConnection,
    person: &NewPerson,
    source: &str,
    now: DateTime<Utc>,
    events: &mut Vec<EventContent>,
) -> Result<EmployeeRow, AppError> {
    let created = insert_employee(conn, person).await?;
    events.push(EventContent::new(
        EventType::EmployeeCreated,
        created.id,
        ActorIds::default(),
        json!({ "after": created, "source": source }),
        now,
    ));
    Ok(created)
}

async fn insert_employee(conn: &mut PgConnection, person: &NewPerson) -> Result<EmployeeRow, AppError> {
    Ok(db::employees::insert(
        conn,
        &NewEmployee {
            name: &person.name,
            email: &person.email,
            role: person.role,
            team: person.team.as_deref(),
            groups: &person.groups,
            external_id: person.external_id.as_deref(),
        },
    )
    .await?)
}

/// Changes a person. Someone who stops being an active agent (deactivated,
/// or given another role) has their pending proposals withdrawn: nobody
/// stands behind them any more. The last active admin stays one.
pub async fn update_employee(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    change: PersonChange,
) -> Result<EmployeeRow, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        update_employee_in(conn, actor, id, change, now).await
    })
    .await
}

pub async fn update_employee_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    change: PersonChange,
    now: DateTime<Utc>,
) -> Result<Change<EmployeeRow>, AppError> {
    let before = db::employees::find_for_update(conn, id)
        .await?
        .ok_or(AppError::NotFound("employee"))?;
    let mut after = before.clone();
    after.name = change.name.unwrap_or(after.name);
    after.email = change.email.unwrap_or(after.email);
    after.role = change.role.unwrap_or(after.role);
    after.team = change.team.unwrap_or(after.team);
    after.groups = change.groups.unwrap_or(after.groups);
    after.external_id = change.external_id.unwrap_or(after.external_id);
    after.active = change.active.unwrap_or(after.active);
    if stops_administering(&before.person(), &after.person()) {
        let others = db::employees::other_active_admins(conn, id).await?;
        check_admins_remain(&before.person(), &after.person(), others)?;
    }
    let after = db::employees::update(conn, &after).await?;
    let mut events = vec![EventContent::new(
        EventType::EmployeeUpdated,
        id,
        actor.audit_ids(),
        json!({ "before": before, "after": after }),
        now,
    )];
    // Deactivation ends every token and web session; reactivating gives
    // none back.
    if before.active && !after.active {
        db::web::end_sessions_of(conn, id, now).await?;
        for token in db::tokens::revoke_all_of(conn, id).await? {
            events.push(EventContent::new(
                EventType::TokenRevoked,
                token,
                actor.audit_ids(),
                json!({ "employee_id": id, "reason": "the employee was deactivated" }),
                now,
            ));
        }
    }
    if !after.person().is_active_agent() {
        let reason = if after.active {
            format!("the proposer is now {} and no longer an agent", after.role.as_str())
        } else {
            "the proposer was deactivated".to_owned()
        };
        let withdrawn = super::proposals::withdraw_pending_of(conn, id, actor.audit_ids(), &reason, now).await?;
        events.extend(withdrawn);
    }
    Ok(Change::new(after, events))
}

/// Issues a token for an active person.
pub async fn issue_token(
    state: &AppState,
    actor: &Actor,
    employee_id: Uuid,
    name: Option<String>,
) -> Result<IssuedToken, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        issue_token_in(conn, actor.audit_ids(), employee_id, name.as_deref(), now).await
    })
    .await
}

pub async fn issue_token_in(
    conn: &mut PgConnection,
    actor: ActorIds,
    employee_id: Uuid,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Change<IssuedToken>, AppError> {
    let employee = db::employees::find_for_update(conn, employee_id)
        .await?
        .ok_or(AppError::NotFound("employee"))?;
    check_may_hold_token(&employee.person())?;
    let (token, hash) = secrets::new_api_token();
    let row = db::tokens::insert(conn, db::tokens::Owner::Employee(employee_id), name, &hash).await?;
    let event = EventContent::new(
        EventType::TokenIssued,
        row.id,
        actor,
        json!({ "employee_id": employee_id, "name": row.name }),
        now,
    );
    Ok(Change::created(IssuedToken { row, token }, vec![event]))
}

/// Revokes a token (a person's or an integration's), effective on the next
/// request. Revoking twice keeps the first revocation time.
pub async fn revoke_token(state: &AppState, actor: &Actor, token_id: Uuid) -> Result<TokenRow, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        let row = db::tokens::revoke(conn, token_id)
            .await?
            .ok_or(AppError::NotFound("token"))?;
        let event = EventContent::new(
            EventType::TokenRevoked,
            row.id,
            actor.audit_ids(),
            json!({ "employee_id": row.employee_id, "integration_id": row.integration_id, "revoked_at": row.revoked_at }),
            now,
        );
        Ok(Change::new(row, vec![event]))
    })
    .await
}

/// `countersign bootstrap-admin`: a fresh token for the admin with this
/// email, creating them first if nobody has that email, so a fresh install
/// can be set up by script. Refuses to promote an existing non-admin.
pub async fn bootstrap_admin(pool: &PgPool, email: &str, name: &str) -> anyhow::Result<String> {
    let email = email.trim();
    let name = name.trim();
    anyhow::ensure!(
        email.contains('@') && email.len() <= 254,
        "--email must be an email address"
    );
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "--name must be 1-200 characters"
    );
    let issued = commit_on(pool, async |conn, now| {
        // One bootstrap at a time, so two scripts racing create one admin.
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('countersign.bootstrap-admin'))")
            .execute(&mut *conn)
            .await?;
        let mut events = Vec::new();
        let admin = match db::employees::find_by_email(conn, email).await? {
            Some(existing) => {
                if !(existing.role == Role::Admin && existing.active) {
                    return Err(anyhow::anyhow!(
                        "{email} exists as an {} {}; bootstrap-admin only issues tokens to active admins",
                        if existing.active { "active" } else { "inactive" },
                        existing.role.as_str()
                    )
                    .into());
                }
                existing
            }
            None => {
                let person = NewPerson {
                    name: name.to_owned(),
                    email: email.to_owned(),
                    role: Role::Admin,
                    team: None,
                    groups: Vec::new(),
                    external_id: None,
                };
                insert_by_command(conn, &person, "bootstrap-admin", now, &mut events).await?
            }
        };
        let mut issued = issue_token_in(conn, ActorIds::default(), admin.id, Some("bootstrap-admin"), now).await?;
        events.append(&mut issued.events);
        Ok(Change::created(issued.value, events))
    })
    .await
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(issued.token)
}

/// A member of the demo team, with a fresh token.
#[derive(Debug, Clone)]
pub struct DemoMember {
    /// The shell variable `countersign demo` prints the token as.
    pub variable: &'static str,
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    pub token: String,
}

/// `countersign demo`: a small team to try Countersign with at once (two
/// agents in billing, one in support, a manager), created if absent, each
/// given a fresh token. Emails are under example.com, so they never reach
/// anyone.
pub async fn demo_team(pool: &PgPool) -> anyhow::Result<Vec<DemoMember>> {
    const TEAM: [(&str, &str, &str, Role, Option<&str>); 4] = [
        ("ADA", "Ada Agent", "ada@demo.example.com", Role::Agent, Some("billing")),
        ("BEN", "Ben Agent", "ben@demo.example.com", Role::Agent, Some("billing")),
        (
            "CLEO",
            "Cleo Agent",
            "cleo@demo.example.com",
            Role::Agent,
            Some("support"),
        ),
        (
            "MONA",
            "Mona Manager",
            "mona@demo.example.com",
            Role::Manager,
            Some("billing"),
        ),
    ];
    let members = commit_on(pool, async |conn, now| {
        let mut events = Vec::new();
        let mut members = Vec::new();
        for (variable, name, email, role, team) in TEAM {
            let person = match db::employees::find_by_email(conn, email).await? {
                Some(existing) => existing,
                None => {
                    let person = NewPerson {
                        name: name.to_owned(),
                        email: email.to_owned(),
                        role,
                        team: team.map(str::to_owned),
                        groups: Vec::new(),
                        external_id: None,
                    };
                    insert_by_command(conn, &person, "demo", now, &mut events).await?
                }
            };
            let mut issued = issue_token_in(conn, ActorIds::default(), person.id, Some("demo"), now).await?;
            events.append(&mut issued.events);
            members.push(DemoMember {
                variable,
                name: person.name,
                role: person.role,
                team: person.team,
                token: issued.value.token,
            });
        }
        Ok(Change::created(members, events))
    })
    .await
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(members)
}
