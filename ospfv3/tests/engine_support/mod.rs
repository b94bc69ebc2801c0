//! Shared netsim adapter for the engine tests: each datagram carries the IPv6 source
//! and destination (32 bytes) before the OSPFv3 payload; the test keeps its own record
//! of the topology and computes expected routes independently.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use netsim::{LinkConfig, LinkId, Node, Sim, Transmit};
use ospfv3::{Event, InterfaceConfig, Ipv6Prefix, NeighborState, NextHop, Router, RouterConfig};
use rand::SeedableRng;
pub use rand::rngs::StdRng;

/// A router's generator, seeded for reproducible runs.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub const LOOPBACK_IF: u32 = 100;

/// Wraps a router: each datagram carries the IPv6 source and destination (32 bytes)
/// before the OSPFv3 payload, so receivers know the link-local source and can filter.
pub struct OspfNode {
    pub router: Router<StdRng>,
    pub events: Vec<Event>,
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

pub fn rid(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0A00_0000 + i as u32 + 1)
}
pub fn link_local(node: usize, port: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, node as u16 + 1, port as u16 + 1)
}
pub fn loopback(i: usize) -> Ipv6Prefix {
    Ipv6Prefix::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1),
        128,
    )
}

/// The test's own record of what it built: links with their ports and costs.
#[derive(Clone)]
pub struct TestLink {
    pub id: LinkId,
    pub ports: Vec<(usize, usize)>,
    pub cost: u16,
    pub up: bool,
}

pub struct Net {
    pub sim: Sim<OspfNode, StdRng>,
    pub links: Vec<TestLink>,
    pub ports_used: Vec<usize>,
    pub alive: Vec<bool>,
    pub dead_interval: u16,
    /// Every interface added to each node, to rebuild a node on restart.
    pub configs: Vec<Vec<(u32, InterfaceConfig)>>,
    /// Makes a router's configuration from its router ID (also on restart).
    pub config: fn(Ipv4Addr) -> RouterConfig,
}

impl Net {
    pub fn new(n: usize, seed: u64) -> Net {
        Self::with_config(n, seed, RouterConfig::new)
    }

    /// Like [`Net::new`], with each router's configuration made from its router ID.
    pub fn with_config(n: usize, seed: u64, config: fn(Ipv4Addr) -> RouterConfig) -> Net {
        let mut sim = Sim::new(seeded(seed));
        let now = sim.start();
        for i in 0..n {
            let mut r = Router::new(config(rid(i)), seeded(seed ^ i as u64));
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
            configs: vec![Vec::new(); n],
            config,
        }
    }

    /// Connects routers with one link (2: point-to-point, more: broadcast).
    pub fn connect(&mut self, nodes: &[usize], cost: u16, cfg: LinkConfig) {
        self.connect_with(nodes, cost, cfg, |_, _| {});
    }

    /// Like [`Net::connect`], with a hook to adjust each interface's configuration.
    pub fn connect_with(
        &mut self,
        nodes: &[usize],
        cost: u16,
        cfg: LinkConfig,
        tweak: impl Fn(usize, &mut InterfaceConfig),
    ) {
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
            tweak(n, &mut ic);
            self.sim
                .node_mut(n)
                .router
                .add_interface(now, port as u32 + 1, ic.clone());
            self.configs[n].push((port as u32 + 1, ic));
        }
        let id = self.sim.connect(&ports, cfg);
        self.links.push(TestLink {
            id,
            ports,
            cost,
            up: true,
        });
    }

    pub fn run(&mut self, secs: u64) {
        self.sim.run_for(Duration::from_secs(secs)).unwrap();
    }

    pub fn set_link(&mut self, idx: usize, up: bool) {
        self.links[idx].up = up;
        let id = self.links[idx].id;
        self.sim.set_link_up(id, up);
    }

    pub fn kill(&mut self, n: usize) {
        self.alive[n] = false;
        self.sim.set_node_up(n, false);
    }

    /// Restarts a node with fresh state (same router ID and interfaces), running.
    pub fn restart(&mut self, n: usize, seed: u64) {
        let now = self.sim.now();
        let mut r = Router::new((self.config)(rid(n)), seeded(seed));
        r.add_interface(
            now,
            LOOPBACK_IF,
            InterfaceConfig::loopback(vec![loopback(n)]),
        );
        for (ifindex, ic) in &self.configs[n] {
            r.add_interface(now, *ifindex, ic.clone());
        }
        self.sim.replace_node(
            n,
            OspfNode {
                router: r,
                events: Vec::new(),
            },
        );
        self.sim.set_node_up(n, true);
        self.alive[n] = true;
    }

    pub fn router(&self, n: usize) -> &Router<StdRng> {
        &self.sim.node(n).router
    }

    /// All live routers hold the same area/AS-scope LSDB.
    pub fn assert_lsdbs_converged(&self) {
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
    pub fn expected_routes(&self, src: usize) -> BTreeMap<usize, (u32, BTreeSet<NextHop>)> {
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
    pub fn assert_routes(&self) {
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

    pub fn all_full(&self) -> bool {
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
