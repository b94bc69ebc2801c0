//! Sans-IO IKEv2 (RFC 7296) with pre-shared keys, for site-to-site ESP.
//!
//! The crate is built in layers:
//!
//! * [`wire`]: the message codec (RFC 7296 section 3): the IKE header, every payload
//!   this crate speaks, and raw unknown payloads; decoding never panics and parsing is
//!   separate from semantic validation.
//! * [`crypto`]: transform IDs and negotiated suites, prf and prf+ (2.13), the IKE SA
//!   keys (2.14, 2.18), CHILD_SA key material (2.17), PSK authentication (2.15), the SK
//!   payload (3.14, RFC 5282) and Diffie-Hellman (RFC 8031 Curve25519, RFC 5903
//!   ECP-256 on `aws-lc-rs`; RFC 3526 MODP-2048 on `crypto-bigint`), with secrets
//!   zeroized on drop.
//! * [`Endpoint`]: the IKE SA and CHILD SA state machines (RFC 7296 1, 2): IKE_SA_INIT
//!   with proposal selection, INVALID_KE_PAYLOAD retry, NAT detection and stateless
//!   cookies; IKE_AUTH with PSK and the first CHILD SA (traffic selector narrowing,
//!   tunnel or transport mode, ESN); CREATE_CHILD_SA for CHILD SA and IKE SA rekeys
//!   with collision handling; INFORMATIONAL liveness checks and DELETE; message IDs,
//!   window 1, retransmission with back-off. Keys leave as [`Event`]s carrying
//!   `ipsec_lite::SaParams` and `ipsec_lite::Policy`, ready for `ipsec_lite::Sad`.
//!
//! Like every crate of the workspace it opens no socket, reads no clock and draws no
//! randomness of its own: the caller hands in a `rand_core::Rng` where randomness is
//! needed (nonces, SPIs, IVs, Diffie-Hellman private keys).

pub mod crypto;
mod endpoint;
mod sa;
pub mod wire;

pub use endpoint::Endpoint;
pub use sa::{
    ChildMode, ChildSaKeys, Counters, DownReason, EndpointConfig, Error, Event, IkeSaId, Limits,
    PeerConfig, PeerId, Timers, Transmit,
};
