//! The tokio UDP adapter (feature `tokio`): socket setup and framing only.
//!
//! A [`BfdSocket`] sends with TTL / hop limit 255 ([`encap::TTL`]) and reports the TTL
//! / hop limit each datagram arrived with (`IP_RECVTTL` / `IPV6_RECVHOPLIMIT`), which
//! the caller hands to [`Session::handle_packet`](crate::Session::handle_packet): the
//! session drops anything but 255 (RFC 5881 5). RFC 5881 4 wants two kinds of socket:
//! one receiving on [`encap::CONTROL_PORT`] (3784) for all sessions, and per session
//! one sending from a port in [`encap::SOURCE_PORTS`] (see
//! [`encap::random_source_port`]); both are a `BfdSocket`.
//!
//! The socket is registered through [`tokio::net::UdpSocket`]; the control messages
//! are read with `nix`'s `recvmsg`, so the adapter needs no `unsafe`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::encap;

/// One datagram received by [`BfdSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// Bytes written to the caller's buffer.
    pub len: usize,
    /// The sender.
    pub src: SocketAddr,
    /// The TTL (IPv4) or hop limit (IPv6) the datagram arrived with; 0 when the kernel
    /// did not report it (which `Session::handle_packet` then refuses).
    pub ttl: u8,
}

/// Control-message space for the TTL / hop limit, aligned for `cmsghdr`, so receiving
/// allocates nothing.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// A BFD UDP socket registered with the tokio reactor (see the [module](self) docs).
/// `&self` methods, so one `Arc<BfdSocket>` can serve a reader task and a sender.
#[derive(Debug)]
pub struct BfdSocket {
    sock: UdpSocket,
}

impl BfdSocket {
    /// Binds a UDP socket to `addr` (for a link-local IPv6 address, with its scope
    /// id), sending with TTL / hop limit 255 and receiving the TTL / hop limit of each
    /// datagram. Must be called from within a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv4() {
            sock.set_ttl_v4(u32::from(encap::TTL))?;
            setsockopt(&sock, sockopt::Ipv4RecvTtl, &true)?;
        } else {
            sock.set_only_v6(true)?;
            sock.set_unicast_hops_v6(u32::from(encap::TTL))?;
            setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
        }
        sock.set_reuse_address(true)?;
        sock.bind(&SockAddr::from(addr))?;
        sock.set_nonblocking(true)?;
        Ok(BfdSocket {
            sock: UdpSocket::from_std(sock.into())?,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends one Control packet ([`Transmit::payload`](crate::Transmit::payload)) to
    /// `dst` (port [`encap::CONTROL_PORT`] in production).
    pub async fn send_to(&self, payload: &[u8], dst: SocketAddr) -> io::Result<usize> {
        self.sock.send_to(payload, dst).await
    }

    /// Waits for the next datagram, writes it to `buf` (64 bytes hold any Control
    /// packet this crate accepts; longer datagrams are cut, and the session then
    /// refuses them) and says who sent it with which TTL / hop limit.
    ///
    /// Cancel-safe: a datagram leaves the socket only in the step that returns it.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.sock
            .async_io(Interest::READABLE, || recv_one(&self.sock, buf))
            .await
    }
}

fn recv_one(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = CmsgBuf([0; 64]);
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg.0),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let mut ttl = 0;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) => ttl = u8::try_from(t).unwrap_or(0),
            ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).unwrap_or(0),
            _ => {}
        }
    }
    let src = msg
        .address
        .as_ref()
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
                })
        })
        .ok_or_else(|| io::Error::other("recvmsg returned no IP source address"))?;
    Ok(Received {
        len: msg.bytes,
        src,
        ttl,
    })
}
