//! `ha_node`: the reference HA node that assembles the workspace's sans-IO crates.
//!
//! * [`core`]: the protocol glue (L2TPv3 endpoint + OSPFv3 router + failover policy
//!   + ESP), sans-IO, shared by both drivers;
//! * [`lab`]: the in-process lab on `netsim` with virtual time (`ha_node lab`);
//! * [`frame`]: Ethernet/IPv6 framing for the lab's in-memory kernel;
//! * [`esp`]: ESP protection of an underlay peer (its SAs, shared by whoever seals,
//!   opens and keys them);
//! * [`ike`]: IKEv2 keying of the protected peers (the `ikev2` crate's endpoint);
//! * [`config`]: the daemon's TOML configuration;
//! * [`daemon`]: the daemon on tokio, with [`tap`] (TAP devices), `ospfv3::RawSocket`
//!   (OSPFv3 over raw IPv6 sockets), [`netlink`] (addresses, routes and links over
//!   rtnetlink, off the event loop), [`health`] (probes), [`metrics`] (Prometheus
//!   endpoint) and [`selfheal`] (TAP device I/O and reopening).
//!
//! ```
//! let report = ha_node::lab::run(&ha_node::lab::LabOptions { seed: 1, ..Default::default() });
//! assert!(report.failures().is_empty(), "{:?}", report.failures());
//! ```

pub mod check;
pub mod config;
pub mod control;
pub mod core;
pub mod ctl;
pub mod daemon;
pub mod dataplane;
pub mod esp;
pub mod frame;
pub mod health;
pub mod ike;
pub mod lab;
pub mod metrics;
pub mod netlink;
pub mod reload;
pub mod security;
pub mod selfheal;
pub mod status;
pub mod tap;
