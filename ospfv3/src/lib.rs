//! Sans-IO OSPFv3 (RFC 5340): a router engine and the wire codec it is built on.
//!
//! [`Router`] runs one area: interfaces and their state machines, neighbors and
//! database exchange, flooding, the LSDB with aging, origination of our LSAs, SPF with
//! RFC 8405 back-off, the routing table, and the anycast query ([`Router::advertisers`],
//! [`Router::watch_prefix`]: which reachable routers advertise a prefix, with which
//! metric). It follows the sans-IO contract of the workspace:
//!
//! * inputs: [`Router::handle_packet`] (received bytes), commands such as
//!   [`Router::add_interface`] or [`Router::advertise_prefix`], and
//!   [`Router::handle_timeout`], which only fires timers that are due, so calling it
//!   early or twice is harmless;
//! * outputs, drained by the caller after every input: [`Router::poll_transmit`] (one
//!   [`Transmit`]: interface, source, destination, bytes), [`Router::poll_event`]
//!   ([`Event`]) and [`Router::poll_timeout`];
//! * `now` is passed in and randomness (DD sequence numbers) comes from the caller's
//!   [`rand_core::Rng`] handed to [`Router::new`].
//!
//! Two routers joined back to back by a point-to-point link, exchanging packets in
//! memory until their adjacency is Full and each has a route to the other's loopback:
//!
//! ```
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use std::time::{Duration, Instant};
//! use ospfv3::{InterfaceConfig, Ipv6Prefix, NeighborState, Router, RouterConfig};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let t0 = Instant::now();
//! let lo = |i: u16| Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 128);
//! let mut routers: Vec<Router<StdRng>> = (1..=2u16)
//!     .map(|i| {
//!         let cfg = RouterConfig::new(Ipv4Addr::new(0, 0, 0, i as u8));
//!         let mut r = Router::new(cfg, StdRng::seed_from_u64(u64::from(i)));
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
//!         routers[i].handle_timeout(now); // only fires what is due
//!         while let Some(t) = routers[i].poll_transmit() {
//!             routers[1 - i].handle_packet(now, 1, t.src, t.dst, &t.bytes);
//!         }
//!     }
//! }
//! assert_eq!(routers[0].neighbors(1)[0].1, NeighborState::Full);
//! assert_eq!(routers[0].routes()[&lo(2)].cost, 10);
//! assert_eq!(routers[1].routes()[&lo(1)].next_hops[0].addr, Some("fe80::1".parse().unwrap()));
//! let adv: Vec<_> = routers[0].advertisers(&lo(2)).collect();
//! assert_eq!((adv[0].router_id, adv[0].metric, adv[0].distance), (Ipv4Addr::new(0, 0, 0, 2), 0, 10));
//! ```
//!
//! # The tokio adapter
//!
//! With the `tokio` feature, `RawSocket` is the async raw IPv6 socket (Linux) these
//! packets travel on: protocol 89, bound to one interface, joined to ff02::5 and
//! ff02::6, hop limit 1, each datagram's destination, interface and hop limit reported.
//! It sets up the socket and moves datagrams; all protocol logic stays in [`Router`].
//!
//! # The codec
//!
//! The public codec modules decode and encode every OSPFv3 packet ([`packet`],
//! [`hello`], [`dd`], [`lsr`], [`lsu`], [`lsack`]) and LSA ([`lsa`] and its
//! submodules), compute and verify both checksums ([`checksum`]), build and verify the
//! RFC 7166 authentication trailer ([`auth`]) and compare LSA instances
//! ([`compare`](mod@compare)). Nothing here opens a socket or reads a clock.
//!
//! Conventions:
//! * decoding (nom) never trusts a length or count field beyond the bytes present and
//!   never allocates by a count; errors ([`DecodeError`]) say what and at which offset;
//! * encoding writes into any [`bytes::BufMut`]; decoded values re-encode to the
//!   bytes received: LSAs keep their age and checksum, unknown option bits are kept,
//!   unknown LSA types stay raw ([`lsa::LsaBody::Unknown`]);
//! * reserved fields are ignored on receipt and sent as zero, as are prefix bits past
//!   the prefix length.
//!
//! Crates: `nom` parses, `bytes` writes, `bitflags` holds option fields, `thiserror`
//! types errors; HMAC, SHA-1 and SHA-2 come from RustCrypto (`hmac`, `sha1`, `sha2`)
//! and the constant-time comparison from `subtle`, because cryptographic primitives
//! must not be hand-written. The capture test and the `decode_pcap` example read pcap
//! and pcapng with the `pcap-file` crate (a dev-dependency) rather than a parser of
//! our own.
//!
//! ```
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use ospfv3::{Options, Packet, PacketBody, PacketHeader, hello::Hello};
//! use ospfv3::checksum::verify_packet_checksum;
//!
//! let hello = Packet {
//!     header: PacketHeader {
//!         router_id: Ipv4Addr::new(1, 1, 1, 1),
//!         area_id: Ipv4Addr::UNSPECIFIED,
//!         checksum: 0,
//!         instance_id: 0,
//!     },
//!     body: PacketBody::Hello(Hello {
//!         interface_id: 5,
//!         priority: 1,
//!         options: Options::V6 | Options::E | Options::R,
//!         hello_interval: 10,
//!         dead_interval: 40,
//!         designated_router: Ipv4Addr::UNSPECIFIED,
//!         backup_designated_router: Ipv4Addr::UNSPECIFIED,
//!         neighbors: vec![Ipv4Addr::new(2, 2, 2, 2)],
//!     }),
//! };
//! let src: Ipv6Addr = "fe80::1".parse().unwrap();
//! let dst: Ipv6Addr = "ff02::5".parse().unwrap();
//! let bytes = hello.to_bytes_with_checksum(&src, &dst);
//! assert!(verify_packet_checksum(&src, &dst, &bytes));
//!
//! let decoded = Packet::decode(&bytes).unwrap();
//! assert_eq!(decoded.body, hello.body);
//! assert_eq!(decoded.to_bytes(), bytes); // byte-exact, checksum included
//! ```

pub mod auth;
pub mod checksum;
pub mod compare;
pub mod constants;
pub mod dd;
pub mod error;
pub mod hello;
pub mod lsa;
pub mod lsack;
pub mod lsr;
pub mod lsu;
pub mod options;
pub mod packet;
pub mod prefix;
mod reader;
#[cfg(feature = "tokio")]
mod tokio_socket;

pub use compare::{Freshness, compare};
pub use error::{DecodeError, Result};
pub use lsa::ExternalMetricType;
pub use lsa::{ChecksumMode, Lsa, LsaBody, LsaHeader, LsaType, RawLsa};
pub use options::Options;
pub use packet::{Datagram, DecodeOptions, Packet, PacketBody, PacketHeader, PacketType};
pub use prefix::{Prefix, PrefixOptions};
#[cfg(feature = "tokio")]
pub use tokio_socket::{OSPF_PROTOCOL, RawSocket, RawSocketConfig, RawSocketStats, Received};

mod engine;
pub use engine::{
    ALL_D_ROUTERS, ALL_SPF_ROUTERS, Advertiser, AuthConfig, ChecksumOffload, Counters, Event,
    InterfaceConfig, InterfaceState, Ipv6Prefix, Limits, LsaKey, Lsdb, LsdbEntry, NeighborState,
    NetworkType, NextHop, OriginationThrottle, Route, RouteKind, Router, RouterConfig, RouterUsage,
    Scope, ThrottleConfig, Transmit,
};

/// Engine internals (the SPF graph and tree, the routing table, the RFC 8405
/// throttle) for the SPF bench.
///
/// **No stability guarantee**: anything here may change or disappear in any release.
/// Enabled by the `unstable` feature.
#[cfg(feature = "unstable")]
pub mod unstable {
    pub use crate::engine::internals::*;
}
