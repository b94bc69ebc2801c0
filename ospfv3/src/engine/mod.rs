//! The OSPFv3 protocol engine: a sans-IO router built on this crate's codec.
//!
//! One private module per protocol concept: `config`, `interface` (ISM and DR
//! election), `nsm` (neighbor state machine table), `neighbor` (database exchange),
//! `lsdb`, `flood` (flooding and acknowledgements), `originate` (our LSAs), `spf`,
//! `route`, `routing` (SPF state, routing table and the anycast query), `throttle` (RFC 8405) and `instance`
//! (the [`Router`] with its handle/poll API). The public types are re-exported at
//! the crate root.
//!
//! The engine never reads a clock or opens a socket: `now` comes in with every call,
//! packets go out through [`Router::poll_transmit`] (interface, source, destination,
//! bytes with the checksum filled in unless [`ChecksumOffload::Kernel`]), and
//! [`Router::poll_timeout`] says when [`Router::handle_timeout`] is next due.

mod config;
mod flood;
mod instance;
mod interface;
mod lsdb;
mod neighbor;
mod nsm;
mod originate;
mod route;
mod routing;
mod spf;
mod throttle;

pub use config::{
    AuthConfig, ChecksumOffload, InterfaceConfig, Ipv6Prefix, Limits, NetworkType,
    OriginationThrottle, RouterConfig,
};
pub use instance::{ALL_D_ROUTERS, ALL_SPF_ROUTERS, Counters, Event, Router, Transmit};
pub use interface::InterfaceState;
pub use lsdb::{LsaKey, Lsdb, LsdbEntry, RouterUsage, Scope};
pub use nsm::NeighborState;
pub use route::{Route, RouteKind};
pub use routing::Advertiser;
pub use spf::NextHop;
pub use throttle::ThrottleConfig;

/// Engine internals for the SPF bench; see [`crate::unstable`].
#[cfg(feature = "unstable")]
pub(crate) mod internals {
    pub use super::route::{PrefixSource, Rib, RouteChange};
    pub use super::spf::{
        Edge, Graph, LinkKind, MAX_ECMP, RouterLink, SpfTree, Topology, VertexId,
    };
    pub use super::throttle::{SpfThrottle, ThrottleEvent, ThrottleState};
}
