//! The anycast failover policy as a pure, sans-IO state machine.
//!
//! Every server puts the same IPv6 anycast address on its loopback and advertises it
//! through OSPFv3 while it is healthy. This crate decides, for each anycast prefix,
//! **what this node advertises**: with which metric, or not at all, and when the
//! loopback address is added or removed. The daemon (`ha_node`) executes the decisions.
//!
//! Inputs, each with the current `now`:
//!
//! * [`Policy::handle_probe_result`]: a health probe passed, failed or timed out;
//! * [`Policy::handle_peer_advertisements`]: what the *other* nodes currently advertise
//!   for a prefix, as `(Router ID, metric)` pairs read from the OSPFv3 LSDB;
//! * [`Policy::handle_command`]: drain, undrain, sync confirmed, shutdown, force standby…;
//! * [`Policy::handle_timeout`]: time passed.
//!
//! Outputs: [`Policy::poll_action`] ([`Action`]: add address, advertise, withdraw,
//! remove address), [`Policy::poll_event`] ([`Event`]: for logs and metrics) and
//! [`Policy::poll_timeout`]. The crate never reads a clock, opens a socket, sleeps or
//! spawns; it has no protocol of its own: roles are read from the metrics peers
//! advertise (see [How roles are encoded in metrics](#how-roles-are-encoded-in-metrics)
//! and [Election](#election-activestandby-mode) below).
//!
//! The [`guide`] (this crate's `README.md`) explains each mode with a timeline, for
//! operators choosing between them.
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
//!
//! # Election (active/standby mode)
//!
//! A node ranks candidates by **preference** (lower wins) and then by **Router ID**
//! (higher wins, as in OSPF's designated router election). A node's preference is
//! visible to every other node because it is added to the metrics it advertises (see above).
//!
//! * A node that becomes healthy always starts as **standby** and waits
//!   `settle_delay`, long enough to have heard every other node's advertisement.
//! * A standby claims the active role when no peer advertises an active metric, after
//!   a delay that grows with its position among standby candidates: the best waits
//!   `settle_delay` after entering standby (or not at all if it has been standby that
//!   long), the next one `settle_delay` more, and so on. If the best candidate cannot
//!   claim (sync gate not confirmed, forced standby), the next takes over one step
//!   later, so there is never a deadlock.
//! * When two nodes are active at once (simultaneous claims, a healed partition), the
//!   one that sees a better-ranked active peer steps down at once. Both compute the
//!   same ranking from the same metrics, so exactly one remains.
//! * With preemption, a standby whose preference is *strictly* better than every
//!   active peer's claims the active role after `hold_down` of good health; the old
//!   active then sees a better active peer and steps down. Equal preferences never
//!   preempt one another.
//!
//! # Example
//!
//! East and west serve `2001:db8::53/128` in active/standby mode with the default
//! metrics (active 10, standby 20). East starts alone, settles, and becomes active.
//!
//! ```
//! use anycast_failover::{
//!     Action, NodeConfig, Policy, PrefixConfig, ProbeOutcome, ProbeResult, Role,
//!     RouterId, CheckSpec, CheckKind, Scope, AdminCommand,
//! };
//! use std::time::{Duration, Instant};
//!
//! let prefix = "2001:db8::53/128".parse().unwrap();
//! let mut cfg = PrefixConfig::new(prefix);
//! cfg.checks.push(CheckSpec::new("dns", CheckKind::TcpConnect {
//!     addr: "[2001:db8::53]:53".parse().unwrap(),
//! }));
//! let t0 = Instant::now();
//! let mut east = Policy::new(t0, NodeConfig::new(RouterId(0x0a00_0001), vec![cfg])).unwrap();
//! let (check, _, spec) = east.checks().next().unwrap();
//! let interval = spec.interval;
//!
//! // Three passing probes (rise = 3): healthy, so east advertises as standby first.
//! let mut now = t0;
//! for _ in 0..3 {
//!     now += interval;
//!     east.handle_probe_result(now, check, ProbeResult { outcome: ProbeOutcome::Pass, started: now }).unwrap();
//! }
//! assert_eq!(east.poll_action(), Some(Action::AddLoopbackAddress { prefix }));
//! assert_eq!(east.poll_action(), Some(Action::Advertise { prefix, metric: 20 }));
//! assert_eq!(east.poll_action(), None);
//!
//! // No peer advertises the active metric: once the settle delay (5 s) has passed
//! // since east became standby, it claims the active role.
//! east.handle_peer_advertisements(now, prefix, []).unwrap();
//! for _ in 0..5 {
//!     now += interval;
//!     east.handle_probe_result(now, check, ProbeResult { outcome: ProbeOutcome::Pass, started: now }).unwrap();
//! }
//! assert_eq!(east.role(prefix), Some(Role::Active));
//! assert_eq!(east.poll_action(), Some(Action::Advertise { prefix, metric: 10 }));
//!
//! // Shutdown: withdraw now, remove the address after the grace period (5 s).
//! east.handle_command(now, Scope::All, AdminCommand::Shutdown).unwrap();
//! assert_eq!(east.poll_action(), Some(Action::Withdraw { prefix }));
//! assert_eq!(east.poll_action(), None);
//! let when = east.poll_timeout().unwrap();
//! assert_eq!(when, now + Duration::from_secs(5));
//! east.handle_timeout(when);
//! assert_eq!(east.poll_action(), Some(Action::RemoveLoopbackAddress { prefix }));
//! assert!(east.is_stopped());
//! ```
//!
//! # Dependencies
//!
//! Only `thiserror` (typed errors) and, behind the `serde` feature, `serde` for the
//! configuration types. Everything here is arithmetic on instants; nothing needed a
//! larger crate.

#[doc = include_str!("../README.md")]
pub mod guide {}

mod config;
mod damping;
mod error;
mod health;
mod policy;
mod prefix;
mod ratelimit;
mod role;

pub use config::{Limits, Mode, NodeConfig, PeerRole, Preempt, PrefixConfig, SoftFail};
pub use damping::DampingConfig;
pub use error::Error;
pub use health::{
    CheckId, CheckKind, CheckSpec, CheckTransition, Combine, ProbeOutcome, ProbeResult,
};
pub use policy::{Action, AdminCommand, CheckStatus, Counters, Event, Policy, PrefixStatus, Scope};
pub use prefix::{Ipv6Prefix, MAX_METRIC, Metric, RouterId};
pub use role::{Role, RoleEvent};
