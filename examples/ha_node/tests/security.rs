//! The attacks of the security review (issue 13, daemon part), reproduced through
//! the public API of the node core: each test fails without its protection.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ha_node::core::{
    BfdSettings, Core, CoreConfig, OspfTimers, Output, PeerSpec, SecurityCounts, Via,
};
use ha_node::esp::{EspConfig, EspPeer};
use ha_node::security::{OspfAuth, RouteFilter, RouteRefusal, Secret};
use ospfv3::Ipv6Prefix;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Arc;

const SECRET: &str = "pw-secret";

fn peer(addr: &str, initiate: bool) -> PeerSpec<String> {
    PeerSpec {
        addr: addr.into(),
        name: addr.into(),
        initiate,
        esp: None,
        bfd: BfdSettings {
            enabled: false,
            ..BfdSettings::default()
        },
        ospf_auth_frr_compat: false,
    }
}

/// The SAs of two peers keyed statically with each other's keys (AES-CBC-128 +
/// HMAC-SHA-256, the only kind static keys may use).
fn static_esp_pair() -> (Arc<EspPeer>, Arc<EspPeer>) {
    let k1: Secret = "aabbccddeeff00112233445566778899\
                      f0e0d0c0b0a090807060504030201000f0e0d0c0b0a09080706050403020100f"
        .into();
    let k2: Secret = "00112233445566778899aabbccddeeff\
                      0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
        .into();
    let make = |spi_out, spi_in, key_out: &Secret, key_in: &Secret, peer: [u8; 4]| {
        let cfg = EspConfig {
            spi_out,
            spi_in,
            suite: ipsec_lite::Suite::AesCbc128HmacSha256,
            key_out: key_out.clone(),
            key_in: key_in.clone(),
        };
        Arc::new(EspPeer::with_static(Instant::now(), peer.into(), &cfg).unwrap())
    };
    (
        make(0x1001, 0x2002, &k1, &k2, [192, 0, 2, 2]),
        make(0x2002, 0x1001, &k2, &k1, [192, 0, 2, 1]),
    )
}

fn prefix(s: &str) -> Ipv6Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Prefix::new(a.parse().unwrap(), l.parse().unwrap())
}

fn cfg(name: &str, rid: u8, peers: Vec<PeerSpec<String>>) -> CoreConfig<String> {
    CoreConfig {
        name: name.into(),
        router_id: Ipv4Addr::new(rid, rid, rid, rid),
        peers,
        ospf: OspfTimers::default(),
        l2tp: ha_node::core::L2tpTimers::default(),
        loopback: (1, vec![prefix(&format!("2001:db8:{rid}::1/128"))]),
        policy: None,
        l2tp_secret: Some(Secret::from(SECRET)),
        ospf_auth: None,
        routes: RouteFilter::default(),
        seed: Some(u64::from(rid)),
    }
}

fn auth(key: &str) -> Option<OspfAuth> {
    Some(OspfAuth {
        sa_id: 1,
        key: Secret::from(key),
        seq_high: None,
    })
}

/// A link between two cores in virtual time: underlay datagrams, OSPFv3 packets
/// (interface 10 on both), pseudowires attached at once. Everything else is kept.
struct Pair {
    now: Instant,
    a: Core<String>,
    b: Core<String>,
    /// Outputs not consumed by the link, per side.
    rest: [Vec<Output<String>>; 2],
    /// Underlay datagrams each side sent (for replaying).
    sent: [Vec<Vec<u8>>; 2],
}

impl Pair {
    fn new(a: CoreConfig<String>, b: CoreConfig<String>) -> Self {
        let now = Instant::now();
        let mut a = Core::new(now, a).unwrap();
        let mut b = Core::new(now, b).unwrap();
        a.start(now);
        b.start(now);
        Pair {
            now,
            a,
            b,
            rest: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
        }
    }

    fn deliver(&mut self, from_a: bool) -> bool {
        let lls: [Ipv6Addr; 2] = ["fe80::a".parse().unwrap(), "fe80::b".parse().unwrap()];
        let (me, other, i) = if from_a {
            (&mut self.a, &mut self.b, 0)
        } else {
            (&mut self.b, &mut self.a, 1)
        };
        let mut moved = false;
        while let Some(o) = me.poll_output() {
            moved = true;
            match o {
                Output::Underlay { mut datagram, .. } => {
                    self.sent[i].push(datagram.clone());
                    other.handle_underlay(self.now, me.name().to_string(), &mut datagram);
                }
                Output::PseudowireUp { session_id, .. } => {
                    me.attach(self.now, session_id, 10, lls[i]);
                    self.rest[i].push(Output::PseudowireUp {
                        session_id,
                        peer: String::new(),
                        peer_name: String::new(),
                    });
                }
                Output::Ospf(t) => other.handle_ospf(self.now, 10, t.src, t.dst, &t.bytes),
                other_output => self.rest[i].push(other_output),
            }
        }
        moved
    }

    /// Runs both cores for `dur` of virtual time.
    fn run(&mut self, dur: Duration) {
        let end = self.now + dur;
        while self.now < end {
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            for _ in 0..200 {
                if !(self.deliver(true) | self.deliver(false)) {
                    break;
                }
            }
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
            self.now = next.clamp(self.now + Duration::from_millis(1), end);
        }
    }

    fn frames(&mut self, side: usize) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.rest[side])
            .into_iter()
            .filter_map(|o| match o {
                Output::Frame { frame, .. } => Some(frame),
                _ => None,
            })
            .collect()
    }
}

fn full_adjacency(c: &Core<String>) -> bool {
    c.ospf()
        .neighbors(10)
        .iter()
        .any(|n| n.1 == ospfv3::NeighborState::Full)
}

/// Finding 4: a sender at another configured peer's address that replays a data
/// message (session ID and cookie) of the a-b pseudowire gets nothing into the
/// TAP; nor does one that sends it to the ESP socket from a peer without ESP.
#[test]
fn data_for_a_session_is_accepted_only_from_its_peer_and_protection() {
    let mut p = Pair::new(
        cfg("a", 1, vec![peer("b", true)]),
        cfg("b", 2, vec![peer("a", false), peer("c", false)]),
    );
    p.run(Duration::from_secs(2));
    assert!(p.a.handle_frame(p.now, 10, b"frame one"));
    let data = loop {
        match p.a.poll_output() {
            Some(Output::Underlay { datagram, .. }) => break datagram,
            Some(_) => continue,
            None => panic!("no data message"),
        }
    };
    // The genuine one is delivered.
    p.b.handle_underlay(p.now, "a".into(), &mut data.clone());
    p.deliver(false);
    assert_eq!(p.frames(1), vec![b"frame one".to_vec()]);
    // Replayed from c's address (clear, like c is configured): dropped, counted.
    p.b.handle_underlay_via(p.now, "c".into(), Via::Clear, &mut data.clone());
    p.deliver(false);
    assert!(p.frames(1).is_empty(), "data from c written into a's TAP");
    // From a's address, but on the ESP socket: a has no ESP, so refused.
    p.b.handle_underlay_via(p.now, "a".into(), Via::Esp, &mut data.clone());
    p.deliver(false);
    assert!(
        p.frames(1).is_empty(),
        "ESP-socket datagram from a clear peer accepted"
    );
    assert_eq!(p.b.security_counts().wrong_protection, 1);
}

/// Finding 4 with ESP: a peer set up under ESP is not heard in clear, even with a
/// well-formed data message of its own session.
#[test]
fn a_clear_datagram_from_an_esp_peer_is_dropped() {
    let pair = static_esp_pair();
    let mut pa = peer("b", true);
    pa.esp = Some(pair.0);
    let mut pb = peer("a", false);
    pb.esp = Some(pair.1);
    let mut p = Pair::new(cfg("a", 1, vec![pa]), cfg("b", 2, vec![pb]));
    p.run(Duration::from_secs(2));
    assert_eq!(p.b.l2tp().session_count(), 1);
    let before = p.b.security_counts();
    // An L2TPv3 message (any) in clear from a's address on the clear socket.
    let mut clear = vec![0xc8, 0x03, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0];
    p.b.handle_underlay_via(p.now, "a".into(), Via::Clear, &mut clear);
    assert_eq!(
        p.b.security_counts().wrong_protection,
        before.wrong_protection + 1
    );
}

/// Finding 6: a peer opening a second session on its connection gets a CDN; the
/// first pseudowire keeps its interface and carries frames.
#[test]
fn a_second_session_from_a_peer_is_refused() {
    let now = Instant::now();
    let mut b = Core::new(now, cfg("b", 2, vec![peer("x", false)])).unwrap();
    b.start(now);
    let mut lc = l2tpv3::Config::new(&b"x"[..], 0x0909_0909);
    lc.secret = Some(SECRET.as_bytes().to_vec());
    let mut x: l2tpv3::Endpoint<String, StdRng> =
        l2tpv3::Endpoint::new(lc, StdRng::seed_from_u64(9));
    let ccid = x.connect(now, "b".into()).unwrap();
    let mut ups = Vec::new();
    let mut x_events = Vec::new();
    let pump = |x: &mut l2tpv3::Endpoint<String, StdRng>,
                b: &mut Core<String>,
                ups: &mut Vec<u32>,
                x_events: &mut Vec<l2tpv3::Event<String>>| {
        for _ in 0..50 {
            let mut moved = false;
            while let Some(t) = x.poll_transmit() {
                let mut d = t.contents.to_vec();
                b.handle_underlay(now, "x".into(), &mut d);
                moved = true;
            }
            while let Some(o) = b.poll_output() {
                match o {
                    Output::Underlay { datagram, .. } => {
                        let _ = x.handle_datagram(now, "b".into(), &datagram);
                        moved = true;
                    }
                    Output::PseudowireUp { session_id, .. } => {
                        ups.push(session_id);
                        b.attach(now, session_id, 10, "fe80::b".parse().unwrap());
                    }
                    _ => {}
                }
            }
            while let Some(ev) = x.poll_event() {
                x_events.push(ev);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    };
    pump(&mut x, &mut b, &mut ups, &mut x_events);
    let req = || l2tpv3::SessionRequest::ethernet(b"x".to_vec());
    let first = x.open_session(now, ccid, req()).unwrap();
    pump(&mut x, &mut b, &mut ups, &mut x_events);
    assert_eq!(ups.len(), 1, "first pseudowire not up");
    let second = x.open_session(now, ccid, req()).unwrap();
    pump(&mut x, &mut b, &mut ups, &mut x_events);
    assert_eq!(
        ups.len(),
        1,
        "a second pseudowire from the same peer came up"
    );
    assert_eq!(b.security_counts().extra_sessions_refused, 1);
    assert!(
        x_events.iter().any(|e| matches!(
            e,
            l2tpv3::Event::SessionDown { session_id, result: Some(_), by_peer: true, .. }
                if *session_id == second
        )),
        "no CDN for the second session: {x_events:?}"
    );
    // The first one is untouched: still attached, and frames from x reach its TAP.
    assert_eq!(b.peer_of_ifindex(10), Some(&"x".to_string()));
    let mut buf = vec![0u8; l2tpv3::MAX_DATA_HEADER_LEN + 5];
    buf[l2tpv3::MAX_DATA_HEADER_LEN..].copy_from_slice(b"hello");
    let t = x
        .encapsulate(first, &mut buf, l2tpv3::MAX_DATA_HEADER_LEN)
        .unwrap();
    let mut d = t.contents.to_vec();
    b.handle_underlay(now, "x".into(), &mut d);
    let mut frames = Vec::new();
    while let Some(o) = b.poll_output() {
        if let Output::Frame { ifindex, frame } = o {
            frames.push((ifindex, frame));
        }
    }
    assert_eq!(frames, vec![(10, b"hello".to_vec())]);
}

/// Finding 3: spoofed SCCRQs get no answer: from an address that is no peer at
/// all, and from a peer's address without the secret.
#[test]
fn spoofed_sccrqs_get_no_answer() {
    let now = Instant::now();
    let mut b = Core::new(now, cfg("b", 2, vec![peer("a", false)])).unwrap();
    b.start(now);
    for (from, secret) in [("evil", Some(SECRET)), ("a", None), ("a", Some("guess"))] {
        let mut lc = l2tpv3::Config::new(&b"evil"[..], 0x0666_0666);
        lc.secret = secret.map(|s| s.as_bytes().to_vec());
        let mut evil: l2tpv3::Endpoint<String, StdRng> =
            l2tpv3::Endpoint::new(lc, StdRng::seed_from_u64(6));
        evil.connect(now, "b".into()).unwrap();
        while let Some(t) = evil.poll_transmit() {
            let mut d = t.contents.to_vec();
            b.handle_underlay(now, from.into(), &mut d);
        }
        while let Some(o) = b.poll_output() {
            assert!(
                !matches!(o, Output::Underlay { .. }),
                "answered a spoofed SCCRQ from {from} with secret {secret:?}"
            );
        }
    }
    assert_eq!(b.security_counts().unknown_source, 1);
    assert_eq!(b.l2tp().connection_count(), 0);
}

/// Finding 2: RFC 7166 on the pseudowires: a neighbor without the key (or with
/// another) never gets an adjacency; with the same key it does.
#[test]
fn ospf_on_pseudowires_needs_the_key() {
    let with = |ka: Option<OspfAuth>, kb: Option<OspfAuth>| {
        let mut ca = cfg("a", 1, vec![peer("b", true)]);
        let mut cb = cfg("b", 2, vec![peer("a", false)]);
        ca.ospf_auth = ka;
        cb.ospf_auth = kb;
        let mut p = Pair::new(ca, cb);
        p.run(Duration::from_secs(15));
        (full_adjacency(&p.a), p.a.ospf().neighbors(10).len())
    };
    assert!(with(auth("k1"), auth("k1")).0);
    assert_eq!(with(auth("k1"), None), (false, 0));
    assert_eq!(with(auth("k1"), auth("k2")), (false, 0));
}

/// Finding 2: what a neighbor advertises reaches the kernel only through the
/// filter: no default route, nothing covering our own addresses, a cap.
#[test]
fn learned_routes_are_filtered_and_capped() {
    let mut ca = cfg("a", 1, vec![peer("b", true)]);
    ca.routes.max_routes = 2;
    let mut cb = cfg("b", 2, vec![peer("a", false)]);
    // b advertises a default route, a prefix covering a's loopback 2001:db8:1::1,
    // and three host routes of which a installs as many as its cap leaves room for.
    cb.loopback.1 = [
        "::/0",
        "2001:db8::/32",
        "2001:db8:2::1/128",
        "2001:db8:2::2/128",
        "2001:db8:2::3/128",
    ]
    .iter()
    .map(|p| prefix(p))
    .collect();
    let mut p = Pair::new(ca, cb);
    p.run(Duration::from_secs(15));
    assert!(full_adjacency(&p.a));
    let mut added = Vec::new();
    let mut refused = Vec::new();
    for o in std::mem::take(&mut p.rest[0]) {
        match o {
            Output::OspfEvent(ospfv3::Event::RouteAdd(r)) => added.push(r.prefix),
            Output::RouteRefused { prefix, reason } => refused.push((prefix, reason)),
            _ => {}
        }
    }
    assert!(!added.contains(&prefix("::/0")), "default route installed");
    assert!(
        !added.contains(&prefix("2001:db8::/32")),
        "route covering own address installed"
    );
    assert!(refused.contains(&(prefix("::/0"), RouteRefusal::Default)));
    assert!(refused.contains(&(prefix("2001:db8::/32"), RouteRefusal::CoversProtected)));
    assert!(
        refused.iter().any(|r| r.1 == RouteRefusal::Limit),
        "{refused:?}"
    );
    assert_eq!(p.a.installed_routes(), 2);
    let counts: SecurityCounts = p.a.security_counts();
    assert!(counts.routes_refused >= 3);
}

/// Finding 5: `Debug` of the core configuration shows no secret.
#[test]
fn core_config_debug_has_no_secrets() {
    let mut c = cfg("a", 1, vec![peer("b", true)]);
    c.ospf_auth = auth("ospf-key-xyz");
    c.peers[0].esp = Some(static_esp_pair().0);
    let dbg = format!("{c:?}");
    for s in [
        SECRET,
        "ospf-key-xyz",
        "aabbccddeeff",
        "0011223344",
        "f0e0d0c0",
    ] {
        assert!(!dbg.contains(s), "{s} in {dbg}");
    }
}

/// Finding 1: without a pinned seed (what `run` uses) every core draws its IDs,
/// cookies and nonces from a generator seeded by the OS: two cores built from the
/// same configuration open with different SCCRQs (Assigned Control Connection ID,
/// Tie Breaker, Nonce).
#[test]
fn unseeded_cores_draw_from_the_os() {
    let first_sccrq = || {
        let mut c = cfg("a", 1, vec![peer("b", true)]);
        c.seed = None;
        let now = Instant::now();
        let mut core = Core::new(now, c).unwrap();
        core.start(now);
        loop {
            match core.poll_output() {
                Some(Output::Underlay { datagram, .. }) => break datagram,
                Some(_) => continue,
                None => panic!("no SCCRQ"),
            }
        }
    };
    assert_ne!(first_sccrq(), first_sccrq());
    // And a pinned seed (the lab) repeats itself.
    let seeded = || {
        let now = Instant::now();
        let mut core = Core::new(now, cfg("a", 1, vec![peer("b", true)])).unwrap();
        core.start(now);
        loop {
            if let Some(Output::Underlay { datagram, .. }) = core.poll_output() {
                break datagram;
            }
        }
    };
    assert_eq!(seeded(), seeded());
}
