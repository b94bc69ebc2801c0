//! Typed errors and drop counters.
//!
//! Every inbound rejection maps to one [`DropReason`]; [`DropCounters`] counts them so
//! an operator can see why packets were discarded (RFC 4303 section 3.4 asks that
//! such events be auditable).

use thiserror::Error;

use crate::replay::ReplayError;

/// A cryptographic operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ICV (AEAD tag or truncated HMAC) did not verify.
    #[error("integrity check failed")]
    Integrity,
    /// Key material has the wrong length for the suite.
    #[error("key material is {got} bytes, suite needs {need}")]
    KeyLength {
        /// Bytes supplied.
        got: usize,
        /// Bytes required.
        need: usize,
    },
    /// The ICV verified but the ciphertext is not a whole number of cipher blocks.
    #[error("ciphertext is not a whole number of blocks")]
    Alignment,
    /// The crypto backend refused the operation (wrong input size, internal failure).
    #[error("crypto backend failure")]
    Backend,
    /// The requested backend was not compiled in.
    #[error("backend {0} is not enabled at compile time")]
    BackendUnavailable(&'static str),
}

/// Why an inbound packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
#[non_exhaustive]
pub enum DropReason {
    /// Fewer bytes than the smallest valid packet for the SA.
    Truncated = 0,
    /// No inbound SA has this SPI.
    UnknownSpi,
    /// The sequence number is a duplicate or left of the window.
    Replay,
    /// The ICV did not verify.
    Integrity,
    /// Pad length or pad bytes are wrong.
    BadPadding,
    /// Ciphertext length is not a multiple of the cipher's block size.
    BadAlignment,
    /// The SA passed its hard lifetime.
    Expired,
    /// The decrypted packet does not match the SA's selectors.
    Selector,
    /// Something that is not ESP arrived where ESP was expected (NAT-T framing).
    NotEsp,
}

impl DropReason {
    /// Number of distinct reasons.
    pub const COUNT: usize = 9;
    /// All reasons, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Truncated,
        DropReason::UnknownSpi,
        DropReason::Replay,
        DropReason::Integrity,
        DropReason::BadPadding,
        DropReason::BadAlignment,
        DropReason::Expired,
        DropReason::Selector,
        DropReason::NotEsp,
    ];
}

/// Counters of dropped inbound packets, one per [`DropReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl DropCounters {
    /// Count one drop.
    pub fn record(&mut self, reason: DropReason) {
        let slot = &mut self.counts[reason as usize];
        *slot = slot.saturating_add(1);
    }
    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }
    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// An inbound packet was rejected; nothing was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The packet is shorter than SPI + sequence number + IV + minimal trailer + ICV.
    #[error("truncated ESP packet: {len} bytes, need at least {min}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Minimum for this SA.
        min: usize,
    },
    /// No inbound SA has this SPI.
    #[error("no inbound SA for SPI {spi:#010x}")]
    UnknownSpi {
        /// SPI from the header (offset 0).
        spi: u32,
    },
    /// Anti-replay rejected the sequence number (checked before decryption).
    #[error("SPI {spi:#010x}: sequence number {seq} rejected: {kind}")]
    Replay {
        /// SA.
        spi: u32,
        /// Full (ESN-inferred) sequence number.
        seq: u64,
        /// Duplicate or too old.
        kind: ReplayError,
    },
    /// The ICV did not verify.
    #[error("SPI {spi:#010x}: integrity check failed for sequence number {seq}")]
    Integrity {
        /// SA.
        spi: u32,
        /// Full (ESN-inferred) sequence number.
        seq: u64,
    },
    /// Pad Length exceeds the payload or a pad byte is not its 1-based index.
    #[error("SPI {spi:#010x}: bad padding at offset {offset}")]
    BadPadding {
        /// SA.
        spi: u32,
        /// Offset in the ESP packet of the first wrong byte.
        offset: usize,
    },
    /// Ciphertext is not a whole number of cipher blocks.
    #[error("SPI {spi:#010x}: ciphertext of {len} bytes is not a multiple of {block}")]
    BadAlignment {
        /// SA.
        spi: u32,
        /// Ciphertext length.
        len: usize,
        /// Required multiple.
        block: usize,
    },
    /// The SA has passed its hard lifetime.
    #[error("SPI {spi:#010x}: SA expired")]
    Expired {
        /// SA.
        spi: u32,
    },
    /// The inner packet is not allowed by the SA's selectors.
    #[error("SPI {spi:#010x}: inner packet does not match the SA's selectors")]
    Selector {
        /// SA.
        spi: u32,
    },
    /// A NAT-T datagram that is not ESP (keepalive or non-ESP marker) reached the ESP path.
    #[error("datagram is not ESP")]
    NotEsp,
}

impl InboundError {
    /// The counter this error increments.
    pub fn reason(&self) -> DropReason {
        match self {
            InboundError::Truncated { .. } => DropReason::Truncated,
            InboundError::UnknownSpi { .. } => DropReason::UnknownSpi,
            InboundError::Replay { .. } => DropReason::Replay,
            InboundError::Integrity { .. } => DropReason::Integrity,
            InboundError::BadPadding { .. } => DropReason::BadPadding,
            InboundError::BadAlignment { .. } => DropReason::BadAlignment,
            InboundError::Expired { .. } => DropReason::Expired,
            InboundError::Selector { .. } => DropReason::Selector,
            InboundError::NotEsp => DropReason::NotEsp,
        }
    }
}

/// An outbound packet could not be protected; the buffer content is unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// Not enough room before the payload for SPI, sequence number and IV.
    #[error("need {need} bytes of headroom, have {have}")]
    Headroom {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Not enough room after the payload for padding, trailer and ICV.
    #[error("need {need} bytes of tailroom, have {have}")]
    Tailroom {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The payload range lies outside the buffer.
    #[error("payload range {start}..{end} outside a buffer of {len} bytes")]
    Range {
        /// Start of the payload.
        start: usize,
        /// End of the payload.
        end: usize,
        /// Buffer length.
        len: usize,
    },
    /// The sequence number space is used up (RFC 4303 section 3.3.3): rekey.
    #[error("SPI {spi:#010x}: sequence numbers exhausted")]
    SequenceExhausted {
        /// SA.
        spi: u32,
    },
    /// The SA has passed its hard lifetime.
    #[error("SPI {spi:#010x}: SA expired")]
    Expired {
        /// SA.
        spi: u32,
    },
    /// The SA is inbound; it cannot protect.
    #[error("SPI {spi:#010x}: SA is not outbound")]
    WrongDirection {
        /// SA.
        spi: u32,
    },
    /// No outbound SA matches the flow.
    #[error("no outbound SA matches the flow")]
    NoPolicy,
    /// The backend failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
