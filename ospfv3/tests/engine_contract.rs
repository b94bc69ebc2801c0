//! The sans-IO contract: `handle_timeout` only fires timers that are due, so calling
//! it early (before `poll_timeout`) or twice for one instant changes nothing.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ospfv3::{InterfaceConfig, Ipv6Prefix, NeighborState, Router, RouterConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn pair(t0: Instant) -> Vec<Router<StdRng>> {
    (1..=2u16)
        .map(|i| {
            let cfg = RouterConfig::new(Ipv4Addr::new(10, 0, 0, i as u8));
            let mut r = Router::new(cfg, StdRng::seed_from_u64(u64::from(i)));
            let ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i);
            r.add_interface(t0, 1, InterfaceConfig::point_to_point(ll).with_timers(1, 4));
            let lo = Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 128);
            r.add_interface(t0, 2, InterfaceConfig::loopback(vec![lo]));
            r
        })
        .collect()
}

/// Everything observable from outside, for before/after comparisons.
fn snapshot(r: &Router<StdRng>, now: Instant) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        r.counters(),
        r.lsdb_summary(now),
        r.routes().clone(),
        r.neighbors(1),
        r.interface_state(1),
        r.poll_timeout(),
    )
}

/// Delivers every queued packet until both routers are quiet; returns how many moved.
fn exchange(routers: &mut [Router<StdRng>], now: Instant) -> usize {
    let mut moved = 0;
    loop {
        let mut any = false;
        for i in 0..2 {
            while let Some(t) = routers[i].poll_transmit() {
                routers[1 - i].handle_packet(now, 1, t.src, t.dst, &t.bytes);
                any = true;
                moved += 1;
            }
            while routers[i].poll_event().is_some() {}
        }
        if !any {
            return moved;
        }
    }
}

#[test]
fn early_or_repeated_handle_timeout_is_harmless() {
    let t0 = Instant::now();
    let mut routers = pair(t0);
    // Drive the pair to Full, always waking at the routers' own deadlines.
    let mut now = t0;
    for _ in 0..500 {
        exchange(&mut routers, now);
        let next = routers
            .iter()
            .filter_map(|r| r.poll_timeout())
            .min()
            .unwrap();
        now = next.max(now);
        for r in &mut routers {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
        }
        if now > t0 + Duration::from_secs(20) {
            break;
        }
    }
    exchange(&mut routers, now);
    assert_eq!(routers[0].neighbors(1)[0].1, NeighborState::Full);

    for r in &mut routers {
        let due = r.poll_timeout().expect("a running router has timers");
        assert!(due > now);
        // Early: at every instant before the deadline, nothing happens.
        for early in [now, now + (due - now) / 2, due - Duration::from_nanos(1)] {
            let before = snapshot(r, early);
            r.handle_timeout(early);
            assert!(r.poll_transmit().is_none(), "early call sent a packet");
            assert!(r.poll_event().is_none(), "early call reported an event");
            assert_eq!(snapshot(r, early), before, "early call changed state");
        }
        // At the deadline something is due (at least one timer), and a second call
        // for the same instant finds nothing more to do.
        r.handle_timeout(due);
        while r.poll_transmit().is_some() {}
        while r.poll_event().is_some() {}
        let before = snapshot(r, due);
        r.handle_timeout(due);
        assert!(r.poll_transmit().is_none(), "second call sent a packet");
        assert!(r.poll_event().is_none(), "second call reported an event");
        assert_eq!(snapshot(r, due), before, "second call changed state");
        assert!(r.poll_timeout().is_some_and(|t| t > due));
    }
}
