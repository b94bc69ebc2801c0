//! The endpoint's data path allocates nothing per packet: a counting global
//! allocator (`stats_alloc`) watches `Endpoint::encapsulate`,
//! `Endpoint::handle_datagram` and `Endpoint::handle_data` on an established
//! session, and the count must stay
//! at zero, for packets accepted and for packets dropped (bad cookie, unknown
//! session, replayed sequence number).

use std::alloc::System;
use std::net::SocketAddr;
use std::time::Instant;

use l2tpv3::avp::{DataSequencing, L2SublayerType};
use l2tpv3::{Config, CookieLen, Endpoint, Event, MAX_DATA_HEADER_LEN, SessionRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Ep = Endpoint<SocketAddr, StdRng>;

fn established(now: Instant) -> (Ep, Ep, u32, u32, SocketAddr, SocketAddr) {
    let mut cfg = Config::default();
    cfg.cookie_len = CookieLen::Eight;
    cfg.sublayer = L2SublayerType::DEFAULT;
    cfg.data_sequencing = DataSequencing::ALL;
    let a_addr: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let b_addr: SocketAddr = "192.0.2.2:1701".parse().unwrap();
    let mut a = Endpoint::new(cfg.clone(), StdRng::seed_from_u64(1));
    let mut b = Endpoint::new(cfg, StdRng::seed_from_u64(2));
    let ccid = a.connect(now, b_addr).unwrap();
    let sid = a
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    for _ in 0..16 {
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, a_addr, &t.contents);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, b_addr, &t.contents);
        }
    }
    let b_sid = std::iter::from_fn(|| a.poll_event())
        .find_map(|e| match e {
            Event::SessionUp {
                session_id,
                remote_session_id,
                ..
            } if session_id == sid => Some(remote_session_id),
            _ => None,
        })
        .expect("session up");
    while b.poll_event().is_some() {}
    (a, b, sid, b_sid, a_addr, b_addr)
}

/// One test only: the counter is global, and a second test running in parallel
/// would allocate under it.
#[test]
fn endpoint_data_path_allocates_nothing_per_packet() {
    const PACKETS: u32 = 1000;
    // The counter sees allocations at all (so the zero below means something).
    let region = Region::new(GLOBAL);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(1400)));
    assert!(region.change().allocations >= 1);

    let now = Instant::now();
    let (mut a, mut b, sid, b_sid, a_addr, b_addr) = established(now);
    let mut tx = vec![0u8; MAX_DATA_HEADER_LEN + 1400];
    let mut back = vec![0u8; MAX_DATA_HEADER_LEN + 1400];
    let mut replay = vec![0u8; MAX_DATA_HEADER_LEN + 1400];
    let mut delivered = 0u32;
    // The counter sees every thread of the process, and the test harness's main
    // thread allocates about 900 bytes once, whenever the scheduler runs it (6 of 15
    // runs under load). So three windows of PACKETS packets each way: a per-packet
    // allocation shows in all three, another thread's one-off in at most one.
    let mut windows = Vec::with_capacity(3);
    for w in 0..3u32 {
        let region = Region::new(GLOBAL);
        for i in w * PACKETS..(w + 1) * PACKETS {
            tx[MAX_DATA_HEADER_LEN..].fill(i as u8);
            // A to B, accepted.
            let t = a.encapsulate(sid, &mut tx, MAX_DATA_HEADER_LEN).unwrap();
            assert_eq!(*t.destination, b_addr);
            let len = t.contents.len();
            let got = b
                .handle_datagram(now, a_addr, t.contents)
                .expect("delivered");
            assert_eq!(got.sequence, Some(i));
            assert_eq!(got.payload.len(), 1400);
            assert!(got.payload.iter().all(|&x| x == i as u8));
            delivered += 1;
            // The same packet again: a replayed sequence number, dropped.
            let start = tx.len() - len;
            replay.copy_from_slice(&tx);
            assert!(b.handle_datagram(now, a_addr, &replay[start..]).is_none());
            // A wrong cookie and an unknown session, dropped.
            replay[start + 8] ^= 0xff;
            assert!(b.handle_datagram(now, a_addr, &replay[start..]).is_none());
            replay[start + 4..start + 8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
            assert!(b.handle_datagram(now, a_addr, &replay[start..]).is_none());
            // B to A, accepted through the data-only entry point (a caller whose
            // codec told data from control).
            let t = b
                .encapsulate(b_sid, &mut back, MAX_DATA_HEADER_LEN)
                .unwrap();
            assert_eq!(*t.destination, a_addr);
            assert!(a.handle_data(&b_addr, t.contents).is_ok());
        }
        windows.push(region.change());
    }
    assert_eq!(delivered, 3 * PACKETS);
    assert!(
        windows
            .iter()
            .any(|s| (s.allocations, s.reallocations, s.bytes_allocated) == (0, 0, 0)),
        "allocations on the data path in every window of {PACKETS} packets each way: {windows:?}"
    );
    let s = b.stats();
    assert_eq!(
        (
            s.data_out_of_order,
            s.data_bad_cookie,
            s.data_unknown_session
        ),
        (
            u64::from(3 * PACKETS),
            u64::from(3 * PACKETS),
            u64::from(3 * PACKETS)
        )
    );
}
