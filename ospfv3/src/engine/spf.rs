//! The shortest-path tree (RFC 2328 16.1 as adapted by RFC 5340 4.8.1).
//!
//! The graph is built once from the area's Router- and Network-LSAs into a compact
//! adjacency array ([`Graph`]); the bidirectional ("two-way") check of RFC 2328 16.1
//! step (2)(b) is applied while building, so Dijkstra itself only relaxes edges that
//! are usable. Distances are `u32` (a path of many 16-bit metrics overflows 16 bits).
//! Next hops are `(interface, neighbor link-local address)` pairs: the address comes
//! from the neighbor's Link-LSA on that interface; equal-cost paths are merged up to
//! [`MAX_ECMP`] next hops.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv6Addr;

/// Most next hops kept per destination.
pub const MAX_ECMP: usize = 8;

/// A vertex of the SPF graph: a router, or a transit network named by its DR's router
/// ID and the DR's Interface ID (the Network-LSA's Link State ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VertexId {
    /// A router, by router ID.
    Router(u32),
    /// A transit network, by (DR router ID, DR Interface ID).
    Network(u32, u32),
}

/// Kind of a Router-LSA link (RFC 5340 A.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Type 1: point-to-point connection to another router.
    PointToPoint,
    /// Type 2: connection to a transit network.
    Transit,
    /// Type 4: virtual link (not used for SPF here: no virtual links).
    Virtual,
}

/// One link of a Router-LSA, as SPF needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterLink {
    /// Link type.
    pub kind: LinkKind,
    /// Cost of the link.
    pub metric: u16,
    /// The advertising router's Interface ID.
    pub interface_id: u32,
    /// The neighbor's Interface ID (the DR's for transit links).
    pub neighbor_interface_id: u32,
    /// The neighbor's router ID (the DR's for transit links).
    pub neighbor_router_id: u32,
}

/// The area's topology as SPF reads it: every router's links and every transit
/// network's attached routers.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Router ID -> links of all its Router-LSAs.
    pub routers: HashMap<u32, Vec<RouterLink>>,
    /// (DR router ID, DR Interface ID) -> attached routers of its Network-LSA.
    pub networks: HashMap<(u32, u32), Vec<u32>>,
}

/// One edge of the compact graph.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// Target vertex index.
    pub to: u32,
    /// Edge cost (0 from a network to its routers).
    pub cost: u32,
    /// For edges out of a router: the router's Interface ID of that link.
    pub interface_id: u32,
}

/// The graph in compressed-sparse-row form; only edges that passed the two-way check.
/// Vertices are sorted (routers by ID, then networks), so a vertex's index is found by
/// binary search and no hash map is built.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    ids: Vec<VertexId>,
    offsets: Vec<u32>,
    edges: Vec<Edge>,
}

impl Graph {
    /// Builds the graph, keeping an edge only when the far end links back
    /// (RFC 2328 16.1 (2)(b)).
    pub fn build(topo: &Topology) -> Graph {
        let mut routers: Vec<(u32, &[RouterLink])> = topo
            .routers
            .iter()
            .map(|(r, l)| (*r, l.as_slice()))
            .collect();
        routers.sort_unstable_by_key(|(r, _)| *r);
        let mut networks: Vec<((u32, u32), &[u32])> = topo
            .networks
            .iter()
            .map(|(k, a)| (*k, a.as_slice()))
            .collect();
        networks.sort_unstable_by_key(|(k, _)| *k);
        let nr = routers.len();
        let router_idx = |r: u32| routers.binary_search_by_key(&r, |(x, _)| *x).ok();
        let network_idx = |k: (u32, u32)| networks.binary_search_by_key(&k, |(x, _)| *x).ok();
        let mut ids: Vec<VertexId> = Vec::with_capacity(nr + networks.len());
        ids.extend(routers.iter().map(|(r, _)| VertexId::Router(*r)));
        ids.extend(networks.iter().map(|((d, i), _)| VertexId::Network(*d, *i)));
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut edges = Vec::with_capacity(routers.iter().map(|(_, l)| l.len()).sum());
        offsets.push(0u32);
        for &(r, links) in &routers {
            for l in links {
                let to = match l.kind {
                    LinkKind::PointToPoint => {
                        let Some(v) = router_idx(l.neighbor_router_id) else {
                            continue;
                        };
                        // Two-way: the neighbor has a point-to-point link back to us.
                        let back = routers[v]
                            .1
                            .iter()
                            .any(|b| b.kind == LinkKind::PointToPoint && b.neighbor_router_id == r);
                        if !back {
                            continue;
                        }
                        v
                    }
                    LinkKind::Transit => {
                        let net = (l.neighbor_router_id, l.neighbor_interface_id);
                        match network_idx(net) {
                            Some(n) if networks[n].1.contains(&r) => nr + n,
                            _ => continue,
                        }
                    }
                    LinkKind::Virtual => continue,
                };
                edges.push(Edge {
                    to: to as u32,
                    cost: u32::from(l.metric),
                    interface_id: l.interface_id,
                });
            }
            offsets.push(edges.len() as u32);
        }
        for &(net, attached) in &networks {
            for &r in attached {
                let Some(v) = router_idx(r) else {
                    continue;
                };
                let back = routers[v].1.iter().any(|b| {
                    b.kind == LinkKind::Transit
                        && (b.neighbor_router_id, b.neighbor_interface_id) == net
                });
                if back {
                    edges.push(Edge {
                        to: v as u32,
                        cost: 0,
                        interface_id: 0,
                    });
                }
            }
            offsets.push(edges.len() as u32);
        }
        Graph {
            ids,
            offsets,
            edges,
        }
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the graph has no vertex.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Index of a vertex.
    pub fn index_of(&self, v: VertexId) -> Option<u32> {
        self.ids.binary_search(&v).ok().map(|i| i as u32)
    }

    /// The vertex at an index.
    pub fn vertex(&self, i: u32) -> VertexId {
        self.ids[i as usize]
    }

    /// Usable edges out of vertex `i`.
    pub fn edges(&self, i: u32) -> &[Edge] {
        let a = self.offsets[i as usize] as usize;
        let b = self.offsets[i as usize + 1] as usize;
        &self.edges[a..b]
    }
}

/// A next hop: our interface and, unless the destination is on that link, the
/// neighbor's link-local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// Outgoing interface (our ifindex, which is also our Interface ID).
    pub ifindex: u32,
    /// Neighbor link-local address; `None` for a directly attached network.
    pub addr: Option<Ipv6Addr>,
}

/// A small inline set of next-hop indices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NhSet {
    len: u8,
    ids: [u16; MAX_ECMP],
}

impl NhSet {
    fn one(id: u16) -> Self {
        let mut s = NhSet::default();
        s.ids[0] = id;
        s.len = 1;
        s
    }
    fn as_slice(&self) -> &[u16] {
        &self.ids[..self.len as usize]
    }
    fn merge(&mut self, other: &NhSet) {
        for &id in other.as_slice() {
            if !self.as_slice().contains(&id) && (self.len as usize) < MAX_ECMP {
                self.ids[self.len as usize] = id;
                self.len += 1;
            }
        }
    }
}

/// The result of one SPF run over a [`Graph`].
#[derive(Debug, Clone, Default)]
pub struct SpfTree {
    dist: Vec<u32>,
    nh: Vec<NhSet>,
    nexthops: Vec<NextHop>,
}

impl SpfTree {
    /// Runs Dijkstra from `root`. `link_local(interface, router)` gives the
    /// link-local address a neighbor announces in its Link-LSA on one of our links.
    pub fn compute(
        graph: &Graph,
        root: VertexId,
        link_local: &dyn Fn(u32, u32) -> Option<Ipv6Addr>,
    ) -> SpfTree {
        let n = graph.len();
        let mut tree = SpfTree {
            dist: vec![u32::MAX; n],
            nh: vec![NhSet::default(); n],
            nexthops: Vec::new(),
        };
        let Some(r) = graph.index_of(root) else {
            return tree;
        };
        let mut done = vec![false; n];
        let mut nh_ids: HashMap<NextHop, u16> = HashMap::new();
        let mut heap = BinaryHeap::new();
        tree.dist[r as usize] = 0;
        heap.push(Reverse((0u32, r)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if done[u as usize] {
                continue;
            }
            done[u as usize] = true;
            let u_nh = tree.nh[u as usize];
            for e in graph.edges(u) {
                let v = e.to as usize;
                if done[v] {
                    continue;
                }
                let nd = d.saturating_add(e.cost);
                if nd > tree.dist[v] {
                    continue;
                }
                // RFC 2328 16.1.1: next hops for vertices next to the root or next
                // to a network directly attached to the root; otherwise inherited.
                let set = if u == r {
                    let hop = match graph.vertex(e.to) {
                        VertexId::Router(rid) => link_local(e.interface_id, rid).map(|a| NextHop {
                            ifindex: e.interface_id,
                            addr: Some(a),
                        }),
                        VertexId::Network(..) => Some(NextHop {
                            ifindex: e.interface_id,
                            addr: None,
                        }),
                    };
                    match hop {
                        Some(h) => NhSet::one(intern(&mut tree.nexthops, &mut nh_ids, h)),
                        None => NhSet::default(),
                    }
                } else if let (VertexId::Network(..), VertexId::Router(rid)) =
                    (graph.vertex(u), graph.vertex(e.to))
                {
                    let mut s = NhSet::default();
                    for &id in u_nh.as_slice() {
                        let h = tree.nexthops[id as usize];
                        if h.addr.is_none() {
                            if let Some(a) = link_local(h.ifindex, rid) {
                                let hop = NextHop {
                                    ifindex: h.ifindex,
                                    addr: Some(a),
                                };
                                s.merge(&NhSet::one(intern(&mut tree.nexthops, &mut nh_ids, hop)));
                            }
                        } else {
                            s.merge(&NhSet::one(id));
                        }
                    }
                    s
                } else {
                    u_nh
                };
                if nd < tree.dist[v] {
                    tree.dist[v] = nd;
                    tree.nh[v] = set;
                    heap.push(Reverse((nd, e.to)));
                } else {
                    tree.nh[v].merge(&set);
                }
            }
        }
        tree
    }

    /// Distance of vertex index `i` from the root, if reachable.
    pub fn distance(&self, i: u32) -> Option<u32> {
        self.dist
            .get(i as usize)
            .copied()
            .filter(|&d| d != u32::MAX)
    }

    /// Next hops of vertex index `i` (empty for the root and unreachable vertices).
    pub fn next_hops(&self, i: u32) -> impl Iterator<Item = NextHop> + '_ {
        self.nh
            .get(i as usize)
            .map(|s| s.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|&id| self.nexthops[id as usize])
    }
}

fn intern(table: &mut Vec<NextHop>, ids: &mut HashMap<NextHop, u16>, h: NextHop) -> u16 {
    *ids.entry(h).or_insert_with(|| {
        table.push(h);
        (table.len() - 1) as u16
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p2p(metric: u16, ifid: u32, nbr_if: u32, nbr: u32) -> RouterLink {
        RouterLink {
            kind: LinkKind::PointToPoint,
            metric,
            interface_id: ifid,
            neighbor_interface_id: nbr_if,
            neighbor_router_id: nbr,
        }
    }

    fn ll(i: u32, r: u32) -> Option<Ipv6Addr> {
        Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, i as u16, r as u16))
    }

    #[test]
    fn triangle_with_ecmp_and_one_way_link() {
        let mut t = Topology::default();
        // 1 -1- 2 -1- 3, 1 -2- 3; and 1 -> 4 one-way only.
        t.routers.insert(
            1,
            vec![p2p(1, 10, 20, 2), p2p(2, 11, 30, 3), p2p(1, 12, 40, 4)],
        );
        t.routers
            .insert(2, vec![p2p(1, 20, 10, 1), p2p(1, 21, 31, 3)]);
        t.routers
            .insert(3, vec![p2p(2, 30, 11, 1), p2p(1, 31, 21, 2)]);
        t.routers.insert(4, vec![]);
        let g = Graph::build(&t);
        let tree = SpfTree::compute(&g, VertexId::Router(1), &ll);
        let i3 = g.index_of(VertexId::Router(3)).unwrap();
        assert_eq!(tree.distance(i3), Some(2));
        let mut nh: Vec<_> = tree.next_hops(i3).collect();
        nh.sort();
        assert_eq!(nh.len(), 2);
        assert_eq!(nh[0].ifindex, 10);
        assert_eq!(nh[0].addr, ll(10, 2));
        assert_eq!(nh[1].ifindex, 11);
        let i4 = g.index_of(VertexId::Router(4)).unwrap();
        assert_eq!(tree.distance(i4), None);
    }

    #[test]
    fn transit_network_next_hops_use_link_local() {
        let mut t = Topology::default();
        let tl = |r: u32| RouterLink {
            kind: LinkKind::Transit,
            metric: 10,
            interface_id: r * 10,
            neighbor_interface_id: 10,
            neighbor_router_id: 1,
        };
        t.routers.insert(1, vec![tl(1)]);
        t.routers.insert(2, vec![tl(2)]);
        t.routers.insert(3, vec![tl(3)]);
        t.networks.insert((1, 10), vec![1, 2, 3]);
        let g = Graph::build(&t);
        let tree = SpfTree::compute(&g, VertexId::Router(2), &ll);
        let i3 = g.index_of(VertexId::Router(3)).unwrap();
        assert_eq!(tree.distance(i3), Some(10));
        let nh: Vec<_> = tree.next_hops(i3).collect();
        assert_eq!(
            nh,
            vec![NextHop {
                ifindex: 20,
                addr: ll(20, 3)
            }]
        );
        let n = g.index_of(VertexId::Network(1, 10)).unwrap();
        let nh: Vec<_> = tree.next_hops(n).collect();
        assert_eq!(
            nh,
            vec![NextHop {
                ifindex: 20,
                addr: None
            }]
        );
    }
}
