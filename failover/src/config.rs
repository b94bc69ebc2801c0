//! Configuration: modes, preemption, sync gate, drain, soft-fail, damping, rate cap,
//! shutdown grace, and the limits that bound the policy's memory.
//!
//! # How roles are encoded in metrics
//!
//! There is no protocol between nodes: each learns the others' roles from the metrics
//! they advertise for the prefix (read by the daemon from the OSPFv3 LSDB). In
//! [`Mode::ActiveStandby`] with `active_metric = A` and `standby_metric = S` (`A < S`),
//! let `span = S - A`. A node with [`PrefixConfig::preference`] `p` (`0 <= p < span`)
//! advertises
//!
//! * `A + p` while **active** (the *active band* `[A, S)`),
//! * `S + p` while **standby** (the *standby band* `[S, S + span)`),
//! * the drain or soft-fail metric (at or above `S + span`) while draining or unhealthy.
//!
//! A peer's metric therefore tells its role *and* its preference, and routers prefer the
//! very node the election prefers (lower preference, then higher Router ID). With the
//! default preference 0 a node advertises exactly `A` and `S`, the "metric 1 via tunnel
//! 1, metric 2 via tunnel 2" an operator writes.

use crate::damping::DampingConfig;
use crate::error::Error;
use crate::health::{CheckKind, CheckSpec, Combine};
use crate::prefix::{Ipv6Prefix, MAX_METRIC, Metric, RouterId};
use crate::ratelimit::MAX_CAP;
use std::time::Duration;

/// How the nodes share a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Mode {
    /// One active node; the others advertise a worse metric and take over when it goes.
    ActiveStandby {
        /// Base metric of the active node (the active band is `[active, standby)`).
        active_metric: Metric,
        /// Base metric of standby nodes (the standby band is `[standby, standby + span)`).
        standby_metric: Metric,
    },
    /// Every healthy node advertises the same metric; routers spread traffic (ECMP).
    ActiveActive {
        /// The metric every healthy node advertises.
        metric: Metric,
    },
}

/// Whether a recovered, preferred node takes the active role back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Preempt {
    /// Never: a recovered node stays standby while another healthy node is active
    /// (the default; failback is an operator's decision).
    #[default]
    Never,
    /// After being healthy (and standby) for `hold_down`, and after the sync gate if
    /// enabled, a node whose preference is strictly better than the active node's
    /// takes over.
    After {
        /// How long the node must stay healthy before preempting.
        hold_down: Duration,
    },
}

/// Soft-fail: when unhealthy, advertise this metric instead of withdrawing, so that
/// traffic still has somewhere to go when every node is unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SoftFail {
    /// Metric advertised while unhealthy; must be worse than every healthy metric.
    pub metric: Metric,
}

impl SoftFail {
    /// Advertise `metric` while unhealthy.
    pub fn new(metric: Metric) -> Self {
        Self { metric }
    }
}

/// How a peer's advertised metric is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerRole {
    /// In the active band, with the preference the metric encodes.
    Active {
        /// The preference (offset within the band).
        preference: u32,
    },
    /// In the standby band, with the preference the metric encodes.
    Standby {
        /// The preference (offset within the band).
        preference: u32,
    },
    /// Anything else: draining, soft-failed, or foreign.
    Other,
}

impl Mode {
    /// Reads a peer's role from its metric (see the module documentation).
    pub fn classify(&self, metric: Metric) -> PeerRole {
        match *self {
            Mode::ActiveStandby {
                active_metric,
                standby_metric,
            } => {
                let span = standby_metric.saturating_sub(active_metric);
                if (active_metric..standby_metric).contains(&metric) {
                    PeerRole::Active {
                        preference: metric - active_metric,
                    }
                } else if metric >= standby_metric && metric - standby_metric < span {
                    PeerRole::Standby {
                        preference: metric - standby_metric,
                    }
                } else {
                    PeerRole::Other
                }
            }
            Mode::ActiveActive { metric: m } => {
                if metric == m {
                    PeerRole::Active { preference: 0 }
                } else {
                    PeerRole::Other
                }
            }
        }
    }

    /// The smallest metric that is worse than every healthy metric of this mode.
    pub fn first_unhealthy_metric(&self) -> Metric {
        match *self {
            Mode::ActiveStandby {
                active_metric,
                standby_metric,
            } => standby_metric.saturating_add(standby_metric.saturating_sub(active_metric)),
            Mode::ActiveActive { metric } => metric.saturating_add(1),
        }
    }
}

/// The policy of one anycast prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct PrefixConfig {
    /// The anycast prefix (usually a `/128`).
    pub prefix: Ipv6Prefix,
    /// Active/standby or active/active.
    pub mode: Mode,
    /// This node's preference for the prefix: 0 is the most preferred. Added to both
    /// metrics in active/standby mode, so it must be below `standby - active`. Ignored
    /// in active/active mode. (This is the election "priority", written like a metric:
    /// lower wins; equal preferences are decided by the higher Router ID.)
    #[doc(alias = "priority")]
    pub preference: u32,
    /// Failback behaviour.
    pub preempt: Preempt,
    /// When true, the node becomes active only after
    /// [`AdminCommand::SyncConfirmed`](crate::AdminCommand::SyncConfirmed); the
    /// confirmation is forgotten whenever the node goes unhealthy or is drained.
    pub sync_gate: bool,
    /// How long a new standby waits before it may claim the active role, and the step
    /// between candidates of successive rank. Must exceed the time an advertisement
    /// takes to reach the other nodes' LSDBs.
    pub settle_delay: Duration,
    /// How long a drained node keeps advertising [`drain_metric`](Self::drain_metric)
    /// before it withdraws.
    pub drain_period: Duration,
    /// Metric advertised while draining; must be worse than every healthy metric.
    pub drain_metric: Metric,
    /// Advertise a high metric instead of withdrawing when unhealthy.
    pub soft_fail: Option<SoftFail>,
    /// Flap damping; `None` disables it.
    pub damping: Option<DampingConfig>,
    /// Cap on advertisements (not withdrawals) in any 60-second window, 1 to 600.
    pub max_announcements_per_minute: u32,
    /// On shutdown, time between the withdrawal and the removal of the address.
    pub shutdown_grace: Duration,
    /// The checks; empty means always healthy.
    pub checks: Vec<CheckSpec>,
    /// How the checks combine.
    pub combine: Combine,
}

impl Default for PrefixConfig {
    /// Active/standby with metrics 10 and 20, no preemption, no sync gate, settle 5 s,
    /// drain 30 s at metric 1000, no soft-fail, default damping, 12 announcements a
    /// minute, shutdown grace 5 s, no checks, `Combine::All`, prefix `::1/128`.
    fn default() -> Self {
        Self {
            prefix: Ipv6Prefix::host(std::net::Ipv6Addr::LOCALHOST),
            mode: Mode::ActiveStandby {
                active_metric: 10,
                standby_metric: 20,
            },
            preference: 0,
            preempt: Preempt::Never,
            sync_gate: false,
            settle_delay: Duration::from_secs(5),
            drain_period: Duration::from_secs(30),
            drain_metric: 1000,
            soft_fail: None,
            damping: Some(DampingConfig::default()),
            max_announcements_per_minute: 12,
            shutdown_grace: Duration::from_secs(5),
            checks: Vec::new(),
            combine: Combine::All,
        }
    }
}

impl PrefixConfig {
    /// A default configuration for `prefix` (see [`Default`]).
    pub fn new(prefix: Ipv6Prefix) -> Self {
        Self {
            prefix,
            ..Self::default()
        }
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            prefix: self.prefix,
            field,
            reason: reason.into(),
        }
    }

    /// Checks every field and the relations between them.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field, or [`Error::LimitExceeded`].
    pub fn validate(&self, limits: &Limits) -> Result<(), Error> {
        let healthy_top = match self.mode {
            Mode::ActiveStandby {
                active_metric,
                standby_metric,
            } => {
                if active_metric >= standby_metric {
                    return Err(self.invalid(
                        "mode.active_metric",
                        format!("{active_metric} must be below standby_metric {standby_metric}"),
                    ));
                }
                let span = standby_metric - active_metric;
                if self.preference >= span {
                    return Err(self.invalid(
                        "preference",
                        format!(
                            "{} must be below standby_metric - active_metric = {span}",
                            self.preference
                        ),
                    ));
                }
                if self.mode.first_unhealthy_metric() > MAX_METRIC + 1 {
                    return Err(self.invalid(
                        "mode.standby_metric",
                        format!("standby band ends above {MAX_METRIC}"),
                    ));
                }
                if self.settle_delay.is_zero() {
                    return Err(self.invalid("settle_delay", "must be above zero"));
                }
                self.mode.first_unhealthy_metric()
            }
            Mode::ActiveActive { metric } => {
                if metric >= MAX_METRIC {
                    return Err(self.invalid("mode.metric", format!("must be below {MAX_METRIC}")));
                }
                metric + 1
            }
        };
        if self.drain_metric < healthy_top || self.drain_metric > MAX_METRIC {
            return Err(self.invalid(
                "drain_metric",
                format!(
                    "{} must be in {healthy_top}..={MAX_METRIC}",
                    self.drain_metric
                ),
            ));
        }
        if let Some(sf) = self.soft_fail
            && (sf.metric < healthy_top || sf.metric > MAX_METRIC)
        {
            return Err(self.invalid(
                "soft_fail.metric",
                format!("{} must be in {healthy_top}..={MAX_METRIC}", sf.metric),
            ));
        }
        if let Some(d) = &self.damping {
            d.validate()
                .map_err(|(field, reason)| self.invalid(field, reason))?;
        }
        if !(1..=MAX_CAP).contains(&self.max_announcements_per_minute) {
            return Err(self.invalid(
                "max_announcements_per_minute",
                format!(
                    "{} must be in 1..={MAX_CAP}",
                    self.max_announcements_per_minute
                ),
            ));
        }
        if self.checks.len() > limits.max_checks_per_prefix {
            return Err(Error::LimitExceeded {
                what: format!("checks for {}", self.prefix),
                count: self.checks.len(),
                limit: limits.max_checks_per_prefix,
            });
        }
        for c in &self.checks {
            if c.interval.is_zero() {
                return Err(self.invalid(
                    "checks.interval",
                    format!("check {:?}: must be above zero", c.name),
                ));
            }
            if c.rise == 0 || c.fall == 0 {
                return Err(self.invalid(
                    "checks.rise/fall",
                    format!("check {:?}: must be at least 1", c.name),
                ));
            }
            match &c.kind {
                CheckKind::Command { argv } if argv.is_empty() => {
                    return Err(self.invalid(
                        "checks.kind.argv",
                        format!("check {:?}: empty command", c.name),
                    ));
                }
                CheckKind::HttpGet { path, .. } if !path.starts_with('/') => {
                    return Err(self.invalid(
                        "checks.kind.path",
                        format!("check {:?}: path must start with '/'", c.name),
                    ));
                }
                _ => {}
            }
        }
        if let Combine::Weighted { threshold } = self.combine {
            let total: u64 = self.checks.iter().map(|c| u64::from(c.weight)).sum();
            if threshold == 0 || u64::from(threshold) > total {
                return Err(self.invalid(
                    "combine.threshold",
                    format!("{threshold} must be in 1..={total} (the sum of the weights)"),
                ));
            }
        }
        Ok(())
    }
}

/// Bounds on what configuration and input can make the policy hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct Limits {
    /// Prefixes per node (default 64); more is a configuration error.
    pub max_prefixes: usize,
    /// Checks per prefix (default 16); more is a configuration error.
    pub max_checks_per_prefix: usize,
    /// Peers remembered per prefix (default 64); further advertisers in one update are
    /// dropped (the best metrics are kept) and counted in
    /// [`Counters::peers_dropped`](crate::Counters::peers_dropped).
    pub max_peers_per_prefix: usize,
    /// Events queued for [`poll_event`](crate::Policy::poll_event) (default 1024);
    /// newer events are dropped and counted in
    /// [`Counters::events_dropped`](crate::Counters::events_dropped).
    pub max_queued_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_prefixes: 64,
            max_checks_per_prefix: 16,
            max_peers_per_prefix: 64,
            max_queued_events: 1024,
        }
    }
}

/// The configuration of one node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct NodeConfig {
    /// This node's OSPF Router ID; its own advertisements are recognised by it and
    /// ignored when they come back in the peer list.
    pub router_id: RouterId,
    /// The prefixes this node serves.
    pub prefixes: Vec<PrefixConfig>,
    /// Memory bounds.
    pub limits: Limits,
}

impl NodeConfig {
    /// The configuration of node `router_id` serving `prefixes`, with default limits.
    pub fn new(router_id: RouterId, prefixes: Vec<PrefixConfig>) -> Self {
        Self {
            router_id,
            prefixes,
            limits: Limits::default(),
        }
    }

    /// Validates every prefix and the node-wide limits.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), Error> {
        let limit = self.limits.max_prefixes.min(usize::from(u16::MAX));
        if self.prefixes.len() > limit {
            return Err(Error::LimitExceeded {
                what: "prefixes".into(),
                count: self.prefixes.len(),
                limit,
            });
        }
        for (i, p) in self.prefixes.iter().enumerate() {
            if self.prefixes[..i].iter().any(|q| q.prefix == p.prefix) {
                return Err(Error::DuplicatePrefix { prefix: p.prefix });
            }
            let mut limits = self.limits;
            limits.max_checks_per_prefix = limits.max_checks_per_prefix.min(usize::from(u16::MAX));
            p.validate(&limits)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    #[test]
    fn classify_bands() {
        let m = Mode::ActiveStandby {
            active_metric: 10,
            standby_metric: 20,
        };
        assert_eq!(m.classify(10), PeerRole::Active { preference: 0 });
        assert_eq!(m.classify(19), PeerRole::Active { preference: 9 });
        assert_eq!(m.classify(20), PeerRole::Standby { preference: 0 });
        assert_eq!(m.classify(29), PeerRole::Standby { preference: 9 });
        assert_eq!(m.classify(30), PeerRole::Other);
        assert_eq!(m.classify(9), PeerRole::Other);
        assert_eq!(m.first_unhealthy_metric(), 30);
    }

    #[test]
    fn validation_names_the_field() {
        let limits = Limits::default();
        let mut c = PrefixConfig::default();
        c.validate(&limits).unwrap();
        c.preference = 10;
        assert!(matches!(
            c.validate(&limits),
            Err(Error::InvalidConfig {
                field: "preference",
                ..
            })
        ));
        let mut c = PrefixConfig::default();
        c.drain_metric = 25;
        assert!(matches!(
            c.validate(&limits),
            Err(Error::InvalidConfig {
                field: "drain_metric",
                ..
            })
        ));
        let mut c = PrefixConfig::default();
        c.soft_fail = Some(SoftFail { metric: 29 });
        assert!(matches!(
            c.validate(&limits),
            Err(Error::InvalidConfig {
                field: "soft_fail.metric",
                ..
            })
        ));
        let mut c = PrefixConfig::default();
        c.mode = Mode::ActiveStandby {
            active_metric: 20,
            standby_metric: 20,
        };
        assert!(matches!(
            c.validate(&limits),
            Err(Error::InvalidConfig {
                field: "mode.active_metric",
                ..
            })
        ));
        let mut c = PrefixConfig::default();
        c.max_announcements_per_minute = 0;
        assert!(c.validate(&limits).is_err());
        let mut c = PrefixConfig::default();
        c.combine = Combine::Weighted { threshold: 1 };
        assert!(matches!(
            c.validate(&limits),
            Err(Error::InvalidConfig {
                field: "combine.threshold",
                ..
            })
        ));
    }

    #[test]
    fn node_limits() {
        let p = PrefixConfig::default();
        let cfg = NodeConfig {
            router_id: RouterId(1),
            prefixes: vec![p.clone(), p],
            limits: Limits::default(),
        };
        assert!(matches!(cfg.validate(), Err(Error::DuplicatePrefix { .. })));
        let cfg = NodeConfig {
            router_id: RouterId(1),
            prefixes: vec![PrefixConfig::default()],
            limits: Limits {
                max_prefixes: 0,
                ..Limits::default()
            },
        };
        assert!(matches!(cfg.validate(), Err(Error::LimitExceeded { .. })));
    }
}
