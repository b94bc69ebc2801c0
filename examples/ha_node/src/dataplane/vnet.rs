//! The virtio-net header of a TAP device opened with `IFF_VNET_HDR`, and what the
//! data plane does with the super-frames the kernel hands over through it: checksum
//! completion (`VIRTIO_NET_HDR_F_NEEDS_CSUM`) and segmentation of TCP (TSO, IPv4 and
//! IPv6) and UDP (USO) super-frames into frames that fit the pseudowire, in user
//! space, before encapsulation. Pure functions on caller buffers: no I/O, no
//! allocation.
//!
//! Layout (Linux `include/uapi/linux/virtio_net.h`, `struct virtio_net_hdr`, in the
//! host's byte order, which is little-endian on every target this daemon runs on:
//! `TUNSETVNETLE` is not used): flags (1 byte), gso_type (1), hdr_len (2),
//! gso_size (2), csum_start (2), csum_offset (2).

/// Length of the virtio-net header in front of every frame.
pub const VNET_HDR_LEN: usize = 10;
/// The header of a frame that needs nothing (no checksum to fill, no GSO): what the
/// data plane writes in front of every frame it hands to the TAP.
pub const VNET_HDR_NONE: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum from `csum_start` on is to be
/// filled in, its field holds the pseudo-header sum.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP` (UFO: IP fragmentation, not produced by kernels since 4.14).
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (USO, IPv4 and IPv6).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: flag bit of `gso_type`.
pub const GSO_ECN: u8 = 0x80;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// A parsed virtio-net header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM` and others.
    pub flags: u8,
    /// `GSO_*`, with `GSO_ECN` possibly set.
    pub gso_type: u8,
    /// Length of the headers (Ethernet + IP + L4), a hint.
    pub hdr_len: u16,
    /// Payload bytes per segment (MSS for TCP).
    pub gso_size: u16,
    /// Where the L4 checksum computation starts (the L4 header).
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum field lies.
    pub csum_offset: u16,
}

/// Why a super-frame could not be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VnetError {
    /// Shorter than the virtio-net header.
    #[error("read of {0} bytes is shorter than the virtio-net header")]
    Short(usize),
    /// The checksum offsets point outside the frame.
    #[error("checksum offsets {start}+{offset} outside a {len}-byte frame")]
    BadCsum {
        /// csum_start.
        start: usize,
        /// csum_offset.
        offset: usize,
        /// Frame length.
        len: usize,
    },
    /// A GSO type this data plane does not segment (UFO).
    #[error("GSO type {0} not supported")]
    GsoType(u8),
    /// The headers of a GSO super-frame are not Ethernet + IPv4/IPv6 + TCP/UDP as
    /// the header says.
    #[error("malformed GSO super-frame: {0}")]
    Malformed(&'static str),
}

impl VnetHdr {
    /// Parses the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<VnetHdr, VnetError> {
        let b = buf
            .first_chunk::<VNET_HDR_LEN>()
            .ok_or(VnetError::Short(buf.len()))?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Ok(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header's bytes.
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// True when the frame is a super-frame to segment.
    pub fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }
}

/// Ones' complement sum of `data` (RFC 1071) added to `sum`, not folded.
pub fn csum_add(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Split into 32-bit halves so that the 64-bit accumulator never overflows
        // for any frame this side of 2^32 bytes.
        sum += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = rest.remainder() {
        sum += u64::from(*b) << 8;
    }
    sum
}

/// Folds a sum to 16 bits (not complemented).
pub fn csum_fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Fills in the checksum of a frame with `F_NEEDS_CSUM`: the ones' complement of the
/// sum from `csum_start` to the end (the field holds the pseudo-header sum already),
/// stored at `csum_start + csum_offset`.
pub fn complete_csum(hdr: &VnetHdr, frame: &mut [u8]) -> Result<(), VnetError> {
    let (start, offset) = (usize::from(hdr.csum_start), usize::from(hdr.csum_offset));
    let at = start + offset;
    if at + 2 > frame.len() {
        return Err(VnetError::BadCsum {
            start,
            offset,
            len: frame.len(),
        });
    }
    let mut c = !csum_fold(csum_add(0, &frame[start..]));
    // A UDP checksum that computes to zero is sent as all ones (RFC 768).
    if c == 0 && offset == 6 {
        c = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

/// Splits one GSO super-frame into frames of at most `gso_size` payload bytes each,
/// written one at a time into the caller's buffers by [`Segmenter::next_into`], with
/// the IP lengths, IPv4 ID and header checksum, TCP sequence number and flags (FIN
/// and PSH on the last segment only, CWR on the first only) and L4 checksums
/// rewritten.
#[derive(Debug)]
pub struct Segmenter<'a> {
    frame: &'a [u8],
    l3: usize,
    l4: usize,
    /// End of the headers (start of the payload).
    hdr_end: usize,
    v4: bool,
    l4_kind: L4,
    mss: usize,
    /// Offset of the next segment's payload from `hdr_end`.
    at: usize,
    index: u16,
    seq0: u32,
    id0: u16,
}

impl<'a> Segmenter<'a> {
    /// Checks the headers of `frame` against `hdr` and prepares the segmentation.
    pub fn new(hdr: &VnetHdr, frame: &'a [u8]) -> Result<Segmenter<'a>, VnetError> {
        let kind = hdr.gso_type & !GSO_ECN;
        let l4_kind = match kind {
            GSO_TCPV4 | GSO_TCPV6 => L4::Tcp,
            GSO_UDP_L4 => L4::Udp,
            other => return Err(VnetError::GsoType(other)),
        };
        let et = |i: usize| {
            frame
                .get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        let mut l3 = ETH_LEN;
        let mut ethertype = et(12).ok_or(VnetError::Malformed("no Ethernet header"))?;
        if ethertype == ETHERTYPE_VLAN {
            ethertype = et(16).ok_or(VnetError::Malformed("short VLAN tag"))?;
            l3 += 4;
        }
        let v4 = match ethertype {
            ETHERTYPE_IPV4 => true,
            ETHERTYPE_IPV6 => false,
            _ => return Err(VnetError::Malformed("not IPv4 or IPv6")),
        };
        if (kind == GSO_TCPV4) != v4 && l4_kind == L4::Tcp {
            return Err(VnetError::Malformed("GSO type and IP version differ"));
        }
        let l4 = usize::from(hdr.csum_start);
        if l4 < l3 + if v4 { 20 } else { 40 } {
            return Err(VnetError::Malformed("L4 header inside the IP header"));
        }
        let proto = if v4 {
            frame.get(l3 + 9).copied()
        } else {
            // Extension headers are not followed: csum_start already skips them,
            // and the proto is that of the last one, checked through its length.
            Some(if l4 == l3 + 40 {
                frame.get(l3 + 6).copied().unwrap_or(0)
            } else {
                match l4_kind {
                    L4::Tcp => PROTO_TCP,
                    L4::Udp => PROTO_UDP,
                }
            })
        };
        let hdr_end = match (l4_kind, proto) {
            (L4::Tcp, Some(PROTO_TCP)) => {
                let doff = frame
                    .get(l4 + 12)
                    .map(|b| usize::from(b >> 4) * 4)
                    .ok_or(VnetError::Malformed("short TCP header"))?;
                if doff < 20 {
                    return Err(VnetError::Malformed("TCP data offset below 20"));
                }
                l4 + doff
            }
            (L4::Udp, Some(PROTO_UDP)) => l4 + 8,
            _ => {
                return Err(VnetError::Malformed(
                    "IP protocol does not match the GSO type",
                ));
            }
        };
        if hdr_end > frame.len() {
            return Err(VnetError::Malformed("headers longer than the frame"));
        }
        let mss = usize::from(hdr.gso_size);
        if mss == 0 {
            return Err(VnetError::Malformed("gso_size 0"));
        }
        let seq0 = match l4_kind {
            L4::Tcp => {
                u32::from_be_bytes([frame[l4 + 4], frame[l4 + 5], frame[l4 + 6], frame[l4 + 7]])
            }
            L4::Udp => 0,
        };
        let id0 = if v4 {
            u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]])
        } else {
            0
        };
        Ok(Segmenter {
            frame,
            l3,
            l4,
            hdr_end,
            v4,
            l4_kind,
            mss,
            at: 0,
            index: 0,
            seq0,
            id0,
        })
    }

    /// Length of the largest segment (headers + `gso_size` payload bytes).
    pub fn max_segment_len(&self) -> usize {
        self.hdr_end + self.mss
    }

    /// Number of segments still to come.
    pub fn remaining(&self) -> usize {
        let left = self.frame.len() - self.hdr_end - self.at;
        left.div_ceil(self.mss)
    }

    /// Writes the next segment into the start of `dst` and returns its length;
    /// `None` when all segments have been written or `dst` is too short for the
    /// next one (then nothing is written and the segment stays next).
    pub fn next_into(&mut self, dst: &mut [u8]) -> Option<usize> {
        let payload_total = self.frame.len() - self.hdr_end;
        if self.at >= payload_total && !(payload_total == 0 && self.index == 0) {
            return None;
        }
        let chunk = self.mss.min(payload_total - self.at);
        let len = self.hdr_end + chunk;
        let dst = dst.get_mut(..len)?;
        let first = self.index == 0;
        let last = self.at + chunk >= payload_total;
        dst[..self.hdr_end].copy_from_slice(&self.frame[..self.hdr_end]);
        dst[self.hdr_end..]
            .copy_from_slice(&self.frame[self.hdr_end + self.at..self.hdr_end + self.at + chunk]);
        let (l3, l4) = (self.l3, self.l4);
        let l4_len = len - l4;
        if self.v4 {
            let ihl = usize::from(dst[l3] & 0x0f) * 4;
            let total = (len - l3) as u16;
            dst[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            let id = self.id0.wrapping_add(self.index);
            dst[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            dst[l3 + 10..l3 + 12].fill(0);
            let c = !csum_fold(csum_add(0, &dst[l3..l3 + ihl.max(20)]));
            dst[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let payload_len = (len - l3 - 40) as u16;
            dst[l3 + 4..l3 + 6].copy_from_slice(&payload_len.to_be_bytes());
        }
        let csum_at = match self.l4_kind {
            L4::Tcp => {
                let seq = self.seq0.wrapping_add(self.at as u32);
                dst[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                let mut flags = dst[l4 + 13];
                if !last {
                    flags &= !(0x01 | 0x08); // FIN, PSH
                }
                if !first {
                    flags &= !0x80; // CWR
                }
                dst[l4 + 13] = flags;
                l4 + 16
            }
            L4::Udp => {
                dst[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                l4 + 6
            }
        };
        dst[csum_at..csum_at + 2].fill(0);
        let proto = match self.l4_kind {
            L4::Tcp => PROTO_TCP,
            L4::Udp => PROTO_UDP,
        };
        let mut sum = if self.v4 {
            csum_add(0, &dst[l3 + 12..l3 + 20])
        } else {
            csum_add(0, &dst[l3 + 8..l3 + 40])
        };
        sum += u64::from(proto) + l4_len as u64;
        let mut c = !csum_fold(csum_add(sum, &dst[l4..len]));
        if c == 0 && self.l4_kind == L4::Udp {
            c = 0xffff;
        }
        dst[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        self.at += chunk;
        self.index = self.index.wrapping_add(1);
        Some(len)
    }
}

/// Largest super-frame handed to the TAP (the kernel accepts up to 64 KB of IP
/// packet per GSO frame).
pub const MAX_SUPER_FRAME: usize = 65535;

/// What a [`Coalescer`] keeps of the flow being merged.
#[derive(Debug, Clone, Copy)]
struct Flow {
    l3: usize,
    l4: usize,
    /// End of the headers (Ethernet + IP + TCP with options, or UDP).
    hdr_end: usize,
    v4: bool,
    /// UDP datagrams (merged into a USO super-frame) rather than TCP segments.
    udp: bool,
    /// Sequence number the next segment must carry (TCP).
    next_seq: u32,
    /// Payload length of the first segment: every later one but the last has it.
    mss: usize,
    segments: u16,
    /// The last segment was shorter than `mss` or had PSH: nothing more merges.
    closed: bool,
}

/// Most UDP datagrams merged into one USO super-frame (the kernel refuses more than
/// `UDP_MAX_SEGMENTS`, 64 on older kernels and 128 on newer ones).
pub const MAX_UDP_SEGMENTS: u16 = 64;

/// Receive-side coalescing (GRO in user space): consecutive in-order TCP segments
/// of one flow, as they come out of the pseudowire, are merged into one super-frame
/// written to the TAP behind a virtio-net header with GSO, so the host stack takes
/// up to 64 KB per write. A segment merges when its Ethernet, IP and TCP headers
/// equal the first segment's except for the fields that change per segment (IP
/// length, IPv4 ID and checksum, sequence number, TCP checksum, PSH on the last),
/// its sequence number follows, its TCP checksum verifies, and it carries only ACK
/// (and PSH). Consecutive UDP datagrams of one flow and one payload length (the
/// last may be shorter), checksums verified, merge the same way into a USO
/// super-frame (`VIRTIO_NET_HDR_GSO_UDP_L4`, at most [`MAX_UDP_SEGMENTS`]), which
/// the kernel cuts back into the same datagrams: one TAP write for up to 64 small
/// datagrams. Everything else is passed through as it is.
#[derive(Debug)]
pub struct Coalescer {
    buf: Vec<u8>,
    /// Bytes of `buf` in use: the virtio-net header, then the super-frame.
    len: usize,
    flow: Option<Flow>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new()
    }
}

/// Where a frame passed to [`Coalescer::push`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Merged into (or started) the current super-frame.
    Merged,
    /// Not mergeable: the caller writes it by itself, after [`Coalescer::take`]
    /// (the current super-frame goes first, to keep the order).
    Alone,
}

impl Coalescer {
    /// An empty coalescer with its 64 KB buffer.
    pub fn new() -> Coalescer {
        Coalescer {
            buf: vec![0u8; VNET_HDR_LEN + MAX_SUPER_FRAME + 64],
            len: 0,
            flow: None,
        }
    }

    /// True when a super-frame is pending.
    pub fn is_empty(&self) -> bool {
        self.flow.is_none()
    }

    /// Offers one received frame (copied in when it merges). `Alone`: the frame was
    /// not taken and nothing changed; the caller writes the pending super-frame
    /// ([`Coalescer::take`]) first, then offers the frame again (it may start a new
    /// flow) or, when it is `Alone` again, writes it by itself.
    pub fn push(&mut self, frame: &[u8]) -> Pushed {
        let Some(seg) = parse_segment(frame) else {
            return Pushed::Alone;
        };
        if seg.udp {
            return self.push_udp(frame, &seg);
        }
        match self.flow {
            None => {
                if seg.payload == 0 || seg.flags & !(0x10 | 0x08) != 0 || !seg_csum_ok(frame, &seg)
                {
                    return Pushed::Alone;
                }
                self.buf[VNET_HDR_LEN..VNET_HDR_LEN + frame.len()].copy_from_slice(frame);
                self.len = VNET_HDR_LEN + frame.len();
                self.flow = Some(Flow {
                    l3: seg.l3,
                    l4: seg.l4,
                    hdr_end: seg.hdr_end,
                    v4: seg.v4,
                    udp: false,
                    next_seq: seg.seq.wrapping_add(seg.payload as u32),
                    mss: seg.payload,
                    segments: 1,
                    closed: seg.flags & 0x08 != 0,
                });
                Pushed::Merged
            }
            Some(f) => {
                let head = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + f.hdr_end];
                let fits = !f.closed
                    && !f.udp
                    && seg.v4 == f.v4
                    && seg.l3 == f.l3
                    && seg.l4 == f.l4
                    && seg.hdr_end == f.hdr_end
                    && seg.seq == f.next_seq
                    && seg.payload > 0
                    && seg.payload <= f.mss
                    && seg.flags & !(0x10 | 0x08) == 0
                    && self.len + seg.payload <= VNET_HDR_LEN + MAX_SUPER_FRAME
                    && same_headers(head, frame, &f)
                    && seg_csum_ok(frame, &seg);
                if !fits {
                    return Pushed::Alone;
                }
                let payload = &frame[f.hdr_end..];
                self.buf[self.len..self.len + payload.len()].copy_from_slice(payload);
                self.len += payload.len();
                // PSH travels to the super-frame's header (it ends the merge).
                if seg.flags & 0x08 != 0 {
                    self.buf[VNET_HDR_LEN + f.l4 + 13] |= 0x08;
                }
                self.flow = Some(Flow {
                    next_seq: f.next_seq.wrapping_add(seg.payload as u32),
                    segments: f.segments + 1,
                    closed: seg.payload < f.mss || seg.flags & 0x08 != 0,
                    ..f
                });
                Pushed::Merged
            }
        }
    }

    /// [`Coalescer::push`] for a UDP datagram: consecutive datagrams of one flow
    /// (same headers but for the IP length, IPv4 ID and checksum, UDP length and
    /// checksum), each with a verified checksum and the first one's payload length
    /// (the last may be shorter, and ends the merge), at most [`MAX_UDP_SEGMENTS`],
    /// merge into one USO super-frame (`VIRTIO_NET_HDR_GSO_UDP_L4`) that the kernel
    /// cuts back into the same datagrams.
    fn push_udp(&mut self, frame: &[u8], seg: &TcpSeg) -> Pushed {
        if seg.payload == 0 || !seg_csum_ok(frame, seg) {
            return Pushed::Alone;
        }
        match self.flow {
            None => {
                self.buf[VNET_HDR_LEN..VNET_HDR_LEN + frame.len()].copy_from_slice(frame);
                self.len = VNET_HDR_LEN + frame.len();
                self.flow = Some(Flow {
                    l3: seg.l3,
                    l4: seg.l4,
                    hdr_end: seg.hdr_end,
                    v4: seg.v4,
                    udp: true,
                    next_seq: 0,
                    mss: seg.payload,
                    segments: 1,
                    closed: false,
                });
                Pushed::Merged
            }
            Some(f) => {
                let head = &self.buf[VNET_HDR_LEN..VNET_HDR_LEN + f.hdr_end];
                let fits = !f.closed
                    && f.udp
                    && seg.v4 == f.v4
                    && seg.l3 == f.l3
                    && seg.l4 == f.l4
                    && seg.hdr_end == f.hdr_end
                    && seg.payload <= f.mss
                    && f.segments < MAX_UDP_SEGMENTS
                    && self.len + seg.payload <= VNET_HDR_LEN + MAX_SUPER_FRAME
                    && same_headers(head, frame, &f);
                if !fits {
                    return Pushed::Alone;
                }
                let payload = &frame[f.hdr_end..];
                self.buf[self.len..self.len + payload.len()].copy_from_slice(payload);
                self.len += payload.len();
                self.flow = Some(Flow {
                    segments: f.segments + 1,
                    closed: seg.payload < f.mss,
                    ..f
                });
                Pushed::Merged
            }
        }
    }

    /// The pending super-frame with its virtio-net header, ready for one TAP write
    /// (a single segment goes as it came, with an all-zero header), and resets the
    /// coalescer; `None` when nothing is pending.
    pub fn take(&mut self) -> Option<&[u8]> {
        let f = self.flow.take()?;
        let frame_len = self.len - VNET_HDR_LEN;
        if f.segments == 1 {
            self.buf[..VNET_HDR_LEN].copy_from_slice(&VNET_HDR_NONE);
            return Some(&self.buf[..self.len]);
        }
        let (l3, l4) = (f.l3, f.l4);
        let fr = &mut self.buf[VNET_HDR_LEN..self.len];
        if f.v4 {
            let total = (frame_len - l3) as u16;
            fr[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            fr[l3 + 10..l3 + 12].fill(0);
            let ihl = usize::from(fr[l3] & 0x0f) * 4;
            let c = !csum_fold(csum_add(0, &fr[l3..l3 + ihl]));
            fr[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let plen = (frame_len - l3 - 40) as u16;
            fr[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, folded, not
        // complemented; the stack treats the payload as verified (each segment's
        // checksum was checked before it merged).
        let l4_len = (frame_len - l4) as u64;
        let mut sum = if f.v4 {
            csum_add(0, &fr[l3 + 12..l3 + 20])
        } else {
            csum_add(0, &fr[l3 + 8..l3 + 40])
        };
        let (proto, csum_offset, gso_type) = if f.udp {
            // The UDP length covers the whole super-frame; the kernel gives each
            // datagram its own and adjusts the checksum by the difference.
            fr[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            (PROTO_UDP, 6, GSO_UDP_L4)
        } else {
            (PROTO_TCP, 16, if f.v4 { GSO_TCPV4 } else { GSO_TCPV6 })
        };
        sum += u64::from(proto) + l4_len;
        fr[l4 + csum_offset..l4 + csum_offset + 2].copy_from_slice(&csum_fold(sum).to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: f.hdr_end as u16,
            gso_size: f.mss as u16,
            csum_start: l4 as u16,
            csum_offset: csum_offset as u16,
        };
        self.buf[..VNET_HDR_LEN].copy_from_slice(&hdr.to_bytes());
        Some(&self.buf[..self.len])
    }
}

/// The parts of a TCP segment the coalescer looks at.
#[derive(Debug, Clone, Copy)]
struct TcpSeg {
    l3: usize,
    l4: usize,
    hdr_end: usize,
    v4: bool,
    seq: u32,
    flags: u8,
    payload: usize,
    /// A UDP datagram (`seq` and `flags` zero).
    udp: bool,
}

/// Parses Ethernet + IPv4 (no options, not a fragment) or IPv6 (no extension
/// headers) + TCP or UDP (its length field matching the IP length); `None` for
/// anything else.
fn parse_segment(f: &[u8]) -> Option<TcpSeg> {
    let et = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let l3 = ETH_LEN;
    let (v4, l4, ip_end) = match et {
        ETHERTYPE_IPV4 => {
            let ip = f.get(l3..l3 + 20)?;
            if ip[0] != 0x45 || !matches!(ip[9], PROTO_TCP | PROTO_UDP) {
                return None;
            }
            // Not a fragment: MF clear and offset zero.
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            (true, l3 + 20, l3 + total)
        }
        ETHERTYPE_IPV6 => {
            let ip = f.get(l3..l3 + 40)?;
            if ip[0] >> 4 != 6 || !matches!(ip[6], PROTO_TCP | PROTO_UDP) {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            (false, l3 + 40, l3 + 40 + plen)
        }
        _ => return None,
    };
    // The IP length must cover the frame exactly (no Ethernet padding to strip).
    if ip_end != f.len() {
        return None;
    }
    let proto = if v4 { f[l3 + 9] } else { f[l3 + 6] };
    if proto == PROTO_UDP {
        let udp = f.get(l4..l4 + 8)?;
        // The length must be the IP payload's; a zero checksum (IPv4: none) is
        // not merged (there is nothing to verify).
        if usize::from(u16::from_be_bytes([udp[4], udp[5]])) != f.len() - l4 || udp[6..8] == [0, 0]
        {
            return None;
        }
        return Some(TcpSeg {
            l3,
            l4,
            hdr_end: l4 + 8,
            v4,
            seq: 0,
            flags: 0,
            payload: f.len() - l4 - 8,
            udp: true,
        });
    }
    let tcp = f.get(l4..l4 + 20)?;
    let doff = usize::from(tcp[12] >> 4) * 4;
    if doff < 20 || l4 + doff > f.len() {
        return None;
    }
    Some(TcpSeg {
        l3,
        l4,
        hdr_end: l4 + doff,
        v4,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags: tcp[13],
        payload: f.len() - l4 - doff,
        udp: false,
    })
}

/// The TCP or UDP checksum of a parsed segment verifies.
fn seg_csum_ok(f: &[u8], s: &TcpSeg) -> bool {
    let l3 = s.l3;
    let mut sum = if s.v4 {
        csum_add(0, &f[l3 + 12..l3 + 20])
    } else {
        csum_add(0, &f[l3 + 8..l3 + 40])
    };
    let proto = if s.udp { PROTO_UDP } else { PROTO_TCP };
    sum += u64::from(proto) + (f.len() - s.l4) as u64;
    csum_fold(csum_add(sum, &f[s.l4..])) == 0xffff
}

/// The headers of `f` equal `head` (the first segment's) except for the fields that
/// change per segment.
fn same_headers(head: &[u8], f: &[u8], fl: &Flow) -> bool {
    let (l3, l4, end) = (fl.l3, fl.l4, fl.hdr_end);
    // Ethernet.
    if head[..l3] != f[..l3] {
        return false;
    }
    if fl.v4 {
        // Version/IHL/TOS; flags/fragment, TTL, protocol; addresses. Skip the
        // total length (2..4), ID (4..6) and checksum (10..12).
        if head[l3..l3 + 2] != f[l3..l3 + 2]
            || head[l3 + 6..l3 + 10] != f[l3 + 6..l3 + 10]
            || head[l3 + 12..l3 + 20] != f[l3 + 12..l3 + 20]
        {
            return false;
        }
    } else if head[l3..l3 + 4] != f[l3..l3 + 4] || head[l3 + 6..l3 + 40] != f[l3 + 6..l3 + 40] {
        // Version, class, flow label; next header, hop limit, addresses.
        return false;
    }
    if fl.udp {
        // UDP: the ports (length and checksum change).
        return head[l4..l4 + 4] == f[l4..l4 + 4];
    }
    // TCP: ports; ack, data offset and flags but PSH, window; options. Skip the
    // sequence number (4..8) and checksum (16..18); urgent pointer must match.
    head[l4..l4 + 4] == f[l4..l4 + 4]
        && head[l4 + 8..l4 + 13] == f[l4 + 8..l4 + 13]
        && head[l4 + 13] & !0x08 == f[l4 + 13] & !0x08
        && head[l4 + 14..l4 + 16] == f[l4 + 14..l4 + 16]
        && head[l4 + 18..end] == f[l4 + 18..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4/IPv6 + TCP frame with `payload`, checksums correct.
    pub(crate) fn tcp_frame(v4: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        let l3 = 14;
        if v4 {
            f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + 20 + payload.len()) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            ip[8] = 64;
            ip[9] = PROTO_TCP;
            ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
            ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
            let c = !csum_fold(csum_add(0, &ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        } else {
            f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            ip[6] = PROTO_TCP;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            ip[24..40].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            f.extend_from_slice(&ip);
        }
        let l4 = f.len();
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        f.extend_from_slice(&tcp);
        f.extend_from_slice(payload);
        let _ = l3;
        let sum = pseudo(&f, v4, l4);
        let c = !csum_fold(csum_add(sum, &f[l4..]));
        f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn pseudo(f: &[u8], v4: bool, l4: usize) -> u64 {
        let l4_len = (f.len() - l4) as u64;
        let s = if v4 {
            csum_add(0, &f[14 + 12..14 + 20])
        } else {
            csum_add(0, &f[14 + 8..14 + 40])
        };
        s + u64::from(PROTO_TCP) + l4_len
    }

    /// True when the L4 checksum of `f` verifies.
    pub(crate) fn tcp_csum_ok(f: &[u8]) -> bool {
        let v4 = f[12..14] == ETHERTYPE_IPV4.to_be_bytes();
        let l4 = if v4 { 34 } else { 54 };
        csum_fold(csum_add(pseudo(f, v4, l4), &f[l4..])) == 0xffff
    }

    #[test]
    fn header_round_trip() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            hdr_len: 74,
            gso_size: 1328,
            csum_start: 54,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.to_bytes()).unwrap(), h);
        assert!(h.is_gso());
        assert_eq!(VnetHdr::parse(&[0; 9]), Err(VnetError::Short(9)));
        assert!(!VnetHdr::parse(&VNET_HDR_NONE).unwrap().is_gso());
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(csum_fold(csum_add(0, &d)), 0xddf2);
        assert_eq!(
            csum_fold(csum_add(0, &d[..7])),
            csum_fold(csum_add(0, &[0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0]))
        );
    }

    #[test]
    fn complete_partial_checksum() {
        for v4 in [true, false] {
            let good = tcp_frame(v4, 7, 0x18, &[0x5a; 333]);
            let l4 = if v4 { 34 } else { 54 };
            // What the kernel hands over with NEEDS_CSUM: the pseudo-header sum.
            let mut partial = good.clone();
            let ps = csum_fold(pseudo(&good, v4, l4));
            partial[l4 + 16..l4 + 18].copy_from_slice(&ps.to_be_bytes());
            let h = VnetHdr {
                flags: F_NEEDS_CSUM,
                csum_start: l4 as u16,
                csum_offset: 16,
                ..Default::default()
            };
            complete_csum(&h, &mut partial).unwrap();
            assert_eq!(partial, good);
            let bad = VnetHdr {
                csum_start: 4000,
                ..h
            };
            assert!(complete_csum(&bad, &mut partial).is_err());
        }
    }

    /// The virtio-net header of a TCP super-frame from `tcp_frame` (Ethernet, IPv4
    /// or IPv6, TCP without options), cut into `gso_size` segments.
    fn tso_hdr(v4: bool, gso_size: u16) -> VnetHdr {
        let l4: u16 = if v4 { 34 } else { 54 };
        VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if v4 { GSO_TCPV4 } else { GSO_TCPV6 },
            hdr_len: l4 + 20,
            gso_size,
            csum_start: l4,
            csum_offset: 16,
        }
    }

    #[test]
    fn tso_segments_reassemble_with_valid_checksums() {
        for v4 in [true, false] {
            let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let sup = tcp_frame(v4, 0xffff_f000, 0x19 | 0x80, &payload); // FIN PSH ACK CWR
            let l4 = if v4 { 34 } else { 54 };
            let h = tso_hdr(v4, 1348);
            let mut s = Segmenter::new(&h, &sup).unwrap();
            assert_eq!(s.remaining(), 8);
            let mut buf = vec![0u8; 2000];
            let mut got = Vec::new();
            let mut n = 0;
            while let Some(len) = s.next_into(&mut buf) {
                let seg = &buf[..len];
                assert!(tcp_csum_ok(seg), "segment {n} checksum (v4 {v4})");
                let seq = u32::from_be_bytes(seg[l4 + 4..l4 + 8].try_into().unwrap());
                assert_eq!(seq, 0xffff_f000u32.wrapping_add(got.len() as u32));
                let flags = seg[l4 + 13];
                assert_eq!(flags & 0x80 != 0, n == 0, "CWR only first");
                assert_eq!(flags & 0x09 != 0, s.remaining() == 0, "FIN/PSH only last");
                if v4 {
                    assert_eq!(csum_fold(csum_add(0, &seg[14..34])), 0xffff);
                    assert_eq!(u16::from_be_bytes([seg[16], seg[17]]) as usize, len - 14);
                    assert_eq!(u16::from_be_bytes([seg[18], seg[19]]), 0x1234 + n as u16);
                } else {
                    assert_eq!(u16::from_be_bytes([seg[18], seg[19]]) as usize, len - 54);
                }
                got.extend_from_slice(&seg[l4 + 20..]);
                n += 1;
            }
            assert_eq!(n, 8);
            assert_eq!(got, payload);
            // Too small a buffer writes nothing.
            let mut s = Segmenter::new(&h, &sup).unwrap();
            assert_eq!(s.next_into(&mut [0u8; 100]), None);
            assert_eq!(s.remaining(), 8);
        }
    }

    #[test]
    fn malformed_super_frames_are_refused() {
        let sup = tcp_frame(true, 1, 0x10, &[1; 3000]);
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1000,
            csum_start: 34,
            csum_offset: 16,
        };
        assert!(Segmenter::new(&h, &sup).is_ok());
        for bad in [
            VnetHdr {
                gso_type: GSO_UDP,
                ..h
            },
            VnetHdr {
                gso_type: GSO_TCPV6,
                ..h
            },
            VnetHdr { gso_size: 0, ..h },
            VnetHdr {
                csum_start: 20,
                ..h
            },
            VnetHdr {
                gso_type: GSO_UDP_L4,
                ..h
            },
        ] {
            assert!(Segmenter::new(&bad, &sup).is_err(), "{bad:?}");
        }
        assert!(Segmenter::new(&h, &sup[..40]).is_err());
        assert!(Segmenter::new(&h, &[]).is_err());
    }
    #[test]
    fn coalesced_super_frame_segments_back_to_the_same_frames() {
        for v4 in [true, false] {
            let payload: Vec<u8> = (0..20_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
            let sup = tcp_frame(v4, 1000, 0x18, &payload); // PSH ACK
            let l4 = if v4 { 34 } else { 54 };
            let h = tso_hdr(v4, 1200);
            let mut seg = Segmenter::new(&h, &sup).unwrap();
            let mut frames = Vec::new();
            let mut buf = vec![0u8; 2000];
            while let Some(n) = seg.next_into(&mut buf) {
                frames.push(buf[..n].to_vec());
            }
            let mut c = Coalescer::new();
            for f in &frames {
                assert_eq!(c.push(f), Pushed::Merged);
            }
            // The flow is closed by the last (short, PSH) segment.
            let again = frames[0].clone();
            assert_eq!(c.push(&again), Pushed::Alone);
            let out = c.take().unwrap().to_vec();
            assert!(c.is_empty());
            let oh = VnetHdr::parse(&out).unwrap();
            assert_eq!(oh.gso_type, h.gso_type);
            assert_eq!(oh.gso_size, 1200);
            let mut fr = out[VNET_HDR_LEN..].to_vec();
            assert_eq!(&fr[l4 + 20..], &payload[..]);
            // Completing the checksum the kernel way gives the original super-frame.
            complete_csum(&oh, &mut fr).unwrap();
            let mut orig = sup.clone();
            if v4 {
                // The original's IPv4 ID is the first segment's; the lengths match.
                assert_eq!(&fr[..l4], &orig[..l4]);
            }
            orig[l4 + 16..l4 + 18].copy_from_slice(&fr[l4 + 16..l4 + 18]);
            assert_eq!(fr, orig);
            assert!(tcp_csum_ok(&fr));
        }
    }

    #[test]
    fn coalescer_refuses_gaps_other_flows_and_bad_checksums() {
        let a = tcp_frame(true, 0, 0x10, &[1; 1000]);
        let gap = tcp_frame(true, 2000, 0x10, &[2; 1000]);
        let next = tcp_frame(true, 1000, 0x10, &[3; 1000]);
        let syn = tcp_frame(true, 2000, 0x12, &[4; 10]);
        let mut bad = tcp_frame(true, 2000, 0x10, &[5; 1000]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let v6 = tcp_frame(false, 2000, 0x10, &[6; 1000]);
        let mut c = Coalescer::new();
        assert_eq!(c.push(&a), Pushed::Merged);
        assert_eq!(c.push(&gap), Pushed::Alone);
        assert_eq!(c.push(&next), Pushed::Merged);
        for f in [&syn, &bad, &v6] {
            assert_eq!(c.push(f), Pushed::Alone);
        }
        let out = c.take().unwrap();
        assert_eq!(out.len(), VNET_HDR_LEN + a.len() + 1000);
        // A lone segment goes out unchanged behind a zero header.
        assert_eq!(c.push(&a), Pushed::Merged);
        let out = c.take().unwrap();
        assert_eq!(&out[..VNET_HDR_LEN], &VNET_HDR_NONE);
        assert_eq!(&out[VNET_HDR_LEN..], &a[..]);
        assert_eq!(c.take(), None);
        // Not TCP at all.
        assert_eq!(c.push(&[0u8; 60]), Pushed::Alone);
    }

    /// An Ethernet + IPv4/IPv6 + UDP datagram with `payload`, checksums correct.
    fn udp_frame(v4: bool, payload: &[u8]) -> Vec<u8> {
        udp_frame_from(v4, 40000, payload)
    }

    fn udp_frame_from(v4: bool, sport: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = tcp_frame(v4, 0, 0x10, &[]);
        let l4 = if v4 { 34 } else { 54 };
        f.truncate(l4);
        let l4_len = 8 + payload.len();
        if v4 {
            f[23] = PROTO_UDP;
            f[16..18].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
            f[24..26].fill(0);
            let c = !csum_fold(csum_add(0, &f[14..34]));
            f[24..26].copy_from_slice(&c.to_be_bytes());
        } else {
            f[20] = PROTO_UDP;
            f[18..20].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&5201u16.to_be_bytes());
        f.extend_from_slice(&(l4_len as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        let mut sum = if v4 {
            csum_add(0, &f[26..34])
        } else {
            csum_add(0, &f[22..54])
        };
        sum += u64::from(PROTO_UDP) + l4_len as u64;
        let c = !csum_fold(csum_add(sum, &f[l4..]));
        f[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Consecutive UDP datagrams of one flow merge into a USO super-frame that
    /// segments back into the same datagrams (UDP header, checksum and payload); the
    /// merge ends at a shorter datagram or at [`MAX_UDP_SEGMENTS`]; bad or absent
    /// checksums, other flows and other lengths are not merged.
    #[test]
    fn udp_datagrams_coalesce_and_segment_back() {
        for v4 in [true, false] {
            let l4 = if v4 { 34 } else { 54 };
            let mut sent: Vec<Vec<u8>> = (0..10u8)
                .map(|k| udp_frame(v4, &[k.wrapping_mul(37); 100]))
                .collect();
            sent.push(udp_frame(v4, &[0xee; 40]));
            let mut c = Coalescer::new();
            for f in &sent {
                assert_eq!(c.push(f), Pushed::Merged);
            }
            // Closed by the shorter one.
            assert_eq!(c.push(&sent[0]), Pushed::Alone);
            let out = c.take().unwrap().to_vec();
            let oh = VnetHdr::parse(&out).unwrap();
            assert_eq!((oh.gso_type, oh.gso_size), (GSO_UDP_L4, 100));
            assert_eq!((oh.csum_start, oh.csum_offset), (l4 as u16, 6));
            // The super-frame's UDP length covers it whole, and its partial checksum
            // completes (the kernel's way) to one that verifies with that length:
            // the kernel adjusts it by each datagram's length.
            let mut fr = out[VNET_HDR_LEN..].to_vec();
            let ulen = fr.len() - l4;
            assert_eq!(
                usize::from(u16::from_be_bytes([fr[l4 + 4], fr[l4 + 5]])),
                ulen
            );
            complete_csum(&oh, &mut fr).unwrap();
            let ph = if v4 {
                csum_add(0, &fr[26..34])
            } else {
                csum_add(0, &fr[22..54])
            };
            let sum = ph + u64::from(PROTO_UDP) + ulen as u64;
            assert_eq!(csum_fold(csum_add(sum, &fr[l4..])), 0xffff);
            let mut seg = Segmenter::new(&oh, &out[VNET_HDR_LEN..]).unwrap();
            let mut buf = vec![0u8; 2000];
            let mut back = Vec::new();
            while let Some(n) = seg.next_into(&mut buf) {
                back.push(buf[..n].to_vec());
            }
            assert_eq!(back.len(), sent.len());
            for (b, f) in back.iter().zip(&sent) {
                assert_eq!(b.len(), f.len());
                assert_eq!(
                    &b[..l4 - if v4 { 20 } else { 40 }],
                    &f[..l4 - if v4 { 20 } else { 40 }]
                );
                // UDP header (ports, length, checksum) and payload as sent.
                assert_eq!(&b[l4..], &f[l4..]);
            }

            // At most MAX_UDP_SEGMENTS per super-frame.
            let d = udp_frame(v4, &[7; 64]);
            for _ in 0..MAX_UDP_SEGMENTS {
                assert_eq!(c.push(&d), Pushed::Merged);
            }
            assert_eq!(c.push(&d), Pushed::Alone);
            let _ = c.take();

            // Refused: a bad checksum, another port, a longer datagram after the
            // first, a datagram with no payload.
            assert_eq!(c.push(&d), Pushed::Merged);
            let mut bad = d.clone();
            *bad.last_mut().unwrap() ^= 1;
            let port = udp_frame_from(v4, 40001, &[7; 64]);
            for f in [&bad, &port, &udp_frame(v4, &[7; 65]), &udp_frame(v4, &[])] {
                assert_eq!(c.push(f), Pushed::Alone);
            }
            let _ = c.take();
        }
        // IPv4 without a UDP checksum: nothing to verify, not merged.
        let mut none = udp_frame(true, &[1; 64]);
        none[40..42].fill(0);
        assert_eq!(Coalescer::new().push(&none), Pushed::Alone);
    }
}
