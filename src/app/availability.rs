//! Who is on shift: an agent says so (REST, the inbox page, a helpdesk),
//! and it lapses by itself after `routing.availability_idle_minutes`
//! without a request from them. Saying it is an audit event; a lapse is
//! not (nobody acted), and neither is the activity that keeps it.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::commit::{Change, commit};
use super::{Actor, AppError};
use crate::db;
use crate::domain::audit::EventContent;
use crate::domain::availability::Availability;
use crate::domain::employee::{Person, Role};
use crate::domain::event::EventType;
use crate::state::AppState;

/// An agent's availability as an answer shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnShift {
    /// On shift now: said so, and not lapsed.
    pub available: bool,
    /// When it lapses unless they are active again (while on shift).
    pub until: Option<DateTime<Utc>>,
    /// When they last said they are on shift or off it.
    pub changed_at: Option<DateTime<Utc>>,
}

/// How long on shift lasts without a request.
pub(crate) fn idle(state: &AppState) -> Duration {
    Duration::minutes(i64::from(state.settings.routing.availability_idle_minutes))
}

fn on_shift(found: Option<Availability>, idle: Duration, now: DateTime<Utc>) -> OnShift {
    let available = found.is_some_and(|said| said.on_shift(idle, now));
    OnShift {
        available,
        until: found.and_then(|said| said.until(idle)).filter(|_| available),
        changed_at: found.map(|said| said.changed_at),
    }
}

/// The caller's availability (an agent's; anyone else is never on shift).
pub async fn current(state: &AppState, actor: &Actor) -> Result<OnShift, AppError> {
    let agent = actor.require(Role::Agent)?;
    let mut conn = state.pool.acquire().await?;
    let found = db::availability::find(&mut conn, agent.id).await?;
    Ok(on_shift(found, idle(state), state.clock.now()))
}

/// The agent says they are on shift (`available`), or off it.
/// An integration may put its agents on shift, never off it (that lapses
/// by itself, or the agent says so): taking peers off shift is how a
/// token could make way for acting alone.
pub async fn set(state: &AppState, actor: &Actor, available: bool) -> Result<OnShift, AppError> {
    let agent = actor.require(Role::Agent)?;
    if actor.via_integration.is_some() && !available {
        return Err(AppError::forbidden(
            "an integration may put an agent on shift, not off it: it lapses by itself, or the agent says so",
        ));
    }
    let idle = idle(state);
    commit(state, async |conn, now| {
        let before = db::availability::find(conn, agent.id).await?;
        let was = on_shift(before, idle, now).available;
        let said = Availability {
            available,
            // Another replica's clock may run ahead: never after now.
            changed_at: if was == available {
                before.map_or(now, |said| said.changed_at.min(now))
            } else {
                now
            },
            last_active_at: now,
        };
        db::availability::set(conn, agent.id, &said).await?;
        let events = if was == available {
            vec![]
        } else {
            vec![EventContent::new(
                EventType::EmployeeAvailabilityChanged,
                agent.id,
                actor.audit_ids(),
                json!({ "before": { "available": was }, "after": { "available": available } }),
                now,
            )]
        };
        Ok(Change::new(on_shift(Some(said), idle, now), events))
    })
    .await
}

/// Notes a request by `person`: an agent on shift stays on shift. At most
/// one write a minute per person per replica, off the request's path.
pub fn noticed(state: &AppState, person: &Person) {
    let now = state.clock.now();
    if person.role != Role::Agent || !state.activity.should_write(person.id, now) {
        return;
    }
    let (pool, id) = (state.pool.clone(), person.id);
    let idle_secs = idle(state).num_seconds() as f64;
    tokio::spawn(async move {
        if let Err(error) = db::availability::touch(&pool, id, now, idle_secs).await {
            tracing::warn!(%error, "could not note an agent's activity");
        }
    });
}
