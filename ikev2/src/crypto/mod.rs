//! IKEv2 cryptography on `aws-lc-rs`: transform IDs and suites (RFC 7296 3.3), prf and
//! prf+ (2.13), the IKE SA keys (2.14, 2.18), CHILD_SA key material (2.17), PSK
//! authentication (2.15), the SK payload (3.14; RFC 5282, RFC 7634, RFC 4868) and
//! Diffie-Hellman (RFC 8031, RFC 5903; RFC 3526 MODP-2048 on `crypto-bigint`).
//!
//! Every secret is a [`Secret`] (zeroized on drop, redacted in `Debug`); comparisons of
//! authentication values are constant-time (`subtle`).

mod auth;
mod dh;
mod error;
pub mod ids;
mod keys;
mod prf;
mod proposal;
mod secret;
mod sk;
mod suite;

pub use auth::{KEY_PAD, psk_auth, verify_psk_auth};
pub use dh::DhPrivate;
pub use error::CryptoError;
pub use keys::{ChildKeys, EspKeys, IkeKeys};
pub use proposal::ProposalError;
pub use secret::Secret;
pub use sk::{Opened, SkCipher};
pub use suite::{Encr, EspSuite, Group, IkeSuite, Integ, Prf, Selected};
