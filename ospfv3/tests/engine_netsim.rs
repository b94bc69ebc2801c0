//! The OSPFv3 engine in the deterministic harness: point-to-point pairs, a triangle,
//! a broadcast LAN with DR/BDR election and DR failure, a random 50-router mesh, and
//! the same under loss. Every routing table is checked against an independent
//! shortest-path computation done here from the test's own view of the topology.

mod engine_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine_support::*;
use netsim::LinkConfig;
use ospfv3::{Event, InterfaceState, Ipv6Prefix, NeighborState};
use rand::RngExt;

#[test]
fn two_routers_point_to_point() {
    let mut net = Net::new(2, 1);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.run(20);
    assert!(net.all_full());
    assert_eq!(
        net.router(0).neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    assert_eq!(
        net.router(0).interface_state(1),
        Some(InterfaceState::PointToPoint)
    );
    net.assert_lsdbs_converged();
    net.assert_routes();
    // Router 1 advertises an anycast /128 with metric 5, then withdraws it.
    let anycast = Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    let now = net.sim.now();
    net.sim.node_mut(1).router.advertise_prefix(now, anycast, 5);
    net.run(3);
    let r = net.router(0).routes().get(&anycast).expect("anycast route");
    assert_eq!(r.cost, 15);
    let now = net.sim.now();
    net.sim.node_mut(1).router.withdraw_prefix(now, anycast);
    net.run(3);
    assert!(net.router(0).routes().get(&anycast).is_none());
    assert!(
        net.sim
            .node(0)
            .events
            .contains(&Event::RouteRemove(anycast))
    );
    net.assert_lsdbs_converged();
    // Only prefix LSAs changed: the route change came from a partial recalculation.
    assert!(net.router(0).counters().partial_runs > 0);
}

#[test]
fn triangle_with_link_and_router_failure() {
    let mut net = Net::new(3, 2);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 2], 10, LinkConfig::default());
    net.connect(&[0, 2], 30, LinkConfig::default());
    net.run(20);
    net.assert_lsdbs_converged();
    net.assert_routes();
    // 0 reaches 2 via 1 (cost 20) rather than directly (30).
    assert_eq!(net.router(0).routes()[&loopback(2)].cost, 20);
    // Link 0-1 fails: dead interval 4 s, then SPF.
    net.set_link(0, false);
    net.run(15);
    net.assert_lsdbs_converged();
    net.assert_routes();
    assert_eq!(net.router(0).routes()[&loopback(2)].cost, 30);
    assert_eq!(net.router(0).routes()[&loopback(1)].cost, 40);
    // It comes back.
    net.set_link(0, true);
    net.run(15);
    net.assert_lsdbs_converged();
    net.assert_routes();
    // Router 1 crashes.
    net.kill(1);
    net.run(15);
    net.assert_routes();
    assert!(!net.router(0).routes().contains_key(&loopback(1)));
}

#[test]
fn equal_cost_square_uses_both_paths() {
    let mut net = Net::new(4, 3);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 3], 10, LinkConfig::default());
    net.connect(&[0, 2], 10, LinkConfig::default());
    net.connect(&[2, 3], 10, LinkConfig::default());
    net.run(20);
    net.assert_lsdbs_converged();
    net.assert_routes();
    assert_eq!(net.router(0).routes()[&loopback(3)].next_hops.len(), 2);
}

#[test]
fn broadcast_lan_of_four_elects_dr_and_survives_dr_failure() {
    let mut net = Net::new(4, 4);
    net.connect(&[0, 1, 2, 3], 10, LinkConfig::default());
    net.run(30);
    // Equal priorities: highest router ID (router 3) is DR, router 2 BDR.
    for i in 0..4 {
        assert_eq!(
            net.router(i).designated_routers(1),
            Some((rid(3), rid(2))),
            "router {i}"
        );
    }
    assert_eq!(net.router(3).interface_state(1), Some(InterfaceState::Dr));
    assert_eq!(
        net.router(2).interface_state(1),
        Some(InterfaceState::Backup)
    );
    assert_eq!(
        net.router(0).interface_state(1),
        Some(InterfaceState::DrOther)
    );
    // DROthers are Full with DR and BDR, 2-Way with each other.
    let n0: BTreeMap<_, _> = net.router(0).neighbors(1).into_iter().collect();
    assert_eq!(n0[&rid(3)], NeighborState::Full);
    assert_eq!(n0[&rid(2)], NeighborState::Full);
    assert_eq!(n0[&rid(1)], NeighborState::TwoWay);
    net.assert_lsdbs_converged();
    net.assert_routes();
    // The DR fails: the BDR takes over, a new BDR is elected, routes reconverge.
    net.kill(3);
    net.run(30);
    for i in 0..3 {
        assert_eq!(
            net.router(i).designated_routers(1),
            Some((rid(2), rid(1))),
            "router {i}"
        );
    }
    net.assert_lsdbs_converged();
    net.assert_routes();
}

fn random_mesh(n: usize, seed: u64, cfg: LinkConfig, dead: u16) -> Net {
    let mut net = Net::new(n, seed);
    net.dead_interval = dead;
    // A random spanning tree plus extra links: about four links per router.
    let mut pairs = BTreeSet::new();
    for i in 1..n {
        let j = net.sim.rng().random_range(0..i);
        pairs.insert((j, i));
    }
    while pairs.len() < n * 2 {
        let a = net.sim.rng().random_range(0..n);
        let b = net.sim.rng().random_range(0..n);
        if a != b {
            pairs.insert((a.min(b), a.max(b)));
        }
    }
    for (a, b) in pairs {
        let cost = net.sim.rng().random_range(1..20u16);
        net.connect(&[a, b], cost, cfg.clone());
    }
    net
}

#[test]
fn random_mesh_of_fifty() {
    let mut net = random_mesh(50, 5, LinkConfig::default(), 4);
    net.run(60);
    net.assert_lsdbs_converged();
    net.assert_routes();
    // A link failure, a router failure and an anycast withdrawal.
    net.set_link(3, false);
    net.run(20);
    net.assert_lsdbs_converged();
    net.assert_routes();
    net.kill(7);
    net.run(20);
    net.assert_lsdbs_converged();
    net.assert_routes();
    let anycast = Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    let now = net.sim.now();
    net.sim
        .node_mut(10)
        .router
        .advertise_prefix(now, anycast, 1);
    net.sim
        .node_mut(20)
        .router
        .advertise_prefix(now, anycast, 100);
    net.run(10);
    for i in [0, 5, 30, 49] {
        assert!(net.router(i).routes().contains_key(&anycast), "router {i}");
    }
    let now = net.sim.now();
    net.sim.node_mut(10).router.withdraw_prefix(now, anycast);
    net.sim.node_mut(20).router.withdraw_prefix(now, anycast);
    net.run(10);
    net.assert_lsdbs_converged();
    for i in 0..50 {
        assert!(!net.router(i).routes().contains_key(&anycast), "router {i}");
    }
}

#[test]
fn random_mesh_converges_under_loss() {
    for seed in [6, 7, 8, 9] {
        converge_under_loss(seed);
    }
}

fn converge_under_loss(seed: u64) {
    let lossy = LinkConfig::with_latency(Duration::from_millis(2)).lossy(
        0.2,
        0.05,
        Duration::from_millis(5),
    );
    // With 20% loss a 4 s dead interval would flap adjacencies now and then (four
    // hellos in a row lost); 12 s keeps them up so the topology is stable.
    let mut net = random_mesh(20, seed, lossy, 12);
    net.run(120);
    for i in 0..20 {
        assert!(
            !net.sim.node(i).events.iter().any(|e| matches!(
                e,
                Event::NeighborState {
                    from: NeighborState::Full,
                    ..
                }
            )),
            "seed {seed} router {i}: an adjacency flapped"
        );
    }
    net.assert_lsdbs_converged();
    net.assert_routes();
    // A withdrawal still reaches everyone under loss.
    let now = net.sim.now();
    net.sim
        .node_mut(3)
        .router
        .remove_interface(now, LOOPBACK_IF);
    net.run(30);
    for i in 0..20 {
        assert!(
            !net.router(i).routes().contains_key(&loopback(3)),
            "seed {seed} router {i}"
        );
    }
    net.assert_lsdbs_converged();
}

#[test]
fn broadcast_lans_and_p2p_links_under_loss() {
    let lossy = LinkConfig::with_latency(Duration::from_millis(2)).lossy(
        0.15,
        0.05,
        Duration::from_millis(5),
    );
    let mut net = Net::new(7, 21);
    net.dead_interval = 12;
    net.connect(&[0, 1, 2, 3], 10, lossy.clone());
    net.connect(&[3, 4, 5], 5, lossy.clone());
    net.connect(&[5, 6], 7, lossy.clone());
    net.connect(&[6, 0], 40, lossy);
    net.run(120);
    net.assert_lsdbs_converged();
    net.assert_routes();
    net.kill(3);
    net.run(60);
    net.assert_lsdbs_converged();
    net.assert_routes();
}

#[test]
fn random_churn_then_convergence() {
    // Links flap, routers crash and restart with fresh state, an anycast prefix moves
    // around; once everything is up again, all LSDBs and routing tables converge.
    for seed in 31u64..36 {
        churn(seed, LinkConfig::default(), 4);
    }
}

#[test]
fn random_churn_under_loss_then_convergence() {
    let lossy = LinkConfig::with_latency(Duration::from_millis(2)).lossy(
        0.1,
        0.05,
        Duration::from_millis(5),
    );
    for seed in 41u64..44 {
        churn(seed, lossy.clone(), 12);
    }
}

fn churn(seed: u64, cfg: LinkConfig, dead: u16) {
    let mut net = random_mesh(15, seed, cfg, dead);
    net.run(30);
    let anycast = Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    for round in 0..25u64 {
        let action = net.sim.rng().random_range(0..5);
        let n = net.sim.rng().random_range(0..15usize);
        let l = net.sim.rng().random_range(0..net.links.len());
        let now = net.sim.now();
        match action {
            0 => {
                let up = !net.links[l].up;
                net.set_link(l, up);
            }
            1 if net.alive[n] => net.kill(n),
            1 | 2 => net.restart(n, seed * 100 + round),
            3 if net.alive[n] => {
                let m = net.sim.rng().random_range(1..50u16);
                net.sim.node_mut(n).router.advertise_prefix(now, anycast, m);
            }
            _ if net.alive[n] => net.sim.node_mut(n).router.withdraw_prefix(now, anycast),
            _ => {}
        }
        let secs = net.sim.rng().random_range(0..8u64);
        net.run(secs);
    }
    for l in 0..net.links.len() {
        net.set_link(l, true);
    }
    for n in 0..15 {
        if !net.alive[n] {
            net.restart(n, seed * 1000 + n as u64);
        } else {
            let now = net.sim.now();
            net.sim.node_mut(n).router.withdraw_prefix(now, anycast);
        }
    }
    net.run(u64::from(dead) * 10);
    net.assert_lsdbs_converged();
    net.assert_routes();
}

#[test]
fn anycast_active_standby_failover() {
    // Two servers (1 and 2) behind routers, both advertising the same /128: the
    // active one with metric 10, the standby with 100. The client (0) routes to the
    // active one; when it withdraws, the route moves to the standby; when the active
    // server crashes instead, the same happens after the dead interval.
    let anycast = Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    let mut net = Net::new(4, 22);
    net.connect(&[0, 3], 10, LinkConfig::default());
    net.connect(&[3, 1], 10, LinkConfig::default());
    net.connect(&[3, 2], 10, LinkConfig::default());
    net.run(20);
    let now = net.sim.now();
    net.sim
        .node_mut(1)
        .router
        .advertise_prefix(now, anycast, 10);
    net.sim
        .node_mut(2)
        .router
        .advertise_prefix(now, anycast, 100);
    net.run(5);
    let via = |net: &Net| {
        let r = &net.router(3).routes()[&anycast];
        (r.cost, r.next_hops[0].addr)
    };
    assert_eq!(via(&net), (20, Some(link_local(1, 0))));
    assert_eq!(net.router(0).routes()[&anycast].cost, 30);
    let now = net.sim.now();
    net.sim.node_mut(1).router.withdraw_prefix(now, anycast);
    net.run(2);
    assert_eq!(via(&net), (110, Some(link_local(2, 0))));
    assert_eq!(net.router(0).routes()[&anycast].cost, 120);
    let now = net.sim.now();
    net.sim
        .node_mut(1)
        .router
        .advertise_prefix(now, anycast, 10);
    // The default origination throttle lets the new instance follow the last one
    // 2 s later at once (the RFC's 5 s MinLSInterval is tested in
    // engine_fast_failover.rs with `OriginationThrottle::rfc()`).
    net.run(2);
    assert_eq!(via(&net), (20, Some(link_local(1, 0))));
    net.kill(1);
    net.run(10);
    assert_eq!(via(&net), (110, Some(link_local(2, 0))));
}
