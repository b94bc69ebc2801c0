//! A small discrete-event simulator for failover tests: N policy instances, each
//! node's advertisements reach the others' LSDB views after a delay, crashes remove a
//! node's advertisements after a dead interval, and restarts bring a fresh instance.
//!
//! Virtual time: one real `Instant` taken at construction, moved only by the simulator.
//! Randomness (propagation delays): a SplitMix64 generator seeded by the test.

#![allow(dead_code)]

use anycast_failover::{
    Action, AdminCommand, CheckKind, CheckSpec, Event, Ipv6Prefix, Metric, Mode, NodeConfig,
    PeerRole, Policy, PrefixConfig, ProbeOutcome, ProbeResult, Role, RouterId, Scope,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// SplitMix64: enough randomness for delays, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi]`.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(if span == 0 {
            0
        } else {
            self.next_u64() % (span + 1)
        })
    }
}

pub fn prefix() -> Ipv6Prefix {
    "2001:db8::53/128".parse().unwrap()
}

/// A prefix configuration with one TCP check.
pub fn prefix_config(interval: Duration, rise: u32, fall: u32) -> PrefixConfig {
    let mut cfg = PrefixConfig::new(prefix());
    let mut check = CheckSpec::new(
        "tcp",
        CheckKind::TcpConnect {
            addr: "[2001:db8::53]:53".parse().unwrap(),
        },
    );
    check.interval = interval;
    check.timeout = interval / 2;
    check.rise = rise;
    check.fall = fall;
    cfg.checks.push(check);
    cfg
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Probe {
        node: usize,
        generation: u32,
    },
    Deliver {
        to: usize,
        from: usize,
        metric: Option<Metric>,
    },
    Flush {
        node: usize,
        generation: u32,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Truth {
        node: usize,
        up: bool,
    },
    Command {
        node: usize,
        cmd: CmdKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CmdKind {
    Drain,
    Undrain,
    Shutdown,
    SyncConfirmed,
    ForceStandby,
    ClearForce,
}

impl CmdKind {
    fn cmd(self) -> AdminCommand {
        match self {
            CmdKind::Drain => AdminCommand::Drain,
            CmdKind::Undrain => AdminCommand::Undrain,
            CmdKind::Shutdown => AdminCommand::Shutdown,
            CmdKind::SyncConfirmed => AdminCommand::SyncConfirmed,
            CmdKind::ForceStandby => AdminCommand::ForceStandby,
            CmdKind::ClearForce => AdminCommand::ClearForce,
        }
    }
}

/// One recorded action.
#[derive(Debug, Clone, Copy)]
pub struct Logged {
    pub at: Instant,
    pub generation: u32,
    pub action: Action,
}

/// One simulated server.
pub struct Node {
    pub router_id: RouterId,
    pub config: PrefixConfig,
    pub policy: Option<Policy>,
    pub generation: u32,
    /// Ground truth of the service's health.
    pub truth: bool,
    /// This node's LSDB view: what each other node advertises.
    pub view: Vec<Option<Metric>>,
    pub actions: Vec<Logged>,
    pub roles: Vec<(Instant, u32, Role)>,
    pub events: Vec<(Instant, u32, Event)>,
    pub truth_log: Vec<(Instant, bool)>,
    /// (crash instant, restart instant or None), per crash.
    pub down: Vec<(Instant, Option<Instant>)>,
    pub commands: Vec<(Instant, u32, CmdKind)>,
    /// Sync gate: the daemon confirms sync on every passing probe.
    pub auto_sync: bool,
}

/// The simulator.
pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// What the routing domain holds for each node (its LSA), regardless of views.
    pub lsdb: Vec<Option<Metric>>,
    heap: BinaryHeap<Reverse<(Instant, u64, Ev)>>,
    seq: u64,
    rng: Rng,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub dead_interval: Duration,
    last_delivery: Vec<Vec<Instant>>,
    steps: u64,
}

impl Sim {
    /// `configs[i]` is node i's prefix configuration; node i has Router ID i + 1.
    pub fn new(
        configs: Vec<PrefixConfig>,
        seed: u64,
        min_delay: Duration,
        max_delay: Duration,
        dead_interval: Duration,
    ) -> Self {
        let t0 = Instant::now();
        let n = configs.len();
        let nodes = configs
            .into_iter()
            .enumerate()
            .map(|(i, config)| Node {
                router_id: RouterId(i as u32 + 1),
                auto_sync: config.sync_gate,
                config,
                policy: None,
                generation: 0,
                truth: true,
                view: vec![None; n],
                actions: Vec::new(),
                roles: Vec::new(),
                events: Vec::new(),
                truth_log: vec![(t0, true)],
                down: vec![(t0, Some(t0))],
                commands: Vec::new(),
            })
            .collect();
        let mut sim = Self {
            t0,
            now: t0,
            nodes,
            lsdb: vec![None; n],
            heap: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(seed),
            min_delay,
            max_delay,
            dead_interval,
            last_delivery: vec![vec![t0; n]; n],
            steps: 0,
        };
        for i in 0..n {
            sim.start(i);
        }
        sim
    }

    pub fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    pub fn schedule_truth(&mut self, at: Instant, node: usize, up: bool) {
        self.push(at, Ev::Truth { node, up });
    }
    pub fn schedule_crash(&mut self, at: Instant, node: usize) {
        self.push(at, Ev::Crash { node });
    }
    pub fn schedule_restart(&mut self, at: Instant, node: usize) {
        self.push(at, Ev::Restart { node });
    }
    pub fn schedule_command(&mut self, at: Instant, node: usize, cmd: CmdKind) {
        self.push(at, Ev::Command { node, cmd });
    }

    fn start(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        node.generation += 1;
        let cfg = NodeConfig::new(node.router_id, vec![node.config.clone()]);
        node.policy = Some(Policy::new(now, cfg).expect("valid config"));
        node.view = vec![None; self.lsdb.len()];
        let generation = node.generation;
        let interval = node.config.checks.first().map(|c| c.interval);
        // A restarted router flushes its own stale LSA.
        if self.lsdb[i].is_some() {
            self.originate(i, None);
        }
        // The fresh instance learns the LSDB after a propagation delay.
        for from in 0..self.lsdb.len() {
            if from != i {
                let m = self.lsdb[from];
                self.deliver_later(from, i, m);
            }
        }
        if let Some(iv) = interval {
            self.push(
                now + iv,
                Ev::Probe {
                    node: i,
                    generation,
                },
            );
        }
        self.drain(i);
    }

    fn deliver_later(&mut self, from: usize, to: usize, metric: Option<Metric>) {
        let d = self.rng.duration(self.min_delay, self.max_delay);
        let at = (self.now + d).max(self.last_delivery[from][to]);
        self.last_delivery[from][to] = at;
        self.push(at, Ev::Deliver { to, from, metric });
    }

    fn originate(&mut self, from: usize, metric: Option<Metric>) {
        self.lsdb[from] = metric;
        for to in 0..self.lsdb.len() {
            if to != from {
                self.deliver_later(from, to, metric);
            }
        }
    }

    /// Drains node i's outputs, recording them and propagating advertisements.
    fn drain(&mut self, i: usize) {
        let now = self.now;
        let generation = self.nodes[i].generation;
        loop {
            let Some(p) = self.nodes[i].policy.as_mut() else {
                return;
            };
            let Some(action) = p.poll_action() else { break };
            self.nodes[i].actions.push(Logged {
                at: now,
                generation,
                action,
            });
            match action {
                Action::Advertise { metric, .. } => self.originate(i, Some(metric)),
                Action::Withdraw { .. } => self.originate(i, None),
                _ => {}
            }
        }
        let node = &mut self.nodes[i];
        let p = node.policy.as_mut().unwrap();
        while let Some(e) = p.poll_event() {
            if let Event::RoleChanged { to, .. } = e {
                node.roles.push((now, generation, to));
            }
            node.events.push((now, generation, e));
        }
    }

    fn feed_view(&mut self, i: usize) {
        let now = self.now;
        let adverts: Vec<(RouterId, Metric)> = self.nodes[i]
            .view
            .iter()
            .enumerate()
            .filter_map(|(j, m)| m.map(|m| (self.nodes[j].router_id, m)))
            .collect();
        if let Some(p) = self.nodes[i].policy.as_mut() {
            p.handle_peer_advertisements(now, prefix(), adverts)
                .unwrap();
        }
        self.drain(i);
    }

    fn process(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Probe { node, generation } => {
                let n = &mut self.nodes[node];
                if n.generation != generation || n.policy.is_none() {
                    return;
                }
                let outcome = if n.truth {
                    ProbeOutcome::Pass
                } else {
                    ProbeOutcome::Fail
                };
                let iv = n.config.checks[0].interval;
                let p = n.policy.as_mut().unwrap();
                let (check, _, _) = p.checks().next().unwrap();
                p.handle_probe_result(
                    now,
                    check,
                    ProbeResult {
                        outcome,
                        started: now,
                    },
                )
                .unwrap();
                if n.truth && n.auto_sync {
                    p.handle_command(now, Scope::All, AdminCommand::SyncConfirmed)
                        .unwrap();
                }
                self.push(now + iv, Ev::Probe { node, generation });
                self.drain(node);
            }
            Ev::Deliver { to, from, metric } => {
                if self.nodes[to].policy.is_none() {
                    return;
                }
                self.nodes[to].view[from] = metric;
                self.feed_view(to);
            }
            Ev::Flush { node, generation } => {
                if self.nodes[node].generation == generation && self.nodes[node].policy.is_none() {
                    self.originate(node, None);
                }
            }
            Ev::Crash { node } => {
                if self.nodes[node].policy.take().is_some() {
                    let generation = self.nodes[node].generation;
                    self.nodes[node].down.push((now, None));
                    self.push(now + self.dead_interval, Ev::Flush { node, generation });
                }
            }
            Ev::Restart { node } => {
                if self.nodes[node].policy.is_none() {
                    if let Some(last) = self.nodes[node].down.last_mut() {
                        last.1 = Some(now);
                    }
                    self.start(node);
                }
            }
            Ev::Truth { node, up } => {
                let n = &mut self.nodes[node];
                if n.truth != up {
                    n.truth = up;
                    n.truth_log.push((now, up));
                }
            }
            Ev::Command { node, cmd } => {
                let generation = self.nodes[node].generation;
                if let Some(p) = self.nodes[node].policy.as_mut() {
                    p.handle_command(now, Scope::All, cmd.cmd()).unwrap();
                    self.nodes[node].commands.push((now, generation, cmd));
                    self.drain(node);
                }
            }
        }
    }

    /// Runs every event and timeout up to and including `end`.
    pub fn run_until(&mut self, end: Instant) {
        let mut same_instant = 0u32;
        loop {
            let next_ev = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let next_to = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    n.policy
                        .as_ref()
                        .and_then(|p| p.poll_timeout())
                        .map(|t| (t, i))
                })
                .min();
            let take_timeout = match (next_ev, next_to) {
                (None, None) => break,
                (Some(te), Some((tt, _))) => tt < te,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            let t = if take_timeout {
                next_to.unwrap().0
            } else {
                next_ev.unwrap()
            };
            if t > end {
                break;
            }
            let t = t.max(self.now);
            if t == self.now {
                same_instant += 1;
                assert!(same_instant < 100_000, "simulation stuck at one instant");
            } else {
                same_instant = 0;
            }
            self.now = t;
            self.steps += 1;
            if take_timeout {
                let i = next_to.unwrap().1;
                self.nodes[i].policy.as_mut().unwrap().handle_timeout(t);
                let again = self.nodes[i].policy.as_ref().unwrap().poll_timeout();
                assert!(
                    again.is_none_or(|a| a > t),
                    "policy asked for a timeout it did not act on"
                );
                self.drain(i);
            } else {
                let Reverse((_, _, ev)) = self.heap.pop().unwrap();
                self.process(ev);
            }
        }
        self.now = self.now.max(end);
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn role(&self, i: usize) -> Option<Role> {
        self.nodes[i].policy.as_ref().and_then(|p| p.role(prefix()))
    }

    pub fn advertised(&self, i: usize) -> Option<Metric> {
        self.nodes[i]
            .policy
            .as_ref()
            .and_then(|p| p.advertised(prefix()))
    }

    /// Nodes whose policy says Active.
    pub fn actives(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.role(i) == Some(Role::Active))
            .collect()
    }

    /// The first time at or after `since` node i advertised a metric in the active band.
    pub fn first_active_advert(&self, i: usize, since: Instant) -> Option<Instant> {
        let mode = self.nodes[i].config.mode;
        self.nodes[i]
            .actions
            .iter()
            .find(|l| {
                l.at >= since
                    && matches!(l.action, Action::Advertise { metric, .. } if matches!(mode.classify(metric), PeerRole::Active { .. }))
            })
            .map(|l| l.at)
    }
}

/// Whether `metric` is one a healthy node advertises (active or standby band).
pub fn is_healthy_metric(mode: Mode, metric: Metric) -> bool {
    !matches!(mode.classify(metric), PeerRole::Other)
}

pub fn is_active_metric(mode: Mode, metric: Metric) -> bool {
    matches!(mode.classify(metric), PeerRole::Active { .. })
}
