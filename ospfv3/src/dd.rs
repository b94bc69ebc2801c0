//! Database Description packet, type 2 (RFC 5340 A.3.3): summarizes the LSDB during
//! adjacency forming.

use bitflags::bitflags;
use bytes::BufMut;

use crate::error::Result;
use crate::lsa::{LSA_HEADER_LEN, LsaHeader};
use crate::options::Options;
use crate::reader::Reader;

/// Fixed part of the DD body.
pub const DD_FIXED_LEN: usize = 12;

bitflags! {
    /// DD flags. Unknown bits (such as RFC 4811's R) are kept as received.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct DdFlags: u8 {
        /// Master/Slave: set by the master.
        const MS = 0x01;
        /// More: more DD packets follow.
        const M = 0x02;
        /// Init: first packet of the sequence.
        const I = 0x04;
        /// Keep every other bit.
        const _ = 0xFF;
    }
}

/// Database Description body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseDescription {
    /// Options.
    pub options: Options,
    /// MTU of the sending interface (0 on virtual links).
    pub interface_mtu: u16,
    /// I, M and MS bits.
    pub flags: DdFlags,
    /// DD sequence number.
    pub seq_number: u32,
    /// LSA headers summarizing part of the LSDB.
    pub lsa_headers: Vec<LsaHeader>,
}

impl DatabaseDescription {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let _reserved = r.u8("DD reserved")?;
        let options = Options::from_wire(r.u24("DD options")?);
        let interface_mtu = r.u16("Interface MTU")?;
        let _reserved = r.u8("DD reserved")?;
        let flags = DdFlags::from_bits_retain(r.u8("DD flags")?);
        let seq_number = r.u32("DD sequence number")?;
        let mut lsa_headers = Vec::new();
        while r.remaining() > 0 {
            lsa_headers.push(LsaHeader::read(r)?);
        }
        Ok(Self {
            options,
            interface_mtu,
            flags,
            seq_number,
            lsa_headers,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        DD_FIXED_LEN + LSA_HEADER_LEN * self.lsa_headers.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(0);
        self.options.encode(buf);
        buf.put_u16(self.interface_mtu);
        buf.put_u8(0);
        buf.put_u8(self.flags.bits());
        buf.put_u32(self.seq_number);
        for h in &self.lsa_headers {
            h.encode(buf);
        }
    }
}
