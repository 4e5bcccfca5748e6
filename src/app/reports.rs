//! The review reports as use cases: who may read them (managers), the
//! window a report covers (`[from, to)`, by default the last 30 days, its
//! edges as `Bound`s a client or a page gives), and each report computed
//! in PostgreSQL (`crate::reports`) and shaped for the outside world
//! (`crate::reports::views`). The REST door answers them as JSON or CSV,
//! the reports page as tables, from these same functions, so a page and
//! `/v1/reports/…` never disagree. Nothing here knows HTTP.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;

use super::{Actor, AppError};
use crate::domain::employee::Role;
use crate::domain::fields::FieldErrors;
use crate::reports::views::{
    CosignPair, CosignPairs, ExpiredProposal, PolicyCandidate, PolicyCandidates, Summary, SummaryGroup, Waiting,
    WaitingBucket,
};
use crate::reports::{self, GroupBy, PairRow};
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
pub fn window(
    from: Option<Bound>,
    to: Option<Bound>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), FieldErrors> {
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
        return Err(FieldErrors::single("from", "must be before `to`"));
    }
    if to - from > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(FieldErrors::single(
            "from",
            format!("must be at most {MAX_WINDOW_DAYS} days before `to`"),
        ));
    }
    Ok((from, to))
}

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

/// The summary: per group, then the totals.
pub async fn summary(state: &AppState, actor: &Actor, query: SummaryQuery) -> Result<Summary, AppError> {
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

/// Recurring (category, policy_ref) exceptions, the strongest first.
pub async fn policy_candidates(
    state: &AppState,
    actor: &Actor,
    query: CandidatesQuery,
) -> Result<PolicyCandidates, AppError> {
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

/// A pair as the report shows it, with the flags its figures earn against
/// the `reports.*` thresholds.
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

/// Who co-signs whom, the most concentrated pairs first, with their flags.
pub async fn cosign_pairs(state: &AppState, actor: &Actor, query: PairsQuery) -> Result<CosignPairs, AppError> {
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

/// Expired proposals the waiting report lists (all are in exceptions.csv).
const EXPIRED_LISTED: i64 = 100;

/// Time from filing to decision by hour of day and weekday, and the
/// proposals that expired.
pub async fn waiting(state: &AppState, actor: &Actor, query: WaitingQuery) -> Result<Waiting, AppError> {
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
    Ok(Waiting {
        from,
        to,
        time_zone,
        by_hour: by_hour.into_iter().map(WaitingBucket::from).collect(),
        by_weekday: by_weekday.into_iter().map(WaitingBucket::from).collect(),
        expired_total,
        expired: expired.into_iter().map(ExpiredProposal::from).collect(),
    })
}
