//! Configuration of a router instance and of its interfaces, with the defaults of
//! RFC 2328 Appendix C (and FRR's for the values the RFC leaves open).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::throttle::ThrottleConfig;

/// An IPv6 prefix as configured or routed: address (bits past `len` are zero) and
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Prefix {
    /// The address, host bits cleared.
    pub addr: Ipv6Addr,
    /// The prefix length, 0..=128.
    pub len: u8,
}

impl Ipv6Prefix {
    /// A prefix; host bits are cleared and `len` is capped at 128.
    pub fn new(addr: Ipv6Addr, len: u8) -> Self {
        let len = len.min(128);
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Ipv6Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        }
    }
}

impl core::fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Interface network type (RFC 2328 9, RFC 5340 4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkType {
    /// Point-to-point: one neighbor, no DR election, hellos to ff02::5.
    PointToPoint,
    /// Broadcast: DR and BDR election (RFC 2328 9.4).
    Broadcast,
    /// Loopback: no packets; its prefixes are advertised as /128 host routes with the
    /// LA bit (RFC 5340 4.4.3.9).
    Loopback,
}

/// What a received or sent packet's checksum is left to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChecksumOffload {
    /// The engine fills in and verifies the OSPFv3 checksum itself (default).
    #[default]
    Engine,
    /// The socket uses `IPV6_CHECKSUM` (offset 12): the kernel fills it on send and
    /// drops bad packets on receive, so the engine leaves it zero and skips checks.
    Kernel,
}

/// RFC 7166 authentication of one interface.
///
/// The key never shows in `Debug` output (only its length) and is wiped from memory
/// when the configuration is dropped; equality compares keys in constant time.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Security Association ID.
    pub sa_id: u16,
    /// The key.
    pub key: Vec<u8>,
    /// HMAC algorithm.
    pub algorithm: crate::auth::HmacAlgorithm,
    /// The high half of the sending sequence number persisted by the last run
    /// (`None` on first boot). The engine emits
    /// [`super::Event::PersistAuthSeqHigh`] whenever a new value must be stored.
    pub stored_seq_high: Option<u32>,
    /// Derive the key with the Crypto Protocol ID in little-endian order, as
    /// FRRouting's ospf6d 8.4 does, instead of RFC 7166's network order (default
    /// false). Only for interoperating with such peers.
    pub frr_compat_key: bool,
}

impl core::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("sa_id", &self.sa_id)
            .field("key", &format_args!("<redacted, {} bytes>", self.key.len()))
            .field("algorithm", &self.algorithm)
            .field("stored_seq_high", &self.stored_seq_high)
            .field("frr_compat_key", &self.frr_compat_key)
            .finish()
    }
}

impl PartialEq for AuthConfig {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.sa_id == other.sa_id
            && self.algorithm == other.algorithm
            && self.stored_seq_high == other.stored_seq_high
            && self.frr_compat_key == other.frr_compat_key
            && bool::from(self.key.ct_eq(&other.key))
    }
}

impl Eq for AuthConfig {}

impl Drop for AuthConfig {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl AuthConfig {
    /// Authentication with `key` under Security Association `sa_id`, on first boot
    /// (no stored sequence number), with RFC 7166's key derivation.
    pub fn new(sa_id: u16, algorithm: crate::auth::HmacAlgorithm, key: Vec<u8>) -> Self {
        AuthConfig {
            sa_id,
            key,
            algorithm,
            stored_seq_high: None,
            frr_compat_key: false,
        }
    }
}

/// Configuration of one interface.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InterfaceConfig {
    /// Network type.
    pub network_type: NetworkType,
    /// Passive: no hellos, no adjacencies; its prefixes are still advertised.
    pub passive: bool,
    /// The interface's link-local address (source of every packet we send on it).
    pub link_local: Ipv6Addr,
    /// Global prefixes on the link (stub prefixes, or /128 host addresses on loopback).
    pub prefixes: Vec<Ipv6Prefix>,
    /// Instance ID (RFC 5340 2.4), default 0.
    pub instance_id: u8,
    /// Interface output cost, default 10.
    pub cost: u16,
    /// Router priority for DR election, default 1 (0: never DR).
    pub priority: u8,
    /// HelloInterval, default 10 s.
    pub hello_interval: u16,
    /// RouterDeadInterval, default 40 s.
    pub dead_interval: u16,
    /// RxmtInterval, default 5 s.
    pub retransmit_interval: u16,
    /// InfTransDelay, default 1 s.
    pub transmit_delay: u16,
    /// IPv6 MTU of the interface, default 1500; bounds our packets and is checked
    /// against the neighbor's in DD packets.
    pub mtu: u16,
    /// Skip the DD MTU check (FRR's `mtu-ignore`), default false.
    pub mtu_ignore: bool,
    /// RFC 7166 authentication, default none.
    pub auth: Option<AuthConfig>,
}

impl InterfaceConfig {
    /// A point-to-point interface with default timers.
    pub fn point_to_point(link_local: Ipv6Addr) -> Self {
        InterfaceConfig {
            network_type: NetworkType::PointToPoint,
            passive: false,
            link_local,
            prefixes: Vec::new(),
            instance_id: 0,
            cost: 10,
            priority: 1,
            hello_interval: 10,
            dead_interval: 40,
            retransmit_interval: 5,
            transmit_delay: 1,
            mtu: 1500,
            mtu_ignore: false,
            auth: None,
        }
    }

    /// A broadcast interface with default timers.
    pub fn broadcast(link_local: Ipv6Addr) -> Self {
        InterfaceConfig {
            network_type: NetworkType::Broadcast,
            ..Self::point_to_point(link_local)
        }
    }

    /// A loopback interface carrying the given host prefixes.
    pub fn loopback(prefixes: Vec<Ipv6Prefix>) -> Self {
        InterfaceConfig {
            network_type: NetworkType::Loopback,
            passive: true,
            prefixes,
            cost: 0,
            ..Self::point_to_point(Ipv6Addr::UNSPECIFIED)
        }
    }

    /// The same with HelloInterval and RouterDeadInterval set.
    pub fn with_timers(mut self, hello: u16, dead: u16) -> Self {
        self.hello_interval = hello.max(1);
        self.dead_interval = dead.max(1);
        self
    }
}

/// Limits on what input can grow; each has a documented default and a drop counter.
///
/// The LSDB is bounded three ways: in LSAs, in bytes ([`super::LsdbEntry::charge`]:
/// the raw LSA, its decoded copy and a fixed overhead per entry) and per Advertising
/// Router (LSAs and bytes). A neighbor can make up Advertising Routers (OSPF does
/// not authenticate the originator of an LSA), so the per-router limits stop one
/// misbehaving or misconfigured originator from taking the whole database, while
/// the total limits are what bound memory.
///
/// **Overflow**: an LSA that would exceed a limit is not installed, not flooded and
/// not acknowledged, and counted (`lsdb_full`, `lsdb_bytes_full` or
/// `lsdb_router_full`). The neighbor keeps it on its retransmission list and sends
/// it again every RxmtInterval, so it is installed once room frees (LSAs age out or
/// are flushed) without a new database exchange; an LSA we requested during the
/// exchange stays requested, so that adjacency stays in Loading and never reaches
/// Full (SPF never uses a neighbor whose database we could not hold). A newer
/// instance of an LSA we hold is charged only for what it adds. Our own LSAs are
/// always installed (their number follows our configuration). This is RFC 1765's
/// idea (a database limit every router enforces, with the database kept
/// consistent by refusal rather than by dropping what is held) applied to every LSA
/// type, without its overflow state: we never stop originating our own LSAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// LSAs in the database (all scopes), default 100 000 (counter `lsdb_full`).
    pub max_lsas: usize,
    /// Bytes the database holds ([`super::Lsdb::bytes`]), default 64 MiB (counter
    /// `lsdb_bytes_full`). Resident memory is this plus allocator slack.
    pub max_lsdb_bytes: usize,
    /// LSAs of one Advertising Router, default 10 000 (counter `lsdb_router_full`).
    pub max_lsas_per_router: usize,
    /// Bytes of one Advertising Router's LSAs, default 8 MiB (counter
    /// `lsdb_router_full`): 128 maximal (64 KB) LSAs of one originator.
    pub max_bytes_per_router: usize,
    /// Neighbors per interface, default 64 (counter `neighbors_full`).
    pub max_neighbors: usize,
    /// Packets waiting in `poll_transmit`, default 4096 (counter `tx_dropped`).
    pub max_tx_queue: usize,
    /// Events waiting in `poll_event`, default 65 536 (counter `events_dropped`).
    pub max_events: usize,
    /// Entries of one neighbor's link-state request list, default 100 000
    /// (counter `requests_dropped`; the exchange restarts).
    pub max_requests: usize,
    /// Pending delayed acknowledgements per interface, default 1024
    /// (counter `acks_dropped`; the sender retransmits).
    pub max_delayed_acks: usize,
    /// RFC 7166 replay state kept for neighbors that went away (see
    /// [`RouterConfig::auth_seq_retention`]), default 1024 (interface, router ID)
    /// pairs; the oldest is forgotten first (counter `auth_memory_evicted`).
    pub max_auth_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lsas: 100_000,
            max_lsdb_bytes: 64 << 20,
            max_lsas_per_router: 10_000,
            max_bytes_per_router: 8 << 20,
            max_neighbors: 64,
            max_tx_queue: 4096,
            max_events: 65_536,
            max_requests: 100_000,
            max_delayed_acks: 1024,
            max_auth_memory: 1024,
        }
    }
}

/// Exponential back-off for originating our own LSAs, in the style of IOS's
/// `timers throttle lsa` (RFC 2328 12.4's fixed MinLSInterval is the special case
/// [`OriginationThrottle::rfc`]). Kept per LSA:
///
/// * the first change after a quiet period is originated after `initial` (default
///   0: at once);
/// * each further change waits until `hold` has passed since the previous
///   origination of that LSA, and every origination made before the quiet period
///   ended doubles the hold, up to `max_hold`;
/// * a quiet period is more than `max_hold` without an origination of that LSA: the
///   hold then starts again from `hold`.
///
/// The defaults (0, 50 ms, 5 s) flood an adjacency change at once (what failover
/// needs: the neighbors' new Router-LSAs no longer sit out MinLSInterval), while a
/// flapping link is still held to one origination per 5 s after seven quick changes
/// (50 ms, 100 ms, ... 3.2 s, then 5 s), the RFC's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginationThrottle {
    /// Delay of the first origination after a quiet period (default 0).
    pub initial: Duration,
    /// First hold between two originations of one LSA (default 50 ms).
    pub hold: Duration,
    /// Largest hold, and the quiet time after which the hold resets (default 5 s).
    pub max_hold: Duration,
}

impl OriginationThrottle {
    /// A throttle with the given values (`hold` is raised to at least 1 ms and
    /// `max_hold` to at least `hold`).
    pub fn new(initial: Duration, hold: Duration, max_hold: Duration) -> Self {
        let hold = hold.max(Duration::from_millis(1));
        OriginationThrottle {
            initial,
            hold,
            max_hold: max_hold.max(hold),
        }
    }

    /// RFC 2328 12.4: at once, then at most one origination per MinLSInterval (5 s).
    pub fn rfc() -> Self {
        let min = Duration::from_secs(u64::from(crate::constants::MIN_LS_INTERVAL));
        OriginationThrottle::new(Duration::ZERO, min, min)
    }
}

impl Default for OriginationThrottle {
    fn default() -> Self {
        OriginationThrottle::new(
            Duration::ZERO,
            Duration::from_millis(50),
            Duration::from_secs(5),
        )
    }
}

/// Configuration of a router instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Router ID.
    pub router_id: Ipv4Addr,
    /// The single area this instance runs (default the backbone 0.0.0.0).
    pub area_id: Ipv4Addr,
    /// Who computes the OSPFv3 packet checksum.
    pub checksum: ChecksumOffload,
    /// SPF back-off timers (RFC 8405); the default first SPF runs 50 ms after a
    /// change.
    pub spf_throttle: ThrottleConfig,
    /// Back-off for originating our own LSAs (default: at once, then 50 ms doubling
    /// to 5 s); [`OriginationThrottle::rfc`] for the RFC's fixed MinLSInterval.
    pub origination_throttle: OriginationThrottle,
    /// MinLSArrival (RFC 2328 13 step 5a): a new instance of a neighbor's LSA arriving
    /// sooner than this after the copy we hold is dropped (the neighbor retransmits
    /// it after its RxmtInterval); also the least spacing of sending our newer copy
    /// back (step 8). Default 50 ms, not the RFC's 1 s: it must not exceed the
    /// neighbors' origination hold, or their second quick change (50 ms after the
    /// first with the default [`OriginationThrottle`]) is dropped and arrives only
    /// by retransmission, seconds later. Set 1 s together with
    /// [`OriginationThrottle::rfc`] for the RFC's behaviour.
    pub min_ls_arrival: Duration,
    /// Queue and table limits.
    pub limits: Limits,
    /// Delay before delayed acknowledgements are sent, default 1 s (below the
    /// RxmtInterval, RFC 2328 13.5).
    pub ack_delay: Duration,
    /// How long the last RFC 7166 sequence numbers of a neighbor that went away
    /// (dead interval, [`super::Router::neighbor_down`], interface removed) are
    /// kept, per (interface, router ID), default 24 h. Its packets must keep
    /// exceeding them, so Hellos captured while it was up cannot bring it back when
    /// replayed later. A neighbor that restarts must resume above its old sequence
    /// numbers, as RFC 7166 4.1.1 requires (persisted high half); one that restarts
    /// from zero is refused (counter `rx_auth_failures`) until the state expires or
    /// [`super::Router::forget_auth_sequence`] clears it. Kept for at most
    /// [`Limits::max_auth_memory`] pairs; forgotten when the interface's key or SA
    /// ID changes.
    pub auth_seq_retention: Duration,
}

impl RouterConfig {
    /// Defaults for the given router ID, in the backbone.
    pub fn new(router_id: Ipv4Addr) -> Self {
        RouterConfig {
            router_id,
            area_id: Ipv4Addr::UNSPECIFIED,
            checksum: ChecksumOffload::Engine,
            spf_throttle: ThrottleConfig::default(),
            origination_throttle: OriginationThrottle::default(),
            min_ls_arrival: Duration::from_millis(50),
            limits: Limits::default(),
            ack_delay: Duration::from_secs(1),
            auth_seq_retention: Duration::from_secs(24 * 3600),
        }
    }
}
