//! OSPFv3 over a raw IPv6 socket (protocol 89) on one TAP interface.
//!
//! The socket is bound to the device (SO_BINDTODEVICE) and to its link-local address,
//! joins AllSPFRouters and AllDRouters, sends with hop limit 1 and no multicast loop,
//! and asks for IPV6_PKTINFO so that the engine learns each packet's destination. The
//! engine computes the OSPFv3 checksum itself. `socket2` and `nix` wrap the system
//! calls; a blocking reader thread per socket hands packets to the daemon's event loop
//! through a channel.

use std::io::IoSliceMut;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::sync::mpsc;

use crate::tap::Tap;

/// One received OSPFv3 packet.
#[derive(Debug)]
pub struct OspfIn {
    /// Interface it arrived on.
    pub ifindex: u32,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The OSPFv3 packet.
    pub bytes: Vec<u8>,
}

/// The raw socket of one interface.
#[derive(Debug, Clone)]
pub struct OspfSocket {
    sock: Arc<Socket>,
    ifindex: u32,
    stop: Arc<AtomicBool>,
}

impl OspfSocket {
    /// Opens the socket on `tap` and starts its reader thread, which sends every
    /// packet to `tx`.
    pub fn open(tap: &Tap, tx: mpsc::Sender<OspfIn>) -> std::io::Result<Self> {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(89)))?;
        sock.bind_device(Some(tap.name.as_bytes()))?;
        sock.bind(&SockAddr::from(SocketAddrV6::new(
            tap.link_local,
            0,
            0,
            tap.ifindex,
        )))?;
        for g in [
            ospfv3::engine::ALL_SPF_ROUTERS,
            ospfv3::engine::ALL_D_ROUTERS,
        ] {
            sock.join_multicast_v6(&g, tap.ifindex)?;
        }
        sock.set_multicast_loop_v6(false)?;
        sock.set_multicast_hops_v6(1)?;
        sock.set_unicast_hops_v6(1)?;
        sock.set_multicast_if_v6(tap.ifindex)?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).map_err(std::io::Error::from)?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        let sock = Arc::new(sock);
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, ifindex) = (sock.clone(), stop.clone(), tap.ifindex);
        std::thread::Builder::new()
            .name(format!("ospf-{}", tap.name))
            .spawn(move || reader(&r, ifindex, &s, &tx))?;
        Ok(OspfSocket {
            sock,
            ifindex: tap.ifindex,
            stop,
        })
    }

    /// Sends one OSPFv3 packet to `dst` (ff02::5, ff02::6 or a neighbor).
    pub fn send(&self, dst: Ipv6Addr, bytes: &[u8]) -> std::io::Result<usize> {
        self.sock.send_to(
            bytes,
            &SockAddr::from(SocketAddrV6::new(dst, 0, 0, self.ifindex)),
        )
    }

    /// Stops the reader thread (within its read timeout).
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn reader(sock: &Socket, ifindex: u32, stop: &AtomicBool, tx: &mpsc::Sender<OspfIn>) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo);
        let got = recvmsg::<SockaddrIn6>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        );
        let (len, src, dst) = match got {
            Ok(msg) => {
                let src = msg.address.map(|a| a.ip());
                let mut dst = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::Ipv6PacketInfo(pi) = c {
                            dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                        }
                    }
                }
                (msg.bytes, src, dst)
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!("OSPFv3 socket on ifindex {ifindex}: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let (Some(src), Some(dst)) = (src, dst) else {
            continue;
        };
        let bytes = buf[..len.min(buf.len())].to_vec();
        if tx
            .blocking_send(OspfIn {
                ifindex,
                src,
                dst,
                bytes,
            })
            .is_err()
        {
            return;
        }
    }
}
