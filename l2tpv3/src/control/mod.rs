//! The L2TPv3 control plane: reliable delivery, control connections, sessions,
//! message authentication and an endpoint that ties them together.
//!
//! | module | RFC 3931 | holds |
//! |---|---|---|
//! | [`seq`] | 4.2 | Ns/Nr comparison modulo 2^16 |
//! | [`reliable`] | 4.2, App. A | windows, slow start, retransmission, hold, acks |
//! | [`auth`] | 4.3, 5.3, 5.4.1 | key derivation, Message Digest, AVP hiding |
//! | [`connection`] | 7.2 | control connection state table |
//! | [`session`] | 7.3, 7.4 | incoming and outgoing call state tables |
//! | [`endpoint`] | all | demultiplexing, limits, data path lookup |
//! | [`config`], [`event`] | | tunables and what the application hears |

pub mod auth;
pub mod config;
pub mod connection;
pub mod endpoint;
pub mod event;
pub mod reliable;
pub mod seq;
pub mod session;

pub use config::Config;
pub use endpoint::{CommandError, DataIn, Endpoint, EndpointStats, SessionRequest};
pub use event::{DownReason, Event};
/// The RNG trait endpoints take, re-exported so callers need not name the crate.
pub use rand_core;
