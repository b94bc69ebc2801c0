//! The batched user-space data plane: Ethernet frames between the TAP devices and
//! the underlay UDP sockets, off the control event loop.
//!
//! The control loop (the [`crate::core::Core`] on tokio) keeps everything that is
//! not bulk data: L2TPv3 control, OSPFv3, BFD, health. This module carries the
//! frames, on threads of its own:
//!
//! * **one transmit thread per pseudowire** reads its TAP device. The TAP is opened
//!   with `IFF_VNET_HDR` and TSO/checksum offload ([`open_tap`]), so the kernel hands
//!   over TCP super-frames of up to 64 KB at a time; [`vnet::Segmenter`] cuts them
//!   into frames that fit the pseudowire (checksums completed in user space), each
//!   written once into a batch buffer behind headroom for the L2TPv3 header and the
//!   ESP header, encapsulated in place ([`l2tpv3::HeaderTemplate::encapsulate`]) and
//!   sealed in place (`ipsec_lite::SecurityAssociation::seal`). Consecutive datagrams
//!   of equal length go out in one `sendmsg` with UDP GSO (`UDP_SEGMENT`) through
//!   `quinn-udp`: a 64 KB super-frame is one read and one send;
//! * **one receive thread** for both underlay sockets reads batches with `recvmmsg`
//!   and UDP GRO (`quinn-udp`), opens ESP in place, checks each data message against
//!   its session's receive template (Session ID and cookie in constant time) and
//!   writes the frame to the TAP with one `writev` (virtio-net header + frame, no
//!   copy). Control messages (T bit), data the fast path does not take (sequenced,
//!   or for a session not handed over yet) and datagrams from unknown sources go to
//!   the control loop unchanged, through the same channel the legacy reader tasks
//!   used, so the core sees what it saw before;
//! * **per-session state** is shared as follows. The control loop hands a session
//!   over when its pseudowire comes up ([`Dataplane::install`]): both header
//!   templates and the transmit sequence state ([`l2tpv3::SessionTemplates`]); from
//!   then on only the transmit thread of that pseudowire encapsulates for it (an
//!   atomic holds its sequence number). ESP: the peer's SAs
//!   ([`crate::esp::EspPeer`]) are shared with the control loop, which keys them
//!   (IKEv2 installs, rekeys and deletes them at run time); the outbound SA sits
//!   behind a mutex shared by the transmit thread and the control loop (whose
//!   L2TPv3 control messages to the peer are sealed by [`Dataplane::seal_control`]),
//!   so one counter numbers every packet under the key and no sequence number is
//!   ever used twice; the receive thread opens every datagram from the peer (the
//!   inbound SAs and their anti-replay windows behind their own mutex) and hands
//!   the control loop the opened control messages, and IKE messages (non-ESP
//!   marker) as they came. A datagram from an ESP peer's address on the clear L2TPv3 socket is
//!   dropped and counted, never passed on: nothing unprotected is accepted from a
//!   protected peer.
//!
//! Buffers are allocated once per thread; nothing is allocated per packet on the
//! data path (a control message handed to the control loop is copied into a
//! `BytesMut`, as before).

pub mod vnet;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use bytes::BytesMut;
use l2tpv3::{HeaderTemplate, SessionTemplates};
use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tun_rs::{AsyncDevice, DeviceBuilder, Layer};

use crate::core::Via;
use crate::esp::EspPeer;
use crate::frame::{Mac, link_local_for};
use crate::netlink::Netlink;
use crate::tap::{Tap, TapError};

/// `[dataplane]`: the batched data plane.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Carry the pseudowires' frames on the batched data plane (default true);
    /// false: the legacy path, every frame through the control event loop.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Open the TAP devices with `IFF_VNET_HDR` and TSO/checksum offload (default
    /// true): the kernel hands over super-frames of up to 64 KB, segmented here.
    #[serde(default = "yes")]
    pub offload: bool,
}

fn yes() -> bool {
    true
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            enabled: true,
            offload: true,
        }
    }
}

/// Counters of the data plane, all monotonic.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames read from the TAPs (super-frames count once).
    pub tap_reads: AtomicU64,
    /// Datagrams sent to the underlay.
    pub tx_datagrams: AtomicU64,
    /// `sendmsg` calls (one per GSO batch).
    pub tx_sends: AtomicU64,
    /// Frames dropped on transmit: no session yet, a malformed super-frame, a seal
    /// or send failure.
    pub tx_dropped: AtomicU64,
    /// Datagrams received from the underlay.
    pub rx_datagrams: AtomicU64,
    /// `recvmmsg` calls.
    pub rx_reads: AtomicU64,
    /// Frames written to the TAPs by the fast path.
    pub rx_frames: AtomicU64,
    /// Datagrams handed to the control loop (control messages, slow-path data).
    pub to_core: AtomicU64,
    /// Datagrams dropped because the channel to the control loop was full.
    pub to_core_dropped: AtomicU64,
    /// ESP packets that did not open (integrity, replay, wrong SPI, truncated).
    pub esp_dropped: AtomicU64,
    /// Clear datagrams from an ESP peer's address, and other datagrams refused.
    pub rx_refused: AtomicU64,
    /// NAT-keepalives received.
    pub keepalives: AtomicU64,
    /// TAP write failures.
    pub tap_write_errors: AtomicU64,
    /// OSPFv3 and BFD packets sent straight over a pseudowire by the control loop.
    pub control_sent: AtomicU64,
    /// OSPFv3 and BFD frames received and handed straight to the control loop.
    pub control_received: AtomicU64,
    /// Of those, dropped because the channel was full.
    pub control_dropped: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// An established session handed over by the control loop.
pub(crate) struct Path {
    pub(crate) session_id: u32,
    pub(crate) rx: HeaderTemplate,
    pub(crate) tx: HeaderTemplate,
    /// Next transmit sequence number when the peer asked for sequencing.
    pub(crate) tx_seq: Option<AtomicU32>,
}

/// One underlay peer.
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    /// Interface index and MAC of its TAP (0 until attached).
    pub(crate) ifindex: AtomicU32,
    pub(crate) mac: Mutex<Mac>,
    pub(crate) esp: Option<Arc<EspPeer>>,
    pub(crate) tap: RwLock<Option<Arc<AsyncDevice>>>,
    /// Whether its TAP has the virtio-net header (offload): a TAP reopened by the
    /// self-healing code has none.
    pub(crate) offload: AtomicBool,
    pub(crate) path: RwLock<Option<Arc<Path>>>,
}

impl Peer {
    pub(crate) fn path(&self) -> Option<Arc<Path>> {
        self.path.read().ok().and_then(|p| p.clone())
    }
}

/// An underlay socket with its `quinn-udp` state.
pub(crate) struct Underlay {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) state: UdpSocketState,
}

/// What the threads share.
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    pub(crate) offload: bool,
    pub(crate) peers: RwLock<HashMap<SocketAddr, Arc<Peer>>>,
    pub(crate) by_ifindex: RwLock<HashMap<u32, Arc<Peer>>>,
    pub(crate) clear: Underlay,
    pub(crate) esp: Underlay,
    pub(crate) to_core: mpsc::Sender<(SocketAddr, Via, BytesMut)>,
    /// OSPFv3 and BFD frames received over a pseudowire, for the control loop
    /// (interface index, Ethernet frame): they skip the kernel and its queues.
    pub(crate) to_control: mpsc::Sender<(u32, Vec<u8>)>,
    /// Whether OSPFv3 and BFD frames go to the control loop (the node runs OSPFv3
    /// itself) rather than to the TAP (another router on the TAP, e.g. FRR).
    pub(crate) divert_control: AtomicBool,
    pub(crate) counters: Counters,
}

impl Shared {
    /// Hands a datagram to the control loop; counts a full channel.
    /// `via`: the socket it came in on; [`Via::Clear`] for what this data plane
    /// opened (the core no longer holds that peer's SAs, see
    /// [`crate::core::Core::take_esp`]).
    pub(crate) fn forward(&self, from: SocketAddr, via: Via, msg: &[u8]) {
        Counters::bump(&self.counters.to_core);
        if self
            .to_core
            .try_send((from, via, BytesMut::from(msg)))
            .is_err()
        {
            Counters::bump(&self.counters.to_core_dropped);
        }
    }
}

/// The data plane of a daemon; dropping it stops its threads.
pub struct Dataplane {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("offload", &self.shared.offload)
            .finish()
    }
}

impl Dataplane {
    /// Starts the data plane on the daemon's two underlay sockets (the clear L2TPv3
    /// one and the ESP-in-UDP one): its receive thread reads both from now on, and
    /// hands the control loop what is not bulk data through `to_core`.
    ///
    /// The receiver it returns yields the OSPFv3 and BFD frames that arrived over a
    /// pseudowire (interface index, frame): the control loop hands them to the core
    /// with [`handle_control_frame`]. They and the control loop's own OSPFv3 and BFD
    /// packets ([`Dataplane::send_control`]) go straight between the control loop
    /// and the underlay, never through a TAP queue a saturated data path fills.
    #[allow(clippy::type_complexity)]
    pub fn start(
        cfg: &DataplaneConfig,
        clear: Arc<UdpSocket>,
        esp: Arc<UdpSocket>,
        to_core: mpsc::Sender<(SocketAddr, Via, BytesMut)>,
    ) -> std::io::Result<(Arc<Dataplane>, mpsc::Receiver<(u32, Vec<u8>)>)> {
        let (to_control, control_rx) = mpsc::channel(CONTROL_DEPTH);
        let underlay = |socket: Arc<UdpSocket>| -> std::io::Result<Underlay> {
            let state = UdpSocketState::new(quinn_udp::UdpSockRef::from(&*socket))?;
            set_buffers(&socket);
            Ok(Underlay { socket, state })
        };
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            offload: cfg.offload,
            peers: RwLock::new(HashMap::new()),
            by_ifindex: RwLock::new(HashMap::new()),
            clear: underlay(clear)?,
            esp: underlay(esp)?,
            to_core,
            to_control,
            divert_control: AtomicBool::new(true),
            counters: Counters::default(),
        });
        tracing::info!(
            "data plane: UDP GSO up to {} segments, GRO {} segments, TAP offload {}",
            shared.clear.state.max_gso_segments(),
            shared.clear.state.gro_segments(),
            cfg.offload
        );
        let rx = {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("dp-rx".into())
                .spawn(move || worker::rx_loop(&s))?
        };
        Ok((
            Arc::new(Dataplane {
                shared,
                threads: Mutex::new(vec![rx]),
            }),
            control_rx,
        ))
    }

    /// Registers an underlay peer; `esp` (from the core, see
    /// [`crate::core::Core::esp_to_dataplane`]) makes it a protected peer whose every
    /// datagram this data plane seals and opens.
    /// `tap` names its TAP device: the daemon's own TAP reader leaves it alone
    /// ([`reads_tap`]).
    pub fn add_peer(&self, addr: SocketAddr, tap: &str, esp: Option<Arc<EspPeer>>) {
        if let Ok(mut names) = TAPS.lock() {
            names.insert(tap.to_string());
        }
        let peer = Arc::new(Peer {
            addr,
            ifindex: AtomicU32::new(0),
            mac: Mutex::new([0; 6]),
            esp,
            tap: RwLock::new(None),
            offload: AtomicBool::new(false),
            path: RwLock::new(None),
        });
        if let Ok(mut peers) = self.shared.peers.write() {
            peers.insert(addr, peer);
        }
    }

    /// Whether received OSPFv3 and BFD frames go straight to the control loop
    /// (default; the node runs OSPFv3 itself) or to the TAP like any frame (false:
    /// another routing daemon runs on the TAPs).
    pub fn divert_control(&self, on: bool) {
        self.shared.divert_control.store(on, Ordering::Relaxed);
    }

    /// Whether `peer`'s ESP is done here (its control messages must be sealed with
    /// [`Dataplane::seal_control`]).
    pub fn has_esp(&self, peer: &SocketAddr) -> bool {
        self.peer(peer).is_some_and(|p| p.esp.is_some())
    }

    fn peer(&self, addr: &SocketAddr) -> Option<Arc<Peer>> {
        self.shared
            .peers
            .read()
            .ok()
            .and_then(|p| p.get(addr).cloned())
    }

    /// Gives peer `addr` its TAP device and starts the thread that reads it.
    pub fn attach_tap(&self, addr: SocketAddr, tap: &Tap, mtu: u16) -> std::io::Result<()> {
        let Some(peer) = self.peer(&addr) else {
            return Err(std::io::Error::other(format!(
                "{addr} is not a data plane peer"
            )));
        };
        if let Ok(mut t) = peer.tap.write() {
            *t = Some(tap.dev.clone());
        }
        peer.ifindex.store(tap.ifindex, Ordering::Relaxed);
        peer.offload.store(tap.dev.tcp_gso(), Ordering::Relaxed);
        if let Ok(mut m) = peer.mac.lock() {
            *m = tap.mac;
        }
        if let Ok(mut m) = self.shared.by_ifindex.write() {
            m.insert(tap.ifindex, peer.clone());
        }
        let (s, dev) = (self.shared.clone(), tap.dev.clone());
        let handle = std::thread::Builder::new()
            .name(format!("dp-tx-{}", tap.name))
            .spawn(move || worker::tx_loop(&s, &peer, &dev, mtu))?;
        if let Ok(mut t) = self.threads.lock() {
            t.push(handle);
        }
        Ok(())
    }

    /// Hands an established session over: from now on its data in both directions
    /// goes through the data plane. Returns false when the session's peer is not
    /// known here.
    pub fn install(&self, t: SessionTemplates<SocketAddr>) -> bool {
        let Some(peer) = self.peer(&t.peer) else {
            return false;
        };
        let path = Arc::new(Path {
            session_id: t.session_id,
            rx: t.rx,
            tx: t.tx,
            tx_seq: t.tx_next_sequence.map(AtomicU32::new),
        });
        if let Ok(mut p) = peer.path.write() {
            *p = Some(path);
        }
        true
    }

    /// Takes session `session_id` back (its pseudowire went down): its data goes to
    /// the control loop again until a new session is installed.
    pub fn remove_session(&self, session_id: u32) {
        let Ok(peers) = self.shared.peers.read() else {
            return;
        };
        for p in peers.values() {
            if let Ok(mut path) = p.path.write()
                && path.as_ref().is_some_and(|x| x.session_id == session_id)
            {
                *path = None;
            }
        }
    }

    /// Seals an L2TPv3 message from the control loop to ESP peer `peer`; `None`
    /// when the peer's ESP is not done here or sealing failed (counted).
    pub fn seal_control(
        &self,
        now: std::time::Instant,
        peer: &SocketAddr,
        msg: &[u8],
    ) -> Option<Vec<u8>> {
        let p = self.peer(peer)?;
        let esp = p.esp.as_ref()?;
        match esp.seal_message(now, msg) {
            Ok(pkt) => Some(pkt),
            Err(e) => {
                tracing::debug!("ESP seal to {peer}: {e}");
                Counters::bump(&self.shared.counters.tx_dropped);
                None
            }
        }
    }

    /// Sends one OSPFv3 (`next_header` 89) or UDP (BFD) packet of the control loop
    /// from interface `ifindex` straight over its pseudowire, in an Ethernet frame
    /// built here (source: the TAP's MAC; destination: the multicast MAC, or the one
    /// a link-local address encodes), sealed when the peer has ESP. False when the
    /// interface has no session in the data plane: the caller then sends through
    /// the kernel as before.
    pub fn send_control(
        &self,
        ifindex: u32,
        src: std::net::Ipv6Addr,
        dst: std::net::Ipv6Addr,
        next_header: u8,
        hop_limit: u8,
        payload: &[u8],
    ) -> bool {
        let peer = self
            .shared
            .by_ifindex
            .read()
            .ok()
            .and_then(|m| m.get(&ifindex).cloned());
        let Some(peer) = peer else { return false };
        let Some(path) = peer.path() else {
            return false;
        };
        let mac = peer.mac.lock().map(|m| *m).unwrap_or([0; 6]);
        let frame = crate::frame::build_ipv6_frame(
            crate::frame::dst_mac_for(dst),
            mac,
            src,
            dst,
            next_header,
            hop_limit,
            payload,
        );
        Counters::bump(&self.shared.counters.control_sent);
        worker::send_one(&self.shared, &peer, &path, &frame);
        true
    }

    /// Writes a frame the control loop received over the pseudowire (slow path) to
    /// the TAP `ifindex`, with the virtio-net header when offload is on; false when
    /// the TAP is not the data plane's (the caller writes it).
    pub fn write_frame(&self, ifindex: u32, frame: &[u8]) -> bool {
        let peer = self
            .shared
            .by_ifindex
            .read()
            .ok()
            .and_then(|m| m.get(&ifindex).cloned());
        let Some(peer) = peer else { return false };
        let offload = peer.offload.load(Ordering::Relaxed);
        let dev = peer.tap.read().ok().and_then(|t| t.clone());
        if let Some(dev) = dev {
            worker::write_tap(&self.shared, offload, &dev, frame);
        }
        true
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Logs the counters.
    pub fn log_counts(&self) {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        tracing::info!(
            "data plane: tx {} TAP reads -> {} datagrams in {} sends ({} dropped); rx {} datagrams in {} reads -> {} frames, {} to the control loop ({} dropped), {} ESP dropped, {} refused, {} keepalives, {} TAP write errors; OSPFv3/BFD straight: {} sent, {} received ({} dropped)",
            g(&c.tap_reads),
            g(&c.tx_datagrams),
            g(&c.tx_sends),
            g(&c.tx_dropped),
            g(&c.rx_datagrams),
            g(&c.rx_reads),
            g(&c.rx_frames),
            g(&c.to_core),
            g(&c.to_core_dropped),
            g(&c.esp_dropped),
            g(&c.rx_refused),
            g(&c.keepalives),
            g(&c.tap_write_errors),
            g(&c.control_sent),
            g(&c.control_received),
            g(&c.control_dropped)
        );
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(mut t) = self.threads.lock() {
            for h in t.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// The TAP devices the data plane reads (by name, stable across a reopening).
static TAPS: Mutex<std::collections::BTreeSet<String>> =
    Mutex::new(std::collections::BTreeSet::new());

/// True when the data plane reads TAP `name` itself: the daemon's frame reader
/// task must not ([`crate::selfheal::start_io`]).
pub fn reads_tap(name: &str) -> bool {
    TAPS.lock().is_ok_and(|n| n.contains(name))
}

/// Depth of the channel of OSPFv3 and BFD frames to the control loop.
pub const CONTROL_DEPTH: usize = 256;

/// Hands an OSPFv3 or BFD frame that arrived over the pseudowire on `ifindex` (from
/// the receiver [`Dataplane::start`] returned) to the core, as the kernel sockets
/// would have: OSPFv3 with its addresses, BFD (UDP port 3784, checksum checked)
/// with its hop limit for the GTSM check. Anything else is ignored.
pub fn handle_control_frame(
    core: &mut crate::core::Core<SocketAddr>,
    now: std::time::Instant,
    ifindex: u32,
    frame: &[u8],
) {
    use crate::frame::{PROTO_OSPF, PROTO_UDP, parse_ipv6_frame, parse_udp};
    let Ok(p) = parse_ipv6_frame(frame) else {
        return;
    };
    // It came over the session's pseudowire (template, peer and ESP checked).
    core.note_alive(now, ifindex);
    match p.next_header {
        PROTO_OSPF => core.handle_ospf(now, ifindex, p.src, p.dst, p.payload),
        PROTO_UDP => {
            if let Ok(u) = parse_udp(p.src, p.dst, p.payload)
                && u.dst_port == bfd::encap::CONTROL_PORT
            {
                core.handle_bfd(now, ifindex, p.src, u.payload, p.hop_limit);
            }
        }
        _ => {}
    }
}

/// Socket buffer size asked for the underlay sockets: a few milliseconds of
/// multi-gigabit traffic, so that a receive thread that is off the CPU for a moment
/// does not cost datagrams.
pub const SOCKET_BUFFER: usize = 8 << 20;

/// Raises the underlay socket's buffers to [`SOCKET_BUFFER`]: with the `FORCE`
/// options (root, above `net.core.rmem_max`), else as far as the limits allow.
fn set_buffers(socket: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    let n = SOCKET_BUFFER;
    if setsockopt(socket, sockopt::RcvBufForce, &n).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &n);
    }
    if setsockopt(socket, sockopt::SndBufForce, &n).is_err() {
        let _ = setsockopt(socket, sockopt::SndBuf, &n);
    }
}

/// [`crate::tap::open`] with `IFF_VNET_HDR` and TSO/checksum offload when `offload`
/// is set (the data plane then reads super-frames and writes every frame behind a
/// virtio-net header).
pub async fn open_tap(
    nl: &Netlink,
    name: &str,
    mac: Mac,
    mtu: u16,
    offload: bool,
) -> Result<Tap, TapError> {
    let dev = DeviceBuilder::new()
        .name(name)
        .layer(Layer::L2)
        .mac_addr(mac)
        .mtu(mtu)
        .offload(offload)
        .build_async()
        .map_err(|source| TapError::Create {
            name: name.into(),
            source,
        })?;
    let ifindex =
        nix::net::if_::if_nametoindex(name).map_err(|_| TapError::NoIndex(name.into()))?;
    let link_local = link_local_for(mac);
    nl.setup_tap(ifindex, mtu, link_local).await?;
    Ok(Tap {
        name: name.into(),
        ifindex,
        mac,
        link_local,
        dev: Arc::new(dev),
    })
}
