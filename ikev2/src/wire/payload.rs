//! The generic payload header (RFC 7296 3.2), the payload chain and whole messages.

use bytes::BufMut;

use super::auth::AuthPayload;
use super::delete::DeletePayload;
use super::error::{DecodeError, EncodeError, Part, ValidationError};
use super::header::{HEADER_LEN, IkeHeader};
use super::id::IdPayload;
use super::ke::KePayload;
use super::nonce::NoncePayload;
use super::notify::{NotifyPayload, NotifyType};
use super::reader::Reader;
use super::sa::SaPayload;
use super::sk::SkPayload;
use super::ts::TsPayload;
use super::vendor::VendorIdPayload;

/// Most payloads [`Message::decode`] and [`decode_chain`] accept in one message (or one
/// decrypted SK body) before failing with [`DecodeError::TooManyPayloads`]. A full
/// IKE_AUTH request needs about 12; 64 leaves room for notifies and vendor IDs while
/// bounding the work a single datagram can cause.
pub const MAX_PAYLOADS: usize = 64;

/// Length of the generic payload header (RFC 7296 3.2).
pub const GENERIC_HEADER_LEN: usize = 4;

/// Payload type (RFC 7296 3.2): a newtype so unknown values survive; known values are
/// associated constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(pub u8);

impl PayloadType {
    /// No Next Payload.
    pub const NONE: PayloadType = PayloadType(0);
    /// Security Association (3.3).
    pub const SA: PayloadType = PayloadType(33);
    /// Key Exchange (3.4).
    pub const KE: PayloadType = PayloadType(34);
    /// Identification - Initiator (3.5).
    pub const IDI: PayloadType = PayloadType(35);
    /// Identification - Responder (3.5).
    pub const IDR: PayloadType = PayloadType(36);
    /// Certificate (3.6); not interpreted by this crate.
    pub const CERT: PayloadType = PayloadType(37);
    /// Certificate Request (3.7); not interpreted by this crate.
    pub const CERTREQ: PayloadType = PayloadType(38);
    /// Authentication (3.8).
    pub const AUTH: PayloadType = PayloadType(39);
    /// Nonce (3.9).
    pub const NONCE: PayloadType = PayloadType(40);
    /// Notify (3.10).
    pub const NOTIFY: PayloadType = PayloadType(41);
    /// Delete (3.11).
    pub const DELETE: PayloadType = PayloadType(42);
    /// Vendor ID (3.12).
    pub const VENDOR_ID: PayloadType = PayloadType(43);
    /// Traffic Selector - Initiator (3.13).
    pub const TSI: PayloadType = PayloadType(44);
    /// Traffic Selector - Responder (3.13).
    pub const TSR: PayloadType = PayloadType(45);
    /// Encrypted and Authenticated (3.14).
    pub const SK: PayloadType = PayloadType(46);
    /// Configuration (3.15); not interpreted by this crate.
    pub const CP: PayloadType = PayloadType(47);
    /// Extensible Authentication (3.16); not interpreted by this crate.
    pub const EAP: PayloadType = PayloadType(48);
    /// Encrypted and Authenticated Fragment (RFC 7383); not interpreted by this crate.
    pub const SKF: PayloadType = PayloadType(53);

    /// Whether this crate parses payloads of this type (others are kept raw).
    pub fn is_known(self) -> bool {
        matches!(self.0, 33..=36 | 39..=46)
    }
}

/// The generic payload header (RFC 7296 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GenericHeader {
    /// Type of the next payload (for SK: of the first inner payload).
    pub next_payload: PayloadType,
    /// Critical bit.
    pub critical: bool,
    /// Length of the payload, this header included.
    pub length: u16,
}

impl GenericHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let next_payload = PayloadType(r.u8(Part::GenericHeader)?);
        let flags = r.u8(Part::GenericHeader)?;
        let length = r.u16(Part::GenericHeader)?;
        Ok(GenericHeader {
            next_payload,
            critical: flags & 0x80 != 0,
            length,
        })
    }

    /// Writes the four header bytes (reserved bits zero).
    pub fn emit<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.next_payload.0);
        buf.put_u8(if self.critical { 0x80 } else { 0 });
        buf.put_u16(self.length);
    }
}

/// A payload type this crate does not interpret, kept raw (RFC 7296 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownPayload {
    /// Its type.
    pub payload_type: PayloadType,
    /// The critical bit as received: if set, the message must be rejected with
    /// UNSUPPORTED_CRITICAL_PAYLOAD (see [`Message::validate`]).
    pub critical: bool,
    /// The body after the generic header.
    pub body: Vec<u8>,
}

/// One payload of a message (RFC 7296 3.2 - 3.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Payload {
    /// Security Association (3.3).
    Sa(SaPayload),
    /// Key Exchange (3.4).
    Ke(KePayload),
    /// Identification - Initiator (3.5).
    IdI(IdPayload),
    /// Identification - Responder (3.5).
    IdR(IdPayload),
    /// Authentication (3.8).
    Auth(AuthPayload),
    /// Nonce (3.9).
    Nonce(NoncePayload),
    /// Notify (3.10).
    Notify(NotifyPayload),
    /// Delete (3.11).
    Delete(DeletePayload),
    /// Vendor ID (3.12).
    VendorId(VendorIdPayload),
    /// Traffic Selector - Initiator (3.13).
    TsI(TsPayload),
    /// Traffic Selector - Responder (3.13).
    TsR(TsPayload),
    /// Encrypted and Authenticated (3.14); always the last payload.
    Sk(SkPayload),
    /// Any other type, kept raw.
    Unknown(UnknownPayload),
}

impl Payload {
    /// The payload type this value is sent as.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Unknown(u) => u.payload_type,
        }
    }

    fn decode_body(
        payload_type: PayloadType,
        critical: bool,
        next_payload: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        Ok(match payload_type {
            PayloadType::SA => Payload::Sa(SaPayload::decode_body(r)?),
            PayloadType::KE => Payload::Ke(KePayload::decode_body(r)?),
            PayloadType::IDI => Payload::IdI(IdPayload::decode_body(r)?),
            PayloadType::IDR => Payload::IdR(IdPayload::decode_body(r)?),
            PayloadType::AUTH => Payload::Auth(AuthPayload::decode_body(r)?),
            PayloadType::NONCE => Payload::Nonce(NoncePayload::decode_body(r)?),
            PayloadType::NOTIFY => Payload::Notify(NotifyPayload::decode_body(r)?),
            PayloadType::DELETE => Payload::Delete(DeletePayload::decode_body(r)?),
            PayloadType::VENDOR_ID => Payload::VendorId(VendorIdPayload::decode_body(r)?),
            PayloadType::TSI => Payload::TsI(TsPayload::decode_body(r)?),
            PayloadType::TSR => Payload::TsR(TsPayload::decode_body(r)?),
            PayloadType::SK => Payload::Sk(SkPayload::decode_body(next_payload, r)?),
            other => Payload::Unknown(UnknownPayload {
                payload_type: other,
                critical,
                body: r.rest().to_vec(),
            }),
        })
    }

    /// Length of the body (after the generic header), checking that it can be encoded.
    pub fn body_len(&self) -> Result<usize, EncodeError> {
        let n = match self {
            Payload::Sa(p) => p.body_len()?,
            Payload::Ke(p) => p.body_len(),
            Payload::IdI(p) | Payload::IdR(p) => p.body_len(),
            Payload::Auth(p) => p.body_len(),
            Payload::Nonce(p) => p.body_len(),
            Payload::Notify(p) => p.body_len()?,
            Payload::Delete(p) => p.body_len()?,
            Payload::VendorId(p) => p.body_len(),
            Payload::TsI(p) | Payload::TsR(p) => p.body_len()?,
            Payload::Sk(p) => p.body_len(),
            Payload::Unknown(u) => u.body.len(),
        };
        if n + GENERIC_HEADER_LEN > u16::MAX as usize {
            return Err(EncodeError::TooLong {
                part: Part::GenericHeader,
                length: n + GENERIC_HEADER_LEN,
            });
        }
        Ok(n)
    }

    fn emit_body<B: BufMut>(&self, buf: &mut B) {
        match self {
            Payload::Sa(p) => p.emit_body(buf),
            Payload::Ke(p) => p.emit_body(buf),
            Payload::IdI(p) | Payload::IdR(p) => p.emit_body(buf),
            Payload::Auth(p) => p.emit_body(buf),
            Payload::Nonce(p) => p.emit_body(buf),
            Payload::Notify(p) => p.emit_body(buf),
            Payload::Delete(p) => p.emit_body(buf),
            Payload::VendorId(p) => p.emit_body(buf),
            Payload::TsI(p) | Payload::TsR(p) => p.emit_body(buf),
            Payload::Sk(p) => p.emit_body(buf),
            Payload::Unknown(u) => buf.put_slice(&u.body),
        }
    }

    /// Semantic checks of one payload (RFC 7296 section 3 rules beyond parsing).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Payload::Sa(p) => p.validate(),
            Payload::Ke(p) => p.validate(),
            Payload::IdI(p) | Payload::IdR(p) => p.validate(),
            Payload::Auth(p) => p.validate(),
            Payload::Nonce(p) => p.validate(),
            Payload::Notify(p) => p.validate(),
            Payload::Delete(p) => p.validate(),
            Payload::VendorId(_) => Ok(()),
            Payload::TsI(p) | Payload::TsR(p) => p.validate(),
            Payload::Sk(_) => Ok(()),
            Payload::Unknown(u) => {
                if u.critical {
                    Err(ValidationError::UnsupportedCriticalPayload(
                        u.payload_type.0,
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Decodes a chain of payloads starting with type `first` that fills `buf` exactly
/// (the body of a message after the IKE header, or a decrypted SK body without its
/// padding). `base` is the offset of `buf[0]` reported in errors.
pub fn decode_chain(
    first: PayloadType,
    buf: &[u8],
    base: usize,
) -> Result<Vec<Payload>, DecodeError> {
    let mut r = Reader::new(buf, base);
    let mut next = first;
    let mut out = Vec::new();
    while next != PayloadType::NONE {
        if out.len() == MAX_PAYLOADS {
            return Err(DecodeError::TooManyPayloads {
                limit: MAX_PAYLOADS,
            });
        }
        let start = r.offset();
        let gh = GenericHeader::decode(&mut r)?;
        let len = gh.length as usize;
        if len < GENERIC_HEADER_LEN || len - GENERIC_HEADER_LEN > r.remaining() {
            return Err(DecodeError::BadLength {
                part: Part::GenericHeader,
                offset: start,
                length: len,
            });
        }
        let mut body = r.sub(len - GENERIC_HEADER_LEN, Part::GenericHeader)?;
        let payload = Payload::decode_body(next, gh.critical, gh.next_payload, &mut body)?;
        if !body.is_empty() {
            return Err(DecodeError::Invalid {
                part: Part::GenericHeader,
                offset: start,
                reason: "payload body longer than its contents",
            });
        }
        let is_sk = matches!(payload, Payload::Sk(_));
        out.push(payload);
        if is_sk {
            // RFC 7296 3.14: the SK payload is the last one; its Next Payload field
            // names the first payload inside it.
            if !r.is_empty() {
                return Err(DecodeError::Invalid {
                    part: Part::Sk,
                    offset: start,
                    reason: "bytes after the SK payload",
                });
            }
            return Ok(out);
        }
        next = gh.next_payload;
    }
    if !r.is_empty() {
        return Err(DecodeError::Invalid {
            part: Part::Chain,
            offset: r.offset(),
            reason: "bytes after the last payload",
        });
    }
    Ok(out)
}

/// Length of a payload chain as [`emit_chain`] writes it.
pub fn chain_len(payloads: &[Payload]) -> Result<usize, EncodeError> {
    let mut n = 0usize;
    for (i, p) in payloads.iter().enumerate() {
        if matches!(p, Payload::Sk(_)) && i + 1 != payloads.len() {
            return Err(EncodeError::Invalid {
                part: Part::Sk,
                reason: "the SK payload must be the last payload",
            });
        }
        n += GENERIC_HEADER_LEN + p.body_len()?;
    }
    Ok(n)
}

/// Writes a payload chain, filling in every Next Payload and Payload Length field.
/// Returns the type of the first payload (for the IKE header or the SK header).
pub fn emit_chain<B: BufMut>(
    payloads: &[Payload],
    buf: &mut B,
) -> Result<PayloadType, EncodeError> {
    let total = chain_len(payloads)?;
    if buf.remaining_mut() < total {
        return Err(EncodeError::BufferTooSmall {
            needed: total,
            available: buf.remaining_mut(),
        });
    }
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk(sk) => sk.next_payload,
            _ => payloads
                .get(i + 1)
                .map_or(PayloadType::NONE, Payload::payload_type),
        };
        let critical = matches!(p, Payload::Unknown(u) if u.critical);
        let length = (GENERIC_HEADER_LEN + p.body_len()?) as u16;
        GenericHeader {
            next_payload: next,
            critical,
            length,
        }
        .emit(buf);
        p.emit_body(buf);
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

/// Encodes a payload chain into a new vector; returns the first payload's type and the
/// bytes (the plaintext of an SK payload before padding, RFC 7296 3.14).
pub fn encode_chain(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let mut out = Vec::with_capacity(chain_len(payloads)?);
    let first = emit_chain(payloads, &mut out)?;
    Ok((first, out))
}

/// A whole IKE message: header and payloads (RFC 7296 3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The header. Its `next_payload` and `length` are recomputed by
    /// [`encode`](Self::encode).
    pub header: IkeHeader,
    /// The payloads in order; an SK payload, if any, is last.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses one datagram (without the four-byte non-ESP marker of port 4500). The IKE
    /// header's length must equal `buf.len()`. Payloads inside an SK payload stay
    /// encrypted; see [`crate::crypto::SkCipher::open`].
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let header = IkeHeader::decode(buf)?;
        if header.length as usize != buf.len() {
            return Err(DecodeError::MessageLength {
                header: header.length as usize,
                actual: buf.len(),
            });
        }
        let payloads = decode_chain(header.next_payload, &buf[HEADER_LEN..], HEADER_LEN)?;
        Ok(Message { header, payloads })
    }

    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let n = HEADER_LEN + chain_len(&self.payloads)?;
        if n > u32::MAX as usize {
            return Err(EncodeError::TooLong {
                part: Part::Header,
                length: n,
            });
        }
        Ok(n)
    }

    /// Writes the message, computing the header's Next Payload and Length and every
    /// payload header.
    pub fn emit<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
        let len = self.encoded_len()?;
        if buf.remaining_mut() < len {
            return Err(EncodeError::BufferTooSmall {
                needed: len,
                available: buf.remaining_mut(),
            });
        }
        let mut header = self.header;
        header.next_payload = self
            .payloads
            .first()
            .map_or(PayloadType::NONE, Payload::payload_type);
        header.length = len as u32;
        header.emit(buf);
        emit_chain(&self.payloads, buf)?;
        Ok(())
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len()?);
        self.emit(&mut out)?;
        Ok(out)
    }

    /// Semantic checks (RFC 7296 section 3): every payload's own rules, the critical
    /// bit of unknown payloads, and the SK payload being last.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_chain(&self.payloads)
    }

    /// The SK payload, if the message has one.
    pub fn sk(&self) -> Option<&SkPayload> {
        match self.payloads.last() {
            Some(Payload::Sk(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The Notify payloads in order.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyPayload> {
        notifies(&self.payloads)
    }

    /// The first Notify payload of the given type.
    pub fn notify(&self, t: NotifyType) -> Option<&NotifyPayload> {
        self.notifies().find(|n| n.notify_type == t)
    }
}

/// The Notify payloads of a chain, in order.
pub fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &NotifyPayload> {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

/// [`Message::validate`] for a bare chain (such as a decrypted SK body): unknown
/// critical payloads first (RFC 7296 3.2), then each payload's rules.
pub fn validate_chain(payloads: &[Payload]) -> Result<(), ValidationError> {
    for p in payloads {
        if let Payload::Unknown(u) = p
            && u.critical
        {
            return Err(ValidationError::UnsupportedCriticalPayload(
                u.payload_type.0,
            ));
        }
    }
    for (i, p) in payloads.iter().enumerate() {
        if matches!(p, Payload::Sk(_)) && i + 1 != payloads.len() {
            return Err(ValidationError::InvalidSyntax {
                part: Part::Sk,
                reason: "the SK payload must be the last payload",
            });
        }
        p.validate()?;
    }
    Ok(())
}
