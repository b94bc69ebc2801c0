//! Self-healing of the daemon's devices: the I/O tasks of a TAP device, and its
//! recreation when it disappears.
//!
//! Each TAP device has up to three reader tasks (frames, OSPFv3 raw socket, BFD
//! socket) feeding the event loop's channels; [`TapIo`] owns them and stops them when
//! dropped. The event loop checks every [`CHECK_INTERVAL`] that each device still
//! exists under its name and index ([`crate::tap::is_gone`]); a device that is gone
//! (`ip link del`, a driver reset) has its tasks stopped, its interface detached from
//! the core (the OSPFv3 interface and BFD sessions on it end, the pseudowire stays),
//! and is opened again by a task of its own ([`spawn_reopen`], retried with capped
//! exponential back-off, [`reopen_delay`]) so that the event loop never waits for
//! it. When the device is back, the loop starts its tasks and attaches the
//! pseudowire to it again: OSPFv3 comes back on it.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use ospfv3::{RawSocket, RawSocketConfig, Received};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::daemon::DaemonError;
use crate::frame::Mac;
use crate::netlink::Netlink;
use crate::tap::{self, Tap, TapError};

/// How often the devices are checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// First delay before reopening a device.
pub const REOPEN_MIN: Duration = Duration::from_millis(200);
/// Longest delay between two attempts to reopen a device.
pub const REOPEN_MAX: Duration = Duration::from_secs(10);

/// Largest frame or packet read.
const BUF: usize = 65536;

/// Delay before attempt `attempt` (0 first) to reopen a device: doubling from
/// [`REOPEN_MIN`], capped at [`REOPEN_MAX`].
pub fn reopen_delay(attempt: u32) -> Duration {
    REOPEN_MIN
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(REOPEN_MAX)
}

/// The event loop's channels the reader tasks feed.
#[derive(Clone)]
pub struct TapChannels {
    /// Frames read from a TAP: (ifindex, frame).
    pub frames: mpsc::Sender<(u32, Vec<u8>)>,
    /// OSPFv3 packets.
    pub ospf: mpsc::Sender<(Received, Vec<u8>)>,
    /// BFD Control packets: (ifindex, source, bytes, hop limit).
    pub bfd: mpsc::Sender<(u32, Ipv6Addr, Vec<u8>, u8)>,
}

/// The reader tasks of one TAP device (stopped when dropped) and its OSPFv3 socket.
pub struct TapIo {
    /// The OSPFv3 socket, when OSPFv3 runs.
    pub ospf: Option<Arc<RawSocket>>,
    tasks: Vec<AbortHandle>,
}

impl Drop for TapIo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Starts the reader tasks of `t`: frames always; with `ospf`, the OSPFv3 raw socket
/// and the BFD socket (RFC 5881: port 3784 on the link-local address).
pub fn start_io(t: &Tap, ospf: bool, ch: &TapChannels) -> Result<TapIo, DaemonError> {
    let mut io_ = TapIo {
        ospf: None,
        tasks: Vec::new(),
    };
    if ospf {
        let sock = RawSocket::open(&RawSocketConfig::new(&t.name, t.link_local))
            .map(Arc::new)
            .map_err(io(format!("OSPFv3 raw socket on {}", t.name)))?;
        let (s, tx) = (sock.clone(), ch.ospf.clone());
        io_.tasks.push(
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    match s.recv(&mut buf).await {
                        Ok(r) => {
                            if tx.send((r, buf[..r.len].to_vec())).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("OSPFv3 socket on ifindex {}: {e}", s.ifindex());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
            .abort_handle(),
        );
        io_.ospf = Some(sock);
        let at = SocketAddr::V6(SocketAddrV6::new(
            t.link_local,
            bfd::encap::CONTROL_PORT,
            0,
            t.ifindex,
        ));
        let bsock = bfd::tokio_udp::BfdSocket::bind(at).map_err(io(format!("BFD socket {at}")))?;
        let (ifindex, tx) = (t.ifindex, ch.bfd.clone());
        io_.tasks.push(
            tokio::spawn(async move {
                let mut buf = [0u8; 128];
                loop {
                    match bsock.recv(&mut buf).await {
                        Ok(r) => {
                            let SocketAddr::V6(src) = r.src else { continue };
                            let bytes = buf[..r.len.min(buf.len())].to_vec();
                            if tx.send((ifindex, *src.ip(), bytes, r.ttl)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("BFD socket on ifindex {ifindex}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
            .abort_handle(),
        );
    }
    if crate::dataplane::reads_tap(&t.name) {
        return Ok(io_); // the batched data plane reads this TAP itself
    }
    let (dev, ifindex, tx) = (t.dev.clone(), t.ifindex, ch.frames.clone());
    io_.tasks.push(
        tokio::spawn(async move {
            let mut buf = vec![0u8; BUF];
            loop {
                match dev.recv(&mut buf).await {
                    Ok(n) => {
                        if tx.send((ifindex, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("TAP read: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
        .abort_handle(),
    );
    Ok(io_)
}

/// What is needed to open a peer's TAP device again.
#[derive(Debug, Clone)]
pub struct TapSpec {
    /// The peer (underlay address) the device carries.
    pub peer: SocketAddr,
    /// Device name.
    pub name: String,
    /// MAC address.
    pub mac: Mac,
    /// MTU.
    pub mtu: u16,
}

/// A device reopened (or the last error, after which the loop tries again).
pub type Reopened = (TapSpec, u32, Result<Tap, TapError>);

/// Reopens `spec`'s device after [`reopen_delay`]`(attempt)` in a task of its own: a
/// leftover device of that name is removed first; the result goes to `done`.
pub fn spawn_reopen(nl: Netlink, spec: TapSpec, attempt: u32, done: mpsc::Sender<Reopened>) {
    tokio::spawn(async move {
        tokio::time::sleep(reopen_delay(attempt)).await;
        if let Ok(true) = nl.delete_link(&spec.name).await {
            tracing::info!(tap = %spec.name, "removed a leftover link {}", spec.name);
        }
        let r = tap::open(&nl, &spec.name, spec.mac, spec.mtu).await;
        let _ = done.send((spec, attempt, r)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_delay_doubles_and_is_capped() {
        assert_eq!(reopen_delay(0), REOPEN_MIN);
        assert_eq!(reopen_delay(1), REOPEN_MIN * 2);
        assert_eq!(reopen_delay(3), REOPEN_MIN * 8);
        assert_eq!(reopen_delay(10), REOPEN_MAX);
        assert_eq!(reopen_delay(u32::MAX), REOPEN_MAX);
    }
}
