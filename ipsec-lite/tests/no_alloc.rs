//! The per-packet path (seal and open through the SA database) makes no heap
//! allocation through Rust's global allocator, for every suite and backend. (AWS-LC's
//! C code does not use Rust's allocator; its AEAD/CBC/HMAC calls used here work on
//! caller and key-schedule memory.)

use std::alloc::System;
use std::net::IpAddr;
use std::time::Instant;

use ipsec_lite::{Backend, Suite};
use ipsec_lite::{Direction, SaParams, SecurityAssociation};
use ipsec_lite::{Flow, IpPrefix, Mode, OuterAddrs, Policy, Sad, Selector};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn seal_and_open_do_not_allocate() {
    let now = Instant::now();
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "192.0.2.2".parse().unwrap();
    let policy = |local, remote| {
        Policy::new(
            Selector {
                local: IpPrefix::host(local),
                remote: IpPrefix::host(remote),
                protocol: Some(17),
                local_port: Some(1701),
                remote_port: None,
            },
            Mode::Transport,
        )
    };
    for &backend in Backend::available() {
        for suite in Suite::ALL {
            let p = |direction| {
                let mut p = SaParams::new(
                    0x777,
                    direction,
                    suite,
                    vec![9; suite.enc_key_len()],
                    vec![3; suite.auth_key_len()],
                );
                p.esn = true;
                p
            };
            let mut tx = Sad::default();
            tx.add(
                SecurityAssociation::new(now, &p(Direction::Outbound), backend).unwrap(),
                policy(a, b),
            )
            .unwrap();
            let mut rx = Sad::default();
            rx.add(
                SecurityAssociation::new(now, &p(Direction::Inbound), backend).unwrap(),
                policy(b, a),
            )
            .unwrap();
            let flow = Flow {
                local: a,
                remote: b,
                protocol: 17,
                local_port: 1701,
                remote_port: 1701,
            };
            let outer = OuterAddrs { src: a, dst: b };
            let mut buf = vec![0u8; 1600];
            buf[64..72].copy_from_slice(&[0x06, 0xa5, 0x06, 0xa5, 0, 8, 0, 0]);
            // One packet first: lazily initialised process state (CPU feature
            // detection and the like) is not per-packet cost.
            let s = tx.seal(now, &flow, &mut buf, 64..1464, 17).unwrap();
            rx.open(now, outer, s.packet).unwrap();
            // The counting allocator sees every thread of the process, and the test
            // harness's main thread allocates a few hundred bytes once, whenever the
            // scheduler runs it (seen in about a third of runs on a loaded machine).
            // So three windows of 100 packets each: a per-packet allocation shows in
            // all three (at least 100 each), another thread's one-off in at most one.
            let windows: Vec<_> = (0..3)
                .map(|_| {
                    let region = Region::new(GLOBAL);
                    for _ in 0..100 {
                        let s = tx.seal(now, &flow, &mut buf, 64..1464, 17).unwrap();
                        let d = rx.open(now, outer, s.packet).unwrap();
                        assert_eq!(d.payload.len(), 1400);
                        let mut bad = [0u8; 40];
                        assert!(rx.open(now, outer, &mut bad).is_err());
                    }
                    region.change()
                })
                .collect();
            assert!(
                windows
                    .iter()
                    .any(|s| (s.allocations, s.reallocations) == (0, 0)),
                "{} {suite}: every window allocated: {windows:?}",
                backend.name()
            );
        }
    }
}
