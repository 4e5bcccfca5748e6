//! `/v1/reports`: what managers pull to turn exceptions into better policy.
//! Manager only; each report covers proposals filed in `[from, to)` (by
//! default the last 30 days) and is computed in PostgreSQL (`crate::reports`).
//! JSON by default; CSV with `Accept: text/csv` or the `.csv` path. CSV is
//! RFC 4180, UTF-8, with a header row, and every text cell that a
//! spreadsheet would run as a formula is neutralised.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem, ProblemType};
use super::extract::Query;
use crate::app::Actor;
use crate::domain::employee::Role;
use crate::domain::fields::FieldErrors;
use crate::reports;
use crate::reports::csv::{csv_rows, csv_text, currency_columns, number, safe_cell};
use crate::reports::{
    CandidateRow, CurrencyAmounts, CurrencyCost, ExceptionRow, ExpiredRow, GroupBy, PairRow, SummaryRow, WaitingRow,
};
use crate::state::AppState;

const DEFAULT_WINDOW_DAYS: i64 = 30;
/// A hundred years: a window, and the one before it, stay in range.
const MAX_WINDOW_DAYS: i64 = 36_525;

/// The window a report covers: proposals filed at or after `from` and
/// before `to`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Described by [`from_schema`].
    #[param(schema_with = from_schema)]
    pub from: Option<Bound>,
    /// Described by [`to_schema`].
    #[param(schema_with = to_schema)]
    pub to: Option<Bound>,
    /// Default: category.
    pub group_by: Option<GroupBy>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// Described by [`from_schema`].
    #[param(schema_with = from_schema)]
    pub from: Option<Bound>,
    /// Described by [`to_schema`].
    #[param(schema_with = to_schema)]
    pub to: Option<Bound>,
}

/// One edge of a report's window as a client writes it: an RFC 3339 time,
/// or a date standing for a whole UTC day (`from` its start, `to` its end,
/// so `from=2026-11-01&to=2026-11-30` is all of November, as on the
/// reports page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        if let Ok(at) = text.parse::<DateTime<Utc>>() {
            return Ok(Bound::At(at));
        }
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Bound::Day)
            .map_err(|_| {
                serde::de::Error::custom("must be an RFC 3339 time (2026-11-01T09:00:00Z) or a date (2026-11-01)")
            })
    }
}

impl Bound {
    fn year(self) -> i32 {
        match self {
            Bound::At(at) => at.year(),
            Bound::Day(day) => day.year(),
        }
    }

    /// The moment it stands for as the window's start (`end` false) or end.
    fn moment(self, end: bool) -> DateTime<Utc> {
        match self {
            Bound::At(at) => at,
            Bound::Day(day) => {
                let day = if end { day.succ_opt().unwrap_or(day) } else { day };
                day.and_time(chrono::NaiveTime::MIN).and_utc()
            }
        }
    }
}

/// A window's edge in the OpenAPI document: a date-time or a date.
fn bound_schema(description: &str) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let string = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    OneOfBuilder::new()
        .description(Some(description))
        .item(string(KnownFormat::DateTime))
        .item(string(KnownFormat::Date))
        .into()
}

fn from_schema() -> utoipa::openapi::schema::Schema {
    bound_schema("Default: `to` minus 30 days. An RFC 3339 time, or a date: the start of that day (UTC).")
}

fn to_schema() -> utoipa::openapi::schema::Schema {
    bound_schema(
        "Default: now. An RFC 3339 time, or a date: the end of that day (UTC), so that the day is in the window.",
    )
}

/// `[from, to)` as asked, or the last 30 days.
fn window(
    from: Option<Bound>,
    to: Option<Bound>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let mut errors = FieldErrors::new();
    for (field, bound) in [("from", from), ("to", to)] {
        if bound.is_some_and(|bound| !(1..=9999).contains(&bound.year())) {
            errors.add(field, "must have a four-digit year");
        }
    }
    errors.finish()?;
    let to = to.map_or(now, |to| to.moment(true));
    let from = from.map_or(to - chrono::Duration::days(DEFAULT_WINDOW_DAYS), |from| {
        from.moment(false)
    });
    if from >= to {
        return Err(FieldErrors::single("from", "must be before `to`").into());
    }
    if to - from > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(FieldErrors::single("from", format!("must be at most {MAX_WINDOW_DAYS} days before `to`")).into());
    }
    Ok((from, to))
}

/// Customer outcomes recorded, by kind.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeCounts {
    pub satisfied: i64,
    pub neutral: i64,
    pub dissatisfied: i64,
    pub unknown: i64,
}

/// Review verdicts, by kind.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerdictCounts {
    pub endorse: i64,
    pub promote_to_policy: i64,
    pub coach: i64,
}

/// One group of the summary (or, as `totals`, all proposals of the window
/// once each).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SummaryGroup {
    /// The category, policy_ref, team ("" for none), or person id; `null`
    /// for the totals.
    pub key: Option<String>,
    /// The person's name, when grouped by proposer or co-signer.
    pub label: Option<String>,
    pub total: i64,
    pub pending: i64,
    pub approved: i64,
    /// Of those approved, how many the proposer approved alone (where the
    /// company allows it; each one reviewed).
    pub approved_alone: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    /// Pending past the deadline counts here.
    pub expired: i64,
    /// approved ÷ (approved + rejected + expired): withdrawn and pending
    /// proposals are left out; `null` when none was decided.
    pub approval_rate: Option<f64>,
    /// Seconds from filing to approval: how long the customer waited.
    pub median_secs_to_approval: Option<f64>,
    pub p90_secs_to_approval: Option<f64>,
    /// Per currency: approved, and executed as the outcomes report.
    pub amounts: Vec<CurrencyAmounts>,
    pub outcomes: OutcomeCounts,
    pub verdicts: VerdictCounts,
}

impl From<SummaryRow> for SummaryGroup {
    fn from(row: SummaryRow) -> Self {
        SummaryGroup {
            key: row.group_key,
            label: row.group_label,
            total: row.total,
            pending: row.pending,
            approved: row.approved,
            approved_alone: row.approved_alone,
            rejected: row.rejected,
            withdrawn: row.withdrawn,
            expired: row.expired,
            approval_rate: row.approval_rate,
            median_secs_to_approval: row.median_secs_to_approval,
            p90_secs_to_approval: row.p90_secs_to_approval,
            amounts: row.amounts.0,
            outcomes: OutcomeCounts {
                satisfied: row.satisfied,
                neutral: row.neutral,
                dissatisfied: row.dissatisfied,
                unknown: row.unknown,
            },
            verdicts: VerdictCounts {
                endorse: row.endorse,
                promote_to_policy: row.promote_to_policy,
                coach: row.coach,
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    /// Ordered by key.
    pub groups: Vec<SummaryGroup>,
    pub totals: SummaryGroup,
}

/// Whether the caller asked for CSV: the `.csv` path, or `Accept: text/csv`.
fn wants_csv(headers: &HeaderMap, csv_path: bool) -> bool {
    csv_path
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// Per group: counts per status, approval rate, median and p90 seconds to
/// approval, amounts approved and executed per currency, outcomes and
/// review verdicts; plus the totals.
#[utoipa::path(
    get, path = "/v1/reports/summary", tag = "reports", security(("bearer" = [])),
    params(SummaryQuery, ("Accept" = Option<String>, Header, description = "text/csv for CSV")),
    responses(
        (status = 200, content((Summary = "application/json"), (String = "text/csv")), description = "one row per group, then `totals`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Query(query): Query<SummaryQuery>,
) -> Result<Response, ApiError> {
    summary_in(state, actor, wants_csv(&headers, false), query).await
}

/// The summary as CSV.
#[utoipa::path(
    get, path = "/v1/reports/summary.csv", tag = "reports", security(("bearer" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, body = String, content_type = "text/csv", description = "one row per group, then `totals`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn summary_csv(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<SummaryQuery>,
) -> Result<Response, ApiError> {
    summary_in(state, actor, true, query).await
}

/// The summary (for this door's JSON and CSV, and the web's pages).
pub(crate) async fn summary_report(state: &AppState, actor: &Actor, query: SummaryQuery) -> Result<Summary, ApiError> {
    actor.require(Role::Manager)?;
    let now = Utc::now();
    let (from, to) = window(query.from, query.to, now)?;
    let group_by = query.group_by.unwrap_or(GroupBy::Category);
    let mut tx = reports::begin(&state.pool, state.settings.reports.work_mem_mb).await?;
    let mut other = reports::begin_beside(&state.pool, state.settings.reports.work_mem_mb, &mut tx).await?;
    let mut rows = reports::summary(&mut tx, other.as_deref_mut(), group_by, from, to, now).await?;
    let totals = rows.pop().filter(|row| row.is_total).map(SummaryGroup::from);
    let totals = totals.ok_or_else(|| anyhow::anyhow!("the summary came without its totals row"))?;
    Ok(Summary {
        from,
        to,
        group_by,
        groups: rows.into_iter().map(SummaryGroup::from).collect(),
        totals,
    })
}

pub(crate) async fn summary_in(
    state: AppState,
    actor: Actor,
    csv: bool,
    query: SummaryQuery,
) -> Result<Response, ApiError> {
    let summary = summary_report(&state, &actor, query).await?;
    if !csv {
        return Ok(axum::Json(summary).into_response());
    }
    let found =
        (summary.groups.iter().chain([&summary.totals])).flat_map(|g| g.amounts.iter().map(|a| a.currency.as_str()));
    let currencies = currency_columns(state.policy.peer_limits.keys().map(String::as_str), found);
    let body = summary_csv_text(&summary, &currencies).map_err(anyhow::Error::from)?;
    Ok(csv_response(Body::from(body), "summary.csv"))
}

fn csv_response(body: Body, filename: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .expect("a plain file name is a valid header");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

fn summary_csv_text(summary: &Summary, currencies: &[&str]) -> csv::Result<Vec<u8>> {
    let mut header: Vec<String> = [
        "group",
        "key",
        "label",
        "total",
        "pending",
        "approved",
        "approved_alone",
        "rejected",
        "withdrawn",
        "expired",
        "approval_rate",
        "median_secs_to_approval",
        "p90_secs_to_approval",
    ]
    .map(str::to_owned)
    .to_vec();
    for currency in currencies {
        header.push(format!("approved_minor_{currency}"));
        header.push(format!("executed_minor_{currency}"));
    }
    header.extend(
        [
            "outcome_satisfied",
            "outcome_neutral",
            "outcome_dissatisfied",
            "outcome_unknown",
            "verdict_endorse",
            "verdict_promote_to_policy",
            "verdict_coach",
        ]
        .map(str::to_owned),
    );
    let rows = summary
        .groups
        .iter()
        .map(|g| ("group", g))
        .chain([("totals", &summary.totals)]);
    let records = rows.map(|(kind, group)| {
        let mut record: Vec<String> = vec![
            kind.to_owned(),
            safe_cell(group.key.as_deref().unwrap_or("")).into_owned(),
            safe_cell(group.label.as_deref().unwrap_or("")).into_owned(),
        ];
        record.extend(
            [
                group.total,
                group.pending,
                group.approved,
                group.approved_alone,
                group.rejected,
                group.withdrawn,
                group.expired,
            ]
            .map(|n| n.to_string()),
        );
        record.push(number(group.approval_rate));
        record.push(number(group.median_secs_to_approval));
        record.push(number(group.p90_secs_to_approval));
        for currency in currencies {
            let amounts = group.amounts.iter().find(|a| a.currency == *currency);
            record.push(amounts.map_or(0, |a| a.approved_minor).to_string());
            record.push(amounts.map_or(0, |a| a.executed_minor).to_string());
        }
        let (o, v) = (&group.outcomes, &group.verdicts);
        record.extend(
            [
                o.satisfied,
                o.neutral,
                o.dissatisfied,
                o.unknown,
                v.endorse,
                v.promote_to_policy,
                v.coach,
            ]
            .map(|n| n.to_string()),
        );
        record
    });
    csv_text(&header, records)
}

const EXCEPTION_COLUMNS: [&str; 27] = [
    "id",
    "status",
    "category",
    "policy_ref",
    "summary",
    "customer_ref",
    "ticket_ref",
    "amount_minor",
    "currency",
    "required_cosigners",
    "revision",
    "proposer_id",
    "proposer_name",
    "proposer_team",
    "cosigners",
    "created_at",
    "decided_at",
    "executed",
    "actual_amount_minor",
    "actual_currency",
    "customer_outcome",
    "outcome_note",
    "verdict",
    "reviewer_id",
    "reviewer_name",
    "review_note",
    "reviewed_at",
];

fn exception_record(row: &ExceptionRow) -> Vec<String> {
    let text = |value: &str| safe_cell(value).into_owned();
    let opt = |value: &Option<String>| value.as_deref().map(text).unwrap_or_default();
    let time = |value: Option<DateTime<Utc>>| {
        value
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default()
    };
    vec![
        row.id.to_string(),
        row.status.clone(),
        text(&row.category),
        text(&row.policy_ref),
        text(&row.summary),
        opt(&row.customer_ref),
        opt(&row.ticket_ref),
        number(row.amount_minor),
        opt(&row.currency),
        row.required_cosigners.to_string(),
        row.revision.to_string(),
        row.proposer_id.to_string(),
        text(&row.proposer_name),
        opt(&row.proposer_team),
        opt(&row.cosigners),
        time(Some(row.created_at)),
        time(row.decided_at),
        number(row.executed),
        number(row.actual_amount_minor),
        opt(&row.actual_currency),
        opt(&row.customer_outcome),
        opt(&row.outcome_note),
        opt(&row.verdict),
        number(row.reviewer_id),
        opt(&row.reviewer_name),
        opt(&row.review_note),
        time(row.reviewed_at),
    ]
}

/// Rows the export reads from the database at a time.
const EXPORT_PAGE: u32 = 500;

/// One row per proposal filed in the window, oldest first, streamed:
/// status, people by name and id, team, amounts, times, outcome, review.
#[utoipa::path(
    get, path = "/v1/reports/exceptions.csv", tag = "reports", security(("bearer" = [])),
    params(WindowQuery),
    responses(
        (status = 200, body = String, content_type = "text/csv"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem, description = "as many exports as reports.max_concurrent_exports are running"),
    )
)]
pub async fn exceptions_csv(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<WindowQuery>,
) -> Result<Response, ApiError> {
    actor.require(Role::Manager)?;
    let now = Utc::now();
    let (from, to) = window(query.from, query.to, now)?;
    // A few at once, each for a bounded time: an export holds a database
    // connection while its client reads.
    // Held by the reader of the database and by the answer both: an export
    // counts until it is read to the end or its client has left.
    let slot = state.export_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::refused(
            ProblemType::Unavailable,
            "as many exports as `reports.max_concurrent_exports` allows are running; retry shortly",
        )
    })?;
    // Opened before the answer starts, so that a database that does not
    // answer is a problem response, not a cut-off file.
    let mut cursor = reports::open_exceptions(&state.pool, from, to, now).await?;
    let header = csv_rows([EXCEPTION_COLUMNS.to_vec()]).map_err(anyhow::Error::from)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(state.settings.reports.export_timeout_secs);
    let (pages, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let slot = std::sync::Arc::new(slot);
    let held_by_answer = slot.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let export = async {
            loop {
                let rows = cursor.next_page(EXPORT_PAGE).await?;
                if rows.is_empty() {
                    return Ok::<(), anyhow::Error>(());
                }
                let page = csv_rows(rows.iter().map(exception_record)).map_err(anyhow::Error::from)?;
                if pages.send(Ok(page)).await.is_err() {
                    return Ok(()); // the client left
                }
            }
        };
        let failed = match tokio::time::timeout_at(deadline, export).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("{error:#}")),
            Err(_) => Some("the export ran past reports.export_timeout_secs".to_owned()),
        };
        if let Some(error) = failed {
            tracing::warn!(%error, "exceptions export cut off");
            let _ = pages.try_send(Err(std::io::Error::other(error)));
        }
        // The cursor's transaction ends here, read to the end or not.
    });
    // Fused: the body may be polled once more after it ended.
    let rest = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|page| (page, rx)) }).fuse();
    let body = futures_util::stream::once(async move { Ok(header) })
        .chain(rest)
        .map(move |page| {
            let _held = &held_by_answer;
            page
        });
    Ok(csv_response(Body::from_stream(body), "exceptions.csv"))
}

// ------------------------------------------------------ policy candidates

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CandidatesQuery {
    /// Described by [`from_schema`].
    #[param(schema_with = from_schema)]
    pub from: Option<Bound>,
    /// Described by [`to_schema`].
    #[param(schema_with = to_schema)]
    pub to: Option<Bound>,
    /// The fewest proposals that make an exception recurring. Default 3.
    #[param(minimum = 1, maximum = 1000000)]
    pub min_count: Option<i64>,
}

/// One recurring exception.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyCandidate {
    pub category: String,
    pub policy_ref: String,
    /// Proposals filed in the window.
    pub volume: i64,
    pub approved: i64,
    /// approved ÷ (approved + rejected + expired); `null` when none was decided.
    pub approval_rate: Option<f64>,
    /// What the approved ones cost, per currency (their approved amounts).
    pub cost: Vec<CurrencyCost>,
    /// satisfied ÷ outcomes whose customer outcome is known; `null` when none is.
    pub satisfied_share: Option<f64>,
    /// Reviews that said `promote_to_policy`.
    pub promote_votes: i64,
    /// Proposals in the window of equal length just before.
    pub previous_volume: i64,
    /// (volume − previous_volume) ÷ previous_volume; `null` when it is new.
    pub trend: Option<f64>,
    /// Standing approvals in force for it, now or from a later date (empty: none yet).
    pub standing_approval_ids: Vec<uuid::Uuid>,
    /// `GET` this for a pre-filled `POST /v1/standing-approvals` body.
    pub create_standing_approval: String,
}

impl From<CandidateRow> for PolicyCandidate {
    fn from(row: CandidateRow) -> Self {
        let trend =
            (row.previous_volume > 0).then(|| (row.volume - row.previous_volume) as f64 / row.previous_volume as f64);
        let draft = format!(
            "/v1/standing-approvals/draft?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("category", &row.category)
                .append_pair("policy_ref", &row.policy_ref)
                .finish()
        );
        PolicyCandidate {
            category: row.category,
            policy_ref: row.policy_ref,
            volume: row.volume,
            approved: row.approved,
            approval_rate: row.approval_rate,
            cost: row.cost.0,
            satisfied_share: row.satisfied_share,
            promote_votes: row.promote_votes,
            previous_volume: row.previous_volume,
            trend,
            create_standing_approval: draft,
            standing_approval_ids: row.standing_approval_ids,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyCandidates {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub min_count: i64,
    /// Strongest first: more `promote_to_policy` votes, then more volume,
    /// then a higher approval rate, then a higher satisfied share.
    pub items: Vec<PolicyCandidate>,
}

/// Recurring (category, policy_ref) exceptions, the strongest candidates
/// for a policy change first: volume, approval rate, cost per currency,
/// satisfied customers, promote votes and the trend against the window
/// before.
#[utoipa::path(
    get, path = "/v1/reports/policy-candidates", tag = "reports", security(("bearer" = [])),
    params(CandidatesQuery, ("Accept" = Option<String>, Header, description = "text/csv for CSV")),
    responses(
        (status = 200, content((PolicyCandidates = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn policy_candidates(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Query(query): Query<CandidatesQuery>,
) -> Result<Response, ApiError> {
    policy_candidates_in(state, actor, wants_csv(&headers, false), query).await
}

/// The policy candidates as CSV.
#[utoipa::path(
    get, path = "/v1/reports/policy-candidates.csv", tag = "reports", security(("bearer" = [])),
    params(CandidatesQuery),
    responses(
        (status = 200, body = String, content_type = "text/csv"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn policy_candidates_csv(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<CandidatesQuery>,
) -> Result<Response, ApiError> {
    policy_candidates_in(state, actor, true, query).await
}

pub(crate) async fn policy_candidates_report(
    state: &AppState,
    actor: &Actor,
    query: CandidatesQuery,
) -> Result<PolicyCandidates, ApiError> {
    actor.require(Role::Manager)?;
    let now = Utc::now();
    let (from, to) = window(query.from, query.to, now)?;
    let min_count = query.min_count.unwrap_or(3);
    if !(1..=1_000_000).contains(&min_count) {
        return Err(FieldErrors::single("min_count", "must be between 1 and 1000000").into());
    }
    let mut tx = reports::begin(&state.pool, state.settings.reports.work_mem_mb).await?;
    let rows = reports::policy_candidates(&mut tx, from, to, now, min_count).await?;
    Ok(PolicyCandidates {
        from,
        to,
        min_count,
        items: rows.into_iter().map(PolicyCandidate::from).collect(),
    })
}

pub(crate) async fn policy_candidates_in(
    state: AppState,
    actor: Actor,
    csv: bool,
    query: CandidatesQuery,
) -> Result<Response, ApiError> {
    let report = policy_candidates_report(&state, &actor, query).await?;
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    let found = report
        .items
        .iter()
        .flat_map(|item| item.cost.iter().map(|c| c.currency.as_str()));
    let currencies = currency_columns(state.policy.peer_limits.keys().map(String::as_str), found);
    let mut header: Vec<String> = ["category", "policy_ref", "volume", "approved", "approval_rate"]
        .map(str::to_owned)
        .to_vec();
    for currency in &currencies {
        header.push(format!("total_minor_{currency}"));
        header.push(format!("average_minor_{currency}"));
    }
    header.extend(
        [
            "satisfied_share",
            "promote_votes",
            "previous_volume",
            "trend",
            "standing_approvals",
        ]
        .map(str::to_owned),
    );
    let records = report.items.iter().map(|item| {
        let mut record = vec![
            safe_cell(&item.category).into_owned(),
            safe_cell(&item.policy_ref).into_owned(),
            item.volume.to_string(),
            item.approved.to_string(),
            number(item.approval_rate),
        ];
        for currency in &currencies {
            let cost = item.cost.iter().find(|c| c.currency == *currency);
            record.push(cost.map_or(0, |c| c.total_minor).to_string());
            record.push(cost.map_or(0, |c| c.average_minor).to_string());
        }
        record.extend([
            number(item.satisfied_share),
            item.promote_votes.to_string(),
            item.previous_volume.to_string(),
            number(item.trend),
            item.standing_approval_ids.len().to_string(),
        ]);
        record
    });
    let body = csv_text(&header, records).map_err(anyhow::Error::from)?;
    Ok(csv_response(Body::from(body), "policy-candidates.csv"))
}

// ----------------------------------------------------------- co-sign pairs

/// One proposer and one of their co-signers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CosignPair {
    pub proposer_id: uuid::Uuid,
    pub proposer_name: String,
    pub cosigner_id: uuid::Uuid,
    pub cosigner_name: String,
    /// The proposer's proposals this co-signer endorsed.
    pub cosigned: i64,
    /// Of those, approved.
    pub approvals: i64,
    /// Of the co-signatures, those sent through the same helpdesk
    /// integration that filed the proposal: one token acted as both people.
    pub through_one_integration: i64,
    /// All the proposer's approvals in the window.
    pub proposer_approvals: i64,
    /// approvals ÷ proposer_approvals.
    pub share_of_approvals: Option<f64>,
    /// The co-signer's proposals the proposer endorsed in turn.
    pub reciprocal: i64,
    pub median_secs_to_cosign: Option<f64>,
    /// Prompts to look, never findings: `concentrated` (this co-signer is
    /// behind at least `reports.pair_share_threshold` of the proposer's
    /// approvals, once they have `reports.pair_min_approvals`), `fast`
    /// (median co-sign under `reports.fast_cosign_secs`), `mutual` (they
    /// co-sign each other's), `one_integration` (a co-signature came
    /// through the integration that filed the proposal).
    pub flags: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PairsQuery {
    /// Described by [`from_schema`].
    #[param(schema_with = from_schema)]
    pub from: Option<Bound>,
    /// Described by [`to_schema`].
    #[param(schema_with = to_schema)]
    pub to: Option<Bound>,
    /// How many pairs, the most concentrated first. Default 500.
    #[param(minimum = 1, maximum = 100000)]
    pub top: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CosignPairs {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The most concentrated first.
    pub items: Vec<CosignPair>,
}

fn pair(row: PairRow, settings: &crate::config::ReportSettings) -> CosignPair {
    let mut flags = Vec::new();
    if row.proposer_approvals >= settings.pair_min_approvals
        && row
            .share_of_approvals
            .is_some_and(|share| share >= settings.pair_share_threshold)
    {
        flags.push("concentrated".to_owned());
    }
    if row
        .median_secs_to_cosign
        .is_some_and(|secs| secs < settings.fast_cosign_secs)
    {
        flags.push("fast".to_owned());
    }
    if row.reciprocal > 0 {
        flags.push("mutual".to_owned());
    }
    if row.through_one_integration > 0 {
        flags.push("one_integration".to_owned());
    }
    CosignPair {
        proposer_id: row.proposer_id,
        proposer_name: row.proposer_name,
        cosigner_id: row.cosigner_id,
        cosigner_name: row.cosigner_name,
        cosigned: row.cosigned,
        approvals: row.approvals,
        through_one_integration: row.through_one_integration,
        proposer_approvals: row.proposer_approvals,
        share_of_approvals: row.share_of_approvals,
        reciprocal: row.reciprocal,
        median_secs_to_cosign: row.median_secs_to_cosign,
        flags,
    }
}

/// Who co-signs whom: per proposer/co-signer pair the count, the share of
/// the proposer's approvals, reciprocity and the median time to co-sign,
/// with flags that prompt a look (never an accusation).
#[utoipa::path(
    get, path = "/v1/reports/cosign-pairs", tag = "reports", security(("bearer" = [])),
    params(PairsQuery, ("Accept" = Option<String>, Header, description = "text/csv for CSV")),
    responses(
        (status = 200, content((CosignPairs = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn cosign_pairs(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Query(query): Query<PairsQuery>,
) -> Result<Response, ApiError> {
    cosign_pairs_in(state, actor, wants_csv(&headers, false), query).await
}

/// The co-sign pairs as CSV.
#[utoipa::path(
    get, path = "/v1/reports/cosign-pairs.csv", tag = "reports", security(("bearer" = [])),
    params(PairsQuery),
    responses(
        (status = 200, body = String, content_type = "text/csv"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn cosign_pairs_csv(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<PairsQuery>,
) -> Result<Response, ApiError> {
    cosign_pairs_in(state, actor, true, query).await
}

pub(crate) async fn cosign_pairs_report(
    state: &AppState,
    actor: &Actor,
    query: PairsQuery,
) -> Result<CosignPairs, ApiError> {
    actor.require(Role::Manager)?;
    let now = Utc::now();
    let (from, to) = window(query.from, query.to, now)?;
    let top = query.top.unwrap_or(500);
    if !(1..=100_000).contains(&top) {
        return Err(FieldErrors::single("top", "must be between 1 and 100000").into());
    }
    let mut tx = reports::begin(&state.pool, state.settings.reports.work_mem_mb).await?;
    let rows = reports::cosign_pairs(&mut tx, from, to, now, top).await?;
    Ok(CosignPairs {
        from,
        to,
        items: rows.into_iter().map(|row| pair(row, &state.settings.reports)).collect(),
    })
}

pub(crate) async fn cosign_pairs_in(
    state: AppState,
    actor: Actor,
    csv: bool,
    query: PairsQuery,
) -> Result<Response, ApiError> {
    let report = cosign_pairs_report(&state, &actor, query).await?;
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    let header = [
        "proposer_id",
        "proposer_name",
        "cosigner_id",
        "cosigner_name",
        "cosigned",
        "approvals",
        "through_one_integration",
        "proposer_approvals",
        "share_of_approvals",
        "reciprocal",
        "median_secs_to_cosign",
        "flags",
    ]
    .map(str::to_owned);
    let records = report.items.iter().map(|p| {
        vec![
            p.proposer_id.to_string(),
            safe_cell(&p.proposer_name).into_owned(),
            p.cosigner_id.to_string(),
            safe_cell(&p.cosigner_name).into_owned(),
            p.cosigned.to_string(),
            p.approvals.to_string(),
            p.through_one_integration.to_string(),
            p.proposer_approvals.to_string(),
            number(p.share_of_approvals),
            p.reciprocal.to_string(),
            number(p.median_secs_to_cosign),
            p.flags.join(" "),
        ]
    });
    let body = csv_text(&header, records).map_err(anyhow::Error::from)?;
    Ok(csv_response(Body::from(body), "cosign-pairs.csv"))
}

// ---------------------------------------------------------------- waiting

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitingQuery {
    /// Described by [`from_schema`].
    #[param(schema_with = from_schema)]
    pub from: Option<Bound>,
    /// Described by [`to_schema`].
    #[param(schema_with = to_schema)]
    pub to: Option<Bound>,
    /// The IANA time zone hours and weekdays are counted in. Default UTC.
    pub time_zone: Option<String>,
}

/// Proposals filed in one hour of the day (or on one weekday).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingBucket {
    /// 0–23, or the ISO weekday 1 (Monday) – 7 (Sunday).
    pub bucket: i32,
    pub filed: i64,
    /// Approved, rejected or expired (withdrawn ones are left out).
    pub decided: i64,
    /// Expired: nobody decided before the deadline.
    pub expired: i64,
    pub median_secs_to_decision: Option<f64>,
    pub p90_secs_to_decision: Option<f64>,
    /// Seconds from filing to the first endorsement: how long until a
    /// second person noticed and agreed.
    pub median_secs_to_first_cosign: Option<f64>,
    pub p90_secs_to_first_cosign: Option<f64>,
    /// Proposals that needed a reminder, an escalation to managers, or
    /// that the proposer approved alone.
    pub reminded: i64,
    pub escalated: i64,
    pub approved_alone: i64,
}

impl From<WaitingRow> for WaitingBucket {
    fn from(row: WaitingRow) -> Self {
        WaitingBucket {
            bucket: row.bucket,
            filed: row.filed,
            decided: row.decided,
            expired: row.expired,
            median_secs_to_decision: row.median_secs_to_decision,
            p90_secs_to_decision: row.p90_secs_to_decision,
            median_secs_to_first_cosign: row.median_secs_to_first_cosign,
            p90_secs_to_first_cosign: row.p90_secs_to_first_cosign,
            reminded: row.reminded,
            escalated: row.escalated,
            approved_alone: row.approved_alone,
        }
    }
}

/// A proposal nobody decided in time: a customer who waited for nothing.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiredProposal {
    pub id: uuid::Uuid,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub ticket_ref: Option<String>,
    pub proposer_id: uuid::Uuid,
    pub proposer_name: String,
    pub proposer_team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub endorsements: i64,
    pub declines: i64,
}

impl From<ExpiredRow> for ExpiredProposal {
    fn from(row: ExpiredRow) -> Self {
        ExpiredProposal {
            id: row.id,
            category: row.category,
            policy_ref: row.policy_ref,
            summary: row.summary,
            ticket_ref: row.ticket_ref,
            proposer_id: row.proposer_id,
            proposer_name: row.proposer_name,
            proposer_team: row.proposer_team,
            created_at: row.created_at,
            expires_at: row.expires_at,
            endorsements: row.endorsements,
            declines: row.declines,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Waiting {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    /// Hours with proposals only, in order.
    pub by_hour: Vec<WaitingBucket>,
    /// Weekdays with proposals only, in order.
    pub by_weekday: Vec<WaitingBucket>,
    /// How many expired in the window.
    pub expired_total: i64,
    /// The first 100 of them, oldest first (all are in exceptions.csv).
    pub expired: Vec<ExpiredProposal>,
}

const EXPIRED_LISTED: i64 = 100;

/// Time from filing to decision by hour of day and weekday, and the
/// proposals that expired: the cost of no peer being available.
#[utoipa::path(
    get, path = "/v1/reports/waiting", tag = "reports", security(("bearer" = [])),
    params(WaitingQuery, ("Accept" = Option<String>, Header, description = "text/csv for CSV")),
    responses(
        (status = 200, content((Waiting = "application/json"), (String = "text/csv")), description = "a row per hour, then per weekday"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn waiting(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    Query(query): Query<WaitingQuery>,
) -> Result<Response, ApiError> {
    waiting_in(state, actor, wants_csv(&headers, false), query).await
}

/// The waiting report as CSV.
#[utoipa::path(
    get, path = "/v1/reports/waiting.csv", tag = "reports", security(("bearer" = [])),
    params(WaitingQuery),
    responses(
        (status = 200, body = String, content_type = "text/csv", description = "a row per hour, then per weekday"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
pub async fn waiting_csv(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<WaitingQuery>,
) -> Result<Response, ApiError> {
    waiting_in(state, actor, true, query).await
}

async fn waiting_in(state: AppState, actor: Actor, csv: bool, query: WaitingQuery) -> Result<Response, ApiError> {
    actor.require(Role::Manager)?;
    let now = Utc::now();
    let (from, to) = window(query.from, query.to, now)?;
    let time_zone = query.time_zone.unwrap_or_else(|| "UTC".to_owned());
    let mut tx = reports::begin(&state.pool, state.settings.reports.work_mem_mb).await?;
    if time_zone.len() > 64 || !reports::is_time_zone(&mut tx, &time_zone).await? {
        return Err(FieldErrors::single("time_zone", "must be an IANA time zone name, e.g. Europe/Berlin").into());
    }
    let mut other = reports::begin_beside(&state.pool, state.settings.reports.work_mem_mb, &mut tx).await?;
    let (by_hour, by_weekday) = reports::waiting(&mut tx, other.as_deref_mut(), from, to, now, &time_zone).await?;
    let expired = reports::expired(&mut tx, from, to, now, EXPIRED_LISTED).await?;
    // Each proposal is in one hour of the day.
    let expired_total = by_hour.iter().map(|bucket| bucket.expired).sum();
    let report = Waiting {
        from,
        to,
        time_zone,
        by_hour: by_hour.into_iter().map(WaitingBucket::from).collect(),
        by_weekday: by_weekday.into_iter().map(WaitingBucket::from).collect(),
        expired_total,
        expired: expired.into_iter().map(ExpiredProposal::from).collect(),
    };
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    let header = [
        "by",
        "bucket",
        "filed",
        "decided",
        "expired",
        "median_secs_to_decision",
        "p90_secs_to_decision",
        "median_secs_to_first_cosign",
        "p90_secs_to_first_cosign",
        "reminded",
        "escalated",
        "approved_alone",
    ]
    .map(str::to_owned);
    let rows = (report.by_hour.iter().map(|b| ("hour", b))).chain(report.by_weekday.iter().map(|b| ("weekday", b)));
    let records = rows.map(|(by, b)| {
        vec![
            by.to_owned(),
            b.bucket.to_string(),
            b.filed.to_string(),
            b.decided.to_string(),
            b.expired.to_string(),
            number(b.median_secs_to_decision),
            number(b.p90_secs_to_decision),
            number(b.median_secs_to_first_cosign),
            number(b.p90_secs_to_first_cosign),
            b.reminded.to_string(),
            b.escalated.to_string(),
            b.approved_alone.to_string(),
        ]
    });
    let body = csv_text(&header, records).map_err(anyhow::Error::from)?;
    Ok(csv_response(Body::from(body), "waiting.csv"))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(summary_csv))
        .routes(routes!(exceptions_csv))
        .routes(routes!(policy_candidates))
        .routes(routes!(policy_candidates_csv))
        .routes(routes!(cosign_pairs))
        .routes(routes!(cosign_pairs_csv))
        .routes(routes!(waiting))
        .routes(routes!(waiting_csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(safe_cell(formula), format!("'{formula}"));
        }
        assert_eq!(safe_cell("refund"), "refund");
        assert_eq!(safe_cell(""), "");
    }

    #[test]
    fn csv_is_asked_for_by_path_or_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_csv(&headers, false));
        assert!(wants_csv(&headers, true));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/csv;q=0.9"),
        );
        assert!(wants_csv(&headers, false));
    }
}
