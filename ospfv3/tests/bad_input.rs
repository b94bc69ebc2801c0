//! Hostile and malformed input: typed errors with offsets, no panics, no allocation
//! sized by a count field.

use ospfv3::{DecodeError, Lsa, Packet, lsu};

/// A common header of the given type and length, from 1.1.1.1 in area 0.
fn header(packet_type: u8, length: u16) -> Vec<u8> {
    let mut h = vec![3, packet_type];
    h.extend_from_slice(&length.to_be_bytes());
    h.extend_from_slice(&[1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    h
}

#[test]
fn ls_update_claiming_u32_max_lsas_fails_at_once() {
    let mut p = header(4, 20);
    p.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = Packet::decode(&p).unwrap_err();
    assert_eq!(
        err,
        DecodeError::CountTooLarge {
            what: "LS Update LSAs",
            offset: 16,
            count: u64::from(u32::MAX),
            needed: u64::from(u32::MAX) * 20,
            available: 0,
        }
    );
    assert!(lsu::raw_lsas(&p).is_err());
    // The same with a little data present.
    let mut p = header(4, 44);
    p.extend_from_slice(&u32::MAX.to_be_bytes());
    p.extend_from_slice(&[0; 24]);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::CountTooLarge { .. })
    ));
}

#[test]
fn ls_update_count_below_lsas_present_is_trailing_bytes() {
    let mut p = header(4, 20 + 20);
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0; 20]);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::TrailingBytes {
            offset: 20,
            count: 20,
            ..
        })
    ));
}

#[test]
fn wrong_version_and_type() {
    let mut p = header(1, 16);
    p[0] = 2;
    assert_eq!(
        Packet::decode(&p),
        Err(DecodeError::BadVersion {
            offset: 0,
            version: 2
        })
    );
    let p = header(9, 16);
    assert_eq!(
        Packet::decode(&p),
        Err(DecodeError::UnknownPacketType {
            offset: 1,
            value: 9
        })
    );
}

#[test]
fn packet_lengths() {
    // Not a multiple of 4.
    let mut p = header(5, 18);
    p.extend_from_slice(&[0, 0]);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::BadLength {
            reason: "not a multiple of 4",
            ..
        })
    ));
    // Longer than the bytes present.
    let p = header(5, 36);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::BadLength {
            reason: "longer than the bytes present",
            ..
        })
    ));
    // Shorter than the header.
    let p = header(5, 8);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::BadLength { .. })
    ));
    // Truncated header.
    assert!(matches!(
        Packet::decode(&[3, 1, 0]),
        Err(DecodeError::Truncated {
            offset: 0,
            needed: 16,
            available: 3,
            ..
        })
    ));
    // An LSA header cut in the middle of an LS Ack.
    let mut p = header(5, 28);
    p.extend_from_slice(&[0; 12]);
    assert!(matches!(
        Packet::decode(&p),
        Err(DecodeError::Truncated {
            offset: 16,
            needed: 20,
            available: 12,
            ..
        })
    ));
}

/// An Intra-Area-Prefix-LSA whose single prefix has the given length byte.
fn intra_area_prefix_lsa(prefix_len: u8, count: u16) -> Vec<u8> {
    let mut l = vec![
        0, 1, 0x20, 0x09, 0, 0, 0, 0, 1, 1, 1, 1, 0x80, 0, 0, 1, 0, 0, 0, 40,
    ];
    l.extend_from_slice(&count.to_be_bytes());
    l.extend_from_slice(&[0x20, 0x01, 0, 0, 0, 0, 1, 1, 1, 1]);
    l.extend_from_slice(&[prefix_len, 0, 0, 10]);
    l.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    ospfv3::checksum::set_lsa_checksum(&mut l);
    l
}

#[test]
fn prefix_length_over_128() {
    assert!(Lsa::decode(&intra_area_prefix_lsa(32, 1)).is_ok());
    assert_eq!(
        Lsa::decode(&intra_area_prefix_lsa(129, 1)),
        Err(DecodeError::PrefixLength {
            offset: 32,
            length: 129
        })
    );
}

#[test]
fn prefix_count_beyond_bytes() {
    assert!(matches!(
        Lsa::decode(&intra_area_prefix_lsa(32, 0xFFFF)),
        Err(DecodeError::CountTooLarge {
            offset: 20,
            count: 65535,
            ..
        })
    ));
    // Count 0 with a prefix present: trailing bytes in the body.
    assert!(matches!(
        Lsa::decode(&intra_area_prefix_lsa(32, 0)),
        Err(DecodeError::TrailingBytes { offset: 32, .. })
    ));
}

#[test]
fn bad_lsa_checksum_is_rejected_but_inspectable() {
    let mut l = intra_area_prefix_lsa(32, 1);
    l[30] ^= 0xFF;
    let checksum = u16::from_be_bytes([l[16], l[17]]);
    assert_eq!(
        Lsa::decode(&l),
        Err(DecodeError::LsaChecksum {
            offset: 0,
            checksum
        })
    );
    let (raw, rest) = ospfv3::RawLsa::split(&l).unwrap();
    assert!(rest.is_empty());
    assert!(!raw.checksum_ok());
    assert!(raw.decode_unverified().is_ok());
}

/// Found by the fuzzer: a Network-LSA with a non-zero reserved byte decodes (the
/// byte is ignored, its checksum is valid) and re-encodes canonically, reserved byte
/// zero; its received bytes stay available for flooding through `raw_lsas`.
#[test]
fn reserved_bits_are_ignored_and_sent_as_zero() {
    let mut p = header(4, 44);
    p.extend_from_slice(&1u32.to_be_bytes());
    let mut lsa = vec![
        0, 1, 0x20, 0x02, 2, 2, 0, 0x80, 1, 0, 0, 0x34, 0x80, 0, 0, 1, 0, 0, 0, 24,
    ];
    lsa.extend_from_slice(&[0x1c, 0x00, 0x00, 0x13]);
    ospfv3::checksum::set_lsa_checksum(&mut lsa);
    p.extend_from_slice(&lsa);
    let decoded = Packet::decode(&p).unwrap();
    let reencoded = decoded.to_bytes();
    assert_eq!(p[40], 0x1c);
    assert_eq!(reencoded[40], 0, "reserved byte sent as zero");
    assert_eq!(reencoded[..40], p[..40]);
    assert_eq!(reencoded[41..], p[41..]);
    let raw: Vec<_> = lsu::raw_lsas(&p).unwrap().collect();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].as_ref().unwrap().bytes, &lsa[..]);
}
