//! Review reports, computed in PostgreSQL: each is one set-based statement
//! that adds up the cells of its window (`rollups`: stored for settled days
//! and months, computed live from the proposals for the rest), never rows
//! loaded into Rust to be counted. Waits are kept whole in the cells, so
//! medians and p90s are exact. A pending proposal past its deadline counts
//! as expired (`countersign_effective_status`, the same rule the lists
//! use), so a report does not wait for the expiry worker. Co-signers are
//! those who endorsed the revision decided on. The exceptions export reads
//! the proposals themselves, one row each.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::rollups::{Cover, Spans};

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

/// The person a `proposer` or `cosigner` cell is of.
const PERSON: &str = "JOIN employees e ON e.id = c.key1::uuid";

impl GroupBy {
    /// The kind of cell grouped, the group's key and label, and what to
    /// join for them. Fixed text per variant: nothing from the request
    /// reaches the SQL.
    fn sql(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            GroupBy::Category => ("policy", "c.key1", "NULL::text", ""),
            GroupBy::PolicyRef => ("policy", "c.key2", "NULL::text", ""),
            GroupBy::Team => ("proposer", "coalesce(e.team, '')", "NULL::text", PERSON),
            GroupBy::Proposer => ("proposer", "c.key1", "e.name", PERSON),
            GroupBy::Cosigner => ("cosigner", "c.key1", "e.name", PERSON),
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

/// The cells (`countersign_report_cells`) of the proposals filed in a
/// window, of the given kinds: the stored months and days its cover names
/// (`$first`, `$first + 1`) and the live ranges computed now (starts and
/// ends in `$first + 2`, `$first + 3`), with statuses as of `$1`.
fn cells(kinds: &str, first: usize) -> String {
    let (months, days, lo, hi) = (first, first + 1, first + 2, first + 3);
    format!(
        "SELECT c.kind, c.key1, c.key2, c.currency, c.total, c.pending, c.approved, c.approved_alone, \
                c.rejected, c.withdrawn, c.expired, c.approved_minor, c.approved_with_amount, c.executed_minor, \
                c.satisfied, c.neutral, c.dissatisfied, c.unknown, c.endorse, c.promote_to_policy, c.coach, \
                c.approval_waits \
         FROM report_cells c \
         WHERE c.kind IN ({kinds}) \
           AND ((c.span = 'month' AND c.period = ANY(${months}::date[])) \
                OR (c.span = 'day' AND c.period = ANY(${days}::date[]))) \
         UNION ALL \
         SELECT c.* \
         FROM unnest(${lo}::timestamptz[], ${hi}::timestamptz[]) AS live(lo, hi), \
              LATERAL countersign_report_cells(live.lo, live.hi, $1) AS c \
         WHERE c.kind IN ({kinds})"
    )
}

/// Runs `sql`, whose cells (`cells(_, 2)`) are those of `cover` with
/// statuses as of `now`.
async fn fetch_over<T>(conn: &mut PgConnection, sql: String, now: DateTime<Utc>, cover: &Cover) -> sqlx::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (months, days, lo, hi) = cover.binds();
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(now)
        .bind(months)
        .bind(days)
        .bind(lo)
        .bind(hi)
        .fetch_all(conn)
        .await
}

const SUMMARY_GROUPS_SQL: &str = include_str!("summary_groups.sql");
const SUMMARY_TOTALS_SQL: &str = include_str!("summary_totals.sql");
const POLICY_CANDIDATES_SQL: &str = include_str!("policy_candidates.sql");
const COSIGN_PAIRS_SQL: &str = include_str!("cosign_pairs.sql");
const WAITING_SQL: &str = include_str!("waiting.sql");

/// What the summary adds up per group, and for the totals.
const CELL_SUMS: &str = include_str!("cell_sums.sql");

/// The summary: a row per group (ordered by key) and the totals row last.
/// Added up from the window's cells (stored for settled days and months,
/// computed live for the rest). The groups are read on `conn` and the
/// totals on `other` (`begin_beside`) at the same time, each sorting its
/// waits on a core of its own; the totals count each proposal once,
/// whatever the grouping.
pub async fn summary(
    conn: &mut PgConnection,
    other: Option<&mut PgConnection>,
    group_by: GroupBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<SummaryRow>> {
    let cover = Cover::load(&mut *conn, from, to, Spans::DaysAndMonths).await?;
    let (kind, key, label, join) = group_by.sql();
    let groups = SUMMARY_GROUPS_SQL
        .replace("{CELLS}", &cells(&format!("'{kind}'"), 2))
        .replace("{key}", key)
        .replace("{label}", label)
        .replace("{join}", join)
        .replace("{CELL_SUMS}", CELL_SUMS);
    let totals = SUMMARY_TOTALS_SQL
        .replace("{CELLS}", &cells("'policy'", 2))
        .replace("{CELL_SUMS}", CELL_SUMS);
    let (mut rows, totals) = match other {
        Some(other) => tokio::try_join!(
            fetch_over::<SummaryRow>(conn, groups, now, &cover),
            fetch_over::<SummaryRow>(other, totals, now, &cover)
        )?,
        None => (
            fetch_over::<SummaryRow>(&mut *conn, groups, now, &cover).await?,
            fetch_over::<SummaryRow>(conn, totals, now, &cover).await?,
        ),
    };
    rows.extend(totals);
    Ok(rows)
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
    let cover = Cover::load(&mut *conn, from, to, Spans::DaysAndMonths).await?;
    let previous = Cover::load(&mut *conn, from - (to - from), from, Spans::DaysAndMonths).await?;
    let sql = POLICY_CANDIDATES_SQL
        .replace("{CELLS}", &cells("'policy'", 3))
        .replace("{PREVIOUS_CELLS}", &cells("'policy'", 7));
    let (months, days, lo, hi) = cover.binds();
    let (previous_months, previous_days, previous_lo, previous_hi) = previous.binds();
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(now)
        .bind(min_count)
        .bind(months)
        .bind(days)
        .bind(lo)
        .bind(hi)
        .bind(previous_months)
        .bind(previous_days)
        .bind(previous_lo)
        .bind(previous_hi)
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
/// waited for nothing. Withdrawn proposals are left out of the waits. The
/// hours are read on `conn` and the weekdays on `other` (`begin_beside`) at
/// the same time: each sorts every wait of the window once, on a core of
/// its own.
pub async fn waiting(
    conn: &mut PgConnection,
    other: Option<&mut PgConnection>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    time_zone: &str,
) -> sqlx::Result<(Vec<WaitingRow>, Vec<WaitingRow>)> {
    // Weekdays need dates: the waiting report reads stored days, never months.
    let cover = Cover::load(&mut *conn, from, to, Spans::Days).await?;
    let (_, days, lo, hi) = cover.binds();
    let part = Part {
        days: &days,
        lo: &lo,
        hi: &hi,
        now,
        time_zone,
    };
    let (hour, weekday) = ("extract(hour FROM local_filed)", "extract(isodow FROM local_filed)");
    match other {
        Some(other) => tokio::try_join!(part.by(conn, hour), part.by(other, weekday)),
        None => Ok((part.by(&mut *conn, hour).await?, part.by(conn, weekday).await?)),
    }
}

/// What both halves of the waiting report read.
struct Part<'a> {
    days: &'a [NaiveDate],
    lo: &'a [DateTime<Utc>],
    hi: &'a [DateTime<Utc>],
    now: DateTime<Utc>,
    time_zone: &'a str,
}

impl Part<'_> {
    /// Buckets by `bucket`, an expression of `local_filed`.
    async fn by(&self, conn: &mut PgConnection, bucket: &str) -> sqlx::Result<Vec<WaitingRow>> {
        sqlx::query_as(AssertSqlSafe(WAITING_SQL.replace("{bucket}", bucket)))
            .bind(self.days)
            .bind(self.lo)
            .bind(self.hi)
            .bind(self.now)
            .bind(self.time_zone)
            .fetch_all(conn)
            .await
    }
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

/// (How many in all the waiting report's buckets say.)
pub async fn expired(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<ExpiredRow>> {
    sqlx::query_as(
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
    .await
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
/// little), ended when dropped. Repeatable read: every statement of the
/// report sees one moment, so the stored periods it chooses are those whose
/// cells it reads, even while the builder replaces them.
pub async fn begin(pool: &PgPool, work_mem_mb: u32) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    set_work_mem(&mut tx, work_mem_mb).await?;
    Ok(tx)
}

/// A second transaction on the moment `tx` sees, for the other half of a
/// report to run beside it on another core; `None` when the pool has no
/// connection free at once (the halves then run one after the other on
/// `tx`, and a report never waits for a second connection).
pub async fn begin_beside(
    pool: &PgPool,
    work_mem_mb: u32,
    tx: &mut PgConnection,
) -> sqlx::Result<Option<Transaction<'static, Postgres>>> {
    let Some(mut other) = pool.try_begin().await? else {
        return Ok(None);
    };
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *other)
        .await?;
    // An id PostgreSQL made, never text from a request.
    sqlx::query(AssertSqlSafe(format!("SET TRANSACTION SNAPSHOT '{snapshot}'")))
        .execute(&mut *other)
        .await?;
    set_work_mem(&mut other, work_mem_mb).await?;
    Ok(Some(other))
}

async fn set_work_mem(tx: &mut PgConnection, work_mem_mb: u32) -> sqlx::Result<()> {
    sqlx::query(AssertSqlSafe(format!("SET LOCAL work_mem = '{work_mem_mb}MB'")))
        .execute(tx)
        .await
        .map(drop)
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
    /// Of those co-signatures, the ones that came through the integration
    /// that filed the proposal.
    pub through_one_integration: i64,
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
    let cover = Cover::load(&mut *conn, from, to, Spans::DaysAndMonths).await?;
    // The limit is a number this service parsed, written as one.
    let sql = COSIGN_PAIRS_SQL
        .replace("{CELLS}", &cells("'proposer'", 2))
        .replace("{limit}", &limit.to_string());
    fetch_over(conn, sql, now, &cover).await
}
