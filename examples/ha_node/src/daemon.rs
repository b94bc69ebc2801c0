//! The daemon: the [`Core`] driven by real I/O on tokio.
//!
//! * underlay: two UDP sockets, each read and written through its crate's codec
//!   (`tokio_util::udp::UdpFramed`): the peers without ESP on `listen` (port 1701 by
//!   default) with [`l2tpv3::tokio_codec::L2tpUdpCodec`], the peers with ESP on
//!   `esp_listen` (port 4500, RFC 3948) with [`ipsec_lite::NattCodec`]. The reader
//!   tasks only route datagrams: L2TPv3 control and data messages and ESP packets go
//!   to [`Core::handle_underlay`] (which opens ESP for the peers that have it);
//!   NAT-keepalives are counted, IKE is dropped (keys are static, there is no IKE
//!   yet). The core's underlay output goes out of the ESP socket to the peers with
//!   ESP and out of the L2TPv3 socket to the others;
//! * one TAP device per peer; frames read from it go out over the pseudowire, frames
//!   from the pseudowire are written to it (the data plane is in user space: the
//!   kernels this runs on may have neither L2TP nor XFRM);
//! * OSPFv3 on each TAP over a raw IPv6 socket ([`ospfv3::RawSocket`]), learned routes
//!   installed in the kernel ([`crate::netlink`]);
//! * the anycast address added to and removed from the loopback as the policy says,
//!   in the order it says; health probes per [`crate::health`];
//! * SIGTERM or SIGINT: the policy's Shutdown (withdraw at once, remove the address
//!   after the grace period), then StopCCN to every peer, routes flushed, exit. A
//!   second signal exits at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anycast_failover::{Action, AdminCommand};
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use ipsec_lite::{NattCodec, NattDatagram};
use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
use ospfv3::{RawSocket, Received};
use tokio::net::UdpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::udp::UdpFramed;

use crate::config::{Config, ConfigError};
use crate::core::{Core, CoreError, Output, Via};
use crate::dataplane::Dataplane;
use crate::ike::{IkeNode, IkePeerSpec};
use crate::metrics;
use crate::netlink::{self, KernelOp, KernelRoute, Netlink};
use crate::selfheal;
use crate::tap::{self, Tap, TapError};

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The core refused the configuration.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A TAP device could not be made ready.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// A kernel change failed at start.
    #[error(transparent)]
    Netlink(#[from] netlink::NetlinkError),
    /// A socket or signal handler could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Longest wait for every pseudowire before telling systemd the daemon is ready.
pub const READY_WAIT: Duration = Duration::from_secs(20);
/// Depth of the channels from the reader tasks to the event loop.
const CHANNEL_DEPTH: usize = 1024;

/// The sending half of an underlay socket. `UdpFramed` keeps a datagram whose send
/// failed in its write buffer and retries it before every later one, so one
/// unreachable peer would block the socket for all: after a failure the sink is
/// replaced by a fresh one on the same socket and the datagram is dropped (UDP).
struct UnderlaySink<C> {
    socket: Arc<UdpSocket>,
    codec: C,
    framed: UdpFramed<C, Arc<UdpSocket>>,
}

impl<C: Clone> UnderlaySink<C> {
    fn new(socket: Arc<UdpSocket>, codec: C) -> Self {
        let framed = UdpFramed::new(socket.clone(), codec.clone());
        UnderlaySink {
            socket,
            codec,
            framed,
        }
    }

    async fn send<I>(&mut self, item: I, peer: SocketAddr)
    where
        C: tokio_util::codec::Encoder<I>,
        <C as tokio_util::codec::Encoder<I>>::Error: std::fmt::Display,
    {
        if let Err(e) = self.framed.send((item, peer)).await {
            tracing::debug!("send to {peer}: {e}");
            self.framed = UdpFramed::new(self.socket.clone(), self.codec.clone());
        }
    }
}

/// Counters of the datagrams on the ESP socket that are not ESP.
#[derive(Default)]
struct NattCounts {
    keepalives: AtomicU64,
    ike_dropped: AtomicU64,
    malformed: AtomicU64,
}

/// Executes the core's outputs against the kernel and the sockets.
struct Executor {
    l2tp_tx: UnderlaySink<L2tpUdpCodec>,
    esp_tx: UnderlaySink<NattCodec>,
    /// Peers whose datagrams are ESP, sent from the ESP socket.
    esp_peers: HashSet<SocketAddr>,
    taps: BTreeMap<u32, Tap>,
    tap_of_peer: HashMap<SocketAddr, u32>,
    sockets: BTreeMap<u32, Arc<RawSocket>>,
    lo_ifindex: u32,
    route_src: Option<Ipv6Addr>,
    /// Kernel changes, applied off the event loop ([`crate::netlink`]).
    installer: netlink::Installer,
    /// Self-healing counters.
    heal_counts: HealCounts,
    /// Latency histograms ([`crate::metrics`]).
    hist: Arc<metrics::Histograms>,
    /// Failover role changes per prefix.
    role_changes: BTreeMap<String, u64>,
    /// BFD sending sockets by (ifindex, source port), bound to the TAP's link-local
    /// address and the session's port (RFC 5881 4: one source port per session);
    /// opened on a session's first packet, closed when the session is gone.
    bfd_tx: BTreeMap<(u32, u16), Arc<bfd::tokio_udp::BfdSocket>>,
    /// The batched data plane, when enabled ([`crate::dataplane`]).
    dataplane: Option<Arc<Dataplane>>,
}

impl Executor {
    fn dev_name(&self, ifindex: u32) -> Option<String> {
        self.taps.get(&ifindex).map(|t| t.name.clone())
    }

    async fn execute(&mut self, core: &mut Core<SocketAddr>) {
        while let Some(o) = core.poll_output() {
            match o {
                Output::Underlay { peer, mut datagram } => {
                    if let Some(dp) = self.dataplane.as_ref().filter(|d| d.has_esp(&peer)) {
                        match dp.seal_control(Instant::now(), &peer, &datagram) {
                            Some(sealed) => datagram = sealed,
                            None => continue,
                        }
                    }
                    if self.esp_peers.contains(&peer) {
                        self.esp_tx.send(NattDatagram::Esp(datagram), peer).await;
                    } else {
                        self.l2tp_tx.send(datagram, peer).await;
                    }
                }
                Output::PseudowireUp {
                    session_id,
                    peer,
                    peer_name,
                } => match self.tap_of_peer.get(&peer).and_then(|i| self.taps.get(i)) {
                    Some(t) => {
                        tracing::info!(
                            peer = %peer_name,
                            session = session_id,
                            tap = %t.name,
                            "pseudowire to {peer_name} up (session {session_id}) on {} {}",
                            t.name,
                            t.link_local
                        );
                        core.attach(Instant::now(), session_id, t.ifindex, t.link_local);
                        if let Some(dp) = &self.dataplane
                            && let Some(templates) = core.l2tp().session_templates(session_id)
                        {
                            dp.install(templates);
                        }
                    }
                    None => tracing::warn!(
                        peer = %peer_name,
                        session = session_id,
                        "session {session_id} from {peer} has no TAP"
                    ),
                },
                Output::PseudowireDown {
                    session_id,
                    ifindex,
                } => {
                    if let Some(dp) = &self.dataplane {
                        dp.remove_session(session_id);
                    }
                    tracing::warn!(
                        session = session_id,
                        "pseudowire session {session_id} down (interface {:?})",
                        ifindex.and_then(|i| self.dev_name(i))
                    )
                }
                Output::Frame { ifindex, frame } => {
                    // The data plane writes to its TAPs (virtio-net header); a TAP
                    // it does not know (a peer added by a reload) is written here.
                    let written = self
                        .dataplane
                        .as_ref()
                        .is_some_and(|dp| dp.write_frame(ifindex, &frame));
                    if !written
                        && let Some(t) = self.taps.get(&ifindex)
                        && let Err(e) = t.dev.send(&frame).await
                    {
                        tracing::debug!("write to {}: {e}", t.name);
                    }
                }
                Output::Ospf(t) => {
                    let straight = self.dataplane.as_ref().is_some_and(|dp| {
                        dp.send_control(
                            t.ifindex,
                            t.src,
                            t.dst,
                            crate::frame::PROTO_OSPF,
                            1,
                            &t.bytes,
                        )
                    });
                    if !straight
                        && let Some(s) = self.sockets.get(&t.ifindex)
                        && let Err(e) = s.send(t.dst, &t.bytes).await
                    {
                        tracing::debug!("OSPFv3 send on ifindex {}: {e}", t.ifindex);
                    }
                }
                Output::Bfd {
                    ifindex,
                    src,
                    dst,
                    src_port,
                    payload,
                } => {
                    // With the data plane: straight over the pseudowire (hop limit
                    // 255, RFC 5881 5), never behind a TAP queue.
                    if let Some(dp) = &self.dataplane {
                        let dgram = crate::frame::build_udp(
                            src,
                            dst,
                            src_port,
                            bfd::encap::CONTROL_PORT,
                            &payload,
                        );
                        if dp.send_control(ifindex, src, dst, crate::frame::PROTO_UDP, 255, &dgram)
                        {
                            continue;
                        }
                    }
                    let key = (ifindex, src_port);
                    if !self.bfd_tx.contains_key(&key) {
                        let live = core.bfd_source_ports();
                        self.bfd_tx.retain(|k, _| live.contains(k));
                        let at = SocketAddr::V6(SocketAddrV6::new(src, src_port, 0, ifindex));
                        match bfd::tokio_udp::BfdSocket::bind(at) {
                            Ok(sock) => {
                                self.bfd_tx.insert(key, Arc::new(sock));
                            }
                            Err(e) => {
                                tracing::warn!("BFD socket {at}: {e}");
                                continue;
                            }
                        }
                    }
                    if let Some(sock) = self.bfd_tx.get(&key) {
                        let to = SocketAddr::V6(SocketAddrV6::new(
                            dst,
                            bfd::encap::CONTROL_PORT,
                            0,
                            ifindex,
                        ));
                        if let Err(e) = sock.send_to(&payload, to).await {
                            tracing::debug!("BFD send to {to}: {e}");
                        }
                    }
                }
                Output::BfdState {
                    ifindex,
                    router_id,
                    from,
                    to,
                    diag,
                } => tracing::info!(
                    neighbor = %router_id,
                    state = ?to,
                    "BFD session with {router_id} on {}: {from:?} -> {to:?} ({diag:?})",
                    self.dev_name(ifindex).unwrap_or_default()
                ),
                Output::OspfEvent(ev) => self.on_ospf_event(ev).await,
                Output::L2tpEvent(ev) => match ev {
                    l2tpv3::Event::ConnectionUp {
                        peer,
                        host_name,
                        ccid,
                        ..
                    } => {
                        tracing::info!(
                            peer = %peer,
                            ccid,
                            "L2TPv3 control connection to {peer} (\"{}\") up",
                            crate::security::escape_peer_text(&host_name)
                        );
                    }
                    l2tpv3::Event::ConnectionDown { ccid, reason } => {
                        tracing::warn!(ccid, "L2TPv3 control connection {ccid} down: {reason:?}");
                    }
                    other => tracing::debug!("L2TPv3: {other:?}"),
                },
                Output::Action(a) => self.on_action(a),
                Output::PolicyEvent(ev) => {
                    if let anycast_failover::Event::RoleChanged { prefix, .. } = &ev {
                        *self.role_changes.entry(prefix.to_string()).or_default() += 1;
                        tracing::info!(prefix = %prefix, "failover: {ev:?}");
                    } else {
                        tracing::info!("failover: {ev:?}");
                    }
                }
                Output::Dropped { peer, reason } => {
                    tracing::debug!("dropped from {peer}: {reason}")
                }
                Output::RouteRefused { prefix, reason } => {
                    tracing::warn!("learned route {prefix} not installed: {reason}")
                }
            }
        }
        self.installer.flush();
    }

    async fn on_ospf_event(&mut self, ev: ospfv3::Event) {
        use ospfv3::Event;
        match ev {
            Event::NeighborState {
                ifindex,
                router_id,
                from,
                to,
            } => tracing::info!(
                neighbor = %router_id,
                state = ?to,
                "OSPFv3 neighbor {router_id} on {}: {from:?} -> {to:?}",
                self.dev_name(ifindex).unwrap_or_default()
            ),
            Event::RouteAdd(route) => {
                // Next hops on interfaces we do not know (any more) are left out.
                let next_hops: Vec<(Option<Ipv6Addr>, u32)> = route
                    .next_hops
                    .iter()
                    .filter(|n| self.taps.contains_key(&n.ifindex))
                    .map(|n| (n.addr, n.ifindex))
                    .collect();
                tracing::info!(
                    prefix = %route.prefix,
                    cost = route.cost,
                    "route {} cost {} via {:?} to install",
                    route.prefix,
                    route.cost,
                    next_hops
                        .iter()
                        .map(|(_, i)| self.dev_name(*i).unwrap_or_default())
                        .collect::<Vec<_>>()
                );
                self.installer.submit(KernelOp::ReplaceRoute(KernelRoute {
                    prefix: route.prefix,
                    next_hops,
                    src: self.route_src,
                }));
            }
            Event::RouteRemove(prefix) => {
                tracing::info!(prefix = %prefix, "route {prefix} to remove");
                self.installer.submit(KernelOp::DeleteRoute(prefix));
            }
            other => tracing::debug!("OSPFv3: {other:?}"),
        }
    }

    /// Executes a failover action: address changes go to the installer (the kernel's
    /// refusal comes back in its report and is logged there).
    fn on_action(&mut self, a: Action) {
        let ifindex = self.lo_ifindex;
        match a {
            Action::AddLoopbackAddress { prefix } => self.installer.submit(KernelOp::AddAddress {
                ifindex,
                addr: prefix.addr(),
                len: prefix.len(),
            }),
            Action::RemoveLoopbackAddress { prefix } => {
                self.installer.submit(KernelOp::DelAddress {
                    ifindex,
                    addr: prefix.addr(),
                    len: prefix.len(),
                })
            }
            // The OSPFv3 side is applied by the core; its packets were sent above.
            Action::Advertise { .. } | Action::Withdraw { .. } => {}
            other => {
                tracing::warn!("failover action {other} not supported by this daemon");
                return;
            }
        }
        tracing::info!(action = %a, "failover action: {a}");
    }
}

/// The IKEv2 side for the peers with `ipsec`: their SAs are the core's.
fn ike_node(cfg: &Config, core: &Core<SocketAddr>) -> Result<IkeNode, DaemonError> {
    let mut peers = Vec::new();
    for p in &cfg.peers {
        let Some(x) = cfg.ipsec_config(p)? else {
            continue;
        };
        let Some(esp) = core.esp_peer(&p.address).cloned() else {
            continue;
        };
        let local_ip = local_ip_towards(cfg.ike_listen().ip(), p.address)?;
        peers.push(IkePeerSpec {
            name: p.name.clone(),
            esp_addr: p.address,
            local_ip,
            cfg: x,
            esp,
        });
    }
    Ok(IkeNode::new(
        peers,
        cfg.ike_listen().port(),
        cfg.esp_listen().port(),
        rand::make_rng(),
    ))
}

/// Our address towards `peer`: `bound` when the socket is bound to one, else the
/// source address the kernel's routing picks (a connected UDP socket, nothing sent).
fn local_ip_towards(bound: IpAddr, peer: SocketAddr) -> Result<IpAddr, DaemonError> {
    if !bound.is_unspecified() {
        return Ok(bound);
    }
    let any: SocketAddr = match peer {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(any).map_err(io("route lookup socket"))?;
    s.connect(peer)
        .map_err(io(format!("no route to IKEv2 peer {peer}")))?;
    Ok(s.local_addr().map_err(io("route lookup"))?.ip())
}

/// The MTU of the interface that holds `ip`, if found.
fn mtu_of_address(ip: IpAddr) -> Option<usize> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        let Some(sa) = a.address else { continue };
        let here = match ip {
            IpAddr::V4(v4) => sa.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
            IpAddr::V6(v6) => sa.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
        };
        if here {
            let path = format!("/sys/class/net/{}/mtu", a.interface_name);
            return std::fs::read_to_string(path).ok()?.trim().parse().ok();
        }
    }
    None
}

/// Warns about each peer whose full frames would not fit the underlay interface
/// towards it: the data plane sends with DF set, so they would be dropped (counted
/// as transmit drops) rather than fragmented.
fn check_path_mtu(cfg: &Config) {
    for p in &cfg.peers {
        let Ok(local) = local_ip_towards(cfg.listen.ip(), p.address) else {
            continue;
        };
        let Some(link) = mtu_of_address(local) else {
            continue;
        };
        let ip_header = if p.address.is_ipv4() { 20 } else { 40 };
        let need = cfg.underlay_payload(p) + ip_header;
        if need > link {
            let fits = usize::from(cfg.ospf.mtu).saturating_sub(need - link);
            tracing::warn!(
                peer = %p.name,
                "peer {}: a full frame needs {need} bytes on the underlay (MTU {} + Ethernet, L2TPv3, ESP, UDP, IP headers), the interface towards it carries {link}: frames above {fits} bytes will be dropped; set [ospf] mtu = {fits} or less",
                p.name,
                cfg.ospf.mtu
            );
        }
    }
}

/// Sends what the IKEv2 side has queued.
async fn send_ike(ike: &mut IkeNode, ike_udp: Option<&UdpSocket>, esp_udp: &UdpSocket) {
    while let Some(t) = ike.poll_transmit() {
        let sock = match ike_udp {
            Some(s) if ike.on_ike_port(&t) => s,
            _ => esp_udp,
        };
        if let Err(e) = sock.send_to(&t.payload, t.remote).await {
            tracing::debug!("IKE to {}: {e}", t.remote);
        }
    }
}

/// The addresses this daemon may have put on the loopback: its host addresses and
/// the anycast prefixes' addresses (removed at start and at exit).
fn our_loopback_addresses(cfg: &Config) -> Vec<(Ipv6Addr, u8)> {
    let mut v: Vec<(Ipv6Addr, u8)> = cfg.loopback.iter().map(|a| (*a, 128)).collect();
    for a in &cfg.anycast {
        let (addr, len) = a
            .prefix
            .split_once('/')
            .unwrap_or((a.prefix.as_str(), "128"));
        if let (Ok(addr), Ok(len)) = (addr.parse(), len.parse()) {
            v.push((addr, len));
        }
    }
    v
}

/// (prefix, check name) of each health check, for the metrics' labels.
fn check_names(cfg: &Config) -> HashMap<anycast_failover::CheckId, (String, String)> {
    let mut m = HashMap::new();
    for (pi, a) in cfg.anycast.iter().enumerate() {
        for (ci, c) in a.checks.iter().enumerate() {
            if let (Ok(prefix_index), Ok(check_index)) = (u16::try_from(pi), u16::try_from(ci)) {
                m.insert(
                    anycast_failover::CheckId {
                        prefix_index,
                        check_index,
                    },
                    (a.prefix.clone(), c.name.clone()),
                );
            }
        }
    }
    m
}

/// Records a probe's latency (from its start to its result reaching the loop).
fn note_probe(
    hist: &metrics::Histograms,
    names: &HashMap<anycast_failover::CheckId, (String, String)>,
    id: anycast_failover::CheckId,
    r: &anycast_failover::ProbeResult,
) {
    if let Some((prefix, check)) = names.get(&id) {
        hist.observe_probe(prefix, check, r.started.elapsed());
    }
}

/// Records the duration of a core call that ran an SPF calculation.
fn note_spf(core: &Core<SocketAddr>, hist: &metrics::Histograms, runs: &mut u64, since: Instant) {
    let now = core.ospf().counters().spf_runs;
    if now != *runs {
        *runs = now;
        hist.spf_seconds.observe(since.elapsed().as_secs_f64());
    }
}

/// The daemon's own counters for a metrics snapshot.
fn daemon_counts(
    ex: &Executor,
    cfg: &Config,
    specs: &BTreeMap<String, selfheal::TapSpec>,
    natt: &NattCounts,
    probes: &crate::health::ProbeStats,
    ike: &IkeNode,
) -> metrics::DaemonCounts {
    metrics::DaemonCounts {
        peers: cfg
            .peers
            .iter()
            .map(|p| (p.name.clone(), p.address))
            .collect(),
        taps: ex
            .taps
            .values()
            .map(|t| (t.ifindex, t.name.clone()))
            .collect(),
        tap_names: specs.keys().cloned().collect(),
        kernel: ex.installer.stats(),
        taps_lost: ex.heal_counts.taps_lost,
        taps_reopened: ex.heal_counts.taps_reopened,
        tap_reopen_failures: ex.heal_counts.tap_reopen_failures,
        natt: (
            natt.keepalives.load(Ordering::Relaxed),
            natt.ike_dropped.load(Ordering::Relaxed),
            natt.malformed.load(Ordering::Relaxed),
        ),
        probes: (
            probes.started.load(Ordering::Relaxed),
            probes.timeouts.load(Ordering::Relaxed),
            probes.dropped.load(Ordering::Relaxed),
        ),
        role_changes: ex.role_changes.clone(),
        ike: (
            ike.counts,
            ike.status(Instant::now())
                .into_iter()
                .map(|p| (p.name, p.ike_sas.len()))
                .collect(),
        ),
    }
}

/// Counters of the self-healing.
#[derive(Debug, Default, Clone, Copy)]
pub struct HealCounts {
    /// TAP devices found gone (deleted under the daemon).
    pub taps_lost: u64,
    /// TAP devices opened by the reopening task: after they disappeared, or for a
    /// peer added by a reload.
    pub taps_reopened: u64,
    /// Failed attempts to reopen one.
    pub tap_reopen_failures: u64,
}

impl Executor {
    /// A batch of kernel changes is done: failures are logged.
    fn on_kernel_report(&mut self, report: &netlink::KernelReport) {
        self.installer.note_report(report);
        self.hist
            .kernel_batch_seconds
            .observe(report.elapsed.as_secs_f64());
        for (op, r) in &report.results {
            match r {
                Ok(()) => tracing::debug!(target: "netlink", "{op}: done"),
                Err(e) => tracing::warn!(errno = e.errno(), "kernel change failed: {e}"),
            }
        }
    }

    /// A TAP device is gone: its sockets and routes through it are forgotten.
    fn forget_tap(&mut self, ifindex: u32) {
        if let Some(t) = self.taps.remove(&ifindex) {
            self.tap_of_peer.retain(|_, i| *i != ifindex);
            tracing::debug!("forgot {}", t.name);
        }
        self.sockets.remove(&ifindex);
        self.bfd_tx.retain(|(i, _), _| *i != ifindex);
    }
}

/// Runs the daemon until SIGTERM/SIGINT and the graceful shutdown are done.
/// `config_path` is the file `cfg` came from, re-read on SIGHUP and `ctl reload`.
pub async fn run(cfg: Config, config_path: &Path) -> Result<(), DaemonError> {
    let mut cfg = cfg;
    let lo_ifindex = nix::net::if_::if_nametoindex(cfg.loopback_device.as_str()).map_err(|e| {
        DaemonError::Io {
            what: format!("loopback device {}", cfg.loopback_device),
            source: e.into(),
        }
    })?;
    let t0 = Instant::now();
    let mut core = Core::new(t0, cfg.core_config(lo_ifindex)?)?;

    // Kernel changes go over rtnetlink; an earlier run may have left routes of our
    // protocol, our addresses on the loopback and our TAP devices behind.
    let nl = Netlink::open()?;
    let ours_on_lo = our_loopback_addresses(&cfg);
    let taps: Vec<String> = cfg.peers.iter().map(|p| p.tap.clone()).collect();
    match nl.clean_stale(lo_ifindex, &ours_on_lo, &taps).await {
        Ok((0, 0, 0)) => {}
        Ok((routes, addrs, links)) => tracing::info!(
            routes,
            addresses = addrs,
            links,
            "removed what an earlier run left: {routes} routes, {addrs} addresses, {links} TAP devices"
        ),
        Err(e) => tracing::warn!("cleaning an earlier run's state: {e}"),
    }
    for a in &cfg.loopback {
        nl.add_address(lo_ifindex, *a, 128).await?;
    }
    let (installer, mut kernel_rx) = netlink::spawn_installer(nl.clone());

    let bind = |addr: SocketAddr| async move {
        UdpSocket::bind(addr)
            .await
            .map(Arc::new)
            .map_err(io(format!("binding {addr}")))
    };
    let l2tp_udp = bind(cfg.listen).await?;
    let esp_udp = bind(cfg.esp_listen()).await?;
    // IKEv2 keys the peers with `ipsec`: its own socket (500) for IKE_SA_INIT, the
    // ESP socket (non-ESP marker) after it.
    let mut ike = ike_node(&cfg, &core)?;
    check_path_mtu(&cfg);
    let ike_udp = match ike.is_empty() {
        true => None,
        false => Some(bind(cfg.ike_listen()).await?),
    };
    let (ike_tx, mut ike_rx) = mpsc::channel::<(u16, SocketAddr, BytesMut)>(CHANNEL_DEPTH);
    if let Some(sock) = ike_udp.clone() {
        let ike_tx = ike_tx.clone();
        let port = cfg.ike_listen().port();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        if ike_tx
                            .send((port, from, BytesMut::from(&buf[..n])))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => tracing::debug!("IKE socket: {e}"),
                }
            }
        });
        tracing::info!("IKEv2 on {} (then {})", cfg.ike_listen(), cfg.esp_listen());
    }
    tracing::info!(
        "{} ({}) listening on {} (L2TPv3) and {} (ESP-in-UDP)",
        cfg.name,
        cfg.router_id,
        cfg.listen,
        cfg.esp_listen()
    );
    // Both readers feed one channel: the core tells the peers apart by address.
    // Each datagram carries the socket it came in on: a peer is heard only on the
    // socket of its protection (Core::handle_underlay_via).
    let (udp_tx, mut udp_rx) = mpsc::channel::<(SocketAddr, Via, BytesMut)>(CHANNEL_DEPTH);
    // The batched data plane reads both sockets itself (in place of the two reader
    // tasks) and takes the ESP peers' SAs.
    let (dataplane, mut dp_control) = if cfg.dataplane.enabled {
        let (dp, control) = Dataplane::start(
            &cfg.dataplane,
            l2tp_udp.clone(),
            esp_udp.clone(),
            udp_tx.clone(),
        )
        .map_err(io("data plane"))?;
        for p in &cfg.peers {
            let esp = core.esp_to_dataplane(&p.address);
            dp.add_peer(p.address, &p.tap, esp);
        }
        // Without OSPFv3 here, another router on the TAPs gets its packets.
        dp.divert_control(cfg.ospf.enabled);
        (Some(dp), Some(control))
    } else {
        (None, None)
    };
    if dataplane.is_none() {
        let mut framed = UdpFramed::new(l2tp_udp.clone(), L2tpUdpCodec);
        let udp_tx = udp_tx.clone();
        tokio::spawn(async move {
            while let Some(got) = framed.next().await {
                let (datagram, from) = match got {
                    Ok((Frame::Control(d) | Frame::Data(d), from)) => (d, from),
                    Ok((Frame::Invalid(e), from)) => {
                        tracing::debug!("dropped from {from}: {e}");
                        continue;
                    }
                    Ok((other, from)) => {
                        tracing::debug!("dropped from {from}: {other:?}");
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!("L2TPv3 underlay receive: {e}");
                        continue;
                    }
                };
                if udp_tx.send((from, Via::Clear, datagram)).await.is_err() {
                    return;
                }
            }
        });
    }
    let natt_counts = Arc::new(NattCounts::default());
    if dataplane.is_none() {
        let mut framed = UdpFramed::new(esp_udp.clone(), NattCodec::new());
        let counts = natt_counts.clone();
        let ike_tx = ike_tx.clone();
        let esp_port = cfg.esp_listen().port();
        tokio::spawn(async move {
            while let Some(got) = framed.next().await {
                let (esp, from) = match got {
                    Ok((NattDatagram::Esp(esp), from)) => (esp, from),
                    Ok((NattDatagram::Keepalive, from)) => {
                        let n = counts.keepalives.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::debug!("NAT-keepalive from {from} ({n} so far)");
                        continue;
                    }
                    Ok((NattDatagram::Ike(ike), from)) => {
                        // The endpoint takes IKE on the NAT-T port with its marker.
                        let mut d = BytesMut::from(&[0u8; 4][..]);
                        d.extend_from_slice(&ike);
                        if ike_tx.try_send((esp_port, from, d)).is_err() {
                            counts.ike_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    Ok((other, from)) => {
                        tracing::debug!("dropped {:?} from {from}", other.kind());
                        continue;
                    }
                    Err(e) => {
                        counts.malformed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("ESP underlay receive: {e}");
                        continue;
                    }
                };
                if udp_tx.send((from, Via::Esp, esp)).await.is_err() {
                    return;
                }
            }
        });
    }

    let (frame_tx, mut frame_rx) = mpsc::channel::<(u32, Vec<u8>)>(CHANNEL_DEPTH);
    let (ospf_tx, mut ospf_rx) = mpsc::channel::<(Received, Vec<u8>)>(CHANNEL_DEPTH);
    let hist = Arc::new(metrics::Histograms::default());
    let mut ex = Executor {
        l2tp_tx: UnderlaySink::new(l2tp_udp, L2tpUdpCodec),
        esp_tx: UnderlaySink::new(esp_udp.clone(), NattCodec::new()),
        esp_peers: cfg
            .peers
            .iter()
            .filter(|p| p.protected())
            .map(|p| p.address)
            .collect(),
        taps: BTreeMap::new(),
        tap_of_peer: HashMap::new(),
        sockets: BTreeMap::new(),
        lo_ifindex,
        route_src: cfg.loopback.first().copied(),
        installer,
        heal_counts: HealCounts::default(),
        hist: hist.clone(),
        role_changes: BTreeMap::new(),
        bfd_tx: BTreeMap::new(),
        dataplane: dataplane.clone(),
    };
    // BFD Control packets received on the TAPs: (ifindex, source, bytes, hop limit).
    let (bfd_rx_tx, mut bfd_rx) = mpsc::channel::<(u32, Ipv6Addr, Vec<u8>, u8)>(CHANNEL_DEPTH);
    let tap_channels = selfheal::TapChannels {
        frames: frame_tx.clone(),
        ospf: ospf_tx.clone(),
        bfd: bfd_rx_tx.clone(),
    };
    let mut tap_specs: BTreeMap<String, selfheal::TapSpec> = BTreeMap::new();
    let mut tap_io: BTreeMap<u32, selfheal::TapIo> = BTreeMap::new();
    for (i, p) in cfg.peers.iter().enumerate() {
        let mac = tap::tap_mac(cfg.router_id, u8::try_from(i).unwrap_or(u8::MAX));
        let t = match &dataplane {
            Some(_) => {
                crate::dataplane::open_tap(&nl, &p.tap, mac, cfg.ospf.mtu, &cfg.dataplane).await?
            }
            None => tap::open(&nl, &p.tap, mac, cfg.ospf.mtu).await?,
        };
        tracing::info!(
            tap = %t.name,
            peer = %p.name,
            "TAP {} (ifindex {}) {} for peer {}",
            t.name,
            t.ifindex,
            t.link_local,
            p.name
        );
        let tio = selfheal::start_io(&t, cfg.ospf.enabled, &tap_channels)?;
        if let Some(sock) = &tio.ospf {
            ex.sockets.insert(t.ifindex, sock.clone());
        }
        if let Some(dp) = &dataplane {
            dp.attach_tap(p.address, &t, cfg.ospf.mtu)
                .map_err(io(format!("data plane thread for {}", t.name)))?;
        }
        tap_io.insert(t.ifindex, tio);
        tap_specs.insert(
            p.tap.clone(),
            selfheal::TapSpec {
                peer: p.address,
                name: p.tap.clone(),
                mac,
                mtu: cfg.ospf.mtu,
            },
        );
        ex.tap_of_peer.insert(p.address, t.ifindex);
        ex.taps.insert(t.ifindex, t);
    }
    // Devices being reopened (self-healing), and the results of the reopening tasks.
    let mut reopening: HashSet<String> = HashSet::new();
    let (reopen_tx, mut reopen_rx) = mpsc::channel::<selfheal::Reopened>(CHANNEL_DEPTH);
    let mut heal_tick = tokio::time::interval(selfheal::CHECK_INTERVAL);
    heal_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let (probe_tx, mut probe_rx) = mpsc::channel(CHANNEL_DEPTH);
    let mut probe_stats =
        crate::health::spawn_probers(core.checks(), probe_tx).map_err(io("health check thread"))?;
    // Operator control (`ha_node ctl`) and reloads (SIGHUP): see crate::control and
    // crate::reload.
    let (ctl_tx, mut ctl_rx) = mpsc::channel(crate::control::COMMAND_DEPTH);
    let control = crate::control::serve(&cfg.control, ctl_tx)
        .await
        .map_err(|e| DaemonError::Io {
            what: "control socket".into(),
            source: std::io::Error::other(e),
        })?;
    tracing::info!("control socket {}", cfg.control.socket.display());
    let mut sighup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;
    let mut table = read_table(config_path).map_err(|e| DaemonError::Io {
        what: format!("re-reading {}", config_path.display()),
        source: std::io::Error::other(e),
    })?;
    let mut probe_log = crate::status::ProbeLog::default();
    probe_log.set_checks(policy_checks(&core));
    let mut reloads = (0u64, 0u64, None::<String>);
    let (reload_tx, mut reload_rx) = mpsc::channel::<Prepared>(4);

    // Metrics: a snapshot of the core once a second, served by a task of its own.
    let (snap_tx, snap_rx) = tokio::sync::watch::channel(Arc::new(metrics::Snapshot::default()));
    if let Some(addr) = cfg.metrics_listen {
        let bound = metrics::spawn(addr, metrics::registry(snap_rx, &hist))
            .await
            .map_err(io(format!("metrics endpoint {addr}")))?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
    }
    let mut check_names = check_names(&cfg);
    let mut spf_runs = core.ospf().counters().spf_runs;

    let mut sigterm = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let mut grace = cfg
        .anycast
        .iter()
        .map(|a| Duration::from_secs(a.shutdown_grace_s))
        .max()
        .unwrap_or_default();

    core.start(Instant::now());
    ike.start(Instant::now());
    ex.execute(&mut core).await;
    send_ike(&mut ike, ike_udp.as_deref(), &esp_udp).await;
    // systemd (Type=notify): READY=1 once every peer's pseudowire is up, or after
    // READY_WAIT whatever their state (a peer that is down must not fail the start);
    // STATUS= says how many are up.
    let ready_by = Instant::now() + READY_WAIT;
    let mut ready = false;
    let mut pw_up_shown = usize::MAX;
    let mut shutdown_since: Option<Instant> = None;
    loop {
        let wake = [core.poll_timeout(), ike.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some((from, via, mut d)) = udp_rx.recv() => match via {
                Via::Ike => ike.handle_datagram(Instant::now(), cfg.esp_listen().port(), from, &d),
                _ => core.handle_underlay_via(Instant::now(), from, via, &mut d),
            },
            Some((port, from, d)) = ike_rx.recv() => ike.handle_datagram(Instant::now(), port, from, &d),
            Some((ifindex, f)) = frame_rx.recv() => {
                core.handle_frame(Instant::now(), ifindex, &f);
            }
            Some((r, bytes)) = ospf_rx.recv() => {
                let t = Instant::now();
                core.handle_ospf(t, r.ifindex, r.src, r.dst, &bytes);
                note_spf(&core, &hist, &mut spf_runs, t);
            }
            Some((id, r)) = probe_rx.recv() => {
                probe_log.record(Instant::now(), id, &r);
                note_probe(&hist, &check_names, id, &r);
                core.handle_probe_result(Instant::now(), id, r);
            }
            Some((ifindex, src, bytes, ttl)) = bfd_rx.recv() => core.handle_bfd(Instant::now(), ifindex, src, &bytes, ttl),
            Some(report) = kernel_rx.recv() => ex.on_kernel_report(&report),
            _ = heal_tick.tick() => {
                if cfg.metrics_listen.is_some() {
                    let d = daemon_counts(&ex, &cfg, &tap_specs, &natt_counts, &probe_stats, &ike);
                    snap_tx.send_replace(Arc::new(metrics::snapshot(&core, &d)));
                }
                // A TAP device that disappeared: its tasks stop, the core detaches its
                // interface, and a task opens it again.
                let gone: Vec<Tap> = ex.taps.values().filter(|t| tap::is_gone(t)).cloned().collect();
                for t in gone {
                    tracing::warn!(tap = %t.name, ifindex = t.ifindex, "TAP {} (ifindex {}) is gone: reopening", t.name, t.ifindex);
                    ex.heal_counts.taps_lost += 1;
                    tap_io.remove(&t.ifindex);
                    ex.forget_tap(t.ifindex);
                    core.detach(Instant::now(), t.ifindex);
                    if let Some(spec) = tap_specs.get(&t.name)
                        && reopening.insert(t.name.clone())
                    {
                        selfheal::spawn_reopen(nl.clone(), spec.clone(), 0, reopen_tx.clone());
                    }
                }
            }
            Some((spec, attempt, r)) = reopen_rx.recv() => match r.map_err(DaemonError::from).and_then(|t| {
                selfheal::start_io(&t, cfg.ospf.enabled, &tap_channels).map(|io| (t, io))
            }) {
                Ok((_, _)) if tap_specs.get(&spec.name).is_none_or(|s| s.peer != spec.peer) => {
                    // Its peer was removed by a reload meanwhile: the device closes.
                    reopening.remove(&spec.name);
                }
                Ok((t, tio)) => {
                    reopening.remove(&spec.name);
                    ex.heal_counts.taps_reopened += 1;
                    tracing::info!(tap = %t.name, ifindex = t.ifindex, peer = %spec.peer, "TAP {} back (ifindex {})", t.name, t.ifindex);
                    if let Some(sock) = &tio.ospf {
                        ex.sockets.insert(t.ifindex, sock.clone());
                    }
                    tap_io.insert(t.ifindex, tio);
                    ex.tap_of_peer.insert(spec.peer, t.ifindex);
                    let (ifindex, ll) = (t.ifindex, t.link_local);
                    ex.taps.insert(ifindex, t);
                    if let Some(dp) = &dataplane
                        && let Some(t) = ex.taps.get(&ifindex)
                        && let Err(e) = dp.attach_tap(spec.peer, t, spec.mtu)
                    {
                        tracing::warn!(tap = %spec.name, "data plane thread: {e}");
                    }
                    if let Some(sid) = core.session_of_peer(&spec.peer) {
                        core.attach(Instant::now(), sid, ifindex, ll);
                    }
                }
                Err(e) => {
                    ex.heal_counts.tap_reopen_failures += 1;
                    tracing::warn!(tap = %spec.name, attempt, "reopening TAP {}: {e}", spec.name);
                    selfheal::spawn_reopen(nl.clone(), spec, attempt.saturating_add(1), reopen_tx.clone());
                }
            },
            Some((ifindex, frame)) = async { match dp_control.as_mut() { Some(c) => c.recv().await, None => std::future::pending().await } } => {
                crate::dataplane::handle_control_frame(&mut core, Instant::now(), ifindex, &frame);
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                // Probe results already waiting count before the timers: when the loop
                // wakes late, a staleness timer must not fire past a fresh result.
                while let Ok((id, r)) = probe_rx.try_recv() {
                    probe_log.record(Instant::now(), id, &r);
                    note_probe(&hist, &check_names, id, &r);
                    core.handle_probe_result(Instant::now(), id, r);
                }
                let t = Instant::now();
                core.handle_timeout(t);
                ike.handle_timeout(t);
                note_spf(&core, &hist, &mut spf_runs, t);
            }
            _ = sigterm.recv() => {
                if shutdown_since.is_some() { break; }
                tracing::info!("SIGTERM: withdrawing, address removal after {grace:?}");
                shutdown_since = Some(Instant::now());
                core.handle_command(Instant::now(), AdminCommand::Shutdown);
            }
            _ = sigint.recv() => {
                if shutdown_since.is_some() { break; }
                tracing::info!("SIGINT: withdrawing, address removal after {grace:?}");
                shutdown_since = Some(Instant::now());
                core.handle_command(Instant::now(), AdminCommand::Shutdown);
            }
            Some(cmd) = ctl_rx.recv() => {
                let crate::control::Command { request, reply } = cmd;
                let answer = match request {
                    crate::control::Request::Status {} => {
                        let extra = crate::status::Extra {
                            config_path: &config_path.display().to_string(),
                            started: t0,
                            tap_names: ex.taps.values().map(|t| (t.ifindex, t.name.clone())).collect(),
                            tap_of_peer: ex.tap_of_peer.iter().map(|(a, i)| (*a, *i)).collect(),
                            drops: status_drops(&natt_counts, &probe_stats, &control.stats),
                            probes: &probe_log,
                            reloads: reloads.clone(),
                            healing: vec![
                                ("tap.lost".into(), ex.heal_counts.taps_lost),
                                ("tap.reopened".into(), ex.heal_counts.taps_reopened),
                                ("tap.reopen_failures".into(), ex.heal_counts.tap_reopen_failures),
                            ],
                            ike: (ike.status(Instant::now()), ike.counts),
                        };
                        let st = crate::status::snapshot(Instant::now(), &core, &cfg, &extra);
                        crate::control::Answer { ok: true, status: Some(Box::new(st)), ..Default::default() }
                    }
                    crate::control::Request::Reload {} => {
                        // Read and checked off the event loop; applied when ready.
                        spawn_prepare(config_path, "ctl reload", Some(reply), &reload_tx);
                        continue;
                    }
                    other => crate::control::admin(Instant::now(), &mut core, &cfg, &other),
                };
                let _ = reply.send(answer);
            }
            _ = sighup.recv() => spawn_prepare(config_path, "SIGHUP", None, &reload_tx),
            Some(prepared) = reload_rx.recv() => {
                let Prepared { result, why, reply } = prepared;
                let checks = core.checks();
                let outcome = match result {
                    Ok((new, new_table)) => {
                        reload_config(Reloader {
                            cfg: &mut cfg,
                            table: &mut table,
                            core: &mut core,
                            ex: &mut ex,
                            nl: &nl,
                            tap_specs: &mut tap_specs,
                            tap_io: &mut tap_io,
                            reopening: &mut reopening,
                            reopen_tx: &reopen_tx,
                            lo_ifindex,
                        }, new, new_table, why).await
                    }
                    Err(e) => {
                        tracing::error!("{why}: configuration not reloaded: {e}");
                        Err(e)
                    }
                };
                if after_reload(&outcome, &mut reloads) && core.checks() != checks {
                    restart_probers(&core, &mut probe_rx, &mut probe_stats, &mut probe_log);
                    check_names = self::check_names(&cfg);
                }
                grace = max_grace(&cfg);
                if let Some(reply) = reply {
                    let _ = reply.send(match outcome {
                        Ok(m) => crate::control::Answer::done(m),
                        Err(e) => crate::control::Answer::error(e),
                    });
                }
            }
        }
        ex.execute(&mut core).await;
        send_ike(&mut ike, ike_udp.as_deref(), &esp_udp).await;
        while let Some(peer) = ike.poll_restarted() {
            core.peer_restarted(Instant::now(), &peer);
            ex.execute(&mut core).await;
        }
        let up = cfg
            .peers
            .iter()
            .filter(|p| core.session_of_peer(&p.address).is_some())
            .count();
        if up != pw_up_shown {
            pw_up_shown = up;
            let status = format!("{up} of {} pseudowires up", cfg.peers.len());
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&status)]);
        }
        if !ready && (up == cfg.peers.len() || Instant::now() >= ready_by) {
            ready = true;
            tracing::info!("ready: {up} of {} pseudowires up", cfg.peers.len());
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        }
        if let Some(since) = shutdown_since {
            let stopped = core.policy().is_none_or(|p| p.is_stopped());
            // The grace is bounded by the configuration (MAX_POLICY_DELAY_S); saturate
            // anyway rather than overflow.
            if stopped || since.elapsed() > grace.saturating_add(Duration::from_secs(5)) {
                break;
            }
        }
    }

    let sec = core.security_counts();
    tracing::info!(
        "security: {} datagrams from unknown sources, {} on the wrong socket for their \
         peer, {} data messages for another peer's session, {} extra sessions refused, \
         {} learned routes not installed",
        sec.unknown_source,
        sec.wrong_protection,
        sec.data_wrong_peer,
        sec.extra_sessions_refused,
        sec.routes_refused
    );
    for (peer, sealed, opened, dropped) in core.esp_counts() {
        tracing::info!("ESP with {peer}: {sealed} sealed, {opened} opened, {dropped} dropped");
    }
    tracing::info!(
        "ESP socket: {} NAT-keepalives, {} IKE messages dropped, {} malformed datagrams",
        natt_counts.keepalives.load(Ordering::Relaxed),
        natt_counts.ike_dropped.load(Ordering::Relaxed),
        natt_counts.malformed.load(Ordering::Relaxed)
    );
    tracing::info!(
        "health checks: {} probes, {} timeouts, {} results dropped (channel full)",
        probe_stats.started.load(Ordering::Relaxed),
        probe_stats.timeouts.load(Ordering::Relaxed),
        probe_stats.dropped.load(Ordering::Relaxed)
    );
    if let Some(dp) = &dataplane {
        dp.log_counts();
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    control.close();
    tracing::info!("closing control connections");
    core.close_all(Instant::now());
    ex.execute(&mut core).await;
    // The StopCCNs left under the SAs; now the SAs go (the peers stop sending into
    // them at once).
    ike.shutdown(Instant::now());
    send_ike(&mut ike, ike_udp.as_deref(), &esp_udp).await;
    // Let the installer finish what the policy asked (at most 2 s), then remove our
    // routes and addresses whatever it did.
    let settle = Instant::now() + Duration::from_secs(2);
    while !ex.installer.is_idle() {
        match tokio::time::timeout_at(settle.into(), kernel_rx.recv()).await {
            Ok(Some(report)) => ex.on_kernel_report(&report),
            _ => break,
        }
    }
    match nl.flush_routes().await {
        Ok(n) => tracing::info!("{n} routes removed"),
        Err(e) => tracing::warn!("removing our routes: {e}"),
    }
    if let Err(e) = nl.flush_addresses(lo_ifindex, &ours_on_lo).await {
        tracing::warn!("removing our addresses: {e}");
    }
    let k = ex.installer.stats();
    tracing::info!(
        "kernel changes: {} applied, {} failed, {} batches, {} coalesced",
        k.ok,
        k.failed,
        k.batches,
        k.coalesced
    );
    tracing::info!("stopped");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Operator control and reloads (`ha_node ctl`, SIGHUP): see crate::control,
// crate::status and crate::reload.

/// The configuration file as a TOML table, for [`crate::reload::plan`].
fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    // The message only: the error's Display quotes the line, which may hold a secret.
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

/// The policy's checks with their prefixes and names, for the probe log.
fn policy_checks(
    core: &Core<SocketAddr>,
) -> Vec<(
    anycast_failover::CheckId,
    anycast_failover::Ipv6Prefix,
    &str,
)> {
    core.policy()
        .map(|p| {
            p.checks()
                .map(|(id, prefix, spec)| (id, prefix, spec.name.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon's own drop counters, for `ctl status`.
fn status_drops(
    natt: &NattCounts,
    probes: &crate::health::ProbeStats,
    control: &crate::control::ControlStats,
) -> Vec<(String, u64)> {
    let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
    vec![
        ("esp_socket.ike_dropped".into(), l(&natt.ike_dropped)),
        ("esp_socket.malformed".into(), l(&natt.malformed)),
        ("health.results_dropped".into(), l(&probes.dropped)),
        ("health.timeouts".into(), l(&probes.timeouts)),
        ("control.refused_busy".into(), l(&control.refused_busy)),
        (
            "control.refused_credentials".into(),
            l(&control.refused_credentials),
        ),
        ("control.bad_requests".into(), l(&control.bad_requests)),
    ]
}

/// The longest shutdown grace of the anycast prefixes.
fn max_grace(cfg: &Config) -> Duration {
    cfg.anycast
        .iter()
        .map(|a| Duration::from_secs(a.shutdown_grace_s))
        .max()
        .unwrap_or_default()
}

/// Counts a reload's outcome; true when it was applied.
fn after_reload(outcome: &Result<String, String>, counts: &mut (u64, u64, Option<String>)) -> bool {
    match outcome {
        Ok(m) => {
            counts.0 += 1;
            counts.2 = Some(format!("applied: {m}"));
            true
        }
        Err(e) => {
            counts.1 += 1;
            counts.2 = Some(format!("refused: {e}"));
            false
        }
    }
}

/// After a reload: the probers start again with the policy's check list when it
/// changed (the old ones stop as their channel closes; results still in flight are
/// dropped, since the check identifiers may have changed).
fn restart_probers(
    core: &Core<SocketAddr>,
    probe_rx: &mut mpsc::Receiver<(anycast_failover::CheckId, anycast_failover::ProbeResult)>,
    probe_stats: &mut Arc<crate::health::ProbeStats>,
    probe_log: &mut crate::status::ProbeLog,
) {
    let checks = core.checks();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    match crate::health::spawn_probers(checks, tx) {
        Ok(stats) => {
            *probe_rx = rx;
            *probe_stats = stats;
            probe_log.set_checks(policy_checks(core));
        }
        Err(e) => tracing::error!("reload: health check thread: {e}; the old probers go on"),
    }
}

/// A configuration file read and checked off the event loop, for a reload.
struct Prepared {
    result: Result<(Config, toml::Table), String>,
    why: &'static str,
    reply: Option<tokio::sync::oneshot::Sender<crate::control::Answer>>,
}

/// Reads and checks the configuration on a blocking thread (file reads, key files,
/// validation: none of it may stall the event loop's BFD and OSPFv3 timers); the
/// result comes back on `tx` to be applied.
fn spawn_prepare(
    path: &Path,
    why: &'static str,
    reply: Option<tokio::sync::oneshot::Sender<crate::control::Answer>>,
    tx: &mpsc::Sender<Prepared>,
) {
    let (path, tx) = (path.to_path_buf(), tx.clone());
    tokio::spawn(async move {
        let result = tokio::task::spawn_blocking(move || {
            let new = crate::check::load(&path).map_err(|p| p.to_string())?;
            let table = read_table(&path)?;
            Ok((new, table))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the configuration: {e}")));
        let _ = tx.send(Prepared { result, why, reply }).await;
    });
}

/// What a reload may change.
struct Reloader<'a> {
    cfg: &'a mut Config,
    table: &'a mut toml::Table,
    core: &'a mut Core<SocketAddr>,
    ex: &'a mut Executor,
    nl: &'a Netlink,
    tap_specs: &'a mut BTreeMap<String, selfheal::TapSpec>,
    tap_io: &'a mut BTreeMap<u32, selfheal::TapIo>,
    reopening: &'a mut HashSet<String>,
    reopen_tx: &'a mpsc::Sender<selfheal::Reopened>,
    lo_ifindex: u32,
}

/// Re-reads the configuration and applies the difference ([`crate::reload`]); the
/// outcome is logged. On `Err` nothing was changed, except after a failure while
/// opening an added peer's TAP device (said so in the message).
async fn reload_config(
    r: Reloader<'_>,
    new: Config,
    table: toml::Table,
    why: &str,
) -> Result<String, String> {
    let t = Instant::now();
    let outcome = reload_inner(r, new, table).await;
    tracing::debug!("{why}: applied in {:?}", t.elapsed());
    match &outcome {
        Ok(m) => tracing::info!("{why}: configuration reloaded: {m}"),
        Err(e) => tracing::error!("{why}: configuration not reloaded: {e}"),
    }
    outcome
}

async fn reload_inner(r: Reloader<'_>, new: Config, table: toml::Table) -> Result<String, String> {
    let plan = crate::reload::plan(r.table, &table)?;
    let core_cfg = new.core_config(r.lo_ifindex).map_err(|e| e.to_string())?;
    if plan.is_empty() {
        *r.table = table;
        return Ok(plan.summary());
    }
    let now = Instant::now();
    if plan.anycast {
        let policy = new.failover().map_err(|e| e.to_string())?;
        r.core.reconfigure_policy(now, policy)?;
    }
    for name in &plan.remove {
        let Some(old) = r.cfg.peers.iter().find(|p| &p.name == name) else {
            continue;
        };
        r.core.remove_peer(Instant::now(), &old.address);
        r.ex.execute(r.core).await;
        if let Some(&ifindex) = r.ex.tap_of_peer.get(&old.address) {
            r.tap_io.remove(&ifindex);
            r.ex.forget_tap(ifindex);
        }
        r.ex.tap_of_peer.remove(&old.address);
        r.tap_specs.remove(&old.tap);
        r.reopening.remove(&old.tap);
        tracing::info!(peer = %name, "reload: peer {name} removed (TAP {} closed)", old.tap);
    }
    for name in &plan.add {
        let Some((i, p)) = new.peers.iter().enumerate().find(|(_, p)| &p.name == name) else {
            continue;
        };
        let Some(spec) = core_cfg.peers.get(i).cloned() else {
            continue;
        };
        // A MAC no other TAP of this node uses.
        let mac = (0..=u8::MAX)
            .map(|k| tap::tap_mac(new.router_id, k))
            .find(|m| !r.tap_specs.values().any(|s| s.mac == *m))
            .unwrap_or_else(|| tap::tap_mac(new.router_id, u8::MAX));
        // The device is opened by a task, as self-healing reopens one (opening waits
        // for the kernel, which must not stall the event loop: BFD and OSPFv3 of the
        // other peers go on); the result arrives on the reopen channel, which starts
        // its readers and attaches the session once both exist.
        let spec_tap = selfheal::TapSpec {
            peer: p.address,
            name: p.tap.clone(),
            mac,
            mtu: new.ospf.mtu,
        };
        r.tap_specs.insert(p.tap.clone(), spec_tap.clone());
        if r.reopening.insert(p.tap.clone()) {
            selfheal::spawn_reopen(r.nl.clone(), spec_tap, 0, r.reopen_tx.clone());
        }
        tracing::info!(peer = %name, tap = %p.tap, "reload: peer {name} added (TAP {} being opened)", p.tap);
        if spec.esp.is_some() {
            r.ex.esp_peers.insert(p.address);
        } else {
            r.ex.esp_peers.remove(&p.address);
        }
        r.core.add_peer(Instant::now(), spec).map_err(|e| {
            format!("peer {name}: {e}; applied partly: the peers before it were changed")
        })?;
        r.ex.execute(r.core).await;
    }
    *r.cfg = new;
    *r.table = table;
    Ok(plan.summary())
}
