//! Sans-IO ESP (RFC 4303) for protecting L2TPv3-over-UDP between sites.
//!
//! The crate never opens a socket, reads a clock or draws randomness: time comes in as
//! `now: Instant`, packets come in as caller buffers and are protected or opened in
//! place, so the per-packet path does not allocate. Results borrow the caller's
//! buffer.
//!
//! Start from the root: [`SecurityAssociation`] (one direction of one SA, built from
//! [`SaParams`]) and [`Sad`] (the SA database: SPI lookup, selectors, transport and
//! tunnel modes, rekey with grace, RFC 3948 UDP encapsulation through
//! [`Sad::open_udp`]). Two modules stay public because their free functions are part of
//! the API: [`config`] (manual keying in `ip xfrm state` syntax) and [`natt`] (non-ESP
//! marker, keepalives, UDP header). The codec internals (`Transform`, in-place
//! `seal_in_place`/`open_in_place` with an IV override for known-answer tests, the
//! replay window) are reachable only through the `unstable` feature, which has no
//! stability guarantee and exists for this crate's benches and tests.
//!
//! With the `tokio` feature, `NattCodec` frames ESP-in-UDP on port 4500 (RFC 3948) for
//! `tokio_util::udp::UdpFramed`: ESP, IKE behind the non-ESP marker and keepalives,
//! classified by [`natt::classify`]; framing only, the SAs do the rest.
//!
//! No randomness is needed: AEAD suites use the sequence number as the IV and AES-CBC
//! uses AES_K(sequence number) (NIST SP 800-38A appendix C, method 1), so nothing here
//! takes an RNG.
//!
//! Cryptography comes from well-kept libraries, never written here: AWS-LC through
//! `aws-lc-rs` (default feature `aws-lc`; audited, FIPS-validated lineage, assembly
//! fast paths) or the pure-Rust RustCrypto crates (feature `rustcrypto`; no C
//! toolchain needed). Tags are compared in constant time by the backends (and with
//! `subtle` for truncated HMACs under AWS-LC).
//!
//! ```
//! use std::time::Instant;
//! use ipsec_lite::{Backend, Direction, SaParams, SecurityAssociation, Suite};
//!
//! let now = Instant::now(); // the caller's clock, passed in
//! let params = |direction| {
//!     // 16-byte key + 4-byte salt; no integrity key for an AEAD suite
//!     let mut p = SaParams::new(0x1000, direction, Suite::AesGcm128, vec![7; 20], vec![]);
//!     p.esn = true;
//!     p
//! };
//! let mut tx = SecurityAssociation::new(now, &params(Direction::Outbound), Backend::default()).unwrap();
//! let mut rx = SecurityAssociation::new(now, &params(Direction::Inbound), Backend::default()).unwrap();
//!
//! // An L2TPv3 data message in a buffer with headroom and tailroom.
//! let payload = b"L2TPv3 over UDP";
//! let head = tx.headroom();
//! let mut buf = vec![0u8; head + payload.len() + tx.tailroom(payload.len())];
//! buf[head..head + payload.len()].copy_from_slice(payload);
//!
//! let esp = tx.seal(now, &mut buf, head..head + payload.len(), 17).unwrap();
//! let opened = rx.open(now, esp).unwrap();
//! assert_eq!(opened.payload, payload);
//! assert_eq!(opened.next_header, 17);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
mod error;
mod esp;
pub mod natt;
mod replay;
mod sa;
mod sad;
mod suite;
#[cfg(feature = "tokio")]
mod tokio_codec;

pub use config::{ConfigError, SaConfig};
pub use error::{CryptoError, DropCounters, DropReason, InboundError, OutboundError};
pub use natt::{KeepaliveTimer, NattError, NattPayload};
pub use replay::ReplayError;
pub use sa::{
    Direction, Lifetimes, LimitKind, Limits, Opened, SaEvent, SaParams, SaState,
    SecurityAssociation,
};
pub use sad::{
    DEFAULT_MAX_SAS, Delivered, Encap, Flow, IpPrefix, Mode, OuterAddrs, Policy, Sad, SadError,
    SadEvent, Sealed, Selector, UdpInbound,
};
pub use suite::{Backend, Suite};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio_codec::{NattCodec, NattCodecError, NattDatagram, NattKind};

/// Codec internals for this crate's benches, known-answer tests and fuzz targets.
///
/// **No stability guarantee**: anything here may change or disappear in any release.
/// Enabled by the `unstable` feature.
#[cfg(feature = "unstable")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable")))]
pub mod unstable {
    /// ESP header, IV, padding and trailer; in-place seal and open with an IV override.
    pub mod esp {
        pub use crate::esp::*;
    }
    /// The keyed ESP transform and the primitive traits each backend implements.
    pub mod suite {
        pub use crate::suite::{
            Aead, AeadAlgorithm, CbcCipher, IcvMac, MacAlgorithm, Transform, aead, cbc, mac,
        };
    }
    /// The RFC 6479 bitmap anti-replay window and ESN inference.
    pub mod replay {
        pub use crate::replay::*;
    }
}
