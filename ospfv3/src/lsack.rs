//! Link State Acknowledgment packet, type 5 (RFC 5340 A.3.6): acknowledges flooded
//! LSAs by their headers.

use bytes::BufMut;

use crate::error::Result;
use crate::lsa::{LSA_HEADER_LEN, LsaHeader};
use crate::reader::Reader;

/// Link State Acknowledgment body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkStateAck {
    /// Headers of the acknowledged LSAs.
    pub lsa_headers: Vec<LsaHeader>,
}

impl LinkStateAck {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut lsa_headers = Vec::new();
        while r.remaining() > 0 {
            lsa_headers.push(LsaHeader::read(r)?);
        }
        Ok(Self { lsa_headers })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        LSA_HEADER_LEN * self.lsa_headers.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        for h in &self.lsa_headers {
            h.encode(buf);
        }
    }
}
