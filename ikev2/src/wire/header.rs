//! The IKE header (RFC 7296 3.1): SPIs, next payload, version, exchange type, flags,
//! message ID and length.

use bytes::BufMut;

use super::error::{DecodeError, Part};
use super::payload::PayloadType;
use super::reader::Reader;

/// Length of the fixed IKE header in bytes (RFC 7296 3.1).
pub const HEADER_LEN: usize = 28;

/// Exchange type (RFC 7296 3.1). A newtype so that unknown values survive a round trip;
/// the values IKEv2 defines are associated constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeType(pub u8);

impl ExchangeType {
    /// IKE_SA_INIT (RFC 7296 1.2).
    pub const IKE_SA_INIT: ExchangeType = ExchangeType(34);
    /// IKE_AUTH (RFC 7296 1.2).
    pub const IKE_AUTH: ExchangeType = ExchangeType(35);
    /// CREATE_CHILD_SA (RFC 7296 1.3).
    pub const CREATE_CHILD_SA: ExchangeType = ExchangeType(36);
    /// INFORMATIONAL (RFC 7296 1.4).
    pub const INFORMATIONAL: ExchangeType = ExchangeType(37);
}

/// Header flags (RFC 7296 3.1): bits 3 (Initiator), 4 (Version) and 5 (Response).
/// Other bits are kept as received (senders must clear them, receivers ignore them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// I: set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// V: the sender can speak a higher major version (never set by us).
    pub const VERSION: u8 = 0x10;
    /// R: the message is a response to a request with the same message ID.
    pub const RESPONSE: u8 = 0x20;

    /// Flags from the I and R bits.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR;
        }
        if response {
            f |= Self::RESPONSE;
        }
        Flags(f)
    }

    /// Sent by the original initiator of the IKE SA.
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// A response.
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    /// The Version bit.
    pub fn version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

/// The fixed IKE header (RFC 7296 3.1).
///
/// `next_payload` and `length` are filled in by [`Message::encode`](super::Message::encode);
/// after decoding they hold what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeHeader {
    /// IKE SA Initiator's SPI (never zero).
    pub spi_i: u64,
    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version: 2.
    pub major_version: u8,
    /// Minor version: 0 when sending; ignored when received.
    pub minor_version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID (RFC 7296 2.2).
    pub message_id: u32,
    /// Total length of the message, header included.
    pub length: u32,
}

impl IkeHeader {
    /// A version 2.0 header; `next_payload` and `length` are set when the message is
    /// encoded.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange_type: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        IkeHeader {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            major_version: 2,
            minor_version: 0,
            exchange_type,
            flags,
            message_id,
            length: HEADER_LEN as u32,
        }
    }

    /// Parses the 28 header bytes at the start of `buf` (RFC 7296 3.1). Checks only
    /// that the bytes are present and that the major version is 2; [`peek`](Self::peek)
    /// reads a header of any version.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let h = Self::peek(buf)?;
        if h.major_version != 2 {
            return Err(DecodeError::UnsupportedVersion(h.major_version));
        }
        if (h.length as usize) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                part: Part::Header,
                offset: 0,
                length: h.length as usize,
            });
        }
        Ok(h)
    }

    /// Reads the header fields without checking the version or length (for answering
    /// INVALID_MAJOR_VERSION, RFC 7296 1.5).
    pub fn peek(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, 0);
        let spi_i = u64::from_be_bytes(r.array(Part::Header)?);
        let spi_r = u64::from_be_bytes(r.array(Part::Header)?);
        let next_payload = PayloadType(r.u8(Part::Header)?);
        let version = r.u8(Part::Header)?;
        let exchange_type = ExchangeType(r.u8(Part::Header)?);
        let flags = Flags(r.u8(Part::Header)?);
        let message_id = r.u32(Part::Header)?;
        let length = r.u32(Part::Header)?;
        Ok(IkeHeader {
            spi_i,
            spi_r,
            next_payload,
            major_version: version >> 4,
            minor_version: version & 0x0f,
            exchange_type,
            flags,
            message_id,
            length,
        })
    }

    /// Writes the 28 header bytes as they are (no field is recomputed).
    pub fn emit<B: BufMut>(&self, buf: &mut B) {
        buf.put_u64(self.spi_i);
        buf.put_u64(self.spi_r);
        buf.put_u8(self.next_payload.0);
        buf.put_u8((self.major_version << 4) | (self.minor_version & 0x0f));
        buf.put_u8(self.exchange_type.0);
        buf.put_u8(self.flags.0);
        buf.put_u32(self.message_id);
        buf.put_u32(self.length);
    }

    /// The 28 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut b = &mut out[..];
        self.emit(&mut b);
        out
    }
}
