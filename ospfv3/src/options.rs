//! The 24-bit Options field of Hello, DD, Router-, Network-, Inter-Area-Router- and
//! Link-LSAs (RFC 5340 A.2, RFC 5838 for AF, RFC 5613 for L, RFC 7166 for AT).

use bitflags::bitflags;
use bytes::BufMut;

bitflags! {
    /// OSPFv3 Options. Bits this crate does not name are kept as received, so a
    /// re-encoded packet carries them unchanged.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Options: u32 {
        /// The router or link takes part in IPv6 routing.
        const V6 = 0x0000_0001;
        /// AS-external-LSAs are flooded (the area is not a stub).
        const E = 0x0000_0002;
        /// Multicast (MOSPF), deprecated.
        const MC = 0x0000_0004;
        /// The area is an NSSA.
        const N = 0x0000_0008;
        /// The originator is an active router (forwards transit traffic).
        const R = 0x0000_0010;
        /// Demand circuits are handled (RFC 1793).
        const DC = 0x0000_0020;
        /// Address families (RFC 5838).
        const AF = 0x0000_0100;
        /// Link-local signalling data block present (RFC 5613).
        const L = 0x0000_0200;
        /// Authentication trailer present (RFC 7166 2.1).
        const AT = 0x0000_0400;
        /// Keep every other bit of the 24-bit field.
        const _ = 0x00FF_FFFF;
    }
}

impl Options {
    /// Builds options from the 24 bits read off the wire, keeping unknown bits.
    pub fn from_wire(v: u32) -> Self {
        Self::from_bits_retain(v & 0x00FF_FFFF)
    }

    /// Writes the 3-byte field.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_uint(u64::from(self.bits() & 0x00FF_FFFF), 3);
    }
}
