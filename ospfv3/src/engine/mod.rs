//! The OSPFv3 protocol engine: a sans-IO router built on this crate's codec.
//!
//! One module per protocol concept: [`config`], [`interface`] (ISM and DR
//! election), [`nsm`] (neighbor state machine table), [`neighbor`] (database
//! exchange), [`lsdb`], [`flood`](self) (flooding and acknowledgements),
//! [`originate`](self) (our LSAs), [`spf`], [`route`], [`throttle`] (RFC 8405) and
//! [`instance`] (the [`Router`] with its handle/poll API).
//!
//! The engine never reads a clock or opens a socket: `now` comes in with every call,
//! packets go out through [`Router::poll_transmit`] (interface, source, destination,
//! bytes with the checksum filled in unless [`ChecksumOffload::Kernel`]), and
//! [`Router::poll_timeout`] says when [`Router::handle_timeout`] is next due.
//!
//! Two routers joined back to back, exchanging packets in memory until their
//! adjacency is Full and each has a route to the other's loopback:
//!
//! ```
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use std::time::{Duration, Instant};
//! use ospfv3::engine::{InterfaceConfig, Ipv6Prefix, NeighborState, Router, RouterConfig};
//!
//! let t0 = Instant::now();
//! let lo = |i: u16| Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 128);
//! let mut routers: Vec<Router> = (1..=2u16)
//!     .map(|i| {
//!         let mut r = Router::new(RouterConfig::new(Ipv4Addr::new(0, 0, 0, i as u8)), 1);
//!         let ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i);
//!         r.add_interface(t0, 1, InterfaceConfig::point_to_point(ll).with_timers(1, 4));
//!         r.add_interface(t0, 2, InterfaceConfig::loopback(vec![lo(i)]));
//!         r
//!     })
//!     .collect();
//! let mut now = t0;
//! for _ in 0..200 {
//!     now += Duration::from_millis(100);
//!     for i in 0..2 {
//!         if routers[i].poll_timeout().is_some_and(|t| t <= now) {
//!             routers[i].handle_timeout(now);
//!         }
//!         while let Some(t) = routers[i].poll_transmit() {
//!             routers[1 - i].handle_packet(now, 1, t.src, t.dst, &t.bytes);
//!         }
//!     }
//! }
//! assert_eq!(routers[0].neighbors(1)[0].1, NeighborState::Full);
//! assert_eq!(routers[0].routes()[&lo(2)].cost, 10);
//! assert_eq!(routers[1].routes()[&lo(1)].next_hops[0].addr, Some("fe80::1".parse().unwrap()));
//! ```

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
