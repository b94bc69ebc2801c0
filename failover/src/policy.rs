//! The node: one state machine per prefix, driven by probe results, peer
//! advertisements, admin commands and time, and drained through actions, events and
//! the next timeout.
//!
//! Every input runs the same evaluation for the prefixes it touches:
//!
//! 1. expire stale checks and recombine the checks into the prefix's health;
//! 2. apply flap damping (a flap adds penalty; a suppressed prefix counts as unhealthy);
//! 3. feed role events through the [`transition`] table until none applies;
//! 4. turn the role into the *wanted* advertisement, and that into the *target*
//!    advertisement through the announcement cap (withdrawals are never held back; a
//!    change to a worse metric that the cap would hold back becomes a withdrawal);
//! 5. compute the next deadline.
//!
//! Actions are not queued: [`Policy::poll_action`] compares the target with what it
//! last handed out and emits the next step, always in the order add address →
//! advertise / withdraw → remove address. Nothing is re-announced unless the advertised
//! metric changed, and the action queue cannot grow.

use crate::config::{Limits, Mode, NodeConfig, PeerRole, Preempt, PrefixConfig};
use crate::damping::Damping;
use crate::error::Error;
use crate::health::{self, CheckId, CheckSpec, CheckState, CheckTransition, ProbeResult};
use crate::prefix::{Ipv6Prefix, Metric, RouterId};
use crate::ratelimit::AnnouncementLimiter;
use crate::role::{Rank, Role, RoleEvent, TableContext, View, transition};
use std::collections::VecDeque;
use std::time::Instant;

/// What the daemon must do. Drain with [`Policy::poll_action`] after every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Put the address on the loopback interface (always before the first advertisement).
    AddLoopbackAddress {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
    /// Advertise the prefix with this metric (replacing any earlier advertisement).
    Advertise {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The metric.
        metric: Metric,
    },
    /// Stop advertising the prefix.
    Withdraw {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
    /// Take the address off the loopback interface (only after the withdrawal and the
    /// shutdown grace).
    RemoveLoopbackAddress {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::AddLoopbackAddress { prefix } => write!(f, "add {prefix} to loopback"),
            Action::Advertise { prefix, metric } => write!(f, "advertise {prefix} metric {metric}"),
            Action::Withdraw { prefix } => write!(f, "withdraw {prefix}"),
            Action::RemoveLoopbackAddress { prefix } => {
                write!(f, "remove {prefix} from loopback")
            }
        }
    }
}

/// What happened, for logs and metrics. Drain with [`Policy::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A check went up or down.
    CheckChanged {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The check.
        check: CheckId,
        /// Its new state.
        up: bool,
        /// Why.
        cause: CheckTransition,
    },
    /// The combined health of the prefix's checks changed (before damping).
    HealthChanged {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The new combined health.
        healthy: bool,
    },
    /// Flap damping suppressed the prefix: it counts as unhealthy until `reuse_at`.
    Suppressed {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The penalty figure after the flap.
        penalty: u32,
        /// When the suppression ends if no further flap happens.
        reuse_at: Instant,
    },
    /// The damping suppression ended.
    Reused {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
    /// The role changed.
    RoleChanged {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The old role.
        from: Role,
        /// The new role.
        to: Role,
        /// What caused it.
        cause: RoleEvent,
    },
    /// The announcement cap held back a change.
    RateLimited {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// The metric the policy wanted to advertise.
        wanted: Metric,
        /// When the cap allows the next announcement.
        retry_at: Instant,
        /// True when the prefix was withdrawn instead (the wanted metric was worse than
        /// the advertised one, and a worse advertisement must never wait).
        withdrew_instead: bool,
    },
    /// The node would claim the active role but the sync gate is not confirmed.
    SyncGateWaiting {
        /// The prefix.
        prefix: Ipv6Prefix,
    },
}

/// Which prefixes an admin command applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every configured prefix.
    All,
    /// One prefix.
    Prefix(Ipv6Prefix),
}

/// Operator and daemon commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminCommand {
    /// Maintenance: advertise the drain metric, then withdraw after the drain period.
    Drain,
    /// End maintenance: start again from withdrawn (standby first, then the election).
    Undrain,
    /// The node's data is current: the sync gate may open.
    SyncConfirmed,
    /// The node's data may be stale: close the sync gate (an active node steps down).
    SyncLost,
    /// Withdraw everything now, remove the addresses after the shutdown grace.
    Shutdown,
    /// Never claim the active role (step down if active) until [`ClearForce`](Self::ClearForce).
    ForceStandby,
    /// Cancel [`ForceStandby`](Self::ForceStandby).
    ClearForce,
    /// Forget the damping history and end any suppression.
    ClearDamping,
}

/// Counters for metrics; they only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counters {
    /// Probe results counted.
    pub probe_results: u64,
    /// Probe results ignored because they were older than one already counted.
    pub stale_probe_results: u64,
    /// Peer advertisements dropped by [`Limits::max_peers_per_prefix`].
    pub peers_dropped: u64,
    /// Events dropped by [`Limits::max_queued_events`].
    pub events_dropped: u64,
    /// Advertise actions handed out.
    pub advertisements: u64,
    /// Withdraw actions handed out.
    pub withdrawals: u64,
    /// Changes held back (or turned into withdrawals) by the announcement cap.
    pub rate_limited: u64,
    /// Damping suppressions started.
    pub suppressions: u64,
}

struct Outbox<'a> {
    events: &'a mut VecDeque<Event>,
    counters: &'a mut Counters,
    max: usize,
}

impl Outbox<'_> {
    fn push(&mut self, e: Event) {
        if self.events.len() >= self.max {
            self.counters.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }
}

/// The state machine of one prefix.
#[derive(Debug)]
struct PrefixState {
    cfg: PrefixConfig,
    index: u16,
    checks: Vec<CheckState>,
    health_up: bool,
    damping: Damping,
    role: Role,
    role_since: Instant,
    healthy_since: Option<Instant>,
    peers: Vec<(RouterId, Metric)>,
    classified: Vec<(RouterId, PeerRole)>,
    no_active_since: Option<Instant>,
    sync_confirmed: bool,
    sync_wait_reported: bool,
    force_standby: bool,
    drain_until: Option<Instant>,
    remove_at: Option<Instant>,
    limiter: AnnouncementLimiter,
    wanted_adv: Option<Metric>,
    deferred: Option<Metric>,
    target_adv: Option<Metric>,
    target_addr: bool,
    installed_adv: Option<Metric>,
    installed_addr: bool,
    deadline: Option<Instant>,
    /// Set when the cap held back an improving role event during the last evaluation.
    gated_until: Option<Instant>,
}

impl PrefixState {
    fn new(now: Instant, index: u16, cfg: PrefixConfig) -> Self {
        let health_up = health::combine(cfg.combine, std::iter::empty());
        let checks = vec![CheckState::new(); cfg.checks.len()];
        let limiter = AnnouncementLimiter::new(cfg.max_announcements_per_minute);
        let mut s = Self {
            index,
            checks,
            health_up,
            damping: Damping::default(),
            role: Role::Withdrawn,
            role_since: now,
            healthy_since: None,
            peers: Vec::new(),
            classified: Vec::new(),
            no_active_since: Some(now),
            sync_confirmed: false,
            sync_wait_reported: false,
            force_standby: false,
            drain_until: None,
            remove_at: None,
            limiter,
            wanted_adv: None,
            deferred: None,
            target_adv: None,
            target_addr: false,
            installed_adv: None,
            installed_addr: false,
            deadline: None,
            gated_until: None,
            cfg,
        };
        s.health_up = s.combined_health();
        s
    }

    fn prefix(&self) -> Ipv6Prefix {
        self.cfg.prefix
    }

    fn ctx(&self) -> TableContext {
        TableContext {
            active_active: matches!(self.cfg.mode, Mode::ActiveActive { .. }),
            soft_fail: self.cfg.soft_fail.is_some(),
        }
    }

    fn combined_health(&self) -> bool {
        health::combine(
            self.cfg.combine,
            self.cfg.checks.iter().zip(self.checks.iter()),
        )
    }

    fn effective_up(&self) -> bool {
        self.health_up && !self.damping.is_suppressed()
    }

    fn sync_ok(&self) -> bool {
        !self.cfg.sync_gate || self.sync_confirmed
    }

    fn me(&self, router_id: RouterId) -> Rank {
        Rank {
            preference: self.cfg.preference,
            router_id,
        }
    }

    /// Recomputes the combined health after a check change; handles damping flaps.
    fn refresh_health(&mut self, now: Instant, out: &mut Outbox<'_>) {
        let up = self.combined_health();
        if up == self.health_up {
            return;
        }
        self.health_up = up;
        out.push(Event::HealthChanged {
            prefix: self.prefix(),
            healthy: up,
        });
        if !up
            && let Some(d) = &self.cfg.damping
            && self.damping.flap(d, now)
        {
            out.counters.suppressions += 1;
            let reuse_at = self.damping.reuse_at(d).unwrap_or(now);
            let penalty = self.damping.penalty_at(d, now) as u32;
            out.push(Event::Suppressed {
                prefix: self.prefix(),
                penalty,
                reuse_at,
            });
        }
    }

    fn record_probe(&mut self, now: Instant, ci: usize, result: ProbeResult, out: &mut Outbox<'_>) {
        let spec = &self.cfg.checks[ci];
        match self.checks[ci].record(spec, now, result) {
            Err(()) => out.counters.stale_probe_results += 1,
            Ok(tr) => {
                out.counters.probe_results += 1;
                if let Some(cause) = tr {
                    out.push(Event::CheckChanged {
                        prefix: self.cfg.prefix,
                        check: CheckId {
                            prefix_index: self.index,
                            check_index: ci as u16,
                        },
                        up: self.checks[ci].is_up(),
                        cause,
                    });
                    self.refresh_health(now, out);
                }
            }
        }
    }

    fn set_peers(
        &mut self,
        now: Instant,
        own: RouterId,
        adverts: impl IntoIterator<Item = (RouterId, Metric)>,
        limits: &Limits,
        out: &mut Outbox<'_>,
    ) {
        self.peers.clear();
        for (rid, metric) in adverts {
            if rid == own {
                continue;
            }
            if let Some(entry) = self.peers.iter_mut().find(|(r, _)| *r == rid) {
                entry.1 = entry.1.min(metric);
                continue;
            }
            if self.peers.len() < limits.max_peers_per_prefix {
                self.peers.push((rid, metric));
                continue;
            }
            out.counters.peers_dropped += 1;
            // Keep the best metrics: replace the worst entry if this one is better.
            if let Some(worst) = self
                .peers
                .iter_mut()
                .max_by_key(|(r, m)| (*m, std::cmp::Reverse(*r)))
                && metric < worst.1
            {
                *worst = (rid, metric);
            }
        }
        self.peers.sort_unstable();
        let mode = self.cfg.mode;
        self.classified = self
            .peers
            .iter()
            .map(|&(r, m)| (r, mode.classify(m)))
            .collect();
        let any_active = self
            .classified
            .iter()
            .any(|(_, role)| matches!(role, PeerRole::Active { .. }));
        if any_active {
            self.no_active_since = None;
        } else if self.no_active_since.is_none() {
            self.no_active_since = Some(now);
        }
    }

    /// When (and why) this standby may claim the active role, if it may at all.
    /// With `ignore_gate`, answers as if the sync gate were confirmed.
    fn claim_at(&self, router_id: RouterId, ignore_gate: bool) -> Option<(Instant, RoleEvent)> {
        if self.role != Role::Standby
            || !self.effective_up()
            || self.force_standby
            || !(ignore_gate || self.sync_ok())
            || self.ctx().active_active
        {
            return None;
        }
        let view = View {
            me: self.me(router_id),
            peers: &self.classified,
        };
        let settled = self.role_since.checked_add(self.cfg.settle_delay)?;
        if !view.any_active() {
            let base = settled.max(self.no_active_since.unwrap_or(settled));
            let steps = u32::try_from(view.position()).unwrap_or(u32::MAX);
            let at = base.checked_add(self.cfg.settle_delay.saturating_mul(steps))?;
            return Some((at, RoleEvent::Elected));
        }
        match self.cfg.preempt {
            Preempt::After { hold_down } if view.may_preempt() => {
                let healthy = self.healthy_since.unwrap_or(self.role_since);
                Some((
                    settled.max(healthy.checked_add(hold_down)?),
                    RoleEvent::Preempted,
                ))
            }
            _ => None,
        }
    }

    /// The next role event, holding back those that would improve the advertisement
    /// (coming up, claiming the active role) while the announcement cap is reached:
    /// the role never runs ahead of what the node can advertise, so peers never see a
    /// node that considers itself active while it still advertises standby.
    fn next_event(
        &mut self,
        now: Instant,
        router_id: RouterId,
        previous_gate: Option<Instant>,
        out: &mut Outbox<'_>,
    ) -> Option<RoleEvent> {
        let ev = self.due_event(now, router_id, out)?;
        if matches!(
            ev,
            RoleEvent::HealthUp | RoleEvent::Elected | RoleEvent::Preempted
        ) && !self.limiter.allows(now)
        {
            let retry_at = self.limiter.next_allowed().unwrap_or(now);
            if previous_gate != Some(retry_at) {
                let wanted = transition(self.role, ev, self.ctx())
                    .and_then(|to| self.metric_for(to))
                    .unwrap_or_default();
                out.counters.rate_limited += 1;
                out.push(Event::RateLimited {
                    prefix: self.prefix(),
                    wanted,
                    retry_at,
                    withdrew_instead: false,
                });
            }
            self.gated_until = Some(retry_at);
            return None;
        }
        Some(ev)
    }

    /// The next role event due at `now`, if any.
    fn due_event(
        &mut self,
        now: Instant,
        router_id: RouterId,
        out: &mut Outbox<'_>,
    ) -> Option<RoleEvent> {
        let up = self.effective_up();
        let aa = self.ctx().active_active;
        match self.role {
            Role::Stopped | Role::Drained => None,
            Role::ShuttingDown => self
                .remove_at
                .filter(|&t| now >= t)
                .map(|_| RoleEvent::GraceElapsed),
            Role::Draining => self
                .drain_until
                .filter(|&t| now >= t)
                .map(|_| RoleEvent::DrainElapsed),
            Role::Withdrawn | Role::Degraded => {
                if up && (!aa || self.sync_ok()) {
                    Some(RoleEvent::HealthUp)
                } else {
                    if up && !self.sync_wait_reported {
                        self.sync_wait_reported = true;
                        out.push(Event::SyncGateWaiting {
                            prefix: self.prefix(),
                        });
                    }
                    None
                }
            }
            Role::Active if !up => Some(RoleEvent::HealthDown),
            Role::Active if !self.sync_ok() => Some(RoleEvent::SyncLost),
            Role::Active => {
                let view = View {
                    me: self.me(router_id),
                    peers: &self.classified,
                };
                (!aa && (self.force_standby || view.better_active()))
                    .then_some(RoleEvent::SteppedDown)
            }
            Role::Standby if !up => Some(RoleEvent::HealthDown),
            Role::Standby => {
                if !self.sync_ok()
                    && !self.sync_wait_reported
                    && self
                        .claim_at(router_id, true)
                        .is_some_and(|(at, _)| now >= at)
                {
                    // The node would claim now but for the sync gate: report it once.
                    self.sync_wait_reported = true;
                    out.push(Event::SyncGateWaiting {
                        prefix: self.prefix(),
                    });
                }
                match self.claim_at(router_id, false) {
                    Some((at, ev)) if now >= at => Some(ev),
                    _ => None,
                }
            }
        }
    }

    /// Applies one role event through the table.
    fn apply(&mut self, now: Instant, event: RoleEvent, out: &mut Outbox<'_>) -> bool {
        let Some(to) = transition(self.role, event, self.ctx()) else {
            return false;
        };
        let from = self.role;
        self.role = to;
        self.role_since = now;
        match to {
            Role::Draining => {
                self.drain_until = now.checked_add(self.cfg.drain_period);
                self.sync_confirmed = false;
            }
            Role::Drained => self.sync_confirmed = false,
            Role::ShuttingDown => self.remove_at = now.checked_add(self.cfg.shutdown_grace),
            Role::Active => self.sync_wait_reported = false,
            _ => {}
        }
        out.push(Event::RoleChanged {
            prefix: self.prefix(),
            from,
            to,
            cause: event,
        });
        true
    }

    fn evaluate(&mut self, now: Instant, router_id: RouterId, out: &mut Outbox<'_>) {
        // 1. Stale checks.
        let mut changed = false;
        for (ci, (spec, state)) in self
            .cfg
            .checks
            .iter()
            .zip(self.checks.iter_mut())
            .enumerate()
        {
            if let Some(cause) = state.expire(spec, now) {
                changed = true;
                out.push(Event::CheckChanged {
                    prefix: self.cfg.prefix,
                    check: CheckId {
                        prefix_index: self.index,
                        check_index: ci as u16,
                    },
                    up: false,
                    cause,
                });
            }
        }
        if changed {
            self.refresh_health(now, out);
        }
        // 2. Damping release.
        if let Some(d) = &self.cfg.damping
            && self.damping.release_if_due(d, now)
        {
            out.push(Event::Reused {
                prefix: self.prefix(),
            });
        }
        let up = self.effective_up();
        match (up, self.healthy_since) {
            (true, None) => self.healthy_since = Some(now),
            (false, Some(_)) => {
                self.healthy_since = None;
                self.sync_confirmed = false;
                self.sync_wait_reported = false;
            }
            _ => {}
        }
        // 3. Role events until none applies (the table has no cycles without input,
        //    so a handful of steps suffices; the bound is a guard).
        let previous_gate = self.gated_until.take();
        for _ in 0..8 {
            match self.next_event(now, router_id, previous_gate, out) {
                Some(ev) => {
                    if !self.apply(now, ev, out) {
                        break;
                    }
                }
                None => break,
            }
        }
        // 4. Wanted and target advertisement.
        self.update_target(now, out);
        // 5. Deadline.
        self.deadline = self.compute_deadline(now, router_id);
    }

    fn wanted(&self) -> Option<Metric> {
        self.metric_for(self.role)
    }

    /// The metric a role advertises.
    fn metric_for(&self, role: Role) -> Option<Metric> {
        match (role, self.cfg.mode) {
            (Role::Standby, Mode::ActiveStandby { standby_metric, .. }) => {
                Some(standby_metric + self.cfg.preference)
            }
            (Role::Active, Mode::ActiveStandby { active_metric, .. }) => {
                Some(active_metric + self.cfg.preference)
            }
            (Role::Active | Role::Standby, Mode::ActiveActive { metric }) => Some(metric),
            (Role::Degraded, _) => self.cfg.soft_fail.map(|s| s.metric),
            (Role::Draining, _) => Some(self.cfg.drain_metric),
            _ => None,
        }
    }

    fn update_target(&mut self, now: Instant, out: &mut Outbox<'_>) {
        let wanted = self.wanted();
        self.wanted_adv = wanted;
        if wanted.is_some() {
            self.target_addr = true;
        }
        if self.role == Role::Stopped {
            self.target_addr = false;
        }
        if wanted == self.target_adv {
            self.deferred = None;
            return;
        }
        let Some(metric) = wanted else {
            // Withdrawals are never held back.
            self.target_adv = None;
            self.deferred = None;
            return;
        };
        let worse = self.target_adv.is_some_and(|old| metric > old);
        if self.limiter.try_record(now) {
            self.target_adv = Some(metric);
            self.deferred = None;
            return;
        }
        let retry_at = self.limiter.next_allowed().unwrap_or(now);
        if worse {
            // Keeping the better metric would attract traffic the node should no longer
            // get; withdraw now and advertise the worse metric when the cap allows.
            self.target_adv = None;
            out.counters.rate_limited += 1;
            out.push(Event::RateLimited {
                prefix: self.prefix(),
                wanted: metric,
                retry_at,
                withdrew_instead: true,
            });
            self.deferred = Some(metric);
        } else if self.deferred != Some(metric) {
            self.deferred = Some(metric);
            out.counters.rate_limited += 1;
            out.push(Event::RateLimited {
                prefix: self.prefix(),
                wanted: metric,
                retry_at,
                withdrew_instead: false,
            });
        }
    }

    /// The earliest instant after `now` at which something is due. Instants at or
    /// before `now` are due but held back by something else (the announcement cap),
    /// whose own instant is in the list.
    fn compute_deadline(&self, now: Instant, router_id: RouterId) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t.filter(|&t| t > now) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if !matches!(self.role, Role::ShuttingDown | Role::Stopped) {
            for (spec, state) in self.cfg.checks.iter().zip(&self.checks) {
                consider(state.stale_at(spec));
            }
        }
        if let Some(d) = &self.cfg.damping {
            consider(self.damping.reuse_at(d));
        }
        match self.role {
            Role::Standby => {
                consider(self.claim_at(router_id, false).map(|(t, _)| t));
                if !self.sync_ok() && !self.sync_wait_reported {
                    // Wake up to report that only the sync gate holds the claim back.
                    consider(self.claim_at(router_id, true).map(|(t, _)| t));
                }
            }
            Role::Draining => consider(self.drain_until),
            Role::ShuttingDown => consider(self.remove_at),
            _ => {}
        }
        consider(self.gated_until);
        if self.wanted_adv.is_some() && self.wanted_adv != self.target_adv {
            consider(self.limiter.next_allowed());
        }
        next
    }

    fn command(&mut self, now: Instant, cmd: AdminCommand, out: &mut Outbox<'_>) {
        match cmd {
            AdminCommand::Drain => {
                self.apply(now, RoleEvent::Drain, out);
            }
            AdminCommand::Undrain => {
                self.apply(now, RoleEvent::Undrain, out);
            }
            AdminCommand::Shutdown => {
                self.apply(now, RoleEvent::Shutdown, out);
            }
            AdminCommand::SyncConfirmed => self.sync_confirmed = true,
            AdminCommand::SyncLost => {
                self.sync_confirmed = false;
                self.sync_wait_reported = false;
            }
            AdminCommand::ForceStandby => self.force_standby = true,
            AdminCommand::ClearForce => self.force_standby = false,
            AdminCommand::ClearDamping => {
                let was = self.damping.is_suppressed();
                self.damping.clear();
                if was {
                    out.push(Event::Reused {
                        prefix: self.prefix(),
                    });
                }
            }
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        let prefix = self.prefix();
        if self.target_addr && !self.installed_addr {
            self.installed_addr = true;
            return Some(Action::AddLoopbackAddress { prefix });
        }
        if self.installed_adv != self.target_adv {
            self.installed_adv = self.target_adv;
            return Some(match self.target_adv {
                Some(metric) => Action::Advertise { prefix, metric },
                None => Action::Withdraw { prefix },
            });
        }
        if !self.target_addr && self.installed_addr && self.installed_adv.is_none() {
            self.installed_addr = false;
            return Some(Action::RemoveLoopbackAddress { prefix });
        }
        None
    }
}

/// The failover policy of one node: every configured prefix's state machine.
///
/// The contract is the workspace's sans-IO one: call one `handle_*` method with the
/// current instant, then drain [`poll_action`](Self::poll_action) and
/// [`poll_event`](Self::poll_event), then arm a timer for
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout)
/// when it fires. Instants that go backwards are treated as the latest instant seen.
#[derive(Debug)]
pub struct Policy {
    router_id: RouterId,
    limits: Limits,
    prefixes: Vec<PrefixState>,
    events: VecDeque<Event>,
    counters: Counters,
    last_now: Instant,
}

impl Policy {
    /// Validates `config` and builds the policy at `now`. Every prefix starts
    /// withdrawn, without its loopback address.
    ///
    /// # Errors
    /// Any configuration problem ([`NodeConfig::validate`]).
    pub fn new(now: Instant, config: NodeConfig) -> Result<Self, Error> {
        config.validate()?;
        let NodeConfig {
            router_id,
            prefixes,
            limits,
        } = config;
        let mut p = Self {
            router_id,
            limits,
            prefixes: prefixes
                .into_iter()
                .enumerate()
                .map(|(i, cfg)| PrefixState::new(now, i as u16, cfg))
                .collect(),
            events: VecDeque::new(),
            counters: Counters::default(),
            last_now: now,
        };
        p.handle_timeout(now);
        Ok(p)
    }

    fn clamp(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last_now);
        self.last_now = now;
        now
    }

    fn split(&mut self) -> (&mut Vec<PrefixState>, Outbox<'_>, RouterId, &Limits) {
        (
            &mut self.prefixes,
            Outbox {
                events: &mut self.events,
                counters: &mut self.counters,
                max: self.limits.max_queued_events,
            },
            self.router_id,
            &self.limits,
        )
    }

    fn index_of(&self, prefix: Ipv6Prefix) -> Result<usize, Error> {
        self.prefixes
            .iter()
            .position(|p| p.cfg.prefix == prefix)
            .ok_or(Error::UnknownPrefix { prefix })
    }

    /// The checks the daemon must run, with the prefix each belongs to.
    pub fn checks(&self) -> impl Iterator<Item = (CheckId, Ipv6Prefix, &CheckSpec)> + '_ {
        self.prefixes.iter().flat_map(|p| {
            p.cfg.checks.iter().enumerate().map(move |(ci, spec)| {
                (
                    CheckId {
                        prefix_index: p.index,
                        check_index: ci as u16,
                    },
                    p.cfg.prefix,
                    spec,
                )
            })
        })
    }

    /// Reports one probe result.
    ///
    /// # Errors
    /// [`Error::UnknownCheck`] when `check` was not obtained from [`checks`](Self::checks).
    pub fn handle_probe_result(
        &mut self,
        now: Instant,
        check: CheckId,
        result: ProbeResult,
    ) -> Result<(), Error> {
        let now = self.clamp(now);
        let (prefixes, mut out, rid, _) = self.split();
        let p = prefixes
            .get_mut(usize::from(check.prefix_index))
            .filter(|p| usize::from(check.check_index) < p.checks.len())
            .ok_or(Error::UnknownCheck { check })?;
        p.record_probe(now, usize::from(check.check_index), result, &mut out);
        p.evaluate(now, rid, &mut out);
        Ok(())
    }

    /// Replaces what the other nodes advertise for `prefix`: every (Router ID, metric)
    /// pair the daemon found in the LSDB. Entries with this node's own Router ID are
    /// ignored; a Router ID listed twice counts with its best metric; beyond
    /// [`Limits::max_peers_per_prefix`] the worst metrics are dropped and counted.
    ///
    /// # Errors
    /// [`Error::UnknownPrefix`].
    pub fn handle_peer_advertisements(
        &mut self,
        now: Instant,
        prefix: Ipv6Prefix,
        adverts: impl IntoIterator<Item = (RouterId, Metric)>,
    ) -> Result<(), Error> {
        let now = self.clamp(now);
        let i = self.index_of(prefix)?;
        let (prefixes, mut out, rid, limits) = self.split();
        let limits = *limits;
        let p = &mut prefixes[i];
        p.set_peers(now, rid, adverts, &limits, &mut out);
        p.evaluate(now, rid, &mut out);
        Ok(())
    }

    /// Applies an admin command.
    ///
    /// # Errors
    /// [`Error::UnknownPrefix`] for a [`Scope::Prefix`] that is not configured.
    pub fn handle_command(
        &mut self,
        now: Instant,
        scope: Scope,
        cmd: AdminCommand,
    ) -> Result<(), Error> {
        let now = self.clamp(now);
        let only = match scope {
            Scope::All => None,
            Scope::Prefix(p) => Some(self.index_of(p)?),
        };
        let (prefixes, mut out, rid, _) = self.split();
        for (i, p) in prefixes.iter_mut().enumerate() {
            if only.is_none_or(|o| o == i) {
                p.command(now, cmd, &mut out);
                p.evaluate(now, rid, &mut out);
            }
        }
        Ok(())
    }

    /// Lets time pass: fires every deadline at or before `now`.
    ///
    /// Calling it early (before [`poll_timeout`](Self::poll_timeout)) or twice is
    /// harmless: deadlines after `now` do not fire and nothing is re-announced.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        let (prefixes, mut out, rid, _) = self.split();
        for p in prefixes.iter_mut() {
            p.evaluate(now, rid, &mut out);
        }
    }

    /// The next action for the daemon, in safe order for each prefix.
    pub fn poll_action(&mut self) -> Option<Action> {
        let counters = &mut self.counters;
        self.prefixes
            .iter_mut()
            .find_map(|p| p.poll_action())
            .inspect(|a| match a {
                Action::Advertise { .. } => counters.advertisements += 1,
                Action::Withdraw { .. } => counters.withdrawals += 1,
                _ => {}
            })
    }

    /// The next event for logs and metrics.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.prefixes.iter().filter_map(|p| p.deadline).min()
    }

    /// The current role for `prefix`.
    pub fn role(&self, prefix: Ipv6Prefix) -> Option<Role> {
        self.prefixes
            .iter()
            .find(|p| p.cfg.prefix == prefix)
            .map(|p| p.role)
    }

    /// What the policy has told the daemon to advertise for `prefix` (as of the last
    /// [`poll_action`](Self::poll_action)).
    pub fn advertised(&self, prefix: Ipv6Prefix) -> Option<Metric> {
        self.prefixes
            .iter()
            .find(|p| p.cfg.prefix == prefix)
            .and_then(|p| p.installed_adv)
    }

    /// Whether every prefix has finished shutting down.
    pub fn is_stopped(&self) -> bool {
        self.prefixes.iter().all(|p| p.role == Role::Stopped)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// This node's Router ID.
    pub fn router_id(&self) -> RouterId {
        self.router_id
    }

    /// What the policy knows about each prefix, in configuration order, for status
    /// displays.
    pub fn status(&self) -> impl Iterator<Item = PrefixStatus> + '_ {
        self.prefixes.iter().map(|p| PrefixStatus {
            prefix: p.cfg.prefix,
            role: p.role,
            role_since: p.role_since,
            healthy: p.effective_up(),
            suppressed: p.damping.is_suppressed(),
            advertised: p.installed_adv,
            address_installed: p.installed_addr,
            force_standby: p.force_standby,
            drain_until: p.drain_until.filter(|_| p.role == Role::Draining),
            peers: p.peers.clone(),
            checks: p
                .cfg
                .checks
                .iter()
                .zip(&p.checks)
                .enumerate()
                .map(|(ci, (spec, st))| CheckStatus {
                    id: CheckId {
                        prefix_index: p.index,
                        check_index: ci as u16,
                    },
                    name: spec.name.clone(),
                    up: st.is_up(),
                    last_result_at: st.last_result_at(),
                })
                .collect(),
        })
    }

    /// Replaces the configuration without starting over: the state of every prefix
    /// that stays (role, health, damping, admin flags, what is installed) is kept and
    /// its new settings apply from `now`; a check that keeps its name and kind keeps
    /// its state, a new check on a healthy prefix starts up (it must fail `fall` times
    /// or go stale to take the prefix down) and on an unhealthy one down. New prefixes
    /// start withdrawn, as in [`Policy::new`]. A removed prefix must not be advertised
    /// any more (drain it first); the returned actions (a loopback address removal)
    /// finish it and must be executed by the caller. Check identifiers may change:
    /// take [`checks`](Self::checks) again.
    ///
    /// # Errors
    /// Any configuration problem ([`NodeConfig::validate`]), [`Error::RouterIdChanged`],
    /// or [`Error::PrefixInUse`]; the policy is then unchanged.
    pub fn reconfigure(&mut self, now: Instant, config: NodeConfig) -> Result<Vec<Action>, Error> {
        config.validate()?;
        if config.router_id != self.router_id {
            return Err(Error::RouterIdChanged);
        }
        let now = self.clamp(now);
        if let Some(p) = self.prefixes.iter().find(|p| {
            p.installed_adv.is_some() && !config.prefixes.iter().any(|c| c.prefix == p.cfg.prefix)
        }) {
            return Err(Error::PrefixInUse {
                prefix: p.cfg.prefix,
            });
        }
        let NodeConfig {
            prefixes, limits, ..
        } = config;
        let mut old = std::mem::take(&mut self.prefixes);
        let mut next = Vec::with_capacity(prefixes.len());
        for (i, cfg) in prefixes.into_iter().enumerate() {
            let index = i as u16;
            match old.iter().position(|p| p.cfg.prefix == cfg.prefix) {
                Some(pos) => {
                    let mut p = old.swap_remove(pos);
                    let healthy = p.health_up;
                    p.checks = cfg
                        .checks
                        .iter()
                        .map(|spec| {
                            p.cfg
                                .checks
                                .iter()
                                .position(|o| o.name == spec.name && o.kind == spec.kind)
                                .map(|ci| p.checks[ci].clone())
                                .unwrap_or_else(|| {
                                    if healthy {
                                        CheckState::assumed_up(now)
                                    } else {
                                        CheckState::new()
                                    }
                                })
                        })
                        .collect();
                    if p.cfg.max_announcements_per_minute != cfg.max_announcements_per_minute {
                        p.limiter = AnnouncementLimiter::new(cfg.max_announcements_per_minute);
                    }
                    p.cfg = cfg;
                    p.index = index;
                    let mode = p.cfg.mode;
                    p.classified = p
                        .peers
                        .iter()
                        .map(|&(r, m)| (r, mode.classify(m)))
                        .collect();
                    next.push(p);
                }
                None => next.push(PrefixState::new(now, index, cfg)),
            }
        }
        let removals = old
            .into_iter()
            .filter(|p| p.installed_addr)
            .map(|p| Action::RemoveLoopbackAddress {
                prefix: p.cfg.prefix,
            })
            .collect();
        self.prefixes = next;
        self.limits = limits;
        let (prefixes, mut out, rid, _) = self.split();
        for p in prefixes.iter_mut() {
            p.refresh_health(now, &mut out);
            p.evaluate(now, rid, &mut out);
        }
        Ok(removals)
    }
}

/// One check of a [`PrefixStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckStatus {
    /// Its identifier (what [`Policy::checks`] returns).
    pub id: CheckId,
    /// Its configured name.
    pub name: String,
    /// Whether it is up.
    pub up: bool,
    /// When its last result was counted.
    pub last_result_at: Option<Instant>,
}

/// The state of one prefix, from [`Policy::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrefixStatus {
    /// The prefix.
    pub prefix: Ipv6Prefix,
    /// Its role.
    pub role: Role,
    /// Since when.
    pub role_since: Instant,
    /// The health verdict (checks combined, damping applied).
    pub healthy: bool,
    /// Whether flap damping suppresses it.
    pub suppressed: bool,
    /// The metric the daemon was told to advertise (`None`: withdrawn).
    pub advertised: Option<Metric>,
    /// Whether the daemon was told to put the address on the loopback.
    pub address_installed: bool,
    /// Whether an operator forced standby.
    pub force_standby: bool,
    /// While draining: when the drain metric gives way to the withdrawal.
    pub drain_until: Option<Instant>,
    /// What the other nodes advertise (Router ID, metric).
    pub peers: Vec<(RouterId, Metric)>,
    /// The checks.
    pub checks: Vec<CheckStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckKind, ProbeOutcome};
    use std::time::Duration;

    fn prefix() -> Ipv6Prefix {
        "2001:db8::1/128".parse().unwrap()
    }

    fn policy(limits: Limits, checks: usize) -> (Policy, Instant) {
        let mut cfg = PrefixConfig::new(prefix());
        for i in 0..checks {
            cfg.checks.push(CheckSpec::new(
                format!("c{i}"),
                CheckKind::TcpConnect {
                    addr: "[::1]:1".parse().unwrap(),
                },
            ));
        }
        let t0 = Instant::now();
        let p = Policy::new(
            t0,
            NodeConfig {
                router_id: RouterId(1),
                prefixes: vec![cfg],
                limits,
            },
        )
        .unwrap();
        (p, t0)
    }

    #[test]
    fn early_or_repeated_timeout_is_harmless() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let (check, _, spec) = p.checks().next().unwrap();
        let interval = spec.interval;
        let mut now = t0;
        for _ in 0..3 {
            now += interval;
            let r = ProbeResult {
                outcome: ProbeOutcome::Pass,
                started: now,
            };
            p.handle_probe_result(now, check, r).unwrap();
        }
        p.handle_peer_advertisements(now, prefix(), []).unwrap();
        while p.poll_action().is_some() {}
        while p.poll_event().is_some() {}
        assert_eq!(p.role(prefix()), Some(Role::Standby));
        let due = p.poll_timeout().expect("settle deadline armed");
        assert!(due > now);
        let counters = *p.counters();
        for at in [now, now + (due - now) / 2, now + (due - now) / 2] {
            p.handle_timeout(at);
            assert_eq!(p.poll_action(), None, "early timeout at {:?}", at - t0);
            assert_eq!(p.poll_event(), None);
            assert_eq!(p.role(prefix()), Some(Role::Standby));
            assert_eq!(p.poll_timeout(), Some(due));
            assert_eq!(*p.counters(), counters);
        }
        // At the deadline the timer fires (here: no probe result came back, so the
        // check goes stale and the prefix is withdrawn), and a second call at the same
        // instant fires nothing more.
        p.handle_timeout(due);
        assert_eq!(p.role(prefix()), Some(Role::Withdrawn));
        assert_eq!(p.poll_action(), Some(Action::Withdraw { prefix: prefix() }));
        while p.poll_action().is_some() {}
        assert!(p.poll_event().is_some());
        while p.poll_event().is_some() {}
        p.handle_timeout(due);
        assert_eq!(p.poll_action(), None);
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn unknown_prefix_and_check_are_errors() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let other: Ipv6Prefix = "2001:db8::2/128".parse().unwrap();
        assert_eq!(
            p.handle_peer_advertisements(t0, other, []),
            Err(Error::UnknownPrefix { prefix: other })
        );
        assert_eq!(
            p.handle_command(t0, Scope::Prefix(other), AdminCommand::Drain),
            Err(Error::UnknownPrefix { prefix: other })
        );
        let bad = CheckId {
            prefix_index: 0,
            check_index: 1,
        };
        let r = ProbeResult {
            outcome: ProbeOutcome::Pass,
            started: t0,
        };
        assert_eq!(
            p.handle_probe_result(t0, bad, r),
            Err(Error::UnknownCheck { check: bad })
        );
    }

    #[test]
    fn peer_limit_keeps_best_metrics_and_counts_drops() {
        let limits = Limits {
            max_peers_per_prefix: 2,
            ..Limits::default()
        };
        let (mut p, t0) = policy(limits, 0);
        let adverts = [
            (RouterId(2), 25),
            (RouterId(3), 21),
            (RouterId(4), 10),
            (RouterId(1), 10), // our own: ignored, not counted
            (RouterId(5), 29),
        ];
        p.handle_peer_advertisements(t0, prefix(), adverts).unwrap();
        assert_eq!(p.counters().peers_dropped, 2);
        assert_eq!(
            p.prefixes[0].peers,
            vec![(RouterId(3), 21), (RouterId(4), 10)]
        );
    }

    #[test]
    fn event_queue_is_bounded() {
        let limits = Limits {
            max_queued_events: 3,
            ..Limits::default()
        };
        let (mut p, t0) = policy(limits, 1);
        let (check, _, _) = p.checks().next().unwrap();
        for i in 0..100u64 {
            let t = t0 + Duration::from_secs(i);
            let outcome = if i % 4 < 3 {
                ProbeOutcome::Pass
            } else {
                ProbeOutcome::Fail
            };
            let _ = p.handle_probe_result(
                t,
                check,
                ProbeResult {
                    outcome,
                    started: t,
                },
            );
        }
        let mut n = 0;
        while p.poll_event().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        assert!(p.counters().events_dropped > 0);
    }

    #[test]
    fn stale_and_backwards_inputs() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let (check, _, _) = p.checks().next().unwrap();
        let t5 = t0 + Duration::from_secs(5);
        let pass = |started| ProbeResult {
            outcome: ProbeOutcome::Pass,
            started,
        };
        p.handle_probe_result(t5, check, pass(t5)).unwrap();
        // Older probe: ignored and counted.
        p.handle_probe_result(t5, check, pass(t0)).unwrap();
        assert_eq!(p.counters().stale_probe_results, 1);
        // Time going backwards is clamped: no deadline in the past of the latest input.
        p.handle_timeout(t0);
        assert!(p.poll_timeout().is_none_or(|t| t > t5));
    }

    /// Brings the single prefix of `p` to Active with passing probes of every check.
    fn make_active(p: &mut Policy, t0: Instant) -> Instant {
        let mut now = t0;
        p.handle_peer_advertisements(now, prefix(), []).unwrap();
        for _ in 0..15 {
            now += Duration::from_secs(1);
            let ids: Vec<CheckId> = p.checks().map(|(id, _, _)| id).collect();
            for id in ids {
                let r = ProbeResult {
                    outcome: ProbeOutcome::Pass,
                    started: now,
                };
                p.handle_probe_result(now, id, r).unwrap();
            }
            p.handle_timeout(now);
        }
        while p.poll_action().is_some() {}
        while p.poll_event().is_some() {}
        assert_eq!(p.role(prefix()), Some(Role::Active));
        now
    }

    fn config_of(p: &Policy, checks: usize, extra: Option<&str>) -> NodeConfig {
        let mut cfg = PrefixConfig::new(prefix());
        for i in 0..checks {
            cfg.checks.push(CheckSpec::new(
                format!("c{i}"),
                CheckKind::TcpConnect {
                    addr: "[::1]:1".parse().unwrap(),
                },
            ));
        }
        let mut prefixes = vec![cfg];
        if let Some(e) = extra {
            prefixes.push(PrefixConfig::new(e.parse().unwrap()));
        }
        NodeConfig {
            router_id: p.router_id(),
            prefixes,
            limits: Limits::default(),
        }
    }

    #[test]
    fn reconfigure_keeps_an_active_prefix_serving() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let now = make_active(&mut p, t0);
        // A second check: the prefix stays active, nothing is re-announced.
        let removals = p.reconfigure(now, config_of(&p, 2, None)).unwrap();
        assert!(removals.is_empty());
        assert_eq!(p.role(prefix()), Some(Role::Active));
        assert_eq!(p.poll_action(), None);
        assert_eq!(p.checks().count(), 2);
        let st: Vec<PrefixStatus> = p.status().collect();
        assert!(st[0].healthy && st[0].checks.iter().all(|c| c.up));
        // The new check failing `fall` times takes the prefix down as usual.
        let new_check = p.checks().nth(1).unwrap().0;
        let mut t = now;
        for _ in 0..3 {
            t += Duration::from_millis(100);
            let r = ProbeResult {
                outcome: ProbeOutcome::Fail,
                started: t,
            };
            p.handle_probe_result(t, new_check, r).unwrap();
        }
        assert_eq!(p.role(prefix()), Some(Role::Withdrawn));
        assert_eq!(p.poll_action(), Some(Action::Withdraw { prefix: prefix() }));
    }

    #[test]
    fn reconfigure_refuses_what_it_cannot_do_and_changes_nothing() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let now = make_active(&mut p, t0);
        let mut other_rid = config_of(&p, 1, None);
        other_rid.router_id = RouterId(99);
        assert_eq!(p.reconfigure(now, other_rid), Err(Error::RouterIdChanged));
        // Removing the advertised prefix (replacing it with another one) is refused.
        let mut replaced = config_of(&p, 1, None);
        replaced.prefixes[0] = PrefixConfig::new("2001:db8::2/128".parse().unwrap());
        assert_eq!(
            p.reconfigure(now, replaced),
            Err(Error::PrefixInUse { prefix: prefix() })
        );
        assert_eq!(p.role(prefix()), Some(Role::Active));
        assert_eq!(p.poll_action(), None);
        // Adding a prefix leaves the first one alone; the new one starts from
        // withdrawn (without checks it is healthy at once: standby, then the election).
        p.reconfigure(now, config_of(&p, 1, Some("2001:db8::9/128")))
            .unwrap();
        assert_eq!(p.role(prefix()), Some(Role::Active));
        let added: Ipv6Prefix = "2001:db8::9/128".parse().unwrap();
        assert_eq!(p.role(added), Some(Role::Standby));
        assert_eq!(
            p.poll_action(),
            Some(Action::AddLoopbackAddress { prefix: added })
        );
    }

    #[test]
    fn reconfigure_removes_a_drained_prefix_with_its_address() {
        let (mut p, t0) = policy(Limits::default(), 1);
        let now = make_active(&mut p, t0);
        p.handle_command(now, Scope::All, AdminCommand::Drain)
            .unwrap();
        let later = now + Duration::from_secs(60);
        p.handle_timeout(later);
        while p.poll_action().is_some() {}
        assert_eq!(p.role(prefix()), Some(Role::Drained));
        let mut only_other = config_of(&p, 0, None);
        only_other.prefixes[0] = PrefixConfig::new("2001:db8::2/128".parse().unwrap());
        let removals = p.reconfigure(later, only_other).unwrap();
        assert_eq!(
            removals,
            vec![Action::RemoveLoopbackAddress { prefix: prefix() }]
        );
        assert_eq!(p.role(prefix()), None);
    }
}
