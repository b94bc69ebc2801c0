//! Kernel state: addresses, routes and link settings.
//!
//! Every change goes through iproute2 (`ip`), which speaks rtnetlink to the kernel: it
//! is present wherever this daemon can run, needs no `unsafe` here, and each command
//! is the one an operator would type, so the log doubles as a runbook. Routes learned
//! from OSPFv3 are installed with protocol number [`RTPROT_HA_NODE`] so that they can
//! be told apart and flushed on exit.

use std::net::Ipv6Addr;

use ospfv3::{Ipv6Prefix, Route};
use tokio::process::Command;

/// Routing protocol number on our routes (`proto 89`, OSPF's IP protocol number).
pub const RTPROT_HA_NODE: u8 = 89;

/// Why a kernel change failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// `ip` could not be started.
    #[error("running ip {args}: {source}")]
    Spawn {
        /// The arguments.
        args: String,
        /// The error.
        source: std::io::Error,
    },
    /// `ip` exited non-zero.
    #[error("ip {args}: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What it printed.
        stderr: String,
    },
}

/// Runs `ip ARGS`.
pub async fn ip(args: &[String]) -> Result<(), NetlinkError> {
    let joined = args.join(" ");
    tracing::debug!(target: "netlink", "ip {joined}");
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|source| NetlinkError::Spawn {
            args: joined.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetlinkError::Failed {
            args: joined,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Adds a host address to a device (`nodad`: no duplicate address detection, the
/// address is usable at once). An address that is already there is not an error.
pub async fn add_address(dev: &str, addr: Ipv6Addr, len: u8) -> Result<(), NetlinkError> {
    let a = format!("{addr}/{len}");
    match ip(&s(&["-6", "addr", "replace", &a, "dev", dev, "nodad"])).await {
        Ok(()) => Ok(()),
        Err(NetlinkError::Failed { stderr, .. }) if stderr.contains("File exists") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes an address from a device; an address that is not there is not an error.
pub async fn del_address(dev: &str, addr: Ipv6Addr, len: u8) -> Result<(), NetlinkError> {
    let a = format!("{addr}/{len}");
    match ip(&s(&["-6", "addr", "del", &a, "dev", dev])).await {
        Ok(()) => Ok(()),
        Err(NetlinkError::Failed { stderr, .. })
            if stderr.contains("Cannot assign") || stderr.contains("not found") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Prepares a TAP device: no automatic link-local (we set our own, derived from the
/// MAC), MTU, up.
pub async fn setup_tap(dev: &str, mtu: u16, link_local: Ipv6Addr) -> Result<(), NetlinkError> {
    ip(&s(&["link", "set", "dev", dev, "addrgenmode", "none"])).await?;
    ip(&s(&[
        "link",
        "set",
        "dev",
        dev,
        "mtu",
        &mtu.to_string(),
        "up",
    ]))
    .await?;
    add_address(dev, link_local, 64).await?;
    // Even with `nodad` the address stays tentative until the link is running, and a
    // socket cannot bind to it before then: wait for it (at most 5 s).
    for _ in 0..100 {
        let out = Command::new("ip")
            .args(["-6", "addr", "show", "dev", dev])
            .output()
            .await
            .map_err(|source| NetlinkError::Spawn {
                args: format!("-6 addr show dev {dev}"),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains(&link_local.to_string()) && !text.contains("tentative") {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(NetlinkError::Failed {
        args: format!("-6 addr show dev {dev}"),
        stderr: format!("{link_local} still tentative or absent after 5 s"),
    })
}

/// Installs (or replaces) a route learned from OSPFv3. `names` maps interface indexes
/// to device names; `src` is the preferred source address, if configured.
pub async fn replace_route(
    route: &Route,
    names: &dyn Fn(u32) -> Option<String>,
    src: Option<Ipv6Addr>,
) -> Result<(), NetlinkError> {
    let mut args = s(&["-6", "route", "replace", &route.prefix.to_string()]);
    args.extend(s(&["proto", &RTPROT_HA_NODE.to_string()]));
    if let Some(src) = src {
        args.extend(s(&["src", &src.to_string()]));
    }
    let hops: Vec<(Option<Ipv6Addr>, String)> = route
        .next_hops
        .iter()
        .filter_map(|nh| names(nh.ifindex).map(|n| (nh.addr, n)))
        .collect();
    match hops.as_slice() {
        [] => return Ok(()),
        [(addr, dev)] => {
            if let Some(a) = addr {
                args.extend(s(&["via", &a.to_string()]));
            }
            args.extend(s(&["dev", dev]));
        }
        many => {
            for (addr, dev) in many {
                args.push("nexthop".into());
                if let Some(a) = addr {
                    args.extend(s(&["via", &a.to_string()]));
                }
                args.extend(s(&["dev", dev]));
            }
        }
    }
    ip(&args).await
}

/// Removes a route we installed.
pub async fn delete_route(prefix: Ipv6Prefix) -> Result<(), NetlinkError> {
    let p = prefix.to_string();
    match ip(&s(&[
        "-6",
        "route",
        "del",
        &p,
        "proto",
        &RTPROT_HA_NODE.to_string(),
    ]))
    .await
    {
        Err(NetlinkError::Failed { stderr, .. }) if stderr.contains("No such process") => Ok(()),
        r => r,
    }
}

/// Removes every route we installed.
pub async fn flush_routes() -> Result<(), NetlinkError> {
    ip(&s(&[
        "-6",
        "route",
        "flush",
        "proto",
        &RTPROT_HA_NODE.to_string(),
    ]))
    .await
}
