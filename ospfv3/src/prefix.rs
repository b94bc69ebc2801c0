//! IPv6 prefix representation (RFC 5340 A.4.1): PrefixLength, PrefixOptions, a 16-bit
//! field whose meaning depends on the LSA, and the address in ceil(len/32) words.
//! Bits past PrefixLength are ignored on receipt (cleared when decoding) and sent as
//! zero.

use std::net::Ipv6Addr;

use bitflags::bitflags;
use bytes::BufMut;

use crate::error::{DecodeError, Result};
use crate::reader::Reader;

bitflags! {
    /// PrefixOptions (RFC 5340 A.4.1.1). Unknown bits are kept as received.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PrefixOptions: u8 {
        /// No unicast: exclude from unicast route calculation.
        const NU = 0x01;
        /// Local address: the prefix is an interface address of the advertising router.
        const LA = 0x02;
        /// Formerly multicast; deprecated, kept for re-encoding.
        const MC = 0x04;
        /// Propagate: an NSSA prefix the translator should re-advertise.
        const P = 0x08;
        /// Down: loop prevention for VPN re-advertisement (RFC 4576).
        const DN = 0x10;
        /// Keep every other bit.
        const _ = 0xFF;
    }
}

/// An IPv6 prefix as OSPFv3 carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Number of significant leading bits, 0..=128.
    pub length: u8,
    /// The PrefixOptions byte.
    pub options: PrefixOptions,
    /// The address; bits past `length` are zero.
    pub address: Ipv6Addr,
}

/// Largest PrefixLength for IPv6.
pub const MAX_PREFIX_LENGTH: u8 = 128;

/// Clears every bit past `length` (at most 128).
fn mask(address: Ipv6Addr, length: u8) -> Ipv6Addr {
    let bits = u128::from(address);
    let length = u32::from(length.min(MAX_PREFIX_LENGTH));
    let m = if length == 0 {
        0
    } else {
        u128::MAX << (128 - length)
    };
    Ipv6Addr::from(bits & m)
}

impl Prefix {
    /// A prefix with the bits past `length` cleared; `length` is capped at 128.
    pub fn new(address: Ipv6Addr, length: u8, options: PrefixOptions) -> Self {
        let length = length.min(MAX_PREFIX_LENGTH);
        Self {
            length,
            options,
            address: mask(address, length),
        }
    }

    /// Bytes the address takes on the wire: whole 32-bit words.
    pub fn address_len(length: u8) -> usize {
        usize::from(length).div_ceil(32) * 4
    }

    /// Bytes of the whole encoding: 4 header bytes plus the address words.
    pub fn wire_len(&self) -> usize {
        4 + Self::address_len(self.length)
    }

    /// Decodes a prefix and returns it with the LSA-specific 16-bit field.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<(Prefix, u16)> {
        let at = r.offset();
        let length = r.u8("PrefixLength")?;
        if length > MAX_PREFIX_LENGTH {
            return Err(DecodeError::PrefixLength { offset: at, length });
        }
        let options = PrefixOptions::from_bits_retain(r.u8("PrefixOptions")?);
        let field = r.u16("prefix field")?;
        let words = r.bytes("Address Prefix", Self::address_len(length))?;
        let mut a = [0u8; 16];
        a[..words.len()].copy_from_slice(words);
        Ok((
            Prefix {
                length,
                options,
                address: mask(Ipv6Addr::from(a), length),
            },
            field,
        ))
    }

    /// Encodes the prefix with the LSA-specific 16-bit field; bits past the length
    /// are sent as zero.
    pub(crate) fn encode<B: BufMut>(&self, field: u16, buf: &mut B) {
        let length = self.length.min(MAX_PREFIX_LENGTH);
        buf.put_u8(length);
        buf.put_u8(self.options.bits());
        buf.put_u16(field);
        let a = mask(self.address, length).octets();
        buf.put_slice(&a[..Self::address_len(length)]);
    }
}

impl core::fmt::Display for Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.address, self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_ignored_on_receipt_and_zero_on_send() {
        // 2001:db8::/33 with garbage past bit 33 in the second word.
        let wire = [
            33u8, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0xff, 0xff,
        ];
        let mut r = Reader::new(&wire, 0);
        let (p, _) = Prefix::decode(&mut r).unwrap();
        assert_eq!(p.address, "2001:db8:8000::".parse::<Ipv6Addr>().unwrap());
        let mut out = Vec::new();
        p.encode(0, &mut out);
        assert_eq!(out, [33, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0, 0]);
    }

    #[test]
    fn length_over_128_is_rejected_with_offset() {
        let wire = [129u8, 0, 0, 0];
        let mut r = Reader::new(&wire, 40);
        assert_eq!(
            Prefix::decode(&mut r),
            Err(DecodeError::PrefixLength {
                offset: 40,
                length: 129
            })
        );
    }

    #[test]
    fn zero_length_has_no_address_words() {
        let p = Prefix::new("2001:db8::".parse().unwrap(), 0, PrefixOptions::empty());
        assert_eq!(p.wire_len(), 4);
        assert_eq!(p.address, Ipv6Addr::UNSPECIFIED);
    }
}
