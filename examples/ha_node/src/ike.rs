//! IKEv2 (RFC 7296) for the node's protected peers: the `ikev2` crate's endpoint,
//! driven by the daemon, keys each peer's [`EspPeer`] so ESP never runs on static
//! keys.
//!
//! * **What is negotiated**: per peer, one IKE SA authenticated with the pre-shared
//!   key and one CHILD SA in transport mode for IP protocol 115 (L2TPv3), the flow the
//!   node protects (every L2TPv3 message is the payload of one ESP packet,
//!   [`crate::esp`]). The traffic selectors name any address with protocol 115: the
//!   node binds each CHILD SA to its peer itself (one [`EspPeer`] per peer, found by
//!   the datagram's source before anything is opened), and through a NAT (a cloud's
//!   public addresses) the two ends see different addresses, which host selectors
//!   would refuse (RFC 7296 2.23.1). ESP is always in UDP on the ESP socket (port
//!   4500, RFC 3948), so IKE moves there after IKE_SA_INIT as with a NAT (RFC 7296
//!   2.23 allows it; `force_encap`).
//! * **Who initiates**: the node with the lower identity (our and the peer's IKE
//!   identities compared, by default the underlay addresses; through a NAT, set
//!   `local_id`/`remote_id`, the same pair on both ends, so both agree) initiates at
//!   once whenever it has no IKE SA with the peer; the other waits [`INITIATE_DELAY`] and
//!   initiates only if still nothing is up (so two fresh nodes do not both
//!   initiate). A restarted node has no SA, so it initiates and the peer gets fresh
//!   SAs at once; nothing of the old keys is used again (new SPIs, nonces and
//!   Diffie-Hellman values each run).
//! * **Duplicates**: when both initiated anyway, or the peer restarted, a node can
//!   hold two IKE SAs with one peer. The lower-identity node keeps the newest and
//!   deletes the others; the other node sends on the newest CHILD SA it installed
//!   and follows the deletes. A restarted peer's old IKE SA, which it no longer
//!   knows, is deleted (lower node) or dies by the liveness check (higher node).
//! * **Rekeying**: by time (`rekey_s`, the endpoint's timer) and by `ipsec-lite`'s
//!   soft lifetime (`rekey_packets`), both through CREATE_CHILD_SA; the new SA's
//!   outbound half is used once the peer has it (RFC 7296 2.8), the old inbound
//!   half stays for a grace period, so no packet is lost.
//! * **Restarts**: a peer that starts an IKE SA while ours has been up for more
//!   than [`INITIATE_DELAY`] has lost its state; [`IkeNode::poll_restarted`] tells
//!   the daemon, which has the core replace the L2TPv3 connection with it at once
//!   ([`crate::core::Core::peer_restarted`]). A graceful stop deletes the IKE SAs
//!   ([`IkeNode::shutdown`]); the peer then waits for us to initiate when we are
//!   back.
//!
//! Like the core this is sans-IO: the daemon hands in datagrams and time, sends
//! what [`IkeNode::poll_transmit`] returns and calls [`IkeNode::handle_timeout`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::wire::{IdPayload, TrafficSelector};
use ikev2::{
    ChildMode, DownReason, Endpoint, EndpointConfig, Event, IkeSaId, PeerConfig, PeerId, Timers,
    Transmit,
};
use ipsec_lite::SaParams;
use rand::rngs::StdRng;

use crate::config::IpsecConfig;
use crate::esp::{ChildInfo, EspPeer, NEXT_HEADER_L2TPV3};

/// How long the node with the higher identity waits for the other to initiate
/// before it does.
pub const INITIATE_DELAY: Duration = Duration::from_secs(1);

/// First retry after a failed IKE SA setup; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between setup attempts.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long the responder of a new IKE SA waits for the initiator's first packet on
/// the first CHILD SA before it sends on it anyway: the initiator installs it when
/// our IKE_AUTH response arrives, so waiting about a round trip keeps our first
/// packets from overtaking the response (and being dropped), and sending after it
/// keeps a peer that has nothing to send (it does not initiate L2TPv3) from waiting
/// for ever.
pub const FIRST_SEND_DELAY: Duration = Duration::from_millis(200);

/// Most IKE SAs the higher-address node keeps with one peer; beyond it, it too
/// keeps only the newest (the lower-identity node always does).
const MAX_SAS_PER_PEER: usize = 4;

/// One peer to key.
#[derive(Debug, Clone)]
pub struct IkePeerSpec {
    /// Name for logs and status.
    pub name: String,
    /// The peer's ESP-in-UDP address (its IKE address has port 500).
    pub esp_addr: SocketAddr,
    /// Our address towards it (identity, traffic selector, NAT detection).
    pub local_ip: IpAddr,
    /// Keys, proposals, identities, timers.
    pub cfg: IpsecConfig,
    /// The SAs to key, shared with the core and the data plane.
    pub esp: Arc<EspPeer>,
}

/// Counters, all monotonic.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct IkeCounts {
    /// IKE SAs established.
    pub ike_up: u64,
    /// IKE SAs rekeyed.
    pub ike_rekeyed: u64,
    /// CHILD SAs installed (IKE_AUTH or a new CHILD SA).
    pub child_installed: u64,
    /// CHILD SAs rekeyed.
    pub child_rekeyed: u64,
    /// Rekeys started by `ipsec-lite`'s soft lifetime.
    pub soft_rekeys: u64,
    /// Peers found dead by the liveness check.
    pub peer_dead: u64,
    /// Duplicate IKE SAs deleted.
    pub duplicates_deleted: u64,
    /// IKE SA setups that failed (authentication, proposals, timeouts).
    pub setup_failed: u64,
    /// SAs the ESP side refused.
    pub install_failed: u64,
}

struct Peer {
    spec: IkePeerSpec,
    /// Our identity is the lower one: we initiate without waiting.
    lower: bool,
    /// Our initiation in progress.
    initiating: Option<IkeSaId>,
    /// When to initiate next, if nothing is up by then.
    next_try: Option<Instant>,
    backoff: Duration,
    /// Established IKE SAs: (SA, up since, we initiated).
    sas: Vec<(IkeSaId, Instant, bool)>,
}

/// Status of one peer's IKEv2 state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct IkePeerStatus {
    /// Peer name.
    pub name: String,
    /// Established IKE SAs: our SPI (hex), seconds up, whether we initiated.
    pub ike_sas: Vec<(String, u64, bool)>,
    /// An initiation is in progress.
    pub initiating: bool,
    /// Seconds until the next attempt, when one is scheduled.
    pub next_try_in: Option<f64>,
    /// CHILD SAs installed (SPIs, suite, key fingerprints).
    pub children: Vec<ChildInfo>,
}

/// The node's IKEv2 side.
pub struct IkeNode {
    ep: Endpoint<StdRng>,
    peers: Vec<Peer>,
    /// Which peer each IKE SA belongs to.
    sa_peer: HashMap<IkeSaId, usize>,
    /// The latest time handed in.
    last_now: Option<Instant>,
    /// IKE SAs just established, whose first CHILD SA is not installed yet.
    fresh: Vec<IkeSaId>,
    /// Peers found restarted, for [`IkeNode::poll_restarted`].
    restarted: Vec<SocketAddr>,
    /// First CHILD SAs we answered: (peer, our SPI, send on it from then on).
    send_at: Vec<(usize, u32, Instant)>,
    /// [`IkeNode::shutdown`] was called: initiate nothing any more.
    stopping: bool,
    ike_port: u16,
    natt_port: u16,
    /// Counters.
    pub counts: IkeCounts,
}

impl std::fmt::Debug for IkeNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeNode")
            .field("peers", &self.peers.len())
            .field("counts", &self.counts)
            .finish()
    }
}

/// Every address of `like`'s family, IP protocol 115 (L2TPv3), any port.
fn any_l2tpv3(like: IpAddr) -> TrafficSelector {
    let (start, end) = match like {
        IpAddr::V4(_) => (IpAddr::from([0u8; 4]), IpAddr::from([0xffu8; 4])),
        IpAddr::V6(_) => (IpAddr::from([0u8; 16]), IpAddr::from([0xffu8; 16])),
    };
    let mut ts =
        TrafficSelector::range(start, end).unwrap_or_else(|| TrafficSelector::host(like, 0, None));
    ts.ip_protocol = NEXT_HEADER_L2TPV3;
    ts
}

fn id_or_addr(id: &Option<IdPayload>, addr: IpAddr) -> IdPayload {
    id.clone().unwrap_or_else(|| IdPayload::ip(addr))
}

/// The CHILD SA parameters with the node's soft lifetime: `packets`, less up to a
/// tenth taken from `our_spi` (our random inbound SPI of the CHILD SA, which the
/// peer's ends of the same SA do not share), so the two ends, which count about the
/// same packets, rarely reach it together and start colliding rekeys (RFC 7296
/// 2.8.1 resolves those, with more messages).
fn with_lifetime(p: &SaParams, packets: u64, our_spi: u32) -> SaParams {
    let mut p = p.clone();
    let jitter = u64::from(our_spi) % (packets / 10).max(1);
    p.lifetimes.soft.packets = Some(packets - jitter);
    p
}

impl IkeNode {
    /// An IKEv2 side for `peers`, IKE on `ike_port` (500), ESP-in-UDP and IKE after
    /// IKE_SA_INIT on `natt_port` (4500). Timers are endpoint-wide: the shortest of
    /// the peers' rekey and liveness intervals applies to all.
    pub fn new(peers: Vec<IkePeerSpec>, ike_port: u16, natt_port: u16, rng: StdRng) -> Self {
        let configs = peers
            .iter()
            .map(|p| {
                let x = &p.cfg;
                let remote = p.esp_addr.ip();
                let mut pc = PeerConfig::new(
                    p.local_ip,
                    remote,
                    id_or_addr(&x.local_id, p.local_ip),
                    x.remote_id.clone(),
                    x.psk.expose(),
                );
                pc.ike_proposals = x.ike.clone();
                pc.esp_proposals = x.esp.clone();
                pc.local_ts = vec![any_l2tpv3(p.local_ip)];
                pc.remote_ts = vec![any_l2tpv3(remote)];
                pc.mode = ChildMode::Transport;
                pc
            })
            .collect();
        let mut cfg = EndpointConfig::new(configs);
        cfg.ike_port = ike_port;
        cfg.natt_port = natt_port;
        cfg.force_encap = true;
        let mut timers = Timers::default();
        let min = |f: fn(&IpsecConfig) -> Duration, d: Duration| {
            peers.iter().map(|p| f(&p.cfg)).min().unwrap_or(d)
        };
        timers.child_rekey = min(|c| c.rekey, timers.child_rekey);
        timers.ike_rekey = min(|c| c.ike_rekey, timers.ike_rekey);
        timers.dpd_interval = peers.iter().filter_map(|p| p.cfg.dpd).min();
        cfg.timers = timers;
        let peers = peers
            .into_iter()
            .map(|spec| Peer {
                lower: {
                    let ours = id_or_addr(&spec.cfg.local_id, spec.local_ip);
                    let theirs = &spec.cfg.remote_id;
                    (ours.id_type, ours.body_bytes()) < (theirs.id_type, theirs.body_bytes())
                },
                spec,
                initiating: None,
                next_try: None,
                backoff: RETRY_MIN,
                sas: Vec::new(),
            })
            .collect();
        IkeNode {
            ep: Endpoint::new(cfg, rng),
            peers,
            sa_peer: HashMap::new(),
            last_now: None,
            fresh: Vec::new(),
            restarted: Vec::new(),
            send_at: Vec::new(),
            stopping: false,
            ike_port,
            natt_port,
            counts: IkeCounts::default(),
        }
    }

    /// Whether there is any peer to key.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Schedules the first IKE SA with every peer.
    pub fn start(&mut self, now: Instant) {
        for p in &mut self.peers {
            p.next_try = Some(if p.lower { now } else { now + INITIATE_DELAY });
        }
        self.handle_timeout(now);
    }

    /// An IKE datagram from `from`, received on our port `local_port` (the IKE
    /// socket, or the ESP socket with its non-ESP marker still in front).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local_port: u16,
        from: SocketAddr,
        data: &[u8],
    ) {
        let local_ip = self
            .peers
            .iter()
            .find(|p| p.spec.esp_addr.ip() == from.ip())
            .map(|p| p.spec.local_ip);
        let Some(local_ip) = local_ip else {
            // Not a configured peer: the endpoint would stay silent too.
            return;
        };
        self.ep
            .handle_datagram(now, SocketAddr::new(local_ip, local_port), from, data);
        self.process(now);
    }

    /// Runs the timers due at `now`: the endpoint's (retransmissions, rekeys,
    /// liveness), the SAs' (grace periods, soft lifetimes) and the initiations.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.ep.handle_timeout(now);
        let (due, later): (Vec<_>, Vec<_>) = self.send_at.drain(..).partition(|x| x.2 <= now);
        self.send_at = later;
        for (i, spi, _) in due {
            self.peers[i].spec.esp.outbound_ready(spi);
        }
        for p in &self.peers {
            p.spec.esp.handle_timeout(now);
            for spi in p.spec.esp.take_soft_expired() {
                match self.ep.rekey_child(now, spi) {
                    Ok(()) => {
                        self.counts.soft_rekeys += 1;
                        tracing::info!(peer = %p.spec.name, "IKEv2: CHILD SA {spi:#010x} reached its soft lifetime: rekeying");
                    }
                    Err(e) => {
                        tracing::debug!(peer = %p.spec.name, "IKEv2: rekey of {spi:#010x}: {e}")
                    }
                }
            }
        }
        for i in 0..self.peers.len() {
            let p = &mut self.peers[i];
            let idle = p.sas.is_empty() && p.initiating.is_none();
            if !idle || self.stopping {
                continue;
            }
            match p.next_try {
                None => {
                    p.next_try = Some(if p.lower { now } else { now + INITIATE_DELAY });
                }
                Some(t) if t <= now => {
                    p.next_try = None;
                    match self.ep.initiate(now, PeerId(i)) {
                        Ok(sa) => {
                            tracing::info!(peer = %p.spec.name, "IKEv2: initiating IKE SA {:#018x}", sa.0);
                            p.initiating = Some(sa);
                            self.sa_peer.insert(sa, i);
                        }
                        Err(e) => {
                            tracing::warn!(peer = %p.spec.name, "IKEv2: cannot initiate: {e}");
                            p.next_try = Some(now + p.backoff);
                            p.backoff = (p.backoff * 2).min(RETRY_MAX);
                        }
                    }
                }
                Some(_) => {}
            }
        }
        self.process(now);
    }

    /// When [`IkeNode::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let esp = self.peers.iter().filter_map(|p| p.spec.esp.poll_timeout());
        let tries = self
            .peers
            .iter()
            .filter(|p| p.sas.is_empty() && p.initiating.is_none())
            .filter_map(|p| p.next_try);
        // Soft lifetimes by packet count show up in the SAs' event queues, not as
        // deadlines: look at them at least once a second.
        let soon = self.last_now.map(|t| t + Duration::from_secs(1));
        esp.chain(tries)
            .chain(self.send_at.iter().map(|x| x.2))
            .chain(self.ep.poll_timeout())
            .chain(soon)
            .min()
    }

    /// The next datagram to send: from our IKE port or from the ESP socket (the
    /// non-ESP marker already in front).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ep.poll_transmit()
    }

    /// The next peer (by ESP address) found restarted: its L2TPv3 connection is gone
    /// on its side, so the driver has the core replace ours at once
    /// ([`crate::core::Core::peer_restarted`]) rather than wait for it to go silent.
    pub fn poll_restarted(&mut self) -> Option<SocketAddr> {
        self.restarted.pop()
    }

    /// Whether a transmit goes out of the IKE socket (else the ESP socket).
    pub fn on_ike_port(&self, t: &Transmit) -> bool {
        t.local.port() == self.ike_port && self.ike_port != self.natt_port
    }

    fn process(&mut self, now: Instant) {
        let mut events = Vec::new();
        while let Some(ev) = self.ep.poll_event() {
            events.push(ev);
        }
        // SAs first, so the CHILD SA events of one exchange find their peer.
        for ev in &events {
            match ev {
                Event::IkeSaUp { sa, peer, .. } => {
                    self.sa_peer.insert(*sa, peer.0);
                }
                Event::IkeSaRekeyed { old, new } => {
                    if let Some(&i) = self.sa_peer.get(old) {
                        self.sa_peer.insert(*new, i);
                    }
                }
                _ => {}
            }
        }
        for ev in events {
            self.on_event(now, ev);
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        let peer_of = |s: &Self, sa: &IkeSaId| s.sa_peer.get(sa).copied();
        match ev {
            Event::IkeSaUp {
                sa,
                peer,
                remote,
                suite,
                initiator,
            } => {
                self.counts.ike_up += 1;
                let p = &mut self.peers[peer.0];
                if p.initiating == Some(sa) {
                    p.initiating = None;
                }
                p.backoff = RETRY_MIN;
                // The peer initiates only when it has no IKE SA with us: one it starts
                // while ours has been up for a while means it lost its state (a
                // restart). What ran over the old SAs (the L2TPv3 connection) is gone
                // on its side too. (Within INITIATE_DELAY it is the start-up race.)
                if !initiator
                    && p.sas
                        .iter()
                        .any(|s| now.saturating_duration_since(s.1) > INITIATE_DELAY)
                {
                    tracing::info!(peer = %p.spec.name, "IKEv2: the peer started a new IKE SA while ours was up: it restarted");
                    self.restarted.push(p.spec.esp_addr);
                }
                p.sas.push((sa, now, initiator));
                self.fresh.push(sa);
                tracing::info!(
                    peer = %p.spec.name,
                    "IKEv2: IKE SA {:#018x} up with {remote} ({suite}, {})",
                    sa.0,
                    if initiator { "we initiated" } else { "peer initiated" }
                );
                self.drop_duplicates(now, peer.0);
            }
            Event::IkeSaRekeyed { old, new } => {
                self.counts.ike_rekeyed += 1;
                if let Some(i) = peer_of(self, &new) {
                    let p = &mut self.peers[i];
                    for s in p.sas.iter_mut() {
                        if s.0 == old {
                            s.0 = new;
                        }
                    }
                    tracing::info!(peer = %p.spec.name, "IKEv2: IKE SA {:#018x} rekeyed to {:#018x}", old.0, new.0);
                }
            }
            Event::IkeSaDown { sa, peer, reason } => {
                self.sa_peer.remove(&sa);
                self.fresh.retain(|s| *s != sa);
                let p = &mut self.peers[peer.0];
                p.sas.retain(|s| s.0 != sa);
                if p.initiating == Some(sa) {
                    p.initiating = None;
                    self.counts.setup_failed += 1;
                    p.next_try = Some(now + p.backoff);
                    p.backoff = (p.backoff * 2).min(RETRY_MAX);
                } else if reason == DownReason::DeletedByPeer && p.sas.is_empty() {
                    // The peer deleted its last SA with us: it is stopping (see
                    // `shutdown`) and initiates itself when it is back. Initiating
                    // now would cross its initiation then (two IKE SAs, and a
                    // restart seen where there is none).
                    p.next_try = Some(now + RETRY_MAX);
                }
                tracing::info!(peer = %p.spec.name, "IKEv2: IKE SA {:#018x} down: {reason:?}", sa.0);
            }
            Event::ChildSaInstalled { sa, keys } => {
                let Some(i) = peer_of(self, &sa) else { return };
                let first = self.fresh.contains(&sa);
                self.fresh.retain(|s| *s != sa);
                let p = &self.peers[i];
                let n = p.spec.cfg.rekey_packets;
                // The responder of a new IKE SA sends on its first CHILD SA once the
                // initiator's first packet arrives on it (RFC 7296 2.8), or after
                // FIRST_SEND_DELAY: the peer initiates an IKE SA only when it has
                // none with us (a restart, or a lost one), so no older SA of ours
                // reaches it any more, and it may have nothing to send.
                let r = p.spec.esp.install(
                    now,
                    &with_lifetime(&keys.inbound, n, keys.inbound.spi),
                    &with_lifetime(&keys.outbound, n, keys.inbound.spi),
                    keys.outbound_ready,
                );
                if first && !keys.outbound_ready {
                    self.send_at
                        .push((i, keys.inbound.spi, now + FIRST_SEND_DELAY));
                }
                self.counts.child_installed += 1;
                self.note_install(i, "installed", keys.inbound.spi, keys.outbound.spi, r);
            }
            Event::ChildSaRekeyed {
                sa,
                new,
                old_inbound,
                grace,
                ..
            } => {
                let Some(i) = peer_of(self, &sa) else { return };
                let p = &self.peers[i];
                let n = p.spec.cfg.rekey_packets;
                let r = p.spec.esp.rekey(
                    now,
                    old_inbound,
                    &with_lifetime(&new.inbound, n, new.inbound.spi),
                    &with_lifetime(&new.outbound, n, new.inbound.spi),
                    new.outbound_ready,
                    grace,
                );
                self.counts.child_rekeyed += 1;
                self.note_install(i, "rekeyed", new.inbound.spi, new.outbound.spi, r);
            }
            Event::ChildSaOutboundReady { sa, inbound, .. } => {
                if let Some(i) = peer_of(self, &sa) {
                    self.peers[i].spec.esp.outbound_ready(inbound);
                }
            }
            Event::ChildSaSwitched {
                sa,
                old_outbound,
                new_inbound,
                ..
            } => {
                if let Some(i) = peer_of(self, &sa) {
                    self.peers[i].spec.esp.switched(new_inbound, old_outbound);
                }
            }
            Event::ChildSaDeleted {
                sa,
                inbound,
                outbound,
                superseded,
            } => {
                if let Some(i) = peer_of(self, &sa) {
                    self.peers[i].spec.esp.delete(inbound, outbound, superseded);
                }
            }
            Event::PeerDead { sa, peer } => {
                self.counts.peer_dead += 1;
                tracing::warn!(peer = %self.peers[peer.0].spec.name, "IKEv2: peer dead (IKE SA {:#018x})", sa.0);
            }
            Event::Notify { sa, notify, sent } => {
                let who = peer_of(self, &sa)
                    .map(|i| self.peers[i].spec.name.clone())
                    .unwrap_or_default();
                tracing::warn!(peer = %who, "IKEv2: {} notify {notify:?}", if sent { "sent" } else { "received" });
            }
            other => tracing::debug!("IKEv2: {other:?}"),
        }
    }

    fn note_install(
        &mut self,
        i: usize,
        what: &str,
        spi_in: u32,
        spi_out: u32,
        r: Result<(), crate::esp::EspError>,
    ) {
        let p = &self.peers[i];
        match r {
            Ok(()) => tracing::info!(
                peer = %p.spec.name,
                "IKEv2: CHILD SA {what}: in {spi_in:#010x} out {spi_out:#010x}"
            ),
            Err(e) => {
                self.counts.install_failed += 1;
                tracing::warn!(peer = %p.spec.name, "IKEv2: CHILD SA in {spi_in:#010x} not {what}: {e}");
            }
        }
    }

    /// At most one IKE SA per peer: the lower-identity node keeps the newest and
    /// deletes the others (the other node follows the deletes).
    fn drop_duplicates(&mut self, now: Instant, i: usize) {
        let p = &mut self.peers[i];
        if !p.lower && p.sas.len() <= MAX_SAS_PER_PEER {
            return;
        }
        let Some(&(keep, ..)) = p.sas.iter().max_by_key(|s| s.1) else {
            return;
        };
        let others: Vec<IkeSaId> = p.sas.iter().map(|s| s.0).filter(|s| *s != keep).collect();
        for sa in others {
            self.counts.duplicates_deleted += 1;
            tracing::info!(peer = %p.spec.name, "IKEv2: deleting IKE SA {:#018x}, a duplicate of {:#018x}", sa.0, keep.0);
            if let Err(e) = self.ep.delete_ike(now, sa) {
                tracing::debug!("IKEv2: delete {:#018x}: {e}", sa.0);
            }
        }
    }

    /// Deletes every IKE SA (RFC 7296 1.4.1), for a graceful stop: the peers drop
    /// their SAs with us at once instead of sending into them until their liveness
    /// check gives up. Nothing is initiated afterwards.
    pub fn shutdown(&mut self, now: Instant) {
        for p in &mut self.peers {
            for (sa, ..) in std::mem::take(&mut p.sas) {
                if let Err(e) = self.ep.delete_ike(now, sa) {
                    tracing::debug!(peer = %p.spec.name, "IKEv2: delete {:#018x}: {e}", sa.0);
                }
            }
            p.next_try = None;
            p.initiating = None;
        }
        self.send_at.clear();
        self.stopping = true;
    }

    /// Status of every peer.
    pub fn status(&self, now: Instant) -> Vec<IkePeerStatus> {
        self.peers
            .iter()
            .map(|p| IkePeerStatus {
                name: p.spec.name.clone(),
                ike_sas: p
                    .sas
                    .iter()
                    .map(|(sa, up, init)| {
                        (
                            format!("{:#018x}", sa.0),
                            now.saturating_duration_since(*up).as_secs(),
                            *init,
                        )
                    })
                    .collect(),
                initiating: p.initiating.is_some(),
                next_try_in: p
                    .next_try
                    .filter(|_| p.sas.is_empty())
                    .map(|t| t.saturating_duration_since(now).as_secs_f64()),
                children: p.spec.esp.children(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const A: [u8; 4] = [10, 9, 0, 1];
    const B: [u8; 4] = [10, 9, 0, 2];

    fn ipsec(rekey_packets: u64) -> IpsecConfig {
        IpsecConfig {
            psk: "an ike.rs test pre-shared key...".into(),
            ike: vec![ikev2::crypto::IkeSuite::aes128gcm16_prfsha256_x25519()],
            esp: vec!["aes128gcm16-esn".parse().unwrap()],
            local_id: None,
            remote_id: IdPayload::ip(IpAddr::from([0u8; 4])),
            rekey: Duration::from_secs(3600),
            rekey_packets,
            ike_rekey: Duration::from_secs(4 * 3600),
            dpd: Some(Duration::from_secs(10)),
        }
    }

    /// A node at `me` keying its peer `them`; `seed` varies its randomness.
    fn node(me: [u8; 4], them: [u8; 4], seed: u64, rekey_packets: u64) -> (IkeNode, Arc<EspPeer>) {
        let esp = Arc::new(EspPeer::new(them.into(), ipsec_lite::Suite::AesGcm128));
        let mut cfg = ipsec(rekey_packets);
        cfg.remote_id = IdPayload::ip(them.into());
        let spec = IkePeerSpec {
            name: "peer".into(),
            esp_addr: SocketAddr::new(them.into(), 4500),
            local_ip: me.into(),
            cfg,
            esp: esp.clone(),
        };
        let n = IkeNode::new(vec![spec], 500, 4500, StdRng::seed_from_u64(seed));
        (n, esp)
    }

    /// Moves datagrams both ways until both are quiet.
    fn pump(now: Instant, a: &mut IkeNode, b: &mut IkeNode) {
        for _ in 0..32 {
            let mut moved = false;
            while let Some(t) = a.poll_transmit() {
                b.handle_datagram(now, t.remote.port(), t.local, &t.payload);
                moved = true;
            }
            while let Some(t) = b.poll_transmit() {
                a.handle_datagram(now, t.remote.port(), t.local, &t.payload);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// One message from `tx` to `rx` through their SAs; true when it opened.
    fn carries(now: Instant, tx: &EspPeer, rx: &EspPeer) -> bool {
        let Ok(mut p) = tx.seal_message(now, b"\x00\x03\x00\x00l2tp") else {
            return false;
        };
        rx.open(now, &mut p).is_ok()
    }

    fn up(now: Instant, a: &mut IkeNode, b: &mut IkeNode) {
        a.start(now);
        b.start(now);
        pump(now, a, b);
        // The higher address waits INITIATE_DELAY; nothing to do once up.
        let later = now + INITIATE_DELAY + Duration::from_millis(1);
        a.handle_timeout(later);
        b.handle_timeout(later);
        pump(later, a, b);
    }

    #[test]
    fn the_lower_address_initiates_and_the_responder_sends_when_it_is_safe() {
        let now = Instant::now();
        let (mut a, ea) = node(A, B, 1, 1 << 31);
        let (mut b, eb) = node(B, A, 2, 1 << 31);
        a.start(now);
        b.start(now);
        pump(now, &mut a, &mut b);
        assert_eq!((a.counts.ike_up, b.counts.ike_up), (1, 1));
        assert!(a.status(now)[0].ike_sas[0].2, "a (lower) initiated");
        // The initiator sends at once; the responder once a packet shows the
        // initiator has the SA.
        assert!(ea.ready() && !eb.ready());
        assert!(carries(now, &ea, &eb));
        assert!(eb.ready() && carries(now, &eb, &ea));
        // A responder whose peer sends nothing starts after FIRST_SEND_DELAY.
        let (mut c, ec) = node(A, B, 3, 1 << 31);
        let (mut d, ed) = node(B, A, 4, 1 << 31);
        c.start(now);
        d.start(now);
        pump(now, &mut c, &mut d);
        assert!(!ed.ready());
        d.handle_timeout(now + FIRST_SEND_DELAY);
        assert!(ed.ready() && carries(now, &ed, &ec));
        // No duplicate once the higher address's delay has passed.
        let later = now + INITIATE_DELAY + Duration::from_millis(1);
        for n in [&mut a, &mut b] {
            n.handle_timeout(later);
        }
        pump(later, &mut a, &mut b);
        assert_eq!((a.counts.ike_up, b.counts.ike_up), (1, 1), "no duplicate");
        assert!(a.poll_restarted().is_none() && b.poll_restarted().is_none());
    }

    /// A restarted peer gets fresh SAs at once, its restart is reported, the old IKE
    /// SA goes, and no (SPI, key) of the first run is used again.
    #[test]
    fn a_restarted_peer_gets_fresh_sas_and_is_reported() {
        let t0 = Instant::now();
        let (mut a, ea) = node(A, B, 1, 1 << 31);
        let (mut b, eb) = node(B, A, 2, 1 << 31);
        up(t0, &mut a, &mut b);
        let first = (ea.children(), eb.children());
        // b restarts 10 s later: new process, new randomness.
        let t1 = t0 + Duration::from_secs(10);
        let (mut b, eb) = node(B, A, 3, 1 << 31);
        b.start(t1);
        let t2 = t1 + INITIATE_DELAY + Duration::from_millis(1);
        b.handle_timeout(t2);
        pump(t2, &mut a, &mut b);
        assert_eq!(
            a.poll_restarted(),
            Some(SocketAddr::new(B.into(), 4500)),
            "the restart is reported"
        );
        assert!(
            a.counts.duplicates_deleted >= 1,
            "the old IKE SA is deleted"
        );
        // b initiated: it sends at once; a answers on the new SA from b's first
        // packet on (never on the old SA, which b no longer has).
        assert!(carries(t2, &eb, &ea), "b sends on the new SA at once");
        assert!(carries(t2, &ea, &eb), "a follows");
        let keys = |c: &[ChildInfo]| {
            c.iter()
                .flat_map(|x| [(x.spi_in, x.key_in.clone()), (x.spi_out, x.key_out.clone())])
                .collect::<Vec<_>>()
        };
        let new_b = keys(&eb.children());
        for old in keys(&first.1).iter().chain(keys(&first.0).iter()) {
            assert!(
                !new_b.iter().any(|n| n.0 == old.0 || n.1 == old.1),
                "{old:?} used again"
            );
        }
    }

    /// A graceful stop deletes the IKE SA: the peer drops its SAs at once.
    #[test]
    fn shutdown_deletes_the_sas_on_both_sides() {
        let now = Instant::now();
        let (mut a, _) = node(A, B, 1, 1 << 31);
        let (mut b, eb) = node(B, A, 2, 1 << 31);
        up(now, &mut a, &mut b);
        assert!(eb.ready());
        a.shutdown(now);
        pump(now, &mut a, &mut b);
        assert!(
            b.status(now)[0].ike_sas.is_empty(),
            "b still has the IKE SA"
        );
        assert!(
            !eb.ready() && eb.children().is_empty(),
            "b still sends into the SA"
        );
        // a initiates nothing any more; b waits for a to come back and initiate.
        let later = now + Duration::from_secs(5);
        a.handle_timeout(later);
        b.handle_timeout(later);
        assert!(a.poll_transmit().is_none() && b.poll_transmit().is_none());
        // a restarts and initiates: one IKE SA with b, traffic at once.
        let (mut a, ea) = node(A, B, 7, 1 << 31);
        a.start(later);
        pump(later, &mut a, &mut b);
        assert_eq!(b.status(later)[0].ike_sas.len(), 1);
        assert!(carries(later, &ea, &eb));
    }

    /// The soft lifetime (in packets) starts a CHILD SA rekey, and traffic both ways
    /// opens on every packet across the switch.
    #[test]
    fn soft_lifetime_rekeys_without_losing_a_packet() {
        let mut now = Instant::now();
        let (mut a, ea) = node(A, B, 1, 100);
        let (mut b, eb) = node(B, A, 2, 100);
        up(now, &mut a, &mut b);
        let spi0 = ea.spi_out();
        for i in 0..400 {
            assert!(carries(now, &ea, &eb), "a -> b packet {i}");
            assert!(carries(now, &eb, &ea), "b -> a packet {i}");
            now += Duration::from_millis(1);
            a.handle_timeout(now);
            b.handle_timeout(now);
            pump(now, &mut a, &mut b);
        }
        assert!(a.counts.soft_rekeys + b.counts.soft_rekeys >= 1);
        assert!(
            a.counts.child_rekeyed >= 1 && b.counts.child_rekeyed >= 1,
            "{:?} {:?}",
            a.counts,
            b.counts
        );
        assert_ne!(ea.spi_out(), spi0, "a sends on a rekeyed SA");
    }

    /// Both ends reach the soft lifetime between two timer runs and rekey at once
    /// (RFC 7296 2.8.1 collisions): still every packet opens.
    #[test]
    fn colliding_rekeys_lose_no_packet() {
        let mut now = Instant::now();
        let (mut a, ea) = node(A, B, 5, 100);
        let (mut b, eb) = node(B, A, 6, 100);
        up(now, &mut a, &mut b);
        for i in 0..400 {
            assert!(carries(now, &ea, &eb), "a -> b packet {i}");
            assert!(carries(now, &eb, &ea), "b -> a packet {i}");
            if i % 20 == 0 {
                now += Duration::from_millis(20);
                a.handle_timeout(now);
                b.handle_timeout(now);
                pump(now, &mut a, &mut b);
            }
        }
        assert!(a.counts.soft_rekeys >= 1 && b.counts.soft_rekeys >= 1);
        assert_eq!(a.counts.install_failed + b.counts.install_failed, 0);
    }
}
