//! The router instance: the sans-IO top level that owns interfaces, neighbors, the
//! LSDB, SPF and the routing table, and exposes `handle_packet` / `handle_timeout` /
//! `poll_transmit` / `poll_timeout` / `poll_event` plus commands.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rand_core::Rng;

use crate::auth::{CryptoSequence, SecurityAssociation};
use crate::checksum;
use crate::hello::Hello;
use crate::lsa::{ExternalMetricType, LsaHeader, LsaType};
use crate::options::Options;
use crate::packet::{self, DecodeOptions, Packet, PacketBody, PacketHeader, PacketType};

use super::config::{
    ChecksumOffload, InterfaceConfig, Ipv6Prefix, Limits, NetworkType, RouterConfig,
};
use super::interface::{
    Candidate, InterfaceEvent, InterfaceState, IsmAction, elect, ism_transition,
    state_after_election,
};
use super::lsdb::{LsaKey, Lsdb};
use super::neighbor::Neighbor;
use super::nsm::{NeighborEvent, NeighborState, NsmAction, NsmInput, nsm_transition};
use super::originate::Origination;
use super::route::Route;
use super::routing::{Advertiser, Routing};

/// AllSPFRouters, ff02::5.
pub const ALL_SPF_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 5);
/// AllDRouters, ff02::6.
pub const ALL_D_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 6);

/// Room kept for the IPv6 header and an authentication trailer when sizing packets.
const PACKET_OVERHEAD: usize = 40 + 16 + 80;

/// A packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Outgoing interface.
    pub ifindex: u32,
    /// Source address: the interface's link-local address.
    pub src: Ipv6Addr,
    /// Destination: ff02::5, ff02::6 or a neighbor's link-local address.
    pub dst: Ipv6Addr,
    /// The OSPFv3 payload (checksum filled in unless offloaded; trailer appended when
    /// authentication is on).
    pub bytes: Vec<u8>,
}

/// What changed, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An interface changed state.
    InterfaceState {
        /// Interface.
        ifindex: u32,
        /// Old state.
        from: InterfaceState,
        /// New state.
        to: InterfaceState,
    },
    /// A neighbor changed state.
    NeighborState {
        /// Interface.
        ifindex: u32,
        /// Neighbor router ID.
        router_id: Ipv4Addr,
        /// Old state.
        from: NeighborState,
        /// New state.
        to: NeighborState,
    },
    /// A route was added or replaced.
    RouteAdd(Route),
    /// A route was removed.
    RouteRemove(Ipv6Prefix),
    /// RFC 7166 4.1.1: store this high half of the interface's cryptographic sequence
    /// number before sending further packets, and hand it back in
    /// [`super::AuthConfig::stored_seq_high`] after a restart.
    PersistAuthSeqHigh {
        /// Interface.
        ifindex: u32,
        /// The value to persist.
        high: u32,
    },
    /// The answer of [`Router::advertisers`] changed for a prefix given to
    /// [`Router::watch_prefix`] (after an SPF run or a prefix recalculation, never
    /// per packet).
    AdvertisersChanged {
        /// The watched prefix.
        prefix: Ipv6Prefix,
        /// The reachable routers advertising it now (empty: none).
        advertisers: Vec<Advertiser>,
    },
}

/// Counters of everything dropped or notable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Packets handed to `handle_packet`.
    pub rx_packets: u64,
    /// Packets that failed to decode.
    pub rx_decode_errors: u64,
    /// Packets dropped by a check (area, instance, checksum, addressing, timers).
    pub rx_dropped: u64,
    /// Packets failing authentication or replay checks.
    pub rx_auth_failures: u64,
    /// LSAs refused because the LSDB held `max_lsas` (see [`super::Limits`]).
    pub lsdb_full: u64,
    /// LSAs refused because they would take the LSDB beyond `max_lsdb_bytes`.
    pub lsdb_bytes_full: u64,
    /// LSAs refused because their Advertising Router would exceed
    /// `max_lsas_per_router` or `max_bytes_per_router`.
    pub lsdb_router_full: u64,
    /// Received LSAs whose DoNotAge bit was cleared (no demand circuit is ever
    /// negotiated here, RFC 1793 2.3), so they age like any other.
    pub do_not_age_cleared: u64,
    /// RFC 7166 replay state of gone neighbors forgotten before its retention ended
    /// because `max_auth_memory` pairs were kept.
    pub auth_memory_evicted: u64,
    /// Neighbors not created because the interface had `max_neighbors`.
    pub neighbors_full: u64,
    /// Packets dropped because the transmit queue was full.
    pub tx_dropped: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Link-state request entries dropped (the request list was full).
    pub requests_dropped: u64,
    /// Delayed acknowledgements dropped (queue full).
    pub acks_dropped: u64,
    /// Full SPF runs.
    pub spf_runs: u64,
    /// Partial (prefix-only) route recalculations.
    pub partial_runs: u64,
}

/// The output queues drained by the caller, with the counters: what every part of
/// the router writes to.
#[derive(Debug)]
pub(super) struct Output {
    tx: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Counters of everything dropped or notable.
    pub(super) counters: Counters,
    max_tx: usize,
    max_events: usize,
}

impl Output {
    fn new(limits: &Limits) -> Self {
        Output {
            tx: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            max_tx: limits.max_tx_queue,
            max_events: limits.max_events,
        }
    }

    /// Queues an event (or counts it dropped when the queue is full).
    pub(super) fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.max_events {
            self.counters.events_dropped += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    /// Queues a packet (or counts it dropped when the queue is full).
    fn push_transmit(&mut self, t: Transmit) {
        if self.tx.len() >= self.max_tx {
            self.counters.tx_dropped += 1;
        } else {
            self.tx.push_back(t);
        }
    }
}

/// One interface's runtime state.
#[derive(Debug)]
pub(super) struct Iface {
    pub(super) cfg: InterfaceConfig,
    pub(super) state: InterfaceState,
    pub(super) dr: Ipv4Addr,
    pub(super) bdr: Ipv4Addr,
    pub(super) neighbors: BTreeMap<Ipv4Addr, Neighbor>,
    pub(super) hello_at: Option<Instant>,
    pub(super) wait_at: Option<Instant>,
    pub(super) delayed_acks: Vec<LsaHeader>,
    pub(super) ack_at: Option<Instant>,
    pub(super) auth: Option<(SecurityAssociation, Option<CryptoSequence>)>,
}

impl Iface {
    /// Whether this interface sends and receives OSPF packets.
    pub(super) fn active(&self) -> bool {
        !self.cfg.passive
            && self.cfg.network_type != NetworkType::Loopback
            && !matches!(self.state, InterfaceState::Down | InterfaceState::Loopback)
    }

    /// Destination for flooding and delayed acks (RFC 5340 4.5.1 / 2328 13.3, 13.5).
    pub(super) fn flood_dst(&self) -> Ipv6Addr {
        match self.state {
            InterfaceState::DrOther | InterfaceState::Waiting
                if self.cfg.network_type == NetworkType::Broadcast =>
            {
                ALL_D_ROUTERS
            }
            _ => ALL_SPF_ROUTERS,
        }
    }

    /// Destination for packets to one neighbor (unicast on broadcast links).
    pub(super) fn unicast_dst(&self, nbr: &Neighbor) -> Ipv6Addr {
        match self.cfg.network_type {
            NetworkType::Broadcast => nbr.addr,
            _ => ALL_SPF_ROUTERS,
        }
    }

    /// The most LSA headers (20 bytes) or bytes of LSAs one packet can carry.
    pub(super) fn payload_room(&self) -> usize {
        usize::from(self.cfg.mtu)
            .saturating_sub(PACKET_OVERHEAD)
            .max(200)
    }
}

/// The last RFC 7166 sequence numbers of a neighbor that went away.
#[derive(Debug, Clone, Copy)]
struct AuthMemory {
    /// Per packet type, as the neighbor had them.
    seq: [Option<u64>; 5],
    /// The SA they were accepted under ([`SecurityAssociation::fingerprint`]).
    sa: [u8; 8],
    /// When the neighbor went away.
    at: Instant,
}

/// An OSPFv3 router running one area (sans-IO), drawing its randomness (DD sequence
/// numbers) from the caller's generator `R`.
///
/// Its `Debug` output shows the configuration (authentication keys redacted), the
/// interfaces and neighbors, the LSDB's size and the counters; never the generator's
/// state or a key.
pub struct Router<R> {
    pub(super) cfg: RouterConfig,
    pub(super) ifaces: BTreeMap<u32, Iface>,
    pub(super) lsdb: Lsdb,
    /// SPF, routing table and the anycast query.
    pub(super) routing: Routing,
    /// Our LSAs: what we advertise and when we may originate.
    pub(super) orig: Origination,
    /// When we last sent an LSA back to a neighbor instead of installing it.
    pub(super) sent_back: HashMap<LsaKey, Instant>,
    housekeeping_at: Option<Instant>,
    /// Neighbors held down by [`Router::set_neighbor_hold`]: their hellos are ignored.
    held: BTreeSet<(u32, Ipv4Addr)>,
    /// RFC 7166 replay state of neighbors that went away, per (interface, router
    /// ID), bounded by `max_auth_memory` and `auth_seq_retention`.
    auth_memory: BTreeMap<(u32, Ipv4Addr), AuthMemory>,
    /// Transmit and event queues, counters.
    pub(super) out: Output,
    rng: R,
}

impl<R> core::fmt::Debug for Router<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Router")
            .field("cfg", &self.cfg)
            .field("ifaces", &self.ifaces)
            .field("lsdb_lsas", &self.lsdb.len())
            .field("lsdb_bytes", &self.lsdb.bytes())
            .field("routes", &self.routing.routes().len())
            .field("held", &self.held)
            .field("auth_memory", &self.auth_memory.len())
            .field("counters", &self.out.counters)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> Router<R> {
    /// A router with no interfaces. `rng` is the caller's randomness (DD sequence
    /// numbers); tests pass a seeded generator.
    pub fn new(cfg: RouterConfig, rng: R) -> Self {
        Router {
            routing: Routing::new(cfg.spf_throttle),
            orig: Origination::new(cfg.origination_throttle),
            out: Output::new(&cfg.limits),
            cfg,
            ifaces: BTreeMap::new(),
            lsdb: Lsdb::new(),
            sent_back: HashMap::new(),
            housekeeping_at: None,
            held: BTreeSet::new(),
            auth_memory: BTreeMap::new(),
            rng,
        }
    }

    /// Our router ID.
    pub fn router_id(&self) -> Ipv4Addr {
        self.cfg.router_id
    }

    /// The link-state database.
    pub fn lsdb(&self) -> &Lsdb {
        &self.lsdb
    }

    /// The routing table.
    pub fn routes(&self) -> &BTreeMap<Ipv6Prefix, Route> {
        self.routing.routes()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.out.counters
    }

    /// State of an interface.
    pub fn interface_state(&self, ifindex: u32) -> Option<InterfaceState> {
        self.ifaces.get(&ifindex).map(|i| i.state)
    }

    /// (DR, BDR) of an interface.
    pub fn designated_routers(&self, ifindex: u32) -> Option<(Ipv4Addr, Ipv4Addr)> {
        self.ifaces.get(&ifindex).map(|i| (i.dr, i.bdr))
    }

    /// Neighbors of an interface with their states.
    pub fn neighbors(&self, ifindex: u32) -> Vec<(Ipv4Addr, NeighborState)> {
        self.ifaces
            .get(&ifindex)
            .map(|i| {
                i.neighbors
                    .values()
                    .map(|n| (n.router_id, n.state))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The area- and AS-scope LSAs not at MaxAge, as (key, sequence, checksum): two
    /// synchronized routers return the same list.
    pub fn lsdb_summary(&self, now: Instant) -> Vec<(LsaKey, u32, u16)> {
        self.lsdb
            .iter()
            .filter(|(k, e)| !matches!(k.scope, super::lsdb::Scope::Link(_)) && !e.is_max_age(now))
            .map(|(k, e)| (*k, e.lsa.header.seq_number, e.lsa.header.checksum))
            .collect()
    }

    pub(super) fn random_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    // ----- commands -----

    /// Adds (or replaces) an interface and brings it up.
    pub fn add_interface(&mut self, now: Instant, ifindex: u32, cfg: InterfaceConfig) {
        if self.ifaces.contains_key(&ifindex) {
            self.remove_interface(now, ifindex);
        }
        let mut auth = None;
        if let Some(a) = &cfg.auth {
            let sa = if a.frr_compat_key {
                SecurityAssociation::new_frr_compat(a.sa_id, a.algorithm, &a.key)
            } else {
                SecurityAssociation::new(a.sa_id, a.algorithm, &a.key)
            };
            let seq = CryptoSequence::resume(a.stored_seq_high);
            if let Some((_, high)) = seq {
                self.out
                    .push_event(Event::PersistAuthSeqHigh { ifindex, high });
            }
            auth = Some((sa, seq.map(|s| s.0)));
        }
        self.ifaces.insert(
            ifindex,
            Iface {
                cfg,
                state: InterfaceState::Down,
                dr: Ipv4Addr::UNSPECIFIED,
                bdr: Ipv4Addr::UNSPECIFIED,
                neighbors: BTreeMap::new(),
                hello_at: None,
                wait_at: None,
                delayed_acks: Vec::new(),
                ack_at: None,
                auth,
            },
        );
        let lo = self.ifaces[&ifindex].cfg.network_type == NetworkType::Loopback;
        let ev = if lo {
            InterfaceEvent::LoopInd
        } else {
            InterfaceEvent::InterfaceUp
        };
        self.ism(now, ifindex, ev);
        self.orig.request();
        self.finish(now);
    }

    /// Takes an interface down and forgets it; its LSAs are withdrawn.
    pub fn remove_interface(&mut self, now: Instant, ifindex: u32) {
        if !self.ifaces.contains_key(&ifindex) {
            return;
        }
        self.ism(now, ifindex, InterfaceEvent::InterfaceDown);
        self.ifaces.remove(&ifindex);
        self.held.retain(|&(i, _)| i != ifindex);
        for k in self.lsdb.remove_scope(super::lsdb::Scope::Link(ifindex)) {
            self.lsa_removed(now, k);
        }
        self.orig.request();
        self.finish(now);
    }

    /// Advertises a prefix of this router (an anycast /128 gets the LA bit) in our
    /// Intra-Area-Prefix-LSA with `metric`; calling again changes the metric.
    pub fn advertise_prefix(&mut self, now: Instant, prefix: Ipv6Prefix, metric: u16) {
        self.orig.advertise(prefix, metric);
        self.finish(now);
    }

    /// Withdraws a prefix given to [`Router::advertise_prefix`].
    pub fn withdraw_prefix(&mut self, now: Instant, prefix: Ipv6Prefix) {
        self.orig.withdraw(&prefix);
        self.finish(now);
    }

    /// Redistributes an external prefix in an AS-External-LSA.
    pub fn redistribute(
        &mut self,
        now: Instant,
        prefix: Ipv6Prefix,
        metric: u32,
        metric_type: ExternalMetricType,
    ) {
        self.orig.redistribute(prefix, metric, metric_type);
        self.finish(now);
    }

    /// Stops redistributing a prefix (its AS-External-LSA is flushed).
    pub fn withdraw_redistributed(&mut self, now: Instant, prefix: Ipv6Prefix) {
        self.orig.withdraw_redistributed(&prefix);
        self.finish(now);
    }

    /// Starts reporting changes of [`Router::advertisers`] for `prefix` as
    /// [`Event::AdvertisersChanged`]; returns the current answer, against which the
    /// first change is reported. Watching again restarts from the current answer.
    pub fn watch_prefix(&mut self, prefix: Ipv6Prefix) -> Vec<Advertiser> {
        self.routing.watch(prefix)
    }

    /// Stops watching a prefix given to [`Router::watch_prefix`]; whether it was
    /// watched.
    pub fn unwatch_prefix(&mut self, prefix: &Ipv6Prefix) -> bool {
        self.routing.unwatch(prefix)
    }

    /// A client of the forwarding path (BFD, RFC 5882 4.1 and 4.3) says the path to
    /// `neighbor` (its router ID) on `ifindex` failed: the neighbor goes Down at once
    /// (the NSM's LLDown event, which acts as KillNbr and the InactivityTimer do:
    /// lists cleared, neighbor forgotten, [`Event::NeighborState`] to Down), so the
    /// adjacency is gone from our Router-LSA, which is re-originated and flooded,
    /// and SPF is scheduled. Returns
    /// whether such a neighbor existed (false changes nothing).
    ///
    /// Nothing stops the neighbor from coming back: the next hello it sends starts
    /// the adjacency again (RFC 5882 4.3 lets a client re-establish it). Where hellos
    /// may still arrive while BFD is down (a partial failure), the caller decides
    /// when the adjacency may return: [`Router::set_neighbor_hold`] ignores the
    /// neighbor's hellos until released (for example until its BFD session is Up).
    pub fn neighbor_down(&mut self, now: Instant, ifindex: u32, neighbor: Ipv4Addr) -> bool {
        let exists = self
            .ifaces
            .get(&ifindex)
            .is_some_and(|i| i.neighbors.contains_key(&neighbor));
        if exists {
            self.nsm(now, ifindex, neighbor, NeighborEvent::LlDown);
            self.finish(now);
        }
        exists
    }

    /// Holds `neighbor` (router ID) on `ifindex` down while `hold` is true: its hellos
    /// are dropped (counter `rx_dropped`) so no adjacency forms with it; releasing it
    /// lets its next hello start one. Holding does not itself take an existing
    /// neighbor down (call [`Router::neighbor_down`] for that). Holds are kept per
    /// (interface, router ID) until released or the interface is removed; only this
    /// command adds them. Returns whether the hold state changed.
    pub fn set_neighbor_hold(&mut self, ifindex: u32, neighbor: Ipv4Addr, hold: bool) -> bool {
        if hold {
            self.held.insert((ifindex, neighbor))
        } else {
            self.held.remove(&(ifindex, neighbor))
        }
    }

    /// Forgets the RFC 7166 replay state kept for `neighbor` (router ID) on
    /// `ifindex` after it went away (see [`RouterConfig::auth_seq_retention`]), for an
    /// operator letting back in a neighbor that restarted without its persisted
    /// sequence number. Returns whether there was any.
    pub fn forget_auth_sequence(&mut self, ifindex: u32, neighbor: Ipv4Addr) -> bool {
        self.auth_memory.remove(&(ifindex, neighbor)).is_some()
    }

    // ----- outputs -----

    /// The anycast query: the routers reachable in the last SPF tree (the two-way
    /// check of RFC 5340 4.8.1 included, so a crashed router whose LSAs have not aged
    /// out no longer counts) that advertise exactly `prefix` in an
    /// Intra-Area-Prefix-LSA or an AS-External-LSA not at MaxAge, with the prefix
    /// metric and our distance to them; ourselves included (distance 0) when we
    /// advertise it. Sorted by router ID; empty before the first SPF run.
    pub fn advertisers(&self, prefix: &Ipv6Prefix) -> impl Iterator<Item = Advertiser> + use<R> {
        self.routing.advertisers(prefix).into_iter()
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut put = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for i in self.ifaces.values() {
            put(i.hello_at);
            put(i.wait_at);
            put(i.ack_at);
            for n in i.neighbors.values() {
                put(Some(n.inactivity_at));
                put(n.dd_rxmt_at);
                put(n.lsr_rxmt_at);
                put(n.rxmt_at);
            }
        }
        put(self.routing.poll_timeout());
        put(self.orig.poll_timeout());
        put(self.housekeeping_at);
        t
    }

    /// Runs every timer that is due at `now`.
    ///
    /// Only timers due at or before `now` fire, so calling it early (before
    /// [`Router::poll_timeout`]) or twice for one instant is harmless: nothing is
    /// sent, reported or changed that was not due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ifs: Vec<u32> = self.ifaces.keys().copied().collect();
        for ifindex in ifs {
            let Some(i) = self.ifaces.get(&ifindex) else {
                continue;
            };
            let (hello, wait, ack) = (i.hello_at, i.wait_at, i.ack_at);
            if wait.is_some_and(|t| t <= now) {
                if let Some(i) = self.ifaces.get_mut(&ifindex) {
                    i.wait_at = None;
                }
                self.ism(now, ifindex, InterfaceEvent::WaitTimer);
            }
            if hello.is_some_and(|t| t <= now) {
                self.send_hello(now, ifindex);
            }
            if ack.is_some_and(|t| t <= now) {
                self.send_delayed_acks(now, ifindex);
            }
            let nbrs: Vec<Ipv4Addr> = self.ifaces[&ifindex].neighbors.keys().copied().collect();
            for rid in nbrs {
                let Some(n) = self
                    .ifaces
                    .get(&ifindex)
                    .and_then(|i| i.neighbors.get(&rid))
                else {
                    continue;
                };
                let (inact, dd, lsr, rx) =
                    (n.inactivity_at, n.dd_rxmt_at, n.lsr_rxmt_at, n.rxmt_at);
                if inact <= now {
                    self.nsm(now, ifindex, rid, NeighborEvent::InactivityTimer);
                    continue;
                }
                if dd.is_some_and(|t| t <= now) {
                    self.resend_dd(now, ifindex, rid);
                }
                if lsr.is_some_and(|t| t <= now) {
                    self.send_lsr(now, ifindex, rid);
                }
                if rx.is_some_and(|t| t <= now) {
                    self.retransmit(now, ifindex, rid);
                }
            }
        }
        let (lsdb, ifaces) = (&self.lsdb, &self.ifaces);
        let ll = |ifindex: u32, rid: u32| link_local_of(lsdb, ifaces, ifindex, Ipv4Addr::from(rid));
        self.routing
            .handle_timeout(now, lsdb, self.cfg.router_id, &ll, &mut self.out);
        self.orig.handle_timeout(now);
        if self.housekeeping_at.is_none_or(|t| t <= now) {
            self.housekeeping(now);
            self.expire_auth_memory(now);
            self.housekeeping_at = Some(now + Duration::from_secs(1));
        }
        self.finish(now);
    }

    /// Work left by an input: originate LSAs, recompute touched prefixes.
    pub(super) fn finish(&mut self, now: Instant) {
        if self.housekeeping_at.is_none() {
            self.housekeeping_at = Some(now + Duration::from_secs(1));
        }
        if self.orig.take_request() {
            self.originate(now);
        }
        self.routing
            .recompute_touched(self.cfg.router_id, &mut self.out);
    }

    // ----- packet output -----

    /// Encodes and queues a packet.
    pub(super) fn send_packet(&mut self, ifindex: u32, dst: Ipv6Addr, body: PacketBody) {
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let p = Packet {
            header: PacketHeader {
                router_id: self.cfg.router_id,
                area_id: self.cfg.area_id,
                checksum: 0,
                instance_id: i.cfg.instance_id,
            },
            body,
        };
        let bytes = p.to_bytes();
        self.send_bytes(ifindex, dst, bytes);
    }

    /// Fills the checksum or appends the trailer, then queues.
    pub(super) fn send_bytes(&mut self, ifindex: u32, dst: Ipv6Addr, mut bytes: Vec<u8>) {
        let offload = self.cfg.checksum;
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let src = i.cfg.link_local;
        let mut persist = None;
        match &mut i.auth {
            Some((sa, seq)) => {
                let Some(step) = seq.as_mut().and_then(|s| s.next_step()) else {
                    // Sequence space spent: RFC 7166 says stop sending until rekeyed.
                    self.out.counters.tx_dropped += 1;
                    return;
                };
                persist = step.persist_high;
                sa.append_trailer(&src, &mut bytes, step.sequence);
            }
            None => {
                if offload == ChecksumOffload::Engine {
                    checksum::set_packet_checksum(&src, &dst, &mut bytes);
                }
            }
        }
        if let Some(high) = persist {
            self.out
                .push_event(Event::PersistAuthSeqHigh { ifindex, high });
        }
        self.out.push_transmit(Transmit {
            ifindex,
            src,
            dst,
            bytes,
        });
    }

    /// Our Options for hellos, DDs and LSAs.
    pub(super) fn options(&self, ifindex: Option<u32>) -> Options {
        let mut o = Options::V6 | Options::E | Options::R;
        if ifindex
            .and_then(|i| self.ifaces.get(&i))
            .is_some_and(|i| i.auth.is_some())
        {
            o |= Options::AT;
        }
        o
    }

    fn send_hello(&mut self, now: Instant, ifindex: u32) {
        let opts = self.options(Some(ifindex));
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        i.hello_at = Some(now + Duration::from_secs(u64::from(i.cfg.hello_interval)));
        if !i.active() {
            return;
        }
        let hello = Hello {
            interface_id: ifindex,
            priority: i.cfg.priority,
            options: opts,
            hello_interval: i.cfg.hello_interval,
            dead_interval: i.cfg.dead_interval,
            designated_router: i.dr,
            backup_designated_router: i.bdr,
            neighbors: i
                .neighbors
                .values()
                .filter(|n| n.state >= NeighborState::Init)
                .map(|n| n.router_id)
                .collect(),
        };
        self.send_packet(ifindex, ALL_SPF_ROUTERS, PacketBody::Hello(hello));
    }

    // ----- packet input -----

    /// A packet arrived on `ifindex` from `src` to `dst` (the IPv6 upper-layer
    /// payload: OSPFv3 packet, optional LLS block, optional trailer).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        ifindex: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        bytes: &[u8],
    ) {
        self.out.counters.rx_packets += 1;
        self.receive(now, ifindex, src, dst, bytes);
        self.finish(now);
    }

    fn receive(&mut self, now: Instant, ifindex: u32, src: Ipv6Addr, dst: Ipv6Addr, bytes: &[u8]) {
        let Some(i) = self.ifaces.get(&ifindex) else {
            self.out.counters.rx_dropped += 1;
            return;
        };
        if !i.active() {
            self.out.counters.rx_dropped += 1;
            return;
        }
        // Addressing (RFC 5340 4.2.2 / 2328 8.2): AllDRouters only as DR or BDR.
        let dst_ok = dst == ALL_SPF_ROUTERS
            || (dst == ALL_D_ROUTERS
                && matches!(i.state, InterfaceState::Dr | InterfaceState::Backup))
            || dst == i.cfg.link_local;
        if !dst_ok || src == i.cfg.link_local {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let parts = match packet::split_payload(bytes) {
            Ok(p) => p,
            Err(_) => {
                self.out.counters.rx_decode_errors += 1;
                return;
            }
        };
        let mut auth_seq = None;
        if let Some((sa, _)) = &i.auth {
            match sa.verify_payload(&src, bytes) {
                Ok(s) => auth_seq = Some(s),
                Err(_) => {
                    self.out.counters.rx_auth_failures += 1;
                    return;
                }
            }
        } else if self.cfg.checksum == ChecksumOffload::Engine
            && !checksum::verify_packet_checksum(&src, &dst, parts.packet)
        {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let (ptype, _len, header) = match packet::read_header(parts.packet) {
            Ok(h) => h,
            Err(_) => {
                self.out.counters.rx_decode_errors += 1;
                return;
            }
        };
        if header.area_id != self.cfg.area_id
            || header.instance_id != i.cfg.instance_id
            || header.router_id == self.cfg.router_id
        {
            self.out.counters.rx_dropped += 1;
            return;
        }
        // RFC 7166 4.1 / 4.5: strictly increasing per neighbor and packet type, also
        // across the neighbor going away and coming back (replay state remembered).
        let type_index = ptype as usize - 1;
        if let Some(seq) = auth_seq {
            let last = match i.neighbors.get(&header.router_id) {
                Some(n) => n.auth_seq[type_index],
                None => self
                    .remembered_auth(now, ifindex, header.router_id)
                    .and_then(|s| s[type_index]),
            };
            if last.is_some_and(|last| seq <= last) {
                self.out.counters.rx_auth_failures += 1;
                return;
            }
        }
        if ptype == PacketType::LinkStateUpdate {
            self.note_auth_seq(ifindex, header.router_id, type_index, auth_seq);
            self.receive_lsu(now, ifindex, header.router_id, parts.packet);
            return;
        }
        let packet = match Packet::decode_with(
            parts.packet,
            &DecodeOptions {
                verify_lsa_checksums: false,
            },
        ) {
            Ok(p) => p,
            Err(_) => {
                self.out.counters.rx_decode_errors += 1;
                return;
            }
        };
        if !matches!(packet.body, PacketBody::Hello(_))
            && !self.ifaces[&ifindex]
                .neighbors
                .contains_key(&header.router_id)
        {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let rid = header.router_id;
        match packet.body {
            PacketBody::Hello(h) => self.receive_hello(now, ifindex, rid, src, h),
            PacketBody::DatabaseDescription(dd) => self.receive_dd(now, ifindex, rid, dd),
            PacketBody::LinkStateRequest(r) => self.receive_lsr(now, ifindex, rid, r),
            PacketBody::LinkStateAck(a) => self.receive_ack(now, ifindex, rid, a),
            PacketBody::LinkStateUpdate(_) => {}
        }
        self.note_auth_seq(ifindex, rid, type_index, auth_seq);
    }

    fn note_auth_seq(&mut self, ifindex: u32, rid: Ipv4Addr, type_index: usize, seq: Option<u64>) {
        if let (Some(seq), Some(n)) = (
            seq,
            self.ifaces
                .get_mut(&ifindex)
                .and_then(|i| i.neighbors.get_mut(&rid)),
        ) && let Some(slot) = n.auth_seq.get_mut(type_index)
        {
            *slot = Some(slot.map_or(seq, |last| last.max(seq)));
        }
    }

    /// Hello receipt (RFC 2328 10.5, RFC 5340 4.2.2.1).
    fn receive_hello(
        &mut self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        src: Ipv6Addr,
        h: Hello,
    ) {
        let me = self.cfg.router_id;
        let max_nbrs = self.cfg.limits.max_neighbors;
        if self.held.contains(&(ifindex, rid)) {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        if h.hello_interval != i.cfg.hello_interval
            || h.dead_interval != i.cfg.dead_interval
            || !h.options.contains(Options::E)
        {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let broadcast = i.cfg.network_type == NetworkType::Broadcast;
        if !i.neighbors.contains_key(&rid) {
            if i.neighbors.len() >= max_nbrs {
                self.out.counters.neighbors_full += 1;
                return;
            }
            let mut n = Neighbor::new(rid, src, now);
            if let Some(seq) = self.remembered_auth(now, ifindex, rid) {
                n.auth_seq = seq;
            }
            self.auth_memory.remove(&(ifindex, rid));
            let Some(i) = self.ifaces.get_mut(&ifindex) else {
                return;
            };
            i.neighbors.insert(rid, n);
        }
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let n = i.neighbors.get_mut(&rid).expect("inserted above");
        let (old_prio, old_dr, old_bdr) = (n.priority, n.dr, n.bdr);
        n.addr = src;
        n.interface_id = h.interface_id;
        n.priority = h.priority;
        n.dr = h.designated_router;
        n.bdr = h.backup_designated_router;
        n.options = h.options;
        let first = n.state == NeighborState::Down;
        let waiting = i.state == InterfaceState::Waiting;
        self.nsm(now, ifindex, rid, NeighborEvent::HelloReceived);
        if !h.neighbors.contains(&me) {
            self.nsm(now, ifindex, rid, NeighborEvent::OneWayReceived);
            return;
        }
        self.nsm(now, ifindex, rid, NeighborEvent::TwoWayReceived);
        if !broadcast {
            return;
        }
        let (dr, bdr) = (h.designated_router, h.backup_designated_router);
        if waiting && ((dr == rid && bdr.is_unspecified()) || bdr == rid) {
            self.ism(now, ifindex, InterfaceEvent::BackupSeen);
        } else if !first
            && (old_prio != h.priority
                || ((dr == rid) != (old_dr == rid))
                || ((bdr == rid) != (old_bdr == rid)))
        {
            self.ism(now, ifindex, InterfaceEvent::NeighborChange);
        }
    }

    // ----- state machines -----

    /// Runs one ISM transition and its actions.
    pub(super) fn ism(&mut self, now: Instant, ifindex: u32, event: InterfaceEvent) {
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let from = i.state;
        let broadcast = i.cfg.network_type == NetworkType::Broadcast;
        let (mut to, action) = ism_transition(from, event, broadcast, i.cfg.priority > 0);
        match action {
            IsmAction::None => {}
            IsmAction::Start => {
                let i = self.ifaces.get_mut(&ifindex).expect("checked");
                i.hello_at = Some(now);
                if to == InterfaceState::Waiting {
                    i.wait_at = Some(now + Duration::from_secs(u64::from(i.cfg.dead_interval)));
                }
            }
            IsmAction::Elect => {
                to = self.elect_dr(now, ifindex);
            }
            IsmAction::Reset => {
                let rids: Vec<Ipv4Addr> = self.ifaces[&ifindex].neighbors.keys().copied().collect();
                for rid in rids {
                    self.nsm(now, ifindex, rid, NeighborEvent::KillNbr);
                }
                let i = self.ifaces.get_mut(&ifindex).expect("checked");
                i.hello_at = None;
                i.wait_at = None;
                i.ack_at = None;
                i.delayed_acks.clear();
                i.dr = Ipv4Addr::UNSPECIFIED;
                i.bdr = Ipv4Addr::UNSPECIFIED;
            }
        }
        let i = self.ifaces.get_mut(&ifindex).expect("checked");
        i.state = to;
        if from != to {
            self.out
                .push_event(Event::InterfaceState { ifindex, from, to });
            self.orig.request();
        }
    }

    /// RFC 2328 9.4; returns the interface's new state and re-checks adjacencies.
    fn elect_dr(&mut self, now: Instant, ifindex: u32) -> InterfaceState {
        let me = self.cfg.router_id;
        let i = self.ifaces.get_mut(&ifindex).expect("caller checked");
        i.wait_at = None;
        let cands: Vec<Candidate> = i
            .neighbors
            .values()
            .filter(|n| n.state >= NeighborState::TwoWay && n.priority > 0)
            .map(|n| Candidate {
                router_id: n.router_id,
                priority: n.priority,
                dr: n.dr,
                bdr: n.bdr,
            })
            .collect();
        let mine = Candidate {
            router_id: me,
            priority: i.cfg.priority,
            dr: i.dr,
            bdr: i.bdr,
        };
        let (dr, bdr) = elect(mine, &cands);
        let changed = (dr, bdr) != (i.dr, i.bdr);
        i.dr = dr;
        i.bdr = bdr;
        let state = state_after_election(me, dr, bdr);
        if changed {
            self.orig.request();
            let rids: Vec<Ipv4Addr> = i
                .neighbors
                .values()
                .filter(|n| n.state >= NeighborState::TwoWay)
                .map(|n| n.router_id)
                .collect();
            // The new state must be visible to AdjOk's "adjacency wanted" test.
            i.state = state;
            for rid in rids {
                self.nsm(now, ifindex, rid, NeighborEvent::AdjOk);
            }
        }
        state
    }

    /// RFC 2328 10.4: should an adjacency form with this neighbor?
    pub(super) fn adjacency_wanted(&self, ifindex: u32, rid: Ipv4Addr) -> bool {
        let Some(i) = self.ifaces.get(&ifindex) else {
            return false;
        };
        match i.cfg.network_type {
            NetworkType::Broadcast => {
                let me = self.cfg.router_id;
                i.dr == me || i.bdr == me || i.dr == rid || i.bdr == rid
            }
            _ => true,
        }
    }

    /// Runs one NSM transition and its actions.
    pub(super) fn nsm(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr, event: NeighborEvent) {
        let wanted = self.adjacency_wanted(ifindex, rid);
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let dead = Duration::from_secs(u64::from(i.cfg.dead_interval));
        let broadcast = i.cfg.network_type == NetworkType::Broadcast;
        let Some(n) = i.neighbors.get_mut(&rid) else {
            return;
        };
        let from = n.state;
        let input = NsmInput {
            adjacency_wanted: wanted,
            requests_empty: n.requests.is_empty(),
        };
        let (to, action) = nsm_transition(from, event, input);
        n.state = to;
        match action {
            NsmAction::None => {}
            NsmAction::RestartInactivity => n.inactivity_at = now + dead,
            NsmAction::ClearLists => n.clear_lists(),
            NsmAction::StartExStart => self.start_exstart(now, ifindex, rid),
            NsmAction::RestartExchange => {
                n.clear_lists();
                self.start_exstart(now, ifindex, rid);
            }
            NsmAction::BeginExchange => self.begin_exchange(now, ifindex, rid),
        }
        if from == to {
            return;
        }
        self.out.push_event(Event::NeighborState {
            ifindex,
            router_id: rid,
            from,
            to,
        });
        if from == NeighborState::Full || to == NeighborState::Full {
            self.orig.request();
        }
        if to == NeighborState::Loading {
            self.send_lsr(now, ifindex, rid);
        }
        let two_way = |s: NeighborState| s >= NeighborState::TwoWay;
        if broadcast && two_way(from) != two_way(to) {
            self.ism(now, ifindex, InterfaceEvent::NeighborChange);
        }
        if to == NeighborState::Down
            && let Some(i) = self.ifaces.get_mut(&ifindex)
            && let Some(n) = i.neighbors.remove(&rid)
        {
            self.remember_auth(now, ifindex, rid, n.auth_seq);
        }
    }

    /// Keeps the replay state of a neighbor that went away (RFC 7166 4.1), so its
    /// captured packets stay refused for `auth_seq_retention`.
    fn remember_auth(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr, seq: [Option<u64>; 5]) {
        let Some(sa) = self.auth_fingerprint(ifindex) else {
            return;
        };
        if seq.iter().all(Option::is_none) || self.cfg.limits.max_auth_memory == 0 {
            return;
        }
        let key = (ifindex, rid);
        if !self.auth_memory.contains_key(&key)
            && self.auth_memory.len() >= self.cfg.limits.max_auth_memory
            && let Some(oldest) = self
                .auth_memory
                .iter()
                .min_by_key(|(_, m)| m.at)
                .map(|(k, _)| *k)
        {
            self.auth_memory.remove(&oldest);
            self.out.counters.auth_memory_evicted += 1;
        }
        self.auth_memory
            .insert(key, AuthMemory { seq, sa, at: now });
    }

    /// The remembered replay state of a gone neighbor, if still retained and taken
    /// under the interface's current SA.
    fn remembered_auth(
        &self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
    ) -> Option<[Option<u64>; 5]> {
        let m = self.auth_memory.get(&(ifindex, rid))?;
        let live =
            m.at.checked_add(self.cfg.auth_seq_retention)
                .is_none_or(|end| now < end);
        (live && self.auth_fingerprint(ifindex) == Some(m.sa)).then_some(m.seq)
    }

    fn auth_fingerprint(&self, ifindex: u32) -> Option<[u8; 8]> {
        self.ifaces
            .get(&ifindex)?
            .auth
            .as_ref()
            .map(|(sa, _)| sa.fingerprint())
    }

    /// Drops remembered replay state past its retention.
    fn expire_auth_memory(&mut self, now: Instant) {
        let keep = self.cfg.auth_seq_retention;
        self.auth_memory
            .retain(|_, m| m.at.checked_add(keep).is_none_or(|end| now < end));
    }
}

/// A neighbor's link-local address on one of our links: from its Link-LSA
/// (RFC 5340 4.8.2), else from its hellos.
fn link_local_of(
    lsdb: &Lsdb,
    ifaces: &BTreeMap<u32, Iface>,
    ifindex: u32,
    rid: Ipv4Addr,
) -> Option<Ipv6Addr> {
    let from_lsa = lsdb
        .of_type(super::lsdb::Scope::Link(ifindex), LsaType::LINK, Some(rid))
        .find_map(|(_, e)| match &e.lsa.body {
            crate::lsa::LsaBody::Link(l) => Some(l.link_local_address),
            _ => None,
        });
    from_lsa.or_else(|| {
        ifaces
            .get(&ifindex)
            .and_then(|i| i.neighbors.get(&rid))
            .map(|n| n.addr)
    })
}
