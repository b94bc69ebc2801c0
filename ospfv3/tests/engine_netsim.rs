//! The OSPFv3 engine in the deterministic harness: point-to-point pairs, a triangle,
//! a broadcast LAN with DR/BDR election and DR failure, a random 50-router mesh, and
//! the same under loss. Every routing table is checked against an independent
//! shortest-path computation done here from the test's own view of the topology.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use netsim::{LinkConfig, LinkId, Node, Sim, Transmit};
use ospfv3::engine::{
    Event, InterfaceConfig, InterfaceState, Ipv6Prefix, NeighborState, NextHop, Router,
    RouterConfig,
};
use rand::Rng;

const LOOPBACK_IF: u32 = 100;

/// Wraps a router: each datagram carries the IPv6 source and destination (32 bytes)
/// before the OSPFv3 payload, so receivers know the link-local source and can filter.
struct OspfNode {
    router: Router,
    events: Vec<Event>,
}

impl Node for OspfNode {
    fn handle_datagram(&mut self, now: Instant, port: usize, payload: Vec<u8>) {
        if payload.len() < 32 {
            return;
        }
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&payload[..16]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&payload[16..32]).unwrap());
        self.router
            .handle_packet(now, port as u32 + 1, src, dst, &payload[32..]);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.router.handle_timeout(now);
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        while let Some(e) = self.router.poll_event() {
            self.events.push(e);
        }
        let t = self.router.poll_transmit()?;
        let mut payload = Vec::with_capacity(32 + t.bytes.len());
        payload.extend_from_slice(&t.src.octets());
        payload.extend_from_slice(&t.dst.octets());
        payload.extend_from_slice(&t.bytes);
        Some(Transmit {
            port: t.ifindex as usize - 1,
            payload,
        })
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.router.poll_timeout()
    }
}

fn rid(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0A00_0000 + i as u32 + 1)
}
fn link_local(node: usize, port: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, node as u16 + 1, port as u16 + 1)
}
fn loopback(i: usize) -> Ipv6Prefix {
    Ipv6Prefix::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1),
        128,
    )
}

/// The test's own record of what it built: links with their ports and costs.
#[derive(Clone)]
struct TestLink {
    id: LinkId,
    ports: Vec<(usize, usize)>,
    cost: u16,
    up: bool,
}

struct Net {
    sim: Sim<OspfNode>,
    links: Vec<TestLink>,
    ports_used: Vec<usize>,
    alive: Vec<bool>,
    dead_interval: u16,
}

impl Net {
    fn new(n: usize, seed: u64) -> Net {
        let mut sim = Sim::new(seed);
        let now = sim.start();
        for i in 0..n {
            let mut r = Router::new(RouterConfig::new(rid(i)), seed ^ i as u64);
            r.add_interface(
                now,
                LOOPBACK_IF,
                InterfaceConfig::loopback(vec![loopback(i)]),
            );
            sim.add_node(OspfNode {
                router: r,
                events: Vec::new(),
            });
        }
        Net {
            sim,
            links: Vec::new(),
            ports_used: vec![0; n],
            alive: vec![true; n],
            dead_interval: 4,
        }
    }

    /// Connects routers with one link (2: point-to-point, more: broadcast).
    fn connect(&mut self, nodes: &[usize], cost: u16, cfg: LinkConfig) {
        let now = self.sim.now();
        let broadcast = nodes.len() > 2;
        let mut ports = Vec::new();
        for &n in nodes {
            let port = self.ports_used[n];
            self.ports_used[n] += 1;
            ports.push((n, port));
            let ll = link_local(n, port);
            let mut ic = if broadcast {
                InterfaceConfig::broadcast(ll)
            } else {
                InterfaceConfig::point_to_point(ll)
            }
            .with_timers(1, self.dead_interval);
            ic.retransmit_interval = 2;
            ic.cost = cost;
            self.sim
                .node_mut(n)
                .router
                .add_interface(now, port as u32 + 1, ic);
        }
        let id = self.sim.connect(&ports, cfg);
        self.links.push(TestLink {
            id,
            ports,
            cost,
            up: true,
        });
    }

    fn run(&mut self, secs: u64) {
        self.sim.run_for(Duration::from_secs(secs)).unwrap();
    }

    fn set_link(&mut self, idx: usize, up: bool) {
        self.links[idx].up = up;
        let id = self.links[idx].id;
        self.sim.set_link_up(id, up);
    }

    fn kill(&mut self, n: usize) {
        self.alive[n] = false;
        self.sim.set_node_up(n, false);
    }

    fn router(&self, n: usize) -> &Router {
        &self.sim.node(n).router
    }

    /// All live routers hold the same area/AS-scope LSDB.
    fn assert_lsdbs_converged(&self) {
        let now = self.sim.now();
        let live: Vec<usize> = (0..self.alive.len()).filter(|&i| self.alive[i]).collect();
        let first = self.router(live[0]).lsdb_summary(now);
        assert!(!first.is_empty());
        for &i in &live[1..] {
            let other = self.router(i).lsdb_summary(now);
            assert_eq!(
                first, other,
                "LSDB of router {i} differs from router {}",
                live[0]
            );
        }
    }

    /// Independent Dijkstra over the test's own topology: for each live router, the
    /// cost and first hops (ifindex, neighbor link-local) to every other router.
    fn expected_routes(&self, src: usize) -> BTreeMap<usize, (u32, BTreeSet<NextHop>)> {
        let n = self.alive.len();
        // Adjacency: (node) -> [(neighbor, cost, my port, neighbor port)]
        let mut adj: Vec<Vec<(usize, u32, usize, usize)>> = vec![Vec::new(); n];
        for l in &self.links {
            if !l.up {
                continue;
            }
            let live: Vec<(usize, usize)> = l
                .ports
                .iter()
                .copied()
                .filter(|&(x, _)| self.alive[x])
                .collect();
            for &(a, pa) in &live {
                for &(b, pb) in &live {
                    if a != b {
                        adj[a].push((b, u32::from(l.cost), pa, pb));
                    }
                }
            }
        }
        let mut dist = vec![u32::MAX; n];
        let mut hops: Vec<BTreeSet<NextHop>> = vec![BTreeSet::new(); n];
        dist[src] = 0;
        let mut heap = BinaryHeap::new();
        heap.push(Reverse((0u32, src)));
        let mut done = vec![false; n];
        while let Some(Reverse((d, u))) = heap.pop() {
            if done[u] {
                continue;
            }
            done[u] = true;
            for &(v, c, pu, pv) in &adj[u] {
                let nd = d + c;
                let h: BTreeSet<NextHop> = if u == src {
                    [NextHop {
                        ifindex: pu as u32 + 1,
                        addr: Some(link_local(v, pv)),
                    }]
                    .into()
                } else {
                    hops[u].clone()
                };
                if nd < dist[v] {
                    dist[v] = nd;
                    hops[v] = h;
                    heap.push(Reverse((nd, v)));
                } else if nd == dist[v] {
                    hops[v].extend(h);
                }
            }
        }
        (0..n)
            .filter(|&j| j != src && self.alive[j] && dist[j] != u32::MAX)
            .map(|j| (j, (dist[j], hops[j].clone())))
            .collect()
    }

    /// Every live router's routes to the other loopbacks match the independent
    /// computation exactly (cost and next-hop set), and nothing else is routed.
    fn assert_routes(&self) {
        for i in 0..self.alive.len() {
            if !self.alive[i] {
                continue;
            }
            let want = self.expected_routes(i);
            let got = self.router(i).routes();
            for (j, (cost, hops)) in &want {
                let r = got
                    .get(&loopback(*j))
                    .unwrap_or_else(|| panic!("router {i} has no route to {}", loopback(*j)));
                assert_eq!(r.cost, *cost, "router {i} cost to {j}");
                let mut h = hops.iter().copied().collect::<Vec<_>>();
                h.truncate(8);
                assert_eq!(r.next_hops, h, "router {i} next hops to {j}");
            }
            let expected: BTreeSet<Ipv6Prefix> = want.keys().map(|&j| loopback(j)).collect();
            let actual: BTreeSet<Ipv6Prefix> = got.keys().copied().collect();
            assert_eq!(actual, expected, "router {i} routed prefixes");
        }
    }

    fn all_full(&self) -> bool {
        (0..self.alive.len()).filter(|&i| self.alive[i]).all(|i| {
            self.sim.node(i).events.iter().any(|e| {
                matches!(
                    e,
                    Event::NeighborState {
                        to: NeighborState::Full,
                        ..
                    }
                )
            })
        })
    }
}

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
        let j = net.sim.rng().gen_range(0..i);
        pairs.insert((j, i));
    }
    while pairs.len() < n * 2 {
        let a = net.sim.rng().gen_range(0..n);
        let b = net.sim.rng().gen_range(0..n);
        if a != b {
            pairs.insert((a.min(b), a.max(b)));
        }
    }
    for (a, b) in pairs {
        let cost = net.sim.rng().gen_range(1..20u16);
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
    let lossy = LinkConfig::with_latency(Duration::from_millis(2)).lossy(
        0.2,
        0.05,
        Duration::from_millis(5),
    );
    // With 20% loss a 4 s dead interval would flap adjacencies now and then (four
    // hellos in a row lost); 12 s keeps them up so the topology is stable.
    let mut net = random_mesh(20, 6, lossy, 12);
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
            "router {i}: an adjacency flapped"
        );
    }
    net.assert_lsdbs_converged();
    net.assert_routes();
}
