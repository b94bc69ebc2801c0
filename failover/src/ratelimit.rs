//! The cap on announcements per minute: a sliding window over the instants of the
//! last announcements.
//!
//! A sliding window is exact where a token bucket is not: it guarantees that **no**
//! 60-second interval holds more than `cap` announcements, which is the property an
//! operator states ("at most N updates a minute from this prefix"). Its memory is the
//! `cap` most recent instants, and the cap itself is bounded by configuration.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Upper bound accepted for `max_announcements_per_minute`.
pub const MAX_CAP: u32 = 600;

/// A sliding-window counter of announcements.
#[derive(Debug, Clone)]
pub struct AnnouncementLimiter {
    cap: u32,
    sent: VecDeque<Instant>,
}

impl AnnouncementLimiter {
    /// A limiter allowing `cap` announcements in any 60-second window (`cap` is clamped
    /// to 1..=[`MAX_CAP`]).
    pub fn new(cap: u32) -> Self {
        let cap = cap.clamp(1, MAX_CAP);
        Self {
            cap,
            sent: VecDeque::with_capacity(cap as usize),
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&t) = self.sent.front() {
            if now.saturating_duration_since(t) >= WINDOW {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// Whether an announcement may go out at `now`.
    pub fn allows(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.sent.len() < self.cap as usize
    }

    /// Records an announcement at `now`; returns false (and records nothing) when the
    /// window is full.
    pub fn try_record(&mut self, now: Instant) -> bool {
        if !self.allows(now) {
            return false;
        }
        self.sent.push_back(now);
        true
    }

    /// The earliest instant at which an announcement will be allowed again, or `None`
    /// when one is allowed already (as of the last call).
    pub fn next_allowed(&self) -> Option<Instant> {
        if self.sent.len() < self.cap as usize {
            return None;
        }
        self.sent.front().map(|&t| t + WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_exact() {
        let t0 = Instant::now();
        let mut l = AnnouncementLimiter::new(3);
        assert!(l.try_record(t0));
        assert!(l.try_record(t0 + Duration::from_secs(10)));
        assert!(l.try_record(t0 + Duration::from_secs(20)));
        assert!(!l.try_record(t0 + Duration::from_secs(59)));
        assert_eq!(l.next_allowed(), Some(t0 + WINDOW));
        assert!(l.try_record(t0 + WINDOW));
        assert!(!l.try_record(t0 + Duration::from_secs(69)));
        assert!(l.try_record(t0 + Duration::from_secs(70)));
    }

    #[test]
    fn cap_is_clamped() {
        let t0 = Instant::now();
        let mut l = AnnouncementLimiter::new(0);
        assert!(l.try_record(t0));
        assert!(!l.try_record(t0));
        let l = AnnouncementLimiter::new(u32::MAX);
        assert_eq!(l.cap, MAX_CAP);
    }
}
