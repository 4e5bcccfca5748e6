//! `/v1/reports`: what managers pull to turn exceptions into better policy.
//! Manager only; each report covers proposals filed in `[from, to)` (by
//! default the last 30 days). The reports themselves are the use cases of
//! `app::reports` (computed in PostgreSQL, `crate::reports`), which the
//! reports page calls too; this door answers them as JSON by default, or as
//! CSV with `Accept: text/csv` or the `.csv` path, written by
//! `crate::reports::csv` (RFC 4180, UTF-8, a header row, every text cell
//! that a spreadsheet would run as a formula neutralised). The exceptions
//! export is streamed from here.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem, ProblemType};
use super::extract::Query;
use crate::app::reports::{CandidatesQuery, PairsQuery, SummaryQuery, WaitingQuery, WindowQuery, window};
use crate::app::{self, Actor};
use crate::domain::employee::Role;
use crate::reports;
use crate::reports::csv::{CsvFile, EXCEPTION_COLUMNS, attachment, csv_rows, exception_record};
use crate::reports::views::{CosignPairs, PolicyCandidates, Summary, Waiting};
use crate::state::AppState;

/// Whether the caller asked for CSV: the `.csv` path, or `Accept: text/csv`.
fn wants_csv(headers: &HeaderMap, csv_path: bool) -> bool {
    csv_path
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// A report as JSON, or (`csv`) as the CSV file `write` makes of it.
fn answer<T: Serialize>(
    report: T,
    csv: bool,
    write: impl FnOnce(&T) -> csv::Result<CsvFile>,
) -> Result<Response, ApiError> {
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    Ok(write(&report).map_err(anyhow::Error::from)?.into_response())
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

async fn summary_in(state: AppState, actor: Actor, csv: bool, query: SummaryQuery) -> Result<Response, ApiError> {
    let summary = app::reports::summary(&state, &actor, query).await?;
    answer(summary, csv, |summary| reports::csv::summary(summary, &state.policy))
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
    Ok(attachment(Body::from_stream(body), "exceptions.csv"))
}

// ------------------------------------------------------ policy candidates

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

async fn policy_candidates_in(
    state: AppState,
    actor: Actor,
    csv: bool,
    query: CandidatesQuery,
) -> Result<Response, ApiError> {
    let report = app::reports::policy_candidates(&state, &actor, query).await?;
    answer(report, csv, |report| {
        reports::csv::policy_candidates(report, &state.policy)
    })
}

// ----------------------------------------------------------- co-sign pairs

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

async fn cosign_pairs_in(state: AppState, actor: Actor, csv: bool, query: PairsQuery) -> Result<Response, ApiError> {
    let report = app::reports::cosign_pairs(&state, &actor, query).await?;
    answer(report, csv, reports::csv::cosign_pairs)
}

// ---------------------------------------------------------------- waiting

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
    let report = app::reports::waiting(&state, &actor, query).await?;
    answer(report, csv, reports::csv::waiting)
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
    use axum::http::HeaderValue;

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
