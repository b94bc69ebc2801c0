//! The L2TPv3 control plane: reliable delivery, control connections, sessions,
//! message authentication and an endpoint that ties them together.
//!
//! | module | RFC 3931 | holds |
//! |---|---|---|
//! | `seq` | 4.2 | Ns/Nr comparison modulo 2^16 |
//! | `reliable` | 4.2, App. A | windows, slow start, retransmission, hold, acks |
//! | [`auth`] | 4.3, 5.3, 5.4.1 | key derivation, Message Digest, AVP hiding |
//! | `connection` | 7.2 | control connection state table |
//! | `session` | 7.3, 7.4 | incoming and outgoing call state tables |
//! | `endpoint` | all | demultiplexing, limits, the data path |
//! | `config`, `event` | | tunables and what the application hears |
//!
//! Only [`auth`] is public (for known-answer tests of the digest); everything a
//! user drives is re-exported here and at the crate root.

pub mod auth;
mod config;
mod connection;
mod endpoint;
mod event;
mod reliable;
mod seq;
mod session;

pub use config::Config;
pub use connection::ConnState;
pub use endpoint::{
    CommandError, ConnectionInfo, DataDrop, DataIn, Endpoint, EndpointStats, SessionInfo,
    SessionRequest, SessionTemplates, Transmit,
};
pub use event::{DownReason, Event};
pub use reliable::{DEFAULT_PEER_WINDOW, ReliableConfig, ReliableStats};
pub use session::SessionState;
