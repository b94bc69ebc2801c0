//! The Authentication payload (RFC 7296 3.8).

use bytes::BufMut;

use super::error::{DecodeError, Part, ValidationError};
use super::reader::Reader;

/// Authentication method (RFC 7296 3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthMethod(pub u8);

impl AuthMethod {
    /// RSA digital signature.
    pub const RSA_SIG: AuthMethod = AuthMethod(1);
    /// Shared Key Message Integrity Code (RFC 7296 2.15).
    pub const SHARED_KEY_MIC: AuthMethod = AuthMethod(2);
    /// DSS digital signature.
    pub const DSS_SIG: AuthMethod = AuthMethod(3);
    /// Digital signature (RFC 7427).
    pub const DIGITAL_SIGNATURE: AuthMethod = AuthMethod(14);
}

/// The Authentication payload (RFC 7296 3.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthPayload {
    /// Method.
    pub method: AuthMethod,
    /// Authentication data (for SHARED_KEY_MIC: the PRF output).
    pub data: Vec<u8>,
}

impl AuthPayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let method = AuthMethod(r.u8(Part::Auth)?);
        let _reserved = r.take(3, Part::Auth)?;
        Ok(AuthPayload {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + self.data.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.method.0);
        buf.put_slice(&[0, 0, 0]);
        buf.put_slice(&self.data);
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if self.data.is_empty() {
            return Err(ValidationError::InvalidSyntax {
                part: Part::Auth,
                reason: "empty authentication data",
            });
        }
        Ok(())
    }
}
