//! Typed decode, encode and validation errors of the wire layer.

use core::fmt;

/// The structure a wire error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The fixed IKE header (RFC 7296 3.1).
    Header,
    /// A generic payload header (RFC 7296 3.2).
    GenericHeader,
    /// A Security Association payload (RFC 7296 3.3).
    Sa,
    /// A proposal substructure (RFC 7296 3.3.1).
    Proposal,
    /// A transform substructure (RFC 7296 3.3.2).
    Transform,
    /// A transform attribute (RFC 7296 3.3.5).
    Attribute,
    /// A Key Exchange payload (RFC 7296 3.4).
    Ke,
    /// An Identification payload (RFC 7296 3.5).
    Id,
    /// An Authentication payload (RFC 7296 3.8).
    Auth,
    /// A Nonce payload (RFC 7296 3.9).
    Nonce,
    /// A Notify payload (RFC 7296 3.10).
    Notify,
    /// A Delete payload (RFC 7296 3.11).
    Delete,
    /// A Vendor ID payload (RFC 7296 3.12).
    VendorId,
    /// A Traffic Selector payload (RFC 7296 3.13).
    Ts,
    /// One traffic selector (RFC 7296 3.13.1).
    TrafficSelector,
    /// An Encrypted and Authenticated payload (RFC 7296 3.14).
    Sk,
    /// The payload chain as a whole.
    Chain,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Part::Header => "IKE header",
            Part::GenericHeader => "generic payload header",
            Part::Sa => "SA payload",
            Part::Proposal => "proposal",
            Part::Transform => "transform",
            Part::Attribute => "transform attribute",
            Part::Ke => "KE payload",
            Part::Id => "ID payload",
            Part::Auth => "AUTH payload",
            Part::Nonce => "Nonce payload",
            Part::Notify => "Notify payload",
            Part::Delete => "Delete payload",
            Part::VendorId => "Vendor ID payload",
            Part::Ts => "TS payload",
            Part::TrafficSelector => "traffic selector",
            Part::Sk => "SK payload",
            Part::Chain => "payload chain",
        };
        f.write_str(s)
    }
}

/// Why bytes could not be parsed. Offsets count from the first byte handed to the
/// decoder (the IKE header for a message, the first inner payload for a decrypted
/// SK body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes are present than the structure needs.
    #[error("truncated {part} at offset {offset}: needs {needed} bytes, {available} present")]
    Truncated {
        /// What was being read.
        part: Part,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A length field is impossible (smaller than the fixed part, or beyond the
    /// enclosing structure).
    #[error("bad length {length} in {part} at offset {offset}")]
    BadLength {
        /// The structure whose length field is wrong.
        part: Part,
        /// Where the structure starts.
        offset: usize,
        /// The length it claims.
        length: usize,
    },
    /// The IKE header's length differs from the number of bytes handed in.
    #[error("IKE header says {header} bytes, datagram has {actual}")]
    MessageLength {
        /// Length in the header.
        header: usize,
        /// Bytes handed in.
        actual: usize,
    },
    /// The major version is not 2 (RFC 7296 3.1: answer INVALID_MAJOR_VERSION).
    #[error("unsupported IKE major version {0}")]
    UnsupportedVersion(u8),
    /// The message has more payloads than [`MAX_PAYLOADS`](super::MAX_PAYLOADS).
    #[error("more than {limit} payloads in one message")]
    TooManyPayloads {
        /// The limit.
        limit: usize,
    },
    /// A field holds a value the structure cannot carry.
    #[error("invalid {part} at offset {offset}: {reason}")]
    Invalid {
        /// The structure.
        part: Part,
        /// Where it starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A structure does not fit its 16-bit (or the message's 32-bit) length field.
    #[error("{part} too long: {length} bytes")]
    TooLong {
        /// The structure.
        part: Part,
        /// Its length.
        length: usize,
    },
    /// A field is inconsistent (an SPI of the wrong size, too many proposals...).
    #[error("cannot encode {part}: {reason}")]
    Invalid {
        /// The structure.
        part: Part,
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller's buffer is too small.
    #[error("buffer too small: {needed} bytes needed, {available} free")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes free.
        available: usize,
    },
}

/// A parsed message breaks a rule of RFC 7296 (the semantic step after parsing).
/// Each variant names the notify the protocol answers with, where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A payload of an unknown type has its critical bit set (RFC 7296 3.2: reject the
    /// message with UNSUPPORTED_CRITICAL_PAYLOAD carrying the type).
    #[error("unsupported critical payload type {0}")]
    UnsupportedCriticalPayload(u8),
    /// A payload's contents break a rule (answer INVALID_SYNTAX).
    #[error("invalid {part}: {reason}")]
    InvalidSyntax {
        /// The payload.
        part: Part,
        /// What is wrong.
        reason: &'static str,
    },
}
