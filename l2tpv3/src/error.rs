//! Typed errors for decoding and encoding L2TPv3 messages.
//!
//! Every decoding error names what was wrong and the byte offset at which it was
//! found, counted from the first byte handed to the decoder (for control messages
//! over IP that is the all-zero Session ID, not the control header).

use thiserror::Error;

/// A control message (RFC 3931 section 3.2.1, 4.1.1.2) could not be decoded.
///
/// These errors are fatal for the whole message: the header is unusable or the AVP
/// list cannot be walked. A single AVP whose *value* is malformed does not cause an
/// error; it is kept as [`crate::avp::AvpValue::Malformed`] so that the receiver can
/// apply RFC 3931 section 7.1 (look at its M bit).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Fewer bytes were present than the field at `offset` needs.
    #[error("truncated at offset {offset}: need {needed} bytes, {available} present")]
    Truncated {
        /// Offset of the field that did not fit.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes present from `offset` on.
        available: usize,
    },
    /// Over IP, the 32-bit Session ID before a control header must be zero.
    #[error("session ID {session_id:#010x} at offset {offset} is not zero: this is a data message")]
    NotControlOverIp {
        /// Offset of the Session ID (always 0).
        offset: usize,
        /// The non-zero Session ID found.
        session_id: u32,
    },
    /// The T bit is clear: the packet is a data message, not a control message.
    #[error("T bit clear at offset {offset}: this is a data message")]
    NotControl {
        /// Offset of the flags word.
        offset: usize,
    },
    /// The L bit must be set on every control message.
    #[error("L bit clear at offset {offset}: control messages must carry a Length")]
    LengthBitClear {
        /// Offset of the flags word.
        offset: usize,
    },
    /// The S bit must be set on every control message.
    #[error("S bit clear at offset {offset}: control messages must carry Ns and Nr")]
    SequenceBitClear {
        /// Offset of the flags word.
        offset: usize,
    },
    /// The Ver field is not 3.
    #[error("unsupported version {version} at offset {offset} (expected 3)")]
    UnsupportedVersion {
        /// Offset of the flags word.
        offset: usize,
        /// The version number found.
        version: u8,
    },
    /// The Length field is below the 12-byte header or beyond the bytes present.
    #[error(
        "control Length {length} at offset {offset} is invalid: header needs 12, {available} bytes present"
    )]
    BadLength {
        /// Offset of the Length field.
        offset: usize,
        /// The Length value.
        length: u16,
        /// Bytes present from the start of the control header.
        available: usize,
    },
    /// An AVP's Length is below 6 or runs past the end of the message.
    #[error(
        "AVP at offset {offset} has Length {length}: minimum 6, {remaining} bytes left in the message"
    )]
    BadAvpLength {
        /// Offset of the AVP's first byte.
        offset: usize,
        /// The AVP Length value.
        length: u16,
        /// Bytes left in the message from `offset` on.
        remaining: usize,
    },
    /// The message carries more than [`crate::message::MAX_AVPS`] AVPs.
    #[error("more than {limit} AVPs: AVP at offset {offset} is one too many")]
    TooManyAvps {
        /// Offset of the first AVP beyond the limit.
        offset: usize,
        /// The limit ([`crate::message::MAX_AVPS`]).
        limit: usize,
    },
    /// Fewer than 6 bytes remain after the last AVP: not room for an AVP header.
    #[error("{remaining} trailing bytes at offset {offset} do not form an AVP header")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// Number of trailing bytes.
        remaining: usize,
    },
}

/// Why the value of a recognised AVP could not be interpreted.
///
/// Kept beside the raw bytes in [`crate::avp::AvpValue::Malformed`]; RFC 3931
/// section 7.1 says such an AVP is treated like an unrecognised one, so its M bit
/// decides whether the message survives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum AvpValueError {
    /// The value length is not one the AVP allows.
    #[error("value length {got} is invalid, expected {expected}")]
    BadLength {
        /// What the RFC allows, in words (for example "4 or 8").
        expected: &'static str,
        /// The value length found.
        got: usize,
    },
    /// The Message Digest AVP names a digest type this crate does not know.
    #[error("unknown digest type {0}")]
    UnknownDigestType(u8),
    /// The H bit is set on an AVP that RFC 3931 says must not be hidden.
    #[error("AVP must not be hidden")]
    MustNotBeHidden,
}

/// A data message (RFC 3931 sections 4.1.1.1, 4.1.2.1, 4.6) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// Fewer bytes were present than the field at `offset` needs.
    #[error("truncated at offset {offset}: need {needed} bytes, {available} present")]
    Truncated {
        /// Offset of the field that did not fit.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes present from `offset` on.
        available: usize,
    },
    /// Over UDP the T bit is set: this is a control message.
    #[error("T bit set at offset {offset}: this is a control message")]
    ControlMessage {
        /// Offset of the flags word.
        offset: usize,
    },
    /// The Session ID is zero. Over IP this marks a control message; over UDP zero
    /// is not a valid session.
    #[error("session ID at offset {offset} is zero")]
    ZeroSessionId {
        /// Offset of the Session ID.
        offset: usize,
    },
    /// Over UDP the Ver field is not 3.
    #[error("unsupported version {version} at offset {offset} (expected 3)")]
    UnsupportedVersion {
        /// Offset of the flags word.
        offset: usize,
        /// The version number found.
        version: u8,
    },
}

/// A message or header could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An AVP value is longer than the 10-bit Length field allows (1017 value bytes).
    #[error("AVP type {attr_type} value of {len} bytes exceeds the 1017-byte maximum")]
    AvpTooLong {
        /// The attribute type of the offending AVP.
        attr_type: u16,
        /// Its value length.
        len: usize,
    },
    /// The whole control message is longer than the 16-bit Length field allows.
    #[error("control message of {len} bytes exceeds 65535")]
    MessageTooLong {
        /// The length the message would have.
        len: usize,
    },
    /// The output buffer cannot take the encoded bytes.
    #[error("output buffer has room for {available} bytes, {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes the buffer can take.
        available: usize,
    },
    /// The headroom in front of a data payload is too small for the session header.
    #[error("headroom of {available} bytes is too small for a {needed}-byte data header")]
    InsufficientHeadroom {
        /// Header length.
        needed: usize,
        /// Headroom the caller provided.
        available: usize,
    },
    /// A default L2-Specific Sublayer sequence number does not fit in 24 bits.
    #[error("sequence number {0:#x} does not fit in 24 bits")]
    SequenceOutOfRange(u32),
}
