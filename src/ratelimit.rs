//! At most one log line a second per kind of trouble, counting the lines
//! held back: shared by every thread (atomics, no lock), so the SIP path,
//! the case-log writer and the media thread use the same one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// At most one log line a second, counting what it held back.
pub struct RateLimit {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 of the last line; 0 = never.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub fn new() -> RateLimit {
        RateLimit {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` if a line may go out now.
    pub fn check(&self) -> Option<u64> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.check_at(now)
    }

    /// [`RateLimit::check`] at `now_ms` milliseconds after this limiter was made.
    pub fn check_at(&self, now_ms: u64) -> Option<u64> {
        let now = now_ms.saturating_add(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_and_a_count_of_the_rest() {
        let r = RateLimit::new();
        assert_eq!(r.check_at(5), Some(0));
        assert_eq!(r.check_at(500), None);
        assert_eq!(r.check_at(1004), None);
        assert_eq!(
            r.check_at(1005),
            Some(2),
            "a second later, with the two held back"
        );
        assert_eq!(r.check_at(1006), None);
    }
}
