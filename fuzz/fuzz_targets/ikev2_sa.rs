//! Two ikev2 endpoints back to back, driven by arbitrary deliveries, losses, bit flips,
//! injected datagrams, commands and time steps.
//!
//! Beyond "never panics": after `handle_timeout(now)` the next deadline is later than
//! `now` (no spinning driver) and a repeated call sends nothing; the tables stay within
//! their limits; every datagram an endpoint sends is a well-formed IKE message (after
//! the non-ESP marker on port 4500).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ikev2::wire::{IdPayload, IkeHeader};
use ikev2::{Endpoint, EndpointConfig, PeerConfig, PeerId, Transmit};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver (or drop) the oldest datagram one side has pending, maybe with a bit flipped.
    Deliver {
        from_b: bool,
        drop: bool,
        flip: Option<(u16, u8)>,
    },
    /// Deliver everything pending on both sides.
    DeliverAll,
    /// Replay the last datagram delivered to one side.
    Replay {
        to_b: bool,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    Initiate {
        b: bool,
    },
    RekeyChild {
        b: bool,
    },
    RekeyIke {
        b: bool,
    },
    DeleteIke {
        b: bool,
    },
    DeleteChild {
        b: bool,
    },
    Liveness {
        b: bool,
    },
    Inject {
        to_b: bool,
        natt: bool,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    same_psk: bool,
    b_cookie_threshold: u8,
    ops: Vec<Op>,
}

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

fn endpoint(local: &str, remote: &str, psk: &[u8], seed: u64, cookie: usize) -> Endpoint<StdRng> {
    let pc = PeerConfig::new(
        local.parse().unwrap(),
        remote.parse().unwrap(),
        IdPayload::fqdn(local),
        IdPayload::fqdn(remote),
        psk,
    );
    let mut cfg = EndpointConfig::new(vec![pc]);
    cfg.limits.cookie_threshold = cookie;
    cfg.limits.max_ike_sas = 8;
    cfg.limits.max_half_open = 4;
    cfg.limits.max_transmits = 64;
    cfg.limits.max_events = 64;
    Endpoint::new(cfg, StdRng::seed_from_u64(seed))
}

fn check_sent(t: &Transmit) {
    let body = if t.local.port() == 4500 {
        assert_eq!(&t.payload[..4], &[0, 0, 0, 0], "non-ESP marker");
        &t.payload[4..]
    } else {
        &t.payload[..]
    };
    let h = IkeHeader::decode(body).expect("we send decodable headers");
    assert_eq!(h.length as usize, body.len());
}

struct Side {
    ep: Endpoint<StdRng>,
    inbox: Vec<Transmit>,
    last: Option<Transmit>,
}

fn pump(from: &mut Side, to: &mut Side) {
    while let Some(t) = from.ep.poll_transmit() {
        check_sent(&t);
        if to.inbox.len() < 64 {
            to.inbox.push(t);
        }
    }
    while from.ep.poll_event().is_some() {}
}

fn deliver(now: Instant, to: &mut Side, t: Transmit) {
    to.ep.handle_datagram(now, t.remote, t.local, &t.payload);
    to.last = Some(t);
}

fuzz_target!(|input: Input| {
    let mut now = Instant::now();
    let psk_b: &[u8] = if input.same_psk { b"secret" } else { b"other" };
    let mut a = Side {
        ep: endpoint(A, B, b"secret", input.seed, 16),
        inbox: Vec::new(),
        last: None,
    };
    let mut b = Side {
        ep: endpoint(
            B,
            A,
            psk_b,
            input.seed ^ 1,
            usize::from(input.b_cookie_threshold % 8),
        ),
        inbox: Vec::new(),
        last: None,
    };
    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Deliver { from_b, drop, flip } => {
                let (src, dst) = if from_b {
                    (&mut b, &mut a)
                } else {
                    (&mut a, &mut b)
                };
                let _ = src;
                if !dst.inbox.is_empty() {
                    let mut t = dst.inbox.remove(0);
                    if let Some((i, x)) = flip
                        && !t.payload.is_empty()
                    {
                        let n = t.payload.len();
                        t.payload[usize::from(i) % n] ^= x;
                    }
                    if !drop {
                        deliver(now, dst, t);
                    }
                }
            }
            Op::DeliverAll => {
                for _ in 0..8 {
                    for t in std::mem::take(&mut b.inbox) {
                        deliver(now, &mut b, t);
                    }
                    pump(&mut b, &mut a);
                    for t in std::mem::take(&mut a.inbox) {
                        deliver(now, &mut a, t);
                    }
                    pump(&mut a, &mut b);
                }
            }
            Op::Replay { to_b } => {
                let s = if to_b { &mut b } else { &mut a };
                if let Some(t) = s.last.clone() {
                    deliver(now, s, t);
                }
            }
            Op::Advance { ms } => now += Duration::from_millis(u64::from(ms) * 50),
            Op::Timeout => {
                for s in [&mut a, &mut b] {
                    s.ep.handle_timeout(now);
                    if let Some(t) = s.ep.poll_timeout() {
                        assert!(t > now, "deadline {t:?} not after now {now:?}");
                    }
                }
                pump(&mut a, &mut b);
                pump(&mut b, &mut a);
                for s in [&mut a, &mut b] {
                    s.ep.handle_timeout(now);
                    assert!(
                        s.ep.poll_transmit().is_none(),
                        "a repeated handle_timeout sent"
                    );
                }
            }
            Op::Initiate { b: on_b } => {
                let s = if on_b { &mut b } else { &mut a };
                let _ = s.ep.initiate(now, PeerId(0));
            }
            Op::RekeyChild { b: on_b } | Op::DeleteChild { b: on_b } => {
                let s = if on_b { &mut b } else { &mut a };
                let sas = s.ep.established(PeerId(0));
                if let Some(spi) = sas
                    .first()
                    .and_then(|sa| s.ep.child_sas(*sa).first().copied())
                {
                    let _ = if matches!(op, Op::RekeyChild { .. }) {
                        s.ep.rekey_child(now, spi)
                    } else {
                        s.ep.delete_child(now, spi)
                    };
                }
            }
            Op::RekeyIke { b: on_b } | Op::DeleteIke { b: on_b } | Op::Liveness { b: on_b } => {
                let s = if on_b { &mut b } else { &mut a };
                if let Some(sa) = s.ep.established(PeerId(0)).first().copied() {
                    let _ = match op {
                        Op::RekeyIke { .. } => s.ep.rekey_ike(now, sa),
                        Op::DeleteIke { .. } => s.ep.delete_ike(now, sa),
                        _ => s.ep.check_liveness(now, sa),
                    };
                }
            }
            Op::Inject { to_b, natt, bytes } => {
                let s = if to_b { &mut b } else { &mut a };
                let port = if natt { 4500 } else { 500 };
                let (l, r) = if to_b { (B, A) } else { (A, B) };
                let local = SocketAddr::new(l.parse().unwrap(), port);
                let remote = SocketAddr::new(r.parse().unwrap(), port);
                s.ep.handle_datagram(now, local, remote, &bytes);
            }
        }
        pump(&mut a, &mut b);
        pump(&mut b, &mut a);
        for s in [&a, &b] {
            assert!(s.ep.ike_sa_count() <= 8 + 2, "IKE SA table bound");
            assert!(s.ep.half_open_count() <= 4, "half-open bound");
        }
    }
});
