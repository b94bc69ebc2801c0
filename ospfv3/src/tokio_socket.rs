//! The async raw IPv6 socket for OSPFv3 on tokio (feature `tokio`, Linux).
//!
//! See [`RawSocket`].

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::engine::{ALL_D_ROUTERS, ALL_SPF_ROUTERS};

/// The IP protocol number of OSPF.
pub const OSPF_PROTOCOL: i32 = 89;

/// How to open a [`RawSocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawSocketConfig {
    /// Interface name (for `SO_BINDTODEVICE` and the interface index).
    pub ifname: String,
    /// The interface's link-local address: the socket binds to it, so it is the source
    /// of every packet sent.
    pub link_local: Ipv6Addr,
    /// Join AllDRouters (ff02::6) as well as AllSPFRouters (ff02::5). Default `true`
    /// (what a broadcast interface that may become DR or BDR needs; harmless on
    /// point-to-point links).
    pub all_d_routers: bool,
    /// Hop limit of every packet sent, unicast and multicast. Default 1 (RFC 5340).
    pub hop_limit: u8,
    /// When set, received datagrams with any other hop limit are dropped and counted
    /// in [`RawSocketStats::hop_limit_dropped`]. Default `None`: accept any.
    pub required_hop_limit: Option<u8>,
}

impl RawSocketConfig {
    /// The defaults for interface `ifname` with link-local address `link_local`.
    pub fn new(ifname: impl Into<String>, link_local: Ipv6Addr) -> Self {
        RawSocketConfig {
            ifname: ifname.into(),
            link_local,
            all_d_routers: true,
            hop_limit: 1,
            required_hop_limit: None,
        }
    }
}

/// What the IPv6 header and the kernel said about one received datagram; the OSPFv3
/// packet itself is in the caller's buffer, `buf[..len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// Length of the OSPFv3 packet written to the caller's buffer.
    pub len: usize,
    /// Source address (a neighbor's link-local address).
    pub src: Ipv6Addr,
    /// Destination address (ff02::5, ff02::6 or this router's link-local address).
    pub dst: Ipv6Addr,
    /// Index of the interface the datagram arrived on.
    pub ifindex: u32,
    /// The IPv6 hop limit it arrived with.
    pub hop_limit: u8,
}

/// Counters of what [`RawSocket::recv`] received and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawSocketStats {
    /// Datagrams handed to the caller.
    pub received: u64,
    /// Dropped: hop limit other than [`RawSocketConfig::required_hop_limit`].
    pub hop_limit_dropped: u64,
    /// Dropped: larger than the caller's buffer.
    pub truncated: u64,
    /// Dropped: no source address, packet info or hop limit from the kernel.
    pub missing_info: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    hop_limit_dropped: AtomicU64,
    truncated: AtomicU64,
    missing_info: AtomicU64,
}

/// Control-message space for `in6_pktinfo` and the hop limit, aligned for `cmsghdr`,
/// so receiving allocates nothing.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// An OSPFv3 raw socket on one interface, registered with the tokio reactor. `&self`
/// methods, so one `Arc<RawSocket>` can serve a reader task and a sender.
///
/// Thin on purpose: socket setup and framing only, no protocol logic. The engine
/// ([`crate::Router`]) decides what to send where and checks everything it receives
/// (checksum, authentication, area, instance); this socket moves datagrams and tells
/// the engine what the IPv6 header said about them.
///
/// Setup, the same for the daemon and the interop runner:
/// * a raw IPv6 socket for protocol 89, bound to the interface (`SO_BINDTODEVICE`) and
///   to its link-local address (the source of every packet sent);
/// * joined to AllSPFRouters (ff02::5) and, unless switched off, AllDRouters (ff02::6),
///   and receiving only the groups it joined itself (`IPV6_MULTICAST_ALL` off: other
///   sockets' memberships on the interface do not leak in);
/// * sent with hop limit 1 for unicast and multicast (RFC 5340 section A.1: OSPF
///   packets travel a single hop), multicast loopback off;
/// * no `IPV6_CHECKSUM` offload: the engine computes and verifies the OSPFv3 checksum
///   itself (it covers the pseudo-header, which the engine knows from [`Received`]);
/// * `IPV6_RECVPKTINFO` and `IPV6_RECVHOPLIMIT` on, so each datagram comes with its
///   destination address, arrival interface and hop limit.
///
/// The received hop limit is reported, and by default not filtered: RFC 5340 senders
/// (FRRouting's ospf6d among them) use hop limit 1, which a receiver cannot tell from
/// an off-link packet sent with 2, so a check would reject nothing useful. Where every
/// router on the link sends with 255 (the GTSM idea of RFC 5082), set
/// [`RawSocketConfig::hop_limit`] and [`RawSocketConfig::required_hop_limit`] to 255 and
/// the socket drops (and counts) everything else.
///
/// Driving a [`Router`](crate::Router) on one interface (needs `CAP_NET_RAW`):
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use ospfv3::{InterfaceConfig, RawSocket, RawSocketConfig, Router, RouterConfig};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> std::io::Result<()> {
///     let ll = "fe80::1".parse().unwrap(); // the interface's link-local address
///     let sock = RawSocket::open(&RawSocketConfig::new("tap0", ll))?;
///     let mut router = Router::new(RouterConfig::new([1, 1, 1, 1].into()), StdRng::seed_from_u64(1));
///     router.add_interface(Instant::now(), sock.ifindex(), InterfaceConfig::point_to_point(ll));
///     let mut buf = vec![0u8; 65535];
///     loop {
///         while let Some(t) = router.poll_transmit() {
///             sock.send(t.dst, &t.bytes).await?; // one interface: t.ifindex == sock.ifindex()
///         }
///         let wake = router.poll_timeout().unwrap_or(Instant::now() + Duration::from_secs(1));
///         tokio::select! {
///             r = sock.recv(&mut buf) => {
///                 let r = r?;
///                 router.handle_packet(Instant::now(), r.ifindex, r.src, r.dst, &buf[..r.len]);
///             }
///             () = tokio::time::sleep_until(wake.into()) => router.handle_timeout(Instant::now()),
///         }
///     }
/// }
/// ```
///
/// The raw socket is registered through [`tokio::net::UdpSocket`], which is only a
/// readiness wrapper around a datagram file descriptor here: registering it that way
/// needs no `unsafe` (unlike `AsyncFd::register`). Only `sendto` and `recvmsg` are
/// called on it.
#[derive(Debug)]
pub struct RawSocket {
    sock: UdpSocket,
    ifindex: u32,
    required_hop_limit: Option<u8>,
    counters: Counters,
}

impl RawSocket {
    /// Opens and sets up the socket (see [`RawSocket`]). Needs
    /// `CAP_NET_RAW` and must be called from within a tokio runtime.
    pub fn open(config: &RawSocketConfig) -> io::Result<Self> {
        let ifindex = nix::net::if_::if_nametoindex(config.ifname.as_str())?;
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(OSPF_PROTOCOL)))?;
        sock.bind_device(Some(config.ifname.as_bytes()))?;
        sock.bind(&SockAddr::from(SocketAddrV6::new(
            config.link_local,
            0,
            0,
            ifindex,
        )))?;
        sock.join_multicast_v6(&ALL_SPF_ROUTERS, ifindex)?;
        if config.all_d_routers {
            sock.join_multicast_v6(&ALL_D_ROUTERS, ifindex)?;
        }
        sock.set_multicast_if_v6(ifindex)?;
        sock.set_multicast_loop_v6(false)?;
        sock.set_multicast_all_v6(false)?;
        sock.set_multicast_hops_v6(u32::from(config.hop_limit))?;
        sock.set_unicast_hops_v6(u32::from(config.hop_limit))?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
        setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
        sock.set_nonblocking(true)?;
        Ok(RawSocket {
            sock: UdpSocket::from_std(sock.into())?,
            ifindex,
            required_hop_limit: config.required_hop_limit,
            counters: Counters::default(),
        })
    }

    /// Index of the interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one OSPFv3 packet (checksum already filled in) to `dst`: ff02::5, ff02::6
    /// or a neighbor's link-local address, on this socket's interface. This is where an
    /// engine `Transmit` for [`ifindex`](Self::ifindex) goes: `send(t.dst, &t.bytes)`.
    pub async fn send(&self, dst: Ipv6Addr, packet: &[u8]) -> io::Result<usize> {
        let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, self.ifindex));
        self.sock
            .async_io(Interest::WRITABLE, || {
                socket2::SockRef::from(&self.sock).send_to(packet, &to)
            })
            .await
    }

    /// Waits for the next OSPFv3 datagram, writes it to `buf` and says where it came
    /// from. Datagrams larger than `buf` (use 65 535 bytes to never lose one), without
    /// the kernel's packet info, or failing the hop-limit requirement are dropped and
    /// counted ([`stats`](Self::stats)); the call then waits for the next one.
    ///
    /// Cancel-safe (usable in `tokio::select!`): a datagram leaves the socket only in
    /// the step that returns it (or drops and counts it), never across an `.await`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let got = self
                .sock
                .async_io(Interest::READABLE, || recv_one(&self.sock, buf))
                .await?;
            match got {
                Ok(r) => match self.required_hop_limit {
                    Some(h) if r.hop_limit != h => {
                        self.counters
                            .hop_limit_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        self.counters.received.fetch_add(1, Ordering::Relaxed);
                        return Ok(r);
                    }
                },
                Err(Discard::Truncated) => {
                    self.counters.truncated.fetch_add(1, Ordering::Relaxed);
                }
                Err(Discard::MissingInfo) => {
                    self.counters.missing_info.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// What [`recv`](Self::recv) has received and dropped so far.
    pub fn stats(&self) -> RawSocketStats {
        let c = &self.counters;
        RawSocketStats {
            received: c.received.load(Ordering::Relaxed),
            hop_limit_dropped: c.hop_limit_dropped.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            missing_info: c.missing_info.load(Ordering::Relaxed),
        }
    }
}

/// Why one datagram read from the socket is not handed to the caller.
enum Discard {
    Truncated,
    MissingInfo,
}

/// One non-blocking `recvmsg`: the outer error is the socket's (`WouldBlock` included),
/// the inner one a datagram to drop.
fn recv_one(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Result<Received, Discard>> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = CmsgBuf([0; 128]);
    let msg = recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg.0),
        MsgFlags::MSG_DONTWAIT,
    )?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Ok(Err(Discard::Truncated));
    }
    let src = msg.address.map(|a| a.ip());
    let (mut dst, mut ifindex, mut hop_limit) = (None, None, None);
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(pi) => {
                dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                ifindex = Some(pi.ipi6_ifindex);
            }
            ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
            _ => {}
        }
    }
    Ok(match (src, dst, ifindex, hop_limit) {
        (Some(src), Some(dst), Some(ifindex), Some(hop_limit)) => Ok(Received {
            len: msg.bytes,
            src,
            dst,
            ifindex,
            hop_limit,
        }),
        _ => Err(Discard::MissingInfo),
    })
}
