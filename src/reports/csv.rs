//! CSV as the reports write it: RFC 4180 (CRLF line ends), UTF-8, a
//! header row, and every text cell a spreadsheet would run as a formula
//! neutralised. Each report's columns are written here once, and sent as a
//! download the same way, whichever door asked (the REST API's `.csv`
//! paths, the reports page's links).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::ExceptionRow;
use super::views::{CosignPairs, PolicyCandidates, Summary, Waiting};
use crate::domain::policy::ApprovalPolicy;

/// A text cell as a spreadsheet will not run it: one starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`.
pub fn safe_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

pub fn number<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// An RFC 4180 writer: records end in CRLF.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The currencies a CSV has columns for: those the policy accepts, and any
/// other the data holds.
pub fn currency_columns<'a>(
    configured: impl Iterator<Item = &'a str>,
    found: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut all: Vec<&str> = configured.chain(found).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Rows as CSV records.
pub fn csv_rows<R: AsRef<[u8]>>(records: impl IntoIterator<Item = Vec<R>>) -> csv::Result<Vec<u8>> {
    let mut out = csv_writer();
    for record in records {
        out.write_record(&record)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A header and records as one CSV document.
pub fn csv_text(header: &[String], records: impl Iterator<Item = Vec<String>>) -> csv::Result<Vec<u8>> {
    csv_rows(std::iter::once(header.to_vec()).chain(records))
}

/// A report written as CSV, to download: its file name and its text.
#[derive(Debug)]
pub struct CsvFile {
    pub name: &'static str,
    pub text: Vec<u8>,
}

impl IntoResponse for CsvFile {
    fn into_response(self) -> Response {
        attachment(Body::from(self.text), self.name)
    }
}

/// A CSV file to download: `text/csv`, saved as `filename`.
pub fn attachment(body: Body, filename: &str) -> Response {
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

/// The summary: a row per group, then `totals`; approved and executed
/// amounts in a pair of columns per currency (those the policy accepts, and
/// any other the summary holds).
pub fn summary(summary: &Summary, policy: &ApprovalPolicy) -> csv::Result<CsvFile> {
    let found =
        (summary.groups.iter().chain([&summary.totals])).flat_map(|g| g.amounts.iter().map(|a| a.currency.as_str()));
    let currencies = currency_columns(policy.peer_limits.keys().map(String::as_str), found);
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
    for currency in &currencies {
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
        for currency in &currencies {
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
    Ok(CsvFile {
        name: "summary.csv",
        text: csv_text(&header, records)?,
    })
}

/// The policy candidates, the strongest first; the approved ones' total and
/// average cost in a pair of columns per currency.
pub fn policy_candidates(report: &PolicyCandidates, policy: &ApprovalPolicy) -> csv::Result<CsvFile> {
    let found = report
        .items
        .iter()
        .flat_map(|item| item.cost.iter().map(|c| c.currency.as_str()));
    let currencies = currency_columns(policy.peer_limits.keys().map(String::as_str), found);
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
    Ok(CsvFile {
        name: "policy-candidates.csv",
        text: csv_text(&header, records)?,
    })
}

/// The co-sign pairs, the most concentrated first; flags separated by spaces.
pub fn cosign_pairs(report: &CosignPairs) -> csv::Result<CsvFile> {
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
    Ok(CsvFile {
        name: "cosign-pairs.csv",
        text: csv_text(&header, records)?,
    })
}

/// The waiting report: a row per hour of the day, then per weekday.
pub fn waiting(report: &Waiting) -> csv::Result<CsvFile> {
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
    Ok(CsvFile {
        name: "waiting.csv",
        text: csv_text(&header, records)?,
    })
}

/// The columns of the exceptions export, a row per proposal.
pub const EXCEPTION_COLUMNS: [&str; 27] = [
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

/// One proposal as a row of the exceptions export.
pub fn exception_record(row: &ExceptionRow) -> Vec<String> {
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
}
