//! Outbound webhooks: the admin's endpoints (register, change, delete,
//! rotate the secret, resend, replay), and the delivery worker's step for
//! one claimed delivery (send it, log the attempt, decide what follows,
//! disable an endpoint that is gone or keeps failing). Every change is
//! audited through the commit routine.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::commit::{Change, commit};
use super::{Actor, AppError};
use crate::db;
use crate::db::webhooks::{AttemptRecord, Claimed, DeliveryRow, DeliveryState, EndpointRow, SucceededClaim};
use crate::domain::audit::{ActorIds, EventContent};
use crate::domain::employee::Role;
use crate::domain::event::EventType;
use crate::sealing::{Purpose, Sealer};
use crate::secrets;
use crate::state::AppState;
use crate::webhooks::schedule::{AttemptResult, Next};
use crate::webhooks::sender::{Outgoing, Sender, Sent};
use crate::webhooks::signature::SigningKey;

/// An endpoint as an admin describes it (already checked).
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub url: String,
    pub description: String,
    /// `None`: every proposal event.
    pub event_types: Option<Vec<EventType>>,
    pub enabled: bool,
}

/// A change to an endpoint: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: every proposal event again.
    pub event_types: Option<Option<Vec<EventType>>>,
    pub enabled: Option<bool>,
}

/// An endpoint with its secret, shown on creation and rotation only (so
/// not `Debug`: it never reaches a log).
#[derive(Clone)]
pub struct WithSecret {
    pub row: EndpointRow,
    pub secret: String,
}

fn names(types: &Option<Vec<EventType>>) -> Option<Vec<String>> {
    types
        .as_ref()
        .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect())
}

pub async fn create_endpoint(state: &AppState, actor: &Actor, spec: EndpointSpec) -> Result<WithSecret, AppError> {
    actor.require(Role::Admin)?;
    let secret = secrets::new_signing_secret();
    commit(state, async |conn, now| {
        let id = Uuid::now_v7();
        let row = EndpointRow {
            id,
            url: spec.url,
            description: spec.description,
            event_types: names(&spec.event_types),
            enabled: spec.enabled,
            disabled_reason: (!spec.enabled).then(|| "created disabled".to_owned()),
            disabled_at: (!spec.enabled).then_some(now),
            secret: state.sealer.seal(Purpose::EndpointSecret(id), &secret),
            previous_secret: None,
            previous_secret_until: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        db::webhooks::insert_endpoint(conn, &row).await?;
        let event = EventContent::new(
            EventType::WebhookEndpointCreated,
            row.id,
            actor.audit_ids(),
            json!({ "after": row }),
            now,
        );
        Ok(Change::created(WithSecret { row, secret }, vec![event]))
    })
    .await
}

async fn locked(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<EndpointRow, AppError> {
    db::webhooks::find_endpoint_for_update(conn, id)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// Changes an endpoint. Enabling it clears why it was disabled and its
/// failing streak; its pending deliveries go out again.
pub async fn update_endpoint(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    change: EndpointChange,
) -> Result<EndpointRow, AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        let before = locked(conn, id).await?;
        let mut after = before.clone();
        after.url = change.url.unwrap_or(after.url);
        after.description = change.description.unwrap_or(after.description);
        if let Some(types) = change.event_types {
            after.event_types = names(&types);
        }
        match change.enabled {
            Some(true) if !before.enabled => {
                after.enabled = true;
                after.disabled_reason = None;
                after.disabled_at = None;
                after.failing_since = None;
            }
            Some(false) if before.enabled => {
                after.enabled = false;
                after.disabled_reason = Some("disabled by an admin".to_owned());
                after.disabled_at = Some(now);
            }
            _ => {}
        }
        after.updated_at = now;
        db::webhooks::update_endpoint(conn, &after).await?;
        if after.enabled != before.enabled {
            db::webhooks::park_deliveries(conn, id, !after.enabled, now).await?;
        }
        let event = EventContent::new(
            EventType::WebhookEndpointUpdated,
            id,
            actor.audit_ids(),
            json!({ "before": before, "after": after }),
            now,
        );
        Ok(Change::new(after, vec![event]))
    })
    .await
    .inspect(|row| {
        if row.enabled {
            state.wakes.delivery.notify_one();
        }
    })
}

/// Deletes an endpoint: nothing more is sent to it, its pending deliveries
/// fail, and its delivery log stays (until the retention removes it).
pub async fn delete_endpoint(state: &AppState, actor: &Actor, id: Uuid) -> Result<(), AppError> {
    actor.require(Role::Admin)?;
    commit(state, async |conn, now| {
        let before = locked(conn, id).await?;
        let failed = db::webhooks::delete_endpoint(conn, id, now).await?;
        let event = EventContent::new(
            EventType::WebhookEndpointDeleted,
            id,
            actor.audit_ids(),
            json!({ "before": before, "pending_deliveries_failed": failed }),
            now,
        );
        Ok(Change::new((), vec![event]))
    })
    .await
}

/// A new secret; the old one keeps signing for `webhooks.secret_overlap_secs`
/// (a secret still in its overlap from an earlier rotation stops now).
pub async fn rotate_secret(state: &AppState, actor: &Actor, id: Uuid) -> Result<WithSecret, AppError> {
    actor.require(Role::Admin)?;
    let secret = secrets::new_signing_secret();
    let overlap = chrono::Duration::seconds(i64::try_from(state.settings.webhooks.secret_overlap_secs).unwrap_or(0));
    commit(state, async |conn, now| {
        let mut row = locked(conn, id).await?;
        let old = std::mem::replace(&mut row.secret, state.sealer.seal(Purpose::EndpointSecret(id), &secret));
        (row.previous_secret, row.previous_secret_until) = if overlap > chrono::Duration::zero() {
            (Some(old), Some(now + overlap))
        } else {
            (None, None)
        };
        row.updated_at = now;
        db::webhooks::update_endpoint(conn, &row).await?;
        let event = EventContent::new(
            EventType::WebhookEndpointSecretRotated,
            id,
            actor.audit_ids(),
            json!({ "previous_secret_until": row.previous_secret_until }),
            now,
        );
        Ok(Change::new(WithSecret { row, secret }, vec![event]))
    })
    .await
}

/// Sends a delivery again, now, under the same `webhook-id`.
pub async fn redeliver(state: &AppState, actor: &Actor, delivery_id: Uuid) -> Result<DeliveryRow, AppError> {
    actor.require(Role::Admin)?;
    let row = commit(state, async |conn, now| {
        let delivery = db::webhooks::find_delivery(conn, delivery_id)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        let endpoint = locked(conn, delivery.endpoint_id).await?;
        if !endpoint.enabled {
            return Err(AppError::EndpointDisabled);
        }
        db::webhooks::redeliver(conn, delivery_id, now).await?;
        let row = db::webhooks::find_delivery(conn, delivery_id)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        let event = EventContent::new(
            EventType::WebhookDeliveryRedelivered,
            delivery_id,
            actor.audit_ids(),
            json!({ "message_id": row.message_id, "endpoint_id": row.endpoint_id, "status_before": delivery.status }),
            now,
        );
        Ok(Change::new(row, vec![event]))
    })
    .await?;
    state.wakes.delivery.notify_one();
    Ok(row)
}

/// Outage recovery: sends the endpoint every stored message since `since`
/// again (only those that failed, unless `only_failed` is false). Answers
/// how many deliveries were queued.
pub async fn replay(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    since: DateTime<Utc>,
    only_failed: bool,
) -> Result<u64, AppError> {
    actor.require(Role::Admin)?;
    let queued = commit(state, async |conn, now| {
        let endpoint = locked(conn, id).await?;
        if !endpoint.enabled {
            return Err(AppError::EndpointDisabled);
        }
        let queued = db::webhooks::replay(conn, &endpoint, since, only_failed, now).await?;
        let event = EventContent::new(
            EventType::WebhookEndpointReplayed,
            id,
            actor.audit_ids(),
            json!({ "since": since, "only_failed": only_failed, "queued": queued }),
            now,
        );
        Ok(Change::new(queued, vec![event]))
    })
    .await?;
    state.wakes.delivery.notify_one();
    Ok(queued)
}

// ------------------------------------------------------------- delivery

/// The keys that sign now: the current secret, and the previous one while
/// its overlap lasts (both stored sealed).
fn signing_keys(sealer: &Sealer, claimed: &Claimed, now: DateTime<Utc>) -> anyhow::Result<Vec<SigningKey>> {
    let key = |sealed: &str| -> anyhow::Result<SigningKey> {
        Ok(SigningKey::from_secret(
            &sealer.open(Purpose::EndpointSecret(claimed.endpoint_id), sealed)?,
        )?)
    };
    let mut keys = vec![key(&claimed.secret)?];
    if let (Some(previous), Some(until)) = (&claimed.previous_secret, claimed.previous_secret_until)
        && until > now
    {
        keys.push(key(previous)?);
    }
    Ok(keys)
}

/// How an attempt ended, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Succeeded,
    WillRetry,
    Failed,
    /// Another worker took the delivery after this one's lease ran out.
    ClaimLost,
}

impl Delivered {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivered::Succeeded => "succeeded",
            Delivered::WillRetry => "retry",
            Delivered::Failed => "failed",
            Delivered::ClaimLost => "claim_lost",
        }
    }
}

/// One attempt made, not yet recorded.
#[derive(Debug)]
pub struct Attempted {
    pub claimed: Claimed,
    pub started_at: DateTime<Utc>,
    pub sent: Sent,
}

impl Attempted {
    /// Any 2xx, even one whose body broke off mid-way.
    fn succeeded(&self) -> bool {
        self.sent.status.is_some_and(|status| (200..300).contains(&status))
    }

    fn record(&self) -> AttemptRecord {
        AttemptRecord {
            delivery_id: self.claimed.delivery_id,
            attempt: self.claimed.attempts,
            redelivery: self.claimed.redelivery,
            url: self.claimed.url.clone(),
            started_at: self.started_at,
            duration_ms: i32::try_from(self.sent.duration.as_millis()).unwrap_or(i32::MAX),
            status_code: self.sent.status.map(i32::from),
            response_body: self.sent.body.clone(),
            error: self.sent.error.clone(),
        }
    }
}

/// Sends one claimed delivery, outside any transaction. Records nothing:
/// see [`record`].
pub async fn attempt(sender: &Sender, sealer: &Sealer, claimed: Claimed) -> Attempted {
    let started_at = Utc::now();
    let message_id = claimed.message_id.to_string();
    let sent = match signing_keys(sealer, &claimed, started_at) {
        Ok(keys) => {
            sender
                .send(&Outgoing {
                    url: &claimed.url,
                    message_id: &message_id,
                    body: &claimed.body,
                    keys: &keys,
                })
                .await
        }
        Err(error) => Sent {
            status: None,
            retry_after: None,
            body: None,
            error: Some(format!("the endpoint's secret cannot sign: {error}")),
            duration: std::time::Duration::ZERO,
        },
    };
    Attempted {
        claimed,
        started_at,
        sent,
    }
}

/// Records finished attempts and decides what follows each: the successes
/// together in one transaction (the common case, kept cheap), every other
/// one in its own (retry, give up, disable the endpoint). Answers each
/// attempt's endpoint and outcome, for metrics.
pub async fn record(state: &AppState, attempts: &[Attempted]) -> Result<Vec<(Uuid, Delivered)>, AppError> {
    let (succeeded, failed): (Vec<&Attempted>, Vec<&Attempted>) = attempts.iter().partition(|a| a.succeeded());
    let mut outcomes = Vec::with_capacity(attempts.len());
    if !succeeded.is_empty() {
        let records: Vec<AttemptRecord> = succeeded.iter().map(|a| a.record()).collect();
        let claims: Vec<SucceededClaim> = succeeded
            .iter()
            .map(|a| SucceededClaim {
                delivery_id: a.claimed.delivery_id,
                claim: a.claimed.claim,
                claimed_redelivery: a.claimed.redelivery,
                endpoint_id: a.claimed.endpoint_id,
                status_code: a.sent.status.map(i32::from),
            })
            .collect();
        let kept = commit(state, async |conn, now| {
            let kept = db::webhooks::record_successes(conn, &records, &claims, now).await?;
            Ok(Change::new(kept, vec![]))
        })
        .await?;
        outcomes.extend(succeeded.iter().map(|a| {
            let delivered = if kept.contains(&a.claimed.delivery_id) {
                Delivered::Succeeded
            } else {
                Delivered::ClaimLost
            };
            (a.claimed.endpoint_id, delivered)
        }));
    }
    for attempted in failed {
        outcomes.push((attempted.claimed.endpoint_id, record_failure(state, attempted).await?));
    }
    Ok(outcomes)
}

/// Records an attempt that did not succeed: when to retry (the schedule,
/// or the receiver's `Retry-After`), or that the delivery failed, and
/// whether the endpoint is gone (410) or has failed for too long.
async fn record_failure(state: &AppState, attempted: &Attempted) -> Result<Delivered, AppError> {
    let (claimed, sent) = (&attempted.claimed, &attempted.sent);
    let result = match sent.status {
        Some(status) => AttemptResult::Answered {
            status,
            retry_after: sent.retry_after.clone(),
        },
        None => AttemptResult::Failed,
    };
    let settings = &state.settings.webhooks;
    let step = u32::try_from(claimed.schedule_step).unwrap_or(0);
    let next = settings.retry_schedule().next(&result, step, Utc::now(), rand_unit());
    let window =
        chrono::Duration::seconds(i64::try_from(settings.disable_after_failing_secs).unwrap_or(i64::MAX / 1000));
    let attempt = attempted.record();
    commit(state, async |conn, now| {
        db::webhooks::insert_attempt(conn, &attempt).await?;
        let (delivery_state, disable) = match &next {
            Next::Succeeded => (DeliveryState::Succeeded, None),
            Next::RetryAt { at, step } => (
                DeliveryState::RetryAt {
                    at: *at,
                    step: i32::try_from(*step).unwrap_or(i32::MAX),
                },
                None,
            ),
            Next::GaveUp => (DeliveryState::Failed, None),
            Next::EndpointGone => (DeliveryState::Failed, Some("the endpoint answered 410 Gone".to_owned())),
        };
        // The endpoint's row before the delivery's, as an admin's change
        // takes them, so the two never wait for each other.
        let succeeded = delivery_state == DeliveryState::Succeeded;
        let failing_since = db::webhooks::note_endpoint_result(conn, claimed.endpoint_id, succeeded, now).await?;
        let kept = db::webhooks::finish_attempt(
            conn,
            claimed.delivery_id,
            claimed.claim,
            claimed.redelivery,
            delivery_state,
            attempt.status_code,
            attempt.error.as_deref(),
            now,
        )
        .await?;
        if !kept {
            return Ok(Change::new(Delivered::ClaimLost, vec![]));
        }
        let disable = disable.or_else(|| {
            failing_since
                .filter(|since| now - *since >= window)
                .map(|since| format!("every attempt failed since {}", since.to_rfc3339()))
        });
        let mut events = vec![];
        if let Some(reason) = disable
            && db::webhooks::disable_endpoint(conn, claimed.endpoint_id, &reason, now).await?
        {
            tracing::warn!(endpoint = %claimed.endpoint_id, reason, "webhook endpoint disabled");
            events.push(EventContent::new(
                EventType::WebhookEndpointDisabled,
                claimed.endpoint_id,
                ActorIds::default(),
                json!({ "reason": reason, "delivery_id": claimed.delivery_id }),
                now,
            ));
        }
        let delivered = match delivery_state {
            DeliveryState::Succeeded => Delivered::Succeeded,
            DeliveryState::Failed => Delivered::Failed,
            DeliveryState::RetryAt { .. } => Delivered::WillRetry,
        };
        Ok(Change::new(delivered, events))
    })
    .await
}

/// A uniform random number in [0, 1), for the retry jitter.
fn rand_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
