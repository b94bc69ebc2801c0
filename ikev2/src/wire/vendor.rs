//! The Vendor ID payload (RFC 7296 3.12).

use bytes::BufMut;

use super::error::DecodeError;
use super::reader::Reader;

/// The Vendor ID payload (RFC 7296 3.12): an opaque identifier, ignored when not
/// recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VendorIdPayload {
    /// The vendor's identifier.
    pub data: Vec<u8>,
}

impl VendorIdPayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VendorIdPayload {
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.data);
    }
}
