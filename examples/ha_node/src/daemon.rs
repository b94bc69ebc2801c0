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
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anycast_failover::{Action, AdminCommand};
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use ipsec_lite::{NattCodec, NattDatagram};
use l2tpv3::tokio_codec::{Frame, L2tpUdpCodec};
use ospfv3::{RawSocket, RawSocketConfig, Received};
use tokio::net::UdpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::udp::UdpFramed;

use crate::config::{Config, ConfigError};
use crate::core::{Core, CoreError, Output};
use crate::netlink;
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

/// Largest datagram or frame read.
const BUF: usize = 65536;
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
    loopback_device: String,
    route_src: Option<Ipv6Addr>,
    /// BFD sending sockets by (ifindex, source port), bound to the TAP's link-local
    /// address and the session's port (RFC 5881 4: one source port per session);
    /// opened on a session's first packet, closed when the session is gone.
    bfd_tx: BTreeMap<(u32, u16), Arc<bfd::tokio_udp::BfdSocket>>,
}

impl Executor {
    fn dev_name(&self, ifindex: u32) -> Option<String> {
        self.taps.get(&ifindex).map(|t| t.name.clone())
    }

    async fn execute(&mut self, core: &mut Core<SocketAddr>) {
        while let Some(o) = core.poll_output() {
            match o {
                Output::Underlay { peer, datagram } => {
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
                            "pseudowire to {peer_name} up (session {session_id}) on {} {}",
                            t.name,
                            t.link_local
                        );
                        core.attach(Instant::now(), session_id, t.ifindex, t.link_local);
                    }
                    None => tracing::warn!("session {session_id} from {peer} has no TAP"),
                },
                Output::PseudowireDown {
                    session_id,
                    ifindex,
                } => tracing::warn!(
                    "pseudowire session {session_id} down (interface {:?})",
                    ifindex.and_then(|i| self.dev_name(i))
                ),
                Output::Frame { ifindex, frame } => {
                    if let Some(t) = self.taps.get(&ifindex)
                        && let Err(e) = t.dev.send(&frame).await
                    {
                        tracing::debug!("write to {}: {e}", t.name);
                    }
                }
                Output::Ospf(t) => {
                    if let Some(s) = self.sockets.get(&t.ifindex)
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
                    "BFD session with {router_id} on {}: {from:?} -> {to:?} ({diag:?})",
                    self.dev_name(ifindex).unwrap_or_default()
                ),
                Output::OspfEvent(ev) => self.on_ospf_event(ev).await,
                Output::L2tpEvent(ev) => match ev {
                    l2tpv3::Event::ConnectionUp {
                        peer, host_name, ..
                    } => {
                        tracing::info!(
                            "L2TPv3 control connection to {peer} ({}) up",
                            String::from_utf8_lossy(&host_name)
                        );
                    }
                    l2tpv3::Event::ConnectionDown { ccid, reason } => {
                        tracing::warn!("L2TPv3 control connection {ccid} down: {reason:?}");
                    }
                    other => tracing::debug!("L2TPv3: {other:?}"),
                },
                Output::Action(a) => self.on_action(a).await,
                Output::PolicyEvent(ev) => tracing::info!("failover: {ev:?}"),
                Output::Dropped { peer, reason } => {
                    tracing::debug!("dropped from {peer}: {reason}")
                }
            }
        }
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
                "OSPFv3 neighbor {router_id} on {}: {from:?} -> {to:?}",
                self.dev_name(ifindex).unwrap_or_default()
            ),
            Event::RouteAdd(route) => {
                let names = |i: u32| self.dev_name(i);
                match netlink::replace_route(&route, &names, self.route_src).await {
                    Ok(()) => tracing::info!(
                        "route {} cost {} via {:?} installed",
                        route.prefix,
                        route.cost,
                        route
                            .next_hops
                            .iter()
                            .map(|n| self.dev_name(n.ifindex).unwrap_or_default())
                            .collect::<Vec<_>>()
                    ),
                    Err(e) => tracing::warn!("installing route {}: {e}", route.prefix),
                }
            }
            Event::RouteRemove(prefix) => match netlink::delete_route(prefix).await {
                Ok(()) => tracing::info!("route {prefix} removed"),
                Err(e) => tracing::warn!("removing route {prefix}: {e}"),
            },
            other => tracing::debug!("OSPFv3: {other:?}"),
        }
    }

    async fn on_action(&mut self, a: Action) {
        let lo = self.loopback_device.clone();
        let result = match a {
            Action::AddLoopbackAddress { prefix } => {
                netlink::add_address(&lo, prefix.addr(), prefix.len()).await
            }
            Action::RemoveLoopbackAddress { prefix } => {
                netlink::del_address(&lo, prefix.addr(), prefix.len()).await
            }
            // The OSPFv3 side is applied by the core; its packets were sent above.
            Action::Advertise { .. } | Action::Withdraw { .. } => Ok(()),
            other => {
                tracing::warn!("failover action {other} not supported by this daemon");
                Ok(())
            }
        };
        match result {
            Ok(()) => tracing::info!("failover action: {a}"),
            Err(e) => tracing::error!("failover action {a} failed: {e}"),
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT and the graceful shutdown are done.
pub async fn run(cfg: Config) -> Result<(), DaemonError> {
    let lo_ifindex = nix::net::if_::if_nametoindex(cfg.loopback_device.as_str()).map_err(|e| {
        DaemonError::Io {
            what: format!("loopback device {}", cfg.loopback_device),
            source: e.into(),
        }
    })?;
    let t0 = Instant::now();
    let mut core = Core::new(t0, cfg.core_config(lo_ifindex)?)?;

    // A previous run may have left routes behind.
    if cfg.ospf.enabled {
        let _ = netlink::flush_routes().await;
    }
    for a in &cfg.loopback {
        netlink::add_address(&cfg.loopback_device, *a, 128).await?;
    }

    let bind = |addr: SocketAddr| async move {
        UdpSocket::bind(addr)
            .await
            .map(Arc::new)
            .map_err(io(format!("binding {addr}")))
    };
    let l2tp_udp = bind(cfg.listen).await?;
    let esp_udp = bind(cfg.esp_listen()).await?;
    tracing::info!(
        "{} ({}) listening on {} (L2TPv3) and {} (ESP-in-UDP)",
        cfg.name,
        cfg.router_id,
        cfg.listen,
        cfg.esp_listen()
    );
    // Both readers feed one channel: the core tells the peers apart by address.
    let (udp_tx, mut udp_rx) = mpsc::channel::<(SocketAddr, BytesMut)>(CHANNEL_DEPTH);
    {
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
                if udp_tx.send((from, datagram)).await.is_err() {
                    return;
                }
            }
        });
    }
    let natt_counts = Arc::new(NattCounts::default());
    {
        let mut framed = UdpFramed::new(esp_udp.clone(), NattCodec::new());
        let counts = natt_counts.clone();
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
                        counts.ike_dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("IKE from {from} ({} bytes) dropped: no IKE", ike.len());
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
                if udp_tx.send((from, esp)).await.is_err() {
                    return;
                }
            }
        });
    }

    let (frame_tx, mut frame_rx) = mpsc::channel::<(u32, Vec<u8>)>(CHANNEL_DEPTH);
    let (ospf_tx, mut ospf_rx) = mpsc::channel::<(Received, Vec<u8>)>(CHANNEL_DEPTH);
    let mut ex = Executor {
        l2tp_tx: UnderlaySink::new(l2tp_udp, L2tpUdpCodec),
        esp_tx: UnderlaySink::new(esp_udp, NattCodec::new()),
        esp_peers: cfg
            .peers
            .iter()
            .filter(|p| p.esp.is_some())
            .map(|p| p.address)
            .collect(),
        taps: BTreeMap::new(),
        tap_of_peer: HashMap::new(),
        sockets: BTreeMap::new(),
        loopback_device: cfg.loopback_device.clone(),
        route_src: cfg.loopback.first().copied(),
        bfd_tx: BTreeMap::new(),
    };
    // BFD Control packets received on the TAPs: (ifindex, source, bytes, hop limit).
    let (bfd_rx_tx, mut bfd_rx) = mpsc::channel::<(u32, Ipv6Addr, Vec<u8>, u8)>(CHANNEL_DEPTH);
    for (i, p) in cfg.peers.iter().enumerate() {
        let mac = tap::tap_mac(cfg.router_id, u8::try_from(i).unwrap_or(u8::MAX));
        let t = tap::open(&p.tap, mac, cfg.ospf.mtu).await?;
        tracing::info!(
            "TAP {} (ifindex {}) {} for peer {}",
            t.name,
            t.ifindex,
            t.link_local,
            p.name
        );
        if cfg.ospf.enabled {
            let sock = RawSocket::open(&RawSocketConfig::new(&t.name, t.link_local))
                .map(Arc::new)
                .map_err(io(format!("OSPFv3 raw socket on {}", t.name)))?;
            let (s, tx) = (sock.clone(), ospf_tx.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    match s.recv(&mut buf).await {
                        Ok(r) => {
                            if tx.send((r, buf[..r.len].to_vec())).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("OSPFv3 socket on ifindex {}: {e}", s.ifindex());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
            ex.sockets.insert(t.ifindex, sock);
            // BFD (RFC 5881) for the OSPFv3 neighbors on this TAP: one socket
            // receiving on the link-local address, port 3784.
            let at = SocketAddr::V6(SocketAddrV6::new(
                t.link_local,
                bfd::encap::CONTROL_PORT,
                0,
                t.ifindex,
            ));
            let bsock =
                bfd::tokio_udp::BfdSocket::bind(at).map_err(io(format!("BFD socket {at}")))?;
            let (ifindex, tx) = (t.ifindex, bfd_rx_tx.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 128];
                loop {
                    match bsock.recv(&mut buf).await {
                        Ok(r) => {
                            let SocketAddr::V6(src) = r.src else { continue };
                            let bytes = buf[..r.len.min(buf.len())].to_vec();
                            if tx.send((ifindex, *src.ip(), bytes, r.ttl)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("BFD socket on ifindex {ifindex}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        let (dev, ifindex, tx) = (t.dev.clone(), t.ifindex, frame_tx.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; BUF];
            loop {
                match dev.recv(&mut buf).await {
                    Ok(n) => {
                        if tx.send((ifindex, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("TAP read: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        ex.tap_of_peer.insert(p.address, t.ifindex);
        ex.taps.insert(t.ifindex, t);
    }

    let (probe_tx, mut probe_rx) = mpsc::channel(CHANNEL_DEPTH);
    let probe_stats =
        crate::health::spawn_probers(core.checks(), probe_tx).map_err(io("health check thread"))?;

    let mut sigterm = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let grace = cfg
        .anycast
        .iter()
        .map(|a| Duration::from_secs(a.shutdown_grace_s))
        .max()
        .unwrap_or_default();

    core.start(Instant::now());
    ex.execute(&mut core).await;
    let mut shutdown_since: Option<Instant> = None;
    loop {
        let wake = core
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some((from, mut d)) = udp_rx.recv() => core.handle_underlay(Instant::now(), from, &mut d),
            Some((ifindex, f)) = frame_rx.recv() => {
                core.handle_frame(Instant::now(), ifindex, &f);
            }
            Some((r, bytes)) = ospf_rx.recv() => core.handle_ospf(Instant::now(), r.ifindex, r.src, r.dst, &bytes),
            Some((id, r)) = probe_rx.recv() => core.handle_probe_result(Instant::now(), id, r),
            Some((ifindex, src, bytes, ttl)) = bfd_rx.recv() => core.handle_bfd(Instant::now(), ifindex, src, &bytes, ttl),
            _ = tokio::time::sleep_until(wake.into()) => {
                // Probe results already waiting count before the timers: when the loop
                // wakes late, a staleness timer must not fire past a fresh result.
                while let Ok((id, r)) = probe_rx.try_recv() {
                    core.handle_probe_result(Instant::now(), id, r);
                }
                core.handle_timeout(Instant::now());
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
        }
        ex.execute(&mut core).await;
        if let Some(since) = shutdown_since {
            let stopped = core.policy().is_none_or(|p| p.is_stopped());
            if stopped || since.elapsed() > grace + Duration::from_secs(5) {
                break;
            }
        }
    }

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
    tracing::info!("closing control connections");
    core.close_all(Instant::now());
    ex.execute(&mut core).await;
    let _ = netlink::flush_routes().await;
    for a in &cfg.loopback {
        let _ = netlink::del_address(&cfg.loopback_device, *a, 128).await;
    }
    tracing::info!("stopped");
    Ok(())
}
