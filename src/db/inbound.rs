//! Inbound helpdesk deliveries, one row per sender's delivery id, written
//! in the transaction of the action the delivery triggered. Taken the same
//! way as an idempotency key: the first delivery inserts the row, acts and
//! stores its answer; a retry waits on the row, then is answered from it.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One delivery as received and verified.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub integration_id: Uuid,
    pub delivery_id: String,
    /// What the signature covers, where it does not cover `delivery_id`.
    pub signed_hash: Option<[u8; 32]>,
    pub request_hash: [u8; 32],
    pub action: &'static str,
    pub employee_id: Uuid,
}

/// The first delivery's answer, found by its id or by what it signed.
pub struct Answered {
    pub request_hash: Vec<u8>,
    pub same_signed: bool,
    pub status: Option<i16>,
    pub body: Option<Value>,
}

/// Takes the delivery for this transaction, or answers the delivery it
/// repeats (same id, or the same signed content under another id).
pub async fn claim(conn: &mut PgConnection, delivery: &Delivery) -> sqlx::Result<Option<Answered>> {
    let signed = delivery.signed_hash.as_ref().map(|hash| hash.as_slice());
    let inserted = sqlx::query_scalar!(
        r#"
        INSERT INTO inbound_deliveries (integration_id, delivery_id, signed_hash, request_hash, action, employee_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT DO NOTHING
        RETURNING 1 AS "one!"
        "#,
        delivery.integration_id,
        delivery.delivery_id,
        signed,
        delivery.request_hash.as_slice(),
        delivery.action,
        delivery.employee_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(None);
    }
    // Committed by now: the insert waited for the first delivery's end.
    Ok(Some(find(conn, delivery).await?.ok_or_else(|| {
        sqlx::Error::Protocol("an inbound delivery conflicted, then could not be found".into())
    })?))
}

/// The delivery `delivery` repeats, if one was recorded: the same id, or
/// (preferred after the id) the same signed content.
pub async fn find(conn: &mut PgConnection, delivery: &Delivery) -> sqlx::Result<Option<Answered>> {
    let signed = delivery.signed_hash.as_ref().map(|hash| hash.as_slice());
    sqlx::query_as!(
        Answered,
        r#"
        SELECT request_hash, (signed_hash = $3) IS TRUE AS "same_signed!",
               response_status AS status, response_body AS body
        FROM inbound_deliveries
        WHERE integration_id = $1 AND (delivery_id = $2 OR signed_hash = $3)
        ORDER BY delivery_id = $2 DESC
        LIMIT 1
        "#,
        delivery.integration_id,
        delivery.delivery_id,
        signed,
    )
    .fetch_optional(conn)
    .await
}

pub async fn complete(
    conn: &mut PgConnection,
    delivery: &Delivery,
    proposal_id: Option<Uuid>,
    status: i16,
    body: &Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE inbound_deliveries SET proposal_id = $3, response_status = $4, response_body = $5
        WHERE integration_id = $1 AND delivery_id = $2
        "#,
        delivery.integration_id,
        delivery.delivery_id,
        proposal_id,
        status,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deliveries older than `days` are forgotten: a retry after that acts again.
pub async fn forget_older_than(conn: impl sqlx::PgExecutor<'_>, days: u32) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM inbound_deliveries WHERE received_at < now() - make_interval(days => $1)",
        days as i32
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
