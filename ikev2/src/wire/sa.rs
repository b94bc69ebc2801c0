//! The Security Association payload (RFC 7296 3.3): proposals, transforms and transform
//! attributes.

use bytes::BufMut;

use super::error::{DecodeError, EncodeError, Part, ValidationError};
use super::reader::Reader;

/// Protocol ID of a proposal, Notify or Delete payload (RFC 7296 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolId(pub u8);

impl ProtocolId {
    /// No protocol (Notify payloads not about an SA).
    pub const NONE: ProtocolId = ProtocolId(0);
    /// IKE.
    pub const IKE: ProtocolId = ProtocolId(1);
    /// AH.
    pub const AH: ProtocolId = ProtocolId(2);
    /// ESP.
    pub const ESP: ProtocolId = ProtocolId(3);
}

/// Transform type (RFC 7296 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransformType(pub u8);

impl TransformType {
    /// Encryption Algorithm (ENCR).
    pub const ENCR: TransformType = TransformType(1);
    /// Pseudorandom Function (PRF).
    pub const PRF: TransformType = TransformType(2);
    /// Integrity Algorithm (INTEG).
    pub const INTEG: TransformType = TransformType(3);
    /// Diffie-Hellman group (D-H; "Key Exchange Method" since RFC 9370).
    pub const DH: TransformType = TransformType(4);
    /// Extended Sequence Numbers (ESN).
    pub const ESN: TransformType = TransformType(5);
}

/// Attribute type Key Length, in bits (RFC 7296 3.3.5); always TV format.
pub const ATTR_KEY_LENGTH: u16 = 14;

/// The value of a transform attribute (RFC 7296 3.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// Type/Value format (AF bit set): a 16-bit value.
    Tv(u16),
    /// Type/Length/Value format (AF bit clear).
    Tlv(Vec<u8>),
}

/// A transform attribute (RFC 7296 3.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute type (15 bits).
    pub attr_type: u16,
    /// Its value.
    pub value: AttributeValue,
}

impl Attribute {
    /// The Key Length attribute (bits).
    pub fn key_length(bits: u16) -> Self {
        Attribute {
            attr_type: ATTR_KEY_LENGTH,
            value: AttributeValue::Tv(bits),
        }
    }

    fn len(&self) -> usize {
        match &self.value {
            AttributeValue::Tv(_) => 4,
            AttributeValue::Tlv(v) => 4 + v.len(),
        }
    }
}

/// A transform substructure (RFC 7296 3.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type.
    pub transform_type: TransformType,
    /// Transform ID (meaning depends on the type; see [`crate::crypto::ids`]).
    pub transform_id: u16,
    /// Attributes (in practice only Key Length).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, transform_id: u16) -> Self {
        Transform {
            transform_type,
            transform_id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute (bits).
    pub fn with_key_length(transform_type: TransformType, transform_id: u16, bits: u16) -> Self {
        Transform {
            transform_type,
            transform_id,
            attributes: vec![Attribute::key_length(bits)],
        }
    }

    /// The Key Length attribute, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Tv(v) if a.attr_type == ATTR_KEY_LENGTH => Some(v),
            _ => None,
        })
    }

    fn len(&self) -> usize {
        8 + self.attributes.iter().map(Attribute::len).sum::<usize>()
    }

    fn decode(r: &mut Reader<'_>, last_expected: bool) -> Result<Self, DecodeError> {
        let start = r.offset();
        let last = r.u8(Part::Transform)?;
        let _reserved = r.u8(Part::Transform)?;
        let length = r.u16(Part::Transform)? as usize;
        if length < 8 || length - 4 > r.remaining() {
            return Err(DecodeError::BadLength {
                part: Part::Transform,
                offset: start,
                length,
            });
        }
        let mut t = r.sub(length - 4, Part::Transform)?;
        if last != if last_expected { 0 } else { 3 } {
            return Err(DecodeError::Invalid {
                part: Part::Transform,
                offset: start,
                reason: "Last Substruc does not match the transform count",
            });
        }
        let transform_type = TransformType(t.u8(Part::Transform)?);
        let _reserved = t.u8(Part::Transform)?;
        let transform_id = t.u16(Part::Transform)?;
        let mut attributes = Vec::new();
        while !t.is_empty() {
            let a = t.u16(Part::Attribute)?;
            let attr_type = a & 0x7fff;
            let value = if a & 0x8000 != 0 {
                AttributeValue::Tv(t.u16(Part::Attribute)?)
            } else {
                let n = t.u16(Part::Attribute)? as usize;
                AttributeValue::Tlv(t.take(n, Part::Attribute)?.to_vec())
            };
            attributes.push(Attribute { attr_type, value });
        }
        Ok(Transform {
            transform_type,
            transform_id,
            attributes,
        })
    }

    fn check(&self) -> Result<(), EncodeError> {
        for a in &self.attributes {
            if a.attr_type > 0x7fff {
                return Err(EncodeError::Invalid {
                    part: Part::Attribute,
                    reason: "attribute type above 15 bits",
                });
            }
            if let AttributeValue::Tlv(v) = &a.value
                && v.len() > u16::MAX as usize
            {
                return Err(EncodeError::TooLong {
                    part: Part::Attribute,
                    length: v.len(),
                });
            }
        }
        if self.len() > u16::MAX as usize {
            return Err(EncodeError::TooLong {
                part: Part::Transform,
                length: self.len(),
            });
        }
        Ok(())
    }

    fn emit<B: BufMut>(&self, buf: &mut B, last: bool) {
        buf.put_u8(if last { 0 } else { 3 });
        buf.put_u8(0);
        buf.put_u16(self.len() as u16);
        buf.put_u8(self.transform_type.0);
        buf.put_u8(0);
        buf.put_u16(self.transform_id);
        for a in &self.attributes {
            match &a.value {
                AttributeValue::Tv(v) => {
                    buf.put_u16(0x8000 | a.attr_type);
                    buf.put_u16(*v);
                }
                AttributeValue::Tlv(v) => {
                    buf.put_u16(a.attr_type);
                    buf.put_u16(v.len() as u16);
                    buf.put_slice(v);
                }
            }
        }
    }
}

/// A proposal substructure (RFC 7296 3.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal number: 1 for the first, then +1 (the responder echoes the number it
    /// accepted).
    pub number: u8,
    /// Protocol: IKE or ESP here.
    pub protocol: ProtocolId,
    /// Sending entity's SPI: empty for IKE in IKE_SA_INIT, 8 bytes for an IKE rekey,
    /// 4 bytes for ESP.
    pub spi: Vec<u8>,
    /// The transforms (all combinations of one transform of each type are offered).
    pub transforms: Vec<Transform>,
}

impl Proposal {
    fn len(&self) -> usize {
        8 + self.spi.len() + self.transforms.iter().map(Transform::len).sum::<usize>()
    }

    /// The transforms of one type, in order.
    pub fn transforms_of(&self, t: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |x| x.transform_type == t)
    }

    fn decode(r: &mut Reader<'_>, last_expected: bool) -> Result<Self, DecodeError> {
        let start = r.offset();
        let last = r.u8(Part::Proposal)?;
        let _reserved = r.u8(Part::Proposal)?;
        let length = r.u16(Part::Proposal)? as usize;
        if length < 8 || length - 4 > r.remaining() {
            return Err(DecodeError::BadLength {
                part: Part::Proposal,
                offset: start,
                length,
            });
        }
        if last != if last_expected { 0 } else { 2 } {
            return Err(DecodeError::Invalid {
                part: Part::Proposal,
                offset: start,
                reason: "Last Substruc does not match the end of the SA payload",
            });
        }
        let mut p = r.sub(length - 4, Part::Proposal)?;
        let number = p.u8(Part::Proposal)?;
        let protocol = ProtocolId(p.u8(Part::Proposal)?);
        let spi_size = p.u8(Part::Proposal)? as usize;
        let count = p.u8(Part::Proposal)? as usize;
        let spi = p.take(spi_size, Part::Proposal)?.to_vec();
        let mut transforms = Vec::new();
        // Bounded by the bytes left: each transform takes at least 8.
        while !p.is_empty() {
            if transforms.len() == count {
                return Err(DecodeError::Invalid {
                    part: Part::Proposal,
                    offset: start,
                    reason: "more transforms than # of Transforms",
                });
            }
            transforms.push(Transform::decode(&mut p, transforms.len() + 1 == count)?);
        }
        if transforms.len() != count {
            return Err(DecodeError::Invalid {
                part: Part::Proposal,
                offset: start,
                reason: "fewer transforms than # of Transforms",
            });
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn check(&self) -> Result<(), EncodeError> {
        if self.spi.len() > u8::MAX as usize {
            return Err(EncodeError::Invalid {
                part: Part::Proposal,
                reason: "SPI longer than 255 bytes",
            });
        }
        if self.transforms.len() > u8::MAX as usize {
            return Err(EncodeError::Invalid {
                part: Part::Proposal,
                reason: "more than 255 transforms",
            });
        }
        for t in &self.transforms {
            t.check()?;
        }
        if self.len() > u16::MAX as usize {
            return Err(EncodeError::TooLong {
                part: Part::Proposal,
                length: self.len(),
            });
        }
        Ok(())
    }

    fn emit<B: BufMut>(&self, buf: &mut B, last: bool) {
        buf.put_u8(if last { 0 } else { 2 });
        buf.put_u8(0);
        buf.put_u16(self.len() as u16);
        buf.put_u8(self.number);
        buf.put_u8(self.protocol.0);
        buf.put_u8(self.spi.len() as u8);
        buf.put_u8(self.transforms.len() as u8);
        buf.put_slice(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(buf, i + 1 == n);
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let bad = |reason| {
            Err(ValidationError::InvalidSyntax {
                part: Part::Proposal,
                reason,
            })
        };
        match (self.protocol, self.spi.len()) {
            (ProtocolId::IKE, 0 | 8) | (ProtocolId::ESP | ProtocolId::AH, 4) => {}
            (ProtocolId::IKE | ProtocolId::ESP | ProtocolId::AH, _) => {
                return bad("SPI size does not fit the protocol");
            }
            _ => {}
        }
        if self.transforms.is_empty() {
            return bad("proposal without transforms");
        }
        Ok(())
    }
}

/// The Security Association payload (RFC 7296 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaPayload {
    /// Proposals in order of preference.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut proposals = Vec::new();
        let mut more = true;
        while !r.is_empty() {
            if !more {
                return Err(DecodeError::Invalid {
                    part: Part::Sa,
                    offset: r.offset(),
                    reason: "bytes after the last proposal",
                });
            }
            // Last Substruc: 0 marks the last proposal, 2 announces another.
            let last = r.peek_u8(Part::Proposal)?;
            more = last != 0;
            proposals.push(Proposal::decode(r, !more)?);
        }
        if more && !proposals.is_empty() {
            return Err(DecodeError::Invalid {
                part: Part::Sa,
                offset: r.offset(),
                reason: "last proposal not marked last",
            });
        }
        Ok(SaPayload { proposals })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        for p in &self.proposals {
            p.check()?;
        }
        Ok(self.proposals.iter().map(Proposal::len).sum())
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.emit(buf, i + 1 == n);
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if self.proposals.is_empty() {
            return Err(ValidationError::InvalidSyntax {
                part: Part::Sa,
                reason: "SA payload without proposals",
            });
        }
        for p in &self.proposals {
            p.validate()?;
        }
        Ok(())
    }
}
