//! The ha_node core's underlay input with ESP on, against a real peer: core A (the
//! target) and core B (its protected peer, another ha_node core with the matching
//! SAs) exchange their datagrams, so the control connection and the pseudowire
//! session come up and the fuzzer works on established state. The fuzzer decides
//! what reaches A and how: B's datagrams delivered, dropped, duplicated, replayed,
//! reordered or with bytes flipped; raw datagrams from B's address, from a clear peer
//! and from unknown addresses, on either socket; frames on A's interfaces; time
//! passing. Never panics; A's output queue and installed routes stay bounded; A
//! sends only to its configured peers; a B datagram with a flipped byte is never
//! taken by A (ESP integrity).
#![no_main]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ha_node::core::{BfdSettings, Core, CoreConfig, L2tpTimers, OspfTimers, Output, PeerSpec, Via};
use ha_node::esp::{EspConfig, EspPeer};
use ha_node::security::{RouteFilter, Secret};
use libfuzzer_sys::fuzz_target;

// AES-CBC-128 + HMAC-SHA-256 (the only kind static keys may use): 16 + 32 bytes.
const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
const K2: &str = "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
/// B as A knows it, the clear peer, A as B knows it.
const B_ADDR: u8 = 0;
const CLEAR: u8 = 1;
const A_ADDR: u8 = 9;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver B's next datagram to A.
    Deliver,
    /// Drop B's next datagram.
    Drop,
    /// Deliver B's next datagram twice.
    Duplicate,
    /// Deliver B's second datagram before its first.
    Swap,
    /// Deliver B's next datagram with one byte flipped.
    Flip { at: u16, mask: u8 },
    /// Deliver again one of B's datagrams A already got.
    Replay(u8),
    /// Raw bytes from a peer (0: B, 1: the clear peer, else unknown) on a socket.
    Raw { from: u8, esp_socket: bool, bytes: Vec<u8> },
    /// Time passes, then both cores' timers run.
    Advance(u16),
    /// A frame from the host on one of A's interfaces.
    Frame { ifindex: u8, bytes: Vec<u8> },
}

fn spec(addr: u8, esp: Option<Arc<EspPeer>>, initiate: bool) -> PeerSpec<u8> {
    PeerSpec {
        addr,
        name: format!("p{addr}"),
        initiate,
        esp,
        bfd: BfdSettings::default(),
        ospf_auth_frr_compat: false,
    }
}

fn core_cfg(name: &str, rid: u8, peers: Vec<PeerSpec<u8>>, seed: u64) -> CoreConfig<u8> {
    CoreConfig {
        name: name.into(),
        router_id: Ipv4Addr::new(rid, rid, rid, rid),
        peers,
        ospf: OspfTimers::default(),
        l2tp: L2tpTimers::default(),
        loopback: (1, vec![ospfv3::Ipv6Prefix::new(Ipv6Addr::LOCALHOST, 128)]),
        policy: None,
        l2tp_secret: Some(Secret::from("fuzz-secret")),
        ospf_auth: None,
        routes: RouteFilter::default(),
        seed: Some(seed),
    }
}

fn esp(spi_out: u32, spi_in: u32, out: &str, inn: &str, peer: [u8; 4], t0: Instant) -> Option<Arc<EspPeer>> {
    let cfg = EspConfig {
        spi_out,
        spi_in,
        suite: ipsec_lite::Suite::AesCbc128HmacSha256,
        key_out: Secret::from(out),
        key_in: Secret::from(inn),
    };
    EspPeer::with_static(t0, peer.into(), &cfg).ok().map(Arc::new)
}

/// Drains A's outputs: B's datagrams go to B, attachments are made; checks bounds.
fn drain_a(now: Instant, a: &mut Core<u8>, b: &mut Core<u8>) {
    let mut n = 0usize;
    while let Some(o) = a.poll_output() {
        n += 1;
        assert!(n < 100_000, "unbounded output");
        match o {
            Output::Underlay { peer, mut datagram } => {
                assert!(peer == B_ADDR || peer == CLEAR, "sent to unknown address {peer}");
                if peer == B_ADDR {
                    b.handle_underlay_via(now, A_ADDR, Via::Esp, &mut datagram);
                }
            }
            Output::PseudowireUp { session_id, .. } => {
                a.attach(now, session_id, 10, "fe80::a".parse().unwrap());
            }
            _ => {}
        }
    }
}

/// Drains B's outputs into the queue of datagrams on their way to A.
fn drain_b(now: Instant, b: &mut Core<u8>, to_a: &mut VecDeque<Vec<u8>>) {
    while let Some(o) = b.poll_output() {
        match o {
            Output::Underlay { datagram, .. } => {
                if to_a.len() < 1024 {
                    to_a.push_back(datagram);
                }
            }
            Output::PseudowireUp { session_id, .. } => {
                b.attach(now, session_id, 20, "fe80::b".parse().unwrap());
            }
            _ => {}
        }
    }
}

/// Hands one of B's datagrams to A, remembering it for replays.
fn deliver(now: Instant, a: &mut Core<u8>, delivered: &mut Vec<Vec<u8>>, mut d: Vec<u8>) {
    if delivered.len() < 256 {
        delivered.push(d.clone());
    }
    a.handle_underlay_via(now, B_ADDR, Via::Esp, &mut d);
}

fuzz_target!(|ops: Vec<Op>| {
    let t0 = Instant::now();
    let (Some(esp_a), Some(esp_b)) = (
        esp(0x100, 0x200, K1, K2, [192, 0, 2, 2], t0),
        esp(0x200, 0x100, K2, K1, [192, 0, 2, 1], t0),
    ) else {
        return;
    };
    let a_peers = vec![spec(B_ADDR, Some(esp_a), true), spec(CLEAR, None, false)];
    let (Ok(mut a), Ok(mut b)) = (
        Core::new(t0, core_cfg("a", 1, a_peers, 1)),
        Core::new(t0, core_cfg("b", 2, vec![spec(A_ADDR, Some(esp_b), false)], 2)),
    ) else {
        return;
    };
    let mut now = t0;
    a.start(now);
    b.start(now);
    let mut to_a: VecDeque<Vec<u8>> = VecDeque::new();
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    for op in ops.into_iter().take(512) {
        drain_a(now, &mut a, &mut b);
        drain_b(now, &mut b, &mut to_a);
        match op {
            Op::Deliver => {
                if let Some(d) = to_a.pop_front() {
                    deliver(now, &mut a, &mut delivered, d);
                }
            }
            Op::Drop => {
                to_a.pop_front();
            }
            Op::Duplicate => {
                if let Some(d) = to_a.pop_front() {
                    deliver(now, &mut a, &mut delivered, d.clone());
                    deliver(now, &mut a, &mut delivered, d);
                }
            }
            Op::Swap => {
                if to_a.len() >= 2 {
                    to_a.swap(0, 1);
                }
            }
            Op::Flip { at, mask } => {
                if let Some(mut d) = to_a.pop_front()
                    && !d.is_empty()
                    && mask != 0
                {
                    let i = usize::from(at) % d.len();
                    d[i] ^= mask;
                    let before = a.esp_counts()[0].2;
                    a.handle_underlay_via(now, B_ADDR, Via::Esp, &mut d);
                    // A flipped byte never opens: ESP authenticates every byte.
                    assert_eq!(a.esp_counts()[0].2, before, "a tampered datagram opened");
                }
            }
            Op::Replay(i) => {
                if let Some(d) = delivered.get(usize::from(i) % delivered.len().max(1)).cloned() {
                    let before = a.esp_counts()[0].2;
                    let mut d = d;
                    a.handle_underlay_via(now, B_ADDR, Via::Esp, &mut d);
                    // A replayed datagram never opens twice (anti-replay window).
                    assert_eq!(a.esp_counts()[0].2, before, "a replayed datagram opened");
                }
            }
            Op::Raw { from, esp_socket, mut bytes } => {
                let via = if esp_socket { Via::Esp } else { Via::Clear };
                a.handle_underlay_via(now, from, via, &mut bytes);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            Op::Frame { ifindex, bytes } => {
                a.handle_frame(now, u32::from(ifindex), &bytes);
            }
        }
        if let Some(t) = a.poll_timeout() {
            assert!(t >= t0);
        }
    }
    drain_a(now, &mut a, &mut b);
    assert!(a.installed_routes() <= ha_node::security::DEFAULT_MAX_ROUTES);
});
