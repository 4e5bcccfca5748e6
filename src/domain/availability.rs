//! Who is on shift: an agent says so, and it lapses by itself after a while
//! without activity, so someone who went home without saying so is not
//! asked to co-sign.

use chrono::{DateTime, Duration, Utc};

/// What an agent last said about being on shift, and when they were last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub available: bool,
    /// When `available` was last said.
    pub changed_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
}

impl Availability {
    /// Until when the agent counts as on shift, if they said they are
    /// (lapsed once in the past).
    pub fn until(&self, idle: Duration) -> Option<DateTime<Utc>> {
        self.available.then(|| self.last_active_at + idle)
    }

    pub fn on_shift(&self, idle: Duration, now: DateTime<Utc>) -> bool {
        self.until(idle).is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_shift_until_idle_for_the_window_and_never_when_off() {
        let said = DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let idle = Duration::minutes(30);
        let seen = Availability {
            available: true,
            changed_at: said,
            last_active_at: said + Duration::minutes(10),
        };
        assert_eq!(seen.until(idle), Some(said + Duration::minutes(40)));
        assert!(seen.on_shift(idle, said + Duration::minutes(39)));
        assert!(
            !seen.on_shift(idle, said + Duration::minutes(40)),
            "lapsed at the end of the window"
        );
        let off = Availability {
            available: false,
            ..seen
        };
        assert_eq!(off.until(idle), None);
        assert!(!off.on_shift(idle, said));
    }
}
