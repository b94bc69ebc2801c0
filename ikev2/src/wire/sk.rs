//! The Encrypted and Authenticated payload (RFC 7296 3.14), as a raw view: the split of
//! the body into IV, ciphertext and ICV depends on the negotiated suite and is done by
//! [`crate::crypto::SkCipher`].

use bytes::BufMut;

use super::error::DecodeError;
use super::payload::PayloadType;
use super::reader::Reader;

/// The Encrypted and Authenticated payload (RFC 7296 3.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkPayload {
    /// The Next Payload field of its generic header: the type of the first payload
    /// inside.
    pub next_payload: PayloadType,
    /// IV, ciphertext (payloads, padding, pad length) and ICV, as received.
    pub body: Vec<u8>,
}

impl SkPayload {
    pub(crate) fn decode_body(
        next_payload: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        Ok(SkPayload {
            next_payload,
            body: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        self.body.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.body);
    }
}
