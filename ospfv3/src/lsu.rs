//! Link State Update packet, type 4 (RFC 5340 A.3.5): carries whole LSAs.
//!
//! The "# LSAs" count is never trusted: before any loop the count is checked against
//! the bytes present (each LSA takes at least a 20-byte header), so a packet claiming
//! 0xFFFFFFFF LSAs fails at once, and every loop is bounded by the bytes left.
//!
//! Flooding (RFC 2328 13) wants each LSA's header and received bytes before it
//! decodes any body; [`raw_lsas`] gives exactly that without allocating.

use bytes::BufMut;

use crate::error::{DecodeError, Result};
use crate::lsa::{ChecksumMode, LSA_HEADER_LEN, Lsa, RawLsa};
use crate::packet::{PacketType, read_header};
use crate::reader::Reader;

/// Link State Update body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkStateUpdate {
    /// The LSAs, in packet order.
    pub lsas: Vec<Lsa>,
}

impl LinkStateUpdate {
    pub(crate) fn read(r: &mut Reader<'_>, verify_checksums: bool) -> Result<Self> {
        let mut lsas = Vec::new();
        for raw in RawLsas::new(r)? {
            let raw = raw?;
            lsas.push(raw.decode_lsa(verify_checksums)?);
        }
        Ok(Self { lsas })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        4 + self.lsas.iter().map(Lsa::encoded_len).sum::<usize>()
    }

    /// Writes the body; each LSA keeps its checksum (and age) as held.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32(self.lsas.len() as u32);
        for l in &self.lsas {
            l.encode(buf, ChecksumMode::Keep);
        }
    }
}

impl RawLsa<'_> {
    fn decode_lsa(&self, verify: bool) -> Result<Lsa> {
        if verify {
            self.decode()
        } else {
            self.decode_unverified()
        }
    }
}

/// Iterator over the LSAs of a Link State Update, header and bytes only.
#[derive(Debug, Clone)]
pub struct RawLsas<'a> {
    r: Reader<'a>,
    left: u32,
    done: bool,
}

impl<'a> RawLsas<'a> {
    /// Reads the count and checks it against the bytes left in `r`.
    fn new(r: &mut Reader<'a>) -> Result<Self> {
        let count_at = r.offset();
        let count = r.u32("# LSAs")?;
        r.check_count(
            "LS Update LSAs",
            count_at,
            count.into(),
            LSA_HEADER_LEN as u64,
        )?;
        let it = Self {
            r: *r,
            left: count,
            done: false,
        };
        // The iterator owns the rest; the caller's reader is consumed.
        *r = Reader::new(&[], r.offset() + r.remaining());
        Ok(it)
    }
}

impl<'a> Iterator for RawLsas<'a> {
    type Item = Result<RawLsa<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return match self.r.finish("LS Update") {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            };
        }
        self.left -= 1;
        let item = RawLsa::read(&mut self.r);
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// Walks the LSAs of an encoded Link State Update packet (starting at the common
/// header) without decoding their bodies. Offsets are from the packet start.
pub fn raw_lsas(packet: &[u8]) -> Result<RawLsas<'_>> {
    let (packet_type, length, _) = read_header(packet)?;
    if packet_type != PacketType::LinkStateUpdate {
        return Err(DecodeError::UnexpectedPacketType {
            offset: 1,
            found: packet_type as u8,
            expected: PacketType::LinkStateUpdate as u8,
        });
    }
    let mut r = Reader::new(
        &packet[crate::packet::HEADER_LEN..length],
        crate::packet::HEADER_LEN,
    );
    RawLsas::new(&mut r)
}
