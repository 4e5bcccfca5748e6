//! Audit events: written in the caller's transaction with their own hash and
//! a queue entry for the sequencer; chained later, in batches, by one
//! sequencer at a time. No writer touches a row shared with unrelated work.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::webhooks::OutboundMessage;
use crate::domain::audit::{ChainKeying, ChainLink, EventContent};

/// Inserts events with their queue entries for the sequencer, and the
/// webhook outbox's messages, in one statement (one round trip for every
/// commit). Each message that some endpoint subscribes to is stored with
/// one pending delivery per enabled such endpoint; a message nobody
/// subscribes to writes nothing, and one for a disabled endpoint alone is
/// kept (without a delivery) so that a replay after re-enabling it finds
/// it. Answers how many deliveries it wrote.
pub async fn record(
    conn: &mut PgConnection,
    events: &[EventContent],
    messages: &[OutboundMessage],
) -> sqlx::Result<u64> {
    if events.is_empty() && messages.is_empty() {
        return Ok(0);
    }
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "occurred_at": e.occurred_at,
                "event_type": e.event_type,
                "subject_type": e.subject_type,
                "subject_id": e.subject_id,
                "actor_employee_id": e.actor_employee_id,
                "via_integration_id": e.via_integration_id,
                "payload": e.payload,
                "content_hash": hex::encode(e.hash()),
            })
        })
        .collect();
    let messages = serde_json::to_value(messages).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let written = sqlx::query!(
        r#"
        WITH inserted AS (
            INSERT INTO audit_events (id, occurred_at, event_type, subject_type, subject_id,
                                      actor_employee_id, via_integration_id, payload, content_hash)
            SELECT e.id, e.occurred_at, e.event_type, e.subject_type, e.subject_id,
                   e.actor_employee_id, e.via_integration_id, e.payload, decode(e.content_hash, 'hex')
            FROM jsonb_to_recordset($1::jsonb) AS e(
                id uuid, occurred_at timestamptz, event_type text, subject_type text, subject_id uuid,
                actor_employee_id uuid, via_integration_id uuid, payload jsonb, content_hash text)
            RETURNING id
        ), queued AS (
            INSERT INTO audit_unchained (event_id) SELECT id FROM inserted
        ), message AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb)
                AS m(id uuid, event_type text, proposal_id uuid, body text, created_at timestamptz)
        ), subscribed AS (
            SELECT m.id AS message_id, e.id AS endpoint_id, e.enabled, m.created_at
            FROM message m
            JOIN webhook_endpoints e
              ON e.deleted_at IS NULL
             AND (e.event_types IS NULL OR m.event_type = ANY (e.event_types))
        ), stored AS (
            INSERT INTO webhook_messages (id, event_type, proposal_id, body, created_at)
            SELECT m.id, m.event_type, m.proposal_id, m.body, m.created_at
            FROM message m
            WHERE m.id IN (SELECT message_id FROM subscribed)
            RETURNING id
        )
        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, next_attempt_at, created_at, updated_at)
        SELECT countersign_uuid_v7(s.created_at), s.message_id, s.endpoint_id, s.created_at, s.created_at, s.created_at
        FROM subscribed s JOIN stored ON stored.id = s.message_id
        WHERE s.enabled
        "#,
        Value::Array(rows),
        messages,
    )
    .execute(conn)
    .await?;
    Ok(written.rows_affected())
}

/// Links up to `batch` queued events into the chain, in one transaction.
/// Only the elected sequencer calls this; should two ever run, the chain's
/// primary key on `seq` makes the second one's transaction fail, not fork.
pub async fn chain_batch(conn: &mut PgConnection, batch: i64, keying: &ChainKeying) -> sqlx::Result<usize> {
    let queued = sqlx::query!(
        r#"
        SELECT e.id, e.content_hash
        FROM audit_unchained u JOIN audit_events e ON e.id = u.event_id
        ORDER BY e.id
        LIMIT $1
        "#,
        batch
    )
    .fetch_all(&mut *conn)
    .await?;
    if queued.is_empty() {
        return Ok(0);
    }
    let head = sqlx::query!("SELECT seq, chain_hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (mut seq, mut previous) = match head {
        Some(head) => (head.seq, head.chain_hash),
        None => (0, crate::domain::audit::GENESIS.to_vec()),
    };
    let mut seqs = Vec::with_capacity(queued.len());
    let mut ids = Vec::with_capacity(queued.len());
    let mut hashes = Vec::with_capacity(queued.len());
    for event in &queued {
        seq += 1;
        previous = keying.link_hash(seq, &previous, &event.content_hash).to_vec();
        seqs.push(seq);
        ids.push(event.id);
        hashes.push(previous.clone());
    }
    sqlx::query!(
        "INSERT INTO audit_chain (seq, event_id, chain_hash)
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::bytea[])",
        &seqs,
        &ids,
        &hashes
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM audit_unchained WHERE event_id = ANY($1)", &ids)
        .execute(&mut *conn)
        .await?;
    Ok(queued.len())
}

/// Streams the chain in `seq` order from `from_seq`, at most `limit` links,
/// and hands each to `check` until it answers false. Answers how many links
/// it handed over.
pub async fn walk_chain(
    conn: &mut PgConnection,
    from_seq: i64,
    limit: i64,
    mut check: impl FnMut(ChainLink) -> bool,
) -> sqlx::Result<u64> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query!(
        r#"
        SELECT c.seq, c.event_id, c.chain_hash,
               e.id AS "id?", e.occurred_at AS "occurred_at?", e.event_type AS "event_type?",
               e.subject_type AS "subject_type?", e.subject_id AS "subject_id?",
               e.actor_employee_id, e.via_integration_id, e.payload AS "payload?", e.content_hash AS "content_hash?"
        FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id
        WHERE c.seq >= $1
        ORDER BY c.seq
        LIMIT $2
        "#,
        from_seq,
        limit
    )
    .fetch(conn);
    let mut walked = 0;
    while let Some(row) = rows.try_next().await? {
        let content = match (
            row.id,
            row.occurred_at,
            row.event_type,
            row.subject_type,
            row.subject_id,
            row.payload,
        ) {
            (Some(id), Some(occurred_at), Some(event_type), Some(subject_type), Some(subject_id), Some(payload)) => {
                Some(EventContent {
                    id,
                    occurred_at,
                    event_type,
                    subject_type,
                    subject_id,
                    actor_employee_id: row.actor_employee_id,
                    via_integration_id: row.via_integration_id,
                    payload,
                })
            }
            _ => None,
        };
        let link = ChainLink {
            seq: row.seq,
            event_id: row.event_id,
            chain_hash: row.chain_hash,
            content,
            content_hash: row.content_hash,
        };
        walked += 1;
        if !check(link) {
            break;
        }
    }
    Ok(walked)
}

/// The link at `seq` as stored now: its event and chain hash.
pub async fn link_at(conn: &mut PgConnection, seq: i64) -> sqlx::Result<Option<(Uuid, Vec<u8>)>> {
    let row = sqlx::query!("SELECT event_id, chain_hash FROM audit_chain WHERE seq = $1", seq)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| (row.event_id, row.chain_hash)))
}

/// Events that are neither chained nor waiting to be (at most 100): each
/// event must be one or the other. Counted first, listed only when the
/// counts disagree, so a whole log costs three index counts.
pub async fn unaccounted_events(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    let counts = sqlx::query!(
        r#"
        SELECT (SELECT count(*) FROM audit_events) AS "events!",
               (SELECT count(*) FROM audit_chain) AS "chained!",
               (SELECT count(*) FROM audit_unchained u
                WHERE EXISTS (SELECT 1 FROM audit_events e WHERE e.id = u.event_id)
                  AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = u.event_id)) AS "queued!"
        "#
    )
    .fetch_one(&mut *conn)
    .await?;
    if counts.events == counts.chained + counts.queued {
        return Ok(Vec::new());
    }
    sqlx::query_scalar!(
        r#"
        SELECT e.id FROM audit_events e
        WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
          AND NOT EXISTS (SELECT 1 FROM audit_unchained u WHERE u.event_id = e.id)
        ORDER BY e.id LIMIT 100
        "#
    )
    .fetch_all(conn)
    .await
}

/// Events waiting longer than `lag` to be chained (at most 100).
pub async fn overdue_unchained(conn: &mut PgConnection, lag: chrono::Duration) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        SELECT e.id FROM audit_unchained u JOIN audit_events e ON e.id = u.event_id
        WHERE e.occurred_at < now() - make_interval(secs => $1)
        ORDER BY e.id LIMIT 100
        "#,
        lag.num_milliseconds() as f64 / 1000.0
    )
    .fetch_all(conn)
    .await
}
