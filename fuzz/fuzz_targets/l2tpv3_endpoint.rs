//! Drives an L2TPv3 endpoint with arbitrary datagrams, timeouts and commands, mixed
//! with mutated real traffic from a well-behaved peer so that established
//! connections and sessions are reached. Checks: no panic, and every table and
//! queue stays within its configured limit.

#![no_main]

use arbitrary::Arbitrary;
use l2tpv3::control::rand_core::{self, RngCore};
use l2tpv3::control::{Config, Endpoint, SessionRequest};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

/// A small deterministic RNG (SplitMix64); the endpoint only needs `RngCore`.
struct SplitMix(u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Arbitrary bytes to B from peer 0 (A's address) or another peer.
    Raw { from: u8, bytes: Vec<u8> },
    /// A's next datagram to B, with some bytes overwritten.
    Mutate { edits: Vec<(u8, u8)> },
    /// A's next datagram to B as is (or dropped).
    Deliver { drop: bool },
    /// B's next datagram to A (or dropped).
    Reply { drop: bool },
    /// Time passes; both sides run their timers.
    Advance { millis: u16 },
    /// A opens a session.
    Open { outgoing: bool },
    /// B closes some session.
    CloseSession { pick: u8 },
    /// B closes a connection.
    CloseConnection,
    /// A opens another connection.
    Connect,
}

#[derive(Arbitrary, Debug)]
struct Input {
    secret: bool,
    small_limits: bool,
    ops: Vec<Op>,
}

type Ep = Endpoint<u8, SplitMix>;

fuzz_target!(|input: Input| {
    let mut cfg = Config {
        secret: input.secret.then(|| b"fuzz".to_vec()),
        ..Config::default()
    };
    if input.small_limits {
        cfg.max_connections = 4;
        cfg.max_sessions = 8;
        cfg.max_events = 16;
        cfg.max_transmits = 16;
        cfg.reliable.max_send_queue = 8;
        cfg.reliable.receive_window = 4;
    }
    let mut now = Instant::now();
    let mut a: Ep = Endpoint::new(cfg.clone(), SplitMix(1));
    let mut b: Ep = Endpoint::new(cfg.clone(), SplitMix(2));
    let ccid = a.connect(now, 1).ok();
    if let Some(ccid) = ccid {
        let _ = a.open_session(now, ccid, SessionRequest::ethernet("fuzz"));
    }
    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Raw { from, bytes } => {
                let _ = b.handle_datagram(now, from % 3, &bytes);
            }
            Op::Mutate { edits } => {
                if let Some((_, mut d)) = a.poll_transmit() {
                    for (at, v) in edits.into_iter().take(8) {
                        if !d.is_empty() {
                            let i = usize::from(at) % d.len();
                            d[i] = v;
                        }
                    }
                    let _ = b.handle_datagram(now, 0, &d);
                }
            }
            Op::Deliver { drop } => {
                if let Some((_, d)) = a.poll_transmit()
                    && !drop
                {
                    let _ = b.handle_datagram(now, 0, &d);
                }
            }
            Op::Reply { drop } => {
                if let Some((_, d)) = b.poll_transmit()
                    && !drop
                {
                    let _ = a.handle_datagram(now, 1, &d);
                }
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis) * 16);
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            Op::Open { outgoing } => {
                if let Some(ccid) = ccid {
                    let _ = a.open_session(
                        now,
                        ccid,
                        SessionRequest {
                            outgoing,
                            ..SessionRequest::ethernet("x")
                        },
                    );
                }
            }
            Op::CloseSession { pick } => {
                let ids: Vec<u32> = b.sessions().map(|s| s.local_id).collect();
                if !ids.is_empty() {
                    let _ = b.close_session(now, ids[usize::from(pick) % ids.len()]);
                }
            }
            Op::CloseConnection => {
                if let Some(up) = std::iter::from_fn(|| b.poll_event()).find_map(|e| match e {
                    l2tpv3::control::Event::ConnectionUp { ccid, .. } => Some(ccid),
                    _ => None,
                }) {
                    let _ = b.close_connection(
                        now,
                        up,
                        l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
                    );
                }
            }
            Op::Connect => {
                let _ = a.connect(now, 1);
            }
        }
        for ep in [&a, &b] {
            let c = ep.config();
            assert!(ep.connection_count() <= c.max_connections);
            assert!(ep.session_count() <= c.max_sessions);
        }
        // Keep event queues drained like an application would, most of the time.
        while a.poll_event().is_some() {}
        if b.session_count() % 2 == 0 {
            while b.poll_event().is_some() {}
        }
    }
});
