//! Health: probe outcomes, rise and fall counting per check, and the combination of
//! several checks into one verdict per prefix.
//!
//! The policy never runs a probe. A [`CheckSpec`] describes, as data, what the daemon
//! should run ([`CheckKind`]) and how often; the daemon reports each result with
//! [`Policy::handle_probe_result`](crate::Policy::handle_probe_result).
//!
//! A check starts **down** and needs `rise` consecutive passes to come up; once up it
//! needs `fall` consecutive failures (a timeout counts as a failure) to go down. A check
//! that is up but hears no result for `interval × fall + timeout` is taken down as
//! stale, so a hung prober cannot keep a prefix advertised.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a single probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProbeOutcome {
    /// The service answered as expected.
    Pass,
    /// The service answered wrongly, refused, or the command exited non-zero.
    Fail,
    /// No answer within the check's timeout; counted as a failure.
    Timeout,
}

/// One probe result with the instant the probe was started.
///
/// Results can come back out of order (a slow probe times out after a later probe has
/// passed). The policy keeps only results whose `started` instant is not older than the
/// newest result already counted for that check, and counts the others as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult {
    /// What the probe found.
    pub outcome: ProbeOutcome,
    /// When the daemon started the probe.
    pub started: Instant,
}

/// Identifies one check of one prefix; obtained from [`Policy::checks`](crate::Policy::checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId {
    /// Index of the prefix in the node configuration.
    pub prefix_index: u16,
    /// Index of the check within its prefix's check list.
    pub check_index: u16,
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prefix#{}/check#{}", self.prefix_index, self.check_index)
    }
}

/// What the daemon must run for a check. The policy only reads the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum CheckKind {
    /// Open a TCP connection to `addr`; passing means the handshake completed.
    TcpConnect {
        /// Address to connect to (often the anycast address itself or a backend).
        addr: SocketAddr,
    },
    /// Send `GET path` to `addr`; passing means the status code equals `expect_status`.
    HttpGet {
        /// Address to connect to.
        addr: SocketAddr,
        /// Value of the `Host` header, if any.
        host: Option<String>,
        /// Request path, starting with `/`.
        path: String,
        /// The HTTP status code that counts as a pass (usually 200).
        expect_status: u16,
    },
    /// Run a program; exit status 0 is a pass.
    Command {
        /// Program and arguments, executed without a shell.
        argv: Vec<String>,
    },
}

/// One health check of a prefix: what to run, how often, and its hysteresis.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CheckSpec {
    /// A name for logs and metrics.
    pub name: String,
    /// What to run.
    pub kind: CheckKind,
    /// Time between probe starts.
    pub interval: Duration,
    /// How long the daemon waits before reporting [`ProbeOutcome::Timeout`].
    pub timeout: Duration,
    /// Consecutive passes that bring a down check up.
    pub rise: u32,
    /// Consecutive failures that take an up check down.
    pub fall: u32,
    /// Weight of this check under [`Combine::Weighted`].
    pub weight: u32,
}

impl CheckSpec {
    /// A check with common defaults: interval 1 s, timeout 500 ms, rise 3, fall 3,
    /// weight 1.
    pub fn new(name: impl Into<String>, kind: CheckKind) -> Self {
        Self {
            name: name.into(),
            kind,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 3,
            fall: 3,
            weight: 1,
        }
    }

    /// How long an up check may go without a result before it is taken down as stale.
    pub fn stale_after(&self) -> Duration {
        self.interval
            .saturating_mul(self.fall.max(1))
            .saturating_add(self.timeout)
    }
}

/// How the checks of one prefix combine into the prefix's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Combine {
    /// Healthy only when every check is up (the default).
    #[default]
    All,
    /// Healthy when at least one check is up.
    Any,
    /// Healthy when the weights of the up checks add up to at least `threshold`.
    Weighted {
        /// Minimum total weight of up checks.
        threshold: u32,
    },
}

/// Why a check changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckTransition {
    /// `rise` consecutive passes.
    Rise,
    /// `fall` consecutive failures or timeouts.
    Fall,
    /// No result for [`CheckSpec::stale_after`].
    Stale,
}

/// The running state of one check.
#[derive(Debug, Clone)]
pub struct CheckState {
    up: bool,
    passes: u32,
    failures: u32,
    last_started: Option<Instant>,
    last_result_at: Option<Instant>,
}

impl Default for CheckState {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckState {
    /// A check that has not been probed yet: down.
    pub fn new() -> Self {
        Self {
            up: false,
            passes: 0,
            failures: 0,
            last_started: None,
            last_result_at: None,
        }
    }

    /// Whether the check is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// When the last result was counted.
    pub fn last_result_at(&self) -> Option<Instant> {
        self.last_result_at
    }

    /// A check added by a reconfiguration to a healthy prefix: up until `fall`
    /// failures or staleness say otherwise, as if it had just passed at `now`, so that
    /// adding a check does not withdraw a serving prefix before the check ran once.
    pub(crate) fn assumed_up(now: Instant) -> Self {
        Self {
            up: true,
            passes: 0,
            failures: 0,
            last_started: None,
            last_result_at: Some(now),
        }
    }

    /// Counts one result received at `now`. Returns `Err(())` when the result is older
    /// than one already counted (and is ignored), otherwise the transition it caused.
    #[allow(clippy::result_unit_err)]
    pub fn record(
        &mut self,
        spec: &CheckSpec,
        now: Instant,
        result: ProbeResult,
    ) -> Result<Option<CheckTransition>, ()> {
        if self.last_started.is_some_and(|last| result.started < last) {
            return Err(());
        }
        self.last_started = Some(result.started);
        self.last_result_at = Some(now);
        match result.outcome {
            ProbeOutcome::Pass => {
                self.passes = self.passes.saturating_add(1);
                self.failures = 0;
                if !self.up && self.passes >= spec.rise {
                    self.up = true;
                    return Ok(Some(CheckTransition::Rise));
                }
            }
            ProbeOutcome::Fail | ProbeOutcome::Timeout => {
                self.failures = self.failures.saturating_add(1);
                self.passes = 0;
                if self.up && self.failures >= spec.fall {
                    self.up = false;
                    return Ok(Some(CheckTransition::Fall));
                }
            }
        }
        Ok(None)
    }

    /// The instant at which an up check becomes stale, if it is up.
    pub fn stale_at(&self, spec: &CheckSpec) -> Option<Instant> {
        if !self.up {
            return None;
        }
        self.last_result_at
            .and_then(|t| t.checked_add(spec.stale_after()))
    }

    /// Takes the check down if it is stale at `now`.
    pub fn expire(&mut self, spec: &CheckSpec, now: Instant) -> Option<CheckTransition> {
        match self.stale_at(spec) {
            Some(t) if now >= t => {
                self.up = false;
                self.passes = 0;
                self.failures = 0;
                Some(CheckTransition::Stale)
            }
            _ => None,
        }
    }
}

/// Combines check states into the prefix's health. A prefix without checks is healthy
/// (its health is then driven by admin commands alone).
pub fn combine<'a>(
    how: Combine,
    checks: impl IntoIterator<Item = (&'a CheckSpec, &'a CheckState)>,
) -> bool {
    let mut total = 0usize;
    let mut up = 0usize;
    let mut weight_up = 0u64;
    for (spec, state) in checks {
        total += 1;
        if state.is_up() {
            up += 1;
            weight_up += u64::from(spec.weight);
        }
    }
    if total == 0 {
        return true;
    }
    match how {
        Combine::All => up == total,
        Combine::Any => up > 0,
        Combine::Weighted { threshold } => weight_up >= u64::from(threshold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CheckSpec {
        CheckSpec::new(
            "tcp",
            CheckKind::TcpConnect {
                addr: "[::1]:80".parse().unwrap(),
            },
        )
    }

    fn res(outcome: ProbeOutcome, started: Instant) -> ProbeResult {
        ProbeResult { outcome, started }
    }

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let s = spec();
        let t0 = Instant::now();
        let mut c = CheckState::new();
        let at = |i: u64| t0 + Duration::from_secs(i);
        assert_eq!(
            c.record(&s, at(0), res(ProbeOutcome::Pass, at(0))),
            Ok(None)
        );
        assert_eq!(
            c.record(&s, at(1), res(ProbeOutcome::Pass, at(1))),
            Ok(None)
        );
        assert_eq!(
            c.record(&s, at(2), res(ProbeOutcome::Fail, at(2))),
            Ok(None)
        );
        assert!(!c.is_up());
        for i in 3..5 {
            assert_eq!(
                c.record(&s, at(i), res(ProbeOutcome::Pass, at(i))),
                Ok(None)
            );
        }
        assert_eq!(
            c.record(&s, at(5), res(ProbeOutcome::Pass, at(5))),
            Ok(Some(CheckTransition::Rise))
        );
        assert_eq!(
            c.record(&s, at(6), res(ProbeOutcome::Timeout, at(6))),
            Ok(None)
        );
        assert_eq!(
            c.record(&s, at(7), res(ProbeOutcome::Fail, at(7))),
            Ok(None)
        );
        assert!(c.is_up());
        assert_eq!(
            c.record(&s, at(8), res(ProbeOutcome::Fail, at(8))),
            Ok(Some(CheckTransition::Fall))
        );
        assert!(!c.is_up());
    }

    #[test]
    fn out_of_order_results_are_ignored() {
        let s = spec();
        let t0 = Instant::now();
        let mut c = CheckState::new();
        c.record(
            &s,
            t0 + Duration::from_secs(2),
            res(ProbeOutcome::Pass, t0 + Duration::from_secs(2)),
        )
        .unwrap();
        assert_eq!(
            c.record(&s, t0 + Duration::from_secs(3), res(ProbeOutcome::Fail, t0)),
            Err(())
        );
    }

    #[test]
    fn up_check_goes_stale_without_results() {
        let s = spec();
        let t0 = Instant::now();
        let mut c = CheckState::new();
        for i in 0..3 {
            let t = t0 + Duration::from_secs(i);
            c.record(&s, t, res(ProbeOutcome::Pass, t)).unwrap();
        }
        let stale = c.stale_at(&s).unwrap();
        assert_eq!(stale, t0 + Duration::from_secs(2) + s.stale_after());
        assert_eq!(c.expire(&s, stale - Duration::from_millis(1)), None);
        assert_eq!(c.expire(&s, stale), Some(CheckTransition::Stale));
        assert!(!c.is_up());
        assert_eq!(c.stale_at(&s), None);
    }

    #[test]
    fn combinations() {
        let mut a = spec();
        a.weight = 3;
        let b = spec();
        let up = {
            let mut c = CheckState::new();
            c.up = true;
            c
        };
        let down = CheckState::new();
        let both = [(&a, &up), (&b, &down)];
        assert!(!combine(Combine::All, both));
        assert!(combine(Combine::Any, both));
        assert!(combine(Combine::Weighted { threshold: 3 }, both));
        assert!(!combine(Combine::Weighted { threshold: 4 }, both));
        assert!(combine(Combine::All, []));
        assert!(!combine(Combine::Any, [(&b, &down)]));
    }
}
