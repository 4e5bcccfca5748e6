//! What an attempt's result means for a delivery: done, try again when, or
//! give up (and whether the endpoint should stop receiving). Pure: the
//! caller gives the time, the answer and a random number for the jitter.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP answer arrived (any status), with its `Retry-After` if any.
    Answered { status: u16, retry_after: Option<String> },
    /// No answer: refused, timed out, a refused destination, TLS failure…
    Failed,
}

/// What happens to the delivery next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Pending again, due at this time, at this step of the schedule.
    RetryAt {
        at: DateTime<Utc>,
        step: u32,
    },
    /// The schedule is used up.
    GaveUp,
    /// 410 Gone: the receiver says the endpoint no longer exists.
    EndpointGone,
}

/// The retry schedule: the wait after each failed attempt, with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
    /// Each wait is moved by up to this fraction either way (0.2 = ±20 %),
    /// so receivers recovering from an outage are not hit all at once.
    pub jitter: f64,
}

/// The longest `Retry-After` honoured; a larger one waits this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

impl RetrySchedule {
    /// Decides what follows an attempt made at `step` of the schedule (0 for
    /// the first attempt), ending at `now`. `random` is uniform in [0, 1).
    pub fn next(&self, result: &AttemptResult, step: u32, now: DateTime<Utc>, random: f64) -> Next {
        let retry_after = match result {
            AttemptResult::Answered { status, .. } if (200..300).contains(status) => return Next::Succeeded,
            AttemptResult::Answered { status: 410, .. } => return Next::EndpointGone,
            AttemptResult::Answered { retry_after, .. } => {
                retry_after.as_deref().and_then(|value| parse_retry_after(value, now))
            }
            AttemptResult::Failed => None,
        };
        let Some(delay) = self.delays.get(step as usize) else {
            return Next::GaveUp;
        };
        let spread = (random * 2.0 - 1.0) * self.jitter.clamp(0.0, 1.0);
        let jittered = delay.mul_f64((1.0 + spread).max(0.0));
        // The receiver asked to wait at least this long: never sooner.
        let wait = match retry_after {
            Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
            None => jittered,
        };
        let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        Next::RetryAt { at, step: step + 1 }
    }
}

/// `Retry-After` as seconds or as an HTTP date, as a wait from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule {
            delays: [5, 300, 1800].map(Duration::from_secs).to_vec(),
            jitter: 0.2,
        }
    }

    fn answered(status: u16) -> AttemptResult {
        AttemptResult::Answered {
            status,
            retry_after: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn any_2xx_succeeds_and_410_means_the_endpoint_is_gone() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(schedule().next(&answered(status), 0, now(), 0.5), Next::Succeeded);
        }
        assert_eq!(schedule().next(&answered(410), 0, now(), 0.5), Next::EndpointGone);
    }

    #[test]
    fn failures_walk_the_schedule_then_give_up() {
        for (step, seconds) in [(0, 5), (1, 300), (2, 1800)] {
            for status in [Some(500), Some(404), Some(301), None] {
                let result = status.map_or(AttemptResult::Failed, answered);
                let next = schedule().next(&result, step, now(), 0.5);
                let expected = now() + chrono::Duration::seconds(seconds);
                assert_eq!(
                    next,
                    Next::RetryAt {
                        at: expected,
                        step: step + 1
                    }
                );
            }
        }
        assert_eq!(schedule().next(&answered(500), 3, now(), 0.5), Next::GaveUp);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let Next::RetryAt { at: early, .. } = schedule().next(&answered(503), 1, now(), 0.0) else {
            panic!()
        };
        let Next::RetryAt { at: late, .. } = schedule().next(&answered(503), 1, now(), 0.999_999) else {
            panic!()
        };
        assert_eq!(early, now() + chrono::Duration::seconds(240));
        assert!(late > now() + chrono::Duration::seconds(359) && late <= now() + chrono::Duration::seconds(360));
    }

    #[test]
    fn retry_after_is_honoured_as_a_lower_bound_in_seconds_or_as_a_date() {
        let asked = |value: &str| AttemptResult::Answered {
            status: 429,
            retry_after: Some(value.to_owned()),
        };
        let at = |next: Next| match next {
            Next::RetryAt { at, .. } => at,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            at(schedule().next(&asked("120"), 0, now(), 0.5)),
            now() + chrono::Duration::seconds(120)
        );
        assert_eq!(
            at(schedule().next(&asked("Thu, 26 Nov 2026 10:10:00 GMT"), 0, now(), 0.5)),
            now() + chrono::Duration::seconds(600)
        );
        // Sooner than the schedule, or unreadable: the schedule's wait.
        assert_eq!(
            at(schedule().next(&asked("1"), 1, now(), 0.5)),
            now() + chrono::Duration::seconds(300)
        );
        assert_eq!(
            at(schedule().next(&asked("soon"), 0, now(), 0.5)),
            now() + chrono::Duration::seconds(5)
        );
        // Absurd asks are capped at a day.
        assert_eq!(
            at(schedule().next(&asked("99999999"), 0, now(), 0.5)),
            now() + chrono::Duration::seconds(24 * 3600)
        );
    }
}
