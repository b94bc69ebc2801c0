//! A deterministic in-memory network harness with virtual time.
//!
//! `netsim` knows nodes, links and datagrams, never a protocol. A [`Node`] is anything
//! that follows the sans-IO contract of this workspace: it takes datagrams and
//! timeouts and yields datagrams and a next timeout. Every protocol state machine of
//! the workspace (L2TPv3 control connections, OSPFv3 routers, the failover policy
//! wrapped with a transport) plugs into it unchanged through a thin adapter in the
//! test.
//!
//! * **Virtual time.** The clock starts at one real [`Instant`] taken when the
//!   simulation is built and only moves when the simulation moves it, straight to the
//!   next event. Hours of protocol time run in milliseconds, and nothing depends on
//!   how fast the machine is.
//! * **Determinism.** All randomness (loss, duplication, jitter) comes from one RNG
//!   the caller hands in (any `rand_core` 0.10 `Rng`, usually a seeded generator); the
//!   same seed gives the same run, event for event. The harness never seeds or runs a
//!   generator of its own.
//! * **Faults.** Every link has latency, uniform jitter (which reorders datagrams),
//!   a loss probability, a duplication probability, an optional MTU, and can be taken
//!   down and up. Nodes can be stopped (a crash: they hear nothing and their timers
//!   stop) and replaced (a restart with fresh state).
//! * **Segments.** A link joins two or more ports. A datagram sent on a port reaches
//!   every other port of its link, so a link of four ports is a broadcast LAN; the
//!   protocol adapter filters by its own addressing.
//!
//! ```
//! use netsim::{LinkConfig, Node, Sim, Transmit};
//! use rand::{SeedableRng, rngs::StdRng};
//! use std::time::{Duration, Instant};
//!
//! /// Sends "ping" once at start, answers every "ping" with "pong".
//! #[derive(Default)]
//! struct Pinger { started: bool, outbox: Vec<Transmit>, pongs: usize }
//!
//! impl Node for Pinger {
//!     fn handle_datagram(&mut self, _now: Instant, port: usize, payload: Vec<u8>) {
//!         match payload.as_slice() {
//!             b"ping" => self.outbox.push(Transmit { port, payload: b"pong".to_vec() }),
//!             b"pong" => self.pongs += 1,
//!             _ => {}
//!         }
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {
//!         if !self.started {
//!             self.started = true;
//!             self.outbox.push(Transmit { port: 0, payload: b"ping".to_vec() });
//!         }
//!     }
//!     fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> { self.outbox.pop() }
//!     fn poll_timeout(&mut self) -> Option<Instant> {
//!         // Ask to be woken at once until started.
//!         (!self.started).then(|| Instant::now() - Duration::from_secs(3600))
//!     }
//! }
//!
//! let mut sim = Sim::new(StdRng::seed_from_u64(7));
//! let a = sim.add_node(Pinger::default());
//! let b = sim.add_node(Pinger::default());
//! sim.connect(&[(a, 0), (b, 0)], LinkConfig::with_latency(Duration::from_millis(10)));
//! sim.run_for(Duration::from_secs(1)).unwrap();
//! assert_eq!(sim.node(a).pongs, 1);
//! assert_eq!(sim.node(b).pongs, 1);
//! ```

use rand::{Rng, RngExt};

/// The README's example program, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

/// Index of a node in a [`Sim`], in the order nodes were added.
pub type NodeId = usize;

/// Index of a link in a [`Sim`], in the order links were connected.
pub type LinkId = usize;

/// One datagram a node wants to send out of one of its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The node-local port (interface) to send on.
    pub port: usize,
    /// The datagram's bytes.
    pub payload: Vec<u8>,
}

/// The sans-IO contract: inputs with `now`, outputs drained after every input.
///
/// The harness calls `poll_transmit` until it returns `None` and then `poll_timeout`
/// after every `handle_*` call, so a node only has to queue what it wants to send.
pub trait Node {
    /// A datagram arrived on `port`.
    fn handle_datagram(&mut self, now: Instant, port: usize, payload: Vec<u8>);
    /// The instant returned by [`Node::poll_timeout`] has been reached.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    /// When `handle_timeout` must next be called, if ever.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

/// Behaviour of one link. Every field applies independently to each receiver.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// One-way delay every datagram suffers.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter`; non-zero jitter reorders.
    pub jitter: Duration,
    /// Probability in `0.0..=1.0` that a datagram is lost.
    pub loss: f64,
    /// Probability in `0.0..=1.0` that a delivered datagram arrives a second time.
    pub duplicate: f64,
    /// Datagrams longer than this are dropped (and counted), if set.
    pub mtu: Option<usize>,
    /// Whether the link carries traffic at all.
    pub up: bool,
}

impl LinkConfig {
    /// A perfect link with the given one-way latency.
    pub fn with_latency(latency: Duration) -> Self {
        LinkConfig {
            latency,
            ..LinkConfig::default()
        }
    }

    /// The same link with loss, duplication and jitter added.
    pub fn lossy(mut self, loss: f64, duplicate: f64, jitter: Duration) -> Self {
        self.loss = loss;
        self.duplicate = duplicate;
        self.jitter = jitter;
        self
    }
}

impl Default for LinkConfig {
    /// 1 ms latency, no faults, no MTU, up.
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            mtu: None,
            up: true,
        }
    }
}

/// What happened on one link, counted per receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Datagrams handed to the link by senders.
    pub sent: u64,
    /// Copies scheduled for delivery (including duplicates).
    pub scheduled: u64,
    /// Copies dropped by the loss probability.
    pub lost: u64,
    /// Extra copies made by the duplication probability.
    pub duplicated: u64,
    /// Copies dropped because the link was down.
    pub dropped_down: u64,
    /// Copies dropped because they exceeded the MTU.
    pub dropped_mtu: u64,
    /// Copies that reached a stopped node and were discarded.
    pub dropped_node_down: u64,
    /// Copies handed to the receiving node.
    pub delivered: u64,
}

/// One datagram as it crossed a link, recorded when tracing is on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceRecord {
    /// When it was sent.
    pub sent_at: Instant,
    /// When it was (or would have been) delivered; `None` when it was dropped.
    pub delivered_at: Option<Instant>,
    /// The link it crossed.
    pub link: LinkId,
    /// Sending node and port.
    pub from: (NodeId, usize),
    /// Receiving node and port.
    pub to: (NodeId, usize),
    /// The bytes.
    pub payload: Vec<u8>,
}

/// Why a run stopped before its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// A node kept asking for timeouts at or before `now` without time advancing:
    /// its `poll_timeout` does not move past an instant it was already woken for.
    Livelock {
        /// The node that keeps the clock from moving.
        node: NodeId,
        /// The virtual time it is stuck at, as an offset from the start.
        at: Duration,
    },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Livelock { node, at } => write!(
                f,
                "node {node} livelocked at +{at:?}: its timeout does not advance"
            ),
        }
    }
}

impl std::error::Error for SimError {}

struct Link {
    config: LinkConfig,
    ports: Vec<(NodeId, usize)>,
    stats: LinkStats,
}

struct Slot<N> {
    node: N,
    up: bool,
    /// Cached result of the node's last `poll_timeout`.
    timeout: Option<Instant>,
}

/// A scheduled delivery; ordered by time, then by scheduling order.
struct Delivery {
    at: Instant,
    seq: u64,
    link: LinkId,
    to: (NodeId, usize),
    payload: Vec<u8>,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Events processed at one instant before the harness declares a livelock.
const LIVELOCK_EVENTS: u64 = 1_000_000;

/// The simulation: nodes, links, a virtual clock and the caller's RNG `R` (any
/// `rand_core` 0.10 `Rng`).
pub struct Sim<N, R> {
    start: Instant,
    now: Instant,
    rng: R,
    nodes: Vec<Slot<N>>,
    links: Vec<Link>,
    /// `(node, port) -> link`, sparse by node then port.
    attachment: Vec<Vec<Option<LinkId>>>,
    queue: BinaryHeap<Reverse<Delivery>>,
    seq: u64,
    /// Nodes touched from outside (`node_mut`) whose outputs are not drained yet.
    dirty: BTreeSet<NodeId>,
    trace: Option<Vec<TraceRecord>>,
    events_at_now: u64,
}

impl<N: Node, R: Rng> Sim<N, R> {
    /// An empty simulation drawing loss, duplication and jitter from `rng`; hand in a
    /// seeded generator for a reproducible run.
    pub fn new(rng: R) -> Self {
        let start = Instant::now();
        Sim {
            start,
            now: start,
            rng,
            nodes: Vec::new(),
            links: Vec::new(),
            attachment: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            dirty: BTreeSet::new(),
            trace: None,
            events_at_now: 0,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the simulation was built.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The instant the simulation started at; nodes built before `add_node` can use it.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The simulation's RNG, for tests that want reproducible choices of their own.
    pub fn rng(&mut self) -> &mut R {
        &mut self.rng
    }

    /// Adds a node, running and with no links, and returns its id.
    pub fn add_node(&mut self, node: N) -> NodeId {
        self.nodes.push(Slot {
            node,
            up: true,
            timeout: None,
        });
        self.attachment.push(Vec::new());
        let id = self.nodes.len() - 1;
        self.dirty.insert(id);
        id
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Joins the given `(node, port)` pairs with one link (two pairs: point-to-point;
    /// more: a broadcast segment). A port already attached is moved to the new link.
    pub fn connect(&mut self, ports: &[(NodeId, usize)], config: LinkConfig) -> LinkId {
        let id = self.links.len();
        for &(node, port) in ports {
            let table = &mut self.attachment[node];
            if table.len() <= port {
                table.resize(port + 1, None);
            }
            if let Some(old) = table[port] {
                self.links[old].ports.retain(|&p| p != (node, port));
            }
            table[port] = Some(id);
        }
        self.links.push(Link {
            config,
            ports: ports.to_vec(),
            stats: LinkStats::default(),
        });
        id
    }

    /// The link's current configuration.
    pub fn link_config(&self, link: LinkId) -> &LinkConfig {
        &self.links[link].config
    }

    /// Changes a link's behaviour from now on (datagrams in flight are unaffected).
    pub fn set_link_config(&mut self, link: LinkId, config: LinkConfig) {
        self.links[link].config = config;
    }

    /// Takes a link down or brings it up. Datagrams in flight still arrive.
    pub fn set_link_up(&mut self, link: LinkId, up: bool) {
        self.links[link].config.up = up;
    }

    /// Counters of one link.
    pub fn link_stats(&self, link: LinkId) -> LinkStats {
        self.links[link].stats
    }

    /// Stops a node (a crash: no deliveries, no timers, nothing sent) or restarts it.
    /// A restarted node keeps its state; use [`Sim::replace_node`] for a fresh one.
    pub fn set_node_up(&mut self, node: NodeId, up: bool) {
        self.nodes[node].up = up;
        if up {
            self.dirty.insert(node);
        }
    }

    /// Whether the node is running.
    pub fn is_node_up(&self, node: NodeId) -> bool {
        self.nodes[node].up
    }

    /// Puts a fresh node in place of an old one, keeping its links; returns the old one.
    pub fn replace_node(&mut self, id: NodeId, node: N) -> N {
        self.dirty.insert(id);
        self.nodes[id].timeout = None;
        std::mem::replace(&mut self.nodes[id].node, node)
    }

    /// Shared access to a node.
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id].node
    }

    /// Mutable access to a node, for commands; its outputs are drained before the
    /// next event is processed.
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        self.dirty.insert(id);
        &mut self.nodes[id].node
    }

    /// Iterates over all nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &N> {
        self.nodes.iter().map(|s| &s.node)
    }

    /// Starts recording every datagram that crosses a link.
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// Takes the records made so far (tracing stays on).
    pub fn take_trace(&mut self) -> Vec<TraceRecord> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Datagrams scheduled but not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Runs every event due up to and including `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        self.flush_dirty();
        while let Some(at) = self.next_event_time() {
            if at > deadline {
                break;
            }
            self.step()?;
        }
        if deadline > self.now {
            self.now = deadline;
            self.events_at_now = 0;
        }
        Ok(())
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.now + duration)
    }

    /// Runs until `done` holds (checked after every event) or `limit` of virtual time
    /// has passed. Returns whether `done` held.
    pub fn run_until_cond(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, SimError> {
        let deadline = self.now + limit;
        self.flush_dirty();
        if done(self) {
            return Ok(true);
        }
        while let Some(at) = self.next_event_time() {
            if at > deadline {
                break;
            }
            self.step()?;
            if done(self) {
                return Ok(true);
            }
        }
        if deadline > self.now {
            self.now = deadline;
        }
        Ok(done(self))
    }

    /// The instant of the next delivery or timer, if any.
    pub fn next_event_time(&self) -> Option<Instant> {
        let delivery = self.queue.peek().map(|Reverse(d)| d.at);
        let timer = self.next_timer().map(|(t, _)| t);
        match (delivery, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn next_timer(&self) -> Option<(Instant, NodeId)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.up)
            .filter_map(|(i, s)| s.timeout.map(|t| (t, i)))
            .min()
    }

    /// Processes exactly one event (the earliest delivery or timer).
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.flush_dirty();
        let delivery = self.queue.peek().map(|Reverse(d)| d.at);
        let timer = self.next_timer();
        let (at, is_delivery) = match (delivery, timer) {
            (None, None) => return Ok(false),
            (Some(d), Some((t, _))) if d <= t => (d, true),
            (Some(d), None) => (d, true),
            (_, Some((t, _))) => (t, false),
        };
        let at = at.max(self.now);
        if at == self.now {
            self.events_at_now += 1;
            if self.events_at_now > LIVELOCK_EVENTS {
                let node = timer.map(|(_, n)| n).unwrap_or(0);
                return Err(SimError::Livelock {
                    node,
                    at: self.elapsed(),
                });
            }
        } else {
            self.now = at;
            self.events_at_now = 0;
        }
        let now = self.now;
        if is_delivery {
            let Some(Reverse(d)) = self.queue.pop() else {
                return Ok(false);
            };
            let (node, port) = d.to;
            if !self.nodes[node].up {
                self.links[d.link].stats.dropped_node_down += 1;
                return Ok(true);
            }
            self.links[d.link].stats.delivered += 1;
            self.nodes[node].node.handle_datagram(now, port, d.payload);
            self.drain(node);
        } else if let Some((_, node)) = timer {
            self.nodes[node].node.handle_timeout(now);
            self.drain(node);
        }
        Ok(true)
    }

    fn flush_dirty(&mut self) {
        while let Some(node) = self.dirty.pop_first() {
            if self.nodes[node].up {
                self.drain(node);
            }
        }
    }

    /// Collects a node's transmits and refreshes its cached timeout.
    fn drain(&mut self, node: NodeId) {
        let now = self.now;
        while let Some(t) = self.nodes[node].node.poll_transmit(now) {
            self.send(node, t);
        }
        self.nodes[node].timeout = self.nodes[node].node.poll_timeout();
    }

    fn send(&mut self, from: NodeId, t: Transmit) {
        let Some(link_id) = self.attachment[from].get(t.port).copied().flatten() else {
            return; // an unconnected port: the datagram goes nowhere
        };
        let now = self.now;
        let link = &mut self.links[link_id];
        link.stats.sent += 1;
        let receivers: Vec<(NodeId, usize)> = link
            .ports
            .iter()
            .copied()
            .filter(|&(n, p)| (n, p) != (from, t.port))
            .collect();
        for to in receivers {
            let link = &mut self.links[link_id];
            let config = &link.config;
            let mut record = TraceRecord {
                sent_at: now,
                delivered_at: None,
                link: link_id,
                from: (from, t.port),
                to,
                payload: Vec::new(),
            };
            let verdict = if !config.up {
                link.stats.dropped_down += 1;
                0
            } else if config.mtu.is_some_and(|mtu| t.payload.len() > mtu) {
                link.stats.dropped_mtu += 1;
                0
            } else if config.loss > 0.0 && self.rng.random_bool(config.loss.min(1.0)) {
                link.stats.lost += 1;
                0
            } else if config.duplicate > 0.0 && self.rng.random_bool(config.duplicate.min(1.0)) {
                link.stats.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..verdict {
                let link = &mut self.links[link_id];
                let jitter = link.config.jitter;
                let extra = if jitter.is_zero() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(self.rng.random_range(0..=jitter.as_nanos() as u64))
                };
                let at = now + link.config.latency + extra;
                link.stats.scheduled += 1;
                record.delivered_at = Some(at);
                self.seq += 1;
                self.queue.push(Reverse(Delivery {
                    at,
                    seq: self.seq,
                    link: link_id,
                    to,
                    payload: t.payload.clone(),
                }));
            }
            if let Some(trace) = self.trace.as_mut() {
                record.payload = t.payload.clone();
                trace.push(record);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Sends `count` numbered datagrams at start; records what it receives.
    struct Counter {
        to_send: u32,
        outbox: Vec<Transmit>,
        received: Vec<u32>,
        wake: Option<Instant>,
    }

    impl Counter {
        fn new(to_send: u32, wake: Instant) -> Self {
            Counter {
                to_send,
                outbox: Vec::new(),
                received: Vec::new(),
                wake: Some(wake),
            }
        }
    }

    impl Node for Counter {
        fn handle_datagram(&mut self, _now: Instant, _port: usize, payload: Vec<u8>) {
            self.received
                .push(u32::from_be_bytes(payload.try_into().unwrap()));
        }
        fn handle_timeout(&mut self, _now: Instant) {
            self.wake = None;
            for i in 0..self.to_send {
                self.outbox.push(Transmit {
                    port: 0,
                    payload: i.to_be_bytes().to_vec(),
                });
            }
        }
        fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
            if self.outbox.is_empty() {
                None
            } else {
                Some(self.outbox.remove(0))
            }
        }
        fn poll_timeout(&mut self) -> Option<Instant> {
            self.wake
        }
    }

    fn pair(seed: u64, n: u32, config: LinkConfig) -> (Sim<Counter, StdRng>, LinkId) {
        let mut sim = Sim::new(StdRng::seed_from_u64(seed));
        let start = sim.start();
        let a = sim.add_node(Counter::new(n, start));
        let b = sim.add_node(Counter::new(0, start));
        let link = sim.connect(&[(a, 0), (b, 0)], config);
        (sim, link)
    }

    #[test]
    fn perfect_link_delivers_in_order_after_latency() {
        let (mut sim, link) = pair(1, 100, LinkConfig::with_latency(Duration::from_millis(5)));
        sim.run_for(Duration::from_millis(4)).unwrap();
        assert!(
            sim.node(1).received.is_empty(),
            "nothing before the latency"
        );
        sim.run_for(Duration::from_millis(1)).unwrap();
        assert_eq!(sim.node(1).received, (0..100).collect::<Vec<_>>());
        assert_eq!(sim.link_stats(link).delivered, 100);
    }

    #[test]
    fn same_seed_same_run_and_faults_are_counted() {
        let config = LinkConfig::with_latency(Duration::from_millis(5)).lossy(
            0.3,
            0.1,
            Duration::from_millis(20),
        );
        let run = |seed| {
            let (mut sim, link) = pair(seed, 1000, config.clone());
            sim.run_for(Duration::from_secs(1)).unwrap();
            (sim.node(1).received.clone(), sim.link_stats(link))
        };
        let (got, stats) = run(9);
        assert_eq!(run(9), (got.clone(), stats), "deterministic by seed");
        assert_ne!(run(10).0, got, "another seed gives another run");
        assert_eq!(stats.sent, 1000);
        assert_eq!(stats.delivered as usize, got.len());
        assert_eq!(stats.sent - stats.lost + stats.duplicated, stats.delivered);
        assert!((200..400).contains(&stats.lost), "{stats:?}");
        assert!(stats.duplicated > 30, "{stats:?}");
        assert!(got.windows(2).any(|w| w[0] > w[1]), "jitter reorders");
    }

    #[test]
    fn down_links_nodes_and_mtu_drop() {
        let (mut sim, link) = pair(3, 10, LinkConfig::default());
        sim.set_link_up(link, false);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert!(sim.node(1).received.is_empty());
        assert_eq!(sim.link_stats(link).dropped_down, 10);

        let (mut sim, link) = pair(3, 10, LinkConfig::default());
        sim.set_node_up(1, false);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.link_stats(link).dropped_node_down, 10);

        let config = LinkConfig {
            mtu: Some(3),
            ..LinkConfig::default()
        };
        let (mut sim, link) = pair(3, 10, config);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.link_stats(link).dropped_mtu, 10);
    }

    #[test]
    fn segments_broadcast_to_every_other_port() {
        let mut sim = Sim::new(StdRng::seed_from_u64(5));
        let start = sim.start();
        let ids: Vec<_> = (0..4)
            .map(|i| sim.add_node(Counter::new(if i == 0 { 3 } else { 0 }, start)))
            .collect();
        let ports: Vec<_> = ids.iter().map(|&n| (n, 0)).collect();
        sim.connect(&ports, LinkConfig::default());
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert!(sim.node(0).received.is_empty(), "no echo to the sender");
        for &n in &ids[1..] {
            assert_eq!(sim.node(n).received, vec![0, 1, 2]);
        }
    }

    struct Stuck;
    impl Node for Stuck {
        fn handle_datagram(&mut self, _: Instant, _: usize, _: Vec<u8>) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
            None
        }
        fn poll_timeout(&mut self) -> Option<Instant> {
            Some(Instant::now() - Duration::from_secs(1))
        }
    }

    #[test]
    fn a_timer_that_never_advances_is_reported() {
        let mut sim = Sim::new(StdRng::seed_from_u64(0));
        sim.add_node(Stuck);
        let err = sim.run_for(Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, SimError::Livelock { node: 0, .. }));
    }
}
