//! SQL for outbound webhooks: endpoints, the outbox (messages and their
//! deliveries), claiming due deliveries across replicas, and the attempt log.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// An endpoint's row. Its secrets are never serialised (audit events
/// carry rows) nor shown by `Debug`.
#[derive(Clone, serde::Serialize)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// `None`: every proposal event.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("secret", &"…")
            .finish_non_exhaustive()
    }
}

/// Live endpoints by a WHERE clause (and locking or ordering) in `$suffix`.
macro_rules! select_endpoints {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            EndpointRow,
            r#"SELECT id, url, description, event_types, enabled, disabled_reason, disabled_at, secret,
                      previous_secret, previous_secret_until, failing_since, created_at, updated_at
               FROM webhook_endpoints "# + $suffix
            $(, $arg)*
        )
    };
}

pub async fn insert_endpoint(conn: &mut PgConnection, row: &EndpointRow) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, disabled_at,
                                       secret, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        row.id,
        row.url,
        row.description,
        row.event_types.as_deref(),
        row.enabled,
        row.disabled_reason,
        row.disabled_at,
        row.secret,
        row.created_at,
        row.updated_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_endpoint(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EndpointRow>> {
    select_endpoints!("WHERE id = $1 AND deleted_at IS NULL", id)
        .fetch_optional(conn)
        .await
}

pub async fn find_endpoint_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EndpointRow>> {
    // NO KEY UPDATE: a commit adding a delivery (its foreign key takes KEY
    // SHARE on the endpoint) is not held up by an admin's change.
    select_endpoints!("WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE", id)
        .fetch_optional(conn)
        .await
}

pub async fn list_endpoints(
    conn: &mut PgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<EndpointRow>> {
    select_endpoints!(
        "WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Writes every changeable field of `row`.
pub async fn update_endpoint(conn: &mut PgConnection, row: &EndpointRow) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE webhook_endpoints
        SET url = $2, description = $3, event_types = $4, enabled = $5, disabled_reason = $6, disabled_at = $7,
            secret = $8, previous_secret = $9, previous_secret_until = $10, failing_since = $11, updated_at = $12
        WHERE id = $1 AND deleted_at IS NULL
        "#,
        row.id,
        row.url,
        row.description,
        row.event_types.as_deref(),
        row.enabled,
        row.disabled_reason,
        row.disabled_at,
        row.secret,
        row.previous_secret,
        row.previous_secret_until,
        row.failing_since,
        row.updated_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes an endpoint (its logs stay); its pending deliveries fail.
pub async fn delete_endpoint(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<u64> {
    sqlx::query!(
        "UPDATE webhook_endpoints SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        id,
        now
    )
    .execute(&mut *conn)
    .await?;
    let failed = sqlx::query!(
        r#"
        UPDATE webhook_deliveries SET status = 'failed', last_error = 'the endpoint was deleted', claim = NULL,
               updated_at = $2
        WHERE endpoint_id = $1 AND status = 'pending'
        "#,
        id,
        now
    )
    .execute(conn)
    .await?;
    Ok(failed.rows_affected())
}

// ---------------------------------------------------------------- outbox

/// One message for the outbox, ready to send.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboundMessage {
    pub id: Uuid,
    pub event_type: &'static str,
    pub proposal_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Whether an endpoint (enabled or not) subscribes to any of these types.
pub async fn anyone_subscribes(conn: &mut PgConnection, event_types: &[&str]) -> sqlx::Result<bool> {
    let types: Vec<String> = event_types.iter().map(|t| (*t).to_owned()).collect();
    let found = sqlx::query_scalar!(
        r#"
        SELECT EXISTS (
            SELECT 1 FROM webhook_endpoints
            WHERE deleted_at IS NULL AND (event_types IS NULL OR event_types && $1)
        ) AS "found!"
        "#,
        &types
    )
    .fetch_one(conn)
    .await?;
    Ok(found)
}

/// A delivery a worker holds: what to send, where, signed with what
/// (the secrets are not shown by `Debug`).
#[derive(Clone)]
pub struct Claimed {
    pub delivery_id: Uuid,
    pub claim: Uuid,
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub body: String,
    pub attempts: i32,
    pub schedule_step: i32,
    pub redelivery: bool,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("delivery_id", &self.delivery_id)
            .field("message_id", &self.message_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Takes up to `limit` due deliveries of live, enabled endpoints, oldest
/// due first, and holds them for `lease_secs`: rows another worker is
/// taking are skipped, so replicas never take the same one. A worker that
/// dies leaves its deliveries due again when the lease runs out. Due and
/// lease are read on the database's clock, the one clock every replica shares.
/// Endpoints in `skip` (those this worker already sends enough to) are
/// left for later.
pub async fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease_secs: f64,
    skip: &[Uuid],
) -> sqlx::Result<Vec<Claimed>> {
    let claim = Uuid::now_v7();
    sqlx::query_as!(
        Claimed,
        r#"
        WITH due AS (
            SELECT d.id
            FROM webhook_deliveries d
            JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled AND e.deleted_at IS NULL
            WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp() AND d.endpoint_id <> ALL ($4)
            ORDER BY d.next_attempt_at
            LIMIT $1
            FOR UPDATE OF d SKIP LOCKED
        ), taken AS (
            UPDATE webhook_deliveries d
            SET claim = $3, next_attempt_at = clock_timestamp() + make_interval(secs => $2),
                attempts = d.attempts + 1
            FROM due WHERE d.id = due.id
            RETURNING d.id, d.message_id, d.endpoint_id, d.attempts, d.schedule_step, d.redelivery
        )
        SELECT t.id AS delivery_id, $3::uuid AS "claim!", t.message_id, t.endpoint_id, m.event_type,
               e.url, e.secret, e.previous_secret, e.previous_secret_until, m.body,
               t.attempts, t.schedule_step, t.redelivery
        FROM taken t
        JOIN webhook_messages m ON m.id = t.message_id
        JOIN webhook_endpoints e ON e.id = t.endpoint_id
        "#,
        limit,
        lease_secs,
        claim,
        skip,
    )
    .fetch_all(conn)
    .await
}

/// Gives claimed deliveries back untried: due again at once, their
/// attempt not counted.
pub async fn release(conn: &mut PgConnection, deliveries: &[Uuid], claim: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE webhook_deliveries SET claim = NULL, next_attempt_at = clock_timestamp(), attempts = attempts - 1
        WHERE id = ANY ($1) AND claim = $2
        "#,
        deliveries,
        claim
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An attempt made, for the log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptRecord {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub redelivery: bool,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

pub async fn insert_attempt(conn: &mut PgConnection, attempt: &AttemptRecord) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO webhook_attempts (id, delivery_id, attempt, trigger, url, started_at, duration_ms, status_code,
                                      response_body, error)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        Uuid::now_v7(),
        attempt.delivery_id,
        attempt.attempt,
        if attempt.redelivery { "redelivery" } else { "scheduled" },
        attempt.url,
        attempt.started_at,
        attempt.duration_ms,
        attempt.status_code,
        attempt.response_body,
        attempt.error,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A successful attempt's claim, for [`record_successes`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SucceededClaim {
    pub delivery_id: Uuid,
    pub claim: Uuid,
    pub claimed_redelivery: bool,
    pub endpoint_id: Uuid,
    pub status_code: Option<i32>,
}

/// Records successful attempts together: their log rows, their
/// deliveries succeeded (or due again at once, when a redelivery was asked
/// for meanwhile), and their endpoints' failing streaks ended. Endpoints
/// first, deliveries second, as every writer takes them. Answers the
/// deliveries whose claim still held.
pub async fn record_successes(
    conn: &mut PgConnection,
    attempts: &[AttemptRecord],
    claims: &[SucceededClaim],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    let endpoints: Vec<Uuid> = claims.iter().map(|c| c.endpoint_id).collect();
    sqlx::query!(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY ($1) AND failing_since IS NOT NULL",
        &endpoints
    )
    .execute(&mut *conn)
    .await?;
    let logged = serde_json::to_value(attempts).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let claimed = serde_json::to_value(claims).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query_scalar!(
        r#"
        WITH logged AS (
            INSERT INTO webhook_attempts (id, delivery_id, attempt, trigger, url, started_at, duration_ms,
                                          status_code, response_body, error)
            SELECT countersign_uuid_v7(a.started_at), a.delivery_id, a.attempt,
                   CASE WHEN a.redelivery THEN 'redelivery' ELSE 'scheduled' END, a.url, a.started_at,
                   a.duration_ms, a.status_code, a.response_body, a.error
            FROM jsonb_to_recordset($1::jsonb) AS a(delivery_id uuid, attempt integer, redelivery boolean, url text,
                started_at timestamptz, duration_ms integer, status_code integer, response_body text, error text)
        ), claimed AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb)
                AS c(delivery_id uuid, claim uuid, claimed_redelivery boolean, endpoint_id uuid, status_code integer)
        )
        UPDATE webhook_deliveries d
        SET status = CASE WHEN d.redelivery AND NOT c.claimed_redelivery THEN 'pending' ELSE 'succeeded' END,
            next_attempt_at = CASE WHEN d.redelivery AND NOT c.claimed_redelivery THEN $3 ELSE d.next_attempt_at END,
            schedule_step = CASE WHEN d.redelivery AND NOT c.claimed_redelivery THEN 0 ELSE d.schedule_step END,
            redelivery = d.redelivery AND NOT c.claimed_redelivery,
            claim = NULL, last_status = c.status_code, last_error = NULL, updated_at = $3
        FROM claimed c
        WHERE d.id = c.delivery_id AND d.claim = c.claim
        RETURNING d.id
        "#,
        logged,
        claimed,
        now,
    )
    .fetch_all(conn)
    .await
}

/// Where a delivery stands after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Succeeded,
    Failed,
    RetryAt { at: DateTime<Utc>, step: i32 },
}

/// Ends the attempt made under `claim`. Answers false when the claim was
/// lost (the lease ran out and another worker took the delivery): then
/// that worker's result stands. A redelivery an admin asked for while a
/// scheduled attempt was in flight (`claimed_redelivery` false) still
/// happens: the delivery is due again at once.
#[allow(clippy::too_many_arguments)]
pub async fn finish_attempt(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    claim: Uuid,
    claimed_redelivery: bool,
    state: DeliveryState,
    last_status: Option<i32>,
    last_error: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let (status, next_at, step) = match state {
        DeliveryState::Succeeded => ("succeeded", None, None),
        DeliveryState::Failed => ("failed", None, None),
        DeliveryState::RetryAt { at, step } => ("pending", Some(at), Some(step)),
    };
    let updated = sqlx::query!(
        r#"
        UPDATE webhook_deliveries
        SET status = CASE WHEN redelivery AND NOT $9 THEN 'pending' ELSE $3 END,
            next_attempt_at = CASE WHEN redelivery AND NOT $9 THEN $8 ELSE coalesce($4, next_attempt_at) END,
            schedule_step = CASE WHEN redelivery AND NOT $9 THEN 0 ELSE coalesce($5, schedule_step) END,
            redelivery = redelivery AND NOT $9,
            claim = NULL, last_status = $6, last_error = $7, updated_at = $8
        WHERE id = $1 AND claim = $2
        "#,
        delivery_id,
        claim,
        status,
        next_at,
        step,
        last_status,
        last_error,
        now,
        claimed_redelivery,
    )
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Notes an endpoint's result: any success clears its failing streak; a
/// failure starts one if none runs. Answers since when it has been failing.
pub async fn note_endpoint_result(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    succeeded: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let failing_since = sqlx::query_scalar!(
        r#"
        UPDATE webhook_endpoints
        SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, $3) END
        WHERE id = $1 AND (failing_since IS NOT NULL OR NOT $2)
        RETURNING failing_since
        "#,
        endpoint_id,
        succeeded,
        now,
    )
    .fetch_optional(conn)
    .await?;
    Ok(failing_since.flatten())
}

/// Pending deliveries of a disabled endpoint wait at `infinity`, out of
/// every claim's way; enabling it makes them due at once.
pub async fn park_deliveries(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    parked: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE webhook_deliveries
        SET next_attempt_at = CASE WHEN $2 THEN 'infinity'::timestamptz ELSE $3 END
        WHERE endpoint_id = $1 AND status = 'pending' AND claim IS NULL
          AND ($2 OR next_attempt_at = 'infinity'::timestamptz)
        "#,
        endpoint_id,
        parked,
        now,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Disables a live, enabled endpoint for `reason`; answers whether it was.
pub async fn disable_endpoint(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = $3, updated_at = $3
        WHERE id = $1 AND enabled AND deleted_at IS NULL
        "#,
        endpoint_id,
        reason,
        now,
    )
    .execute(&mut *conn)
    .await?;
    let disabled = done.rows_affected() == 1;
    if disabled {
        park_deliveries(conn, endpoint_id, true, now).await?;
    }
    Ok(disabled)
}

// -------------------------------------------------------- log and resend

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub proposal_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Deliveries by a WHERE clause in `$suffix` (on `d`, the delivery).
macro_rules! select_deliveries {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            DeliveryRow,
            r#"SELECT d.id, d.message_id, d.endpoint_id, m.event_type, m.proposal_id, d.status, d.attempts,
                      CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                      d.last_status, d.last_error, d.created_at, d.updated_at
               FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id "# + $suffix
            $(, $arg)*
        )
    };
}

pub async fn list_deliveries(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    select_deliveries!(
        r#"WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2) AND ($3::uuid IS NULL OR d.id > $3)
           ORDER BY d.id LIMIT $4"#,
        endpoint_id,
        status,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn find_delivery(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<DeliveryRow>> {
    select_deliveries!("WHERE d.id = $1", id).fetch_optional(conn).await
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: Uuid,
    pub attempt: i32,
    pub trigger: String,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

pub async fn list_attempts(conn: &mut PgConnection, delivery_id: Uuid) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as!(
        AttemptRow,
        r#"
        SELECT id, attempt, trigger, url, started_at, duration_ms, status_code, response_body, error
        FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id
        "#,
        delivery_id
    )
    .fetch_all(conn)
    .await
}

/// Makes a delivery due now, as a redelivery, from the start of the retry
/// schedule. One in flight keeps its lease (its attempt finishes first).
pub async fn redeliver(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        UPDATE webhook_deliveries
        SET status = 'pending', schedule_step = 0, redelivery = true, updated_at = $2,
            next_attempt_at = CASE WHEN status = 'pending' AND claim IS NOT NULL AND next_attempt_at > $2
                                   THEN next_attempt_at ELSE $2 END
        WHERE id = $1
        "#,
        id,
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// For an outage: every stored message since `since` that the endpoint
/// subscribes to is sent to it again (or for the first time, if it was
/// disabled or not yet there), unless it already succeeded and
/// `only_failed`. Answers how many deliveries were queued.
pub async fn replay(
    conn: &mut PgConnection,
    endpoint: &EndpointRow,
    since: DateTime<Utc>,
    only_failed: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let requeued = sqlx::query!(
        r#"
        UPDATE webhook_deliveries d
        SET status = 'pending', schedule_step = 0, redelivery = true, next_attempt_at = $3, updated_at = $3
        FROM webhook_messages m
        WHERE m.id = d.message_id AND d.endpoint_id = $1 AND m.created_at >= $2 AND d.claim IS NULL
          AND (d.status = 'failed' OR (d.status = 'succeeded' AND NOT $4))
        "#,
        endpoint.id,
        since,
        now,
        only_failed,
    )
    .execute(&mut *conn)
    .await?;
    let added = sqlx::query!(
        r#"
        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, redelivery, created_at,
                                        updated_at)
        SELECT countersign_uuid_v7($3), m.id, $1, $3, true, $3, $3
        FROM webhook_messages m
        WHERE m.created_at >= $2 AND ($4::text[] IS NULL OR m.event_type = ANY ($4))
        ON CONFLICT ON CONSTRAINT webhook_delivery_once DO NOTHING
        "#,
        endpoint.id,
        since,
        now,
        endpoint.event_types.as_deref(),
    )
    .execute(conn)
    .await?;
    Ok(requeued.rows_affected() + added.rows_affected())
}

/// How the queue stands, for `/metrics`: pending deliveries, and how long
/// the oldest due one has waited.
pub async fn queue_stats(conn: &mut PgConnection, now: DateTime<Utc>) -> sqlx::Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"
        SELECT count(*) AS "pending!",
               coalesce(extract(epoch FROM $1 - min(next_attempt_at) FILTER (WHERE next_attempt_at <= $1
                                                                         AND claim IS NULL)), 0)::float8
                   AS "oldest_due_secs!"
        FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled AND e.deleted_at IS NULL
        WHERE d.status = 'pending'
        "#,
        now
    )
    .fetch_one(conn)
    .await?;
    Ok((row.pending, row.oldest_due_secs))
}

/// Removes messages older than `before` whose deliveries all finished,
/// with their deliveries and attempts. Answers how many messages went.
pub async fn forget_finished_before(conn: &mut PgConnection, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let gone = sqlx::query!(
        r#"
        DELETE FROM webhook_messages m
        WHERE m.id IN (
            SELECT id FROM webhook_messages
            WHERE created_at < $1
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                              JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL
                              WHERE d.message_id = webhook_messages.id AND d.status = 'pending')
            LIMIT 10000)
        "#,
        before
    )
    .execute(conn)
    .await?;
    Ok(gone.rows_affected())
}

/// Every endpoint's secrets as stored (current, previous), for sealing at start.
pub async fn stored_secrets(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, String, Option<String>)>> {
    let rows = sqlx::query!("SELECT id, secret, previous_secret FROM webhook_endpoints")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.secret, row.previous_secret))
        .collect())
}

/// Replaces an endpoint's stored secrets, unless someone changed them meanwhile.
pub async fn replace_stored_secrets(
    conn: &mut PgConnection,
    id: Uuid,
    was: (&str, Option<&str>),
    now: (&str, Option<&str>),
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE webhook_endpoints SET secret = $4, previous_secret = $5
        WHERE id = $1 AND secret = $2 AND previous_secret IS NOT DISTINCT FROM $3
        "#,
        id,
        was.0,
        was.1,
        now.0,
        now.1
    )
    .execute(conn)
    .await?;
    Ok(())
}
