//! Ethernet and IPv6 framing for the frames carried by the pseudowires.
//!
//! The daemon leaves framing to the kernel (TAP devices and a raw IPv6 socket); the
//! in-process lab has no kernel, so it builds and parses the Ethernet II and IPv6
//! headers itself with these helpers. Parsing never panics and never trusts the IPv6
//! payload length beyond the bytes present.

use std::net::Ipv6Addr;

/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Length of an Ethernet II header (no VLAN tag).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// IPv6 next-header value of OSPF.
pub const PROTO_OSPF: u8 = 89;
/// IPv6 next-header value of UDP.
pub const PROTO_UDP: u8 = 17;
/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// IPv6 next-header value used by the lab's probe traffic (RFC 3692 experimentation).
pub const PROTO_LAB_PROBE: u8 = 253;

/// A 48-bit MAC address.
pub type Mac = [u8; 6];

/// Why a frame was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame or packet ended before a header did.
    #[error("truncated {what}: {len} bytes, need {need}")]
    Truncated {
        /// Which header.
        what: &'static str,
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Not an IPv6 frame.
    #[error("EtherType {0:#06x} at offset 12 is not IPv6")]
    NotIpv6(u16),
    /// The IPv6 version field is not 6.
    #[error("IP version {0} at offset 14, expected 6")]
    BadVersion(u8),
    /// The IPv6 payload length claims more bytes than the frame holds.
    #[error("IPv6 payload length {claimed} at offset 18 exceeds the {present} bytes present")]
    BadLength {
        /// Payload length field.
        claimed: usize,
        /// Bytes after the IPv6 header.
        present: usize,
    },
    /// The UDP length field (offset 4 of the UDP header) is below 8 or beyond the
    /// IPv6 payload.
    #[error("UDP length {claimed} at offset 4 of the UDP header: {present} bytes present")]
    BadUdpLength {
        /// Length field.
        claimed: usize,
        /// Bytes of the IPv6 payload.
        present: usize,
    },
    /// The UDP checksum (offset 6 of the UDP header) is zero or wrong.
    #[error("UDP checksum at offset 6 of the UDP header is zero or wrong")]
    BadUdpChecksum,
}

/// A UDP datagram found in an IPv6 packet, borrowing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload, cut to the UDP length field.
    pub payload: &'a [u8],
}

/// The Internet checksum (RFC 1071) of the IPv6 pseudo-header (RFC 8200 8.1) and a
/// UDP segment whose checksum field holds zero or the value to verify.
fn udp_checksum(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for c in bytes.chunks(2) {
            let hi = u64::from(c[0]) << 8;
            let lo = c.get(1).copied().map_or(0, u64::from);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(segment.len() as u32).to_be_bytes());
    add(&[0, 0, 0, PROTO_UDP]);
    add(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds a UDP datagram (header and payload, the IPv6 payload) with its checksum
/// over the IPv6 pseudo-header; a computed 0 is sent as 0xffff (RFC 8200 8.1).
pub fn build_udp(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut d = Vec::with_capacity(UDP_HEADER_LEN + payload.len());
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    // The lab's UDP payloads are BFD Control packets (at most a few dozen bytes).
    let len = u16::try_from(UDP_HEADER_LEN + payload.len()).unwrap_or(u16::MAX);
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    let c = match udp_checksum(src, dst, &d) {
        0 => 0xffff,
        c => c,
    };
    d[6..8].copy_from_slice(&c.to_be_bytes());
    d
}

/// Parses the UDP datagram of an IPv6 packet from `src` to `dst`, checking the
/// length field against the bytes present and the checksum (mandatory over IPv6:
/// a zero checksum is refused).
pub fn parse_udp(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ip_payload: &[u8],
) -> Result<UdpDatagram<'_>, FrameError> {
    if ip_payload.len() < UDP_HEADER_LEN {
        return Err(FrameError::Truncated {
            what: "UDP header",
            len: ip_payload.len(),
            need: UDP_HEADER_LEN,
        });
    }
    let len = usize::from(u16::from_be_bytes([ip_payload[4], ip_payload[5]]));
    if len < UDP_HEADER_LEN || len > ip_payload.len() {
        return Err(FrameError::BadUdpLength {
            claimed: len,
            present: ip_payload.len(),
        });
    }
    let segment = &ip_payload[..len];
    if segment[6..8] == [0, 0] || udp_checksum(src, dst, segment) != 0 {
        return Err(FrameError::BadUdpChecksum);
    }
    Ok(UdpDatagram {
        src_port: u16::from_be_bytes([segment[0], segment[1]]),
        dst_port: u16::from_be_bytes([segment[2], segment[3]]),
        payload: &segment[UDP_HEADER_LEN..],
    })
}

/// An IPv6 packet found in an Ethernet frame, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    /// Destination MAC of the frame.
    pub dst_mac: Mac,
    /// Source MAC of the frame.
    pub src_mac: Mac,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header (no extension headers are followed).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// The upper-layer payload, cut to the payload length field.
    pub payload: &'a [u8],
}

/// Parses an Ethernet II frame carrying IPv6.
pub fn parse_ipv6_frame(frame: &[u8]) -> Result<Ipv6Packet<'_>, FrameError> {
    let need = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
    if frame.len() < need {
        return Err(FrameError::Truncated {
            what: "Ethernet + IPv6 header",
            len: frame.len(),
            need,
        });
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype != ETHERTYPE_IPV6 {
        return Err(FrameError::NotIpv6(ethertype));
    }
    let ip = &frame[ETHERNET_HEADER_LEN..];
    let version = ip[0] >> 4;
    if version != 6 {
        return Err(FrameError::BadVersion(version));
    }
    let claimed = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let rest = &ip[IPV6_HEADER_LEN..];
    if claimed > rest.len() {
        return Err(FrameError::BadLength {
            claimed,
            present: rest.len(),
        });
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&ip[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let mut dst_mac = [0u8; 6];
    dst_mac.copy_from_slice(&frame[0..6]);
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&frame[6..12]);
    Ok(Ipv6Packet {
        dst_mac,
        src_mac,
        src: addr(8),
        dst: addr(24),
        next_header: ip[6],
        hop_limit: ip[7],
        payload: &rest[..claimed],
    })
}

/// Builds an Ethernet II frame carrying one IPv6 packet.
pub fn build_ipv6_frame(
    dst_mac: Mac,
    src_mac: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + payload.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    // Payloads here are OSPF packets and lab probes, far below 64 KiB; a longer one
    // would be a bug, and saturating keeps the header self-consistent for a parser.
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    f.extend_from_slice(&len.to_be_bytes());
    f.push(next_header);
    f.push(hop_limit);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(payload);
    f
}

/// The MAC address an IPv6 destination maps to: `33:33` + low 32 bits for multicast
/// (RFC 2464 section 7), the EUI-64 inverse for a link-local unicast address, and the
/// broadcast address otherwise.
pub fn dst_mac_for(dst: Ipv6Addr) -> Mac {
    let o = dst.octets();
    if o[0] == 0xff {
        return [0x33, 0x33, o[12], o[13], o[14], o[15]];
    }
    if o[0] == 0xfe && o[1] & 0xc0 == 0x80 && o[11] == 0xff && o[12] == 0xfe {
        return [o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]];
    }
    [0xff; 6]
}

/// The modified EUI-64 link-local address of a MAC (RFC 4291 Appendix A).
pub fn link_local_for(mac: Mac) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8] = mac[0] ^ 0x02;
    o[9] = mac[1];
    o[10] = mac[2];
    o[11] = 0xff;
    o[12] = 0xfe;
    o[13] = mac[3];
    o[14] = mac[4];
    o[15] = mac[5];
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mac_mapping() {
        let mac = [0x02, 0, 0, 0, 1, 2];
        let ll = link_local_for(mac);
        assert_eq!(ll, "fe80::ff:fe00:102".parse::<Ipv6Addr>().unwrap());
        assert_eq!(dst_mac_for(ll), mac);
        let all_spf: Ipv6Addr = "ff02::5".parse().unwrap();
        assert_eq!(dst_mac_for(all_spf), [0x33, 0x33, 0, 0, 0, 5]);
        let f = build_ipv6_frame([1; 6], mac, ll, all_spf, PROTO_OSPF, 1, b"hello");
        let p = parse_ipv6_frame(&f).unwrap();
        assert_eq!(
            (p.src, p.dst, p.next_header, p.payload),
            (ll, all_spf, 89, &b"hello"[..])
        );
    }

    #[test]
    fn udp_round_trip_and_checksum() {
        let a: Ipv6Addr = "fe80::ff:fe00:10a".parse().unwrap();
        let b: Ipv6Addr = "fe80::ff:fe00:20a".parse().unwrap();
        let d = build_udp(a, b, 49152, 3784, b"bfd control");
        let u = parse_udp(a, b, &d).unwrap();
        assert_eq!(
            (u.src_port, u.dst_port, u.payload),
            (49152, 3784, &b"bfd control"[..])
        );
        // RFC 768 example by hand: the ones' complement sum of everything, checksum
        // included, is 0xffff; recomputed independently here.
        let mut sum: u32 = 0;
        let mut words = a.octets().to_vec();
        words.extend_from_slice(&b.octets());
        words.extend_from_slice(&(d.len() as u32).to_be_bytes());
        words.extend_from_slice(&[0, 0, 0, 17]);
        words.extend_from_slice(&d);
        words.push(0);
        for w in words.chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        // Another source address, a flipped payload bit, a zero checksum, a bad
        // length: all refused.
        assert_eq!(parse_udp(b, b, &d), Err(FrameError::BadUdpChecksum));
        let mut bad = d.clone();
        bad[9] ^= 1;
        assert_eq!(parse_udp(a, b, &bad), Err(FrameError::BadUdpChecksum));
        let mut zero = d.clone();
        zero[6] = 0;
        zero[7] = 0;
        assert_eq!(parse_udp(a, b, &zero), Err(FrameError::BadUdpChecksum));
        let mut long = d.clone();
        long[5] = 200;
        assert!(matches!(
            parse_udp(a, b, &long),
            Err(FrameError::BadUdpLength { claimed: 200, .. })
        ));
        assert!(matches!(
            parse_udp(a, b, &d[..5]),
            Err(FrameError::Truncated { len: 5, .. })
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(
            parse_ipv6_frame(&[0; 10]),
            Err(FrameError::Truncated { len: 10, .. })
        ));
        let mut f = build_ipv6_frame(
            [1; 6],
            [2; 6],
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::LOCALHOST,
            1,
            1,
            b"x",
        );
        f[19] = 200;
        assert_eq!(
            parse_ipv6_frame(&f),
            Err(FrameError::BadLength {
                claimed: 200,
                present: 1
            })
        );
        f[12] = 0x08;
        f[13] = 0x00;
        assert_eq!(parse_ipv6_frame(&f), Err(FrameError::NotIpv6(0x0800)));
    }
}
