//! SQL for standing approvals and the figures of their use. Whether one
//! covers a filing is decided in `domain::standing`; the schema checks it
//! again when the approval is written.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::policy::Money;
use crate::domain::standing::{Checked, StandingApproval};

#[derive(Debug, Clone, Serialize)]
pub struct StandingApprovalRow {
    pub id: Uuid,
    pub category: String,
    pub policy_ref: String,
    pub max_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub team: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub source_proposal_id: Option<Uuid>,
    pub note: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<Uuid>,
    pub retire_reason: Option<String>,
}

impl StandingApprovalRow {
    /// What decides whether it covers a filing.
    pub fn rule(&self) -> StandingApproval {
        StandingApproval {
            id: self.id,
            category: self.category.clone(),
            policy_ref: self.policy_ref.clone(),
            max_amount: match (self.max_amount_minor, &self.currency) {
                (Some(minor), Some(currency)) => Some(Money {
                    minor,
                    currency: currency.clone(),
                }),
                _ => None,
            },
            team: self.team.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            retired_at: self.retired_at,
        }
    }
}

/// Standing approvals by a WHERE clause (and ordering, locking) in `$suffix`.
macro_rules! select_standing {
    ($suffix:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            StandingApprovalRow,
            r#"SELECT id, category, policy_ref, max_amount_minor, currency, team, valid_from, valid_until,
                      source_proposal_id, note, created_by, created_at, retired_at, retired_by, retire_reason
               FROM standing_approvals "#
                + $suffix
            $(, $arg)*
        )
    };
}

/// The standing approvals not retired for a category and policy rule.
/// With `hold`, each is held (`FOR SHARE`) until the transaction ends: a
/// retirement waits for the filing that is using one, or came first and is
/// seen here. Without (a preview), nothing is locked.
pub async fn offered_for(
    conn: &mut PgConnection,
    category: &str,
    policy_ref: &str,
    hold: bool,
) -> sqlx::Result<Vec<StandingApprovalRow>> {
    if hold {
        select_standing!(
            "WHERE category = $1 AND policy_ref = $2 AND retired_at IS NULL ORDER BY id FOR SHARE",
            category,
            policy_ref
        )
        .fetch_all(conn)
        .await
    } else {
        select_standing!(
            "WHERE category = $1 AND policy_ref = $2 AND retired_at IS NULL ORDER BY id",
            category,
            policy_ref
        )
        .fetch_all(conn)
        .await
    }
}

/// Takes filings for `customer_ref` under `standing_approval_id` one after
/// another until the transaction ends (the schema's trigger takes the same
/// lock), so two at once cannot both be its one for the customer.
pub async fn lock_customer(
    conn: &mut PgConnection,
    standing_approval_id: Uuid,
    customer_ref: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT countersign_lock_standing_customer($1, $2)",
        standing_approval_id,
        customer_ref
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Of `ids`, those that already approved a filing for `ticket_ref`, or
/// for `customer_ref` (in any case) since `since`.
pub async fn used_for_case(
    conn: &mut PgConnection,
    ids: &[Uuid],
    ticket_ref: Option<&str>,
    customer_ref: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        SELECT DISTINCT standing_approval_id AS "id!" FROM proposals
        WHERE standing_approval_id = ANY($1)
          AND (ticket_ref = $2 OR (lower(customer_ref) = lower($3) AND created_at > $4))
        "#,
        ids,
        ticket_ref,
        customer_ref,
        since
    )
    .fetch_all(conn)
    .await
}

pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    checked: &Checked,
    created_by: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<StandingApprovalRow> {
    sqlx::query_as!(
        StandingApprovalRow,
        r#"
        INSERT INTO standing_approvals (id, category, policy_ref, max_amount_minor, currency, team, valid_from,
                                        valid_until, source_proposal_id, note, created_by, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        RETURNING id, category, policy_ref, max_amount_minor, currency, team, valid_from, valid_until,
                  source_proposal_id, note, created_by, created_at, retired_at, retired_by, retire_reason
        "#,
        id,
        checked.category,
        checked.policy_ref,
        checked.max_amount.as_ref().map(|m| m.minor),
        checked.max_amount.as_ref().map(|m| m.currency.clone()),
        checked.team,
        checked.valid_from,
        checked.valid_until,
        checked.source_proposal_id,
        checked.note,
        created_by,
        now,
    )
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<StandingApprovalRow>> {
    select_standing!("WHERE id = $1", id).fetch_optional(conn).await
}

/// Newest first, after the cursor; `retired` filters when given.
pub async fn list(
    conn: &mut PgConnection,
    retired: Option<bool>,
    category: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<StandingApprovalRow>> {
    select_standing!(
        "WHERE ($1::boolean IS NULL OR (retired_at IS NOT NULL) = $1)
           AND ($2::text IS NULL OR category = $2)
           AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC
         LIMIT $4",
        retired,
        category,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Retires it now, if it is not retired yet; none when it was.
pub async fn retire(
    conn: &mut PgConnection,
    id: Uuid,
    by: Uuid,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<StandingApprovalRow>> {
    sqlx::query_as!(
        StandingApprovalRow,
        r#"
        UPDATE standing_approvals SET retired_at = $3, retired_by = $2, retire_reason = $4
        WHERE id = $1 AND retired_at IS NULL
        RETURNING id, category, policy_ref, max_amount_minor, currency, team, valid_from, valid_until,
                  source_proposal_id, note, created_by, created_at, retired_at, retired_by, retire_reason
        "#,
        id,
        by,
        now,
        reason
    )
    .fetch_optional(conn)
    .await
}

/// How a standing approval was used: the filings it approved, what they
/// came to, how the customers took it and what reviewers said.
#[derive(Debug, Clone, Default)]
pub struct UsageRow {
    pub standing_approval_id: Uuid,
    pub proposals: i64,
    pub satisfied: i64,
    pub neutral: i64,
    pub dissatisfied: i64,
    pub unknown: i64,
    pub outcome_not_recorded: i64,
    pub reviewed_endorse: i64,
    pub reviewed_promote_to_policy: i64,
    pub reviewed_coach: i64,
    pub not_reviewed: i64,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Per currency: the amounts approved and executed under one.
#[derive(Debug, Clone)]
pub struct UsageAmountRow {
    pub standing_approval_id: Uuid,
    pub currency: String,
    pub proposals: i64,
    pub approved_minor: i64,
    pub executed_minor: i64,
}

pub async fn usage(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<(Vec<UsageRow>, Vec<UsageAmountRow>)> {
    let counts = sqlx::query_as!(
        UsageRow,
        r#"
        SELECT p.standing_approval_id AS "standing_approval_id!",
               count(*) AS "proposals!",
               count(*) FILTER (WHERE o.customer_outcome = 'satisfied') AS "satisfied!",
               count(*) FILTER (WHERE o.customer_outcome = 'neutral') AS "neutral!",
               count(*) FILTER (WHERE o.customer_outcome = 'dissatisfied') AS "dissatisfied!",
               count(*) FILTER (WHERE o.customer_outcome = 'unknown') AS "unknown!",
               count(*) FILTER (WHERE o.proposal_id IS NULL) AS "outcome_not_recorded!",
               count(*) FILTER (WHERE r.verdict = 'endorse') AS "reviewed_endorse!",
               count(*) FILTER (WHERE r.verdict = 'promote_to_policy') AS "reviewed_promote_to_policy!",
               count(*) FILTER (WHERE r.verdict = 'coach') AS "reviewed_coach!",
               count(*) FILTER (WHERE r.proposal_id IS NULL) AS "not_reviewed!",
               max(p.created_at) AS last_used_at
        FROM proposals p
        LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id
        LEFT JOIN proposal_reviews r ON r.proposal_id = p.id
        WHERE p.standing_approval_id = ANY($1)
        GROUP BY p.standing_approval_id
        "#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let amounts = sqlx::query_as!(
        UsageAmountRow,
        r#"
        SELECT p.standing_approval_id AS "standing_approval_id!", p.currency AS "currency!",
               count(*) AS "proposals!",
               coalesce(sum(p.amount_minor), 0)::bigint AS "approved_minor!",
               coalesce(sum(o.actual_amount_minor) FILTER (WHERE o.executed), 0)::bigint AS "executed_minor!"
        FROM proposals p
        LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id
        WHERE p.standing_approval_id = ANY($1) AND p.currency IS NOT NULL
        GROUP BY p.standing_approval_id, p.currency
        ORDER BY p.currency
        "#,
        ids
    )
    .fetch_all(conn)
    .await?;
    Ok((counts, amounts))
}

/// The largest amount approved for a category and policy rule since
/// `since`, in the currency most of them used: a draft's limit.
pub async fn largest_approved(
    conn: &mut PgConnection,
    category: &str,
    policy_ref: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Option<Money>> {
    let row = sqlx::query!(
        r#"
        SELECT currency AS "currency!", max(amount_minor) AS "minor!"
        FROM proposals
        WHERE category = $1 AND policy_ref = $2 AND status = 'approved' AND currency IS NOT NULL
          AND id >= countersign_uuid_v7_floor($3)
        GROUP BY currency
        ORDER BY count(*) DESC, currency
        LIMIT 1
        "#,
        category,
        policy_ref,
        since
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| Money {
        minor: row.minor,
        currency: row.currency,
    }))
}

/// The latest proposal a manager reviewed `promote_to_policy` for a
/// category and policy rule: the source a draft names.
pub async fn latest_promoted(conn: &mut PgConnection, category: &str, policy_ref: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"
        SELECT p.id FROM proposals p JOIN proposal_reviews r ON r.proposal_id = p.id
        WHERE p.category = $1 AND p.policy_ref = $2 AND r.verdict = 'promote_to_policy'
        ORDER BY r.reviewed_at DESC
        LIMIT 1
        "#,
        category,
        policy_ref
    )
    .fetch_optional(conn)
    .await
}
