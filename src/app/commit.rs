//! The one way a write ends. A use case runs inside [`commit`]: it gets a
//! transaction and the moment it happens, decides and writes, and hands
//! back its result, its audit events and the proposals it changed. The
//! routine then appends the events, writes the outbox (a message per
//! proposal event, with a delivery per subscribed webhook endpoint), stores
//! the idempotent result (under an `Idempotency-Key` or an inbound
//! delivery's id), commits and wakes the sequencer and the delivery
//! worker. A refused use case is
//! rolled back before anyone is answered, so its locks are gone by then.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::{AppError, outbox};
use crate::db;
use crate::db::idempotency::KeyScope;
use crate::db::inbound::Delivery;
use crate::domain::audit::{EventContent, storable_time};
use crate::state::{AppState, Wakes};
use crate::views::Proposal;

/// An `Idempotency-Key` in force for one write: the key, whose it is, and
/// a fingerprint of the whole request (a retry must be the same request).
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub scope: KeyScope,
    pub fingerprint: [u8; 32],
}

/// What a use case did in its transaction.
#[derive(Debug)]
pub struct Change<T> {
    /// What the caller is answered with.
    pub value: T,
    /// Appended to the audit log in the same transaction.
    pub events: Vec<EventContent>,
    /// Something new exists (a filing), rather than something changed.
    pub created: bool,
    /// The changed proposals as shown after the change, for the webhook
    /// messages of `events` (any not given are read when needed).
    pub proposals: Vec<Proposal>,
}

impl<T> Change<T> {
    pub fn new(value: T, events: Vec<EventContent>) -> Self {
        Change {
            value,
            events,
            created: false,
            proposals: Vec::new(),
        }
    }

    pub fn created(value: T, events: Vec<EventContent>) -> Self {
        Change {
            created: true,
            ..Change::new(value, events)
        }
    }
}

impl Change<Proposal> {
    /// A change to one proposal, which `value` shows as it now is.
    pub fn of_proposal(value: Proposal, events: Vec<EventContent>) -> Self {
        Change {
            proposals: vec![value.clone()],
            ..Change::new(value, events)
        }
    }

    /// A new proposal.
    pub fn filed(value: Proposal, events: Vec<EventContent>) -> Self {
        Change {
            created: true,
            ..Change::of_proposal(value, events)
        }
    }
}

/// How a write ended: done now, or done before under the same key (its
/// first answer, as stored).
#[derive(Debug)]
pub enum Written<T> {
    Done { value: T, created: bool },
    Replayed { body: Value, created: bool },
}

/// Stored as the status the REST API answered, so that a replay answers
/// exactly as the first time.
const CREATED: i16 = 201;
const CHANGED: i16 = 200;

/// Runs `work` in one transaction, at one moment, and ends it (see the
/// module documentation).
pub async fn commit<T, F>(state: &AppState, work: F) -> Result<T, AppError>
where
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let (value, _) = run_now(state, work).await?;
    Ok(value)
}

/// A write done whenever it is sent, at the service clock's now.
async fn run_now<T, F>(state: &AppState, work: F) -> Result<(T, bool), AppError>
where
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let now = state.clock.now();
    run(&state.pool, Some(&state.wakes), now, None::<&Keyed<'_, T>>, work).await
}

/// [`commit`] on a bare pool, for the command line (no worker to wake;
/// the running service's find the work on their own within a second).
pub async fn commit_on<T, F>(pool: &PgPool, work: F) -> Result<T, AppError>
where
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let (value, _) = run(pool, None, Utc::now(), None::<&Keyed<'_, T>>, work).await?;
    Ok(value)
}

/// [`commit`], once per idempotency key: a request already done under the
/// key is not done again, its stored result is answered instead.
pub async fn commit_once<T, F>(state: &AppState, key: Option<&IdempotencyKey>, work: F) -> Result<Written<T>, AppError>
where
    T: Serialize,
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    match key {
        Some(key) => once(state, Once::Key(key), work).await,
        None => {
            let (value, created) = run_now(state, work).await?;
            Ok(Written::Done { value, created })
        }
    }
}

/// [`commit`], once per inbound delivery: the delivery is recorded in the
/// same transaction as the work, and a delivery already done (the same id,
/// or what it signed sent again) is answered as the first time.
pub async fn commit_delivery<T, F>(state: &AppState, delivery: &Delivery, work: F) -> Result<Written<T>, AppError>
where
    T: Serialize,
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    once(state, Once::Delivery(delivery), work).await
}

/// The first answer to `delivery`, if it was done before (a retry): looked
/// up before anything else is, so that a retry is answered as the first
/// time even when what it names has changed since.
pub async fn delivered_before<T>(state: &AppState, delivery: &Delivery) -> Result<Option<Written<T>>, AppError> {
    let mut conn = state.pool.acquire().await?;
    let found = db::inbound::find(&mut conn, delivery).await?;
    Ok(found
        .map(|found| Stored::of_delivery(found, delivery))
        .filter(|stored| stored.same_request)
        .and_then(Stored::replayed))
}

/// What makes a write happen once.
#[derive(Clone, Copy)]
enum Once<'a> {
    Key(&'a IdempotencyKey),
    Delivery(&'a Delivery),
}

/// A stored first answer, as found by a repeat.
struct Stored {
    same_request: bool,
    status: Option<i16>,
    body: Option<Value>,
}

impl Stored {
    /// The recorded delivery a new one repeats: the same request when it
    /// signed the same content, or came with the same body.
    fn of_delivery(found: db::inbound::Answered, delivery: &Delivery) -> Stored {
        Stored {
            same_request: found.same_signed || found.request_hash == delivery.request_hash,
            status: found.status,
            body: found.body,
        }
    }

    /// The first answer, as a replay (none if it was stored without one).
    fn replayed<T>(self) -> Option<Written<T>> {
        let status = self.status?;
        Some(Written::Replayed {
            body: self.body.unwrap_or(Value::Null),
            created: status == CREATED,
        })
    }
}

impl Once<'_> {
    /// Takes the key (or delivery) for `conn`'s transaction, or finds what
    /// was answered under it.
    async fn claim(self, conn: &mut PgConnection) -> sqlx::Result<Option<Stored>> {
        Ok(match self {
            Once::Key(key) => db::idempotency::claim(conn, key.scope, &key.key, &key.fingerprint)
                .await?
                .map(|stored| Stored {
                    same_request: stored.request_hash == key.fingerprint,
                    status: stored.status,
                    body: stored.body,
                }),
            Once::Delivery(delivery) => db::inbound::claim(conn, delivery)
                .await?
                .map(|found| Stored::of_delivery(found, delivery)),
        })
    }

    async fn complete(self, conn: &mut PgConnection, status: i16, body: &Value) -> sqlx::Result<()> {
        match self {
            Once::Key(key) => db::idempotency::complete(conn, key.scope, &key.key, status, body).await,
            Once::Delivery(delivery) => {
                let proposal_id = body["id"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok());
                db::inbound::complete(conn, delivery, proposal_id, status, body).await
            }
        }
    }

    fn reused(self) -> AppError {
        match self {
            Once::Key(_) => AppError::IdempotencyKeyReused,
            Once::Delivery(_) => AppError::DeliveryIdReused,
        }
    }
}

async fn once<T, F>(state: &AppState, once: Once<'_>, work: F) -> Result<Written<T>, AppError>
where
    T: Serialize,
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let keyed = Keyed {
        once,
        store: |value: &T| serde_json::to_value(value),
    };
    let mut tx = state.pool.begin().await?;
    if let Some(stored) = once.claim(&mut tx).await? {
        rollback(tx).await;
        if !stored.same_request {
            return Err(once.reused());
        }
        return stored
            .replayed()
            .ok_or_else(|| anyhow::anyhow!("a write done once was stored without its answer").into());
    }
    let (value, created) = finish(tx, Some(&state.wakes), state.clock.now(), Some(&keyed), work).await?;
    Ok(Written::Done { value, created })
}

/// A write done once, and how its result is stored.
struct Keyed<'a, T> {
    once: Once<'a>,
    store: fn(&T) -> serde_json::Result<Value>,
}

async fn run<T, F>(
    pool: &PgPool,
    wakes: Option<&Wakes>,
    now: DateTime<Utc>,
    keyed: Option<&Keyed<'_, T>>,
    work: F,
) -> Result<(T, bool), AppError>
where
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let tx = pool.begin().await?;
    finish(tx, wakes, now, keyed, work).await
}

/// Does the work in `tx` and ends it: events, outbox, idempotent result,
/// commit, wake; or, when the work is refused, a rollback.
async fn finish<T, F>(
    mut tx: Transaction<'_, Postgres>,
    wakes: Option<&Wakes>,
    now: DateTime<Utc>,
    keyed: Option<&Keyed<'_, T>>,
    work: F,
) -> Result<(T, bool), AppError>
where
    F: AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<Change<T>, AppError>,
{
    let now = storable_time(now);
    let change = match work(&mut tx, now).await {
        Ok(change) => change,
        Err(error) => {
            rollback(tx).await;
            return Err(error);
        }
    };
    let messages = outbox::messages(&mut tx, &change.events, &change.proposals, now).await?;
    let deliveries = db::audit::record(&mut tx, &change.events, &messages).await?;
    if let Some(Keyed { once, store }) = keyed {
        let body = store(&change.value).map_err(anyhow::Error::from)?;
        let status = if change.created { CREATED } else { CHANGED };
        once.complete(&mut tx, status, &body).await?;
    }
    tx.commit().await?;
    if let Some(wakes) = wakes {
        if !change.events.is_empty() {
            wakes.audit.notify_one();
        }
        if deliveries > 0 {
            wakes.delivery.notify_one();
        }
    }
    Ok((change.value, change.created))
}

/// Ends a transaction that wrote nothing worth keeping, now rather than
/// when its connection is next used, so its row locks are released before
/// the caller is answered.
async fn rollback(tx: Transaction<'_, Postgres>) {
    if let Err(error) = tx.rollback().await {
        tracing::debug!(%error, "rolling back a refused write failed; the connection is discarded");
    }
}
