//! Drives two L2TPv3 endpoints with arbitrary datagrams, timeouts and commands,
//! mixed with mutated real traffic between them so that established connections
//! and sessions are reached. Both sides may initiate (simultaneous opens: tie
//! breakers, lost ties, sessions moved to the winning connection), over UDP or IP,
//! with or without a secret (then with either digest algorithm, and hidden AVPs),
//! sequencing, the allow-list and small limits; spoofed sources (addresses 2 and
//! up) send to both.
//!
//! Checks: no panic; every table and queue stays within its configured limit; no
//! source we never connected to holds more than `max_connections_per_peer`
//! connections; with the allow-list on, such a source holds none; data is only
//! ever accepted from the address of its session's peer.

#![no_main]

use arbitrary::Arbitrary;
use l2tpv3::avp::{DataSequencing, L2SublayerType};
use l2tpv3::control::auth::DigestAlgorithm;
use l2tpv3::{
    Config, CookieLen, Encapsulation, Endpoint, MAX_DATA_HEADER_LEN, SessionRequest, SessionState,
};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// A's address as B sees it, and B's as A sees it.
const A: u8 = 0;
const B: u8 = 1;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Arbitrary bytes to B (`to_b`) or A from `from`: the real peer's address,
    /// or a spoofed one.
    Raw {
        to_b: bool,
        from: u8,
        bytes: Vec<u8>,
    },
    /// The sender's next datagram with some bytes overwritten, from the right
    /// address or (`spoof`) another one.
    Mutate {
        a_to_b: bool,
        spoof: Option<u8>,
        edits: Vec<(u16, u8)>,
    },
    /// A's next datagram to B as is (or dropped).
    Deliver { drop: bool },
    /// B's next datagram to A (or dropped).
    Reply { drop: bool },
    /// A datagram is delivered twice (duplicate) or held back one place
    /// (reordered).
    Reorder { a_to_b: bool },
    /// Time passes; both sides run their timers.
    Advance { millis: u16 },
    /// A or B opens a control connection to the other.
    Connect { by_b: bool },
    /// A or B opens a session on one of its connections.
    Open {
        by_b: bool,
        pick: u8,
        outgoing: bool,
    },
    /// A or B closes some session.
    CloseSession { by_b: bool, pick: u8 },
    /// A or B closes some connection.
    CloseConnection { by_b: bool, pick: u8 },
    /// A or B reports its circuit status.
    Circuit { by_b: bool, pick: u8, active: bool },
    /// A or B sends a data packet on one of its sessions (encapsulated in
    /// place), with some bytes overwritten, to the other, from its own address
    /// or a spoofed one; through `handle_datagram` or `handle_data`.
    Data {
        by_b: bool,
        pick: u8,
        len: u8,
        headroom: u8,
        edits: Vec<(u8, u8)>,
        spoof: Option<u8>,
        data_only: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    secret: bool,
    sha1: bool,
    hide: bool,
    ip: bool,
    sequencing: bool,
    cookie: u8,
    allow_list: bool,
    tie_breaker_a: bool,
    tie_breaker_b: bool,
    small_limits: bool,
    seed: u8,
    ops: Vec<Op>,
}

type Ep = Endpoint<u8, StdRng>;

fn config(input: &Input, tie_breaker: bool) -> Config {
    let mut cfg = Config::default();
    cfg.secret = input.secret.then(|| b"fuzz".to_vec());
    cfg.digest = if input.sha1 {
        DigestAlgorithm::HmacSha1
    } else {
        DigestAlgorithm::HmacMd5
    };
    cfg.hide_avps = input.hide;
    cfg.encapsulation = if input.ip {
        Encapsulation::Ip
    } else {
        Encapsulation::Udp
    };
    if input.sequencing {
        cfg.sublayer = L2SublayerType::DEFAULT;
        cfg.data_sequencing = DataSequencing::ALL;
    }
    cfg.cookie_len =
        [CookieLen::Zero, CookieLen::Four, CookieLen::Eight][usize::from(input.cookie % 3)];
    cfg.allowed_peers_only = input.allow_list;
    cfg.tie_breaker = tie_breaker;
    if input.small_limits {
        cfg.max_connections = 4;
        cfg.max_connections_per_peer = 2;
        cfg.max_sessions = 8;
        cfg.max_events = 16;
        cfg.max_transmits = 16;
        cfg.reliable.max_send_queue = 8;
        cfg.reliable.receive_window = 4;
        cfg.reliable.max_held_bytes = 256;
    }
    cfg
}

fn pick<T: Copy>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(i) % items.len()])
}

/// Checks what an endpoint accepted as data: it came from its session's peer.
fn check_data(ep: &Ep, from: u8, session_id: u32, payload_len: usize, datagram_len: usize) {
    let s = ep
        .session(session_id)
        .expect("accepted data for an unknown session");
    assert_eq!(s.state, SessionState::Established);
    let conn = ep.connection(s.ccid).expect("session without a connection");
    assert_eq!(
        conn.peer, from,
        "data accepted from another address than its peer"
    );
    assert!(payload_len <= datagram_len);
}

fuzz_target!(|input: Input| {
    let mut now = Instant::now();
    let ca = config(&input, input.tie_breaker_a);
    let cb = config(&input, input.tie_breaker_b);
    let mut a: Ep = Endpoint::new(ca, StdRng::seed_from_u64(u64::from(input.seed)));
    let mut b: Ep = Endpoint::new(cb, StdRng::seed_from_u64(u64::from(input.seed) + 1000));
    a.allow_peer(B);
    b.allow_peer(A);
    // Datagrams held back by `Reorder`, per direction.
    let mut held: [Option<Vec<u8>>; 2] = [None, None];
    if let Ok(ccid) = a.connect(now, B) {
        let _ = a.open_session(now, ccid, SessionRequest::ethernet("fuzz"));
    }
    for op in input.ops.into_iter().take(256) {
        match op {
            Op::Raw { to_b, from, bytes } => {
                let (ep, real) = if to_b { (&mut b, A) } else { (&mut a, B) };
                let from = if from % 2 == 0 { real } else { 2 + from % 5 };
                if let Some(d) = ep.handle_datagram(now, from, &bytes) {
                    let (sid, len) = (d.session_id, d.payload.len());
                    check_data(ep, from, sid, len, bytes.len());
                }
            }
            Op::Mutate {
                a_to_b,
                spoof,
                edits,
            } => {
                let (src, dst, from) = if a_to_b {
                    (&mut a, &mut b, A)
                } else {
                    (&mut b, &mut a, B)
                };
                if let Some(t) = src.poll_transmit() {
                    let mut d = t.contents;
                    for (at, v) in edits.into_iter().take(8) {
                        if !d.is_empty() {
                            let i = usize::from(at) % d.len();
                            d[i] = v;
                        }
                    }
                    let from = spoof.map_or(from, |s| 2 + s % 5);
                    if let Some(got) = dst.handle_datagram(now, from, &d) {
                        let (sid, len) = (got.session_id, got.payload.len());
                        check_data(dst, from, sid, len, d.len());
                    }
                }
            }
            Op::Deliver { drop } => {
                if let Some(t) = a.poll_transmit()
                    && !drop
                {
                    let _ = b.handle_datagram(now, A, &t.contents);
                }
            }
            Op::Reply { drop } => {
                if let Some(t) = b.poll_transmit()
                    && !drop
                {
                    let _ = a.handle_datagram(now, B, &t.contents);
                }
            }
            Op::Reorder { a_to_b } => {
                let (src, dst, from, slot) = if a_to_b {
                    (&mut a, &mut b, A, 0)
                } else {
                    (&mut b, &mut a, B, 1)
                };
                match (src.poll_transmit(), held[slot].take()) {
                    // Hold this one back; deliver it after the next.
                    (Some(t), None) => held[slot] = Some(t.contents),
                    (Some(t), Some(old)) => {
                        let _ = dst.handle_datagram(now, from, &t.contents);
                        let _ = dst.handle_datagram(now, from, &old);
                    }
                    // Nothing new: the held one arrives twice.
                    (None, Some(old)) => {
                        let _ = dst.handle_datagram(now, from, &old);
                        let _ = dst.handle_datagram(now, from, &old);
                    }
                    (None, None) => {}
                }
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis) * 16);
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            Op::Connect { by_b } => {
                let _ = if by_b {
                    b.connect(now, A)
                } else {
                    a.connect(now, B)
                };
            }
            Op::Open {
                by_b,
                pick: p,
                outgoing,
            } => {
                let ep = if by_b { &mut b } else { &mut a };
                let peer = if by_b { A } else { B };
                let ccids: Vec<u32> = connections(ep, peer).collect();
                if let Some(ccid) = pick(&ccids, p) {
                    let req = SessionRequest::ethernet("x");
                    let req = if outgoing { req.outgoing() } else { req };
                    let _ = ep.open_session(now, ccid, req);
                }
            }
            Op::CloseSession { by_b, pick: p } => {
                let ep = if by_b { &mut b } else { &mut a };
                let ids: Vec<u32> = ep.sessions().map(|s| s.local_id).collect();
                if let Some(sid) = pick(&ids, p) {
                    let _ = ep.close_session(now, sid);
                }
            }
            Op::CloseConnection { by_b, pick: p } => {
                let ep = if by_b { &mut b } else { &mut a };
                let peer = if by_b { A } else { B };
                let ccids: Vec<u32> = connections(ep, peer).collect();
                if let Some(ccid) = pick(&ccids, p) {
                    let _ = ep.close_connection(
                        now,
                        ccid,
                        l2tpv3::avp::ResultCode::new(l2tpv3::avp::result::STOPCCN_GENERAL_CLEAR),
                    );
                }
            }
            Op::Circuit {
                by_b,
                pick: p,
                active,
            } => {
                let ep = if by_b { &mut b } else { &mut a };
                let ids: Vec<u32> = ep.sessions().map(|s| s.local_id).collect();
                if let Some(sid) = pick(&ids, p) {
                    let _ = ep.set_circuit_status(now, sid, active);
                }
            }
            Op::Data {
                by_b,
                pick: p,
                len,
                headroom,
                edits,
                spoof,
                data_only,
            } => {
                let (src, dst, from, to) = if by_b {
                    (&mut b, &mut a, B, A)
                } else {
                    (&mut a, &mut b, A, B)
                };
                let ids: Vec<u32> = src.sessions().map(|s| s.local_id).collect();
                let sid = pick(&ids, p).unwrap_or(u32::from(p));
                let established = src
                    .session(sid)
                    .is_some_and(|s| s.state == SessionState::Established);
                // Short headroom is refused with an error, never a panic.
                let start = usize::from(headroom) % (MAX_DATA_HEADER_LEN + 1);
                let mut buf = vec![0x5a; start + usize::from(len)];
                match src.encapsulate(sid, &mut buf, start) {
                    Ok(t) => {
                        assert!(established, "data on a session that is not up");
                        assert_eq!(*t.destination, to);
                        let mut d = t.contents.to_vec();
                        for (at, v) in edits.into_iter().take(8) {
                            let i = usize::from(at) % d.len();
                            d[i] = v;
                        }
                        let from = spoof.map_or(from, |s| 2 + s % 5);
                        let got = if data_only {
                            dst.handle_data(&from, &d).ok()
                        } else {
                            dst.handle_datagram(now, from, &d)
                        };
                        if let Some(got) = got {
                            let (sid, len) = (got.session_id, got.payload.len());
                            check_data(dst, from, sid, len, d.len());
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
            // Spoofed sources are never connected to: only their SCCRQs made
            // these connections.
            for source in 2..7u8 {
                let n = ep.connections().filter(|i| i.peer == source).count();
                assert!(
                    n <= c.max_connections_per_peer,
                    "{n} connections from {source}"
                );
                assert!(!c.allowed_peers_only || n == 0, "refused source got in");
            }
        }
        // Keep event queues drained like an application would, most of the time.
        while a.poll_event().is_some() {}
        if b.session_count() % 2 == 0 {
            while b.poll_event().is_some() {}
        }
    }
});

/// Our CCIDs of the connections with `peer`.
fn connections(ep: &Ep, peer: u8) -> impl Iterator<Item = u32> + '_ {
    ep.connections()
        .filter(move |c| c.peer == peer)
        .map(|c| c.ccid)
}
