//! The stored figures of whole days and months (`report_cells`), which let
//! a report over a long window add up a few thousand rows instead of
//! joining every proposal of it. One SQL function defines a cell
//! (`countersign_report_cells`, migration 23): the worker stores it for
//! settled UTC days and their months, and a report computes it live for
//! whatever of its window no stored period covers. Waits are stored as they
//! are, so percentiles over stored and live cells together stay exact.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

/// The advisory lock key that lets one replica at a time build ("rollups" in ASCII).
const BUILD_LOCK: i64 = 0x0072_6f6c_6c75_7073;

/// Which stored periods a report can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spans {
    DaysAndMonths,
    Days,
}

/// How a window `[from, to)` is covered: whole months and whole days that
/// are stored, and the time ranges between them to compute live.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cover {
    pub months: Vec<NaiveDate>,
    pub days: Vec<NaiveDate>,
    pub live: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The start of `day`, in UTC.
fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn next_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(NaiveDate::MAX)
}

impl Cover {
    /// Covers `[from, to)` with the stored periods (`stored_days`,
    /// `stored_months`, both sorted): a month where one is stored and lies
    /// wholly inside the window, else a stored day wholly inside it, else
    /// live time up to the next midnight.
    pub fn of(from: DateTime<Utc>, to: DateTime<Utc>, stored_days: &[NaiveDate], stored_months: &[NaiveDate]) -> Cover {
        let mut cover = Cover::default();
        let mut at = from;
        while at < to {
            let day = at.date_naive();
            let midnight = at == start_of(day);
            if midnight && day.day() == 1 && stored_months.binary_search(&day).is_ok() {
                let end = start_of(next_month(day));
                if end <= to {
                    cover.months.push(day);
                    at = end;
                    continue;
                }
            }
            let end = start_of(day + Duration::days(1));
            if midnight && end <= to && stored_days.binary_search(&day).is_ok() {
                cover.days.push(day);
                at = end;
                continue;
            }
            let until = end.min(to);
            match cover.live.last_mut() {
                Some((_, last_end)) if *last_end == at => *last_end = until,
                _ => cover.live.push((at, until)),
            }
            at = until;
        }
        cover
    }

    /// The stored periods that may cover `[from, to)`, and the cover made of them.
    pub async fn load(
        conn: &mut PgConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        spans: Spans,
    ) -> sqlx::Result<Cover> {
        if from >= to {
            return Ok(Cover::default());
        }
        let stored: Vec<(String, NaiveDate)> = sqlx::query_as(
            "SELECT span, period FROM report_periods \
             WHERE period >= ($1 AT TIME ZONE 'UTC')::date AND period < ($2 AT TIME ZONE 'UTC')::date \
               AND EXISTS (SELECT 1 FROM report_rollup_state WHERE fresh_until > now()) \
             ORDER BY period",
        )
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await?;
        let pick = |span: &str| -> Vec<NaiveDate> {
            stored
                .iter()
                .filter(|(s, _)| s == span)
                .map(|(_, period)| *period)
                .collect()
        };
        let months = match spans {
            Spans::DaysAndMonths => pick("month"),
            Spans::Days => Vec::new(),
        };
        Ok(Cover::of(from, to, &pick("day"), &months))
    }

    /// The cover's parts as the report queries take them: `$months`,
    /// `$days`, and the live ranges' starts and ends.
    pub fn binds(&self) -> CoverBinds {
        (
            self.months.clone(),
            self.days.clone(),
            self.live.iter().map(|(lo, _)| *lo).collect(),
            self.live.iter().map(|(_, hi)| *hi).collect(),
        )
    }
}

/// A cover as bound to a query: stored months, stored days, and the live
/// ranges' starts and ends.
pub type CoverBinds = (Vec<NaiveDate>, Vec<NaiveDate>, Vec<DateTime<Utc>>, Vec<DateTime<Utc>>);

/// What one pass of the builder did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Stored periods dropped because a proposal of theirs changed.
    pub invalidated: usize,
    pub days: usize,
    pub months: usize,
}

/// One pass: drops the periods whose proposals changed since they were
/// built (read from the audit chain after the last pass), then builds every
/// settled day not stored (at most `max_days` of them, oldest first) and
/// every month whose days are all stored, and says the stored figures are
/// current for `fresh_for` (reports read them only while they are: a
/// builder that stopped, or the last replica that built them gone, leaves
/// the reports computing everything live). Answers `None` when another
/// replica holds the builder's lock.
///
/// Every write of the pass is made on the connection that holds the lock,
/// so no other builder can write beside it, and if the connection is lost
/// the lock and the unfinished transaction go together.
pub async fn build(pool: &PgPool, max_days: i64, fresh_for: std::time::Duration) -> sqlx::Result<Option<Built>> {
    let Some(mut conn) = crate::db::hold_advisory_lock(pool, BUILD_LOCK).await? else {
        return Ok(None);
    };
    let built = build_locked(&mut conn, max_days, fresh_for).await;
    if let Ok(built) = &built
        && built.days + built.months * 28 >= VACUUM_AFTER_DAYS
    {
        // After a large build: fresh statistics for the planner, and a
        // visibility map that lets the pairs be added up from their index
        // alone (autovacuum keeps up with the daily trickle). Skipped, with
        // a warning from PostgreSQL, where the service does not own the tables.
        sqlx::raw_sql("VACUUM (ANALYZE) report_periods, report_cells, report_slots, report_pairs")
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    built.map(Some)
}

/// Days built in one pass (a month counting as 28) after which the builder
/// vacuums and analyzes the stored figures itself.
const VACUUM_AFTER_DAYS: usize = 28;

async fn build_locked(conn: &mut PgConnection, max_days: i64, fresh_for: std::time::Duration) -> sqlx::Result<Built> {
    let mut built = Built::default();
    // Read first: whatever is chained later is looked at by the next pass.
    let chained: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM audit_chain")
        .fetch_one(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    let read: Option<i64> = sqlx::query_scalar("SELECT chained_seq FROM report_rollup_state FOR UPDATE")
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(read) = read {
        // Days of the proposals that events chained since then are about,
        // and their months.
        let dropped = sqlx::query(
            "WITH changed AS (
                 SELECT DISTINCT (p.created_at AT TIME ZONE 'UTC')::date AS day
                 FROM audit_chain c
                 JOIN audit_events e ON e.id = c.event_id AND e.subject_type = 'proposal'
                 JOIN proposals p ON p.id = e.subject_id
                 WHERE c.seq > $1 AND c.seq <= $2
             )
             DELETE FROM report_periods r USING changed
             WHERE (r.span = 'day' AND r.period = changed.day)
                OR (r.span = 'month' AND r.period = date_trunc('month', changed.day)::date)",
        )
        .bind(read)
        .bind(chained)
        .execute(&mut *tx)
        .await?;
        built.invalidated = dropped.rows_affected() as usize;
    }
    sqlx::query(
        "INSERT INTO report_rollup_state (chained_seq, fresh_until)
         VALUES ($1, now() + make_interval(secs => $2))
         ON CONFLICT (singleton) DO UPDATE SET chained_seq = excluded.chained_seq, fresh_until = excluded.fresh_until",
    )
    .bind(chained)
    .bind(fresh_for.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    // Settled days: before today (UTC) and before the filing day of any
    // proposal that may still be decided.
    let days: Vec<NaiveDate> = sqlx::query_scalar(
        "WITH bounds AS (
             SELECT (SELECT (min(created_at) AT TIME ZONE 'UTC')::date FROM proposals) AS first,
                    least((now() AT TIME ZONE 'UTC')::date,
                          (SELECT (min(created_at) AT TIME ZONE 'UTC')::date FROM proposals
                            WHERE status = 'pending' AND expires_at > now())) AS settled
         )
         SELECT day::date FROM bounds, generate_series(bounds.first, bounds.settled - 1, interval '1 day') AS day
         WHERE NOT EXISTS (SELECT 1 FROM report_periods r WHERE r.span = 'day' AND r.period = day::date)
         ORDER BY day
         LIMIT $1",
    )
    .bind(max_days)
    .fetch_all(&mut *conn)
    .await?;
    for day in days {
        store(
            conn,
            "day",
            day,
            day + Duration::days(1),
            &[DAY_CELLS_SQL, DAY_SLOTS_SQL, DAY_PAIRS_SQL],
        )
        .await?;
        built.days += 1;
    }

    // Months whose every day is stored, and not stored themselves.
    let months: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT month FROM (
             SELECT date_trunc('month', period)::date AS month, count(*) AS days
             FROM report_periods WHERE span = 'day' GROUP BY 1
         ) stored
         WHERE days = extract(day FROM month + interval '1 month' - interval '1 day')
           AND NOT EXISTS (SELECT 1 FROM report_periods m WHERE m.span = 'month' AND m.period = stored.month)
         ORDER BY month",
    )
    .fetch_all(&mut *conn)
    .await?;
    for month in months {
        store(
            conn,
            "month",
            month,
            next_month(month),
            &[MONTH_CELLS_SQL, MONTH_PAIRS_SQL],
        )
        .await?;
        built.months += 1;
    }
    // Current from the end of the pass too: a first pass over years of
    // history may take longer than the figures are said to be current.
    sqlx::query("UPDATE report_rollup_state SET fresh_until = now() + make_interval(secs => $1)")
        .bind(fresh_for.as_secs_f64())
        .execute(&mut *conn)
        .await?;
    Ok(built)
}

/// Stores the period of `span` from `period` to `end` in one transaction:
/// its row, then what each of `statements` inserts for it (`$1` the period,
/// `$2` and `$3` its first instant and the next period's).
async fn store(
    conn: &mut PgConnection,
    span: &str,
    period: NaiveDate,
    end: NaiveDate,
    statements: &[&'static str],
) -> sqlx::Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query("INSERT INTO report_periods (span, period, built_at) VALUES ($1, $2, now())")
        .bind(span)
        .bind(period)
        .execute(&mut *tx)
        .await?;
    for sql in statements {
        sqlx::query(*sql)
            .bind(period)
            .bind(start_of(period))
            .bind(start_of(end))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Drops every stored period and its cells: reports compute everything
/// live. Waits for a builder's pass under way to end first.
pub async fn drop_all(pool: &PgPool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(BUILD_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM report_periods").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM report_rollup_state").execute(&mut *tx).await?;
    tx.commit().await
}

/// A day's cells, quarters of an hour and pairs, as the functions that
/// define them compute them.
const DAY_CELLS_SQL: &str =
    "INSERT INTO report_cells SELECT 'day', $1, c.* FROM countersign_report_cells($2, $3, now()) c";
const DAY_SLOTS_SQL: &str = "INSERT INTO report_slots (period, slot, filed, decided, expired, reminded, escalated, \
     approved_alone, decision_waits, first_cosign_waits) SELECT * FROM countersign_report_slots($2, $3, now())";
const DAY_PAIRS_SQL: &str =
    "INSERT INTO report_pairs SELECT 'day', $1, c.* FROM countersign_report_pairs($2, $3, now()) c";

/// A month's cells and pairs: its days' added up, their waits merged.
const MONTH_CELLS_SQL: &str = include_str!("month_cells.sql");
const MONTH_PAIRS_SQL: &str = include_str!("month_pairs.sql");

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_window_takes_whole_stored_months_then_whole_stored_days_and_reads_the_rest_live() {
        let days: Vec<NaiveDate> = (0..90).map(|n| day("2026-01-01") + Duration::days(n)).collect();
        let months = [day("2026-02-01")];
        let cover = Cover::of(at("2026-01-30T10:00:00Z"), at("2026-03-02T06:30:00Z"), &days, &months);
        assert_eq!(
            cover,
            Cover {
                months: vec![day("2026-02-01")],
                days: vec![day("2026-01-31"), day("2026-03-01")],
                live: vec![
                    (at("2026-01-30T10:00:00Z"), at("2026-01-31T00:00:00Z")),
                    (at("2026-03-02T00:00:00Z"), at("2026-03-02T06:30:00Z")),
                ],
            }
        );
    }

    #[test]
    fn days_not_stored_are_read_live_in_one_range_and_a_month_not_whole_in_the_window_by_its_days() {
        // January is stored as a month, but the window starts on the 2nd.
        let days = [day("2026-01-02"), day("2026-01-03"), day("2026-01-06")];
        let months = [day("2026-01-01")];
        let cover = Cover::of(at("2026-01-02T00:00:00Z"), at("2026-01-07T00:00:00Z"), &days, &months);
        assert_eq!(cover.months, Vec::<NaiveDate>::new());
        assert_eq!(
            cover.days,
            vec![day("2026-01-02"), day("2026-01-03"), day("2026-01-06")]
        );
        assert_eq!(
            cover.live,
            vec![(at("2026-01-04T00:00:00Z"), at("2026-01-06T00:00:00Z"))]
        );
    }

    #[test]
    fn nothing_stored_or_an_empty_window_is_all_live_or_nothing() {
        let cover = Cover::of(at("2026-01-01T12:00:00Z"), at("2026-01-03T12:00:00Z"), &[], &[]);
        assert_eq!(
            cover.live,
            vec![(at("2026-01-01T12:00:00Z"), at("2026-01-03T12:00:00Z"))]
        );
        assert!(cover.days.is_empty() && cover.months.is_empty());
        assert_eq!(
            Cover::of(at("2026-01-02T00:00:00Z"), at("2026-01-01T00:00:00Z"), &[], &[]),
            Cover::default()
        );
    }
}
