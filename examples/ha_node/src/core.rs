//! The node core: one L2TPv3 endpoint, one OSPFv3 router and, on servers, one anycast
//! failover policy, glued together without I/O.
//!
//! The core follows the workspace's sans-IO contract itself: drivers call
//! `handle_*(now, ...)`, then drain [`Core::poll_output`] and arm a timer for
//! [`Core::poll_timeout`]. Two drivers use it: the in-process lab ([`crate::lab`]),
//! whose in-memory "kernel" frames OSPF packets in Ethernet and IPv6 itself, and the
//! daemon ([`crate::daemon`]), which owns UDP and raw sockets, TAP devices and the
//! kernel's routing table. All protocol state lives here, once.
//!
//! What the glue does:
//!
//! * the initiating side of each peer opens a control connection and, once it is up,
//!   one Ethernet pseudowire session (RFC 4719); reconnects after a failure;
//! * an established session becomes an OSPFv3 point-to-point interface when the
//!   driver [`attach`](Core::attach)es it to an interface index and link-local address;
//! * frames from an interface go out as L2TPv3 data messages, and data messages from a
//!   peer come back as frames for the interface;
//! * the Intra-Area-Prefix-LSAs of the other routers are read after every change and
//!   handed to the policy as peer advertisements (router ID, metric);
//! * the policy's Advertise and Withdraw actions are applied to the OSPFv3 router at
//!   once, and every action is also handed to the driver **in the policy's order**,
//!   with the OSPFv3 packets a withdrawal floods queued before a later address
//!   removal.
//! * every OSPFv3 neighbor on a pseudowire at 2-Way or better gets a BFD session
//!   ([`BfdSettings`] per peer): its packets go out as [`Output::Bfd`] (UDP over IPv6
//!   between the link-local addresses, port 3784, hop limit 255) and come in through
//!   [`Core::handle_bfd`]; a session going Down from Up takes the neighbor down at
//!   once and holds its hellos off until the session is Up again (at most the
//!   RouterDeadInterval), RFC 5882.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anycast_failover::{
    Action, AdminCommand, CheckId, Metric, NodeConfig, Policy, ProbeResult, RouterId, Scope,
};
use l2tpv3::{
    Config as L2tpConfig, Endpoint, Event as L2tpEvent, MAX_DATA_HEADER_LEN, SessionRequest,
};
use ospfv3::{Event as OspfEvent, InterfaceConfig, Ipv6Prefix, RouteKind, Router, RouterConfig};
use rand::rngs::StdRng;
use rand_core::SeedableRng;

use crate::esp::EspPeer;
use crate::security::{OspfAuth, RouteFilter, RouteRefusal, Secret};

/// How long the initiating side waits before reconnecting a failed control connection
/// (the default of [`L2tpTimers::reconnect_min`] and `reconnect_max`).
pub const RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Liveness and reconnection of the L2TPv3 side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2tpTimers {
    /// HELLO interval of the control connections (RFC 3931 6.5). Default 60 s.
    pub hello: Duration,
    /// A pseudowire from which no data arrived for this long has its control
    /// connection closed (a peer that crashed or restarted: the initiating side then
    /// reconnects). Data counts as liveness; `None` (default) turns it off. Only
    /// safe where data flows steadily (OSPFv3 hellos on the pseudowire).
    pub silence: Option<Duration>,
    /// First delay before reconnecting; doubled after each failure. Default
    /// [`RECONNECT_DELAY`].
    pub reconnect_min: Duration,
    /// Cap of the reconnection delay. Default [`RECONNECT_DELAY`].
    pub reconnect_max: Duration,
}

impl Default for L2tpTimers {
    fn default() -> Self {
        L2tpTimers {
            hello: Duration::from_secs(60),
            silence: None,
            reconnect_min: RECONNECT_DELAY,
            reconnect_max: RECONNECT_DELAY,
        }
    }
}

impl L2tpTimers {
    /// Delay before reconnection attempt `attempt` (0 first): `reconnect_min`
    /// doubled per earlier failure, capped at `reconnect_max`.
    pub fn reconnect_delay(&self, attempt: u32) -> Duration {
        self.reconnect_min
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.reconnect_max.max(self.reconnect_min))
    }
}

/// Counters of the core's self-healing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealingCounts {
    /// Reconnections scheduled after a control connection failed or closed.
    pub reconnects: u64,
    /// Control connections closed because their pseudowire fell silent.
    pub silent_closed: u64,
    /// Pseudowires replaced by a new one on a newer control connection from the same
    /// peer (the peer restarted).
    pub replaced: u64,
}

/// One underlay peer of this node.
#[derive(Debug, Clone)]
pub struct PeerSpec<A> {
    /// Where the peer's L2TPv3 messages come from and go to.
    pub addr: A,
    /// A name for logs.
    pub name: String,
    /// Whether this node opens the control connection and the session.
    pub initiate: bool,
    /// ESP protection of everything exchanged with this peer: its SAs, keyed
    /// statically or by IKEv2 ([`crate::ike`]), shared with a data plane if any.
    pub esp: Option<Arc<EspPeer>>,
    /// BFD for the OSPFv3 neighbors on this peer's pseudowire.
    pub bfd: BfdSettings,
    /// Derive the OSPFv3 authentication key as FRRouting 8.4's ospf6d does (only
    /// for such a peer; see [`ospfv3::AuthConfig::frr_compat_key`]).
    pub ospf_auth_frr_compat: bool,
}

/// How a datagram reached the node: on the plain L2TPv3 socket or on the ESP
/// socket. A peer configured with ESP is heard only through ESP, one without only
/// in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The L2TPv3 socket (no ESP).
    Clear,
    /// The ESP-in-UDP socket.
    Esp,
    /// An IKE message (non-ESP marker) on the ESP-in-UDP socket: for the IKEv2
    /// endpoint ([`crate::ike`]), never for the core.
    Ike,
}

impl Via {
    /// Whether a datagram that came in this way may come from a peer configured with
    /// (`protected`) or without ESP: nothing in clear from a protected peer, no ESP
    /// from an unprotected one. The core and the data plane both decide with it.
    pub fn admits(self, protected: bool) -> bool {
        match self {
            Via::Clear => !protected,
            Via::Esp => protected,
            Via::Ike => false,
        }
    }
}

/// Counters of what the core's security checks dropped or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityCounts {
    /// Datagrams from an address that is no configured peer (never answered).
    pub unknown_source: u64,
    /// Datagrams from a peer on the wrong socket: in clear from a peer configured
    /// with ESP, or ESP from one without.
    pub wrong_protection: u64,
    /// Data messages for a session that belongs to another peer.
    pub data_wrong_peer: u64,
    /// Sessions refused (CDN) because their peer already has a pseudowire.
    pub extra_sessions_refused: u64,
    /// Learned routes not handed to the driver for installation ([`RouteFilter`]).
    pub routes_refused: u64,
}

/// BFD settings of the OSPFv3 neighbors on one peer's pseudowire (RFC 5882 client
/// behaviour: BFD Down takes the OSPFv3 neighbor down at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdSettings {
    /// Whether a BFD session runs for each OSPFv3 neighbor at 2-Way or better.
    pub enabled: bool,
    /// Desired Min TX and Required Min RX once Up (before Up the session sends at
    /// most once a second, RFC 5880 6.8.3).
    pub interval: Duration,
    /// Detect Mult: the peer declares us down after this many intervals of silence.
    pub multiplier: u8,
}

impl Default for BfdSettings {
    /// 50 ms x 5: detection in 250 ms. At 5 % underlay loss a false Down needs five
    /// packets in a row lost, 0.05^5 = 3.1e-7 per packet, one every ~3.2 million
    /// packets = every ~44 h at 20 packets/s per direction (~22 h per session, both
    /// directions counted; a bit more often with the 0-25 % jitter).
    fn default() -> Self {
        BfdSettings {
            enabled: true,
            interval: Duration::from_millis(50),
            multiplier: 5,
        }
    }
}

/// OSPFv3 settings of the pseudowire interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OspfTimers {
    /// HelloInterval, seconds.
    pub hello: u16,
    /// RouterDeadInterval, seconds.
    pub dead: u16,
    /// Interface cost.
    pub cost: u16,
    /// IPv6 MTU of the pseudowire interfaces.
    pub mtu: u16,
    /// Whether the built-in OSPFv3 engine runs. Off, the node only terminates the
    /// pseudowires and another router (FRR's ospf6d, for example) runs OSPFv3 on the
    /// interfaces; the failover policy then has nothing to advertise with.
    pub enabled: bool,
}

impl Default for OspfTimers {
    fn default() -> Self {
        OspfTimers {
            hello: 1,
            dead: 4,
            cost: 10,
            mtu: 1500,
            enabled: true,
        }
    }
}

/// Everything the core is built from.
#[derive(Debug, Clone)]
pub struct CoreConfig<A> {
    /// Node name (L2TPv3 Host Name, Remote End ID of the sessions it opens).
    pub name: String,
    /// OSPFv3 Router ID (also the L2TPv3 Router ID and the policy's Router ID).
    pub router_id: Ipv4Addr,
    /// Underlay peers.
    pub peers: Vec<PeerSpec<A>>,
    /// OSPFv3 pseudowire interface settings.
    pub ospf: OspfTimers,
    /// L2TPv3 liveness and reconnection.
    pub l2tp: L2tpTimers,
    /// Interface index of the loopback, and the host prefixes always advertised on it
    /// (not the anycast prefixes: those follow the policy).
    pub loopback: (u32, Vec<Ipv6Prefix>),
    /// The failover policy of a server; `None` on a client.
    pub policy: Option<NodeConfig>,
    /// L2TPv3 control message authentication secret (RFC 3931 4.3).
    pub l2tp_secret: Option<Secret>,
    /// RFC 7166 authentication of the OSPFv3 pseudowire interfaces; `None` runs
    /// them unauthenticated.
    pub ospf_auth: Option<OspfAuth>,
    /// What learned routes the driver is told to install ([`Output::OspfEvent`]
    /// with `RouteAdd`); the others are refused and counted.
    pub routes: RouteFilter,
    /// Seed of every random choice (CCIDs, session IDs, cookies, nonces, DD sequence
    /// numbers), for the lab and tests only. `None` (what the daemon uses) seeds each
    /// generator with 256 bits from the operating system.
    pub seed: Option<u64>,
}

/// What the driver must do or may report, in order.
#[derive(Debug)]
pub enum Output<A> {
    /// Send this UDP payload to the peer.
    Underlay {
        /// The peer.
        peer: A,
        /// The datagram (ESP packet for protected peers).
        datagram: Vec<u8>,
    },
    /// A pseudowire session is established: create its interface and call
    /// [`Core::attach`].
    PseudowireUp {
        /// Our Session ID.
        session_id: u32,
        /// The peer.
        peer: A,
        /// The peer's name from the configuration.
        peer_name: String,
    },
    /// A pseudowire session is gone; its OSPFv3 interface was removed.
    PseudowireDown {
        /// Our Session ID.
        session_id: u32,
        /// The interface it was attached to.
        ifindex: Option<u32>,
    },
    /// Deliver this Ethernet frame to the interface (it came over the pseudowire).
    Frame {
        /// Interface index.
        ifindex: u32,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Send this OSPFv3 packet.
    Ospf(ospfv3::Transmit),
    /// An OSPFv3 event (interfaces, neighbors, routes).
    OspfEvent(ospfv3::Event),
    /// An L2TPv3 event (connections, sessions).
    L2tpEvent(L2tpEvent<A>),
    /// A failover action, to execute in this order (address changes; the OSPFv3
    /// side of Advertise and Withdraw is already applied).
    Action(Action),
    /// A failover event (health, roles), for logs.
    PolicyEvent(anycast_failover::Event),
    /// Send this BFD Control packet as UDP over IPv6 on `ifindex`, from
    /// `src`:`src_port` to `dst`:3784 with hop limit 255 (RFC 5881).
    Bfd {
        /// Interface index (the pseudowire's).
        ifindex: u32,
        /// Our link-local address on it.
        src: Ipv6Addr,
        /// The neighbor's link-local address.
        dst: Ipv6Addr,
        /// The session's UDP source port (49152-65535).
        src_port: u16,
        /// The BFD Control packet.
        payload: Vec<u8>,
    },
    /// A BFD session changed state, for logs (a Down from Up has already taken the
    /// OSPFv3 neighbor down).
    BfdState {
        /// Interface index.
        ifindex: u32,
        /// The OSPFv3 neighbor's Router ID.
        router_id: Ipv4Addr,
        /// Old state.
        from: bfd::State,
        /// New state.
        to: bfd::State,
        /// The local diagnostic.
        diag: bfd::Diagnostic,
    },
    /// A learned route the [`RouteFilter`] refused: not installed.
    RouteRefused {
        /// The prefix.
        prefix: Ipv6Prefix,
        /// Why.
        reason: RouteRefusal,
    },
    /// Something was dropped, for logs.
    Dropped {
        /// The peer it came from.
        peer: A,
        /// Why.
        reason: String,
    },
}

struct Pseudowire<A> {
    peer: A,
    ifindex: Option<u32>,
    link_local: Option<Ipv6Addr>,
    /// When data last arrived on it (or it came up).
    last_rx: Instant,
}

/// Most BFD sessions the core runs (one per OSPFv3 neighbor on a pseudowire; point to
/// point interfaces have one each). Neighbors beyond it get none, counted in
/// [`Core::bfd_refused`].
pub const MAX_BFD_SESSIONS: usize = 256;

struct BfdPeer {
    /// The neighbor's link-local address (the source of its OSPFv3 packets).
    remote: Ipv6Addr,
    /// Our link-local address on the interface.
    local: Ipv6Addr,
    src_port: u16,
    session: bfd::Session<StdRng>,
    /// After a BFD Down: the OSPFv3 neighbor's hellos are ignored until the session
    /// is Up again or this instant passes (then the session is dropped).
    held_until: Option<Instant>,
}

/// The node core. `A` names an underlay peer (a socket address in the daemon, a port
/// number in the lab).
pub struct Core<A> {
    cfg: CoreConfig<A>,
    l2tp: Endpoint<A, StdRng>,
    ospf: Router<StdRng>,
    policy: Option<Policy>,
    esp: HashMap<A, Arc<EspPeer>>,
    /// Peers whose packets a data plane seals and opens ([`Core::esp_to_dataplane`]).
    esp_moved: HashSet<A>,
    initiated: HashSet<u32>,
    ccid_peers: HashMap<u32, A>,
    reconnect: Vec<(Instant, A)>,
    /// Failed connection attempts per peer since its last success (back-off).
    reconnect_attempts: HashMap<A, u32>,
    /// Highest RFC 7166 sequence-number high half given to an interface so far: an
    /// interface attached again (a TAP reopened, a pseudowire re-established) resumes
    /// above it, or its neighbor would take its packets for replays.
    ospf_seq_high: Option<u32>,
    healing: HealingCounts,
    sessions: BTreeMap<u32, Pseudowire<A>>,
    by_ifindex: BTreeMap<u32, u32>,
    peer_adverts: BTreeMap<anycast_failover::Ipv6Prefix, Vec<(RouterId, Metric)>>,
    /// What the other reachable routers advertise for the policy's prefixes, as the
    /// OSPFv3 router last reported it (`Event::AdvertisersChanged`), not yet given to
    /// the policy.
    advert_changes: BTreeMap<anycast_failover::Ipv6Prefix, Vec<(RouterId, Metric)>>,
    out: VecDeque<Output<A>>,
    started: bool,
    /// BFD sessions by (ifindex, neighbor Router ID).
    bfd: BTreeMap<(u32, Ipv4Addr), BfdPeer>,
    /// Source of the last OSPFv3 packet from each neighbor (ifindex, Router ID); only
    /// neighbors the router knows are kept.
    neighbor_addrs: BTreeMap<(u32, Ipv4Addr), Ipv6Addr>,
    bfd_rng: StdRng,
    bfd_refused: u64,
    bfd_rx_dropped: u64,
    /// Prefixes handed to the driver for installation (`RouteAdd` passed the filter).
    installed: HashSet<Ipv6Prefix>,
    security: SecurityCounts,
}

impl<A> Debug for Core<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.cfg.name)
            .field("router_id", &self.cfg.router_id)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

/// Why a core could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The failover configuration is invalid.
    #[error("failover policy: {0}")]
    Policy(#[from] anycast_failover::Error),
}

/// The policy's view of an OSPFv3 advertisers answer: (Router ID, metric) of every
/// intra-area advertiser but `me`.
fn peer_adverts(me: Ipv4Addr, advertisers: &[ospfv3::Advertiser]) -> Vec<(RouterId, Metric)> {
    advertisers
        .iter()
        .filter(|a| a.router_id != me && a.kind == RouteKind::IntraArea)
        .map(|a| (RouterId(u32::from(a.router_id)), Metric::from(a.metric)))
        .collect()
}

/// Converts the failover crate's prefix type to the OSPFv3 crate's.
pub fn to_ospf_prefix(p: anycast_failover::Ipv6Prefix) -> Ipv6Prefix {
    Ipv6Prefix::new(p.addr(), p.len())
}

impl<A> Core<A>
where
    A: Clone + Eq + Hash + Debug,
{
    /// Builds the core; nothing is sent before [`Core::start`].
    pub fn new(now: Instant, cfg: CoreConfig<A>) -> Result<Self, CoreError> {
        let mut l2tp_cfg = L2tpConfig::new(cfg.name.as_bytes(), u32::from(cfg.router_id));
        l2tp_cfg.hello_interval = cfg.l2tp.hello;
        l2tp_cfg.secret = cfg.l2tp_secret.as_ref().map(|s| s.expose().to_vec());
        // StdRng is a cryptographic generator (ChaCha12); seeded from the OS unless
        // the lab pins a seed.
        let seed = cfg.seed;
        let rng = |offset: u64| match seed {
            Some(seed) => StdRng::seed_from_u64(seed.wrapping_add(offset)),
            None => rand::make_rng(),
        };
        // Only the configured peers get an answer to an SCCRQ (with the per-peer
        // connection limit of the library's default): anyone else's is dropped before
        // anything is stored.
        l2tp_cfg.allowed_peers_only = true;
        let mut l2tp = Endpoint::new(l2tp_cfg, rng(0));
        for p in &cfg.peers {
            l2tp.allow_peer(p.addr.clone());
        }
        let mut router_cfg = RouterConfig::new(cfg.router_id);
        // RFC 8405's TIME_TO_LEARN is the time to learn every event of one failure.
        // Without BFD a crashed neighbor is detected by each of its neighbors' dead
        // timers, each running from the last Hello that neighbor received: its
        // interfaces' Hello phases differ and Hellos get lost, so the detections of
        // one crash are spread over up to one RouterDeadInterval (all fall between
        // the crash and a dead interval after it). Learning for less put this node's
        // own detection, after a neighbor's new Router-LSA, in LONG_WAIT: 1 s more
        // outage, measured with scripts/failover-bench.sh at 5 % loss (detections
        // 0.7 s and 1.4 s apart).
        let dead = Duration::from_secs(u64::from(cfg.ospf.dead));
        let spf = &mut router_cfg.spf_throttle;
        spf.time_to_learn = spf.time_to_learn.max(dead);
        // With BFD the neighbors of a crashed node detect it tens of milliseconds
        // apart, so this node's own detection usually arrives in SHORT_WAIT, started
        // by a neighbor's new Router-LSA: RFC 8405's 200 ms SHORT_SPF_DELAY then
        // doubled the time from BFD Down to the route move (the lab's crash story at
        // 5 % loss, seed 4: 451 ms), and 50 ms still put the bench's link failure at
        // 310 ms (BFD Down after 242 ms, then 51 ms of SPF delay). An SPF run over
        // these topologies costs microseconds; the delays only batch the events of
        // one change, which 10 ms still does (FRR's usual fast-convergence setting,
        // `timers throttle spf 0 50 ...`, starts at 0). LONG_WAIT (1 s) still limits
        // a storm that outlasts TIME_TO_LEARN.
        spf.initial_delay = Duration::from_millis(10);
        spf.short_delay = Duration::from_millis(10);
        let mut ospf = Router::new(router_cfg, rng(0x05F3));
        // The router reports changes of who advertises the policy's prefixes; the
        // policy first hears the answer at watch time (nobody, before any SPF run).
        let mut advert_changes = BTreeMap::new();
        for p in cfg.policy.iter().flat_map(|p| p.prefixes.iter()) {
            let answer = ospf.watch_prefix(to_ospf_prefix(p.prefix));
            advert_changes.insert(p.prefix, peer_adverts(cfg.router_id, &answer));
        }
        let policy = match &cfg.policy {
            Some(p) => {
                let mut p = p.clone();
                p.router_id = RouterId(u32::from(cfg.router_id));
                Some(Policy::new(now, p)?)
            }
            None => None,
        };
        let esp = cfg
            .peers
            .iter()
            .filter_map(|p| Some((p.addr.clone(), p.esp.clone()?)))
            .collect();
        Ok(Core {
            cfg,
            l2tp,
            ospf,
            policy,
            esp,
            esp_moved: HashSet::new(),
            initiated: HashSet::new(),
            ccid_peers: HashMap::new(),
            reconnect: Vec::new(),
            reconnect_attempts: HashMap::new(),
            ospf_seq_high: None,
            healing: HealingCounts::default(),
            sessions: BTreeMap::new(),
            by_ifindex: BTreeMap::new(),
            peer_adverts: BTreeMap::new(),
            advert_changes,
            out: VecDeque::new(),
            started: false,
            bfd: BTreeMap::new(),
            neighbor_addrs: BTreeMap::new(),
            bfd_rng: rng(0xBFD),
            bfd_refused: 0,
            bfd_rx_dropped: 0,
            installed: HashSet::new(),
            security: SecurityCounts::default(),
        })
    }

    /// Node name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The OSPFv3 router (neighbors, LSDB, routes).
    pub fn ospf(&self) -> &Router<StdRng> {
        &self.ospf
    }

    /// The L2TPv3 endpoint (connections, sessions, counters).
    pub fn l2tp(&self) -> &Endpoint<A, StdRng> {
        &self.l2tp
    }

    /// The failover policy, on servers.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// ESP packet counters of each protected peer: (sealed, opened, dropped).
    pub fn esp_counts(&self) -> Vec<(A, u64, u64, u64)> {
        self.esp
            .iter()
            .map(|(a, e)| {
                let (tx, rx, dropped) = e.counts.get();
                (a.clone(), tx, rx, dropped)
            })
            .collect()
    }

    /// Whether the core itself seals and opens `peer`'s datagrams: it is protected
    /// and no data plane took that over (which then applies [`Via::admits`] itself
    /// and hands the core only what it opened).
    fn seals_here(&self, peer: &A) -> bool {
        self.esp.contains_key(peer) && !self.esp_moved.contains(peer)
    }

    /// The SAs of each protected peer.
    pub fn esp_peer(&self, peer: &A) -> Option<&Arc<EspPeer>> {
        self.esp.get(peer)
    }

    /// Hands the ESP protection of `peer` to a data plane, which seals and opens
    /// every datagram to and from the peer from now on: the core then hands over and
    /// takes that peer's L2TPv3 messages unsealed, and the driver must only give it
    /// what the data plane opened.
    pub fn esp_to_dataplane(&mut self, peer: &A) -> Option<Arc<EspPeer>> {
        let e = self.esp.get(peer)?.clone();
        self.esp_moved.insert(peer.clone());
        Some(e)
    }

    /// Something arrived over the pseudowire on `ifindex` that a data plane carried
    /// past the core (OSPFv3, BFD, data): it counts as liveness of the session
    /// there ([`L2tpTimers::silence`]), as the data the core sees itself does.
    pub fn note_alive(&mut self, now: Instant, ifindex: u32) {
        if let Some(sid) = self.by_ifindex.get(&ifindex)
            && let Some(pw) = self.sessions.get_mut(sid)
        {
            pw.last_rx = now;
        }
    }

    /// The configured name of a peer.
    pub fn peer_name(&self, peer: &A) -> Option<&str> {
        self.cfg
            .peers
            .iter()
            .find(|p| &p.addr == peer)
            .map(|p| p.name.as_str())
    }

    /// The peer behind an attached interface.
    pub fn peer_of_ifindex(&self, ifindex: u32) -> Option<&A> {
        let sid = self.by_ifindex.get(&ifindex)?;
        self.sessions.get(sid).map(|s| &s.peer)
    }

    /// Starts: the loopback interface, and a control connection to every peer this
    /// node initiates to.
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        let (lo, prefixes) = self.cfg.loopback.clone();
        if !prefixes.is_empty() && self.cfg.ospf.enabled {
            self.ospf
                .add_interface(now, lo, InterfaceConfig::loopback(prefixes));
        }
        let to_connect: Vec<A> = self
            .cfg
            .peers
            .iter()
            .filter(|p| p.initiate)
            .map(|p| p.addr.clone())
            .collect();
        for peer in to_connect {
            self.connect(now, peer);
        }
        self.drain(now);
    }

    fn connect(&mut self, now: Instant, peer: A) {
        match self.l2tp.connect(now, peer.clone()) {
            Ok(ccid) => {
                self.initiated.insert(ccid);
                self.ccid_peers.insert(ccid, peer);
            }
            Err(e) => {
                self.out.push_back(Output::Dropped {
                    peer: peer.clone(),
                    reason: format!("connect refused: {e:?}"),
                });
                self.schedule_reconnect(now, peer);
            }
        }
    }

    /// What the security checks dropped or refused so far.
    pub fn security_counts(&self) -> SecurityCounts {
        self.security
    }

    /// Routes handed to the driver for installation and not removed since.
    pub fn installed_routes(&self) -> usize {
        self.installed.len()
    }

    /// A UDP datagram arrived from `from` on the socket the peer is configured for
    /// (ESP for a peer with ESP, clear otherwise); see [`Core::handle_underlay_via`].
    pub fn handle_underlay(&mut self, now: Instant, from: A, datagram: &mut [u8]) {
        let via = match self.seals_here(&from) {
            true => Via::Esp,
            false => Via::Clear,
        };
        self.handle_underlay_via(now, from, via, datagram);
    }

    /// A UDP datagram arrived from `from` on the socket `via`. Dropped (and counted
    /// in [`Core::security_counts`]) without an answer: anything from an address that
    /// is no configured peer, anything from a peer on the other socket than its
    /// protection says, ESP that does not open, and data for a session of another
    /// peer.
    pub fn handle_underlay_via(&mut self, now: Instant, from: A, via: Via, datagram: &mut [u8]) {
        if !self.cfg.peers.iter().any(|p| p.addr == from) {
            self.security.unknown_source += 1;
            self.out.push_back(Output::Dropped {
                peer: from,
                reason: "datagram from an unknown peer".into(),
            });
            return;
        }
        if !via.admits(self.seals_here(&from)) {
            self.security.wrong_protection += 1;
            self.out.push_back(Output::Dropped {
                peer: from,
                reason: match via {
                    Via::Clear => "clear datagram from a peer configured with ESP".into(),
                    Via::Esp => "ESP datagram from a peer configured without ESP".into(),
                    Via::Ike => "IKE message handed to the core".into(),
                },
            });
            return;
        }
        let sealed = self.esp.get(&from).filter(|_| self.seals_here(&from));
        let message: &[u8] = match sealed {
            Some(e) => match e.open(now, datagram) {
                Ok(r) => &datagram[r],
                Err(e) => {
                    self.out.push_back(Output::Dropped {
                        peer: from,
                        reason: e.to_string(),
                    });
                    return;
                }
            },
            None => datagram,
        };
        if let Some(data) = self.l2tp.handle_datagram(now, from.clone(), message)
            && let Some(pw) = self.sessions.get_mut(&data.session_id)
        {
            // A session's data comes from the peer it was set up with (and so, by
            // the check above, under that peer's protection), never from another.
            if pw.peer != from {
                self.security.data_wrong_peer += 1;
                self.out.push_back(Output::Dropped {
                    peer: from,
                    reason: format!("data for session {} of another peer", data.session_id),
                });
            } else {
                // Data counts as liveness ([`L2tpTimers::silence`]).
                pw.last_rx = now;
                if let Some(ifindex) = pw.ifindex {
                    self.out.push_back(Output::Frame {
                        ifindex,
                        frame: data.payload.to_vec(),
                    });
                }
            }
        }
        self.drain(now);
    }

    /// An Ethernet frame was written to interface `ifindex` by the host: send it over
    /// the pseudowire. Returns false when no established pseudowire is attached there.
    pub fn handle_frame(&mut self, now: Instant, ifindex: u32, frame: &[u8]) -> bool {
        let Some(&sid) = self.by_ifindex.get(&ifindex) else {
            return false;
        };
        // The underlay output owns its datagram: the frame goes behind headroom in
        // it and the header is written in place (no second copy).
        let mut datagram = Vec::with_capacity(MAX_DATA_HEADER_LEN + frame.len());
        datagram.resize(MAX_DATA_HEADER_LEN, 0);
        datagram.extend_from_slice(frame);
        let (peer, len) = match self
            .l2tp
            .encapsulate(sid, &mut datagram, MAX_DATA_HEADER_LEN)
        {
            Ok(t) => (t.destination.clone(), t.contents.len()),
            Err(_) => return false,
        };
        datagram.drain(..datagram.len() - len);
        self.send_underlay(now, peer, datagram);
        true
    }

    /// An OSPFv3 packet arrived on `ifindex` (the IPv6 upper-layer payload).
    pub fn handle_ospf(
        &mut self,
        now: Instant,
        ifindex: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        bytes: &[u8],
    ) {
        self.ospf.handle_packet(now, ifindex, src, dst, bytes);
        // The neighbor's link-local address is the source of its packets (RFC 5340
        // 4.2.2); the Router ID sits at offset 4 of the OSPFv3 header. Kept only for
        // neighbors the router accepted, so the table is bounded by its neighbors.
        if let Some(rid) = bytes.get(4..8) {
            let rid = Ipv4Addr::new(rid[0], rid[1], rid[2], rid[3]);
            if self.ospf.neighbors(ifindex).iter().any(|(r, _)| *r == rid) {
                self.neighbor_addrs.insert((ifindex, rid), src);
            }
        }
        self.drain(now);
    }

    /// A BFD Control packet arrived on `ifindex` from `src` (UDP to port 3784) with
    /// this received hop limit. Demultiplexed by Your Discriminator, or by source
    /// address when it is 0 (RFC 5880 6.8.6, RFC 5881 3).
    pub fn handle_bfd(&mut self, now: Instant, ifindex: u32, src: Ipv6Addr, bytes: &[u8], ttl: u8) {
        let your = match bfd::ControlPacket::decode(bytes) {
            Ok(p) => p.your_discriminator,
            Err(_) => {
                self.bfd_rx_dropped += 1;
                return;
            }
        };
        let key = self
            .bfd
            .iter()
            .find(|((i, _), b)| {
                *i == ifindex
                    && if your != 0 {
                        b.session.local_discriminator() == your
                    } else {
                        b.remote == src
                    }
            })
            .map(|(k, _)| *k);
        let Some(key) = key else {
            self.bfd_rx_dropped += 1;
            return;
        };
        if let Some(b) = self.bfd.get_mut(&key) {
            // A refused packet is counted in the session's Stats and changes nothing.
            let _ = b.session.handle_packet(now, bytes, ttl);
        }
        self.drain(now);
    }

    /// The BFD sessions: (ifindex, neighbor Router ID, neighbor link-local, state).
    pub fn bfd_sessions(&self) -> Vec<(u32, Ipv4Addr, Ipv6Addr, bfd::State)> {
        self.bfd
            .iter()
            .map(|((i, r), b)| (*i, *r, b.remote, b.session.state()))
            .collect()
    }

    /// The (ifindex, UDP source port) of every BFD session, for a driver that keeps a
    /// sending socket per session.
    pub fn bfd_source_ports(&self) -> Vec<(u32, u16)> {
        self.bfd
            .iter()
            .map(|((i, _), b)| (*i, b.src_port))
            .collect()
    }

    /// BFD sessions not created because [`MAX_BFD_SESSIONS`] were running.
    pub fn bfd_refused(&self) -> u64 {
        self.bfd_refused
    }

    /// BFD packets that matched no session or did not decode.
    pub fn bfd_rx_dropped(&self) -> u64 {
        self.bfd_rx_dropped
    }

    fn bfd_settings(&self, ifindex: u32) -> Option<BfdSettings> {
        let peer = self.peer_of_ifindex(ifindex)?;
        self.cfg
            .peers
            .iter()
            .find(|p| &p.addr == peer)
            .map(|p| p.bfd)
    }

    /// An OSPFv3 neighbor changed state: a BFD session from 2-Way on, none once the
    /// neighbor is Down (gone).
    fn on_neighbor_state(
        &mut self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        to: ospfv3::NeighborState,
    ) {
        let key = (ifindex, rid);
        if to == ospfv3::NeighborState::Down {
            // A session holding the neighbor down after a BFD Down outlives it.
            if self.bfd.get(&key).is_none_or(|b| b.held_until.is_none()) {
                self.bfd.remove(&key);
                self.neighbor_addrs.remove(&key);
            }
            return;
        }
        if to < ospfv3::NeighborState::TwoWay || self.bfd.contains_key(&key) {
            return;
        }
        let Some(settings) = self.bfd_settings(ifindex).filter(|s| s.enabled) else {
            return;
        };
        let local = self
            .by_ifindex
            .get(&ifindex)
            .and_then(|sid| self.sessions.get(sid))
            .and_then(|pw| pw.link_local);
        let (Some(local), Some(&remote)) = (local, self.neighbor_addrs.get(&key)) else {
            return;
        };
        if self.bfd.len() >= MAX_BFD_SESSIONS {
            self.bfd_refused += 1;
            return;
        }
        let cfg = bfd::Config::new(settings.interval, settings.interval, settings.multiplier);
        let rng = StdRng::from_rng(&mut self.bfd_rng);
        let src_port = bfd::encap::random_source_port(&mut self.bfd_rng);
        match bfd::Session::new(now, cfg, rng) {
            Ok(session) => {
                self.bfd.insert(
                    key,
                    BfdPeer {
                        remote,
                        local,
                        src_port,
                        session,
                        held_until: None,
                    },
                );
            }
            // Settings are validated by the configuration; counted, should one slip.
            Err(_) => self.bfd_refused += 1,
        }
    }

    fn drain_bfd(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let mut downs = Vec::new();
        let mut ups = Vec::new();
        let hold = Duration::from_secs(u64::from(self.cfg.ospf.dead));
        for (&(ifindex, router_id), b) in self.bfd.iter_mut() {
            while let Some(t) = b.session.poll_transmit() {
                self.out.push_back(Output::Bfd {
                    ifindex,
                    src: b.local,
                    dst: b.remote,
                    src_port: b.src_port,
                    payload: t.payload().to_vec(),
                });
                moved = true;
            }
            while let Some(ev) = b.session.poll_event() {
                if let bfd::Event::StateChanged { from, to, diag } = ev {
                    if from == bfd::State::Up && to != bfd::State::Up {
                        downs.push((ifindex, router_id));
                        b.held_until = Some(now + hold);
                    }
                    if to == bfd::State::Up && b.held_until.take().is_some() {
                        ups.push((ifindex, router_id));
                    }
                    self.out.push_back(Output::BfdState {
                        ifindex,
                        router_id,
                        from,
                        to,
                        diag,
                    });
                }
                moved = true;
            }
        }
        // RFC 5882 4.1: a BFD session going Down takes the OSPFv3 neighbor down at
        // once, and (4.3) the adjacency returns when the session is Up again: until
        // then the neighbor's hellos are ignored. The hold is bounded by the
        // RouterDeadInterval, since a peer that restarted starts its BFD session only
        // once it sees us at 2-Way, which the hold prevents; then the session is
        // dropped and hellos bring the neighbor (and a new session) back as usual.
        for (ifindex, rid) in downs {
            self.ospf.neighbor_down(now, ifindex, rid);
            self.ospf.set_neighbor_hold(ifindex, rid, true);
            moved = true;
        }
        for (ifindex, rid) in ups {
            self.ospf.set_neighbor_hold(ifindex, rid, false);
        }
        moved
    }

    /// The driver created interface `ifindex` with `link_local` for a session that came
    /// up: OSPFv3 starts on it.
    pub fn attach(&mut self, now: Instant, session_id: u32, ifindex: u32, link_local: Ipv6Addr) {
        let Some(pw) = self.sessions.get_mut(&session_id) else {
            return;
        };
        pw.ifindex = Some(ifindex);
        pw.link_local = Some(link_local);
        let peer = pw.peer.clone();
        self.by_ifindex.insert(ifindex, session_id);
        let t = self.cfg.ospf;
        if !t.enabled {
            return;
        }
        let mut ic = InterfaceConfig::point_to_point(link_local).with_timers(t.hello, t.dead);
        ic.cost = t.cost;
        ic.mtu = t.mtu;
        if let Some(auth) = &self.cfg.ospf_auth {
            let frr = self
                .cfg
                .peers
                .iter()
                .find(|p| p.addr == peer)
                .is_some_and(|p| p.ospf_auth_frr_compat);
            let mut a = auth.interface_auth(frr);
            if let Some(h) = self.ospf_seq_high {
                a.stored_seq_high = Some(a.stored_seq_high.map_or(h, |s| s.max(h)));
            }
            ic.auth = Some(a);
        }
        self.ospf.add_interface(now, ifindex, ic);
        self.drain(now);
    }

    /// The driver's interface `ifindex` is gone (its TAP device was deleted): OSPFv3
    /// and BFD on it end; the pseudowire stays, to be [attached](Core::attach) again
    /// to the device that replaces it.
    pub fn detach(&mut self, now: Instant, ifindex: u32) {
        let Some(sid) = self.by_ifindex.remove(&ifindex) else {
            return;
        };
        if let Some(pw) = self.sessions.get_mut(&sid) {
            pw.ifindex = None;
            pw.link_local = None;
        }
        if self.cfg.ospf.enabled {
            self.ospf.remove_interface(now, ifindex);
        }
        self.bfd.retain(|(i, _), _| *i != ifindex);
        self.neighbor_addrs.retain(|(i, _), _| *i != ifindex);
        self.drain(now);
    }

    /// The newest pseudowire session with `peer`, if one is up.
    pub fn session_of_peer(&self, peer: &A) -> Option<u32> {
        self.sessions
            .iter()
            .filter(|(_, pw)| &pw.peer == peer)
            .map(|(sid, _)| *sid)
            .last()
    }

    /// The probes of the policy's checks, to run at their intervals.
    pub fn checks(&self) -> Vec<(CheckId, anycast_failover::CheckSpec)> {
        self.policy
            .iter()
            .flat_map(|p| p.checks().map(|(id, _, spec)| (id, spec.clone())))
            .collect()
    }

    /// A probe finished.
    pub fn handle_probe_result(&mut self, now: Instant, check: CheckId, result: ProbeResult) {
        if let Some(p) = self.policy.as_mut() {
            // An unknown check id is a driver bug; the policy says so and changes nothing.
            let _ = p.handle_probe_result(now, check, result);
        }
        self.drain(now);
    }

    /// An operator or daemon command for every prefix (for example `Shutdown`).
    pub fn handle_command(&mut self, now: Instant, command: AdminCommand) {
        if let Some(p) = self.policy.as_mut() {
            let _ = p.handle_command(now, Scope::All, command);
        }
        self.drain(now);
    }

    /// Closes every control connection (StopCCN), for a clean exit.
    pub fn close_all(&mut self, now: Instant) {
        let conns: Vec<u32> = self.ccid_peers.keys().copied().collect();
        for ccid in conns {
            let _ = self.l2tp.close_connection(
                now,
                ccid,
                l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
            );
        }
        self.reconnect.clear();
        self.cfg.peers.iter_mut().for_each(|p| p.initiate = false);
        self.drain(now);
    }

    /// When [`Core::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return None;
        }
        [
            self.l2tp.poll_timeout(),
            self.ospf.poll_timeout(),
            self.policy.as_ref().and_then(Policy::poll_timeout),
            self.reconnect.iter().map(|(t, _)| *t).min(),
            self.cfg
                .l2tp
                .silence
                .and_then(|d| self.sessions.values().map(|pw| pw.last_rx + d).min()),
            self.bfd
                .values()
                .filter_map(|b| b.session.poll_timeout())
                .min(),
            self.bfd.values().filter_map(|b| b.held_until).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Harmless when nothing is due (the l2tpv3 contract): no guard needed.
        self.l2tp.handle_timeout(now);
        if self.ospf.poll_timeout().is_some_and(|t| t <= now) {
            self.ospf.handle_timeout(now);
        }
        if let Some(p) = self.policy.as_mut()
            && p.poll_timeout().is_some_and(|t| t <= now)
        {
            p.handle_timeout(now);
        }
        for b in self.bfd.values_mut() {
            b.session.handle_timeout(now);
        }
        let expired: Vec<(u32, Ipv4Addr)> = self
            .bfd
            .iter()
            .filter(|(_, b)| b.held_until.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for (ifindex, rid) in expired {
            self.ospf.set_neighbor_hold(ifindex, rid, false);
            self.bfd.remove(&(ifindex, rid));
        }
        self.close_silent(now);
        let (due, later): (Vec<_>, Vec<_>) = self.reconnect.drain(..).partition(|(t, _)| *t <= now);
        self.reconnect = later;
        for (_, peer) in due {
            if self.cfg.peers.iter().any(|p| p.addr == peer && p.initiate) {
                self.connect(now, peer);
            }
        }
        self.drain(now);
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<Output<A>> {
        self.out.pop_front()
    }

    fn send_underlay(&mut self, now: Instant, peer: A, msg: Vec<u8>) {
        let sealed = self.esp.get(&peer).filter(|_| self.seals_here(&peer));
        let datagram = match sealed {
            Some(e) => match e.seal_message(now, &msg) {
                Ok(d) => d,
                Err(e) => {
                    self.out.push_back(Output::Dropped {
                        peer,
                        reason: e.to_string(),
                    });
                    return;
                }
            },
            None => msg,
        };
        self.out.push_back(Output::Underlay { peer, datagram });
    }

    fn on_l2tp_event(&mut self, now: Instant, ev: L2tpEvent<A>) {
        if let L2tpEvent::ConnectionUp { ccid, peer, .. } = &ev {
            self.ccid_peers.insert(*ccid, peer.clone());
            self.reconnect_attempts.remove(peer);
        }
        match &ev {
            L2tpEvent::ConnectionUp { ccid, .. } if self.initiated.contains(ccid) => {
                let req = SessionRequest::ethernet(self.cfg.name.as_bytes().to_vec());
                if let Err(e) = self.l2tp.open_session(now, *ccid, req)
                    && let L2tpEvent::ConnectionUp { peer, .. } = &ev
                {
                    self.out.push_back(Output::Dropped {
                        peer: peer.clone(),
                        reason: format!("open session refused: {e:?}"),
                    });
                }
            }
            L2tpEvent::ConnectionDown { ccid, .. } => {
                let peer = self.ccid_peers.remove(ccid);
                if self.initiated.remove(ccid)
                    && let Some(peer) = peer
                {
                    self.schedule_reconnect(now, peer);
                }
            }
            L2tpEvent::SessionUp {
                ccid, session_id, ..
            } => {
                // A peer that set up a new control connection while its old one still
                // stands has restarted: the old connection is stale and goes (its
                // session's end leaves the interface to the new one).
                if let Some(peer) = self.peer_for_ccid(*ccid) {
                    let stale: Vec<(u32, u32)> = self
                        .sessions
                        .iter()
                        .filter(|(_, pw)| pw.peer == peer)
                        .filter_map(|(sid, _)| self.l2tp.session(*sid).map(|s| (*sid, s.ccid)))
                        .filter(|(_, c)| c != ccid)
                        .collect();
                    for (sid, old) in stale {
                        self.healing.replaced += 1;
                        if let Some(pw) = self.sessions.remove(&sid) {
                            if let Some(ifindex) =
                                pw.ifindex.filter(|i| self.by_ifindex.get(i) == Some(&sid))
                            {
                                self.by_ifindex.remove(&ifindex);
                                self.ospf.remove_interface(now, ifindex);
                                self.bfd.retain(|(i, _), _| *i != ifindex);
                                self.neighbor_addrs.retain(|(i, _), _| *i != ifindex);
                            }
                            self.out.push_back(Output::PseudowireDown {
                                session_id: sid,
                                ifindex: pw.ifindex,
                            });
                        }
                        let _ = self.l2tp.close_connection(
                            now,
                            old,
                            l2tpv3::avp::ResultCode::new(
                                l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR,
                            ),
                        );
                    }
                }
                if let Some(peer) = self.peer_for_ccid(*ccid)
                    && self.sessions.values().any(|pw| pw.peer == peer)
                {
                    // One pseudowire per peer: a second one would re-attach the
                    // first one's interface, and its end would remove it.
                    self.security.extra_sessions_refused += 1;
                    let _ = self.l2tp.close_session(now, *session_id);
                    self.out.push_back(Output::Dropped {
                        peer,
                        reason: format!(
                            "session {session_id} refused (CDN): the peer already has a pseudowire"
                        ),
                    });
                    return;
                }
                if let Some(peer) = self.peer_for_ccid(*ccid) {
                    let peer_name = self.peer_name(&peer).unwrap_or("?").to_string();
                    self.sessions.insert(
                        *session_id,
                        Pseudowire {
                            peer: peer.clone(),
                            ifindex: None,
                            link_local: None,
                            last_rx: now,
                        },
                    );
                    self.out.push_back(Output::L2tpEvent(ev.clone()));
                    self.out.push_back(Output::PseudowireUp {
                        session_id: *session_id,
                        peer,
                        peer_name,
                    });
                    return;
                }
            }
            L2tpEvent::SessionDown { session_id, .. } => {
                if let Some(pw) = self.sessions.remove(session_id) {
                    // The interface may carry a newer session with the same peer by
                    // now (a peer that restarted): then it stays.
                    if let Some(ifindex) = pw
                        .ifindex
                        .filter(|i| self.by_ifindex.get(i) == Some(session_id))
                    {
                        self.by_ifindex.remove(&ifindex);
                        self.ospf.remove_interface(now, ifindex);
                        self.bfd.retain(|(i, _), _| *i != ifindex);
                        self.neighbor_addrs.retain(|(i, _), _| *i != ifindex);
                    }
                    self.out.push_back(Output::L2tpEvent(ev.clone()));
                    self.out.push_back(Output::PseudowireDown {
                        session_id: *session_id,
                        ifindex: pw.ifindex,
                    });
                    return;
                }
            }
            _ => {}
        }
        self.out.push_back(Output::L2tpEvent(ev));
    }

    /// Schedules a new connection to `peer` after the back-off delay.
    fn schedule_reconnect(&mut self, now: Instant, peer: A) {
        let attempt = self.reconnect_attempts.entry(peer.clone()).or_insert(0);
        let delay = self.cfg.l2tp.reconnect_delay(*attempt);
        *attempt = attempt.saturating_add(1);
        self.healing.reconnects += 1;
        self.reconnect.push((now + delay, peer));
    }

    /// Closes the control connections of pseudowires silent for longer than
    /// [`L2tpTimers::silence`] (the peer crashed or restarted).
    fn close_silent(&mut self, now: Instant) {
        let Some(silence) = self.cfg.l2tp.silence else {
            return;
        };
        let silent: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, pw)| pw.last_rx + silence <= now)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in silent {
            let Some(ccid) = self.l2tp.session(sid).map(|s| s.ccid) else {
                continue;
            };
            self.healing.silent_closed += 1;
            // Refreshed so that a connection that cannot close at once is not
            // closed again on every timer.
            if let Some(pw) = self.sessions.get_mut(&sid) {
                pw.last_rx = now;
            }
            let _ = self.l2tp.close_connection(
                now,
                ccid,
                l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
            );
        }
    }

    /// The peer is known to have restarted (its IKEv2 told, [`crate::ike`]): its
    /// end of every control connection with it is gone, so ours are closed now and,
    /// where this node initiates, opened again at once, instead of waiting for the
    /// pseudowire to go silent ([`L2tpTimers::silence`]). Counted as replaced.
    pub fn peer_restarted(&mut self, now: Instant, peer: &A) {
        let ccids: Vec<u32> = self
            .ccid_peers
            .iter()
            .filter(|(_, a)| *a == peer)
            .map(|(c, _)| *c)
            .collect();
        for ccid in ccids {
            self.healing.replaced += 1;
            let _ = self.l2tp.close_connection(
                now,
                ccid,
                l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
            );
        }
        self.reconnect_attempts.remove(peer);
        self.drain(now);
    }

    /// Self-healing counters.
    pub fn healing_counts(&self) -> HealingCounts {
        self.healing
    }

    fn peer_for_ccid(&self, ccid: u32) -> Option<A> {
        self.ccid_peers.get(&ccid).cloned()
    }

    /// What the other reachable routers advertise for a watched prefix, from the
    /// OSPFv3 router's answer (its SPF result: the two-way check of RFC 5340 4.8.1
    /// included, so a crashed router whose LSAs have not aged out no longer counts):
    /// (Router ID, metric) of each intra-area advertiser but ourselves.
    fn note_advertisers(&mut self, prefix: Ipv6Prefix, advertisers: &[ospfv3::Advertiser]) {
        let adverts = peer_adverts(self.cfg.router_id, advertisers);
        for p in self.cfg.policy.iter().flat_map(|p| p.prefixes.iter()) {
            if to_ospf_prefix(p.prefix) == prefix {
                self.advert_changes.insert(p.prefix, adverts.clone());
            }
        }
    }

    /// Moves every output of the three machines into the queue until all are quiet.
    fn drain(&mut self, now: Instant) {
        // Bounded: each round either moves something or ends the loop; the policy
        // and the router only produce finitely many outputs per input.
        for _ in 0..64 {
            let mut moved = false;
            while let Some(t) = self.l2tp.poll_transmit() {
                self.send_underlay(now, t.destination, t.contents);
                moved = true;
            }
            while let Some(ev) = self.l2tp.poll_event() {
                self.on_l2tp_event(now, ev);
                moved = true;
            }
            self.drain_ospf(now);
            moved |= self.drain_bfd(now);
            self.drain_ospf(now);
            for (prefix, adverts) in std::mem::take(&mut self.advert_changes) {
                if self.peer_adverts.get(&prefix) != Some(&adverts) {
                    if let Some(p) = self.policy.as_mut() {
                        let _ = p.handle_peer_advertisements(now, prefix, adverts.iter().copied());
                    }
                    self.peer_adverts.insert(prefix, adverts);
                    moved = true;
                }
            }
            while let Some(action) = self.policy.as_mut().and_then(Policy::poll_action) {
                match action {
                    Action::Advertise { prefix, metric } => {
                        let metric = u16::try_from(metric).unwrap_or(u16::MAX);
                        self.ospf
                            .advertise_prefix(now, to_ospf_prefix(prefix), metric);
                    }
                    Action::Withdraw { prefix } => {
                        self.ospf.withdraw_prefix(now, to_ospf_prefix(prefix));
                    }
                    // Address changes (and any future action) are the daemon's to execute.
                    _ => {}
                }
                self.out.push_back(Output::Action(action));
                // What the advertisement or withdrawal floods goes out before any
                // later action (an address removal) is executed.
                self.drain_ospf(now);
                moved = true;
            }
            while let Some(ev) = self.policy.as_mut().and_then(Policy::poll_event) {
                self.out.push_back(Output::PolicyEvent(ev));
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Whether a learned route may be installed: the filter, the node's own
    /// loopback addresses, and the cap (a route already installed may change).
    fn route_allowed(&self, prefix: Ipv6Prefix) -> Result<(), RouteRefusal> {
        let own: Vec<Ipv6Addr> = self.cfg.loopback.1.iter().map(|p| p.addr).collect();
        self.cfg.routes.check(prefix, &own)?;
        if !self.installed.contains(&prefix) && self.installed.len() >= self.cfg.routes.max_routes {
            return Err(RouteRefusal::Limit);
        }
        Ok(())
    }

    fn drain_ospf(&mut self, now: Instant) {
        while let Some(t) = self.ospf.poll_transmit() {
            self.out.push_back(Output::Ospf(t));
        }
        while let Some(ev) = self.ospf.poll_event() {
            if let OspfEvent::PersistAuthSeqHigh { high, .. } = &ev {
                self.ospf_seq_high = Some(self.ospf_seq_high.map_or(*high, |h| h.max(*high)));
            }
            if let OspfEvent::AdvertisersChanged {
                prefix,
                advertisers,
            } = &ev
            {
                self.note_advertisers(*prefix, advertisers);
            }
            if let OspfEvent::NeighborState {
                ifindex,
                router_id,
                to,
                ..
            } = &ev
            {
                self.on_neighbor_state(now, *ifindex, *router_id, *to);
            }
            match &ev {
                OspfEvent::RouteAdd(route) => {
                    if let Err(reason) = self.route_allowed(route.prefix) {
                        self.security.routes_refused += 1;
                        self.out.push_back(Output::RouteRefused {
                            prefix: route.prefix,
                            reason,
                        });
                        continue;
                    }
                    self.installed.insert(route.prefix);
                }
                // Only what was installed is removed.
                OspfEvent::RouteRemove(prefix) if !self.installed.remove(prefix) => continue,
                _ => {}
            }
            self.out.push_back(Output::OspfEvent(ev));
        }
    }
}

/// Operator and reload operations: `ha_node ctl` ([`crate::control`]) and SIGHUP
/// ([`crate::reload`]).
impl<A> Core<A>
where
    A: Clone + Eq + Hash + Debug,
{
    /// Our control connections (any state) and their peers.
    pub fn connections(&self) -> Vec<(u32, A)> {
        self.ccid_peers
            .iter()
            .map(|(c, a)| (*c, a.clone()))
            .collect()
    }

    /// Interface index of the loopback.
    pub fn loopback_ifindex(&self) -> u32 {
        self.cfg.loopback.0
    }

    /// Whether a learned route was handed to the driver for installation (it passed
    /// the route filter) and not removed since.
    pub fn route_installed(&self, prefix: &Ipv6Prefix) -> bool {
        self.installed.contains(prefix)
    }

    /// The configured peers.
    pub fn peers(&self) -> &[PeerSpec<A>] {
        &self.cfg.peers
    }

    /// An admin command for one prefix or every prefix (`ctl drain PREFIX`).
    pub fn handle_command_scoped(
        &mut self,
        now: Instant,
        scope: Scope,
        command: AdminCommand,
    ) -> Result<(), anycast_failover::Error> {
        let r = match self.policy.as_mut() {
            Some(p) => p.handle_command(now, scope, command),
            None => Ok(()),
        };
        self.drain(now);
        r
    }

    /// Adds a peer (a reload): its ESP SAs, and its control connection when this node
    /// initiates. `Ok(false)` when a peer with this address exists already.
    pub fn add_peer(&mut self, now: Instant, spec: PeerSpec<A>) -> Result<bool, CoreError> {
        if self.cfg.peers.iter().any(|p| p.addr == spec.addr) {
            return Ok(false);
        }
        if let Some(e) = &spec.esp {
            self.esp.insert(spec.addr.clone(), e.clone());
        }
        let (addr, initiate) = (spec.addr.clone(), spec.initiate);
        self.cfg.peers.push(spec);
        if initiate && self.started {
            self.connect(now, addr);
        }
        self.drain(now);
        Ok(true)
    }

    /// Removes a peer (a reload): OSPFv3 and BFD on its pseudowire end at once, its
    /// control connections are closed (StopCCN, sealed with its ESP SA, which is
    /// kept for the retransmissions), nothing reconnects, and its datagrams are
    /// dropped from now on. False when no such peer is configured.
    pub fn remove_peer(&mut self, now: Instant, addr: &A) -> bool {
        let Some(pos) = self.cfg.peers.iter().position(|p| &p.addr == addr) else {
            return false;
        };
        let attached: Vec<u32> = self
            .sessions
            .values()
            .filter(|pw| &pw.peer == addr)
            .filter_map(|pw| pw.ifindex)
            .collect();
        for ifindex in attached {
            self.detach(now, ifindex);
        }
        let ccids: Vec<u32> = self
            .ccid_peers
            .iter()
            .filter(|(_, a)| *a == addr)
            .map(|(c, _)| *c)
            .collect();
        for ccid in ccids {
            let _ = self.l2tp.close_connection(
                now,
                ccid,
                l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
            );
        }
        self.reconnect.retain(|(_, a)| a != addr);
        self.reconnect_attempts.remove(addr);
        self.drain(now);
        self.cfg.peers.remove(pos);
        true
    }

    /// Replaces the failover configuration (a reload) without disturbing the prefixes
    /// that stay ([`Policy::reconfigure`]); the loopback address of a removed prefix
    /// is removed through an [`Output::Action`]. A node without anycast prefixes can
    /// gain them; losing all of them needs a restart. Check identifiers may change:
    /// the driver restarts its probers with [`Core::checks`].
    pub fn reconfigure_policy(
        &mut self,
        now: Instant,
        new: Option<NodeConfig>,
    ) -> Result<(), String> {
        let Some(mut new) = new else {
            if self.policy.is_some() {
                return Err("removing every anycast prefix needs a restart".into());
            }
            return Ok(());
        };
        new.router_id = RouterId(u32::from(self.cfg.router_id));
        let old: Vec<anycast_failover::Ipv6Prefix> = self
            .cfg
            .policy
            .iter()
            .flat_map(|p| p.prefixes.iter().map(|c| c.prefix))
            .collect();
        let removals = match self.policy.as_mut() {
            Some(p) => p.reconfigure(now, new.clone()).map_err(|e| e.to_string())?,
            None => {
                self.policy = Some(Policy::new(now, new.clone()).map_err(|e| e.to_string())?);
                Vec::new()
            }
        };
        for prefix in old
            .iter()
            .filter(|o| !new.prefixes.iter().any(|c| c.prefix == **o))
        {
            self.ospf.unwatch_prefix(&to_ospf_prefix(*prefix));
            self.peer_adverts.remove(prefix);
            self.advert_changes.remove(prefix);
        }
        for c in new.prefixes.iter().filter(|c| !old.contains(&c.prefix)) {
            let answer = self.ospf.watch_prefix(to_ospf_prefix(c.prefix));
            self.advert_changes
                .insert(c.prefix, peer_adverts(self.cfg.router_id, &answer));
        }
        self.cfg.policy = Some(new);
        for a in removals {
            self.out.push_back(Output::Action(a));
        }
        self.drain(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    /// The protection rule the core and the data plane share: a protected peer only
    /// through ESP, an unprotected one only in clear.
    #[test]
    fn via_admits_only_the_peers_own_protection() {
        assert!(Via::Esp.admits(true));
        assert!(Via::Clear.admits(false));
        assert!(
            !Via::Clear.admits(true),
            "clear datagram in a protected peer's name"
        );
        assert!(!Via::Esp.admits(false), "ESP in an unprotected peer's name");
    }

    fn cfg(name: &str, rid: u8, peer: &str, initiate: bool) -> CoreConfig<String> {
        CoreConfig {
            name: name.into(),
            router_id: Ipv4Addr::new(rid, rid, rid, rid),
            peers: vec![PeerSpec {
                addr: peer.into(),
                name: peer.into(),
                initiate,
                esp: None,
                bfd: BfdSettings::default(),
                ospf_auth_frr_compat: false,
            }],
            ospf: OspfTimers::default(),
            l2tp: L2tpTimers::default(),
            loopback: (1, vec![Ipv6Prefix::new(Ipv6Addr::LOCALHOST, 128)]),
            policy: None,
            l2tp_secret: Some(Secret::from("k")),
            ospf_auth: None,
            routes: RouteFilter::default(),
            seed: Some(u64::from(rid)),
        }
    }

    /// Shuttles underlay datagrams between two cores until both are quiet; attaches
    /// pseudowires as interface 10. Returns every datagram seen.
    fn pump(now: Instant, a: &mut Core<String>, b: &mut Core<String>) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        for _ in 0..100 {
            let moved = step(now, a, b, &mut seen) | step(now, b, a, &mut seen);
            if !moved {
                break;
            }
        }
        seen
    }

    /// Drains `me`, delivering its datagrams to `other`.
    fn step(
        now: Instant,
        me: &mut Core<String>,
        other: &mut Core<String>,
        seen: &mut Vec<Vec<u8>>,
    ) -> bool {
        let mut moved = false;
        while let Some(o) = me.poll_output() {
            match o {
                Output::Underlay { mut datagram, .. } => {
                    seen.push(datagram.clone());
                    let src = me.name().to_string();
                    other.handle_underlay(now, src, &mut datagram);
                    moved = true;
                }
                Output::PseudowireUp { session_id, .. } => {
                    me.attach(now, session_id, 10, "fe80::1".parse().unwrap());
                    moved = true;
                }
                _ => {}
            }
        }
        moved
    }

    #[test]
    fn a_restarted_peer_replaces_its_old_pseudowire() {
        let now = Instant::now();
        let mut a = Core::new(now, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(now, cfg("b", 2, "a", false)).unwrap();
        a.start(now);
        b.start(now);
        pump(now, &mut a, &mut b);
        let old = b
            .session_of_peer(&"a".to_string())
            .expect("first pseudowire");
        // `a` restarts: a fresh core (other random IDs) connects again while `b`
        // still holds the old connection.
        let mut again = cfg("a", 1, "b", true);
        again.seed = Some(77);
        let mut a2 = Core::new(now, again).unwrap();
        a2.start(now);
        pump(now, &mut a2, &mut b);
        let new = b.session_of_peer(&"a".to_string()).expect("new pseudowire");
        assert_ne!(new, old);
        assert_eq!(b.healing_counts().replaced, 1);
        assert_eq!(b.sessions.len(), 1, "the old pseudowire stayed");
        assert_eq!(b.by_ifindex.get(&10), Some(&new));
        assert!(b.handle_frame(now, 10, b"a frame for the restarted peer"));
    }

    /// An interface attached again (its TAP reopened) resumes the RFC 7166 sequence
    /// numbers above the ones it used: the neighbor takes its packets, not replays.
    #[test]
    fn a_reattached_interface_is_not_taken_for_a_replay() {
        let t0 = Instant::now();
        let auth = || {
            Some(crate::security::OspfAuth {
                sa_id: 1,
                key: Secret::from("ospf-key"),
                seq_high: Some(1000),
            })
        };
        let (mut ca, mut cb) = (cfg("a", 1, "b", true), cfg("b", 2, "a", false));
        ca.ospf_auth = auth();
        cb.ospf_auth = auth();
        let mut a = Core::new(t0, ca).unwrap();
        let mut b = Core::new(t0, cb).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        let full = |c: &Core<String>, rid: u8| {
            c.ospf().neighbors(10).iter().any(|n| {
                n.0 == Ipv4Addr::new(rid, rid, rid, rid) && n.1 == ospfv3::NeighborState::Full
            })
        };
        let now = run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert!(full(&b, 1), "no adjacency at first");
        let sid = a.session_of_peer(&"b".to_string()).unwrap();
        a.detach(now, 10);
        a.attach(now, sid, 10, "fe80::a".parse().unwrap());
        let failures = b.ospf().counters().rx_auth_failures;
        run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert!(
            full(&b, 1),
            "b does not take a's packets after a re-attached"
        );
        assert!(full(&a, 2));
        assert_eq!(b.ospf().counters().rx_auth_failures, failures);
    }

    #[test]
    fn a_silent_pseudowire_is_closed_and_reconnected() {
        let t0 = Instant::now();
        let mut ca = cfg("a", 1, "b", true);
        ca.l2tp.silence = Some(Duration::from_secs(3));
        ca.l2tp.reconnect_min = Duration::from_millis(500);
        let mut a = Core::new(t0, ca).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        pump(t0, &mut a, &mut b);
        assert!(a.session_of_peer(&"b".to_string()).is_some());
        // `b` is gone: nothing arrives any more.
        let mut now = t0;
        while now < t0 + Duration::from_secs(2) {
            now += Duration::from_millis(100);
            a.handle_timeout(now);
            while a.poll_output().is_some() {}
        }
        assert_eq!(
            a.healing_counts().silent_closed,
            0,
            "closed before the silence"
        );
        while now < t0 + Duration::from_secs(30) {
            now += Duration::from_millis(100);
            a.handle_timeout(now);
            while a.poll_output().is_some() {}
        }
        assert_eq!(a.healing_counts().silent_closed, 1);
        assert!(a.healing_counts().reconnects >= 1, "no reconnection");
        assert!(a.session_of_peer(&"b".to_string()).is_none());
    }

    #[test]
    fn reconnect_delay_doubles_up_to_its_cap() {
        let t = L2tpTimers {
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            ..L2tpTimers::default()
        };
        assert_eq!(t.reconnect_delay(0), Duration::from_millis(500));
        assert_eq!(t.reconnect_delay(1), Duration::from_secs(1));
        assert_eq!(t.reconnect_delay(3), Duration::from_secs(4));
        assert_eq!(t.reconnect_delay(10), Duration::from_secs(30));
        assert_eq!(t.reconnect_delay(u32::MAX), Duration::from_secs(30));
        // The old behaviour by default: 5 s, always.
        let d = L2tpTimers::default();
        assert_eq!(d.reconnect_delay(0), RECONNECT_DELAY);
        assert_eq!(d.reconnect_delay(7), RECONNECT_DELAY);
    }

    #[test]
    fn pseudowire_comes_up_and_carries_frames() {
        let now = Instant::now();
        let mut a = Core::new(now, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(now, cfg("b", 2, "a", false)).unwrap();
        a.start(now);
        b.start(now);
        pump(now, &mut a, &mut b);
        assert!(a.handle_frame(now, 10, b"an ethernet frame"));
        let mut frames = Vec::new();
        while let Some(o) = a.poll_output() {
            if let Output::Underlay { mut datagram, .. } = o {
                b.handle_underlay(now, "a".into(), &mut datagram);
            }
        }
        while let Some(o) = b.poll_output() {
            if let Output::Frame { ifindex, frame } = o {
                frames.push((ifindex, frame));
            }
        }
        assert_eq!(frames, vec![(10, b"an ethernet frame".to_vec())]);
        assert!(!a.handle_frame(now, 99, b"no such interface"));
    }

    /// Runs two cores joined by one pseudowire (interface 10 on both, link-locals
    /// fe80::a and fe80::b) in virtual time from `from` for `dur`; `link` says whether
    /// what each sends reaches the other; BFD packets arrive with hop limit `ttl`.
    #[allow(clippy::too_many_arguments)]
    fn run_pair(
        a: &mut Core<String>,
        b: &mut Core<String>,
        from: Instant,
        dur: Duration,
        link: bool,
        ttl: u8,
        log: &mut Vec<(Duration, String, bfd::State, bfd::State)>,
        t0: Instant,
    ) -> Instant {
        let mut now = from;
        while now < from + dur {
            a.handle_timeout(now);
            b.handle_timeout(now);
            for _ in 0..100 {
                let moved = deliver(0, a, b, now, link, ttl, log, t0)
                    | deliver(1, b, a, now, link, ttl, log, t0);
                if !moved {
                    break;
                }
            }
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + dur);
            now = next.max(now + Duration::from_micros(1));
        }
        now
    }

    /// Drains core `i` of a pair (see [`run_pair`]) into the other.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        i: usize,
        me: &mut Core<String>,
        other: &mut Core<String>,
        now: Instant,
        link: bool,
        ttl: u8,
        log: &mut Vec<(Duration, String, bfd::State, bfd::State)>,
        t0: Instant,
    ) -> bool {
        let lls: [Ipv6Addr; 2] = ["fe80::a".parse().unwrap(), "fe80::b".parse().unwrap()];
        let mut moved = false;
        while let Some(o) = me.poll_output() {
            moved = true;
            match o {
                Output::Underlay { mut datagram, .. } => {
                    let src = me.name().to_string();
                    other.handle_underlay(now, src, &mut datagram);
                }
                Output::PseudowireUp { session_id, .. } => {
                    me.attach(now, session_id, 10, lls[i]);
                }
                Output::Ospf(t) if link => {
                    other.handle_ospf(now, 10, t.src, t.dst, &t.bytes);
                }
                Output::Bfd {
                    src, dst, payload, ..
                } if link => {
                    assert_eq!((src, dst), (lls[i], lls[1 - i]));
                    other.handle_bfd(now, 10, src, &payload, ttl);
                }
                Output::BfdState { from, to, .. } => {
                    log.push((now - t0, me.name().to_string(), from, to));
                }
                _ => {}
            }
        }
        moved
    }

    fn bfd_state(c: &Core<String>) -> Option<bfd::State> {
        c.bfd_sessions().first().map(|s| s.3)
    }

    /// A BFD session starts with the OSPFv3 neighbor, comes Up, and when the peer
    /// falls silent takes the neighbor down after the detection time, long before the
    /// OSPFv3 dead interval (4 s); the peer coming back brings both back.
    #[test]
    fn bfd_down_takes_the_ospf_neighbor_down_at_once() {
        let t0 = Instant::now();
        let mut a = Core::new(t0, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        let rid_b = Ipv4Addr::new(2, 2, 2, 2);
        let now = run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert_eq!(bfd_state(&a), Some(bfd::State::Up), "{log:?}");
        assert_eq!(bfd_state(&b), Some(bfd::State::Up), "{log:?}");
        assert_eq!(a.bfd_sessions()[0].1, rid_b);
        assert_eq!(
            a.bfd_sessions()[0].2,
            "fe80::b".parse::<Ipv6Addr>().unwrap()
        );
        assert!(a.ospf().neighbors(10).iter().any(|n| n.0 == rid_b));
        // The link goes silent for 1 s: BFD (50 ms x 5) detects it, the neighbor goes.
        let now = run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_secs(1),
            false,
            255,
            &mut log,
            t0,
        );
        assert!(
            log.iter()
                .any(|l| l.1 == "a" && l.2 == bfd::State::Up && l.3 == bfd::State::Down),
            "{log:?}"
        );
        assert!(a.ospf().neighbors(10).is_empty(), "neighbor still there");
        // The session stays, Down, holding the neighbor's hellos off until it is Up.
        assert_eq!(bfd_state(&a), Some(bfd::State::Down));
        // Back: the sessions come Up again, then hellos re-form the neighbor.
        run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert!(a.ospf().neighbors(10).iter().any(|n| n.0 == rid_b));
        assert_eq!(bfd_state(&a), Some(bfd::State::Up), "{log:?}");
    }

    /// After a BFD Down the neighbor is held down while BFD stays down (here: BFD
    /// packets refused for their hop limit while hellos pass), and released after the
    /// RouterDeadInterval (4 s), when hellos bring it back.
    #[test]
    fn bfd_hold_down_is_bounded_by_the_dead_interval() {
        let t0 = Instant::now();
        let mut a = Core::new(t0, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        let rid_b = Ipv4Addr::new(2, 2, 2, 2);
        let two_way = |c: &Core<String>| {
            c.ospf()
                .neighbors(10)
                .iter()
                .any(|n| n.0 == rid_b && n.1 >= ospfv3::NeighborState::TwoWay)
        };
        let now = run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert_eq!(bfd_state(&a), Some(bfd::State::Up));
        let now = run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_millis(600),
            false,
            255,
            &mut log,
            t0,
        );
        assert!(a.ospf().neighbors(10).is_empty());
        // Hellos pass again, BFD does not: held for now (2 s, hello every 1 s) ...
        let now = run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_secs(2),
            true,
            254,
            &mut log,
            t0,
        );
        assert!(!two_way(&a), "neighbor back while BFD is down");
        // ... and back once the hold (4 s from the Down) has run out.
        run_pair(
            &mut a,
            &mut b,
            now,
            Duration::from_secs(6),
            true,
            254,
            &mut log,
            t0,
        );
        assert!(two_way(&a), "neighbor not back after the hold");
    }

    /// BFD packets that did not arrive with hop limit 255 are refused (RFC 5881 5):
    /// the sessions never come Up.
    #[test]
    fn bfd_refuses_packets_not_sent_with_hop_limit_255() {
        let t0 = Instant::now();
        let mut a = Core::new(t0, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            254,
            &mut log,
            t0,
        );
        assert!(
            a.ospf()
                .neighbors(10)
                .iter()
                .any(|n| n.1 >= ospfv3::NeighborState::TwoWay)
        );
        assert_eq!(bfd_state(&a), Some(bfd::State::Down));
        assert!(log.is_empty(), "{log:?}");
    }

    /// Mutated BFD packets (and ones on the wrong interface, from the wrong address,
    /// with the wrong hop limit) never panic the core and are counted when dropped.
    #[test]
    fn hostile_bfd_input_does_not_panic() {
        let t0 = Instant::now();
        let mut a = Core::new(t0, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        let now = run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert_eq!(bfd_state(&a), Some(bfd::State::Up));
        let mut seen = Vec::new();
        let mut t = now;
        while seen.len() < 4 {
            t = b.poll_timeout().unwrap();
            b.handle_timeout(t);
            while let Some(o) = b.poll_output() {
                if let Output::Bfd { payload, .. } = o {
                    seen.push(payload);
                }
            }
        }
        let ll_b: Ipv6Addr = "fe80::b".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        for i in 0..5_000u32 {
            let mut d = seen[(rng.next_u32() as usize) % seen.len()].clone();
            let at = (rng.next_u32() as usize) % d.len();
            d[at] ^= 1 << (rng.next_u32() % 8);
            if i % 3 == 0 {
                d.truncate((rng.next_u32() as usize) % (d.len() + 1));
            }
            let (ifindex, ttl) = match i % 4 {
                0 => (10, 255),
                1 => (11, 255),
                2 => (10, rng.next_u32() as u8),
                _ => (10, 255),
            };
            a.handle_bfd(t, ifindex, ll_b, &d, ttl);
            a.handle_bfd(t, 10, Ipv6Addr::LOCALHOST, &d, 255);
            while a.poll_output().is_some() {}
        }
        assert!(a.bfd_rx_dropped() > 0);
        // A bit flip either fails a check or is a valid packet with other values (a
        // flipped state bit may take the session down); the table stays one session.
        assert!(a.bfd_sessions().len() <= 1);
    }

    /// `enabled = false` for a peer: no BFD session on its pseudowire.
    #[test]
    fn bfd_disabled_per_peer_runs_no_session() {
        let t0 = Instant::now();
        let mut ca = cfg("a", 1, "b", true);
        ca.peers[0].bfd.enabled = false;
        let mut a = Core::new(t0, ca).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        let mut log = Vec::new();
        run_pair(
            &mut a,
            &mut b,
            t0,
            Duration::from_secs(10),
            true,
            255,
            &mut log,
            t0,
        );
        assert!(
            a.ospf()
                .neighbors(10)
                .iter()
                .any(|n| n.1 >= ospfv3::NeighborState::TwoWay)
        );
        assert!(a.bfd_sessions().is_empty());
        // b runs one, which never comes Up with nobody answering.
        assert_eq!(bfd_state(&b), Some(bfd::State::Down));
    }

    /// Mutated and random underlay datagrams and OSPFv3 packets never panic the core.
    #[test]
    fn hostile_input_does_not_panic() {
        let now = Instant::now();
        let mut a = Core::new(now, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(now, cfg("b", 2, "a", false)).unwrap();
        a.start(now);
        b.start(now);
        let mut seen = pump(now, &mut a, &mut b);
        assert!(seen.len() >= 4, "handshake datagrams: {}", seen.len());
        // A data message too, so that the data path gets mutated input.
        assert!(a.handle_frame(now, 10, &[0xab; 60]));
        while let Some(o) = a.poll_output() {
            if let Output::Underlay { datagram, .. } = o {
                seen.push(datagram);
            }
        }
        let mut rng = StdRng::seed_from_u64(99);
        for i in 0..20_000u32 {
            let mut d = seen[(rng.next_u32() as usize) % seen.len()].clone();
            match i % 4 {
                0 => {
                    let at = (rng.next_u32() as usize) % d.len().max(1);
                    if let Some(x) = d.get_mut(at) {
                        *x ^= 1 << (rng.next_u32() % 8);
                    }
                }
                1 => d.truncate((rng.next_u32() as usize) % (d.len() + 1)),
                2 => {
                    let n = (rng.next_u32() % 64) as usize;
                    d.extend((0..n).map(|_| rng.next_u32() as u8));
                }
                _ => {
                    d = (0..(rng.next_u32() % 80))
                        .map(|_| rng.next_u32() as u8)
                        .collect();
                    if let Some(x) = d.first_mut() {
                        *x |= 0x80 * (i as u8 & 1);
                    }
                }
            }
            b.handle_underlay(now, "a".into(), &mut d);
            let ll: Ipv6Addr = "fe80::2".parse().unwrap();
            b.handle_ospf(now, 10, ll, ospfv3::ALL_SPF_ROUTERS, &d);
            while b.poll_output().is_some() {}
        }
    }

    #[test]
    fn peers_are_removed_and_added_at_run_time() {
        let t0 = Instant::now();
        let mut a = Core::new(t0, cfg("a", 1, "b", true)).unwrap();
        let mut b = Core::new(t0, cfg("b", 2, "a", false)).unwrap();
        a.start(t0);
        b.start(t0);
        pump(t0, &mut a, &mut b);
        assert!(a.handle_frame(t0, 10, b"frame"));
        let spec = a.peers()[0].clone();
        // Removed: its interface is detached at once, StopCCN goes out, and nothing
        // reconnects however long we wait.
        assert!(a.remove_peer(t0, &"b".to_string()));
        assert!(!a.remove_peer(t0, &"b".to_string()));
        assert!(!a.handle_frame(t0, 10, b"frame"));
        pump(t0, &mut a, &mut b);
        assert_eq!(b.l2tp().session_count(), 0, "b saw the StopCCN");
        let mut now = t0;
        for _ in 0..120 {
            now += Duration::from_secs(1);
            a.handle_timeout(now);
            b.handle_timeout(now);
            pump(now, &mut a, &mut b);
        }
        assert!(a.connections().is_empty(), "{:?}", a.connections());
        assert!(a.peers().is_empty());
        // A datagram from the removed peer is dropped.
        let mut junk = vec![0u8; 12];
        a.handle_underlay(now, "b".into(), &mut junk);
        assert!(
            std::iter::from_fn(|| a.poll_output()).any(|o| matches!(o, Output::Dropped { .. }))
        );
        // Added again: a new control connection and pseudowire.
        assert!(a.add_peer(now, spec.clone()).unwrap());
        assert!(
            !a.add_peer(now, spec).unwrap(),
            "a second peer at one address"
        );
        pump(now, &mut a, &mut b);
        assert!(a.handle_frame(now, 10, b"frame again"));
        assert_eq!(a.connections().len(), 1);
    }

    #[test]
    fn policy_reconfigure_keeps_the_prefix_and_refuses_to_drop_all() {
        use anycast_failover::{CheckKind, CheckSpec, PrefixConfig};
        let t0 = Instant::now();
        let prefix: anycast_failover::Ipv6Prefix = "2001:db8:aa::1/128".parse().unwrap();
        let node = |checks: usize| {
            let mut p = PrefixConfig::new(prefix);
            for i in 0..checks {
                p.checks.push(CheckSpec::new(
                    format!("c{i}"),
                    CheckKind::TcpConnect {
                        addr: "[::1]:1".parse().unwrap(),
                    },
                ));
            }
            NodeConfig::new(RouterId(0x0101_0101), vec![p])
        };
        let mut c = cfg("a", 1, "b", true);
        c.policy = Some(node(0));
        let mut a = Core::new(t0, c).unwrap();
        a.start(t0);
        let role = |a: &Core<String>| a.policy().and_then(|p| p.role(prefix));
        let before = role(&a);
        assert!(a.checks().is_empty());
        a.reconfigure_policy(t0, Some(node(2))).unwrap();
        assert_eq!(a.checks().len(), 2);
        assert_eq!(role(&a), before);
        assert!(a.reconfigure_policy(t0, None).is_err());
        assert_eq!(a.checks().len(), 2);
        // A client without anycast prefixes may gain some.
        let mut client = Core::new(t0, cfg("c", 3, "b", true)).unwrap();
        client.reconfigure_policy(t0, None).unwrap();
        client.reconfigure_policy(t0, Some(node(1))).unwrap();
        assert_eq!(client.checks().len(), 1);
    }
}
