//! Errors of the crypto layer.

use crate::wire::{DecodeError, EncodeError};

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ICV did not verify (or the AEAD tag): the message is dropped
    /// (RFC 7296 2.21.2: no answer).
    #[error("integrity check failed")]
    Integrity,
    /// The message has no SK payload, or it is not last.
    #[error("message has no SK payload")]
    NotEncrypted,
    /// The SK payload is too short for IV and ICV, or the ciphertext is not a multiple of
    /// the block size.
    #[error("SK payload of {0} bytes does not fit the cipher")]
    SkLength(usize),
    /// The Pad Length byte points before the start of the plaintext.
    #[error("invalid padding in the SK payload")]
    Padding,
    /// The outer message or the decrypted payloads failed to parse.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// The payloads could not be encoded.
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// The peer's Diffie-Hellman public value is malformed, not on the curve, or gives a
    /// degenerate shared secret (RFC 8031 2: all-zero X25519 result; RFC 5903: point
    /// not on the curve).
    #[error("invalid Diffie-Hellman public value")]
    InvalidPublicValue,
    /// A transform, group or key length this crate does not implement.
    #[error("unsupported transform {transform_type}/{id}")]
    Unsupported {
        /// Transform type.
        transform_type: u8,
        /// Transform ID.
        id: u16,
    },
    /// prf+ was asked for more than 255 blocks (RFC 7296 2.13).
    #[error("prf+ output of {0} bytes is more than 255 blocks")]
    PrfPlusTooLong(usize),
    /// The SK payload would exceed the 16-bit payload length.
    #[error("encrypted message too long")]
    TooLong,
    /// The cryptographic backend reported an error (key setup or an impossible size).
    #[error("cryptographic backend error")]
    Backend,
}
