//! Attacks by a neighbor (or a replaying on-path attacker) through the public API
//! (issue 13, findings 8 and 10): LSDB memory bounded in bytes and per Advertising
//! Router, DoNotAge not honoured without demand circuits, and RFC 7166 replay state
//! kept after a neighbor goes away.
//!
//! A victim router and a real peer router are wired back to back on one
//! point-to-point link; the test forges extra packets "from" the peer.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ospfv3::auth::HmacAlgorithm;
use ospfv3::checksum::{set_lsa_checksum, set_packet_checksum};
use ospfv3::constants::{DO_NOT_AGE, MAX_AGE};
use ospfv3::lsu::LinkStateUpdate;
use ospfv3::{
    ALL_SPF_ROUTERS, AuthConfig, InterfaceConfig, LsaHeader, LsaKey, LsaType, NeighborState,
    Packet, PacketBody, PacketHeader, Router, RouterConfig, Scope, Transmit,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const VICTIM: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(2, 2, 2, 2);
const VICTIM_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PEER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
/// An unknown LS type with the U bit and area scope: stored and flooded as is, its
/// body kept as bytes.
const OPAQUE_AREA: LsaType = LsaType(0xA00F);

fn iface(ll: Ipv6Addr, auth: Option<AuthConfig>) -> InterfaceConfig {
    let mut c = InterfaceConfig::point_to_point(ll).with_timers(1, 4);
    c.retransmit_interval = 2;
    c.auth = auth;
    c
}

fn auth(stored_high: Option<u32>) -> AuthConfig {
    let mut a = AuthConfig::new(3, HmacAlgorithm::Sha256, b"shared secret".to_vec());
    a.stored_seq_high = stored_high;
    a
}

/// The victim, the peer (absent while "dead"), virtual time, and every packet the
/// peer sent (what an on-path attacker records).
struct Pair {
    victim: Router<StdRng>,
    peer: Option<Router<StdRng>>,
    now: Instant,
    captured: Vec<Transmit>,
    /// Everything the victim sent.
    sent: Vec<Transmit>,
}

impl Pair {
    fn new(cfg: RouterConfig, auth_on: bool) -> Pair {
        let now = Instant::now();
        let mut victim = Router::new(cfg, StdRng::seed_from_u64(1));
        victim.add_interface(now, 1, iface(VICTIM_LL, auth_on.then(|| auth(None))));
        let mut p = Pair {
            victim,
            peer: None,
            now,
            captured: Vec::new(),
            sent: Vec::new(),
        };
        p.start_peer(auth_on.then(|| auth(None)), 2);
        p
    }

    /// (Re)starts the peer with fresh state.
    fn start_peer(&mut self, auth: Option<AuthConfig>, seed: u64) {
        let mut peer = Router::new(RouterConfig::new(PEER), StdRng::seed_from_u64(seed));
        peer.add_interface(self.now, 1, iface(PEER_LL, auth));
        self.peer = Some(peer);
    }

    /// Moves packets both ways until both are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.victim.poll_transmit() {
                moved = true;
                if let Some(p) = &mut self.peer {
                    p.handle_packet(self.now, 1, t.src, t.dst, &t.bytes);
                }
                self.sent.push(t);
            }
            while self.victim.poll_event().is_some() {}
            if let Some(p) = &mut self.peer {
                while let Some(t) = p.poll_transmit() {
                    moved = true;
                    self.victim
                        .handle_packet(self.now, 1, t.src, t.dst, &t.bytes);
                    self.captured.push(t);
                }
                while p.poll_event().is_some() {}
            }
            if !moved {
                return;
            }
        }
        panic!("packets never stopped");
    }

    /// Runs both routers for `d` in steps of at most 100 ms.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(100)).min(end);
            self.victim.handle_timeout(self.now);
            if let Some(p) = &mut self.peer {
                p.handle_timeout(self.now);
            }
            self.pump();
        }
    }

    fn neighbor_state(&self) -> Option<NeighborState> {
        self.victim
            .neighbors(1)
            .into_iter()
            .find(|(r, _)| *r == PEER)
            .map(|(_, s)| s)
    }

    /// Delivers a forged Link State Update "from" the peer (no authentication).
    fn forge_lsu(&mut self, lsas: &[Vec<u8>]) {
        let mut b = Packet {
            header: PacketHeader {
                router_id: PEER,
                area_id: Ipv4Addr::UNSPECIFIED,
                checksum: 0,
                instance_id: 0,
            },
            body: PacketBody::LinkStateUpdate(LinkStateUpdate { lsas: Vec::new() }),
        }
        .to_bytes();
        for l in lsas {
            b.extend_from_slice(l);
        }
        let len = u16::try_from(b.len()).expect("one packet");
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b[16..20].copy_from_slice(&(lsas.len() as u32).to_be_bytes());
        set_packet_checksum(&PEER_LL, &ALL_SPF_ROUTERS, &mut b);
        self.victim
            .handle_packet(self.now, 1, PEER_LL, ALL_SPF_ROUTERS, &b);
    }
}

/// An LSA with a valid checksum and a body of `body_len` bytes.
fn lsa(ls_type: LsaType, id: u32, adv: Ipv4Addr, seq: u32, age: u16, body_len: usize) -> Vec<u8> {
    let h = LsaHeader {
        age,
        ls_type,
        link_state_id: Ipv4Addr::from(id),
        advertising_router: adv,
        seq_number: seq,
        checksum: 0,
        length: (20 + body_len) as u16,
    };
    let mut v = Vec::with_capacity(20 + body_len);
    h.encode(&mut v);
    v.extend((0..body_len).map(|i| (i * 7 + id as usize) as u8));
    set_lsa_checksum(&mut v);
    v
}

fn key(adv: Ipv4Addr, id: u32) -> LsaKey {
    LsaKey {
        scope: Scope::Area,
        ls_type: OPAQUE_AREA,
        adv_router: adv,
        ls_id: Ipv4Addr::from(id),
    }
}

fn adjacent(cfg: RouterConfig) -> Pair {
    let mut p = Pair::new(cfg, false);
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
    p
}

/// Finding 8: a neighbor floods large LSAs under made-up Advertising Routers (so no
/// per-router limit applies). The LSA count stays far below `max_lsas`, but the bytes
/// are bounded: nothing beyond `max_lsdb_bytes` is installed, and each refusal is
/// counted.
#[test]
fn lsdb_is_bounded_in_bytes() {
    let mut cfg = RouterConfig::new(VICTIM);
    cfg.limits.max_lsdb_bytes = 1 << 20;
    let mut p = adjacent(cfg);
    let before = p.victim.lsdb().len();
    for batch in 0..40u32 {
        // 40 x 3 LSAs of ~20 KB each: ~2.4 MB offered.
        let lsas: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let n = batch * 3 + i;
                lsa(
                    OPAQUE_AREA,
                    n,
                    Ipv4Addr::from(0x0900_0000 + n),
                    0x8000_0001,
                    1,
                    20_000,
                )
            })
            .collect();
        p.forge_lsu(&lsas);
        p.pump();
    }
    let db = p.victim.lsdb();
    assert!(db.bytes() <= 1 << 20, "LSDB holds {} bytes", db.bytes());
    assert!(
        db.len() - before < 60,
        "{} LSAs installed",
        db.len() - before
    );
    assert!(db.len() < 100_000);
    assert!(p.victim.counters().lsdb_bytes_full > 0);
    assert_eq!(p.victim.counters().lsdb_full, 0);
    // The adjacency survives, and the peer's own LSAs are still there.
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
}

/// Finding 8: what an LSA is charged includes its decoded copy, so a 64 KB
/// Intra-Area-Prefix-LSA of 4-byte /0 prefixes costs several times its wire size.
#[test]
fn decoded_size_is_charged() {
    let mut p = adjacent(RouterConfig::new(VICTIM));
    // Intra-Area-Prefix-LSA: #prefixes, referenced type, id, router, then prefixes
    // of length 0 (4 bytes each: length, options, metric).
    let n = 3000usize;
    let mut body = Vec::new();
    body.extend_from_slice(&(n as u16).to_be_bytes());
    body.extend_from_slice(&0x2001u16.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&Ipv4Addr::new(9, 9, 9, 9).octets());
    for _ in 0..n {
        body.extend_from_slice(&[0, 0, 0, 1]);
    }
    let mut l = lsa(
        LsaType::INTRA_AREA_PREFIX,
        0,
        Ipv4Addr::new(9, 9, 9, 9),
        0x8000_0001,
        1,
        body.len(),
    );
    l.truncate(20);
    l.extend_from_slice(&body);
    set_lsa_checksum(&mut l);
    p.forge_lsu(&[l.clone()]);
    let k = LsaKey {
        scope: Scope::Area,
        ls_type: LsaType::INTRA_AREA_PREFIX,
        adv_router: Ipv4Addr::new(9, 9, 9, 9),
        ls_id: Ipv4Addr::UNSPECIFIED,
    };
    let e = p.victim.lsdb().get(&k).expect("installed");
    assert!(
        e.charge() >= l.len() + n * 20,
        "charge {} for {} wire bytes",
        e.charge(),
        l.len()
    );
    assert_eq!(
        p.victim
            .lsdb()
            .router_usage(Ipv4Addr::new(9, 9, 9, 9))
            .bytes,
        e.charge()
    );
}

/// Finding 8: one Advertising Router cannot take more than its share: beyond
/// `max_lsas_per_router` (or `max_bytes_per_router`) its LSAs are refused, counted,
/// and not acknowledged, while other routers' LSAs are still installed.
#[test]
fn lsdb_is_bounded_per_advertising_router() {
    let mut cfg = RouterConfig::new(VICTIM);
    cfg.limits.max_lsas_per_router = 20;
    cfg.limits.max_bytes_per_router = 64 << 10;
    let mut p = adjacent(cfg);
    let hog = Ipv4Addr::new(9, 9, 9, 9);
    for i in 0..30u32 {
        p.forge_lsu(&[lsa(OPAQUE_AREA, i, hog, 0x8000_0001, 1, 100)]);
    }
    assert_eq!(p.victim.lsdb().router_usage(hog).lsas, 20);
    assert_eq!(p.victim.counters().lsdb_router_full, 10);
    // Bytes: a few large LSAs of another router fill its 64 KB share.
    let big = Ipv4Addr::new(9, 9, 9, 10);
    for i in 0..5u32 {
        p.forge_lsu(&[lsa(OPAQUE_AREA, i, big, 0x8000_0001, 1, 20_000)]);
    }
    assert!(p.victim.lsdb().router_usage(big).bytes <= 64 << 10);
    assert!(p.victim.lsdb().router_usage(big).lsas < 5);
    assert!(p.victim.counters().lsdb_router_full > 10);
    // Others are unaffected.
    p.forge_lsu(&[lsa(
        OPAQUE_AREA,
        1,
        Ipv4Addr::new(9, 9, 9, 11),
        0x8000_0001,
        1,
        100,
    )]);
    assert!(
        p.victim
            .lsdb()
            .get(&key(Ipv4Addr::new(9, 9, 9, 11), 1))
            .is_some()
    );
    // The refused LSAs are not acknowledged (the sender keeps retransmitting them),
    // the installed ones are.
    p.sent.clear();
    p.forge_lsu(&[
        lsa(OPAQUE_AREA, 25, hog, 0x8000_0001, 1, 100),
        lsa(
            OPAQUE_AREA,
            2,
            Ipv4Addr::new(9, 9, 9, 11),
            0x8000_0001,
            1,
            100,
        ),
    ]);
    p.run(Duration::from_secs(3));
    let mut acked = Vec::new();
    for t in &p.sent {
        if let Ok(Packet {
            body: PacketBody::LinkStateAck(a),
            ..
        }) = Packet::decode(&t.bytes)
        {
            acked.extend(a.lsa_headers);
        }
    }
    let named = |r: Ipv4Addr, id: u32| {
        acked
            .iter()
            .any(|h| h.advertising_router == r && h.link_state_id == Ipv4Addr::from(id))
    };
    assert!(
        named(Ipv4Addr::new(9, 9, 9, 11), 2),
        "accepted LSA not acked"
    );
    assert!(!named(hog, 25), "refused LSA acked");
}

/// Finding 8: a neighbor replaces an LSA with a newer instance carrying DoNotAge.
/// No demand circuit was negotiated, so the LSA must still age out at MaxAge rather
/// than stay in the database forever.
#[test]
fn do_not_age_is_not_honoured_without_demand_circuits() {
    let mut p = adjacent(RouterConfig::new(VICTIM));
    let forged = Ipv4Addr::new(9, 9, 9, 9);
    p.forge_lsu(&[lsa(OPAQUE_AREA, 1, forged, 0x8000_0001, 1, 40)]);
    p.run(Duration::from_secs(2));
    p.forge_lsu(&[lsa(OPAQUE_AREA, 1, forged, 0x8000_0002, DO_NOT_AGE | 1, 40)]);
    let e = p.victim.lsdb().get(&key(forged, 1)).expect("installed");
    assert_eq!(e.lsa.header.seq_number, 0x8000_0002);
    // Half an hour later it has aged like any LSA...
    p.run(Duration::from_secs(1800));
    let age = p.victim.lsdb().get(&key(forged, 1)).map(|e| e.age(p.now));
    assert!(age.is_some_and(|a| a >= 1800), "age {age:?}");
    // ... and after MaxAge it is gone.
    p.run(Duration::from_secs(u64::from(MAX_AGE) - 1800 + 60));
    assert!(p.victim.lsdb().get(&key(forged, 1)).is_none());
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
    assert_eq!(p.victim.counters().do_not_age_cleared, 1);
}

/// The last Hello the peer sent before `now`.
fn last_hello(p: &Pair) -> Transmit {
    p.captured
        .iter()
        .rev()
        .find(|t| t.bytes[1] == 1)
        .cloned()
        .expect("a captured hello")
}

fn replay(p: &mut Pair, t: &Transmit) {
    let now = p.now;
    p.victim.handle_packet(now, 1, t.src, t.dst, &t.bytes);
    p.pump();
}

/// Finding 10: the peer dies; its captured Hello, replayed after the dead interval,
/// must not bring it back (RFC 7166 sequence numbers remembered after the neighbor is
/// gone). A restart that resumes above the old sequence numbers, as RFC 7166 4.1.1
/// requires, is accepted.
#[test]
fn replayed_hello_after_neighbor_died_is_refused() {
    let mut p = Pair::new(RouterConfig::new(VICTIM), true);
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
    let hello = last_hello(&p);
    // The peer dies; the dead interval passes.
    p.peer = None;
    p.run(Duration::from_secs(6));
    assert_eq!(p.neighbor_state(), None);
    let failures = p.victim.counters().rx_auth_failures;
    replay(&mut p, &hello);
    assert_eq!(p.neighbor_state(), None, "replayed hello accepted");
    assert_eq!(p.victim.counters().rx_auth_failures, failures + 1);
    // Still refused an hour later.
    p.run(Duration::from_secs(3600));
    replay(&mut p, &hello);
    assert_eq!(p.neighbor_state(), None);
    // The peer restarts with its persisted high half (the value it was told to
    // persist was 0 on first boot): accepted.
    p.start_peer(Some(auth(Some(0))), 3);
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
}

/// Finding 10: the same after `neighbor_down` (BFD) and after the interface is
/// removed and added again.
#[test]
fn replay_state_survives_neighbor_down_and_interface_re_add() {
    let mut p = Pair::new(RouterConfig::new(VICTIM), true);
    p.run(Duration::from_secs(10));
    let hello = last_hello(&p);
    p.peer = None;
    let now = p.now;
    assert!(p.victim.neighbor_down(now, 1, PEER));
    replay(&mut p, &hello);
    assert_eq!(p.neighbor_state(), None);
    p.victim.remove_interface(now, 1);
    p.victim
        .add_interface(now, 1, iface(VICTIM_LL, Some(auth(None))));
    replay(&mut p, &hello);
    assert_eq!(p.neighbor_state(), None);
    // A new key is a new SA: the old state no longer applies (and the old packets
    // do not verify under it anyway).
    let mut other = auth(None);
    other.key = b"new secret".to_vec();
    p.victim.remove_interface(now, 1);
    p.victim
        .add_interface(now, 1, iface(VICTIM_LL, Some(other.clone())));
    let failures = p.victim.counters().rx_auth_failures;
    replay(&mut p, &hello);
    assert_eq!(p.victim.counters().rx_auth_failures, failures + 1);
    p.start_peer(Some(other), 4);
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
}

/// Finding 10: the state is bounded in time (`auth_seq_retention`) and count
/// (`max_auth_memory`, oldest forgotten first, counted); a peer that restarted
/// without its persisted sequence number is refused until the operator forgets it.
#[test]
fn replay_state_is_bounded_and_can_be_forgotten() {
    let mut cfg = RouterConfig::new(VICTIM);
    cfg.auth_seq_retention = Duration::from_secs(600);
    cfg.limits.max_auth_memory = 1;
    let mut p = Pair::new(cfg, true);
    p.run(Duration::from_secs(10));
    p.peer = None;
    p.run(Duration::from_secs(6));
    // Restarted without the persisted high half: its sequence numbers start below
    // the remembered ones and are refused.
    p.start_peer(Some(auth(None)), 5);
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), None);
    assert!(p.victim.forget_auth_sequence(1, PEER));
    p.run(Duration::from_secs(10));
    assert_eq!(p.neighbor_state(), Some(NeighborState::Full));
    // Retention: 600 s after the peer went away, the old state is dropped.
    p.peer = None;
    p.run(Duration::from_secs(6));
    let t = last_hello(&p);
    replay(&mut p, &t);
    assert_eq!(p.neighbor_state(), None);
    p.run(Duration::from_secs(600));
    replay(&mut p, &t);
    assert!(
        p.neighbor_state().is_some(),
        "state kept past its retention"
    );
    // Count: a second router going away on the link evicts the first one's state.
    let mut p = Pair::new(
        {
            let mut c = RouterConfig::new(VICTIM);
            c.limits.max_auth_memory = 1;
            c
        },
        true,
    );
    p.run(Duration::from_secs(10));
    let hello = last_hello(&p);
    p.peer = None;
    p.run(Duration::from_secs(6));
    replay(&mut p, &hello);
    assert_eq!(p.neighbor_state(), None);
    let mut other = Router::new(
        RouterConfig::new(Ipv4Addr::new(3, 3, 3, 3)),
        StdRng::seed_from_u64(9),
    );
    other.add_interface(p.now, 1, iface(PEER_LL, Some(auth(Some(7)))));
    p.peer = Some(other);
    p.run(Duration::from_secs(10));
    p.peer = None;
    p.run(Duration::from_secs(6));
    assert_eq!(p.victim.counters().auth_memory_evicted, 1);
    replay(&mut p, &hello);
    assert!(p.neighbor_state().is_some(), "evicted state still applied");
}

/// Finding 5: `Debug` of the configuration and of the router never shows the key.
#[test]
fn debug_output_redacts_the_key() {
    let p = Pair::new(RouterConfig::new(VICTIM), true);
    let a = auth(None);
    for s in [
        format!("{a:?}"),
        format!("{:?}", p.victim),
        format!("{:#?}", p.victim),
    ] {
        assert!(!s.contains("shared secret"), "{s}");
        // Nor as a byte list: b"shared secret" starts 115, 104, 97.
        assert!(!s.contains("115, 104, 97"), "{s}");
        assert!(!s.contains("[115"), "{s}");
    }
    assert!(format!("{a:?}").contains("redacted"));
}
