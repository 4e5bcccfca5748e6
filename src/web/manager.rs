//! The managers' pages: the review queue (each proposal's page has the
//! review form) and the reports, as tables with bar charts and CSV
//! downloads. The reports come from the same use cases (`app::reports`)
//! and the same CSV writers (`reports::csv`) as the REST reports, so a page
//! and `/v1/reports/…` never disagree.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::format::{Card, Chart, card, chart, duration, money};
use super::page::{Frame, WebError, render, require_role};
use super::session::Signed;
use crate::app::reports::{Bound, CandidatesQuery, PairsQuery, SummaryQuery};
use crate::app::{self, AppError};
use crate::db;
use crate::domain::employee::Role;
use crate::reports::views::SummaryGroup;
use crate::reports::{GroupBy, csv};
use crate::state::AppState;
use crate::views;

/// Pairs the page shows (the CSV has them all).
const PAIRS_SHOWN: i64 = 50;

#[derive(Template)]
#[template(path = "proposal_list.html")]
struct QueuePage {
    frame: Frame,
    heading: &'static str,
    empty: &'static str,
    items: Vec<Card>,
}

/// Decided proposals nobody has reviewed, oldest first, leaving out those
/// the manager filed or signed.
async fn review_queue(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    require_role(&session, Role::Manager)?;
    let now = Utc::now();
    let filter = db::proposals::ListFilter {
        awaiting_review: true,
        reviewable_by: Some(session.person.id),
        oldest_first: true,
        now,
        limit: 100,
        ..db::proposals::ListFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let rows = db::proposals::list(&mut conn, &filter).await?;
    let page = QueuePage {
        frame: Frame::new(&session, "Review queue", "/reviews"),
        heading: "Review queue",
        empty: "Every decided proposal has been reviewed.",
        items: rows.iter().map(|row| card(&views::proposal(row, now))).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The window and grouping as the report form sends them: whole days,
/// `to` included.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReportForm {
    from: String,
    to: String,
    group_by: String,
}

/// `from` and `to` as whole days, which the reports read as their start and
/// end.
struct Window {
    from: Bound,
    to: Bound,
    from_day: String,
    to_day: String,
    group_by: GroupBy,
    group_by_name: &'static str,
}

const GROUPINGS: [(GroupBy, &str, &str); 5] = [
    (GroupBy::Category, "category", "Category"),
    (GroupBy::PolicyRef, "policy_ref", "Policy reference"),
    (GroupBy::Team, "team", "Team"),
    (GroupBy::Proposer, "proposer", "Proposer"),
    (GroupBy::Cosigner, "cosigner", "Co-signer"),
];

fn day(text: &str, field: &str) -> Result<Option<NaiveDate>, WebError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| WebError::bad_form(&format!("{field}: must be a date such as 2026-11-01")))
}

impl ReportForm {
    fn window(&self) -> Result<Window, WebError> {
        let today = Utc::now().date_naive();
        let to_day = day(&self.to, "to")?.unwrap_or(today);
        let from_day = day(&self.from, "from")?.unwrap_or(to_day - Duration::days(29));
        let (group_by, group_by_name, _) = GROUPINGS
            .iter()
            .find(|(_, name, _)| *name == self.group_by)
            .copied()
            .unwrap_or(GROUPINGS[0]);
        Ok(Window {
            from: Bound::Day(from_day),
            to: Bound::Day(to_day),
            from_day: from_day.to_string(),
            to_day: to_day.to_string(),
            group_by,
            group_by_name,
        })
    }
}

#[derive(Debug, Clone)]
struct SummaryLine {
    label: String,
    total: i64,
    approved: i64,
    rejected: i64,
    expired: i64,
    approval_rate: String,
    median_wait: String,
    p90_wait: String,
    approved_amounts: String,
}

#[derive(Debug, Clone)]
struct CandidateLine {
    category: String,
    policy_ref: String,
    volume: i64,
    approval_rate: String,
    cost: String,
    satisfied_share: String,
    promote_votes: i64,
    trend: String,
    /// A standing approval is in force for it.
    standing: bool,
    /// `category=…&policy_ref=…` for the promotion form.
    draft_query: String,
}

#[derive(Debug, Clone)]
struct PairLine {
    proposer: String,
    cosigner: String,
    approvals: i64,
    share: String,
    median_to_cosign: String,
    flags: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    frame: Frame,
    from_day: String,
    to_day: String,
    group_by_name: &'static str,
    groupings: Vec<(&'static str, &'static str)>,
    /// The query string of the CSV links.
    csv_query: String,
    summary: Vec<SummaryLine>,
    totals: SummaryLine,
    waits: Chart,
    candidates: Vec<CandidateLine>,
    volumes: Chart,
    pairs: Vec<PairLine>,
}

fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

fn wait(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), duration)
}

fn summary_line(group: &SummaryGroup) -> SummaryLine {
    SummaryLine {
        label: group
            .label
            .clone()
            .or_else(|| group.key.clone())
            .map(|label| {
                if label.is_empty() {
                    "(no team)".to_owned()
                } else {
                    label
                }
            })
            .unwrap_or_else(|| "All".to_owned()),
        total: group.total,
        approved: group.approved,
        rejected: group.rejected,
        expired: group.expired,
        approval_rate: share(group.approval_rate),
        median_wait: wait(group.median_secs_to_approval),
        p90_wait: wait(group.p90_secs_to_approval),
        approved_amounts: group
            .amounts
            .iter()
            .map(|a| money(a.approved_minor, &a.currency))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

async fn reports(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(form): Query<ReportForm>,
) -> Result<Response, WebError> {
    require_role(&session, Role::Manager)?;
    let window = form.window()?;
    let summary = app::reports::summary(
        &state,
        &session.actor,
        SummaryQuery {
            from: Some(window.from),
            to: Some(window.to),
            group_by: Some(window.group_by),
        },
    )
    .await
    .map_err(back_to_reports)?;
    let candidates = app::reports::policy_candidates(
        &state,
        &session.actor,
        CandidatesQuery {
            from: Some(window.from),
            to: Some(window.to),
            min_count: None,
        },
    )
    .await
    .map_err(back_to_reports)?;
    let pairs = app::reports::cosign_pairs(
        &state,
        &session.actor,
        PairsQuery {
            from: Some(window.from),
            to: Some(window.to),
            top: Some(PAIRS_SHOWN),
        },
    )
    .await
    .map_err(back_to_reports)?;

    let lines: Vec<SummaryLine> = summary.groups.iter().map(summary_line).collect();
    let waits = chart(
        "Median time from filing to approval (how long the customer waited)",
        summary.groups.iter().zip(&lines).filter_map(|(group, line)| {
            let median = group.median_secs_to_approval?;
            Some((line.label.clone(), median, line.median_wait.clone()))
        }),
    );
    let candidate_lines: Vec<CandidateLine> = candidates
        .items
        .iter()
        .map(|c| CandidateLine {
            standing: !c.standing_approval_ids.is_empty(),
            draft_query: form_urlencoded::Serializer::new(String::new())
                .append_pair("category", &c.category)
                .append_pair("policy_ref", &c.policy_ref)
                .finish(),
            category: c.category.clone(),
            policy_ref: c.policy_ref.clone(),
            volume: c.volume,
            approval_rate: share(c.approval_rate),
            cost: c
                .cost
                .iter()
                .map(|cost| money(cost.total_minor, &cost.currency))
                .collect::<Vec<_>>()
                .join(", "),
            satisfied_share: share(c.satisfied_share),
            promote_votes: c.promote_votes,
            trend: c
                .trend
                .map_or_else(|| "new".to_owned(), |t| format!("{:+.0} %", t * 100.0)),
        })
        .collect();
    let volumes = chart(
        "Recurring exceptions: proposals in the window",
        candidates.items.iter().take(10).map(|c| {
            (
                format!("{} / {}", c.category, c.policy_ref),
                c.volume as f64,
                c.volume.to_string(),
            )
        }),
    );
    let pair_lines = pairs
        .items
        .iter()
        .map(|p| PairLine {
            proposer: p.proposer_name.clone(),
            cosigner: p.cosigner_name.clone(),
            approvals: p.approvals,
            share: share(p.share_of_approvals),
            median_to_cosign: wait(p.median_secs_to_cosign),
            flags: p.flags.join(", "),
        })
        .collect();
    let csv_query = serde_urlencoded::to_string([
        ("from", window.from_day.as_str()),
        ("to", window.to_day.as_str()),
        ("group_by", window.group_by_name),
    ])
    .unwrap_or_default();
    let page = ReportsPage {
        frame: Frame::new(&session, "Reports", "/reports"),
        from_day: window.from_day,
        to_day: window.to_day,
        group_by_name: window.group_by_name,
        groupings: GROUPINGS.iter().map(|(_, name, label)| (*name, *label)).collect(),
        csv_query,
        summary: lines,
        totals: summary_line(&summary.totals),
        waits,
        candidates: candidate_lines,
        volumes,
        pairs: pair_lines,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The reports a page offers as CSV.
#[derive(Debug, Clone, Copy)]
enum Download {
    Summary,
    PolicyCandidates,
    CosignPairs,
}

/// A report as CSV, for the window and grouping on the page: the same
/// answer as the REST API's `.csv` path.
async fn download(
    report: Download,
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(form): Query<ReportForm>,
) -> Result<Response, WebError> {
    require_role(&session, Role::Manager)?;
    let window = form.window()?;
    let (from, to) = (Some(window.from), Some(window.to));
    let (state, actor) = (&state, &session.actor);
    let file = match report {
        Download::Summary => {
            let query = SummaryQuery {
                from,
                to,
                group_by: Some(window.group_by),
            };
            let summary = app::reports::summary(state, actor, query)
                .await
                .map_err(back_to_reports)?;
            csv::summary(&summary, &state.policy)
        }
        Download::PolicyCandidates => {
            let query = CandidatesQuery {
                from,
                to,
                min_count: None,
            };
            let report = app::reports::policy_candidates(state, actor, query)
                .await
                .map_err(back_to_reports)?;
            csv::policy_candidates(&report, &state.policy)
        }
        Download::CosignPairs => {
            let query = PairsQuery { from, to, top: None };
            let report = app::reports::cosign_pairs(state, actor, query)
                .await
                .map_err(back_to_reports)?;
            csv::cosign_pairs(&report)
        }
    };
    Ok(file.map_err(|error| WebError::Internal(error.into()))?.into_response())
}

/// A report refused (a window out of range, say): the error page links
/// back to the reports.
fn back_to_reports(error: AppError) -> WebError {
    WebError::from(error).back_to("/reports".to_owned())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(review_queue))
        .route("/reports", get(reports))
        .route(
            "/reports/summary.csv",
            get(|state, signed, query| download(Download::Summary, state, signed, query)),
        )
        .route(
            "/reports/policy-candidates.csv",
            get(|state, signed, query| download(Download::PolicyCandidates, state, signed, query)),
        )
        .route(
            "/reports/cosign-pairs.csv",
            get(|state, signed, query| download(Download::CosignPairs, state, signed, query)),
        )
}
