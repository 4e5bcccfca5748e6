//! Review reports, computed in PostgreSQL: each is one set-based statement
//! over the proposals filed in a window (served by `proposals_created`),
//! never rows loaded into Rust to be counted. A pending proposal past its
//! deadline counts as expired (`countersign_effective_status`, the same rule
//! the lists use), so a report does not wait for the expiry worker. Co-signers
//! are those who endorsed the revision decided on.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// What the summary groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Category,
    PolicyRef,
    /// The proposer's team.
    Team,
    Proposer,
    /// Each agent who endorsed it (a proposal co-signed by two is in both groups).
    Cosigner,
}

impl GroupBy {
    /// The group's key and label, and what to join for them. Fixed text
    /// per variant: nothing from the request reaches the SQL.
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            GroupBy::Category => ("p.category", "NULL::text", ""),
            GroupBy::PolicyRef => ("p.policy_ref", "NULL::text", ""),
            GroupBy::Team => (
                "coalesce(e.team, '')",
                "NULL::text",
                "JOIN employees e ON e.id = p.proposer_id",
            ),
            GroupBy::Proposer => (
                "p.proposer_id::text",
                "e.name",
                "JOIN employees e ON e.id = p.proposer_id",
            ),
            // Endorsements of the revision decided on: an endorsement of
            // an earlier text did not count towards the decision.
            GroupBy::Cosigner => (
                "s.employee_id::text",
                "e.name",
                "JOIN signatures s ON s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse' \
                 JOIN employees e ON e.id = s.employee_id",
            ),
        }
    }
}

/// Amounts in one currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CurrencyAmounts {
    pub currency: String,
    /// Approved: what two people agreed to.
    pub approved_minor: i64,
    /// Executed, as the outcomes report.
    pub executed_minor: i64,
}

/// One group of the summary, or (with no key) all of them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub is_total: bool,
    pub group_key: Option<String>,
    pub group_label: Option<String>,
    pub total: i64,
    pub pending: i64,
    pub approved: i64,
    pub approved_alone: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    pub expired: i64,
    pub approval_rate: Option<f64>,
    pub median_secs_to_approval: Option<f64>,
    pub p90_secs_to_approval: Option<f64>,
    pub amounts: Json<Vec<CurrencyAmounts>>,
    pub satisfied: i64,
    pub neutral: i64,
    pub dissatisfied: i64,
    pub unknown: i64,
    pub endorse: i64,
    pub promote_to_policy: i64,
    pub coach: i64,
}

/// `column` (a proposal id) within the window `[$1, $2)`, with a minute to
/// spare: ids are UUIDv7 of the filing time (`proposals_id_is_filing_time`),
/// so this lets the tables keyed by proposal be read by a range of their
/// primary key. The join on the id itself keeps the result exact.
fn in_window(column: &str) -> String {
    format!(
        "{column} >= countersign_uuid_v7_floor($1 - interval '1 minute') \
         AND {column} < countersign_uuid_v7_floor($2 + interval '1 minute')"
    )
}

const SUMMARY_SQL: &str = include_str!("summary.sql");
const POLICY_CANDIDATES_SQL: &str = include_str!("policy_candidates.sql");
const COSIGN_PAIRS_SQL: &str = include_str!("cosign_pairs.sql");
const WAITING_SQL: &str = include_str!("waiting.sql");

/// What the summary computes per group, and for the totals.
const SUMMARY_AGGREGATES: &str = include_str!("summary_aggregates.sql");

const SUMMARY_AMOUNTS: &str =
    "coalesce(sum(approved_minor), 0)::bigint AS approved, coalesce(sum(executed_minor), 0)::bigint AS executed";

/// The summary: a row per group (ordered by key) and the totals row last.
/// One row per proposal (its outcome and review beside it) is read once;
/// the totals count each proposal once, whatever the grouping.
pub async fn summary(
    conn: &mut PgConnection,
    group_by: GroupBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<SummaryRow>> {
    let (key, label, join) = group_by.sql();
    let (outcomes_in_window, reviews_in_window) = (in_window("o.proposal_id"), in_window("r.proposal_id"));
    // A group per proposal is a projection of `p`, computed where it is
    // read; a group per co-signer is a join, computed once.
    let materialized = if group_by == GroupBy::Cosigner {
        "MATERIALIZED"
    } else {
        "NOT MATERIALIZED"
    };
    let join = join.replace(
        "s.proposal_id = p.id",
        &format!("s.proposal_id = p.id AND {}", in_window("s.proposal_id")),
    );
    let sql = SUMMARY_SQL
        .replace("{materialized}", materialized)
        .replace("{key}", key)
        .replace("{label}", label)
        .replace("{join}", &join)
        .replace("{outcomes_in_window}", &outcomes_in_window)
        .replace("{reviews_in_window}", &reviews_in_window)
        .replace("{SUMMARY_AGGREGATES}", SUMMARY_AGGREGATES)
        .replace("{SUMMARY_AMOUNTS}", SUMMARY_AMOUNTS);
    // The totals row is an aggregate without GROUP BY: there even for an
    // empty window.
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(conn)
        .await
}

/// One proposal as the exceptions export shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExceptionRow {
    pub id: Uuid,
    pub status: String,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub required_cosigners: i32,
    pub revision: i32,
    pub proposer_id: Uuid,
    pub proposer_name: String,
    pub proposer_team: Option<String>,
    /// `name (id)` of each endorser of the revision decided on,
    /// `; `-separated, in signing order.
    pub cosigners: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub executed: Option<bool>,
    pub actual_amount_minor: Option<i64>,
    pub actual_currency: Option<String>,
    pub customer_outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub verdict: Option<String>,
    pub reviewer_id: Option<Uuid>,
    pub reviewer_name: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// The exceptions export, read page by page through a server-side cursor
/// in a read-only transaction: each page is a whole statement, so dropping
/// the cursor part-way (the client left, the deadline passed) ends the
/// transaction at once instead of reading the rest.
pub struct ExceptionCursor {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

/// Opens the export of every proposal filed in the window, oldest first.
pub async fn open_exceptions(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<ExceptionCursor> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
    // The window as literals: DECLARE takes no parameters. They are times
    // this service formatted, never text from a request.
    let literal = |time: DateTime<Utc>| {
        format!(
            "'{}'::timestamptz",
            time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    };
    let sql = EXCEPTIONS_SQL
        .replace("$1", &literal(from))
        .replace("$2", &literal(to))
        .replace("$3", &literal(now));
    sqlx::query(AssertSqlSafe(format!("DECLARE exceptions NO SCROLL CURSOR FOR {sql}")))
        .execute(&mut *tx)
        .await?;
    Ok(ExceptionCursor { tx })
}

impl ExceptionCursor {
    /// The next `n` rows; none when the export is done.
    pub async fn next_page(&mut self, n: u32) -> sqlx::Result<Vec<ExceptionRow>> {
        sqlx::query_as(AssertSqlSafe(format!("FETCH {n} FROM exceptions")))
            .fetch_all(&mut *self.tx)
            .await
    }
}

const EXCEPTIONS_SQL: &str = include_str!("exceptions.sql");

/// Cost of approved exceptions in one currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CurrencyCost {
    pub currency: String,
    pub total_minor: i64,
    /// Rounded to a whole minor unit.
    pub average_minor: i64,
}

/// One recurring (category, policy_ref) exception.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CandidateRow {
    pub category: String,
    pub policy_ref: String,
    pub volume: i64,
    pub approved: i64,
    pub approval_rate: Option<f64>,
    pub cost: Json<Vec<CurrencyCost>>,
    pub satisfied_share: Option<f64>,
    pub promote_votes: i64,
    pub previous_volume: i64,
    /// Standing approvals in force for it now.
    pub standing_approval_ids: Vec<uuid::Uuid>,
}

/// Recurring exceptions, strongest candidates for a policy change first:
/// more `promote_to_policy` votes, then more volume, then a higher approval
/// rate, then more satisfied customers (then by name, for a stable order).
/// `previous_volume` counts the window of equal length just before.
pub async fn policy_candidates(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    min_count: i64,
) -> sqlx::Result<Vec<CandidateRow>> {
    let (outcomes_in_window, reviews_in_window) = (in_window("o.proposal_id"), in_window("r.proposal_id"));
    let sql = POLICY_CANDIDATES_SQL
        .replace("{outcomes_in_window}", &outcomes_in_window)
        .replace("{reviews_in_window}", &reviews_in_window);
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(now)
        .bind(min_count)
        .fetch_all(conn)
        .await
}

/// Decisions (and expiries) by the hour or weekday a proposal was filed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingRow {
    /// 0-23 (hour) or 1-7 (ISO weekday, Monday = 1).
    pub bucket: i32,
    pub filed: i64,
    pub decided: i64,
    pub expired: i64,
    pub median_secs_to_decision: Option<f64>,
    pub p90_secs_to_decision: Option<f64>,
    pub median_secs_to_first_cosign: Option<f64>,
    pub p90_secs_to_first_cosign: Option<f64>,
    pub reminded: i64,
    pub escalated: i64,
    pub approved_alone: i64,
}

/// Time from filing to decision by hour of day and by weekday (in
/// `time_zone`), each with the proposals that expired: customers who
/// waited for nothing. Withdrawn proposals are left out of the waits.
pub async fn waiting(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    time_zone: &str,
) -> sqlx::Result<(Vec<WaitingRow>, Vec<WaitingRow>)> {
    let sql = |bucket: &str| {
        WAITING_SQL
            .replace("{bucket}", bucket)
            .replace("{signatures_in_window}", &in_window("s.proposal_id"))
            .replace("{steps_in_window}", &in_window("r.proposal_id"))
    };
    let mut by = Vec::with_capacity(2);
    for bucket in ["extract(hour FROM local_filed)", "extract(isodow FROM local_filed)"] {
        let rows = sqlx::query_as::<_, WaitingRow>(AssertSqlSafe(sql(bucket)))
            .bind(from)
            .bind(to)
            .bind(now)
            .bind(time_zone)
            .fetch_all(&mut *conn)
            .await?;
        by.push(rows);
    }
    let by_weekday = by.pop().unwrap_or_default();
    let by_hour = by.pop().unwrap_or_default();
    Ok((by_hour, by_weekday))
}

/// The proposals of the window that expired, oldest first, up to `limit`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpiredRow {
    pub id: Uuid,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub ticket_ref: Option<String>,
    pub proposer_id: Uuid,
    pub proposer_name: String,
    pub proposer_team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub declines: i64,
    pub endorsements: i64,
}

pub async fn expired(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<(i64, Vec<ExpiredRow>)> {
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM proposals p WHERE p.created_at >= $1 AND p.created_at < $2 \
         AND countersign_effective_status(p.status, p.expires_at, $3) = 'expired'",
    )
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(
        r#"
        SELECT p.id, p.category, p.policy_ref, p.summary, p.ticket_ref, p.proposer_id, e.name AS proposer_name,
               e.team AS proposer_team, p.created_at, p.expires_at,
               (SELECT count(*) FROM signatures s WHERE s.proposal_id = p.id AND s.decision = 'decline') AS declines,
               (SELECT count(*) FROM signatures s WHERE s.proposal_id = p.id AND s.decision = 'endorse') AS endorsements
        FROM proposals p JOIN employees e ON e.id = p.proposer_id
        WHERE p.created_at >= $1 AND p.created_at < $2
          AND countersign_effective_status(p.status, p.expires_at, $3) = 'expired'
        ORDER BY p.created_at, p.id
        LIMIT $4
        "#,
    )
    .bind(from)
    .bind(to)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok((total, rows))
}

/// Whether PostgreSQL knows `name` as a time zone.
pub async fn is_time_zone(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
}

/// A read-only transaction for a report, with `work_mem_mb` for its sorts
/// and hashes (a report sorts many rows once; the service's writes need
/// little), ended when dropped.
pub async fn begin(pool: &PgPool, work_mem_mb: u32) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
    sqlx::query(AssertSqlSafe(format!("SET LOCAL work_mem = '{work_mem_mb}MB'")))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Who co-signs whom: one proposer and one co-signer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PairRow {
    pub proposer_id: Uuid,
    pub proposer_name: String,
    pub cosigner_id: Uuid,
    pub cosigner_name: String,
    /// Proposals of the proposer this co-signer endorsed.
    pub cosigned: i64,
    /// Of those, approved.
    pub approvals: i64,
    /// All the proposer's approvals in the window.
    pub proposer_approvals: i64,
    pub share_of_approvals: Option<f64>,
    /// Proposals of the co-signer that the proposer endorsed.
    pub reciprocal: i64,
    pub median_secs_to_cosign: Option<f64>,
}

/// The proposer/co-signer pairs of the window, the most concentrated
/// first, up to `limit`.
pub async fn cosign_pairs(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<PairRow>> {
    let signatures_in_window = in_window("s.proposal_id");
    let sql = COSIGN_PAIRS_SQL.replace("{signatures_in_window}", &signatures_in_window);
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await
}
