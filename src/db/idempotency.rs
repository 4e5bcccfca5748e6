//! `Idempotency-Key` storage: one row per key and whoever acts (the person,
//! and the integration acting for them). The first request inserts the row
//! (taking the key), does its work and stores its response in the same
//! transaction; a retry waits on the row, then replays.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Whose key it is: the person acting (or, for a caller acting as nobody,
/// its token) and the integration acting for them, if any. An integration
/// acting for two agents holds two separate sets of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyScope {
    pub principal_id: Uuid,
    pub via_integration_id: Option<Uuid>,
}

impl KeyScope {
    /// The stored form: the nil UUID stands for "no integration".
    fn via(&self) -> Uuid {
        self.via_integration_id.unwrap_or(Uuid::nil())
    }
}

pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status: Option<i16>,
    pub body: Option<Value>,
}

/// Takes the key for this transaction, or answers what is stored under it.
/// A concurrent request with the same key waits here until the first one
/// commits (then sees its response) or rolls back (then takes the key).
pub async fn claim(
    conn: &mut PgConnection,
    scope: KeyScope,
    key: &str,
    request_hash: &[u8],
) -> sqlx::Result<Option<StoredResponse>> {
    let inserted = sqlx::query_scalar!(
        r#"
        INSERT INTO idempotency_keys (principal_id, via_integration_id, key, request_hash) VALUES ($1, $2, $3, $4)
        ON CONFLICT (principal_id, via_integration_id, key) DO NOTHING
        RETURNING 1 AS "one!"
        "#,
        scope.principal_id,
        scope.via(),
        key,
        request_hash
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(None);
    }
    let stored = sqlx::query_as!(
        StoredResponse,
        r#"
        SELECT request_hash, response_status AS status, response_body AS body
        FROM idempotency_keys WHERE principal_id = $1 AND via_integration_id = $2 AND key = $3
        "#,
        scope.principal_id,
        scope.via(),
        key
    )
    .fetch_one(conn)
    .await?;
    Ok(Some(stored))
}

pub async fn complete(
    conn: &mut PgConnection,
    scope: KeyScope,
    key: &str,
    status: i16,
    body: &Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE idempotency_keys SET response_status = $4, response_body = $5
        WHERE principal_id = $1 AND via_integration_id = $2 AND key = $3
        "#,
        scope.principal_id,
        scope.via(),
        key,
        status,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Keys are kept a day; after that a retry is a new request.
pub async fn forget_older_than_a_day(conn: impl sqlx::PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query!("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
