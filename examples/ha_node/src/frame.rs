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
