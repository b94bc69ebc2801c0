//! Sans-IO ESP (RFC 4303) for protecting L2TPv3-over-UDP between sites.
//!
//! The crate never opens a socket, reads a clock or draws randomness: time comes in as
//! `now: Instant`, packets come in as caller buffers and are protected or opened in
//! place, so the per-packet path does not allocate. Results borrow the caller's
//! buffer.
//!
//! | module | concept |
//! |---|---|
//! | [`suite`] | suites (AES-GCM, ChaCha20-Poly1305, AES-CBC + HMAC) and crypto backends |
//! | [`esp`] | header, IV, padding and trailer; in-place seal and open |
//! | [`replay`] | RFC 6479 bitmap anti-replay window, ESN inference |
//! | [`sa`] | security associations: sequence numbers, lifetimes, events |
//! | [`sad`] | the SA database: SPI lookup, selectors, modes, rekey with grace |
//! | [`natt`] | RFC 3948 UDP encapsulation, non-ESP marker, keepalives |
//! | [`config`] | manual keying in `ip xfrm state` syntax |
//! | [`error`] | typed errors and drop counters |
//!
//! Cryptography comes from well-kept libraries, never written here: AWS-LC through
//! `aws-lc-rs` (default feature `aws-lc`; audited, FIPS-validated lineage, assembly
//! fast paths) or the pure-Rust RustCrypto crates (feature `rustcrypto`; no C
//! toolchain needed). Tags are compared in constant time by the backends (and with
//! `subtle` for truncated HMACs under AWS-LC).
//!
//! ```
//! use std::time::Instant;
//! use ipsec_lite::sa::{Direction, SaParams, SecurityAssociation};
//! use ipsec_lite::suite::{Backend, Suite};
//!
//! let now = Instant::now(); // the caller's clock, passed in
//! let params = |direction| SaParams {
//!     spi: 0x1000,
//!     direction,
//!     suite: Suite::AesGcm128,
//!     enc_key: vec![7; 20], // 16-byte key + 4-byte salt
//!     auth_key: vec![],
//!     esn: true,
//!     lifetimes: Default::default(),
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

pub mod config;
pub mod error;
pub mod esp;
pub mod natt;
pub mod replay;
pub mod sa;
pub mod sad;
pub mod suite;

pub use error::{CryptoError, DropCounters, DropReason, InboundError, OutboundError};
pub use sa::{Direction, SaParams, SecurityAssociation};
pub use suite::{Backend, Suite};
