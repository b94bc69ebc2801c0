//! Fast failover in the engine: a forwarding-path client (BFD, RFC 5882) taking a
//! neighbor down at once, and the origination throttle that floods the change
//! without waiting for MinLSInterval. Virtual time only (netsim).

mod engine_support;

use std::time::Duration;

use engine_support::*;
use netsim::LinkConfig;
use ospfv3::{Event, NeighborState};

fn triangle(seed: u64) -> Net {
    let mut net = Net::new(3, seed);
    net.connect(&[0, 1], 10, LinkConfig::default());
    net.connect(&[1, 2], 10, LinkConfig::default());
    net.connect(&[0, 2], 30, LinkConfig::default());
    net.run(20);
    net.assert_lsdbs_converged();
    net.assert_routes();
    net
}

fn went(net: &Net, node: usize, nbr: usize, to: NeighborState) -> usize {
    net.sim
        .node(node)
        .events
        .iter()
        .filter(|e| {
            matches!(e, Event::NeighborState { ifindex: 1, router_id, to: t, .. }
                if *router_id == rid(nbr) && *t == to)
        })
        .count()
}

#[test]
fn neighbor_down_withdraws_routes_before_the_dead_interval() {
    let mut net = triangle(21);
    assert_eq!(net.router(0).routes()[&loopback(2)].cost, 20);
    let now = net.sim.now();
    let r = &mut net.sim.node_mut(0).router;
    assert!(r.set_neighbor_hold(1, rid(1), true));
    assert!(r.neighbor_down(now, 1, rid(1)));
    // The neighbor is gone at once; a second report finds nothing.
    assert!(r.neighbors(1).is_empty());
    assert!(!r.neighbor_down(now, 1, rid(1)));
    assert!(!r.neighbor_down(now, 7, rid(1)));
    let before = went(&net, 0, 1, NeighborState::Down);
    // Far less than the 4 s dead interval: routes moved to the direct link.
    net.sim.run_for(Duration::from_millis(500)).unwrap();
    assert_eq!(went(&net, 0, 1, NeighborState::Down), before + 1);
    assert_eq!(net.router(0).routes()[&loopback(2)].cost, 30);
    assert_eq!(net.router(0).routes()[&loopback(1)].cost, 40);
    assert_eq!(net.router(2).routes()[&loopback(0)].cost, 30);
    // Held: hellos keep arriving but no adjacency forms.
    net.run(10);
    assert!(net.router(0).neighbors(1).is_empty());
    assert_eq!(net.router(0).routes()[&loopback(1)].cost, 40);
    assert!(net.router(0).counters().rx_dropped > 0);
    // Released (BFD Up again): the adjacency re-forms and routes come back.
    let r = &mut net.sim.node_mut(0).router;
    assert!(r.set_neighbor_hold(1, rid(1), false));
    assert!(!r.set_neighbor_hold(1, rid(1), false));
    net.run(15);
    assert_eq!(
        net.router(0).neighbors(1),
        vec![(rid(1), NeighborState::Full)]
    );
    net.assert_lsdbs_converged();
    net.assert_routes();
}

#[test]
fn neighbor_down_without_hold_re_forms_while_hellos_arrive() {
    let mut net = triangle(22);
    let full_before = went(&net, 0, 1, NeighborState::Full);
    let now = net.sim.now();
    assert!(net.sim.node_mut(0).router.neighbor_down(now, 1, rid(1)));
    net.run(15);
    assert!(went(&net, 0, 1, NeighborState::Down) >= 1);
    assert_eq!(went(&net, 0, 1, NeighborState::Full), full_before + 1);
    net.assert_lsdbs_converged();
    net.assert_routes();
}
