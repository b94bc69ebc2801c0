//! The two OSPFv3 checksums.
//!
//! * The LSA checksum: the Fletcher checksum of ISO 8473 over the whole LSA except LS
//!   age (RFC 2328 12.1.7, kept by RFC 5340 A.4.2). A checksum of 0 is never valid.
//! * The packet checksum: the Internet checksum over an IPv6 pseudo-header (source,
//!   destination, upper-layer length, next header 89) and the OSPFv3 packet
//!   (RFC 5340 A.3.1, RFC 8200 8.1). The kernel fills it when the socket sets
//!   `IPV6_CHECKSUM`; raw-socket users without that option, and capture tools, need
//!   both directions, so both are here.

use std::net::Ipv6Addr;

use crate::constants::IP_PROTOCOL_OSPF;

/// Offset of the checksum field inside an LSA.
pub const LSA_CHECKSUM_OFFSET: usize = 16;
/// Offset of the checksum field inside the OSPFv3 common header.
pub const PACKET_CHECKSUM_OFFSET: usize = 12;
/// The Fletcher sums start after LS age.
const LSA_SUM_START: usize = 2;
/// Bytes per block before the 32-bit sums must be reduced modulo 255.
const FLETCHER_BLOCK: usize = 4096;

/// Adds `data` to the running Fletcher sums (both kept below 255 between blocks).
fn fletcher_accumulate(mut c0: u32, mut c1: u32, data: &[u8]) -> (u32, u32) {
    for block in data.chunks(FLETCHER_BLOCK) {
        for &b in block {
            c0 += u32::from(b);
            c1 += c0;
        }
        c0 %= 255;
        c1 %= 255;
    }
    (c0, c1)
}

/// Computes the Fletcher checksum an LSA must carry. `lsa` is the whole LSA, header
/// included; its current checksum field is ignored. Returns `None` when `lsa` is
/// shorter than an LSA header (20 bytes).
pub fn lsa_checksum(lsa: &[u8]) -> Option<u16> {
    if lsa.len() < 20 {
        return None;
    }
    let data = &lsa[LSA_SUM_START..];
    let at = LSA_CHECKSUM_OFFSET - LSA_SUM_START;
    let (c0, c1) = fletcher_accumulate(0, 0, &data[..at]);
    // The two checksum octets count as zero: c0 is unchanged, c1 gains c0 twice.
    let c1 = (c1 + 2 * c0) % 255;
    let (c0, c1) = fletcher_accumulate(c0, c1, &data[at + 2..]);
    // ISO 8473 annex C: n is the 1-based position of the first checksum octet.
    let len = data.len() as i64;
    let n = at as i64 + 1;
    let (c0, c1) = (i64::from(c0), i64::from(c1));
    let mut x = ((len - n) * c0 - c1).rem_euclid(255);
    let mut y = (c1 - (len - n + 1) * c0).rem_euclid(255);
    if x == 0 {
        x = 255;
    }
    if y == 0 {
        y = 255;
    }
    Some(((x as u16) << 8) | y as u16)
}

/// True when the LSA's checksum field is non-zero and the Fletcher sums over the LSA
/// (minus LS age) both come to zero.
pub fn verify_lsa_checksum(lsa: &[u8]) -> bool {
    if lsa.len() < 20 {
        return false;
    }
    let field = u16::from_be_bytes([lsa[LSA_CHECKSUM_OFFSET], lsa[LSA_CHECKSUM_OFFSET + 1]]);
    if field == 0 {
        return false;
    }
    let (c0, c1) = fletcher_accumulate(0, 0, &lsa[LSA_SUM_START..]);
    c0 == 0 && c1 == 0
}

/// Computes and writes the checksum field of an encoded LSA. Does nothing to a buffer
/// shorter than an LSA header.
pub fn set_lsa_checksum(lsa: &mut [u8]) {
    if let Some(c) = lsa_checksum(lsa) {
        lsa[LSA_CHECKSUM_OFFSET..LSA_CHECKSUM_OFFSET + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// One's-complement sum of 16-bit big-endian words, an odd last byte padded with zero.
fn ones_complement_add(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

fn pseudo_header_sum(src: &Ipv6Addr, dst: &Ipv6Addr, len: usize) -> u64 {
    let mut sum = ones_complement_add(0, &src.octets());
    sum = ones_complement_add(sum, &dst.octets());
    let len = len as u64;
    sum += (len >> 16) + (len & 0xFFFF);
    sum + u64::from(IP_PROTOCOL_OSPF)
}

/// Computes the packet checksum for `payload`, the whole IPv6 upper-layer payload that
/// starts with the OSPFv3 header (its current checksum field is treated as zero).
/// Returns `None` when `payload` is shorter than the common header (16 bytes).
pub fn packet_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &[u8]) -> Option<u16> {
    if payload.len() < 16 {
        return None;
    }
    let mut sum = pseudo_header_sum(src, dst, payload.len());
    sum = ones_complement_add(sum, &payload[..PACKET_CHECKSUM_OFFSET]);
    sum = ones_complement_add(sum, &payload[PACKET_CHECKSUM_OFFSET + 2..]);
    Some(!fold(sum))
}

/// True when the checksum field of `payload` verifies against the pseudo-header.
pub fn verify_packet_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &[u8]) -> bool {
    if payload.len() < 16 {
        return false;
    }
    let sum = ones_complement_add(pseudo_header_sum(src, dst, payload.len()), payload);
    fold(sum) == 0xFFFF
}

/// Computes and writes the checksum field of an encoded packet. Does nothing to a
/// buffer shorter than the common header.
pub fn set_packet_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, payload: &mut [u8]) {
    if let Some(c) = packet_checksum(src, dst, payload) {
        payload[PACKET_CHECKSUM_OFFSET..PACKET_CHECKSUM_OFFSET + 2]
            .copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An LSA whose checksum was computed by FRRouting (frr-bird-broadcast capture):
    /// Link-LSA 0x0008 from 1.1.1.1.
    fn sample_lsa() -> Vec<u8> {
        let mut lsa = vec![
            0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x01, 0x01, 0x80, 0x00,
            0x00, 0x01, 0x00, 0x00, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x13, 0xfe, 0x80, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
        ];
        set_lsa_checksum(&mut lsa);
        lsa
    }

    #[test]
    fn computed_checksum_verifies_and_any_flip_breaks_it() {
        let lsa = sample_lsa();
        assert!(verify_lsa_checksum(&lsa));
        for i in 2..lsa.len() {
            let mut bad = lsa.clone();
            bad[i] ^= 0x10;
            assert!(!verify_lsa_checksum(&bad), "flip at {i} still verifies");
        }
        // LS age is outside the checksum.
        let mut aged = lsa.clone();
        aged[0] = 0x0e;
        assert!(verify_lsa_checksum(&aged));
    }

    #[test]
    fn zero_checksum_never_verifies() {
        let mut lsa = sample_lsa();
        lsa[16] = 0;
        lsa[17] = 0;
        assert!(!verify_lsa_checksum(&lsa));
        assert!(lsa_checksum(&lsa).unwrap() != 0);
        assert_eq!(lsa_checksum(&[0u8; 19]), None);
    }

    #[test]
    fn packet_checksum_round_trip() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::5".parse().unwrap();
        let mut p = vec![3u8, 1, 0, 17, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xAB];
        set_packet_checksum(&src, &dst, &mut p);
        assert!(verify_packet_checksum(&src, &dst, &p));
        assert!(!verify_packet_checksum(
            &dst,
            &"fe80::2".parse().unwrap(),
            &p
        ));
        p[16] ^= 1;
        assert!(!verify_packet_checksum(&src, &dst, &p));
    }
}
