//! Verifying the audit chain: every event's hash and every link, in `seq`
//! order, from the start or from where this replica verified before; and
//! that every event is chained or waiting to be. A background worker keeps
//! each replica's verification current (new links every few seconds, the
//! whole chain again every `audit.full_check_interval_secs`), so a request
//! answers from it and checks only what came since, in bounded time.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AppError;
use crate::db;
use crate::domain::audit::{Anchor, ChainCheck, ChainKeying, ChainReport, VerifiedChain};
use crate::state::AppState;

/// Links read per statement while verifying.
const PAGE: i64 = 10_000;

/// The most links a request verifies beyond what the background verifier
/// already did (about a second's work); the rest is left to it.
pub const REQUEST_LINKS: u64 = 100_000;

/// What a verification answers.
#[derive(Debug, Clone)]
pub struct Verification {
    pub report: ChainReport,
    /// Every link chained so far was verified (by this request or before it).
    pub complete: bool,
    pub unaccounted_events: Vec<Uuid>,
    pub unchained_overdue: Vec<Uuid>,
    pub last_full_check: Option<DateTime<Utc>>,
    pub keyed: bool,
}

impl Verification {
    pub fn valid(&self) -> bool {
        self.report.broken_reason.is_none() && self.unaccounted_events.is_empty()
    }
}

/// Walks links after `check`'s head, at most `max_links`, page by page.
/// Answers whether it reached the end of the chain (stopping exactly at
/// the last link is the end, not a page short of it).
async fn walk(state: &AppState, check: &mut ChainCheck, max_links: u64) -> Result<bool, AppError> {
    let mut walked = 0u64;
    loop {
        // A known link already found gone or changed: that is the answer.
        if check.is_broken() {
            return Ok(true);
        }
        let from = check.head().map_or(1, |(seq, _)| seq + 1);
        let page = PAGE.min(i64::try_from(max_links - walked).unwrap_or(PAGE));
        let mut conn = state.pool.acquire().await?;
        if page == 0 {
            return Ok(db::audit::link_at(&mut conn, from).await?.is_none());
        }
        let got = db::audit::walk_chain(&mut conn, from, page, |link| check.check(link)).await?;
        walked += got;
        if check.is_broken() || got < page as u64 {
            return Ok(true);
        }
    }
}

/// How much of the chain a request verifies.
#[derive(Debug, Clone)]
pub enum Scope {
    /// What was chained since this replica last verified (up to
    /// `REQUEST_LINKS`; the background verifier does the rest).
    SinceVerified,
    /// The whole chain from the start, a page of at most
    /// `audit.full_check_page_links` links at a time: the first page from
    /// the start, each next one from the head the previous page ended at,
    /// which must still be stored as it was.
    Full { resume: Option<Anchor> },
}

/// Verifies the chain as `scope` says; then checks the anchor (an earlier
/// head) and that every event is chained or queued.
pub async fn verify(state: &AppState, anchor: Option<Anchor>, scope: Scope) -> Result<Verification, AppError> {
    let keying = state.settings.chain_keying();
    let known = state.audit_progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Where the walk starts, and how many links are verified before it.
    let (full, resume) = match scope {
        Scope::SinceVerified => (false, None),
        Scope::Full { resume } => (true, resume),
    };
    let (start, checked) = match (&resume, full) {
        (_, false) => (known.head.clone(), known.events_checked),
        (None, true) => (None, 0),
        (Some(link), true) => (
            Some((link.seq, link.chain_hash.clone())),
            u64::try_from(link.seq).unwrap_or(0),
        ),
    };
    let (report, complete) = match (&known.broken, full) {
        (Some((event, reason)), false) => (
            ChainReport {
                events_checked: known.events_checked,
                first_broken_event_id: *event,
                broken_reason: Some(reason.clone()),
                head: known.head.clone(),
            },
            true,
        ),
        _ => {
            let verified_before = start.as_ref().map_or(0, |(seq, _)| *seq);
            let anchor_verified_before = anchor.as_ref().is_some_and(|a| a.seq <= verified_before);
            let mut check = ChainCheck::resume(keying.clone(), anchor.clone(), start.clone(), checked);
            {
                let mut conn = state.pool.acquire().await?;
                // What was verified before (by this replica, or by the
                // previous page) must still be there.
                if let Some((seq, hash)) = &start {
                    let stored = db::audit::link_at(&mut conn, *seq).await?;
                    let known_as = if full {
                        "where the previous page of this full check ended"
                    } else {
                        "verified earlier by this replica"
                    };
                    check.check_known_link(*seq, hash, stored, known_as);
                }
                if anchor_verified_before && let Some(anchor) = &anchor {
                    let stored = db::audit::link_at(&mut conn, anchor.seq).await?;
                    check.check_known_link(anchor.seq, &anchor.chain_hash, stored, "the anchor given");
                }
            }
            let limit = if full {
                state.settings.audit.full_check_page_links
            } else {
                REQUEST_LINKS
            };
            let complete = walk(state, &mut check, limit).await?;
            (check.finish(), complete)
        }
    };
    let mut conn = state.pool.acquire().await?;
    let unaccounted_events = db::audit::unaccounted_events(&mut conn).await?;
    let lag = chrono::Duration::seconds(state.settings.audit.unchained_lag_secs as i64);
    let unchained_overdue = db::audit::overdue_unchained(&mut conn, lag).await?;
    Ok(Verification {
        report,
        complete,
        unaccounted_events,
        unchained_overdue,
        // Only a request that went from the start to the end checked it all
        // itself; a page that resumed leaves that to whoever read the others.
        last_full_check: if full && resume.is_none() && complete {
            Some(Utc::now())
        } else {
            known.last_full_check
        },
        keyed: keying.is_keyed(),
    })
}

/// The background verifier's step: the whole chain again when it is due,
/// else the links chained since the last step. Answers the new progress.
pub async fn verify_in_background(state: &AppState) -> Result<VerifiedChain, AppError> {
    let keying: ChainKeying = state.settings.chain_keying();
    let known = state.audit_progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let every = chrono::Duration::seconds(state.settings.audit.full_check_interval_secs as i64);
    let full_due = known.last_full_check.is_none_or(|at| Utc::now() - at >= every);
    if !full_due && known.broken.is_some() {
        return Ok(known);
    }
    let started = Utc::now();
    let mut check = if full_due {
        ChainCheck::new(keying, None)
    } else {
        ChainCheck::resume(keying, None, known.head.clone(), known.events_checked)
    };
    walk(state, &mut check, u64::MAX).await?;
    let report = check.finish();
    let progress = VerifiedChain {
        head: report.head.clone(),
        events_checked: report.events_checked,
        broken: report
            .broken_reason
            .clone()
            .map(|reason| (report.first_broken_event_id, reason)),
        last_full_check: if full_due { Some(started) } else { known.last_full_check },
    };
    if let Some((_, reason)) = &progress.broken {
        tracing::error!(reason, event = ?progress.broken.as_ref().and_then(|b| b.0), "the audit chain does not verify");
    }
    *state.audit_progress.lock().unwrap_or_else(|e| e.into_inner()) = progress.clone();
    Ok(progress)
}
