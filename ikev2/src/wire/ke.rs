//! The Key Exchange payload (RFC 7296 3.4).

use bytes::BufMut;

use super::error::{DecodeError, Part, ValidationError};
use super::reader::Reader;

/// Diffie-Hellman group number, as in the KE payload and the D-H transform
/// (RFC 7296 3.3.2, IANA "Transform Type 4").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DhGroup(pub u16);

impl DhGroup {
    /// No Diffie-Hellman (a CHILD_SA without PFS).
    pub const NONE: DhGroup = DhGroup(0);
    /// 2048-bit MODP group (RFC 3526).
    pub const MODP_2048: DhGroup = DhGroup(14);
    /// 256-bit random ECP group (RFC 5903).
    pub const ECP_256: DhGroup = DhGroup(19);
    /// 384-bit random ECP group (RFC 5903).
    pub const ECP_384: DhGroup = DhGroup(20);
    /// Curve25519 (RFC 8031).
    pub const CURVE25519: DhGroup = DhGroup(31);

    /// Length of a public value of this group in a KE payload, if the group is one this
    /// crate knows (RFC 3526, RFC 5903 7, RFC 8031 2).
    pub fn public_len(self) -> Option<usize> {
        match self {
            DhGroup::MODP_2048 => Some(256),
            DhGroup::ECP_256 => Some(64),
            DhGroup::ECP_384 => Some(96),
            DhGroup::CURVE25519 => Some(32),
            _ => None,
        }
    }
}

/// The Key Exchange payload (RFC 7296 3.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KePayload {
    /// The group of the public value.
    pub group: DhGroup,
    /// The public value (for ECP groups x | y, RFC 5903 7).
    pub data: Vec<u8>,
}

impl KePayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let group = DhGroup(r.u16(Part::Ke)?);
        let _reserved = r.u16(Part::Ke)?;
        Ok(KePayload {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + self.data.len()
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u16(self.group.0);
        buf.put_u16(0);
        buf.put_slice(&self.data);
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        match self.group.public_len() {
            Some(n) if n != self.data.len() => Err(ValidationError::InvalidSyntax {
                part: Part::Ke,
                reason: "public value length does not match the group",
            }),
            _ => Ok(()),
        }
    }
}
