//! The OSPFv3 protocol engine: a sans-IO router built on this crate's codec.
//!
//! One module per protocol concept: [`config`], [`interface`] (ISM and DR
//! election), [`nsm`] (neighbor state machine table), [`neighbor`] (database
//! exchange), [`lsdb`], [`flood`](self) (flooding and acknowledgements),
//! [`originate`](self) (our LSAs), [`spf`], [`route`], [`throttle`] (RFC 8405) and
//! [`instance`] (the [`Router`] with its handle/poll API).

pub mod config;
mod flood;
pub mod instance;
pub mod interface;
pub mod lsdb;
pub mod neighbor;
pub mod nsm;
mod originate;
pub mod route;
pub mod spf;
pub mod throttle;

pub use config::{
    AuthConfig, ChecksumOffload, InterfaceConfig, Ipv6Prefix, Limits, NetworkType, RouterConfig,
};
pub use instance::{ALL_D_ROUTERS, ALL_SPF_ROUTERS, Counters, Event, Router, Transmit};
pub use interface::InterfaceState;
pub use nsm::NeighborState;
pub use route::{Route, RouteKind};
pub use spf::NextHop;
