//! The batched user-space data plane: Ethernet frames between the TAP devices and
//! the underlay UDP sockets, off the control event loop.
//!
//! The control loop (the [`crate::core::Core`] on tokio) keeps everything that is
//! not bulk data: L2TPv3 control, OSPFv3, BFD, health. This module carries the
//! frames, on threads of its own, as many as `[dataplane] threads` says (default:
//! the machine's cores, [`DataplaneConfig::thread_count`]; below, N):
//!
//! * **N transmit threads per pseudowire**, one per queue of its TAP. With N > 1
//!   the TAP is multi-queue (`IFF_MULTI_QUEUE`, [`open_tap`]): the kernel picks
//!   the queue of each frame it transmits by its flow (the queue the flow was last
//!   written to, else its hash), so each inner flow stays on one thread, in order,
//!   and several flows spread over the threads. The TAP is opened with
//!   `IFF_VNET_HDR` and TSO/checksum offload, so the kernel hands over TCP
//!   super-frames of up to 64 KB at a time; [`vnet::Segmenter`] cuts them into
//!   frames that fit the pseudowire (checksums completed in user space), each
//!   written once into a batch buffer behind headroom for the L2TPv3 header and the
//!   ESP header, encapsulated in place ([`l2tpv3::HeaderTemplate::encapsulate`]) and
//!   sealed in place (`ipsec_lite::SecurityAssociation::seal`). Consecutive
//!   datagrams of equal length go out in one `sendmsg` with UDP GSO (`UDP_SEGMENT`)
//!   through `quinn-udp`: a 64 KB super-frame is one read and one send;
//! * **one receive thread** for both underlay sockets reads batches with `recvmmsg`
//!   and UDP GRO (`quinn-udp`), opens ESP in place, checks each data message against
//!   its session's receive template (Session ID and cookie in constant time) and,
//!   for sequenced data, the sequence number (the l2tpv3 endpoint's rule,
//!   [`l2tpv3::SequenceCheck`], on the state handed over with the session). With
//!   N = 1 it writes each frame to the TAP itself (one `writev` of the virtio-net
//!   header and the frame, no copy; in-order TCP segments, and UDP datagrams of
//!   one flow and length, merged into super-frames by [`vnet::Coalescer`]). With
//!   N > 1 it hands the frames to **N writer threads**, each inner flow
//!   (addresses, protocol, ports) always to the same one, so that
//!   every flow stays in order; a writer merges and writes them through its own
//!   queue of the TAP (writer i through queue i, so that the kernel sends that
//!   flow's replies on queue i, to transmit thread i). A TAP write runs the
//!   kernel's whole receive path (IP, TCP, the socket wake-up) on the writing
//!   thread: that, not the reading and opening, is the larger part of the receive
//!   cost of TCP, and the writers spread it over the cores. Control messages (T
//!   bit), data for a session not handed over yet and datagrams from unknown
//!   sources go to the control loop unchanged, through the same channel the legacy
//!   reader tasks used, so the core sees what it saw before;
//! * **per-session state** is shared as follows. The control loop hands a session
//!   over when its pseudowire comes up ([`Dataplane::install`]): both header
//!   templates, the transmit sequence state and the receive sequence check
//!   ([`l2tpv3::SessionTemplates`]). Transmit threads number sequenced data from
//!   one atomic; the receive sequence check is the receive thread's. ESP: the
//!   peer's SAs ([`crate::esp::EspPeer`]) are shared with the control loop, which
//!   keys them (IKEv2 installs, rekeys and deletes them at run time); the outbound
//!   SA sits behind a mutex shared by the transmit threads and the control loop
//!   (whose L2TPv3 control messages to the peer are sealed by
//!   [`Dataplane::seal_control`]), so one counter numbers every packet under the
//!   key and no sequence number is ever used twice; the receive thread opens every
//!   datagram from the peer (the inbound SAs and their anti-replay windows behind
//!   their own mutex) and hands the control loop the opened control messages, and
//!   IKE messages (non-ESP marker) as they came. A datagram from an ESP peer's
//!   address on the clear L2TPv3 socket is dropped and counted, never passed on:
//!   nothing unprotected is accepted from a protected peer.
//!   **Order on the wire**: datagrams that carry a sequence number (every ESP
//!   packet, sequenced L2TPv3 data) must leave in the order they were numbered, or
//!   the peer's check drops the late ones (L2TPv3 accepts nothing older than the
//!   last; ESP's window is 1024 packets, which a thread preempted between sealing
//!   and sending can exceed). So for an ESP peer or a sequenced session the
//!   transmit threads take turns per batch (`Peer::tx_order`, held from the first
//!   datagram numbered to the batch's send): the threads then share the TAP reads
//!   but not the sealing, which runs on one thread at a time per peer, as it would
//!   under the single outbound SA lock anyway.
//!
//! Why not `SO_REUSEPORT` on receive: the kernel spreads a reuseport group by the
//! hash of the outer addresses and ports, and a pseudowire is one such 4-tuple, so
//! every datagram of a peer would still reach one socket and one thread; it would
//! spread several peers only, and would need the daemon's sockets bound with the
//! option (which also lets a second daemon bind the same port silently). The
//! writer threads spread one pseudowire's inner flows instead. Their limits: the
//! receive thread itself (reading, ESP opening, the template check) stays one
//! thread for all peers, and it copies each frame once into the writer's batch
//! (with N = 1 there is no copy); one inner flow (one TCP connection) is carried
//! by one transmit and one writer thread, so single-stream throughput gains only
//! from the receive work running beside the writing.
//!
//! Buffers are allocated once per thread (the writers' hand-over batches: a fixed
//! pool of four per writer, handed back after each use); nothing
//! is allocated per packet on the data path (a control message handed to the
//! control loop is copied into a `BytesMut`, as before).

pub mod vnet;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use bytes::BytesMut;
use l2tpv3::{HeaderTemplate, SequenceCheck, SessionTemplates};
use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tun_rs::{AsyncDevice, DeviceBuilder, Layer, SyncDevice};

use crate::core::Via;
use crate::esp::EspPeer;
use crate::frame::Mac;
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
    /// Threads of the data path (default 0: as many as the machine has cores,
    /// `std::thread::available_parallelism`): the TAP queues (and transmit threads)
    /// of each pseudowire, and the TAP writer threads of the receive side (see the
    /// module doc). 1 gives the single-threaded data path of before.
    #[serde(default)]
    pub threads: usize,
}

impl DataplaneConfig {
    /// The number of data path threads [`DataplaneConfig::threads`] asks for: the
    /// cores when it is 0, at most [`MAX_THREADS`].
    pub fn thread_count(&self) -> usize {
        let n = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        n.clamp(1, MAX_THREADS)
    }
}

/// Most data path threads (TAP queues per pseudowire, receive writers): the kernel
/// allows 256 queues per TAP; more threads than this gain nothing on any machine
/// this runs on.
pub const MAX_THREADS: usize = 64;

fn yes() -> bool {
    true
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            enabled: true,
            offload: true,
            threads: 0,
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
    /// Sequenced data dropped as older than or equal to the last accepted (RFC
    /// 3931 section 4.6).
    pub rx_out_of_order: AtomicU64,
    /// Frames dropped between the receive thread and a writer thread (the writer
    /// is gone: only while stopping).
    pub rx_handoff_dropped: AtomicU64,
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
    /// The receive sequence check (RFC 3931 section 4.6), the endpoint's rule and
    /// state handed over with the session; the receive thread's alone.
    pub(crate) rx_seq: Mutex<SequenceCheck>,
}

/// One underlay peer.
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    /// Interface index and MAC of its TAP (0 until attached).
    pub(crate) ifindex: AtomicU32,
    pub(crate) mac: Mutex<Mac>,
    pub(crate) esp: Option<Arc<EspPeer>>,
    pub(crate) tap: RwLock<Option<Arc<AsyncDevice>>>,
    /// The other queues of its multi-queue TAP (see [`crate::tap::Tap::queues`]).
    pub(crate) queues: RwLock<Vec<Arc<SyncDevice>>>,
    /// Held by a transmit thread from the first datagram of a batch to the batch's
    /// send when its datagrams carry sequence numbers (ESP, sequenced L2TPv3), so
    /// that with several transmit threads they leave in the order they were
    /// numbered.
    pub(crate) tx_order: Mutex<()>,
    /// Whether its TAP has the virtio-net header (offload): a TAP reopened by the
    /// self-healing code has none.
    pub(crate) offload: AtomicBool,
    pub(crate) path: RwLock<Option<Arc<Path>>>,
}

impl Peer {
    pub(crate) fn path(&self) -> Option<Arc<Path>> {
        self.path.read().ok().and_then(|p| p.clone())
    }

    /// Queue `i` (modulo their number) of its TAP: receive writer `i` writes
    /// through it, so that the kernel's automatic steering (which remembers the
    /// queue a flow was last written to) transmits the replies of those flows on
    /// the same queue, to the transmit thread with the same index.
    pub(crate) fn queue(&self, i: usize) -> Option<worker::TapQueue> {
        let main = self.tap.read().ok().and_then(|t| t.clone())?;
        let queues = self.queues.read().ok()?;
        match i % (queues.len() + 1) {
            0 => Some(worker::TapQueue::Main(main)),
            k => Some(worker::TapQueue::Extra(queues[k - 1].clone())),
        }
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
            "data plane: UDP GSO up to {} segments, GRO {} segments, TAP offload {}, {} threads",
            shared.clear.state.max_gso_segments(),
            shared.clear.state.gro_segments(),
            cfg.offload,
            cfg.thread_count()
        );
        let writers = cfg.thread_count();
        let mut threads = Vec::with_capacity(writers + 1);
        let sink = if writers > 1 {
            let (links, ends) = worker::writer_links(writers);
            for (i, (batches, back)) in ends.into_iter().enumerate() {
                let s = shared.clone();
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("dp-wr{i}"))
                        .spawn(move || worker::writer_loop(&s, i, &batches, &back))?,
                );
            }
            worker::Sink::Writers(links)
        } else {
            worker::Sink::Inline(worker::Gro::default())
        };
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("dp-rx".into())
                .spawn(move || worker::rx_loop(&s, sink))?,
        );
        Ok((
            Arc::new(Dataplane {
                shared,
                threads: Mutex::new(threads),
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
            queues: RwLock::new(Vec::new()),
            tx_order: Mutex::new(()),
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

    /// The peer whose TAP is interface `ifindex`.
    fn peer_on(&self, ifindex: u32) -> Option<Arc<Peer>> {
        self.shared
            .by_ifindex
            .read()
            .ok()
            .and_then(|m| m.get(&ifindex).cloned())
    }

    fn peer(&self, addr: &SocketAddr) -> Option<Arc<Peer>> {
        self.shared
            .peers
            .read()
            .ok()
            .and_then(|p| p.get(addr).cloned())
    }

    /// Gives peer `addr` its TAP device and starts the threads that read it, one
    /// per queue ([`crate::tap::Tap::queues`]).
    pub fn attach_tap(&self, addr: SocketAddr, tap: &Tap, mtu: u16) -> std::io::Result<()> {
        let Some(peer) = self.peer(&addr) else {
            return Err(std::io::Error::other(format!(
                "{addr} is not a data plane peer"
            )));
        };
        if let Ok(mut q) = peer.queues.write() {
            q.clone_from(&tap.queues);
        }
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
        let queues = std::iter::once(worker::TapQueue::Main(tap.dev.clone()))
            .chain(tap.queues.iter().cloned().map(worker::TapQueue::Extra));
        for (i, q) in queues.enumerate() {
            let (s, main, peer) = (self.shared.clone(), tap.dev.clone(), peer.clone());
            let handle = std::thread::Builder::new()
                .name(format!("dp-tx{i}-{}", tap.name))
                .spawn(move || worker::tx_loop(&s, &peer, &main, &q, mtu))?;
            if let Ok(mut t) = self.threads.lock() {
                t.push(handle);
            }
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
            rx_seq: Mutex::new(t.rx_sequence),
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
        let Some(peer) = self.peer_on(ifindex) else {
            return false;
        };
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
        let Some(peer) = self.peer_on(ifindex) else {
            return false;
        };
        let offload = peer.offload.load(Ordering::Relaxed);
        let dev = peer.tap.read().ok().and_then(|t| t.clone());
        if let Some(dev) = dev {
            worker::write_tap(&self.shared, offload, dev.as_fd(), frame);
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
            "data plane: tx {} TAP reads -> {} datagrams in {} sends ({} dropped); rx {} datagrams in {} reads -> {} frames, {} to the control loop ({} dropped), {} ESP dropped, {} refused, {} out of order, {} hand-over dropped, {} keepalives, {} TAP write errors; OSPFv3/BFD straight: {} sent, {} received ({} dropped)",
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
            g(&c.rx_out_of_order),
            g(&c.rx_handoff_dropped),
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
        PROTO_OSPF => {
            if p.payload.get(1) == Some(&1) {
                arrival(now, ifindex, "ospf-hello");
            }
            core.handle_ospf(now, ifindex, p.src, p.dst, p.payload);
        }
        PROTO_UDP => {
            if let Ok(u) = parse_udp(p.src, p.dst, p.payload)
                && u.dst_port == bfd::encap::CONTROL_PORT
            {
                arrival(now, ifindex, "bfd");
                core.handle_bfd(now, ifindex, p.src, u.payload, p.hop_limit);
            }
        }
        _ => {}
    }
}

/// Logs (target `arrival`, level debug) when an OSPFv3 Hello or a BFD packet
/// reached the core, in microseconds since the first one: the inter-arrival the
/// core sees, which `scripts/throughput.sh` reports beside the jitter on the wire
/// (`RUST_LOG=info,arrival=debug`).
fn arrival(now: std::time::Instant, ifindex: u32, kind: &'static str) {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    if tracing::enabled!(target: "arrival", tracing::Level::DEBUG) {
        let t_us = now
            .saturating_duration_since(*ORIGIN.get_or_init(|| now))
            .as_micros();
        tracing::debug!(target: "arrival", ifindex, kind, t_us = t_us as u64, "control packet at the core");
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

/// [`crate::tap::open`] with `IFF_VNET_HDR` and TSO/checksum offload when
/// `cfg.offload` is set (the data plane then reads super-frames and writes every
/// frame behind a virtio-net header), and with `IFF_MULTI_QUEUE` and one queue per
/// data path thread ([`DataplaneConfig::thread_count`]) when there are several: the
/// kernel spreads the flows it transmits over the queues by their hash, each queue
/// read by a transmit thread of its own. A queue that cannot be opened is logged
/// and left out (fewer threads).
pub async fn open_tap(
    nl: &Netlink,
    name: &str,
    mac: Mac,
    mtu: u16,
    cfg: &DataplaneConfig,
) -> Result<Tap, TapError> {
    let threads = cfg.thread_count();
    let create = |source| TapError::Create {
        name: name.into(),
        source,
    };
    let first = DeviceBuilder::new()
        .name(name)
        .layer(Layer::L2)
        .mac_addr(mac)
        .mtu(mtu)
        .offload(cfg.offload)
        .multi_queue(threads > 1)
        .build_sync()
        .map_err(create)?;
    let mut queues = Vec::with_capacity(threads - 1);
    for _ in 1..threads {
        match first
            .try_clone()
            .and_then(|q| q.set_nonblocking(true).map(|()| q))
        {
            Ok(q) => queues.push(Arc::new(q)),
            Err(e) => {
                tracing::warn!(
                    "TAP {name}: another queue: {e} (the data plane uses fewer threads)"
                );
                break;
            }
        }
    }
    let dev = AsyncDevice::new(first).map_err(create)?;
    crate::tap::ready(nl, name, mac, mtu, dev, queues).await
}
