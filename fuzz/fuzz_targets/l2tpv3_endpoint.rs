//! Drives an L2TPv3 endpoint with arbitrary datagrams, timeouts and commands, mixed
//! with mutated real traffic from a well-behaved peer so that established
//! connections and sessions are reached. Checks: no panic, and every table and
//! queue stays within its configured limit.

#![no_main]

use arbitrary::Arbitrary;
use l2tpv3::{Config, Endpoint, Event, MAX_DATA_HEADER_LEN, SessionRequest, SessionState};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

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
    /// A sends a data packet on one of its sessions (encapsulated in place), with
    /// some bytes overwritten, to B.
    Data {
        pick: u8,
        len: u8,
        headroom: u8,
        edits: Vec<(u8, u8)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    secret: bool,
    small_limits: bool,
    ops: Vec<Op>,
}

type Ep = Endpoint<u8, StdRng>;

fuzz_target!(|input: Input| {
    let mut cfg = Config::default();
    cfg.secret = input.secret.then(|| b"fuzz".to_vec());
    if input.small_limits {
        cfg.max_connections = 4;
        cfg.max_sessions = 8;
        cfg.max_events = 16;
        cfg.max_transmits = 16;
        cfg.reliable.max_send_queue = 8;
        cfg.reliable.receive_window = 4;
    }
    let mut now = Instant::now();
    let mut a: Ep = Endpoint::new(cfg.clone(), StdRng::seed_from_u64(1));
    let mut b: Ep = Endpoint::new(cfg.clone(), StdRng::seed_from_u64(2));
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
                if let Some(t) = a.poll_transmit() {
                    let mut d = t.contents;
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
                if let Some(l2tpv3::Transmit { contents: d, .. }) = a.poll_transmit()
                    && !drop
                {
                    let _ = b.handle_datagram(now, 0, &d);
                }
            }
            Op::Reply { drop } => {
                if let Some(l2tpv3::Transmit { contents: d, .. }) = b.poll_transmit()
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
                    let req = SessionRequest::ethernet("x");
                    let req = if outgoing { req.outgoing() } else { req };
                    let _ = a.open_session(now, ccid, req);
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
                    Event::ConnectionUp { ccid, .. } => Some(ccid),
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
            Op::Data {
                pick,
                len,
                headroom,
                edits,
            } => {
                let ids: Vec<u32> = a.sessions().map(|s| s.local_id).collect();
                let sid = match ids.len() {
                    0 => u32::from(pick),
                    n => ids[usize::from(pick) % n],
                };
                let established = a
                    .session(sid)
                    .is_some_and(|s| s.state == SessionState::Established);
                // Short headroom is refused with an error, never a panic.
                let start = usize::from(headroom) % (MAX_DATA_HEADER_LEN + 1);
                let mut buf = vec![0x5a; start + usize::from(len)];
                match a.encapsulate(sid, &mut buf, start) {
                    Ok(t) => {
                        assert!(established, "data on a session that is not up");
                        assert_eq!(*t.destination, 1);
                        let mut d = t.contents.to_vec();
                        for (at, v) in edits.into_iter().take(8) {
                            let i = usize::from(at) % d.len();
                            d[i] = v;
                        }
                        if let Some(got) = b.handle_datagram(now, 0, &d) {
                            // Whatever B accepts is for one of its sessions and
                            // borrows the datagram's tail.
                            assert!(b.session(got.session_id).is_some());
                            assert!(got.payload.len() <= d.len());
                        }
                    }
                    Err(_) => assert!(!established || start < MAX_DATA_HEADER_LEN),
                }
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
