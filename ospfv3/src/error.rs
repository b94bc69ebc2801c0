//! Typed decoding errors. Every variant says what failed and at which byte offset,
//! counted from the start of the buffer handed to the top-level decoder.

use thiserror::Error;

/// Result alias used by every decoder of this crate.
pub type Result<T, E = DecodeError> = core::result::Result<T, E>;

/// Why a packet, an LSA or a trailer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes are present than the field needs.
    #[error("{what} truncated at offset {offset}: {needed} bytes needed, {available} present")]
    Truncated {
        /// The field or structure being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
    /// The version field of the common header is not 3.
    #[error("OSPF version {version} at offset {offset}, expected 3")]
    BadVersion {
        /// Offset of the version byte.
        offset: usize,
        /// The version received.
        version: u8,
    },
    /// The packet type is not one of the five of RFC 5340 A.3.1.
    #[error("unknown OSPF packet type {value} at offset {offset}")]
    UnknownPacketType {
        /// Offset of the type byte.
        offset: usize,
        /// The type received.
        value: u8,
    },
    /// A valid packet type, but not the one the caller asked for.
    #[error("packet type {found} at offset {offset}, expected {expected}")]
    UnexpectedPacketType {
        /// Offset of the type byte.
        offset: usize,
        /// The type received.
        found: u8,
        /// The type wanted.
        expected: u8,
    },
    /// A length field is out of range, or not a multiple of 4.
    #[error("{what} length {length} at offset {offset} is invalid: {reason}")]
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// Offset of the structure.
        offset: usize,
        /// The length found.
        length: usize,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A count field promises more entries than the bytes present can hold.
    #[error(
        "{what} count {count} at offset {offset} needs at least {needed} bytes, {available} present"
    )]
    CountTooLarge {
        /// What is counted.
        what: &'static str,
        /// Offset of the count field.
        offset: usize,
        /// The count received.
        count: u64,
        /// Minimum bytes that count implies.
        needed: u64,
        /// Bytes actually present.
        available: usize,
    },
    /// A PrefixLength above 128 (RFC 5340 A.4.1).
    #[error("prefix length {length} at offset {offset} exceeds 128")]
    PrefixLength {
        /// Offset of the PrefixLength byte.
        offset: usize,
        /// The length received.
        length: u8,
    },
    /// The LSA's Fletcher checksum does not verify (RFC 2328 12.1.7), or is 0.
    #[error("LSA checksum 0x{checksum:04x} at offset {offset} does not verify")]
    LsaChecksum {
        /// Offset of the LSA.
        offset: usize,
        /// The checksum field received.
        checksum: u16,
    },
    /// Bytes left over inside a structure whose content has been fully read.
    #[error("{count} unexpected trailing bytes in {what} at offset {offset}")]
    TrailingBytes {
        /// The structure that has bytes left.
        what: &'static str,
        /// Offset of the first unread byte.
        offset: usize,
        /// How many bytes are left.
        count: usize,
    },
    /// The authentication trailer (RFC 7166 4.1) is malformed.
    #[error("authentication trailer at offset {offset}: {reason}")]
    BadTrailer {
        /// Offset of the trailer.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}
