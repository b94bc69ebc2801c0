//! SPF benchmark on synthetic areas of 1 000, 10 000 and 100 000 routers with about
//! four point-to-point links each, beside a plain binary-heap Dijkstra (distances
//! only) over the same graph in the same run:
//!
//! * `full_spf`: the full SPF from the LSDB: the graph rebuilt (in a kept `Graph`)
//!   from the installed Router-/Network-LSAs, two-way check included, then Dijkstra
//!   with ECMP next hops; `full_spf_fresh_graph`: the same into a new `Graph`;
//! * `engine_spf`: the Dijkstra with next hops alone over the prebuilt graph;
//! * `lsdb_graph_rebuild`: the graph rebuild alone;
//! * `build_and_spf`: graph build from a [`Topology`] instead of the LSDB, then SPF;
//!
//! and the partial route recalculation for one /128 appearing at 10 000 routers
//! against the full recomputation (SPF and every route).
//!
//! `cargo bench -p ospfv3 --features unstable --bench spf` (engine internals through
//! the `unstable` feature, which has no stability guarantee)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ospfv3::Ipv6Prefix;
use ospfv3::lsa::{RouterLinkType, RouterLsa};
use ospfv3::unstable::{
    Graph, LinkKind, PrefixSource, Rib, RouterLink, SpfTree, Topology, VertexId,
};
use ospfv3::{Lsa, LsaBody, LsaHeader, LsaType};
use ospfv3::{LsaKey, Lsdb, LsdbEntry, RouteKind, Scope};

/// xorshift, so the graph is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A connected random area: a random tree plus random extra links, ~4 links per
/// router (2 per router added), costs 1..=100, both directions advertised.
fn topology(n: u32) -> Topology {
    let mut rng = Rng(0x1234_5678_9abc_def1 ^ u64::from(n));
    let mut t = Topology::default();
    let mut next_if = vec![1u32; n as usize + 1];
    let mut link = |t: &mut Topology, a: u32, b: u32, cost: u16| {
        let (ia, ib) = (next_if[a as usize], next_if[b as usize]);
        next_if[a as usize] += 1;
        next_if[b as usize] += 1;
        for (x, y, ix, iy) in [(a, b, ia, ib), (b, a, ib, ia)] {
            t.routers.entry(x).or_default().push(RouterLink {
                kind: LinkKind::PointToPoint,
                metric: cost,
                interface_id: ix,
                neighbor_interface_id: iy,
                neighbor_router_id: y,
            });
        }
    };
    for r in 1..=n {
        t.routers.entry(r).or_default();
    }
    for r in 2..=n {
        let p = 1 + rng.below(u64::from(r - 1)) as u32;
        let c = 1 + rng.below(100) as u16;
        link(&mut t, r, p, c);
    }
    for _ in 0..n {
        let a = 1 + rng.below(u64::from(n)) as u32;
        let b = 1 + rng.below(u64::from(n)) as u32;
        if a != b {
            let c = 1 + rng.below(100) as u16;
            link(&mut t, a, b, c);
        }
    }
    t
}

/// The same area as installed Router-LSAs in an LSDB (one per router).
fn lsdb_of(t: &Topology, now: Instant) -> Lsdb {
    let mut db = Lsdb::new();
    for (&r, links) in &t.routers {
        let body = RouterLsa {
            links: links
                .iter()
                .map(|l| ospfv3::lsa::RouterLink {
                    link_type: match l.kind {
                        LinkKind::PointToPoint => RouterLinkType::PointToPoint,
                        LinkKind::Transit => RouterLinkType::Transit,
                        LinkKind::Virtual => RouterLinkType::VirtualLink,
                    },
                    metric: l.metric,
                    interface_id: l.interface_id,
                    neighbor_interface_id: l.neighbor_interface_id,
                    neighbor_router_id: Ipv4Addr::from(l.neighbor_router_id),
                })
                .collect(),
            ..RouterLsa::default()
        };
        let header = LsaHeader {
            age: 1,
            ls_type: LsaType::ROUTER,
            link_state_id: Ipv4Addr::UNSPECIFIED,
            advertising_router: Ipv4Addr::from(r),
            seq_number: 0x8000_0001,
            checksum: 0,
            length: 0,
        };
        let lsa = Lsa {
            header,
            body: LsaBody::Router(body),
        };
        db.insert(
            LsaKey::new(Scope::Area, &header),
            LsdbEntry {
                lsa,
                bytes: Vec::new(),
                installed: now,
            },
        );
    }
    db
}

fn link_local(ifindex: u32, rid: u32) -> Option<Ipv6Addr> {
    Some(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        0,
        ifindex as u16,
        (rid >> 16) as u16,
        rid as u16,
    ))
}

/// The baseline: textbook binary-heap Dijkstra, distances only, same graph.
fn plain_dijkstra(g: &Graph, root: u32) -> Vec<u32> {
    let mut dist = vec![u32::MAX; g.len()];
    let mut heap = BinaryHeap::new();
    dist[root as usize] = 0;
    heap.push(Reverse((0u32, root)));
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > dist[u as usize] {
            continue;
        }
        for e in g.edges(u) {
            let nd = d + e.cost;
            if nd < dist[e.to as usize] {
                dist[e.to as usize] = nd;
                heap.push(Reverse((nd, e.to)));
            }
        }
    }
    dist
}

fn loopback(r: u32) -> Ipv6Prefix {
    Ipv6Prefix::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(r)), 128)
}

fn key(r: u32) -> LsaKey {
    LsaKey {
        scope: Scope::Area,
        ls_type: LsaType::INTRA_AREA_PREFIX,
        adv_router: Ipv4Addr::from(r),
        ls_id: Ipv4Addr::UNSPECIFIED,
    }
}

fn src(r: u32, metric: u32) -> PrefixSource {
    PrefixSource {
        vertex: VertexId::Router(r),
        metric,
        kind: RouteKind::IntraArea,
    }
}

fn bench_spf(c: &mut Criterion) {
    let mut group = c.benchmark_group("spf");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for n in [1_000u32, 10_000, 100_000] {
        let topo = topology(n);
        let now = Instant::now();
        let lsdb = lsdb_of(&topo, now);
        let graph = Graph::from_lsdb(&lsdb, now);
        let root = VertexId::Router(1);
        let ri = graph.index_of(root).unwrap();
        // Sanity: both builds give the same graph, both Dijkstras the same distances.
        let g2 = Graph::build(&topo);
        assert_eq!(g2.len(), graph.len());
        for i in 0..graph.len() as u32 {
            assert_eq!(g2.vertex(i), graph.vertex(i));
            let a: Vec<_> = g2.edges(i).iter().map(|e| (e.to, e.cost)).collect();
            let b: Vec<_> = graph.edges(i).iter().map(|e| (e.to, e.cost)).collect();
            assert_eq!(a, b);
        }
        let tree = SpfTree::compute(&graph, root, &link_local);
        let plain = plain_dijkstra(&graph, ri);
        for (i, d) in plain.iter().enumerate() {
            assert_eq!(tree.distance(i as u32), (*d != u32::MAX).then_some(*d));
        }
        group.bench_with_input(BenchmarkId::new("plain_dijkstra", n), &n, |b, _| {
            b.iter(|| plain_dijkstra(black_box(&graph), ri))
        });
        // As the engine runs it: the router keeps its graph and rebuilds it in place.
        let mut kept = Graph::default();
        group.bench_with_input(BenchmarkId::new("full_spf", n), &n, |b, _| {
            b.iter(|| {
                kept.rebuild_from_lsdb(black_box(&lsdb), now);
                SpfTree::compute(&kept, root, &link_local)
            })
        });
        group.bench_with_input(BenchmarkId::new("full_spf_fresh_graph", n), &n, |b, _| {
            b.iter(|| {
                let g = Graph::from_lsdb(black_box(&lsdb), now);
                SpfTree::compute(&g, root, &link_local)
            })
        });
        group.bench_with_input(BenchmarkId::new("engine_spf", n), &n, |b, _| {
            b.iter(|| SpfTree::compute(black_box(&graph), root, &link_local))
        });
        group.bench_with_input(BenchmarkId::new("lsdb_graph_rebuild", n), &n, |b, _| {
            b.iter(|| kept.rebuild_from_lsdb(black_box(&lsdb), now))
        });
        group.bench_with_input(BenchmarkId::new("build_and_spf", n), &n, |b, _| {
            b.iter(|| {
                let g = Graph::build(black_box(&topo));
                SpfTree::compute(&g, root, &link_local)
            })
        });
    }
    group.finish();
}

fn bench_partial(c: &mut Criterion) {
    let n = 10_000u32;
    let topo = topology(n);
    let now = Instant::now();
    let lsdb = lsdb_of(&topo, now);
    let graph = Graph::from_lsdb(&lsdb, now);
    let root = VertexId::Router(1);
    let tree = SpfTree::compute(&graph, root, &link_local);
    let mut rib = Rib::new();
    for r in 1..=n {
        rib.set_origin(key(r), vec![(loopback(r), src(r, 0))]);
    }
    let mut out = Vec::new();
    rib.recompute_all(&graph, &tree, root, &mut out);
    assert_eq!(out.len(), n as usize - 1);
    let anycast = Ipv6Prefix::new("2001:db8:ffff::1".parse().unwrap(), 128);
    let r = 4242u32;
    let mut group = c.benchmark_group("route_10000");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    // One router adds an anycast /128 to its Intra-Area-Prefix-LSA, then removes it.
    group.bench_function("partial_one_128", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let t = rib.set_origin(key(r), vec![(loopback(r), src(r, 0)), (anycast, src(r, 1))]);
            rib.recompute(&t, &graph, &tree, root, &mut out);
            let t = rib.set_origin(key(r), vec![(loopback(r), src(r, 0))]);
            rib.recompute(&t, &graph, &tree, root, &mut out);
            assert_eq!(out.len(), 2);
            out
        })
    });
    // The same change handled by a full recalculation: graph build, SPF, all routes
    // (twice, to match the add+remove above).
    group.bench_function("full_recompute", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for _ in 0..2 {
                let g = Graph::from_lsdb(&lsdb, now);
                let t = SpfTree::compute(&g, root, &link_local);
                rib.recompute_all(&g, &t, root, &mut out);
            }
            out
        })
    });
    group.finish();
}

#[allow(missing_docs)]
mod entry {
    use super::*;
    criterion_group!(benches, bench_spf, bench_partial);
}
criterion_main!(entry::benches);
