//! The ha_node IKEv2 side (`ha_node::ike::IkeNode`) between two nodes, with the
//! fuzzer in charge of the network and the clock: IKE datagrams delivered, dropped,
//! duplicated or with bytes flipped, garbage from the peer's address on both ports,
//! time passing, traffic through the ESP SAs (which runs them into their soft
//! lifetime, 40 packets, so CHILD SAs rekey, often both ends at once) and restarts
//! of either node. Never panics; the SAs each node holds stay bounded; traffic is
//! sealed only on SAs the other node can have installed (an opened packet is never
//! garbage: it carries what was sealed).
#![no_main]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ha_node::config::IpsecConfig;
use ha_node::esp::EspPeer;
use ha_node::ike::{IkeNode, IkePeerSpec};
use ikev2::wire::IdPayload;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

const A: [u8; 4] = [10, 9, 0, 1];
const B: [u8; 4] = [10, 9, 0, 2];

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver the next datagram in flight towards a (true) or b.
    Deliver(bool),
    /// Drop it.
    Drop(bool),
    /// Deliver it twice.
    Duplicate(bool),
    /// Deliver it with one byte flipped.
    Flip { to_a: bool, at: u16, mask: u8 },
    /// Bytes from the peer's address to a, on port 500 or 4500.
    Garbage { natt: bool, bytes: Vec<u8> },
    /// Time passes; both run their timers.
    Advance(u16),
    /// Packets both ways through the ESP SAs.
    Traffic(u8),
    /// A node restarts (new state, new randomness).
    Restart { a: bool, seed: u8 },
}

fn node(me: [u8; 4], them: [u8; 4], seed: u64, now: Instant) -> (IkeNode, Arc<EspPeer>) {
    let esp = Arc::new(EspPeer::new(them.into(), ipsec_lite::Suite::AesGcm128));
    let cfg = IpsecConfig {
        psk: "a fuzzing pre-shared key, 32 by".into(),
        ike: vec![ikev2::crypto::IkeSuite::aes128gcm16_prfsha256_x25519()],
        esp: vec!["aes128gcm16-esn".parse().unwrap(), "aes128-sha256-esn".parse().unwrap()],
        local_id: None,
        remote_id: IdPayload::ip(IpAddr::from(them)),
        rekey: Duration::from_secs(30),
        rekey_packets: 40,
        ike_rekey: Duration::from_secs(60),
        dpd: Some(Duration::from_secs(5)),
    };
    let spec = IkePeerSpec {
        name: "peer".into(),
        esp_addr: SocketAddr::new(them.into(), 4500),
        local_ip: me.into(),
        cfg,
        esp: esp.clone(),
    };
    let mut n = IkeNode::new(vec![spec], 500, 4500, rand::rngs::StdRng::seed_from_u64(seed));
    n.start(now);
    (n, esp)
}

/// A datagram in flight: (receiver's port, sender's address, bytes).
type Flight = VecDeque<(u16, SocketAddr, Vec<u8>)>;

fn collect(n: &mut IkeNode, q: &mut Flight) {
    while let Some(t) = n.poll_transmit() {
        if q.len() < 256 {
            q.push_back((t.remote.port(), t.local, t.payload));
        }
    }
}

fn carry(now: Instant, tx: &EspPeer, rx: &EspPeer) {
    let msg = b"\x00\x03\x00\x00fuzzed l2tpv3 message";
    if let Ok(mut p) = tx.seal_message(now, msg)
        && let Ok(r) = rx.open(now, &mut p)
    {
        assert_eq!(&p[r], msg, "an opened packet carries what was sealed");
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let t0 = Instant::now();
    let mut now = t0;
    let (mut a, mut ea) = node(A, B, 1, now);
    let (mut b, mut eb) = node(B, A, 2, now);
    let mut to_a: Flight = VecDeque::new();
    let mut to_b: Flight = VecDeque::new();
    for op in ops.into_iter().take(512) {
        collect(&mut a, &mut to_b);
        collect(&mut b, &mut to_a);
        match op {
            Op::Deliver(to) | Op::Duplicate(to) | Op::Drop(to) | Op::Flip { to_a: to, .. } => {
                let (q, n) = if to { (&mut to_a, &mut a) } else { (&mut to_b, &mut b) };
                let Some((port, from, mut d)) = q.pop_front() else {
                    continue;
                };
                match op {
                    Op::Drop(_) => {}
                    Op::Duplicate(_) => {
                        n.handle_datagram(now, port, from, &d);
                        n.handle_datagram(now, port, from, &d);
                    }
                    Op::Flip { at, mask, .. } => {
                        if !d.is_empty() {
                            let i = usize::from(at) % d.len();
                            d[i] ^= mask;
                        }
                        n.handle_datagram(now, port, from, &d);
                    }
                    _ => n.handle_datagram(now, port, from, &d),
                }
            }
            Op::Garbage { natt, bytes } => {
                let port = if natt { 4500 } else { 500 };
                a.handle_datagram(now, port, SocketAddr::new(B.into(), port), &bytes);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            Op::Traffic(n) => {
                for _ in 0..n % 64 {
                    carry(now, &ea, &eb);
                    carry(now, &eb, &ea);
                }
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            Op::Restart { a: which, seed } => {
                let s = 100 + u64::from(seed);
                if which {
                    (a, ea) = node(A, B, s, now);
                    to_a.clear();
                } else {
                    (b, eb) = node(B, A, s, now);
                    to_b.clear();
                }
            }
        }
        while a.poll_restarted().is_some() {}
        while b.poll_restarted().is_some() {}
        for (n, e) in [(&a, &ea), (&b, &eb)] {
            let st = n.status(now);
            assert!(st[0].ike_sas.len() <= 16, "IKE SAs unbounded: {}", st[0].ike_sas.len());
            assert!(e.children().len() <= 64, "CHILD SAs unbounded: {}", e.children().len());
        }
    }
});
