//! The Nonce payload (RFC 7296 3.9).

use bytes::BufMut;

use super::error::{DecodeError, Part, ValidationError};
use super::reader::Reader;

/// Shortest nonce a peer may send (RFC 7296 3.9: at least 128 bits).
pub const NONCE_MIN: usize = 16;
/// Longest nonce a peer may send (RFC 7296 3.9: at most 256 bytes).
pub const NONCE_MAX: usize = 256;

/// The Nonce payload (RFC 7296 3.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoncePayload {
    /// The nonce (16 to 256 bytes; at least half the PRF's key size).
    pub data: Vec<u8>,
}

impl NoncePayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NoncePayload {
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.data);
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if (NONCE_MIN..=NONCE_MAX).contains(&self.data.len()) {
            Ok(())
        } else {
            Err(ValidationError::InvalidSyntax {
                part: Part::Nonce,
                reason: "nonce shorter than 16 or longer than 256 bytes",
            })
        }
    }
}
