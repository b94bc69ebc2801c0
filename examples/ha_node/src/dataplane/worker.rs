//! The data plane's threads: [`tx_loop`] (TAP -> underlay, one per pseudowire) and
//! [`rx_loop`] (underlay -> TAP, one for both sockets). Blocking I/O with `poll`
//! and a 100 ms timeout, so that a stop request is seen within that time.

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ipsec_lite::natt::{self, NattPayload};
use l2tpv3::DefaultSublayer;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use quinn_udp::{RecvMeta, Transmit, UdpSockRef};
use tun_rs::AsyncDevice;

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
/// TAP reads per batch at most, so that a busy TAP is flushed regularly.
const TX_READS_PER_BATCH: usize = 8;
/// Bytes of one UDP GSO send at most (the kernel's limit is 64 KB of UDP payload).
const GSO_BYTES: usize = 65000;
/// Receive buffers per `recvmmsg`; each holds a GRO batch of up to 64 KB.
const RX_BATCH: usize = quinn_udp::BATCH_SIZE;
const RX_BUF: usize = 65536;
/// `recvmmsg` rounds per socket before the other socket gets its turn.
const RX_ROUNDS: usize = 8;

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
pub(crate) fn write_tap(s: &Shared, offload: bool, dev: &AsyncDevice, frame: &[u8]) {
    let r = if offload {
        nix::sys::uio::writev(
            dev.as_fd(),
            &[IoSlice::new(&VNET_HDR_NONE), IoSlice::new(frame)],
        )
    } else {
        nix::unistd::write(dev.as_fd(), frame)
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

/// TAP -> underlay for one pseudowire.
pub(crate) fn tx_loop(s: &Shared, peer: &Peer, dev: &AsyncDevice, mtu: u16) {
    let mut rd = vec![0u8; TAP_READ];
    let mut b = Batch::new();
    let u = if peer.esp.is_some() { &s.esp } else { &s.clear };
    let max_frame = usize::from(mtu) + 18;
    let offload = dev.tcp_gso();
    while !stopped(s) {
        if !wait(dev.as_fd(), PollFlags::POLLIN) {
            continue;
        }
        let path = peer.path();
        let now = Instant::now();
        for _ in 0..TX_READS_PER_BATCH {
            let n = match nix::unistd::read(dev.as_raw_fd(), &mut rd) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    // The device is gone (the self-healing code reopens it and
                    // starts a new thread for the new one): this thread ends.
                    let current = peer.tap.read().ok().and_then(|t| t.clone());
                    if !current.is_some_and(|c| std::ptr::eq(&*c, dev)) {
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

/// Underlay -> TAP, both sockets.
pub(crate) fn rx_loop(s: &Shared) {
    let mut bufs: [Vec<u8>; RX_BATCH] = std::array::from_fn(|_| vec![0u8; RX_BUF]);
    let mut metas = [RecvMeta::default(); RX_BATCH];
    let mut gro = Gro::default();
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
                        handle(s, via, from, peer.map(|p| &**p), dgram, now, &mut gro);
                    }
                }
                gro.flush_all(s, &peers);
            }
        }
    }
}

/// One received datagram.
fn handle(
    s: &Shared,
    via: Via,
    from: SocketAddr,
    peer: Option<&Peer>,
    dgram: &mut [u8],
    now: Instant,
    gro: &mut Gro,
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
        Ok(d) if !d.sublayer.is_some_and(|x| x.sequenced) => {
            deliver(s, peer, &msg[d.payload], gro);
        }
        // Sequenced data, and what does not pass the template: the endpoint decides
        // (sequence check, precise drop reason and counters).
        _ => s.forward(from, Via::Clear, msg),
    }
}

/// Receive-side coalescing, one [`Coalescer`] per peer (when TAP offload is on).
#[derive(Default)]
struct Gro {
    slots: Vec<(SocketAddr, Coalescer)>,
}

impl Gro {
    fn slot(&mut self, peer: SocketAddr) -> &mut Coalescer {
        let i = match self.slots.iter().position(|(a, _)| *a == peer) {
            Some(i) => i,
            None => {
                self.slots.push((peer, Coalescer::new()));
                self.slots.len() - 1
            }
        };
        &mut self.slots[i].1
    }

    /// Writes every pending super-frame (end of a receive batch).
    fn flush_all(&mut self, s: &Shared, peers: &HashMap<SocketAddr, Arc<Peer>>) {
        for (addr, c) in &mut self.slots {
            if !c.is_empty()
                && let Some(p) = peers.get(addr)
            {
                flush_one(s, p, c);
            }
        }
    }
}

fn flush_one(s: &Shared, peer: &Peer, c: &mut Coalescer) {
    let Some(sup) = c.take() else { return };
    let dev = peer.tap.read().ok().and_then(|t| t.clone());
    let Some(dev) = dev else { return };
    match nix::unistd::write(dev.as_fd(), sup) {
        Ok(_) => Counters::bump(&s.counters.rx_frames),
        Err(e) => {
            Counters::bump(&s.counters.tap_write_errors);
            tracing::debug!("TAP write: {e}");
        }
    }
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

/// A frame from the fast path to the peer's TAP: merged into the pending
/// super-frame when it continues it (offload on), else written by itself after it.
fn deliver(s: &Shared, peer: &Peer, frame: &[u8], gro: &mut Gro) {
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
    let offload = peer.offload.load(Ordering::Relaxed);
    if offload {
        let c = gro.slot(peer.addr);
        if c.push(frame) == Pushed::Merged {
            return;
        }
        flush_one(s, peer, c);
        if c.push(frame) == Pushed::Merged {
            return;
        }
    }
    let dev = peer.tap.read().ok().and_then(|t| t.clone());
    if let Some(dev) = dev {
        write_tap(s, offload, &dev, frame);
    }
}
