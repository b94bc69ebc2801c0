//! An IKEv2 peer on real sockets, for interop tests with strongSwan: our `Endpoint`
//! negotiates the SAs, `ipsec-lite` terminates the tunnel-mode CHILD SA in user space
//! (ESP in UDP on port 4500, as strongSwan's kernel-libipsec always does).
//!
//! Inside the tunnel it answers ICMP echo requests to `--inner-local` (so a `ping` from
//! the peer's side gets replies) and, with `--ping-ms`, pings `--inner-remote` itself and
//! counts the replies. It prints one line per event and a final `STATS` line.
//!
//! ```text
//! ike_peer --local 192.0.2.1 --remote 192.0.2.2 --local-id a.lab.example \
//!     --remote-id b.lab.example --psk-file psk --local-ts 10.10.1.1/32 \
//!     --remote-ts 10.10.2.1/32 --proposal gcm --initiate --ping-ms 100 --duration 20
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use ikev2::crypto::{Encr, EspSuite, Group, IkeSuite, Integ};
use ikev2::wire::{IdPayload, TrafficSelector};
use ikev2::{Endpoint, EndpointConfig, Event, PeerConfig, PeerId};
use ipsec_lite::{Backend, Direction, Flow, OuterAddrs, Sad, SecurityAssociation, UdpInbound};
use tokio::net::UdpSocket;

#[derive(Parser, Debug)]
#[command(about = "IKEv2 peer (ikev2 + ipsec-lite) for strongSwan interop tests")]
struct Args {
    /// Our underlay address.
    #[arg(long)]
    local: IpAddr,
    /// The peer's underlay address.
    #[arg(long)]
    remote: IpAddr,
    /// Our identity (FQDN, or an IP address).
    #[arg(long)]
    local_id: String,
    /// The peer's identity.
    #[arg(long)]
    remote_id: String,
    /// Pre-shared key (prefer --psk-file).
    #[arg(long)]
    psk: Option<String>,
    /// File holding the pre-shared key (trailing newline ignored).
    #[arg(long)]
    psk_file: Option<std::path::PathBuf>,
    /// Proposal set: gcm (AES-GCM-16-128, PRF SHA2-256, Curve25519), cbc (AES-CBC-128,
    /// HMAC-SHA2-256, ECP-256) or both (gcm first).
    #[arg(long, default_value = "gcm")]
    proposal: String,
    /// PFS group for CHILD SA rekeys: none, x25519, ecp256.
    #[arg(long, default_value = "none")]
    pfs: String,
    /// Extended sequence numbers.
    #[arg(long)]
    esn: bool,
    /// Our traffic selector (CIDR).
    #[arg(long)]
    local_ts: String,
    /// The peer's traffic selector (CIDR).
    #[arg(long)]
    remote_ts: String,
    /// Our inner address (answers pings); default: the local selector's first address.
    #[arg(long)]
    inner_local: Option<Ipv4Addr>,
    /// The peer's inner address to ping; default: the remote selector's first address.
    #[arg(long)]
    inner_remote: Option<Ipv4Addr>,
    /// Initiate (otherwise respond only).
    #[arg(long)]
    initiate: bool,
    /// Ping the peer's inner address every this many milliseconds once a CHILD SA is up.
    #[arg(long)]
    ping_ms: Option<u64>,
    /// Stop after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Rekey the CHILD SA this many seconds after it came up (once).
    #[arg(long)]
    rekey_child_at: Option<f64>,
    /// Rekey the IKE SA this many seconds after it came up (once).
    #[arg(long)]
    rekey_ike_at: Option<f64>,
    /// Liveness check interval in seconds.
    #[arg(long, default_value_t = 30)]
    dpd: u64,
    /// First retransmission timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    retransmit_ms: u64,
    /// Transmissions of a request before the peer is declared dead.
    #[arg(long, default_value_t = 6)]
    retransmit_tries: u32,
    /// Do not force UDP encapsulation (only move to 4500 when NAT is detected).
    #[arg(long)]
    no_force_encap: bool,
    /// Half-open SAs beyond which IKE_SA_INIT must carry a cookie (0: always).
    #[arg(long, default_value_t = 16)]
    cookie_threshold: usize,
    /// Stop pinging this many seconds before the end (to count late replies).
    #[arg(long, default_value_t = 1.0)]
    ping_stop_before: f64,
}

fn id(s: &str) -> IdPayload {
    match s.parse::<IpAddr>() {
        Ok(a) => IdPayload::ip(a),
        Err(_) => IdPayload::fqdn(s),
    }
}

fn cidr(s: &str) -> Result<TrafficSelector, String> {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let addr: IpAddr = a.parse().map_err(|e| format!("{s}: {e}"))?;
    let (bits, max) = match addr {
        IpAddr::V4(_) => (32u32, 32u8),
        IpAddr::V6(_) => (128, 128),
    };
    let len: u8 = if l.is_empty() {
        max
    } else {
        l.parse().map_err(|e| format!("{s}: {e}"))?
    };
    if len > max {
        return Err(format!("{s}: prefix too long"));
    }
    let (start, end) = match addr {
        IpAddr::V4(a) => {
            let host = if len == 0 {
                u32::MAX
            } else {
                (1u32 << (bits - u32::from(len))).wrapping_sub(1)
            };
            let s = u32::from(a) & !host;
            (IpAddr::V4(s.into()), IpAddr::V4((s | host).into()))
        }
        IpAddr::V6(a) => {
            let host = if len == 0 {
                u128::MAX
            } else {
                (1u128 << (bits - u32::from(len))).wrapping_sub(1)
            };
            let s = u128::from(a) & !host;
            (IpAddr::V6(s.into()), IpAddr::V6((s | host).into()))
        }
    };
    TrafficSelector::range(start, end).ok_or_else(|| format!("{s}: bad range"))
}

fn first_v4(ts: &TrafficSelector) -> Option<Ipv4Addr> {
    match ts.range {
        ikev2::wire::AddrRange::V4(a, _) => Some(a),
        _ => None,
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo (request: type 8, reply: type 0) packet.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + data.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = kind;
    p[24..26].copy_from_slice(&ident.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    p[28..].copy_from_slice(data);
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

#[derive(Default, Debug)]
struct Stats {
    ike_up: u32,
    ike_rekeyed: u32,
    child_installed: u32,
    child_rekeyed: u32,
    child_deleted: u32,
    peer_dead: u32,
    pings_sent: u64,
    replies: u64,
    echo_answered: u64,
    esp_in: u64,
    esp_out: u64,
    esp_dropped: u64,
}

struct Peer {
    ep: Endpoint<rand::rngs::StdRng>,
    sad: Sad,
    s500: UdpSocket,
    s4500: UdpSocket,
    local: IpAddr,
    remote: IpAddr,
    inner_local: Ipv4Addr,
    inner_remote: Ipv4Addr,
    /// Where to send ESP (the peer's NAT-T address).
    esp_to: Option<SocketAddr>,
    stats: Stats,
    up_at: Option<Instant>,
    child: Option<u32>,
    /// Outbound halves waiting until the peer has installed them (RFC 7296 2.8), by our
    /// inbound SPI of the same CHILD SA: (params, policy, outbound SA they replace).
    pending_out:
        std::collections::HashMap<u32, (ipsec_lite::SaParams, ipsec_lite::Policy, Option<u32>)>,
    seen_replies: std::collections::BTreeSet<u16>,
}

fn log(msg: std::fmt::Arguments<'_>) {
    println!(
        "ike_peer {:?}: {msg}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    );
}

impl Peer {
    async fn flush(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            let sock = if t.local.port() == self.ep.config().natt_port {
                &self.s4500
            } else {
                &self.s500
            };
            if let Err(e) = sock.send_to(&t.payload, t.remote).await {
                log(format_args!("send to {} failed: {e}", t.remote));
            }
        }
        let now = Instant::now();
        while let Some(ev) = self.ep.poll_event() {
            self.on_event(now, ev);
        }
        while let Some(ev) = self.sad.poll_event() {
            log(format_args!("SAD {ev:?}"));
        }
    }

    fn add(&mut self, now: Instant, keys: &ikev2::ChildSaKeys) -> Result<(), String> {
        let be = Backend::default();
        let policy = keys
            .policy
            .ok_or("traffic selectors not expressible as one prefix pair")?;
        let i = SecurityAssociation::new(now, &keys.inbound, be).map_err(|e| e.to_string())?;
        self.sad.add(i, policy).map_err(|e| e.to_string())?;
        if keys.outbound_ready {
            let o = SecurityAssociation::new(now, &keys.outbound, be).map_err(|e| e.to_string())?;
            self.sad.add(o, policy).map_err(|e| e.to_string())?;
            self.child = Some(keys.inbound.spi);
        } else {
            self.pending_out
                .insert(keys.inbound.spi, (keys.outbound.clone(), policy, None));
        }
        Ok(())
    }

    /// Starts sending on the CHILD SA whose inbound SPI is `spi` (the peer showed it has
    /// installed it: a packet arrived on it, or it deleted the SA it replaces).
    fn activate(&mut self, now: Instant, spi: u32, why: &str) {
        let Some((params, policy, old)) = self.pending_out.remove(&spi) else {
            return;
        };
        let r = (|| -> Result<(), String> {
            let o = SecurityAssociation::new(now, &params, Backend::default())
                .map_err(|e| e.to_string())?;
            match old {
                Some(old) if self.sad.outbound(old).is_some() => {
                    self.sad.rekey_outbound(old, o).map_err(|e| e.to_string())
                }
                _ => self.sad.add(o, policy).map_err(|e| e.to_string()),
            }
        })();
        self.child = Some(spi);
        log(format_args!(
            "OUTBOUND active out={:#010x} (in={spi:#010x}, {why}): {r:?}",
            params.spi
        ));
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match &ev {
            Event::IkeSaUp {
                sa,
                remote,
                suite,
                initiator,
                ..
            } => {
                self.stats.ike_up += 1;
                self.up_at.get_or_insert(now);
                log(format_args!(
                    "EVENT IkeSaUp sa={:#018x} remote={remote} initiator={initiator} suite={suite:?}",
                    sa.0
                ));
            }
            Event::IkeSaRekeyed { old, new } => {
                self.stats.ike_rekeyed += 1;
                log(format_args!(
                    "EVENT IkeSaRekeyed old={:#018x} new={:#018x}",
                    old.0, new.0
                ));
            }
            Event::IkeSaDown { sa, reason, .. } => log(format_args!(
                "EVENT IkeSaDown sa={:#018x} reason={reason:?}",
                sa.0
            )),
            Event::ChildSaInstalled { keys, .. } => {
                self.stats.child_installed += 1;
                if let Some((_, r)) = keys.encap {
                    self.esp_to = Some(SocketAddr::new(self.remote, r));
                }
                match self.add(now, keys) {
                    Ok(()) => log(format_args!(
                        "EVENT ChildSaInstalled in={:#010x} out={:#010x} suite={:?} mode={:?} encap={:?} ts={:?}===>{:?}",
                        keys.inbound.spi,
                        keys.outbound.spi,
                        keys.inbound.suite,
                        keys.mode,
                        keys.encap,
                        keys.local_ts,
                        keys.remote_ts
                    )),
                    Err(e) => log(format_args!(
                        "EVENT ChildSaInstalled but not installed: {e}"
                    )),
                }
            }
            Event::ChildSaRekeyed {
                new,
                old_inbound,
                old_outbound,
                grace,
                ..
            } => {
                self.stats.child_rekeyed += 1;
                let be = Backend::default();
                let r = (|| -> Result<(), String> {
                    let i = SecurityAssociation::new(now, &new.inbound, be)
                        .map_err(|e| e.to_string())?;
                    self.sad
                        .rekey_inbound(*old_inbound, i, *grace)
                        .map_err(|e| e.to_string())?;
                    if new.outbound_ready {
                        let o = SecurityAssociation::new(now, &new.outbound, be)
                            .map_err(|e| e.to_string())?;
                        self.sad
                            .rekey_outbound(*old_outbound, o)
                            .map_err(|e| e.to_string())?;
                    } else if let Some(policy) = new.policy {
                        self.pending_out.insert(
                            new.inbound.spi,
                            (new.outbound.clone(), policy, Some(*old_outbound)),
                        );
                    }
                    Ok(())
                })();
                self.child = Some(new.inbound.spi);
                log(format_args!(
                    "EVENT ChildSaRekeyed old_in={old_inbound:#010x} new_in={:#010x} new_out={:#010x} {r:?}",
                    new.inbound.spi, new.outbound.spi
                ));
            }
            Event::ChildSaOutboundReady { inbound, .. } => {
                self.activate(now, *inbound, "ChildSaOutboundReady");
            }
            Event::ChildSaSwitched {
                old_outbound,
                new_inbound,
                ..
            } => {
                let _ = self.sad.remove(*old_outbound, Direction::Outbound);
                self.child = Some(*new_inbound);
                log(format_args!("EVENT ChildSaSwitched {ev:?}"));
            }
            Event::ChildSaDeleted {
                inbound,
                outbound,
                superseded,
                ..
            } => {
                self.stats.child_deleted += 1;
                // The peer deleting the replaced SA has the new one installed.
                let waiting: Vec<u32> = self
                    .pending_out
                    .iter()
                    .filter(|(_, (_, _, old))| *old == Some(*outbound))
                    .map(|(k, _)| *k)
                    .collect();
                for k in waiting {
                    self.activate(now, k, "old SA deleted");
                }
                if !superseded {
                    let _ = self.sad.remove(*inbound, Direction::Inbound);
                }
                let _ = self.sad.remove(*outbound, Direction::Outbound);
                if self.child == Some(*inbound) {
                    self.child = None;
                }
                log(format_args!(
                    "EVENT ChildSaDeleted in={inbound:#010x} out={outbound:#010x} superseded={superseded}"
                ));
            }
            Event::PeerDead { sa, .. } => {
                self.stats.peer_dead += 1;
                log(format_args!("EVENT PeerDead sa={:#018x}", sa.0));
            }
            other => log(format_args!("EVENT {other:?}")),
        }
    }

    /// Seals an inner IPv4 packet into the CHILD SA and sends it.
    async fn send_inner(&mut self, pkt: &[u8]) {
        let Some(to) = self.esp_to else {
            return;
        };
        let flow = Flow {
            local: IpAddr::V4(self.inner_local),
            remote: IpAddr::V4(self.inner_remote),
            protocol: pkt.get(9).copied().unwrap_or(0),
            local_port: 0,
            remote_port: 0,
        };
        let head = 64;
        let mut buf = vec![0u8; head + pkt.len() + 128];
        buf[head..head + pkt.len()].copy_from_slice(pkt);
        match self
            .sad
            .seal(Instant::now(), &flow, &mut buf, head..head + pkt.len(), 4)
        {
            Ok(s) => {
                let p = s.packet.to_vec();
                if self.s4500.send_to(&p, to).await.is_ok() {
                    self.stats.esp_out += 1;
                }
            }
            Err(e) => {
                self.stats.esp_dropped += 1;
                log(format_args!("seal failed: {e}"));
            }
        }
    }

    async fn on_4500(&mut self, from: SocketAddr, to: SocketAddr, data: &mut [u8]) {
        if data.len() >= 4 && data[..4] == [0, 0, 0, 0] {
            self.ep.handle_datagram(Instant::now(), to, from, data);
            return;
        }
        let outer = OuterAddrs {
            src: from.ip(),
            dst: to.ip(),
        };
        let reply = match self.sad.open_udp(Instant::now(), outer, data) {
            Ok(UdpInbound::Esp(d)) => {
                self.stats.esp_in += 1;
                let spi = d.spi;
                if self.pending_out.contains_key(&spi) {
                    self.activate(Instant::now(), spi, "first inbound packet");
                }
                let p = &d.payload;
                if p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 1 {
                    let ihl = usize::from(p[0] & 0x0f) * 4;
                    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
                    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
                    let icmp = &p[ihl..];
                    let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
                    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
                    match icmp[0] {
                        8 if dst == self.inner_local => {
                            self.stats.echo_answered += 1;
                            Some(icmp_echo(dst, src, 0, ident, seq, &icmp[8..]))
                        }
                        0 if dst == self.inner_local => {
                            if self.seen_replies.insert(seq) {
                                self.stats.replies += 1;
                            }
                            None
                        }
                        _ => None,
                    }
                } else {
                    None
                }
            }
            Ok(_) => None,
            Err(_) => {
                self.stats.esp_dropped += 1;
                None
            }
        };
        if let Some(r) = reply {
            self.send_inner(&r).await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let psk = match (&args.psk, &args.psk_file) {
        (_, Some(f)) => std::fs::read_to_string(f)?
            .trim_end_matches('\n')
            .as_bytes()
            .to_vec(),
        (Some(p), None) => p.as_bytes().to_vec(),
        (None, None) => return Err("need --psk or --psk-file".into()),
    };
    let local_ts = cidr(&args.local_ts)?;
    let remote_ts = cidr(&args.remote_ts)?;
    let mut pc = PeerConfig::new(
        args.local,
        args.remote,
        id(&args.local_id),
        id(&args.remote_id),
        &psk,
    );
    let pfs = match args.pfs.as_str() {
        "none" => None,
        "x25519" => Some(Group::Curve25519),
        "ecp256" => Some(Group::Ecp256),
        o => return Err(format!("unknown PFS group {o}").into()),
    };
    let esp = |encr, integ| EspSuite {
        encr,
        integ,
        esn: args.esn,
        pfs,
    };
    let (ike, esps) = match args.proposal.as_str() {
        "gcm" => (
            vec![IkeSuite::aes128gcm16_prfsha256_x25519()],
            vec![esp(Encr::AesGcm16_128, None)],
        ),
        "cbc" => (
            vec![IkeSuite::aes128_sha256_ecp256()],
            vec![esp(Encr::AesCbc128, Some(Integ::HmacSha256_128))],
        ),
        "both" => (
            vec![
                IkeSuite::aes128gcm16_prfsha256_x25519(),
                IkeSuite::aes128_sha256_ecp256(),
            ],
            vec![
                esp(Encr::AesGcm16_128, None),
                esp(Encr::AesCbc128, Some(Integ::HmacSha256_128)),
            ],
        ),
        o => return Err(format!("unknown proposal set {o}").into()),
    };
    pc.ike_proposals = ike;
    pc.esp_proposals = esps;
    pc.local_ts = vec![local_ts.clone()];
    pc.remote_ts = vec![remote_ts.clone()];
    let mut cfg = EndpointConfig::new(vec![pc]);
    cfg.force_encap = !args.no_force_encap;
    cfg.limits.cookie_threshold = args.cookie_threshold;
    cfg.timers.dpd_interval = Some(Duration::from_secs(args.dpd));
    cfg.timers.retransmit_initial = Duration::from_millis(args.retransmit_ms);
    cfg.timers.retransmit_tries = args.retransmit_tries;
    let inner_local = args
        .inner_local
        .or_else(|| first_v4(&local_ts))
        .ok_or("need --inner-local")?;
    let inner_remote = args
        .inner_remote
        .or_else(|| first_v4(&remote_ts))
        .ok_or("need --inner-remote")?;
    let s500 = UdpSocket::bind(SocketAddr::new(args.local, cfg.ike_port)).await?;
    let s4500 = UdpSocket::bind(SocketAddr::new(args.local, cfg.natt_port)).await?;
    let rng: rand::rngs::StdRng = rand::make_rng();
    let mut p = Peer {
        ep: Endpoint::new(cfg, rng),
        sad: Sad::default(),
        s500,
        s4500,
        local: args.local,
        remote: args.remote,
        inner_local,
        inner_remote,
        esp_to: None,
        stats: Stats::default(),
        up_at: None,
        child: None,
        pending_out: Default::default(),
        seen_replies: Default::default(),
    };
    let start = Instant::now();
    let end = (args.duration > 0).then(|| start + Duration::from_secs(args.duration));
    let ping_stop = end.map(|e| e - Duration::from_secs_f64(args.ping_stop_before));
    if args.initiate {
        p.ep.initiate(start, PeerId(0))?;
        p.flush().await;
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let ping_every = args.ping_ms.map(Duration::from_millis);
    let mut next_ping = start;
    let mut seq: u16 = 0;
    let mut rekeyed_child = false;
    let mut rekeyed_ike = false;
    let mut b500 = vec![0u8; 65536];
    let mut b4500 = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        // Scheduled commands and pings.
        if let Some(up) = p.up_at {
            if let Some(t) = args.rekey_child_at
                && !rekeyed_child
                && now >= up + Duration::from_secs_f64(t)
                && let Some(c) = p.child
            {
                rekeyed_child = true;
                log(format_args!(
                    "COMMAND rekey_child {c:#010x}: {:?}",
                    p.ep.rekey_child(now, c)
                ));
            }
            if let Some(t) = args.rekey_ike_at
                && !rekeyed_ike
                && now >= up + Duration::from_secs_f64(t)
                && let Some(c) = p.child
                && let Some(sa) = p.ep.sa_of_child(c)
            {
                rekeyed_ike = true;
                log(format_args!(
                    "COMMAND rekey_ike {:#018x}: {:?}",
                    sa.0,
                    p.ep.rekey_ike(now, sa)
                ));
            }
        }
        if let Some(every) = ping_every
            && p.child.is_some()
            && now >= next_ping
            && ping_stop.is_none_or(|s| now < s)
        {
            next_ping = now + every;
            seq = seq.wrapping_add(1);
            let pkt = icmp_echo(
                p.inner_local,
                p.inner_remote,
                8,
                0x4b45,
                seq,
                b"ikev2-interop-ping",
            );
            p.stats.pings_sent += 1;
            p.send_inner(&pkt).await;
        }
        p.flush().await;
        let mut deadline = now + Duration::from_secs(1);
        for t in [p.ep.poll_timeout(), p.sad.poll_timeout(), end]
            .into_iter()
            .flatten()
        {
            deadline = deadline.min(t);
        }
        if ping_every.is_some() && p.child.is_some() {
            deadline = deadline.min(next_ping);
        }
        for t in [args.rekey_child_at, args.rekey_ike_at]
            .into_iter()
            .flatten()
        {
            if let Some(up) = p.up_at {
                let at = up + Duration::from_secs_f64(t);
                if at > now {
                    deadline = deadline.min(at);
                }
            }
        }
        tokio::select! {
            r = p.s500.recv_from(&mut b500) => {
                if let Ok((n, from)) = r {
                    let to = SocketAddr::new(p.local, p.ep.config().ike_port);
                    p.ep.handle_datagram(Instant::now(), to, from, &b500[..n]);
                }
            }
            r = p.s4500.recv_from(&mut b4500) => {
                if let Ok((n, from)) = r {
                    let to = SocketAddr::new(p.local, p.ep.config().natt_port);
                    let mut data = b4500[..n].to_vec();
                    p.on_4500(from, to, &mut data).await;
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                p.ep.handle_timeout(now);
                p.sad.handle_timeout(now);
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
        p.flush().await;
    }
    let missing: Vec<u16> = (1..=seq)
        .filter(|q| !p.seen_replies.contains(q))
        .take(20)
        .collect();
    if !missing.is_empty() {
        println!("MISSING ping replies (first 20 seq): {missing:?}");
    }
    let c = p.ep.counters();
    println!(
        "STATS ike_up={} ike_rekeyed={} child_installed={} child_rekeyed={} child_deleted={} peer_dead={} pings_sent={} replies={} lost={} echo_answered={} esp_in={} esp_out={} esp_dropped={} retransmits={} integrity={} malformed={} cookies_sent={}",
        p.stats.ike_up,
        p.stats.ike_rekeyed,
        p.stats.child_installed,
        p.stats.child_rekeyed,
        p.stats.child_deleted,
        p.stats.peer_dead,
        p.stats.pings_sent,
        p.stats.replies,
        p.stats.pings_sent.saturating_sub(p.stats.replies),
        p.stats.echo_answered,
        p.stats.esp_in,
        p.stats.esp_out,
        p.stats.esp_dropped,
        c.retransmits,
        c.integrity,
        c.malformed,
        c.cookies_sent
    );
    Ok(())
}
