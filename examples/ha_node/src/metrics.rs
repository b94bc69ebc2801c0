//! Prometheus metrics: an OpenMetrics text endpoint (`GET /metrics`) on
//! `metrics_listen` (off by default).
//!
//! * The states and counters live in the sans-IO core, owned by the event loop. Once
//!   a second ([`SNAPSHOT_INTERVAL`]) the loop copies them into a [`Snapshot`] (plain
//!   numbers with labels) and publishes it through a `tokio::sync::watch` channel;
//!   a scrape reads the latest snapshot and never touches the core, so the hot path
//!   takes no lock and a slow scraper cannot stall the loop.
//! * Latencies are [`prometheus_client`] histograms ([`Histograms`], atomics) that
//!   the loop observes directly: health-check probe latency per prefix and check,
//!   the duration of the core calls that ran an SPF calculation, kernel change
//!   batches.
//! * The HTTP side is a minimal responder on tokio ([`serve`]): one request per
//!   connection, request head at most [`MAX_REQUEST`] bytes read within
//!   [`IO_TIMEOUT`], at most [`MAX_CONNECTIONS`] connections at a time (more wait in
//!   the kernel's accept queue); `GET /metrics` answers the metrics, anything else
//!   404 or 405.
//!
//! Rendering goes through `prometheus_client`'s encoder ([`Collector`]), so names,
//! escaping, `_total` suffixes and the `# EOF` trailer follow OpenMetrics 1.0.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::core::Core;

/// How often the event loop publishes a snapshot.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);
/// Most bytes of a request head read.
pub const MAX_REQUEST: usize = 8192;
/// Time allowed to read a request and to write the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections served at a time.
pub const MAX_CONNECTIONS: usize = 8;

/// Label pairs of one sample.
pub type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[derive(Debug, Clone)]
struct FamilySnapshot {
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, f64)>,
}

/// The states and counters at one moment, by metric family name.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    families: BTreeMap<&'static str, FamilySnapshot>,
}

impl Snapshot {
    fn push(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricType,
        l: Labels,
        v: f64,
    ) {
        self.families
            .entry(name)
            .or_insert_with(|| FamilySnapshot {
                help,
                kind,
                samples: Vec::new(),
            })
            .samples
            .push((l, v));
    }

    /// Adds a counter sample (`name` without `_total`: the encoder appends it).
    pub fn counter(&mut self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: u64) {
        self.push(name, help, MetricType::Counter, labels(l), v as f64);
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: f64) {
        self.push(name, help, MetricType::Gauge, labels(l), v);
    }

    /// The value of a sample, if present (for tests and the daemon's own checks).
    pub fn value(&self, name: &str, l: &[(&str, &str)]) -> Option<f64> {
        let want = labels(l);
        self.families
            .get(name)?
            .samples
            .iter()
            .find(|(have, _)| *have == want)
            .map(|(_, v)| *v)
    }
}

/// Histograms observed by the event loop.
#[derive(Debug)]
pub struct Histograms {
    /// Health-check probe latency, seconds, by prefix and check.
    pub probe_latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// Duration of the core calls that ran an SPF calculation, seconds.
    pub spf_seconds: Histogram,
    /// Duration of kernel change batches, seconds.
    pub kernel_batch_seconds: Histogram,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            probe_latency: Family::new_with_constructor(latency_histogram),
            spf_seconds: latency_histogram(),
            kernel_batch_seconds: latency_histogram(),
        }
    }
}

impl Histograms {
    /// Records a probe's latency.
    pub fn observe_probe(&self, prefix: &str, check: &str, latency: Duration) {
        self.probe_latency
            .get_or_create(&labels(&[("prefix", prefix), ("check", check)]))
            .observe(latency.as_secs_f64());
    }
}

/// Renders the latest snapshot on each scrape.
#[derive(Debug)]
struct SnapshotCollector(watch::Receiver<Arc<Snapshot>>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.borrow().clone();
        for (name, fam) in &snap.families {
            let mut m = encoder.encode_descriptor(name, fam.help, None, fam.kind)?;
            for (l, v) in &fam.samples {
                let mut s = m.encode_family(l)?;
                // Whole numbers are written as integers ("3", not "3.0").
                let whole = v.fract() == 0.0 && v.abs() < 9.0e15;
                match (fam.kind, whole) {
                    (MetricType::Counter, true) => s
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, f64>(
                            &(*v as u64),
                            None,
                        )?,
                    (MetricType::Counter, false) => s
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, f64, f64>(
                            v, None,
                        )?,
                    (_, true) => s.encode_gauge(&(*v as i64))?,
                    (_, false) => s.encode_gauge(v)?,
                }
            }
        }
        Ok(())
    }
}

/// The registry of a daemon: the snapshot collector and the histograms.
pub fn registry(snapshots: watch::Receiver<Arc<Snapshot>>, h: &Arc<Histograms>) -> Registry {
    let mut r = Registry::with_prefix("ha_node");
    r.register_collector(Box::new(SnapshotCollector(snapshots)));
    r.register_collector(Box::new(HistogramCollector(h.clone())));
    r
}

/// The histograms, shared with the event loop.
#[derive(Debug)]
struct HistogramCollector(Arc<Histograms>);

impl Collector for HistogramCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        let m = encoder.encode_descriptor(
            "probe_latency_seconds",
            "Health-check probe latency by prefix and check.",
            None,
            h.probe_latency.metric_type(),
        )?;
        h.probe_latency.encode(m)?;
        let m = encoder.encode_descriptor(
            "spf_call_seconds",
            "Duration of the core calls that ran an OSPFv3 SPF calculation.",
            None,
            h.spf_seconds.metric_type(),
        )?;
        h.spf_seconds.encode(m)?;
        let m = encoder.encode_descriptor(
            "kernel_batch_seconds",
            "Duration of the batches of kernel changes (rtnetlink).",
            None,
            h.kernel_batch_seconds.metric_type(),
        )?;
        h.kernel_batch_seconds.encode(m)?;
        Ok(())
    }
}

/// Renders a registry as OpenMetrics text.
pub fn render(r: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the encoder only fails on a bad writer.
    let _ = prometheus_client::encoding::text::encode(&mut out, r);
    out
}

/// What the daemon itself counts, beside the core.
#[derive(Debug, Clone, Default)]
pub struct DaemonCounts {
    /// Peers: (name, underlay address).
    pub peers: Vec<(String, SocketAddr)>,
    /// TAP devices present now: (ifindex, name).
    pub taps: Vec<(u32, String)>,
    /// TAP devices configured.
    pub tap_names: Vec<String>,
    /// Kernel installer counters.
    pub kernel: crate::netlink::InstallerStats,
    /// TAP devices found gone.
    pub taps_lost: u64,
    /// TAP devices opened by the reopening task (lost ones, and peers added by a
    /// reload).
    pub taps_reopened: u64,
    /// Failed attempts to reopen a TAP device.
    pub tap_reopen_failures: u64,
    /// ESP socket: NAT-keepalives, IKE dropped, malformed.
    pub natt: (u64, u64, u64),
    /// Health probes: started, timeouts, results dropped.
    pub probes: (u64, u64, u64),
    /// Failover role changes per prefix.
    pub role_changes: BTreeMap<String, u64>,
    /// IKEv2 counters, and the IKE SAs up per peer name.
    pub ike: (crate::ike::IkeCounts, Vec<(String, usize)>),
}

/// Copies the core's states and counters and the daemon's into a snapshot.
pub fn snapshot(core: &Core<SocketAddr>, d: &DaemonCounts) -> Snapshot {
    let mut s = Snapshot::default();
    // L2TPv3.
    let l2tp = core.l2tp();
    s.gauge(
        "l2tp_connections",
        "L2TPv3 control connections.",
        &[],
        l2tp.connection_count() as f64,
    );
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for si in l2tp.sessions() {
        *by_state.entry(format!("{:?}", si.state)).or_default() += 1;
    }
    for (state, n) in &by_state {
        s.gauge(
            "l2tp_sessions",
            "L2TPv3 sessions by state.",
            &[("state", state)],
            *n as f64,
        );
    }
    for (ccid, peer) in core.connections() {
        if let Some(c) = l2tp.connection(ccid) {
            let name = core.peer_name(&peer).unwrap_or("?").to_string();
            s.gauge(
                "l2tp_connection",
                "L2TPv3 control connections by peer and state (1).",
                &[("peer", &name), ("state", &format!("{:?}", c.state))],
                1.0,
            );
        }
    }
    let sec = core.security_counts();
    for (reason, v) in [
        ("unknown_source", sec.unknown_source),
        ("wrong_protection", sec.wrong_protection),
        ("data_wrong_peer", sec.data_wrong_peer),
        ("extra_session_refused", sec.extra_sessions_refused),
        ("route_refused", sec.routes_refused),
    ] {
        s.counter(
            "security_drops",
            "Datagrams, sessions and routes refused by the node's security checks, by reason.",
            &[("reason", reason)],
            v,
        );
    }
    for (name, addr) in &d.peers {
        let up = core.session_of_peer(addr).is_some();
        s.gauge(
            "pseudowire_up",
            "Whether the peer's pseudowire session is established (1) or not (0).",
            &[("peer", name)],
            f64::from(u8::from(up)),
        );
    }
    let st = l2tp.stats();
    for (reason, v) in [
        ("malformed", st.malformed),
        ("auth_failed", st.auth_failed),
        ("unknown_connection", st.unknown_connection),
        ("connection_limit", st.connection_limit),
        ("peer_connection_limit", st.peer_connection_limit),
        ("refused_peer", st.refused_peer),
        ("held_budget_exceeded", st.held_budget_exceeded),
        ("session_limit", st.session_limit),
        ("unknown_session", st.unknown_session),
        ("events_dropped", st.events_dropped),
        ("transmits_dropped", st.transmits_dropped),
        ("send_queue_full", st.send_queue_full),
        ("data_unknown_session", st.data_unknown_session),
        ("data_bad_cookie", st.data_bad_cookie),
        ("data_wrong_peer", st.data_wrong_peer),
        ("data_malformed", st.data_malformed),
        ("data_out_of_order", st.data_out_of_order),
    ] {
        s.counter(
            "l2tp_drops",
            "L2TPv3 messages and packets dropped, by reason.",
            &[("reason", reason)],
            v,
        );
    }
    let heal = core.healing_counts();
    s.counter(
        "l2tp_reconnects",
        "Reconnections scheduled after a control connection failed or closed.",
        &[],
        heal.reconnects,
    );
    s.counter(
        "l2tp_silent_closed",
        "Control connections closed because their pseudowire fell silent.",
        &[],
        heal.silent_closed,
    );
    s.counter(
        "l2tp_replaced",
        "Pseudowires replaced by one on a newer control connection from the same peer (it restarted).",
        &[],
        heal.replaced,
    );
    // IKEv2.
    let (c, up) = &d.ike;
    for (event, v) in [
        ("ike_sa_up", c.ike_up),
        ("ike_sa_rekeyed", c.ike_rekeyed),
        ("child_sa_installed", c.child_installed),
        ("child_sa_rekeyed", c.child_rekeyed),
        ("soft_lifetime_rekey", c.soft_rekeys),
        ("peer_dead", c.peer_dead),
        ("duplicate_deleted", c.duplicates_deleted),
        ("setup_failed", c.setup_failed),
        ("install_failed", c.install_failed),
    ] {
        s.counter(
            "ike_events",
            "IKEv2 events: SAs up and rekeyed, rekeys on the soft lifetime, dead peers, duplicates, failures.",
            &[("event", event)],
            v,
        );
    }
    for (peer, n) in up {
        s.gauge(
            "ike_sas",
            "Established IKE SAs per peer (1 in steady state).",
            &[("peer", peer)],
            *n as f64,
        );
    }
    // OSPFv3.
    let ospf = core.ospf();
    let c = ospf.counters();
    s.counter(
        "ospf_rx_packets",
        "OSPFv3 packets received.",
        &[],
        c.rx_packets,
    );
    for (reason, v) in [
        ("decode_error", c.rx_decode_errors),
        ("check_failed", c.rx_dropped),
        ("auth_failed", c.rx_auth_failures),
        ("lsdb_full", c.lsdb_full),
        ("lsdb_bytes_full", c.lsdb_bytes_full),
        ("lsdb_router_full", c.lsdb_router_full),
        ("neighbors_full", c.neighbors_full),
        ("tx_queue_full", c.tx_dropped),
        ("events_dropped", c.events_dropped),
        ("requests_dropped", c.requests_dropped),
        ("acks_dropped", c.acks_dropped),
    ] {
        s.counter(
            "ospf_drops",
            "OSPFv3 packets and items dropped, by reason.",
            &[("reason", reason)],
            v,
        );
    }
    s.counter("ospf_spf_runs", "Full SPF calculations.", &[], c.spf_runs);
    s.counter(
        "ospf_partial_runs",
        "Partial (prefix-only) route recalculations.",
        &[],
        c.partial_runs,
    );
    s.gauge(
        "ospf_routes",
        "Routes in the OSPFv3 routing table.",
        &[],
        ospf.routes().len() as f64,
    );
    let mut full = 0u64;
    for (ifindex, tap) in &d.taps {
        for (rid, state) in ospf.neighbors(*ifindex) {
            let rid = rid.to_string();
            let state = format!("{state:?}");
            if state == "Full" {
                full += 1;
            }
            s.gauge(
                "ospf_neighbor",
                "OSPFv3 neighbors by interface, Router ID and state (1).",
                &[("interface", tap), ("neighbor", &rid), ("state", &state)],
                1.0,
            );
        }
    }
    s.gauge(
        "ospf_neighbors_full",
        "OSPFv3 neighbors in state Full.",
        &[],
        full as f64,
    );
    // BFD.
    for (ifindex, rid, _, state) in core.bfd_sessions() {
        let iface = d
            .taps
            .iter()
            .find(|(i, _)| *i == ifindex)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| ifindex.to_string());
        s.gauge(
            "bfd_session_up",
            "BFD sessions: Up (1) or not (0), by interface and neighbor.",
            &[("interface", &iface), ("neighbor", &rid.to_string())],
            f64::from(u8::from(state == bfd::State::Up)),
        );
    }
    s.counter(
        "bfd_drops",
        "BFD packets or sessions dropped, by reason.",
        &[("reason", "no_session_or_malformed")],
        core.bfd_rx_dropped(),
    );
    s.counter(
        "bfd_drops",
        "BFD packets or sessions dropped, by reason.",
        &[("reason", "session_limit")],
        core.bfd_refused(),
    );
    // ESP.
    for (peer, sealed, opened, dropped) in core.esp_counts() {
        let name = core.peer_name(&peer).unwrap_or("?").to_string();
        s.counter(
            "esp_packets",
            "ESP packets by peer and direction.",
            &[("peer", &name), ("direction", "sealed")],
            sealed,
        );
        s.counter(
            "esp_packets",
            "ESP packets by peer and direction.",
            &[("peer", &name), ("direction", "opened")],
            opened,
        );
        s.counter(
            "esp_drops",
            "ESP packets dropped (authentication, replay, decode), by peer.",
            &[("peer", &name)],
            dropped,
        );
    }
    s.counter(
        "esp_socket_drops",
        "Datagrams on the ESP socket that are not ESP, by kind.",
        &[("reason", "nat_keepalive")],
        d.natt.0,
    );
    s.counter(
        "esp_socket_drops",
        "Datagrams on the ESP socket that are not ESP, by kind.",
        &[("reason", "ike")],
        d.natt.1,
    );
    s.counter(
        "esp_socket_drops",
        "Datagrams on the ESP socket that are not ESP, by kind.",
        &[("reason", "malformed")],
        d.natt.2,
    );
    // Failover.
    if let Some(p) = core.policy() {
        for ps in p.status() {
            let prefix = ps.prefix.to_string();
            for role in [
                "Withdrawn",
                "Standby",
                "Active",
                "Degraded",
                "Draining",
                "Drained",
                "ShuttingDown",
                "Stopped",
            ] {
                let now = format!("{:?}", ps.role);
                s.gauge(
                    "failover_role",
                    "Failover role per prefix (1 for the current role).",
                    &[("prefix", &prefix), ("role", role)],
                    f64::from(u8::from(now == role)),
                );
            }
            s.gauge(
                "failover_healthy",
                "Health verdict per prefix (1 healthy).",
                &[("prefix", &prefix)],
                f64::from(u8::from(ps.healthy)),
            );
            s.gauge(
                "failover_advertised_metric",
                "Metric advertised for the prefix (-1: withdrawn).",
                &[("prefix", &prefix)],
                ps.advertised.map_or(-1.0, f64::from),
            );
            s.counter(
                "failover_role_changes",
                "Failover role transitions per prefix.",
                &[("prefix", &prefix)],
                d.role_changes.get(&prefix).copied().unwrap_or(0),
            );
        }
        let pc = p.counters();
        for (what, v) in [
            ("probe_results", pc.probe_results),
            ("stale_probe_results", pc.stale_probe_results),
            ("advertisements", pc.advertisements),
            ("withdrawals", pc.withdrawals),
            ("rate_limited", pc.rate_limited),
            ("suppressions", pc.suppressions),
        ] {
            s.counter(
                "failover_events",
                "Failover policy events, by kind.",
                &[("kind", what)],
                v,
            );
        }
        for (reason, v) in [
            ("peers_dropped", pc.peers_dropped),
            ("events_dropped", pc.events_dropped),
        ] {
            s.counter(
                "failover_drops",
                "Failover policy items dropped, by reason.",
                &[("reason", reason)],
                v,
            );
        }
    }
    s.counter("probes_started", "Health probes started.", &[], d.probes.0);
    s.counter(
        "probe_drops",
        "Health probes lost, by reason.",
        &[("reason", "timeout")],
        d.probes.1,
    );
    s.counter(
        "probe_drops",
        "Health probes lost, by reason.",
        &[("reason", "channel_full")],
        d.probes.2,
    );
    // Kernel and devices.
    let k = d.kernel;
    s.counter(
        "kernel_changes",
        "Kernel changes (rtnetlink), by result.",
        &[("result", "ok")],
        k.ok,
    );
    s.counter(
        "kernel_changes",
        "Kernel changes (rtnetlink), by result.",
        &[("result", "failed")],
        k.failed,
    );
    s.counter(
        "kernel_changes",
        "Kernel changes (rtnetlink), by result.",
        &[("result", "coalesced")],
        k.coalesced,
    );
    s.counter(
        "kernel_changes",
        "Kernel changes (rtnetlink), by result.",
        &[("result", "dropped")],
        k.dropped,
    );
    s.counter(
        "kernel_batches",
        "Batches of kernel changes sent.",
        &[],
        k.batches,
    );
    s.gauge(
        "kernel_pending",
        "Kernel changes waiting to be sent.",
        &[],
        k.pending as f64,
    );
    for name in &d.tap_names {
        let up = d.taps.iter().any(|(_, n)| n == name);
        s.gauge(
            "tap_present",
            "Whether the TAP device exists (1) or is being reopened (0).",
            &[("tap", name)],
            f64::from(u8::from(up)),
        );
    }
    s.counter(
        "tap_lost",
        "TAP devices found deleted under the daemon.",
        &[],
        d.taps_lost,
    );
    s.counter(
        "tap_reopened",
        "TAP devices opened by the reopening task (after they disappeared, or for a peer added by a reload).",
        &[],
        d.taps_reopened,
    );
    s.counter(
        "tap_reopen_failures",
        "Failed attempts to reopen a TAP device.",
        &[],
        d.tap_reopen_failures,
    );
    s
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let r = registry.clone();
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(IO_TIMEOUT * 2, answer(stream, &r)).await {
                tracing::debug!("metrics request from {from}: {e}");
            }
            drop(permit);
        });
    }
}

/// Binds `addr` and spawns [`serve`].
pub async fn spawn(addr: SocketAddr, registry: Registry) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, Arc::new(registry)));
    Ok(bound)
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics,
    NotFound,
    BadMethod,
    Bad,
}

fn parse_request(head: &[u8]) -> Request {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(path), Some(v)) if v.starts_with("HTTP/1.") => {
            if m != "GET" && m != "HEAD" {
                Request::BadMethod
            } else if path == "/metrics" || path.starts_with("/metrics?") {
                Request::Metrics
            } else {
                Request::NotFound
            }
        }
        _ => Request::Bad,
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() >= MAX_REQUEST {
            break;
        }
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, ctype, body) = match parse_request(&head) {
        Request::Metrics => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(registry),
        ),
        Request::NotFound => ("404 Not Found", "text/plain", "see /metrics\n".to_string()),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
        Request::Bad => ("400 Bad Request", "text/plain", "bad request\n".to_string()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(resp.as_bytes()))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(parse_request(b"GET / HTTP/1.0\r\n\r\n"), Request::NotFound);
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::BadMethod
        );
        assert_eq!(parse_request(b"\x00\xff garbage"), Request::Bad);
        assert_eq!(parse_request(b""), Request::Bad);
    }

    #[test]
    fn snapshot_and_histograms_render_as_openmetrics() {
        let mut snap = Snapshot::default();
        snap.counter("l2tp_drops", "drops", &[("reason", "auth_failed")], 3);
        snap.gauge(
            "failover_role",
            "role",
            &[("prefix", "2001:db8::1/128"), ("role", "Active")],
            1.0,
        );
        assert_eq!(
            snap.value("l2tp_drops", &[("reason", "auth_failed")]),
            Some(3.0)
        );
        let (_tx, rx) = watch::channel(Arc::new(snap));
        let h = Arc::new(Histograms::default());
        h.observe_probe("2001:db8::1/128", "http", Duration::from_millis(3));
        let text = render(&registry(rx, &h));
        assert!(
            text.contains("ha_node_l2tp_drops_total{reason=\"auth_failed\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ha_node_failover_role{prefix=\"2001:db8::1/128\",role=\"Active\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "ha_node_probe_latency_seconds_count{prefix=\"2001:db8::1/128\",check=\"http\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn endpoint_answers_metrics_and_refuses_the_rest() {
        let (_tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let h = Arc::new(Histograms::default());
        let addr = spawn("127.0.0.1:0".parse().unwrap(), registry(rx, &h))
            .await
            .unwrap();
        let get = |req: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("ha_node_spf_call_seconds"), "{ok}");
        assert!(
            get("GET /x HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            get("DELETE /metrics HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 405")
        );
    }
}
