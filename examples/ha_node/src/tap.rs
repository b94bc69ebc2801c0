//! TAP devices, one per pseudowire, through the `tun-rs` crate.
//!
//! `tun-rs` wraps `/dev/net/tun` and its ioctls (which need `unsafe`, forbidden in
//! this workspace) and integrates with tokio. Each device gets a locally administered
//! MAC derived from the node's Router ID and the peer's position, and the modified
//! EUI-64 link-local address of that MAC, set without DAD so that OSPFv3 can bind to
//! it at once (over rtnetlink, [`crate::netlink`]). A device deleted under the daemon
//! is noticed by [`is_gone`] and opened again by the daemon's self-healing
//! ([`crate::selfheal`]).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use tun_rs::{AsyncDevice, DeviceBuilder, Layer};

use crate::frame::{Mac, link_local_for};
use crate::netlink::{self, Netlink};

/// One TAP device.
#[derive(Clone)]
pub struct Tap {
    /// Device name.
    pub name: String,
    /// Kernel interface index.
    pub ifindex: u32,
    /// MAC address.
    pub mac: Mac,
    /// Link-local address.
    pub link_local: Ipv6Addr,
    /// The device, shared by the reader task and the writer.
    pub dev: Arc<AsyncDevice>,
    /// The other queues of a multi-queue TAP (`IFF_MULTI_QUEUE`, opened by
    /// [`crate::dataplane::open_tap`] for the data plane's threads), non-blocking;
    /// empty for a single-queue device.
    pub queues: Vec<Arc<tun_rs::SyncDevice>>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("name", &self.name)
            .field("ifindex", &self.ifindex)
            .field("link_local", &self.link_local)
            .finish()
    }
}

/// Why a TAP device could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// Creating the device failed (no `/dev/net/tun`, not root, name taken).
    #[error("creating TAP {name}: {source}")]
    Create {
        /// The device name.
        name: String,
        /// The error.
        source: std::io::Error,
    },
    /// The device has no interface index.
    #[error("TAP {0} has no interface index")]
    NoIndex(String),
    /// Setting the link up or its address failed.
    #[error("configuring TAP: {0}")]
    Netlink(#[from] netlink::NetlinkError),
}

/// The MAC of the TAP towards peer number `peer_index` on the node `router_id`.
pub fn tap_mac(router_id: Ipv4Addr, peer_index: u8) -> Mac {
    let r = router_id.octets();
    [0x02, r[0] ^ r[1], r[2], r[3], 0x70, peer_index]
}

/// Creates the TAP device, brings it up with `mtu` and its link-local address.
pub async fn open(nl: &Netlink, name: &str, mac: Mac, mtu: u16) -> Result<Tap, TapError> {
    let dev = DeviceBuilder::new()
        .name(name)
        .layer(Layer::L2)
        .mac_addr(mac)
        .mtu(mtu)
        .build_async()
        .map_err(|source| TapError::Create {
            name: name.into(),
            source,
        })?;
    ready(nl, name, mac, mtu, dev, Vec::new()).await
}

/// A created TAP device (`dev` and its extra `queues`) given its link-local
/// address and MTU and brought up: the [`Tap`] the daemon keeps.
pub(crate) async fn ready(
    nl: &Netlink,
    name: &str,
    mac: Mac,
    mtu: u16,
    dev: AsyncDevice,
    queues: Vec<Arc<tun_rs::SyncDevice>>,
) -> Result<Tap, TapError> {
    let ifindex =
        nix::net::if_::if_nametoindex(name).map_err(|_| TapError::NoIndex(name.into()))?;
    tracing::debug!(target: "netlink", ifindex, "TAP {name} created");
    let link_local = link_local_for(mac);
    nl.setup_tap(ifindex, mtu, link_local).await?;
    Ok(Tap {
        name: name.into(),
        ifindex,
        mac,
        link_local,
        dev: Arc::new(dev),
        queues,
    })
}

/// Whether the device `tap` was opened as is gone: no interface of that name, or one
/// with another index (deleted and made again by someone else).
pub fn is_gone(tap: &Tap) -> bool {
    nix::net::if_::if_nametoindex(tap.name.as_str()) != Ok(tap.ifindex)
}
