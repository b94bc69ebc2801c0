//! SPF back-off (RFC 8405): a QUIET / SHORT_WAIT / LONG_WAIT state machine with three
//! timers (SPF, HOLDDOWN, LEARN). A burst of IGP events first gets fast SPF runs
//! (`initial_delay`, then `short_delay`); if the burst lasts longer than
//! `time_to_learn`, SPF runs are spaced by `long_delay` until the network has been
//! quiet for `holddown`.

use std::time::{Duration, Instant};

/// The five configurable values of RFC 8405 section 6.
///
/// The defaults are faster than RFC 8405's suggested ones ([`ThrottleConfig::rfc8405`]:
/// 50 ms, 200 ms, 5 s, 500 ms, 10 s). RFC 8405's LEARN timer moves the machine to
/// LONG_WAIT half a second after *any* event, and it stays there until HOLDDOWN has
/// passed without an event: with the RFC values a failure up to 10 s after an
/// unrelated change (an adjacency coming up, a metric change) waits 5 s for its SPF
/// run, which the lab's crash story measured (route moved 5.2 s after the crash
/// although BFD had taken the neighbor down after 250 ms). This engine serves small
/// anycast topologies where failover time is the point and an SPF run costs
/// microseconds, so the defaults keep the RFC's first delays and shorten the rest:
/// INITIAL 50 ms, SHORT 200 ms, LONG 1 s, TIME_TO_LEARN 500 ms, HOLDDOWN 2 s. A storm
/// still gets at most one SPF run per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// INITIAL_SPF_DELAY: delay of the first SPF in QUIET (default 50 ms).
    pub initial_delay: Duration,
    /// SHORT_SPF_DELAY: delay while in SHORT_WAIT (default 200 ms).
    pub short_delay: Duration,
    /// LONG_SPF_DELAY: delay while in LONG_WAIT (default 1 s; RFC 8405: 5 s).
    pub long_delay: Duration,
    /// TIME_TO_LEARN_INTERVAL: time spent in SHORT_WAIT (default 500 ms).
    pub time_to_learn: Duration,
    /// HOLDDOWN_INTERVAL: quiet time needed to return to QUIET (default 2 s;
    /// RFC 8405: 10 s).
    pub holddown: Duration,
}

impl ThrottleConfig {
    /// The values RFC 8405 section 6 says implementations enabling the algorithm by
    /// default SHOULD use: 50 ms, 200 ms, 5 s, 500 ms, 10 s.
    pub fn rfc8405() -> Self {
        ThrottleConfig {
            initial_delay: Duration::from_millis(50),
            short_delay: Duration::from_millis(200),
            long_delay: Duration::from_secs(5),
            time_to_learn: Duration::from_millis(500),
            holddown: Duration::from_secs(10),
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            long_delay: Duration::from_secs(1),
            holddown: Duration::from_secs(2),
            ..Self::rfc8405()
        }
    }
}

/// States of RFC 8405 section 5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleState {
    /// No IGP event for at least HOLDDOWN_INTERVAL.
    Quiet,
    /// Events seen recently; SPF runs after SHORT_SPF_DELAY.
    ShortWait,
    /// Events keep coming; SPF runs after LONG_SPF_DELAY.
    LongWait,
}

/// Inputs of the state machine (RFC 8405 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleEvent {
    /// A change that needs an SPF computation.
    IgpEvent,
    /// The SPF timer fired: run SPF now.
    SpfTimer,
    /// The HOLDDOWN timer fired.
    HolddownTimer,
    /// The LEARN timer fired.
    LearnTimer,
}

/// The SPF delay state machine; sans-IO, driven by `now`.
#[derive(Debug, Clone)]
pub struct SpfThrottle {
    config: ThrottleConfig,
    state: ThrottleState,
    spf_at: Option<Instant>,
    holddown_at: Option<Instant>,
    learn_at: Option<Instant>,
}

impl SpfThrottle {
    /// A throttle in QUIET with no timer running.
    pub fn new(config: ThrottleConfig) -> Self {
        SpfThrottle {
            config,
            state: ThrottleState::Quiet,
            spf_at: None,
            holddown_at: None,
            learn_at: None,
        }
    }

    #[cfg_attr(not(feature = "unstable"), allow(dead_code))]
    /// The current state.
    pub fn state(&self) -> ThrottleState {
        self.state
    }

    #[cfg_attr(not(feature = "unstable"), allow(dead_code))]
    /// Whether an SPF run is scheduled.
    pub fn pending(&self) -> bool {
        self.spf_at.is_some()
    }

    /// The earliest running timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.spf_at, self.holddown_at, self.learn_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// An IGP event happened (RFC 8405 5.2 transitions 1, 2 and 3).
    pub fn igp_event(&mut self, now: Instant) {
        self.step(now, ThrottleEvent::IgpEvent);
    }

    /// Fires expired timers; returns true when SPF must run now.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let mut run = false;
        if self.spf_at.is_some_and(|t| t <= now) {
            run |= self.step(now, ThrottleEvent::SpfTimer);
        }
        if self.learn_at.is_some_and(|t| t <= now) {
            self.step(now, ThrottleEvent::LearnTimer);
        }
        if self.holddown_at.is_some_and(|t| t <= now) {
            self.step(now, ThrottleEvent::HolddownTimer);
        }
        run
    }

    /// One transition; returns true when the SPF computation must run.
    fn step(&mut self, now: Instant, event: ThrottleEvent) -> bool {
        use ThrottleEvent as E;
        use ThrottleState as S;
        let c = self.config;
        match (self.state, event) {
            (S::Quiet, E::IgpEvent) => {
                self.spf_at = Some(now + c.initial_delay);
                self.learn_at = Some(now + c.time_to_learn);
                self.holddown_at = Some(now + c.holddown);
                self.state = S::ShortWait;
                false
            }
            (S::ShortWait, E::IgpEvent) => {
                self.holddown_at = Some(now + c.holddown);
                self.spf_at.get_or_insert(now + c.short_delay);
                false
            }
            (S::LongWait, E::IgpEvent) => {
                self.holddown_at = Some(now + c.holddown);
                self.spf_at.get_or_insert(now + c.long_delay);
                false
            }
            (S::ShortWait | S::LongWait, E::SpfTimer) => {
                self.spf_at = None;
                true
            }
            (S::ShortWait, E::LearnTimer) => {
                self.learn_at = None;
                self.state = S::LongWait;
                false
            }
            (S::ShortWait | S::LongWait, E::HolddownTimer) => {
                self.holddown_at = None;
                self.learn_at = None;
                self.state = S::Quiet;
                // A scheduled SPF still runs; it is just not throttled any more.
                false
            }
            // Timers that cannot be running in this state: clear them.
            (_, E::SpfTimer) => {
                self.spf_at = None;
                true
            }
            (_, E::LearnTimer) => {
                self.learn_at = None;
                false
            }
            (_, E::HolddownTimer) => {
                self.holddown_at = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_moves_to_long_wait_then_quiet() {
        let t0 = Instant::now();
        let mut t = SpfThrottle::new(ThrottleConfig::rfc8405());
        t.igp_event(t0);
        assert_eq!(t.state(), ThrottleState::ShortWait);
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_millis(50)));
        assert!(t.handle_timeout(t0 + Duration::from_millis(50)));
        t.igp_event(t0 + Duration::from_millis(100));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_millis(300)));
        assert!(t.handle_timeout(t0 + Duration::from_millis(300)));
        assert!(!t.handle_timeout(t0 + Duration::from_millis(500)));
        assert_eq!(t.state(), ThrottleState::LongWait);
        t.igp_event(t0 + Duration::from_millis(600));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_millis(5600)));
        assert!(t.handle_timeout(t0 + Duration::from_millis(5600)));
        assert!(!t.handle_timeout(t0 + Duration::from_millis(10600)));
        assert_eq!(t.state(), ThrottleState::Quiet);
        assert_eq!(t.poll_timeout(), None);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn defaults_leave_long_wait_after_two_quiet_seconds() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = SpfThrottle::new(ThrottleConfig::default());
        t.igp_event(t0);
        assert!(t.handle_timeout(t0 + ms(50)));
        assert!(!t.handle_timeout(t0 + ms(500)));
        assert_eq!(t.state(), ThrottleState::LongWait);
        // Within HOLDDOWN: LONG_SPF_DELAY, 1 s.
        t.igp_event(t0 + ms(1000));
        assert_eq!(t.poll_timeout(), Some(t0 + ms(2000)));
        assert!(t.handle_timeout(t0 + ms(2000)));
        assert!(!t.handle_timeout(t0 + ms(3000)));
        assert_eq!(t.state(), ThrottleState::Quiet);
        // Quiet again: the next event is computed after INITIAL_SPF_DELAY.
        t.igp_event(t0 + ms(5000));
        assert_eq!(t.poll_timeout(), Some(t0 + ms(5050)));
    }
}
