//! Kernel state: addresses, routes and link settings, over rtnetlink.
//!
//! # Library
//!
//! The daemon speaks rtnetlink itself through the [`rtnetlink`] crate (rust-netlink
//! project, on top of `netlink-packet-route` and `netlink-sys`): no `ip` process is
//! spawned, failures come back as the kernel's errno (typed, see
//! [`NetlinkError::errno`]) instead of text to match, and no `unsafe` is needed here.
//! It was chosen over driving `netlink-packet-route` + `netlink-sys` by hand because
//! it already runs the socket on tokio with sequence numbers matched to requests
//! (`netlink-proto`), so several requests can be in flight on one socket at once:
//! a batch is sent back to back and its acknowledgements collected together, in
//! order. The crates are maintained together and versioned in step.
//!
//! # Off the event loop
//!
//! The event loop never awaits a kernel change. It hands changes to an [`Installer`]
//! ([`Installer::submit`]: never blocks), which coalesces them per object (the last
//! change of a route or address wins while it is still queued) and passes batches
//! through a bounded channel ([`INSTALLER_DEPTH`] batches of at most [`MAX_BATCH`]
//! changes) to a dedicated task that applies them with one [`Netlink`] handle and
//! reports each result back ([`KernelReport`]). While the channel is full, changes
//! wait (coalesced) in the installer; each report frees a slot.
//!
//! # Marks
//!
//! Routes learned from OSPFv3 carry protocol number [`RTPROT_HA_NODE`], and the
//! addresses this daemon adds carry address protocol [`IFAPROT_HA_NODE`] (`IFA_PROTO`,
//! Linux 6.3 and later; ignored by older kernels), so that they can be told apart from
//! everything else and removed at start ([`Netlink::clean_stale`]) and at exit.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
};
use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol};
use ospfv3::Ipv6Prefix;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder, RouteNextHopBuilder};
use tokio::sync::mpsc;

/// Routing protocol number on our routes (`proto 89`, OSPF's IP protocol number).
pub const RTPROT_HA_NODE: u8 = 89;
/// Address protocol (`IFA_PROTO`) on the addresses we add (`proto 89` in `ip addr`).
pub const IFAPROT_HA_NODE: u8 = 89;
/// Depth of the channel from the installer to its task, in batches.
pub const INSTALLER_DEPTH: usize = 16;
/// Most changes in one batch.
pub const MAX_BATCH: usize = 256;
/// Most changes waiting in the installer (distinct routes and addresses); beyond it
/// the oldest change is dropped and counted ([`InstallerStats::dropped`]).
pub const MAX_PENDING: usize = 65_536;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;

/// Why a kernel change failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetlinkError {
    /// The rtnetlink socket could not be opened.
    #[error("opening the rtnetlink socket: {0}")]
    Open(String),
    /// The kernel refused the change: `errno` is its error number.
    #[error("{op}: {} (errno {errno})", std::io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The change.
        op: String,
        /// The kernel's error number (positive).
        errno: i32,
    },
    /// The request failed without an error number (socket closed, bad reply).
    #[error("{op}: {message}")]
    Request {
        /// The change.
        op: String,
        /// What went wrong.
        message: String,
    },
    /// An address stayed tentative.
    #[error("{addr} on ifindex {ifindex} still tentative or absent after {waited:?}")]
    Tentative {
        /// The interface.
        ifindex: u32,
        /// The address.
        addr: Ipv6Addr,
        /// How long we waited.
        waited: Duration,
    },
}

impl NetlinkError {
    /// The kernel's error number, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    fn from_rtnl(op: impl Into<String>, e: rtnetlink::Error) -> Self {
        let op = op.into();
        match e {
            rtnetlink::Error::NetlinkError(m) => match m.code {
                Some(code) => NetlinkError::Kernel {
                    op,
                    errno: code.get().saturating_abs(),
                },
                None => NetlinkError::Request {
                    op,
                    message: "unexpected acknowledgement".into(),
                },
            },
            other => NetlinkError::Request {
                op,
                message: other.to_string(),
            },
        }
    }
}

/// A route as the kernel gets it: next hops by interface index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination.
    pub prefix: Ipv6Prefix,
    /// Next hops: gateway (none on a point-to-point link) and interface index.
    pub next_hops: Vec<(Option<Ipv6Addr>, u32)>,
    /// Preferred source address.
    pub src: Option<Ipv6Addr>,
}

/// One kernel change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelOp {
    /// Add an address (no DAD, marked [`IFAPROT_HA_NODE`]); already there is fine.
    AddAddress {
        /// Interface index.
        ifindex: u32,
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length.
        len: u8,
    },
    /// Remove an address; not there is fine.
    DelAddress {
        /// Interface index.
        ifindex: u32,
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length.
        len: u8,
    },
    /// Install or replace a route (protocol [`RTPROT_HA_NODE`]).
    ReplaceRoute(KernelRoute),
    /// Remove a route of ours; not there is fine.
    DeleteRoute(Ipv6Prefix),
}

/// What a change is about: two changes with the same key replace each other while
/// queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKey {
    Address(u32, Ipv6Addr, u8),
    Route(Ipv6Prefix),
}

impl KernelOp {
    fn key(&self) -> OpKey {
        match self {
            KernelOp::AddAddress { ifindex, addr, len }
            | KernelOp::DelAddress { ifindex, addr, len } => OpKey::Address(*ifindex, *addr, *len),
            KernelOp::ReplaceRoute(r) => OpKey::Route(r.prefix),
            KernelOp::DeleteRoute(p) => OpKey::Route(*p),
        }
    }
}

impl std::fmt::Display for KernelOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelOp::AddAddress { ifindex, addr, len } => {
                write!(f, "add address {addr}/{len} on ifindex {ifindex}")
            }
            KernelOp::DelAddress { ifindex, addr, len } => {
                write!(f, "remove address {addr}/{len} from ifindex {ifindex}")
            }
            KernelOp::ReplaceRoute(r) => {
                write!(f, "route {} via", r.prefix)?;
                for (gw, i) in &r.next_hops {
                    match gw {
                        Some(g) => write!(f, " {g}%{i}")?,
                        None => write!(f, " ifindex {i}")?,
                    }
                }
                Ok(())
            }
            KernelOp::DeleteRoute(p) => write!(f, "remove route {p}"),
        }
    }
}

/// An rtnetlink connection (its socket runs in a task of its own).
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the socket and spawns its task on the current tokio runtime.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetlinkError::Open(e.to_string()))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// Applies one change. Already done (an address present, a route absent) is
    /// success, recognised by errno as `ip` reports it (`EEXIST`, `EADDRNOTAVAIL`,
    /// `ESRCH`, `ENOENT`, `ENODEV`).
    pub async fn apply(&self, op: &KernelOp) -> Result<(), NetlinkError> {
        let r = match op {
            KernelOp::AddAddress { ifindex, addr, len } => {
                self.add_address(*ifindex, *addr, *len).await
            }
            KernelOp::DelAddress { ifindex, addr, len } => {
                self.del_address(*ifindex, *addr, *len).await
            }
            KernelOp::ReplaceRoute(r) => self.replace_route(r).await,
            KernelOp::DeleteRoute(p) => self.delete_route(*p).await,
        };
        tracing::debug!(target: "netlink", op = %op, ok = r.is_ok(), "kernel change");
        r
    }

    /// Applies a batch: every request is sent at once on the socket, in order (the
    /// kernel handles them in that order), and the acknowledgements are collected.
    pub async fn apply_batch(&self, ops: &[KernelOp]) -> Vec<Result<(), NetlinkError>> {
        futures::future::join_all(ops.iter().map(|op| self.apply(op))).await
    }

    /// Adds a host address to an interface without DAD (usable at once), marked
    /// [`IFAPROT_HA_NODE`]. An address that is already there is not an error.
    pub async fn add_address(
        &self,
        ifindex: u32,
        addr: Ipv6Addr,
        len: u8,
    ) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .address()
            .add(ifindex, IpAddr::V6(addr), len)
            .replace();
        let m = req.message_mut();
        m.header.flags |= AddressHeaderFlags::Nodad;
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                IFAPROT_HA_NODE,
            )));
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) => match NetlinkError::from_rtnl(format!("add {addr}/{len}"), e) {
                e if e.errno() == Some(EEXIST) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Removes an address; one that is not there (or whose interface is gone) is not
    /// an error.
    pub async fn del_address(
        &self,
        ifindex: u32,
        addr: Ipv6Addr,
        len: u8,
    ) -> Result<(), NetlinkError> {
        let mut m = AddressMessage::default();
        m.header.family = netlink_packet_route::AddressFamily::Inet6;
        m.header.prefix_len = len;
        m.header.index = ifindex;
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V6(addr)));
        match self.handle.address().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) => match NetlinkError::from_rtnl(format!("remove {addr}/{len}"), e) {
                e if matches!(e.errno(), Some(EADDRNOTAVAIL | ENOENT | ENODEV)) => Ok(()),
                e => Err(e),
            },
        }
    }

    fn route_message(prefix: Ipv6Prefix) -> RouteMessageBuilder<Ipv6Addr> {
        RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(prefix.addr, prefix.len)
            .protocol(RouteProtocol::from(RTPROT_HA_NODE))
    }

    /// Installs or replaces a route; one with no next hop is skipped.
    pub async fn replace_route(&self, route: &KernelRoute) -> Result<(), NetlinkError> {
        let mut b = Self::route_message(route.prefix);
        if let Some(src) = route.src {
            b = b.pref_source(src);
        }
        match route.next_hops.as_slice() {
            [] => return Ok(()),
            [(gw, ifindex)] => {
                b = b.output_interface(*ifindex);
                if let Some(g) = gw {
                    b = b.gateway(*g);
                }
            }
            many => {
                let mut hops = Vec::with_capacity(many.len());
                for (gw, ifindex) in many {
                    let mut h = RouteNextHopBuilder::new_ipv6().interface(*ifindex);
                    if let Some(g) = gw {
                        h = h.via(IpAddr::V6(*g)).map_err(|e| NetlinkError::Request {
                            op: format!("route {}", route.prefix),
                            message: e.to_string(),
                        })?;
                    }
                    hops.push(h.build());
                }
                b = b.multipath(hops);
            }
        }
        self.handle
            .route()
            .add(b.build())
            .replace()
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnl(format!("route {}", route.prefix), e))
    }

    /// Removes a route of ours; one that is not there is not an error.
    pub async fn delete_route(&self, prefix: Ipv6Prefix) -> Result<(), NetlinkError> {
        let m = Self::route_message(prefix).build();
        self.delete_route_message(m, format!("remove route {prefix}"))
            .await
    }

    async fn delete_route_message(&self, m: RouteMessage, op: String) -> Result<(), NetlinkError> {
        match self.handle.route().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) => match NetlinkError::from_rtnl(op, e) {
                e if matches!(e.errno(), Some(ESRCH | ENOENT)) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Removes every IPv6 route with protocol [`RTPROT_HA_NODE`]; returns how many.
    pub async fn flush_routes(&self) -> Result<usize, NetlinkError> {
        let dump = RouteMessageBuilder::<Ipv6Addr>::new().build();
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(dump)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnl("dump routes", e))?;
        let ours: Vec<RouteMessage> = routes
            .into_iter()
            .filter(|r| u8::from(r.header.protocol) == RTPROT_HA_NODE)
            .collect();
        let n = ours.len();
        for r in ours {
            let dst = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(d) => Some(format!("{d:?}")),
                _ => None,
            });
            self.delete_route_message(r, format!("remove route {}", dst.unwrap_or_default()))
                .await?;
        }
        Ok(n)
    }

    /// The IPv6 addresses on an interface, with whether each is ours
    /// ([`IFAPROT_HA_NODE`]) and tentative.
    async fn addresses(
        &self,
        ifindex: u32,
    ) -> Result<Vec<(Ipv6Addr, u8, bool, bool)>, NetlinkError> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(|e| {
                NetlinkError::from_rtnl(format!("dump addresses of ifindex {ifindex}"), e)
            })?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.index != ifindex {
                continue;
            }
            let mut addr = None;
            let mut ours = false;
            let mut tentative = m.header.flags.contains(AddressHeaderFlags::Tentative);
            for a in &m.attributes {
                match a {
                    AddressAttribute::Address(IpAddr::V6(v6)) => addr = Some(*v6),
                    AddressAttribute::Protocol(p) => ours = u8::from(*p) == IFAPROT_HA_NODE,
                    AddressAttribute::Flags(f) => tentative |= f.contains(AddressFlags::Tentative),
                    _ => {}
                }
            }
            if let Some(a) = addr {
                out.push((a, m.header.prefix_len, ours, tentative));
            }
        }
        Ok(out)
    }

    /// Removes the state an earlier run may have left: every route of protocol
    /// [`RTPROT_HA_NODE`], the addresses on `lo_ifindex` marked [`IFAPROT_HA_NODE`]
    /// or listed in `also` (for kernels without address protocols), and the links
    /// named in `taps`. Returns (routes, addresses, links) removed.
    pub async fn clean_stale(
        &self,
        lo_ifindex: u32,
        also: &[(Ipv6Addr, u8)],
        taps: &[String],
    ) -> Result<(usize, usize, usize), NetlinkError> {
        let routes = self.flush_routes().await?;
        let mut addrs = 0;
        for (a, len, ours, _) in self.addresses(lo_ifindex).await? {
            if ours || also.contains(&(a, len)) {
                self.del_address(lo_ifindex, a, len).await?;
                addrs += 1;
            }
        }
        let mut links = 0;
        for name in taps {
            if self.delete_link(name).await? {
                links += 1;
            }
        }
        Ok((routes, addrs, links))
    }

    /// Deletes the link named `name`; returns whether there was one.
    pub async fn delete_link(&self, name: &str) -> Result<bool, NetlinkError> {
        let Some(i) = self.link_index(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(i).execute().await {
            Ok(()) => Ok(true),
            Err(e) => match NetlinkError::from_rtnl(format!("delete link {name}"), e) {
                e if e.errno() == Some(ENODEV) => Ok(false),
                e => Err(e),
            },
        }
    }

    /// Removes every address marked [`IFAPROT_HA_NODE`] or listed in `also` from
    /// `ifindex`; returns how many.
    pub async fn flush_addresses(
        &self,
        ifindex: u32,
        also: &[(Ipv6Addr, u8)],
    ) -> Result<usize, NetlinkError> {
        let mut n = 0;
        for (a, len, ours, _) in self.addresses(ifindex).await? {
            if ours || also.contains(&(a, len)) {
                self.del_address(ifindex, a, len).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Sets a link up.
    pub async fn set_link_up(&self, ifindex: u32) -> Result<(), NetlinkError> {
        let up = LinkUnspec::new_with_index(ifindex).up().build();
        self.handle
            .link()
            .set(up)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnl(format!("up on ifindex {ifindex}"), e))
    }

    /// The index of the link named `name`, if there is one.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut s = self.handle.link().get().match_name(name).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(e) => match NetlinkError::from_rtnl(format!("find link {name}"), e) {
                e if matches!(e.errno(), Some(ENODEV | ENOENT)) => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Prepares a TAP device: no automatic link-local address (we set our own,
    /// derived from the MAC); `link_local`/64 without DAD, added while the link is
    /// down (added after `up`, the address stayed tentative for 1.2-2 s here, nodad
    /// notwithstanding; added before, it is usable at once); `mtu`, up. Then checks
    /// (at most 5 s) that the address is no longer tentative, since a socket cannot
    /// bind to it before.
    pub async fn setup_tap(
        &self,
        ifindex: u32,
        mtu: u16,
        link_local: Ipv6Addr,
    ) -> Result<(), NetlinkError> {
        let genmode = LinkUnspec::new_with_index(ifindex)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]))
            .build();
        self.handle
            .link()
            .set(genmode)
            .execute()
            .await
            .map_err(|e| {
                NetlinkError::from_rtnl(format!("addrgenmode none on ifindex {ifindex}"), e)
            })?;
        let down = LinkUnspec::new_with_index(ifindex).down().build();
        self.handle
            .link()
            .set(down)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnl(format!("down on ifindex {ifindex}"), e))?;
        self.add_address(ifindex, link_local, 64).await?;
        let up = LinkUnspec::new_with_index(ifindex)
            .mtu(u32::from(mtu))
            .up()
            .build();
        self.handle.link().set(up).execute().await.map_err(|e| {
            NetlinkError::from_rtnl(format!("mtu {mtu} up on ifindex {ifindex}"), e)
        })?;
        tracing::debug!(target: "netlink", ifindex, "addrgenmode none, {link_local}/64, mtu {mtu}, up");
        let started = Instant::now();
        let waited = Duration::from_secs(5);
        while started.elapsed() < waited {
            let ready = self
                .addresses(ifindex)
                .await?
                .iter()
                .any(|(a, _, _, tentative)| *a == link_local && !tentative);
            if ready {
                tracing::debug!(target: "netlink", ifindex, waited = ?started.elapsed(), "link-local {link_local} ready");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(NetlinkError::Tentative {
            ifindex,
            addr: link_local,
            waited,
        })
    }
}

/// The results of one batch.
#[derive(Debug)]
pub struct KernelReport {
    /// Each change with its result, in the order applied.
    pub results: Vec<(KernelOp, Result<(), NetlinkError>)>,
    /// How long the batch took.
    pub elapsed: Duration,
}

/// Counters of the installer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallerStats {
    /// Changes applied.
    pub ok: u64,
    /// Changes the kernel refused (or that failed otherwise).
    pub failed: u64,
    /// Batches sent to the kernel.
    pub batches: u64,
    /// Changes replaced by a later change of the same object while queued.
    pub coalesced: u64,
    /// Changes dropped because [`MAX_PENDING`] were waiting.
    pub dropped: u64,
    /// Changes waiting now (not yet sent to the task).
    pub pending: u64,
    /// Batches sent and not yet reported.
    pub in_flight: u64,
}

/// The event loop's side of the kernel installer (see the module docs).
#[derive(Debug)]
pub struct Installer {
    tx: mpsc::Sender<Vec<KernelOp>>,
    pending: VecDeque<KernelOp>,
    stats: InstallerStats,
}

/// Spawns the installer task on `nl`; returns the event loop's side and the
/// receiver of its reports (read it, and give each report to
/// [`Installer::note_report`]).
pub fn spawn_installer(nl: Netlink) -> (Installer, mpsc::Receiver<KernelReport>) {
    let (tx, mut rx) = mpsc::channel::<Vec<KernelOp>>(INSTALLER_DEPTH);
    let (report_tx, report_rx) = mpsc::channel(INSTALLER_DEPTH);
    tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            let t0 = Instant::now();
            let results = nl.apply_batch(&batch).await;
            let report = KernelReport {
                results: batch.into_iter().zip(results).collect(),
                elapsed: t0.elapsed(),
            };
            if report_tx.send(report).await.is_err() {
                return;
            }
        }
    });
    (
        Installer {
            tx,
            pending: VecDeque::new(),
            stats: InstallerStats::default(),
        },
        report_rx,
    )
}

impl Installer {
    /// Queues a change (never blocks); a queued change of the same route or address
    /// is replaced. Call [`Installer::flush`] to send.
    pub fn submit(&mut self, op: KernelOp) {
        let key = op.key();
        if let Some(i) = self.pending.iter().position(|p| p.key() == key) {
            self.pending.remove(i);
            self.stats.coalesced += 1;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            self.stats.dropped += 1;
        }
        self.pending.push_back(op);
    }

    /// Sends the queued changes to the task in batches, as far as the channel has
    /// room (never blocks).
    pub fn flush(&mut self) {
        while !self.pending.is_empty() {
            let permit = match self.tx.try_reserve() {
                Ok(p) => p,
                Err(_) => break,
            };
            let n = self.pending.len().min(MAX_BATCH);
            permit.send(self.pending.drain(..n).collect());
            self.stats.batches += 1;
            self.stats.in_flight += 1;
        }
    }

    /// Accounts a report of the task (and sends what waited for room).
    pub fn note_report(&mut self, report: &KernelReport) {
        self.stats.in_flight = self.stats.in_flight.saturating_sub(1);
        for (_, r) in &report.results {
            match r {
                Ok(()) => self.stats.ok += 1,
                Err(_) => self.stats.failed += 1,
            }
        }
        self.flush();
    }

    /// Nothing queued and nothing in flight.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.stats.in_flight == 0
    }

    /// The counters.
    pub fn stats(&self) -> InstallerStats {
        InstallerStats {
            pending: self.pending.len() as u64,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pfx(p: &str) -> Ipv6Prefix {
        let (a, l) = p.split_once('/').unwrap();
        Ipv6Prefix::new(a.parse().unwrap(), l.parse().unwrap())
    }

    fn route(p: &str, hop: u32) -> KernelOp {
        KernelOp::ReplaceRoute(KernelRoute {
            prefix: pfx(p),
            next_hops: vec![(None, hop)],
            src: None,
        })
    }

    #[tokio::test]
    async fn installer_coalesces_per_object_and_keeps_order() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut inst = Installer {
            tx,
            pending: VecDeque::new(),
            stats: InstallerStats::default(),
        };
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        inst.submit(route("2001:db8:1::/64", 5));
        inst.submit(KernelOp::AddAddress {
            ifindex: 1,
            addr: a,
            len: 128,
        });
        inst.submit(route("2001:db8:2::/64", 5));
        inst.submit(KernelOp::DeleteRoute(pfx("2001:db8:1::/64")));
        inst.submit(KernelOp::DelAddress {
            ifindex: 1,
            addr: a,
            len: 128,
        });
        assert_eq!(inst.stats().coalesced, 2);
        inst.flush();
        let batch = rx.recv().await.unwrap();
        assert_eq!(
            batch,
            vec![
                route("2001:db8:2::/64", 5),
                KernelOp::DeleteRoute(pfx("2001:db8:1::/64")),
                KernelOp::DelAddress {
                    ifindex: 1,
                    addr: a,
                    len: 128
                },
            ]
        );
        assert_eq!(inst.stats().in_flight, 1);
        assert!(!inst.is_idle());
    }

    #[tokio::test]
    async fn installer_waits_for_room_without_blocking() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut inst = Installer {
            tx,
            pending: VecDeque::new(),
            stats: InstallerStats::default(),
        };
        inst.submit(route("2001:db8:1::/64", 5));
        inst.flush();
        inst.submit(route("2001:db8:2::/64", 5));
        inst.flush(); // channel full: stays queued
        assert_eq!(inst.stats().pending, 1);
        let first = rx.recv().await.unwrap();
        inst.note_report(&KernelReport {
            results: first.into_iter().map(|o| (o, Ok(()))).collect(),
            elapsed: Duration::ZERO,
        });
        assert_eq!(inst.stats().pending, 0);
        assert_eq!(rx.recv().await.unwrap(), vec![route("2001:db8:2::/64", 5)]);
        assert_eq!(inst.stats().ok, 1);
    }

    #[test]
    fn kernel_errors_keep_their_errno() {
        let e = NetlinkError::Kernel {
            op: "add".into(),
            errno: EEXIST,
        };
        assert_eq!(e.errno(), Some(EEXIST));
        assert!(e.to_string().contains("File exists"), "{e}");
    }
}
