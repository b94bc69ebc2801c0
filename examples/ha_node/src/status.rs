//! The daemon's state as one snapshot, for `ha_node ctl status` (human table or JSON).
//!
//! Everything comes from the libraries' public queries: the L2TPv3 endpoint's
//! connections and sessions ([`l2tpv3::Endpoint::connection`],
//! [`l2tpv3::Endpoint::sessions`]), the OSPFv3 router's interfaces, neighbors and
//! routes, the ESP links' counters, the failover policy's per-prefix state
//! ([`anycast_failover::Policy::status`]), plus what only the daemon sees (the last
//! probe result of each check, the TAP names, its own drop counters).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anycast_failover::{CheckId, Ipv6Prefix, ProbeOutcome, ProbeResult, Role};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::core::Core;

/// The whole snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// The node.
    pub node: Node,
    /// Every configured peer: tunnel, session, ESP.
    pub peers: Vec<Peer>,
    /// OSPFv3: interfaces, neighbors, routes.
    pub ospf: Ospf,
    /// Every anycast prefix: role, metric, health, checks, drain.
    pub anycast: Vec<Prefix>,
    /// Every drop counter, by `protocol.reason`.
    pub drops: BTreeMap<String, u64>,
    /// Self-healing: reconnections, silent or replaced pseudowires, TAPs lost and
    /// reopened (the same names as the metrics).
    #[serde(default)]
    pub healing: BTreeMap<String, u64>,
    /// IKEv2, per peer keyed by it.
    #[serde(default)]
    pub ike: Vec<crate::ike::IkePeerStatus>,
    /// IKEv2 counters.
    #[serde(default)]
    pub ike_counts: crate::ike::IkeCounts,
}

/// The node itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Node {
    /// Configured name.
    pub name: String,
    /// Router ID.
    pub router_id: String,
    /// The configuration file.
    pub config: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Configuration reloads applied.
    pub reloads: u64,
    /// Reloads refused (invalid file or unsupported change).
    pub reload_failures: u64,
    /// Outcome of the last reload, if any.
    #[serde(default)]
    pub last_reload: Option<String>,
}

/// One underlay peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peer {
    /// Configured name.
    pub name: String,
    /// Underlay address.
    pub address: String,
    /// TAP device.
    pub tap: String,
    /// Its interface index, once open.
    #[serde(default)]
    pub ifindex: Option<u32>,
    /// Whether this node opens the control connection.
    pub initiate: bool,
    /// The L2TPv3 control connection, if any.
    #[serde(default)]
    pub control: Option<Control>,
    /// The pseudowire session, if any.
    #[serde(default)]
    pub session: Option<Session>,
    /// ESP, for protected peers.
    #[serde(default)]
    pub esp: Option<Esp>,
}

/// An L2TPv3 control connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Control {
    /// Our Control Connection ID.
    pub ccid: u32,
    /// The peer's.
    pub remote_ccid: u32,
    /// State (`Established` when up).
    pub state: String,
    /// The peer's Host Name (escaped).
    pub peer_host_name: String,
    /// Messages not yet acknowledged.
    pub unacknowledged: usize,
    /// Retransmissions so far.
    pub retransmitted: u64,
}

/// An L2TPv3 session (the pseudowire).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// Our Session ID.
    pub local_id: u32,
    /// The peer's.
    pub remote_id: u32,
    /// State (`Established` when up).
    pub state: String,
}

/// ESP with one peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Esp {
    /// Outbound SPI in use (0: none yet).
    pub spi_out: u32,
    /// Inbound SPI of the newest CHILD SA (0: none yet).
    pub spi_in: u32,
    /// `static` (configured keys) or `ikev2`.
    #[serde(default)]
    pub keyed_by: String,
    /// Every CHILD SA installed: SPIs, suite, key fingerprints, which one sends.
    #[serde(default)]
    pub children: Vec<crate::esp::ChildInfo>,
    /// Packets sealed.
    pub sealed: u64,
    /// Packets opened.
    pub opened: u64,
    /// Packets that did not open (integrity, replay, garbage).
    pub dropped: u64,
}

/// OSPFv3.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ospf {
    /// Whether the built-in engine runs.
    pub enabled: bool,
    /// Interfaces (pseudowires and loopback).
    pub interfaces: Vec<Interface>,
    /// The routing table.
    pub routes: Vec<Route>,
    /// Full SPF runs.
    pub spf_runs: u64,
}

/// One OSPFv3 interface.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interface {
    /// Device name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// Interface state.
    pub state: String,
    /// Neighbors.
    pub neighbors: Vec<Neighbor>,
}

/// One OSPFv3 neighbor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Neighbor {
    /// Router ID.
    pub router_id: String,
    /// Neighbor state (`Full` when adjacent).
    pub state: String,
    /// BFD session state, when BFD runs for it.
    #[serde(default)]
    pub bfd: Option<String>,
}

/// One route.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub prefix: String,
    /// Path type.
    pub kind: String,
    /// Cost.
    pub cost: u32,
    /// Next hops, `device%address`.
    pub next_hops: Vec<String>,
    /// Handed to the kernel (it passed the `[routes]` filter); routes to this node's
    /// own prefixes and refused ones are not.
    pub installed: bool,
}

/// One anycast prefix.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Prefix {
    /// The prefix.
    pub prefix: String,
    /// Role (`Active`, `Standby`, `Withdrawn`, `Draining`, `Drained`, ...).
    pub role: String,
    /// Seconds in this role.
    pub role_for_s: f64,
    /// Health verdict (checks combined, damping applied).
    pub healthy: bool,
    /// Suppressed by flap damping.
    pub suppressed: bool,
    /// Advertised metric; `None`: withdrawn.
    #[serde(default)]
    pub metric: Option<u32>,
    /// Whether the address is on the loopback.
    pub address_installed: bool,
    /// Forced standby by an operator.
    pub force_standby: bool,
    /// While draining: seconds until the withdrawal.
    #[serde(default)]
    pub drain_ends_in_s: Option<f64>,
    /// Whether this node's own LSAs no longer advertise the prefix (the last SPF
    /// run no longer lists it among the prefix's advertisers).
    pub withdrawal_flooded: bool,
    /// Drained, the withdrawal flooded and the shutdown grace passed since: the
    /// node may be stopped without losing a request for this prefix.
    pub safe_to_stop: bool,
    /// While draining or drained and not yet safe: seconds until it is.
    #[serde(default)]
    pub safe_to_stop_in_s: Option<f64>,
    /// What the other nodes advertise: (Router ID, metric).
    pub peers: Vec<(String, u32)>,
    /// The checks.
    pub checks: Vec<Check>,
}

/// One health check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Check {
    /// Name.
    pub name: String,
    /// Up or down, as the policy counts it.
    pub up: bool,
    /// Outcome of the last probe (`Pass`, `Fail`, `Timeout`).
    #[serde(default)]
    pub last: Option<String>,
    /// Seconds since the last probe started.
    #[serde(default)]
    pub last_age_s: Option<f64>,
    /// How long the last probe took until its result reached the event loop, ms.
    #[serde(default)]
    pub last_ms: Option<f64>,
    /// Probes passed, failed, timed out since start (or since the check was added).
    pub passes: u64,
    /// Probes failed.
    pub fails: u64,
    /// Probes timed out.
    pub timeouts: u64,
}

/// The last probe results, which the policy does not keep, by (prefix, check name)
/// so they survive a reload that renumbers the checks.
#[derive(Debug, Default)]
pub struct ProbeLog {
    ids: BTreeMap<CheckId, (Ipv6Prefix, String)>,
    last: BTreeMap<(Ipv6Prefix, String), Last>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    outcome: ProbeOutcome,
    started: Instant,
    received: Instant,
    passes: u64,
    fails: u64,
    timeouts: u64,
}

impl ProbeLog {
    /// Learns the current check identifiers (at start and after each reload); entries
    /// of checks that are gone are forgotten.
    pub fn set_checks<'a>(
        &mut self,
        checks: impl IntoIterator<Item = (CheckId, Ipv6Prefix, &'a str)>,
    ) {
        self.ids = checks
            .into_iter()
            .map(|(id, p, n)| (id, (p, n.to_string())))
            .collect();
        let live: Vec<_> = self.ids.values().cloned().collect();
        self.last.retain(|k, _| live.contains(k));
    }

    /// A probe result reached the event loop at `now`.
    pub fn record(&mut self, now: Instant, id: CheckId, r: &ProbeResult) {
        let Some(key) = self.ids.get(&id).cloned() else {
            return;
        };
        let e = self.last.entry(key).or_insert(Last {
            outcome: r.outcome,
            started: r.started,
            received: now,
            passes: 0,
            fails: 0,
            timeouts: 0,
        });
        if r.started >= e.started {
            e.outcome = r.outcome;
            e.started = r.started;
            e.received = now;
        }
        match r.outcome {
            ProbeOutcome::Pass => e.passes += 1,
            ProbeOutcome::Timeout => e.timeouts += 1,
            _ => e.fails += 1,
        }
    }
}

/// What only the daemon knows, for [`snapshot`].
#[derive(Debug)]
pub struct Extra<'a> {
    /// The configuration file.
    pub config_path: &'a str,
    /// When the daemon started.
    pub started: Instant,
    /// TAP names by interface index.
    pub tap_names: BTreeMap<u32, String>,
    /// TAP interface index by peer address.
    pub tap_of_peer: BTreeMap<SocketAddr, u32>,
    /// The daemon's own drop counters (`protocol.reason`).
    pub drops: Vec<(String, u64)>,
    /// Last probe results.
    pub probes: &'a ProbeLog,
    /// Reloads applied and refused, and the last outcome.
    pub reloads: (u64, u64, Option<String>),
    /// The daemon's self-healing counters (`tap.lost`, `tap.reopened`, ...).
    pub healing: Vec<(String, u64)>,
    /// IKEv2 state per peer and counters.
    pub ike: (Vec<crate::ike::IkePeerStatus>, crate::ike::IkeCounts),
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Builds the snapshot at `now`.
pub fn snapshot(now: Instant, core: &Core<SocketAddr>, cfg: &Config, extra: &Extra<'_>) -> Status {
    let l2tp = core.l2tp();
    let mut peers = Vec::new();
    let conns = core.connections();
    for p in &cfg.peers {
        let conn = conns
            .iter()
            .filter(|(_, a)| *a == p.address)
            .filter_map(|(ccid, _)| l2tp.connection(*ccid))
            // The established one first, else the newest.
            .max_by_key(|c| (c.state == l2tpv3::ConnState::Established, c.ccid));
        let session = conn.as_ref().and_then(|c| {
            l2tp.sessions()
                .filter(|s| s.ccid == c.ccid)
                .max_by_key(|s| (s.state == l2tpv3::SessionState::Established, s.local_id))
        });
        let esp = core.esp_peer(&p.address).map(|e| {
            let (sealed, opened, dropped) = e.counts.get();
            let children = e.children();
            Esp {
                spi_out: e.spi_out().unwrap_or(0),
                spi_in: children.last().map_or(0, |c| c.spi_in),
                keyed_by: if p.ipsec.is_some() { "ikev2" } else { "static" }.into(),
                children,
                sealed,
                opened,
                dropped,
            }
        });
        peers.push(Peer {
            name: p.name.clone(),
            address: p.address.to_string(),
            tap: p.tap.clone(),
            ifindex: extra.tap_of_peer.get(&p.address).copied(),
            initiate: p.initiate,
            control: conn.map(|c| Control {
                ccid: c.ccid,
                remote_ccid: c.remote_ccid,
                state: format!("{:?}", c.state),
                peer_host_name: String::from_utf8_lossy(&c.peer_host_name)
                    .escape_debug()
                    .to_string(),
                unacknowledged: c.unacknowledged,
                retransmitted: c.reliable.retransmitted,
            }),
            session: session.map(|s| Session {
                local_id: s.local_id,
                remote_id: s.remote_id,
                state: format!("{:?}", s.state),
            }),
            esp,
        });
    }

    let ospf = core.ospf();
    let bfd = core.bfd_sessions();
    let mut interfaces = Vec::new();
    let lo = core.loopback_ifindex();
    let mut ifaces: Vec<(u32, String)> = extra
        .tap_names
        .iter()
        .map(|(i, n)| (*i, n.clone()))
        .collect();
    ifaces.push((lo, cfg.loopback_device.clone()));
    for (ifindex, name) in ifaces {
        let Some(state) = ospf.interface_state(ifindex) else {
            continue;
        };
        let neighbors = ospf
            .neighbors(ifindex)
            .into_iter()
            .map(|(rid, st)| Neighbor {
                router_id: rid.to_string(),
                state: format!("{st:?}"),
                bfd: bfd
                    .iter()
                    .find(|(i, r, ..)| *i == ifindex && *r == rid)
                    .map(|(.., s)| format!("{s:?}")),
            })
            .collect();
        interfaces.push(Interface {
            name,
            ifindex,
            state: format!("{state:?}"),
            neighbors,
        });
    }
    let dev = |i: u32| {
        extra
            .tap_names
            .get(&i)
            .cloned()
            .unwrap_or_else(|| format!("if{i}"))
    };
    let routes = ospf
        .routes()
        .values()
        .map(|r| Route {
            installed: core.route_installed(&r.prefix),
            prefix: r.prefix.to_string(),
            kind: format!("{:?}", r.kind),
            cost: r.cost,
            next_hops: r
                .next_hops
                .iter()
                .map(|n| match n.addr {
                    Some(a) => format!("{}%{a}", dev(n.ifindex)),
                    None => dev(n.ifindex),
                })
                .collect(),
        })
        .collect();
    let oc = ospf.counters();

    let mut anycast = Vec::new();
    if let Some(policy) = core.policy() {
        for st in policy.status() {
            let grace = cfg
                .anycast
                .iter()
                .find(|a| a.prefix.parse::<Ipv6Prefix>().ok() == Some(st.prefix))
                .map_or(Duration::ZERO, |a| Duration::from_secs(a.shutdown_grace_s));
            // The withdrawal has been flooded once our own Intra-Area-Prefix-LSA no
            // longer carries the prefix: the SPF run after its origination drops us
            // from the prefix's advertisers (origination may wait for MinLSInterval).
            let me = ospf.router_id();
            let flooded = !ospf
                .advertisers(&crate::core::to_ospf_prefix(st.prefix))
                .any(|a| a.router_id == me);
            let (safe, safe_in) = match st.role {
                Role::Drained if !flooded => (false, Some(secs(grace))),
                Role::Drained => {
                    let at = st.role_since + grace;
                    (now >= at, (now < at).then(|| secs(at - now)))
                }
                Role::Draining => (
                    false,
                    st.drain_until
                        .map(|t| secs(t.saturating_duration_since(now) + grace)),
                ),
                Role::Stopped | Role::Withdrawn => (st.advertised.is_none(), None),
                _ => (false, None),
            };
            let checks = st
                .checks
                .iter()
                .map(|c| {
                    let last = extra.probes.last.get(&(st.prefix, c.name.clone()));
                    Check {
                        name: c.name.clone(),
                        up: c.up,
                        last: last.map(|l| format!("{:?}", l.outcome)),
                        last_age_s: last.map(|l| secs(now.saturating_duration_since(l.started))),
                        last_ms: last.map(|l| {
                            (l.received
                                .saturating_duration_since(l.started)
                                .as_secs_f64()
                                * 1e6)
                                .round()
                                / 1e3
                        }),
                        passes: last.map_or(0, |l| l.passes),
                        fails: last.map_or(0, |l| l.fails),
                        timeouts: last.map_or(0, |l| l.timeouts),
                    }
                })
                .collect();
            anycast.push(Prefix {
                prefix: st.prefix.to_string(),
                role: format!("{:?}", st.role),
                role_for_s: secs(now.saturating_duration_since(st.role_since)),
                healthy: st.healthy,
                suppressed: st.suppressed,
                metric: st.advertised,
                address_installed: st.address_installed,
                force_standby: st.force_standby,
                drain_ends_in_s: st
                    .drain_until
                    .map(|t| secs(t.saturating_duration_since(now))),
                withdrawal_flooded: flooded,
                safe_to_stop: safe,
                safe_to_stop_in_s: safe_in,
                peers: st
                    .peers
                    .iter()
                    .map(|(r, m)| (std::net::Ipv4Addr::from(r.0).to_string(), *m))
                    .collect(),
                checks,
            });
        }
    }

    let mut drops = BTreeMap::new();
    let ls = l2tp.stats();
    let sc = core.security_counts();
    for (k, v) in [
        ("l2tp.malformed", ls.malformed),
        ("l2tp.auth_failed", ls.auth_failed),
        ("l2tp.unknown_connection", ls.unknown_connection),
        ("l2tp.connection_limit", ls.connection_limit),
        ("l2tp.session_limit", ls.session_limit),
        ("l2tp.unknown_session", ls.unknown_session),
        ("l2tp.events_dropped", ls.events_dropped),
        ("l2tp.transmits_dropped", ls.transmits_dropped),
        ("l2tp.send_queue_full", ls.send_queue_full),
        ("l2tp.data_unknown_session", ls.data_unknown_session),
        ("l2tp.data_bad_cookie", ls.data_bad_cookie),
        ("l2tp.data_malformed", ls.data_malformed),
        ("l2tp.data_out_of_order", ls.data_out_of_order),
        ("ospf.rx_decode_errors", oc.rx_decode_errors),
        ("ospf.rx_dropped", oc.rx_dropped),
        ("ospf.rx_auth_failures", oc.rx_auth_failures),
        ("ospf.lsdb_full", oc.lsdb_full),
        ("ospf.neighbors_full", oc.neighbors_full),
        ("ospf.tx_dropped", oc.tx_dropped),
        ("ospf.events_dropped", oc.events_dropped),
        ("ospf.requests_dropped", oc.requests_dropped),
        ("ospf.acks_dropped", oc.acks_dropped),
        ("bfd.sessions_refused", core.bfd_refused()),
        ("bfd.rx_dropped", core.bfd_rx_dropped()),
        ("security.unknown_source", sc.unknown_source),
        ("security.wrong_protection", sc.wrong_protection),
        ("security.data_wrong_peer", sc.data_wrong_peer),
        ("security.extra_sessions_refused", sc.extra_sessions_refused),
        ("security.routes_refused", sc.routes_refused),
    ] {
        drops.insert(k.to_string(), v);
    }
    for (a, _, _, d) in core.esp_counts() {
        let name = cfg
            .peers
            .iter()
            .find(|p| p.address == a)
            .map_or_else(|| a.to_string(), |p| p.name.clone());
        drops.insert(format!("esp.{name}.dropped"), d);
    }
    if let Some(p) = core.policy() {
        let c = p.counters();
        drops.insert("failover.events_dropped".into(), c.events_dropped);
        drops.insert("failover.peers_dropped".into(), c.peers_dropped);
        drops.insert("failover.stale_probe_results".into(), c.stale_probe_results);
        drops.insert("failover.rate_limited".into(), c.rate_limited);
    }
    for (k, v) in &extra.drops {
        drops.insert(k.clone(), *v);
    }

    Status {
        node: Node {
            name: cfg.name.clone(),
            router_id: cfg.router_id.to_string(),
            config: extra.config_path.to_string(),
            uptime_s: now.saturating_duration_since(extra.started).as_secs(),
            reloads: extra.reloads.0,
            reload_failures: extra.reloads.1,
            last_reload: extra.reloads.2.clone(),
        },
        peers,
        ospf: Ospf {
            enabled: cfg.ospf.enabled,
            interfaces,
            routes,
            spf_runs: oc.spf_runs,
        },
        anycast,
        drops,
        healing: {
            let h = core.healing_counts();
            let mut m = BTreeMap::from([
                ("l2tp.reconnects".to_string(), h.reconnects),
                ("l2tp.silent_closed".to_string(), h.silent_closed),
                ("l2tp.replaced".to_string(), h.replaced),
            ]);
            m.extend(extra.healing.iter().cloned());
            m
        },
        ike: extra.ike.0.clone(),
        ike_counts: extra.ike.1,
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

/// The snapshot as tables for people.
pub fn render(s: &Status) -> String {
    let mut o = String::new();
    let n = &s.node;
    let _ = writeln!(
        o,
        "node {} (router ID {}), up {} s, config {}, {} reloads ({} refused){}",
        n.name,
        n.router_id,
        n.uptime_s,
        n.config,
        n.reloads,
        n.reload_failures,
        n.last_reload
            .as_ref()
            .map_or_else(String::new, |r| format!(", last: {r}"))
    );
    let _ = writeln!(o, "\nPEERS");
    let _ = writeln!(
        o,
        "{:<12} {:<22} {:<12} {:<14} {:<14} {:<22}",
        "peer", "address", "tap", "control", "session", "esp (sealed/opened/dropped)"
    );
    for p in &s.peers {
        let control = p
            .control
            .as_ref()
            .map_or_else(|| "-".to_string(), |c| c.state.clone());
        let session = p
            .session
            .as_ref()
            .map_or_else(|| "-".to_string(), |c| c.state.clone());
        let esp = p.esp.as_ref().map_or_else(
            || "-".to_string(),
            |e| format!("{}/{}/{}", e.sealed, e.opened, e.dropped),
        );
        let _ = writeln!(
            o,
            "{:<12} {:<22} {:<12} {:<14} {:<14} {:<22}",
            p.name, p.address, p.tap, control, session, esp
        );
    }
    let _ = writeln!(
        o,
        "\nOSPFv3 {}",
        if s.ospf.enabled { "" } else { "(disabled)" }
    );
    let _ = writeln!(
        o,
        "{:<14} {:<10} {:<16} {:<10} {:<6}",
        "interface", "state", "neighbor", "state", "bfd"
    );
    for i in &s.ospf.interfaces {
        if i.neighbors.is_empty() {
            let _ = writeln!(
                o,
                "{:<14} {:<10} {:<16} {:<10} {:<6}",
                i.name, i.state, "-", "-", "-"
            );
        }
        for nb in &i.neighbors {
            let _ = writeln!(
                o,
                "{:<14} {:<10} {:<16} {:<10} {:<6}",
                i.name,
                i.state,
                nb.router_id,
                nb.state,
                opt(&nb.bfd)
            );
        }
    }
    let _ = writeln!(o, "\nROUTES ({} SPF runs)", s.ospf.spf_runs);
    for r in &s.ospf.routes {
        let _ = writeln!(
            o,
            "{:<24} {:<10} cost {:<6} {} via {}",
            r.prefix,
            r.kind,
            r.cost,
            if r.installed {
                "installed"
            } else {
                "not installed"
            },
            if r.next_hops.is_empty() {
                "-".to_string()
            } else {
                r.next_hops.join(", ")
            }
        );
    }
    if !s.anycast.is_empty() {
        let _ = writeln!(o, "\nANYCAST");
    }
    for a in &s.anycast {
        let stop = if a.safe_to_stop {
            "safe to stop".to_string()
        } else {
            a.safe_to_stop_in_s
                .map_or_else(String::new, |t| format!("safe to stop in {t:.1} s"))
        };
        let _ = writeln!(
            o,
            "{} {} for {:.1} s, metric {}, {}{}{}{} {}",
            a.prefix,
            a.role,
            a.role_for_s,
            opt(&a.metric),
            if a.healthy { "healthy" } else { "unhealthy" },
            if a.suppressed { ", damped" } else { "" },
            if a.force_standby {
                ", forced standby"
            } else {
                ""
            },
            a.drain_ends_in_s
                .map_or_else(String::new, |t| format!(", withdrawal in {t:.1} s")),
            stop
        );
        for (rid, m) in &a.peers {
            let _ = writeln!(o, "  peer {rid} advertises metric {m}");
        }
        for c in &a.checks {
            let _ = writeln!(
                o,
                "  check {:<16} {:<4} last {} {} ago, {} ms ({} pass, {} fail, {} timeout)",
                c.name,
                if c.up { "up" } else { "down" },
                opt(&c.last),
                c.last_age_s
                    .map_or_else(|| "-".to_string(), |t| format!("{t:.1} s")),
                opt(&c.last_ms),
                c.passes,
                c.fails,
                c.timeouts
            );
        }
    }
    if !s.ike.is_empty() {
        let c = &s.ike_counts;
        let _ = writeln!(
            o,
            "\nIKEv2 (IKE SAs up {}, rekeyed {}; CHILD SAs installed {}, rekeyed {} ({} on soft lifetime); setups failed {}, peers dead {}, duplicates deleted {})",
            c.ike_up,
            c.ike_rekeyed,
            c.child_installed,
            c.child_rekeyed,
            c.soft_rekeys,
            c.setup_failed,
            c.peer_dead,
            c.duplicates_deleted
        );
        for p in &s.ike {
            let sas: Vec<String> = p
                .ike_sas
                .iter()
                .map(|(spi, up, init)| {
                    format!("{spi} up {up} s{}", if *init { " (ours)" } else { "" })
                })
                .collect();
            let _ = writeln!(
                o,
                "  {:<12} IKE SA {}{}",
                p.name,
                if sas.is_empty() {
                    "-".to_string()
                } else {
                    sas.join(", ")
                },
                if p.initiating { ", initiating" } else { "" }
            );
            for c in &p.children {
                let _ = writeln!(
                    o,
                    "  {:<12}   CHILD SA in {:#010x} out {:#010x} {} keys {}/{}{}",
                    "",
                    c.spi_in,
                    c.spi_out,
                    c.suite,
                    c.key_in,
                    c.key_out,
                    if c.outbound_active { " (sending)" } else { "" }
                );
            }
        }
    }
    let _ = writeln!(o, "\nSELF-HEALING");
    let healing: Vec<String> = s.healing.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(o, "  {}", healing.join(", "));
    let _ = writeln!(o, "\nDROPS");
    let nonzero: Vec<_> = s.drops.iter().filter(|(_, v)| **v > 0).collect();
    if nonzero.is_empty() {
        let _ = writeln!(o, "  none ({} counters at 0)", s.drops.len());
    }
    for (k, v) in nonzero {
        let _ = writeln!(o, "  {k:<34} {v}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Output;

    const SERVER: &str = r#"name = "a"
router_id = "1.1.1.1"
l2tp_secret = "k"
ospf_auth_key = "o"
insecure_fixed_seed = true
seed = 1
loopback = ["2001:db8:1::1"]
[[peer]]
name = "b"
address = "10.0.0.2:1701"
initiate = true
tap = "pw-b"
bfd = { enabled = false }
[l2tp]
silence_s = 0
[[anycast]]
prefix = "2001:db8:aa::1/128"
settle_s = 1
"#;

    const CLIENT: &str = r#"name = "b"
router_id = "2.2.2.2"
l2tp_secret = "k"
ospf_auth_key = "o"
insecure_fixed_seed = true
seed = 2
loopback = ["2001:db8:2::1"]
[[peer]]
name = "a"
address = "10.0.0.1:1701"
tap = "pw-a"
bfd = { enabled = false }
[l2tp]
silence_s = 0
"#;

    struct Node {
        core: Core<SocketAddr>,
        cfg: Config,
        me: SocketAddr,
        ll: std::net::Ipv6Addr,
        ifindex: u32,
    }

    fn node(text: &str, me: &str, ll: &str, ifindex: u32) -> Node {
        let cfg = crate::check::check_text(text).unwrap();
        let core = Core::new(Instant::now(), cfg.core_config(1).unwrap()).unwrap();
        Node {
            core,
            cfg,
            me: me.parse().unwrap(),
            ll: ll.parse().unwrap(),
            ifindex,
        }
    }

    /// Delivers `from`'s outputs to `to`; OSPFv3 packets go straight to the other
    /// core, not through the pseudowire (hence `silence_s = 0` above).
    fn deliver(now: Instant, from: &mut Node, to: &mut Node) -> bool {
        let mut moved = false;
        while let Some(o) = from.core.poll_output() {
            moved = true;
            match o {
                Output::Underlay { mut datagram, .. } => {
                    to.core.handle_underlay(now, from.me, &mut datagram);
                }
                Output::PseudowireUp { session_id, .. } => {
                    from.core.attach(now, session_id, from.ifindex, from.ll);
                }
                Output::Ospf(t) => to.core.handle_ospf(now, to.ifindex, t.src, t.dst, &t.bytes),
                _ => {}
            }
        }
        moved
    }

    fn extra<'a>(probes: &'a ProbeLog, tap: &str, ifindex: u32, peer: SocketAddr) -> Extra<'a> {
        Extra {
            config_path: "test.toml",
            started: Instant::now(),
            tap_names: [(ifindex, tap.to_string())].into(),
            tap_of_peer: [(peer, ifindex)].into(),
            drops: vec![("control.bad_requests".into(), 0)],
            probes,
            reloads: (0, 0, None),
            healing: vec![("tap.lost".into(), 2)],
            ike: (Vec::new(), Default::default()),
        }
    }

    #[test]
    fn snapshot_shows_tunnel_neighbor_route_and_role() {
        let t0 = Instant::now();
        let mut a = node(SERVER, "10.0.0.1:1701", "fe80::a", 10);
        let mut b = node(CLIENT, "10.0.0.2:1701", "fe80::b", 11);
        a.core.start(t0);
        b.core.start(t0);
        let mut now = t0;
        for _ in 0..300 {
            now += Duration::from_millis(100);
            a.core.handle_timeout(now);
            b.core.handle_timeout(now);
            for _ in 0..50 {
                if !(deliver(now, &mut a, &mut b) | deliver(now, &mut b, &mut a)) {
                    break;
                }
            }
        }
        let probes = ProbeLog::default();
        let sa = snapshot(now, &a.core, &a.cfg, &extra(&probes, "pw-b", 10, b.me));
        let sb = snapshot(now, &b.core, &b.cfg, &extra(&probes, "pw-a", 11, a.me));
        let control = sb.peers[0].control.as_ref().expect("a control connection");
        assert_eq!(control.state, "Established");
        assert_eq!(
            sb.peers[0].session.as_ref().map(|s| s.state.as_str()),
            Some("Established")
        );
        let pw = sb
            .ospf
            .interfaces
            .iter()
            .find(|i| i.name == "pw-a")
            .unwrap();
        assert_eq!(pw.neighbors[0].router_id, "1.1.1.1");
        assert_eq!(pw.neighbors[0].state, "Full");
        let route = sb
            .ospf
            .routes
            .iter()
            .find(|r| r.prefix == "2001:db8:aa::1/128")
            .unwrap_or_else(|| panic!("no route to the anycast prefix: {:?}", sb.ospf.routes));
        assert_eq!(route.next_hops, ["pw-a%fe80::a"]);
        assert!(route.installed);
        assert_eq!(sa.anycast[0].role, "Active");
        assert_eq!(sa.anycast[0].metric, Some(10));
        assert!(sa.anycast[0].healthy && !sa.anycast[0].safe_to_stop);
        assert!(!sa.anycast[0].withdrawal_flooded);
        assert!(
            sa.drops.contains_key("l2tp.auth_failed") && sa.drops.contains_key("ospf.rx_dropped")
        );
        // Self-healing: the core's counters and the daemon's.
        assert_eq!(sa.healing.get("l2tp.reconnects"), Some(&0));
        assert_eq!(sa.healing.get("tap.lost"), Some(&2));
        // JSON for scripts and back, tables for people.
        let json = serde_json::to_string(&sb).unwrap();
        let back: Status = serde_json::from_str(&json).unwrap();
        assert_eq!(back.ospf.routes.len(), sb.ospf.routes.len());
        let table = render(&sa);
        assert!(table.contains("pw-b"), "{table}");
        assert!(table.contains("2001:db8:aa::1/128 Active"), "{table}");
        assert!(
            table.contains("SELF-HEALING") && table.contains("tap.lost 2"),
            "{table}"
        );

        // Drained and withdrawn: safe to stop once the grace (5 s) has passed.
        let mut a_core = a.core;
        a_core
            .handle_command_scoped(
                now,
                anycast_failover::Scope::All,
                anycast_failover::AdminCommand::Drain,
            )
            .unwrap();
        a.core = a_core;
        let sa = snapshot(now, &a.core, &a.cfg, &extra(&probes, "pw-b", 10, b.me));
        assert_eq!(sa.anycast[0].role, "Draining");
        assert_eq!(sa.anycast[0].metric, Some(1000));
        assert!(!sa.anycast[0].safe_to_stop);
        let mut saw_safe_in = None;
        for _ in 0..600 {
            now += Duration::from_millis(100);
            a.core.handle_timeout(now);
            b.core.handle_timeout(now);
            for _ in 0..50 {
                if !(deliver(now, &mut a, &mut b) | deliver(now, &mut b, &mut a)) {
                    break;
                }
            }
            let s = snapshot(now, &a.core, &a.cfg, &extra(&probes, "pw-b", 10, b.me));
            if s.anycast[0].role == "Drained" && saw_safe_in.is_none() {
                saw_safe_in = s.anycast[0].safe_to_stop_in_s;
            }
            if s.anycast[0].safe_to_stop {
                assert!(s.anycast[0].withdrawal_flooded && s.anycast[0].metric.is_none());
                assert!(saw_safe_in.is_some(), "drained before safe");
                let sb = snapshot(now, &b.core, &b.cfg, &extra(&probes, "pw-a", 11, a.me));
                assert!(
                    !sb.ospf
                        .routes
                        .iter()
                        .any(|r| r.prefix == "2001:db8:aa::1/128")
                );
                return;
            }
        }
        panic!("never safe to stop");
    }
}
