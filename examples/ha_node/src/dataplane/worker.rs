//! The data plane's threads: [`tx_loop`] (TAP -> underlay, one per pseudowire) and
//! [`rx_loop`] (underlay -> TAP, one for both sockets). Blocking I/O with `poll`
//! and a 100 ms timeout, so that a stop request is seen within that time.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use ipsec_lite::natt::{self, NattPayload};
use l2tpv3::DefaultSublayer;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use quinn_udp::{RecvMeta, Transmit, UdpSockRef};
use tun_rs::{AsyncDevice, SyncDevice};

use super::vnet::{
    self, Coalescer, F_NEEDS_CSUM, Pushed, Segmenter, VNET_HDR_LEN, VNET_HDR_NONE, VnetHdr,
};
use super::{Counters, Path, Peer, Shared, Underlay};
use crate::core::Via;

/// Poll timeout: how soon a stop request is seen.
const POLL_MS: u16 = 100;
/// Largest read from a TAP: virtio-net header + a 64 KB super-frame + Ethernet/VLAN.
const TAP_READ: usize = VNET_HDR_LEN + 65536 + 32;
/// Size of the transmit batch buffer: datagrams are laid out back to back in it.
const TX_BATCH: usize = 256 * 1024;
/// TAP reads per batch at most, so that a busy TAP is flushed regularly (a full
/// batch buffer is flushed anyway: with 64 KB super-frames after four reads). With
/// small frames (one TAP read per frame, a TAP has no batched read) it is the
/// number of datagrams per `sendmsg` and per `poll`: 64 (it was 8) halves the
/// transmit thread's system calls per 64-byte frame.
const TX_READS_PER_BATCH: usize = 64;
/// Bytes of one UDP GSO send at most (the kernel's limit is 64 KB of UDP payload).
const GSO_BYTES: usize = 65000;
/// Receive buffers per `recvmmsg`; each holds a GRO batch of up to 64 KB.
const RX_BATCH: usize = quinn_udp::BATCH_SIZE;
const RX_BUF: usize = 65536;
/// `recvmmsg` rounds per socket before the other socket gets its turn.
const RX_ROUNDS: usize = 8;

/// One queue of a TAP device: the first one (the daemon's device) or another queue
/// of a multi-queue TAP.
#[derive(Clone)]
pub(crate) enum TapQueue {
    Main(Arc<AsyncDevice>),
    Extra(Arc<SyncDevice>),
}

impl AsFd for TapQueue {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            TapQueue::Main(d) => d.as_fd(),
            TapQueue::Extra(d) => d.as_fd(),
        }
    }
}

fn stopped(s: &Shared) -> bool {
    s.stop.load(Ordering::Relaxed)
}

/// Waits until `fd` is readable (or writable); false on timeout.
fn wait(fd: std::os::fd::BorrowedFd<'_>, flags: PollFlags) -> bool {
    let mut fds = [PollFd::new(fd, flags)];
    matches!(poll(&mut fds, PollTimeout::from(POLL_MS)), Ok(n) if n > 0)
}

/// Writes one frame to a TAP: behind the all-zero virtio-net header when offload
/// is on (one `writev`, the frame is not copied).
pub(crate) fn write_tap(s: &Shared, offload: bool, dev: std::os::fd::BorrowedFd<'_>, frame: &[u8]) {
    let r = if offload {
        nix::sys::uio::writev(dev, &[IoSlice::new(&VNET_HDR_NONE), IoSlice::new(frame)])
    } else {
        nix::unistd::write(dev, frame)
    };
    match r {
        Ok(_) => Counters::bump(&s.counters.rx_frames),
        Err(e) => {
            Counters::bump(&s.counters.tap_write_errors);
            tracing::debug!("TAP write: {e}");
        }
    }
}

/// The transmit batch: datagrams back to back in `buf`, `(start, len)` in `dgrams`.
struct Batch {
    buf: Vec<u8>,
    dgrams: Vec<(usize, usize)>,
    end: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buf: vec![0u8; TX_BATCH],
            dgrams: Vec::with_capacity(TX_BATCH / 64),
            end: 0,
        }
    }

    /// Sends the batch: each run of consecutive datagrams of one length (its last
    /// one may be shorter) in one `sendmsg` with UDP GSO.
    fn flush(&mut self, s: &Shared, u: &Underlay, to: SocketAddr) {
        let max_segs = u.state.max_gso_segments().max(1);
        let mut i = 0;
        while i < self.dgrams.len() {
            let (start, len) = self.dgrams[i];
            let mut j = i + 1;
            let mut bytes = len;
            while j < self.dgrams.len()
                && j - i < max_segs
                && bytes + self.dgrams[j].1 <= GSO_BYTES
                && self.dgrams[j].1 <= len
            {
                bytes += self.dgrams[j].1;
                let shorter = self.dgrams[j].1 < len;
                j += 1;
                if shorter {
                    break;
                }
            }
            let t = Transmit {
                destination: to,
                ecn: None,
                contents: &self.buf[start..start + bytes],
                segment_size: (j - i > 1).then_some(len),
                src_ip: None,
            };
            send(s, u, &t, j - i);
            i = j;
        }
        self.dgrams.clear();
        self.end = 0;
    }
}

fn send(s: &Shared, u: &Underlay, t: &Transmit<'_>, count: usize) {
    loop {
        match u.state.try_send(UdpSockRef::from(&*u.socket), t) {
            Ok(()) => {
                s.counters.tx_sends.fetch_add(1, Ordering::Relaxed);
                s.counters
                    .tx_datagrams
                    .fetch_add(count as u64, Ordering::Relaxed);
                return;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if stopped(s) {
                    return;
                }
                wait(u.socket.as_fd(), PollFlags::POLLOUT);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("underlay send to {}: {e}", t.destination);
                s.counters
                    .tx_dropped
                    .fetch_add(count as u64, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The per-datagram layout of a session: ESP header (if any), L2TPv3 header, frame,
/// ESP trailer room.
struct Layout {
    esp_head: usize,
    l2tp: usize,
    esp_tail: usize,
}

impl Layout {
    fn of(peer: &Peer, path: &Path) -> Layout {
        let (esp_head, esp_tail) = peer
            .esp
            .as_ref()
            .map_or((0, 0), |e| (e.headroom(), crate::esp::max_tailroom()));
        Layout {
            esp_head,
            l2tp: path.tx.len(),
            esp_tail,
        }
    }
    fn head(&self) -> usize {
        self.esp_head + self.l2tp
    }
    fn room(&self, frame: usize) -> usize {
        self.head() + frame + self.esp_tail
    }
}

/// Encapsulates (and seals) the frame just written at `b.buf[b.end + head..][..flen]`
/// and appends the datagram to the batch.
fn finish(
    s: &Shared,
    peer: &Peer,
    path: &Path,
    lay: &Layout,
    b: &mut Batch,
    flen: usize,
    now: Instant,
) {
    let at = b.end;
    let region = &mut b.buf[at..];
    let sub = match &path.tx_seq {
        Some(seq) => DefaultSublayer::sequenced(seq.fetch_add(1, Ordering::Relaxed)),
        None => DefaultSublayer::unsequenced(),
    };
    // The region starts at the datagram: with less than `MAX_DATA_HEADER_LEN` bytes
    // in front of the frame only the header's own bytes are written, never the
    // previous datagram's.
    let head = lay.head();
    let start = match path.tx.encapsulate(region, head, sub) {
        Ok(st) => st,
        Err(_) => {
            Counters::bump(&s.counters.tx_dropped);
            return;
        }
    };
    let len = match &peer.esp {
        None => head + flen,
        Some(esp) => {
            let msg = start..head + flen;
            let sealed = esp.seal(
                now,
                &mut region[..head + flen + lay.esp_tail],
                msg,
                lay.esp_head,
            );
            match sealed {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("ESP seal to {}: {e}", peer.addr);
                    Counters::bump(&s.counters.tx_dropped);
                    return;
                }
            }
        }
    };
    // The datagram starts at `at`: the L2TPv3 header right behind the ESP header's
    // room (`start == esp_head`), which the seal fills.
    debug_assert_eq!(start, lay.esp_head);
    b.dgrams.push((at, len));
    b.end = at + len;
}

/// TAP -> underlay for one queue `q` of a pseudowire's TAP `main`.
pub(crate) fn tx_loop(s: &Shared, peer: &Peer, main: &Arc<AsyncDevice>, q: &TapQueue, mtu: u16) {
    let mut rd = vec![0u8; TAP_READ];
    let mut b = Batch::new();
    let u = if peer.esp.is_some() { &s.esp } else { &s.clear };
    let max_frame = usize::from(mtu) + 18;
    let offload = main.tcp_gso();
    while !stopped(s) {
        if !wait(q.as_fd(), PollFlags::POLLIN) {
            continue;
        }
        let path = peer.path();
        let now = Instant::now();
        // Datagrams numbered here (ESP, sequenced L2TPv3) leave in their order:
        // one transmit thread of the peer at a time from numbering to sending.
        let ordered = peer.esp.is_some() || path.as_deref().is_some_and(|p| p.tx_seq.is_some());
        let _turn = if ordered {
            peer.tx_order.lock().ok()
        } else {
            None
        };
        for _ in 0..TX_READS_PER_BATCH {
            let n = match nix::unistd::read(q.as_fd().as_raw_fd(), &mut rd) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    // The device is gone (the self-healing code reopens it and
                    // starts a new thread for the new one): this thread ends.
                    let current = peer.tap.read().ok().and_then(|t| t.clone());
                    if !current.is_some_and(|c| Arc::ptr_eq(&c, main)) {
                        return;
                    }
                    tracing::debug!("TAP read: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(POLL_MS)));
                    break;
                }
            };
            Counters::bump(&s.counters.tap_reads);
            let Some(path) = path.as_deref() else {
                Counters::bump(&s.counters.tx_dropped);
                continue;
            };
            let lay = Layout::of(peer, path);
            let (hdr, frame) = if offload {
                match VnetHdr::parse(&rd[..n]) {
                    Ok(h) => (h, &mut rd[VNET_HDR_LEN..n]),
                    Err(_) => {
                        Counters::bump(&s.counters.tx_dropped);
                        continue;
                    }
                }
            } else {
                (VnetHdr::default(), &mut rd[..n])
            };
            if hdr.is_gso() {
                let mut seg = match Segmenter::new(&hdr, frame) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("TAP super-frame: {e}");
                        Counters::bump(&s.counters.tx_dropped);
                        continue;
                    }
                };
                let room = lay.room(seg.max_segment_len());
                while seg.remaining() > 0 {
                    if b.end + room > b.buf.len() {
                        b.flush(s, u, peer.addr);
                    }
                    let at = b.end + lay.head();
                    match seg.next_into(&mut b.buf[at..]) {
                        Some(flen) => finish(s, peer, path, &lay, &mut b, flen, now),
                        None => break,
                    }
                }
            } else {
                if hdr.flags & F_NEEDS_CSUM != 0 && vnet::complete_csum(&hdr, frame).is_err() {
                    Counters::bump(&s.counters.tx_dropped);
                    continue;
                }
                let flen = frame.len();
                if flen > max_frame {
                    // Larger than the pseudowire's MTU allows (a frame the kernel
                    // should not have sent): sent anyway, the peer's TAP decides.
                    tracing::trace!("frame of {flen} bytes above the MTU");
                }
                if b.end + lay.room(flen) > b.buf.len() {
                    b.flush(s, u, peer.addr);
                }
                let at = b.end + lay.head();
                b.buf[at..at + flen].copy_from_slice(frame);
                finish(s, peer, path, &lay, &mut b, flen, now);
            }
        }
        if !b.dgrams.is_empty() {
            b.flush(s, u, peer.addr);
        }
    }
}

/// Underlay -> TAP, both sockets: the receive thread. `sink` says who writes the
/// frames it accepts to the TAPs: itself, or the writer threads.
pub(crate) fn rx_loop(s: &Shared, mut sink: Sink) {
    let mut bufs: [Vec<u8>; RX_BATCH] = std::array::from_fn(|_| vec![0u8; RX_BUF]);
    let mut metas = [RecvMeta::default(); RX_BATCH];
    while !stopped(s) {
        let (clear_ready, esp_ready) = {
            let mut fds = [
                PollFd::new(s.clear.socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(s.esp.socket.as_fd(), PollFlags::POLLIN),
            ];
            if !matches!(poll(&mut fds, PollTimeout::from(POLL_MS)), Ok(n) if n > 0) {
                continue;
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        for (via, u, ready) in [
            (Via::Clear, &s.clear, clear_ready),
            (Via::Esp, &s.esp, esp_ready),
        ] {
            if !ready {
                continue;
            }
            for _ in 0..RX_ROUNDS {
                let n = {
                    let mut iovs: [IoSliceMut<'_>; RX_BATCH] =
                        bufs.each_mut().map(|b| IoSliceMut::new(&mut b[..]));
                    match u
                        .state
                        .recv(UdpSockRef::from(&*u.socket), &mut iovs, &mut metas)
                    {
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => {
                            tracing::debug!("underlay receive: {e}");
                            break;
                        }
                    }
                };
                Counters::bump(&s.counters.rx_reads);
                let peers = match s.peers.read() {
                    Ok(p) => p,
                    Err(_) => return,
                };
                let now = Instant::now();
                for (buf, meta) in bufs.iter_mut().zip(metas.iter()).take(n) {
                    let stride = meta.stride.max(1);
                    let from = meta.addr;
                    let peer = peers.get(&from);
                    for dgram in buf[..meta.len].chunks_mut(stride) {
                        Counters::bump(&s.counters.rx_datagrams);
                        handle(s, via, from, peer, dgram, now, &mut sink);
                    }
                }
                drop(peers);
                sink.flush(s);
            }
        }
    }
}

/// One received datagram.
fn handle(
    s: &Shared,
    via: Via,
    from: SocketAddr,
    peer: Option<&Arc<Peer>>,
    dgram: &mut [u8],
    now: Instant,
    sink: &mut Sink,
) {
    let Some(peer) = peer else {
        // Unknown source: the control loop counts and reports it as before.
        s.forward(from, via, dgram);
        return;
    };
    // Nothing unprotected from a protected peer, no ESP from an unprotected one: the
    // core's rule (`Via::admits`), applied here since the data plane holds the SAs.
    if !via.admits(peer.esp.is_some()) {
        Counters::bump(&s.counters.rx_refused);
        return;
    }
    let msg: &mut [u8] = match &peer.esp {
        None => dgram,
        Some(esp) => match natt::classify(dgram) {
            Ok(NattPayload::Esp(pkt)) => match esp.open(now, pkt) {
                Ok(range) => &mut dgram[range],
                Err(_) => {
                    Counters::bump(&s.counters.esp_dropped);
                    return;
                }
            },
            Ok(NattPayload::NonEsp(_)) => {
                // IKE (RFC 3948 2.2): the control loop's IKEv2 endpoint, marker and all.
                s.forward(from, Via::Ike, dgram);
                return;
            }
            Ok(NattPayload::Keepalive) => {
                Counters::bump(&s.counters.keepalives);
                return;
            }
            Ok(_) | Err(_) => {
                // Garbage.
                Counters::bump(&s.counters.rx_refused);
                return;
            }
        },
    };
    // Over UDP a control message has the T bit (RFC 3931 section 4.1.2.1).
    if msg.first().is_none_or(|b| b & 0x80 != 0) {
        s.forward(from, Via::Clear, msg);
        return;
    }
    let Some(path) = peer.path() else {
        s.forward(from, Via::Clear, msg);
        return;
    };
    match path.rx.decapsulate(msg) {
        Ok(d) => {
            // Sequenced data (the S bit, RFC 3931 section 4.6): the endpoint's
            // rule, on the session's state handed over with it.
            if d.sublayer.is_some_and(|x| x.sequenced) {
                let verdict = match path.rx_seq.lock() {
                    Ok(mut check) => check.accept(d.sublayer),
                    Err(_) => return,
                };
                if verdict.is_err() {
                    Counters::bump(&s.counters.rx_out_of_order);
                    return;
                }
            }
            deliver(s, peer, &msg[d.payload], sink);
        }
        // What does not pass the template: the endpoint decides (precise drop
        // reason and counters).
        Err(_) => s.forward(from, Via::Clear, msg),
    }
}

/// Receive-side coalescing, one [`Coalescer`] per peer (when TAP offload is on).
#[derive(Default)]
pub(crate) struct Gro {
    slots: Vec<(Arc<Peer>, Coalescer)>,
}

impl Gro {
    fn slot(&mut self, peer: &Arc<Peer>) -> &mut Coalescer {
        let i = match self.slots.iter().position(|(p, _)| Arc::ptr_eq(p, peer)) {
            Some(i) => i,
            None => {
                self.slots.push((peer.clone(), Coalescer::new()));
                self.slots.len() - 1
            }
        };
        &mut self.slots[i].1
    }

    /// Writes every pending super-frame (end of a receive batch) through queue
    /// `queue` of each TAP.
    fn flush_all(&mut self, s: &Shared, queue: usize) {
        for (p, c) in &mut self.slots {
            if !c.is_empty() {
                flush_one(s, p, queue, c);
            }
        }
    }
}

fn flush_one(s: &Shared, peer: &Peer, queue: usize, c: &mut Coalescer) {
    let Some(sup) = c.take() else { return };
    let Some(dev) = peer.queue(queue) else { return };
    match nix::unistd::write(dev.as_fd(), sup) {
        Ok(_) => Counters::bump(&s.counters.rx_frames),
        Err(e) => {
            Counters::bump(&s.counters.tap_write_errors);
            tracing::debug!("TAP write: {e}");
        }
    }
}

/// Where the receive thread's frames go.
pub(crate) enum Sink {
    /// Written to the TAPs by the receive thread itself (one data path thread).
    Inline(Gro),
    /// Handed to the writer threads, each flow always to the same one.
    Writers(Vec<WriterLink>),
}

impl Sink {
    /// End of a receive batch: writes or hands over what is pending.
    fn flush(&mut self, s: &Shared) {
        match self {
            Sink::Inline(gro) => gro.flush_all(s, 0),
            Sink::Writers(links) => {
                for l in links {
                    l.ship(s);
                }
            }
        }
    }
}

/// Frames (back to back in `buf`) from the receive thread to one writer thread.
pub(crate) struct RxBatch {
    buf: Vec<u8>,
    /// (index in `peers`, start, length) of each frame.
    frames: Vec<(usize, usize, usize)>,
    peers: Vec<Arc<Peer>>,
}

impl RxBatch {
    fn new() -> RxBatch {
        RxBatch {
            buf: Vec::with_capacity(RX_HANDOFF),
            frames: Vec::with_capacity(RX_HANDOFF / 64),
            peers: Vec::new(),
        }
    }

    /// Appends `frame`; false when it does not fit.
    fn push(&mut self, peer: &Arc<Peer>, frame: &[u8]) -> bool {
        if self.buf.len() + frame.len() > RX_HANDOFF && !self.buf.is_empty() {
            return false;
        }
        let p = match self.peers.iter().position(|x| Arc::ptr_eq(x, peer)) {
            Some(p) => p,
            None => {
                self.peers.push(peer.clone());
                self.peers.len() - 1
            }
        };
        self.frames.push((p, self.buf.len(), frame.len()));
        self.buf.extend_from_slice(frame);
        true
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.frames.clear();
        self.peers.clear();
    }
}

/// Bytes of frames per hand-over to a writer thread.
const RX_HANDOFF: usize = 256 * 1024;
/// Hand-over batches per writer thread (in flight and free): a bounded pool, so
/// nothing is allocated per batch and a slow writer holds the receive thread back
/// (and so the socket buffer fills) rather than growing a queue.
const RX_POOL: usize = 4;

/// The receive thread's end of one writer thread: the batch being filled, the
/// channel to the writer and the pool of free batches.
pub(crate) struct WriterLink {
    cur: Option<RxBatch>,
    to: SyncSender<RxBatch>,
    free: Receiver<RxBatch>,
}

impl WriterLink {
    /// Hands the current batch to the writer (waits for room; dropped if the
    /// writer is gone).
    fn ship(&mut self, s: &Shared) {
        if let Some(b) = self.cur.take_if(|b| !b.frames.is_empty()) {
            let n = b.frames.len() as u64;
            if self.to.send(b).is_err() {
                s.counters
                    .rx_handoff_dropped
                    .fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// The batch being filled, a free one from the pool if none (`None` when
    /// stopping).
    fn batch(&mut self, s: &Shared) -> Option<&mut RxBatch> {
        while self.cur.is_none() {
            match self
                .free
                .recv_timeout(Duration::from_millis(u64::from(POLL_MS)))
            {
                Ok(b) => self.cur = Some(b),
                Err(RecvTimeoutError::Timeout) if !stopped(s) => {}
                Err(_) => return None,
            }
        }
        self.cur.as_mut()
    }

    fn push(&mut self, s: &Shared, peer: &Arc<Peer>, frame: &[u8]) {
        let Some(b) = self.batch(s) else { return };
        if b.push(peer, frame) {
            return;
        }
        self.ship(s);
        if !self.batch(s).is_some_and(|b| b.push(peer, frame)) {
            Counters::bump(&s.counters.rx_handoff_dropped);
        }
    }
}

/// Makes `n` writer threads' channels: the receive thread's ends and the writers'
/// (batches in, free batches back).
#[allow(clippy::type_complexity)]
pub(crate) fn writer_links(
    n: usize,
) -> (
    Vec<WriterLink>,
    Vec<(Receiver<RxBatch>, SyncSender<RxBatch>)>,
) {
    (0..n)
        .map(|_| {
            let (to, from_rx) = sync_channel(RX_POOL);
            let (back, free) = sync_channel(RX_POOL);
            for _ in 0..RX_POOL {
                let _ = back.try_send(RxBatch::new());
            }
            (
                WriterLink {
                    cur: None,
                    to,
                    free,
                },
                (from_rx, back),
            )
        })
        .unzip()
}

/// A writer thread: writes the frames the receive thread hands it to the TAPs
/// through queue `queue`, merging in-order TCP segments into super-frames.
pub(crate) fn writer_loop(
    s: &Shared,
    queue: usize,
    batches: &Receiver<RxBatch>,
    back: &SyncSender<RxBatch>,
) {
    let mut gro = Gro::default();
    loop {
        let mut b = match batches.recv_timeout(Duration::from_millis(u64::from(POLL_MS))) {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) if !stopped(s) => continue,
            Err(_) => return,
        };
        for &(p, start, len) in &b.frames {
            write_frame(s, &b.peers[p], queue, &b.buf[start..start + len], &mut gro);
        }
        gro.flush_all(s, queue);
        b.clear();
        let _ = back.try_send(b);
    }
}

/// A hash of the inner flow of an Ethernet frame (IPv4/IPv6 addresses, protocol,
/// TCP/UDP ports; the MAC addresses for anything else): the writer thread it goes
/// to, so that every flow's frames stay in order.
fn flow_hash(frame: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    let mut at = 12;
    let mut ethertype = frame.get(12..14).map(|t| [t[0], t[1]]);
    if ethertype == Some([0x81, 0x00]) {
        at = 16;
        ethertype = frame.get(16..18).map(|t| [t[0], t[1]]);
    }
    let ip = frame.get(at + 2..).unwrap_or(&[]);
    let (proto, addrs, l4) = match ethertype {
        Some([0x08, 0x00]) if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            // Fragments other than the first carry no ports.
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff != 0;
            (
                ip[9],
                &ip[12..20],
                if frag { None } else { ip.get(ihl..ihl + 4) },
            )
        }
        Some([0x86, 0xdd]) if ip.len() >= 40 => (ip[6], &ip[8..40], ip.get(40..44)),
        _ => {
            mix(frame.get(..12).unwrap_or(frame));
            return h;
        }
    };
    mix(addrs);
    mix(&[proto]);
    if matches!(proto, 6 | 17)
        && let Some(ports) = l4
    {
        mix(ports);
    }
    h
}

/// OSPFv3 (next header 89) or BFD (UDP to port 3784) in IPv6 in Ethernet, without
/// extension headers: the frames that go to the control loop, not the TAP.
fn is_control(frame: &[u8]) -> bool {
    const ETH_IP6: usize = 14 + 40;
    if frame.len() < ETH_IP6 || frame[12..14] != [0x86, 0xdd] {
        return false;
    }
    match frame[20] {
        89 => true,
        17 => {
            frame.len() >= ETH_IP6 + 8 && frame[ETH_IP6 + 2..ETH_IP6 + 4] == 3784u16.to_be_bytes()
        }
        _ => false,
    }
}

/// Encapsulates, seals and sends one frame at once (the control loop's OSPFv3 and
/// BFD packets), without waiting for a batch.
pub(crate) fn send_one(s: &Shared, peer: &Peer, path: &Path, frame: &[u8]) {
    // A sequenced session accepts nothing older than the last number received:
    // this packet is numbered and sent between two batches of the transmit threads,
    // never inside one. (ESP's window absorbs that much reordering, so an ESP
    // peer's packets do not wait for a batch.)
    let _turn = if path.tx_seq.is_some() {
        peer.tx_order.lock().ok()
    } else {
        None
    };
    let lay = Layout::of(peer, path);
    let mut b = Batch {
        buf: vec![0u8; lay.room(frame.len())],
        dgrams: Vec::with_capacity(1),
        end: 0,
    };
    let head = lay.head();
    b.buf[head..head + frame.len()].copy_from_slice(frame);
    finish(s, peer, path, &lay, &mut b, frame.len(), Instant::now());
    let u = if peer.esp.is_some() { &s.esp } else { &s.clear };
    b.flush(s, u, peer.addr);
}

/// A frame from the fast path: OSPFv3 and BFD to the control loop, anything else
/// to the peer's TAP (by this thread or a writer thread).
fn deliver(s: &Shared, peer: &Arc<Peer>, frame: &[u8], sink: &mut Sink) {
    if s.divert_control.load(Ordering::Relaxed) && is_control(frame) {
        let ifindex = peer.ifindex.load(Ordering::Relaxed);
        if ifindex != 0 {
            Counters::bump(&s.counters.control_received);
            if s.to_control.try_send((ifindex, frame.to_vec())).is_err() {
                Counters::bump(&s.counters.control_dropped);
            }
            return;
        }
    }
    match sink {
        Sink::Inline(gro) => write_frame(s, peer, 0, frame, gro),
        Sink::Writers(links) => {
            let n = links.len();
            links[flow_hash(frame) as usize % n].push(s, peer, frame);
        }
    }
}

/// Writes a frame to the peer's TAP through queue `queue`: merged into the pending
/// super-frame when it continues it (offload on), else written by itself after it.
fn write_frame(s: &Shared, peer: &Arc<Peer>, queue: usize, frame: &[u8], gro: &mut Gro) {
    let offload = peer.offload.load(Ordering::Relaxed);
    if offload {
        let c = gro.slot(peer);
        if c.push(frame) == Pushed::Merged {
            return;
        }
        flush_one(s, peer, queue, c);
        if c.push(frame) == Pushed::Merged {
            return;
        }
    }
    if let Some(dev) = peer.queue(queue) {
        write_tap(s, offload, dev.as_fd(), frame);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use std::sync::{Mutex, RwLock};

    use l2tpv3::data::SublayerKind;
    use l2tpv3::{Cookie, Encapsulation, HeaderTemplate, MAX_DATA_HEADER_LEN, SequenceCheck};
    use quinn_udp::UdpSocketState;

    use super::*;
    use crate::dataplane::{Counters, Underlay};

    async fn underlay() -> Underlay {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let state = UdpSocketState::new(UdpSockRef::from(&*socket)).unwrap();
        Underlay { socket, state }
    }

    fn peer(addr: SocketAddr, path: Option<Path>) -> Arc<Peer> {
        Arc::new(Peer {
            addr,
            ifindex: AtomicU32::new(0),
            mac: Mutex::new([0; 6]),
            esp: None,
            tap: RwLock::new(None),
            queues: RwLock::new(Vec::new()),
            tx_order: Mutex::new(()),
            offload: AtomicBool::new(false),
            path: RwLock::new(path.map(Arc::new)),
        })
    }

    /// A datagram of session `sid` carrying `frame`, with sequence number `seq`
    /// (the S bit set) or unsequenced.
    fn datagram(sid: u32, seq: Option<u32>, frame: &[u8]) -> Vec<u8> {
        let t = HeaderTemplate::new(Encapsulation::Udp, sid, Cookie::None, SublayerKind::Default)
            .unwrap();
        let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + frame.len()];
        buf[MAX_DATA_HEADER_LEN..].copy_from_slice(frame);
        let sub = seq.map_or(DefaultSublayer::unsequenced(), DefaultSublayer::sequenced);
        let start = t.encapsulate(&mut buf, MAX_DATA_HEADER_LEN, sub).unwrap();
        buf.drain(..start);
        buf
    }

    /// Sequenced data of an installed session stays on the fast path with the
    /// endpoint's rule (RFC 3931 section 4.6): in order and after a gap it is
    /// delivered, a duplicate or an older number is dropped and counted, never
    /// handed to the control loop; unsequenced data passes.
    #[tokio::test]
    async fn sequenced_data_on_the_fast_path() {
        let (to_core, mut core_rx) = tokio::sync::mpsc::channel(16);
        let (to_control, _control_rx) = tokio::sync::mpsc::channel(16);
        let s = Shared {
            stop: AtomicBool::new(false),
            offload: false,
            peers: RwLock::new(HashMap::new()),
            by_ifindex: RwLock::new(HashMap::new()),
            clear: underlay().await,
            esp: underlay().await,
            to_core,
            to_control,
            divert_control: AtomicBool::new(true),
            counters: Counters::default(),
        };
        let from: SocketAddr = "192.0.2.7:1701".parse().unwrap();
        let sid = 0x0a0b_0c0d;
        let t = HeaderTemplate::new(Encapsulation::Udp, sid, Cookie::None, SublayerKind::Default)
            .unwrap();
        let p = peer(
            from,
            Some(Path {
                session_id: sid,
                rx: t,
                tx: t,
                tx_seq: None,
                rx_seq: Mutex::new(SequenceCheck::new(true)),
            }),
        );
        let (links, ends) = writer_links(1);
        let mut sink = Sink::Writers(links);
        let now = Instant::now();
        // Each frame's first byte says which one it is.
        let sent = [
            (Some(5), 1u8),
            (Some(6), 2),
            (Some(6), 3),  // duplicate: dropped
            (Some(4), 4),  // older: dropped
            (Some(9), 5),  // gap: delivered
            (None, 6),     // unsequenced: delivered
            (Some(10), 7), // in order again
        ];
        for (seq, tag) in sent {
            let mut frame = [0u8; 60];
            frame[0] = tag;
            let mut d = datagram(sid, seq, &frame);
            handle(&s, Via::Clear, from, Some(&p), &mut d, now, &mut sink);
        }
        sink.flush(&s);
        let b = ends[0].0.try_recv().expect("a batch for the writer");
        let tags: Vec<u8> = b.frames.iter().map(|&(_, at, _)| b.buf[at]).collect();
        assert_eq!(tags, [1, 2, 5, 6, 7]);
        assert_eq!(s.counters.rx_out_of_order.load(Ordering::Relaxed), 2);
        assert!(
            core_rx.try_recv().is_err(),
            "nothing went to the control loop"
        );

        // Without an installed session, data goes to the control loop as before.
        let q = peer(from, None);
        let mut d = datagram(sid, Some(11), &[0u8; 60]);
        handle(&s, Via::Clear, from, Some(&q), &mut d, now, &mut sink);
        assert!(core_rx.try_recv().is_ok());
    }

    /// Every frame of a flow goes to the same writer (its order is kept), whatever
    /// its payload; the two directions of a flow may differ.
    #[test]
    fn flow_hash_follows_the_flow() {
        let mut a = vec![0u8; 14 + 40 + 20];
        a[12..14].copy_from_slice(&[0x86, 0xdd]);
        a[14 + 6] = 6;
        a[14 + 8..14 + 24]
            .copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        a[14 + 24..14 + 40]
            .copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        a[54..58].copy_from_slice(&[0xc0, 0x00, 0x14, 0x51]);
        let mut b = a.clone();
        b[60..].fill(0xee); // other payload, other TCP flags: same flow
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(flow_hash(&a), flow_hash(&b));
        let mut c = a.clone();
        c[55] = 1; // another source port: another flow
        assert_ne!(flow_hash(&a), flow_hash(&c));
        // Short or odd frames hash without panicking.
        for n in 0..a.len() {
            let _ = flow_hash(&a[..n]);
        }
    }
}
