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
use std::time::Instant;

use super::lsdb::{Lsdb, Scope};
use crate::lsa::{LsaBody, LsaType, RouterLinkType};

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

#[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
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

#[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
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

#[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
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
    /// Router IDs of the router vertices `0..rids.len()`, ascending.
    rids: Vec<u32>,
    /// (DR, DR Interface ID) of the network vertices that follow, ascending.
    nets: Vec<(u32, u32)>,
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    /// Work arrays of the build, kept so that a rebuild allocates nothing new.
    scratch: Scratch,
}

/// Work arrays of [`Graph::rebuild_from_lsdb`].
#[derive(Debug, Clone, Default)]
struct Scratch {
    offsets: Vec<u32>,
    to: Vec<u32>,
    back_ok: Vec<bool>,
    starts: Vec<u32>,
}

/// What the graph build needs from a router link, whichever form it comes in (the
/// codec's decoded Router-LSA link, or a [`RouterLink`] of a [`Topology`]).
trait LinkView {
    /// The far end: `Ok(router)` for a point-to-point link, `Err((DR, DR Interface
    /// ID))` for a transit link, `None` for anything SPF does not use.
    fn far_end(&self) -> Option<Result<u32, (u32, u32)>>;
    /// Cost of the link.
    fn metric(&self) -> u16;
    /// The advertising router's Interface ID.
    fn interface_id(&self) -> u32;
}

impl LinkView for RouterLink {
    fn far_end(&self) -> Option<Result<u32, (u32, u32)>> {
        match self.kind {
            LinkKind::PointToPoint => Some(Ok(self.neighbor_router_id)),
            LinkKind::Transit => Some(Err((self.neighbor_router_id, self.neighbor_interface_id))),
            LinkKind::Virtual => None,
        }
    }
    fn metric(&self) -> u16 {
        self.metric
    }
    fn interface_id(&self) -> u32 {
        self.interface_id
    }
}

impl LinkView for crate::lsa::RouterLink {
    fn far_end(&self) -> Option<Result<u32, (u32, u32)>> {
        let nbr = u32::from(self.neighbor_router_id);
        match self.link_type {
            RouterLinkType::PointToPoint => Some(Ok(nbr)),
            RouterLinkType::Transit => Some(Err((nbr, self.neighbor_interface_id))),
            _ => None,
        }
    }
    fn metric(&self) -> u16 {
        self.metric
    }
    fn interface_id(&self) -> u32 {
        self.interface_id
    }
}

/// Router ID -> dense index over the sorted, distinct router IDs, without hashing:
/// the ID range is cut into as many equal buckets as there are routers and a lookup
/// binary-searches only its bucket. Spread-out IDs take one or two comparisons;
/// clustered (or deliberately chosen) IDs degrade to a plain binary search, never
/// worse.
struct RouterIndex<'a> {
    rids: &'a [u32],
    min: u32,
    /// Bucket of `rid` is `((rid - min) * mul) >> 32`.
    mul: u64,
    /// `starts[k]..starts[k + 1]` are the indices in bucket `k`.
    starts: Vec<u32>,
}

impl<'a> RouterIndex<'a> {
    /// Indexes `rids` (ascending, distinct), filling `starts` (its old content and
    /// capacity reused).
    fn new(rids: &'a [u32], mut starts: Vec<u32>) -> Self {
        starts.clear();
        let (Some(&min), Some(&max)) = (rids.first(), rids.last()) else {
            starts.push(0);
            return RouterIndex {
                rids,
                min: 0,
                mul: 0,
                starts,
            };
        };
        let buckets = rids.len() as u64;
        let mul = (buckets << 32) / (u64::from(max - min) + 1);
        starts.reserve(rids.len() + 1);
        for (i, &r) in rids.iter().enumerate() {
            let k = ((u64::from(r - min) * mul) >> 32) as usize;
            while starts.len() <= k {
                starts.push(i as u32);
            }
        }
        while starts.len() <= rids.len() {
            starts.push(rids.len() as u32);
        }
        RouterIndex {
            rids,
            min,
            mul,
            starts,
        }
    }

    fn get(&self, r: u32) -> Option<usize> {
        let off = r.checked_sub(self.min)?;
        let k = ((u64::from(off) * self.mul) >> 32) as usize;
        let a = *self.starts.get(k)? as usize;
        let b = *self.starts.get(k + 1)? as usize;
        self.rids[a..b].binary_search(&r).ok().map(|i| a + i)
    }

    /// Hands the bucket array back for reuse.
    fn into_starts(self) -> Vec<u32> {
        self.starts
    }
}

impl Graph {
    #[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
    /// Builds the graph from a [`Topology`], keeping an edge only when the far end
    /// links back (RFC 2328 16.1 (2)(b)).
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
        let mut g = Graph::default();
        g.assemble(&routers, &networks);
        g
    }

    #[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
    /// Builds the graph straight from the area's Router- and Network-LSAs in the
    /// LSDB (their bodies are decoded once, at installation), skipping MaxAge LSAs;
    /// the same graph [`Graph::build`] gives for the [`Topology`] of those LSAs.
    pub fn from_lsdb(lsdb: &Lsdb, now: Instant) -> Graph {
        let mut g = Graph::default();
        g.rebuild_from_lsdb(lsdb, now);
        g
    }

    /// [`Graph::from_lsdb`] in place: replaces this graph, reusing its memory (a
    /// router keeps its graph between SPF runs, so a rebuild allocates nothing once
    /// the area stops growing).
    pub fn rebuild_from_lsdb(&mut self, lsdb: &Lsdb, now: Instant) {
        let routers: Vec<(u32, &[crate::lsa::RouterLink])> = lsdb
            .of_type(Scope::Area, LsaType::ROUTER, None)
            .filter_map(|(k, e)| match &e.lsa.body {
                LsaBody::Router(r) if !e.is_max_age(now) => {
                    Some((u32::from(k.adv_router), r.links.as_slice()))
                }
                _ => None,
            })
            .collect();
        let networks: Vec<((u32, u32), &[std::net::Ipv4Addr])> = lsdb
            .of_type(Scope::Area, LsaType::NETWORK, None)
            .filter_map(|(k, e)| match &e.lsa.body {
                LsaBody::Network(n) if !e.is_max_age(now) => Some((
                    (u32::from(k.adv_router), u32::from(k.ls_id)),
                    n.attached_routers.as_slice(),
                )),
                _ => None,
            })
            .collect();
        self.assemble(&routers, &networks);
    }

    /// The two-pass build. `routers` are in ascending router-ID order (an ID may
    /// repeat: the links of a router's several Router-LSAs are concatenated),
    /// `networks` in ascending key order without repeats.
    ///
    /// Pass one names the vertices (dense indices, routers then networks); pass two
    /// resolves every link to a candidate edge in one flat array. A link's kind
    /// follows from its target (point-to-point links lead to routers, transit links
    /// to networks, attached routers back to routers), so the two-way check of edge
    /// `u -> v` is just: does `v`'s candidate list hold an edge to `u`?
    fn assemble<L: LinkView, A: Copy + Into<u32>>(
        &mut self,
        routers: &[(u32, &[L])],
        networks: &[((u32, u32), &[A])],
    ) {
        debug_assert!(routers.is_sorted_by_key(|(r, _)| *r));
        debug_assert!(networks.is_sorted_by_key(|(k, _)| *k));
        let Graph {
            rids,
            nets,
            offsets: kept,
            edges: cand,
            scratch,
        } = self;
        rids.clear();
        rids.extend(routers.iter().map(|(r, _)| *r));
        rids.dedup();
        nets.clear();
        nets.extend(networks.iter().map(|(k, _)| *k));
        let nr = rids.len();
        let n = nr + networks.len();
        let index = RouterIndex::new(rids, std::mem::take(&mut scratch.starts));
        let network_idx = |k: (u32, u32)| networks.binary_search_by_key(&k, |(x, _)| *x).ok();
        // Candidate edges (before the two-way check), per vertex in index order; the
        // targets are also kept apart, so that the check scans 4-byte items.
        let links = routers.iter().map(|(_, l)| l.len()).sum::<usize>();
        let attached = networks.iter().map(|(_, a)| a.len()).sum::<usize>();
        let offsets = &mut scratch.offsets;
        let cand_to = &mut scratch.to;
        offsets.clear();
        offsets.reserve(n + 1);
        cand_to.clear();
        cand_to.reserve(links + attached);
        cand.clear();
        cand.reserve(links + attached);
        offsets.push(0);
        for (i, &(r, links)) in routers.iter().enumerate() {
            for l in links {
                let to = match l.far_end() {
                    Some(Ok(nbr)) => index.get(nbr),
                    Some(Err(net)) => network_idx(net).map(|i| nr + i),
                    None => None,
                };
                if let Some(to) = to {
                    cand_to.push(to as u32);
                    cand.push(Edge {
                        to: to as u32,
                        cost: u32::from(l.metric()),
                        interface_id: l.interface_id(),
                    });
                }
            }
            if routers.get(i + 1).is_none_or(|&(next, _)| next != r) {
                offsets.push(cand_to.len() as u32);
            }
        }
        for &(_, attached) in networks {
            for &r in attached {
                if let Some(to) = index.get(r.into()) {
                    cand_to.push(to as u32);
                    cand.push(Edge {
                        to: to as u32,
                        cost: 0,
                        interface_id: 0,
                    });
                }
            }
            offsets.push(cand_to.len() as u32);
        }
        debug_assert_eq!(offsets.len(), n + 1);
        // Two-way check (RFC 2328 16.1 (2)(b)): `u -> v` is kept when `v` has a
        // candidate back to `u`. Each pair is looked at once, from its lower end: if
        // `v > u` links back, `u -> v` is kept and `v`'s edges to `u` are marked, so
        // by the time `v` comes up its edges to lower vertices are already decided.
        // Kept edges are compacted in place (writes never overtake reads).
        let back_ok = &mut scratch.back_ok;
        back_ok.clear();
        back_ok.resize(cand_to.len(), false);
        kept.clear();
        kept.reserve(n + 1);
        kept.push(0);
        // Plain slices, so that the loop keeps pointers and lengths in registers.
        let (to, offs, ok, out) = (&cand_to[..], &offsets[..], &mut back_ok[..], &mut cand[..]);
        let mut w = 0usize;
        for u in 0..n {
            let (a, b) = (offs[u] as usize, offs[u + 1] as usize);
            for i in a..b {
                let v = to[i] as usize;
                let keep = if v > u {
                    let (va, vb) = (offs[v] as usize, offs[v + 1] as usize);
                    // Branch-free: the lists are short and the hits unpredictable.
                    let mut found = false;
                    for (t, flag) in to[va..vb].iter().zip(&mut ok[va..vb]) {
                        let hit = *t as usize == u;
                        *flag |= hit;
                        found |= hit;
                    }
                    found
                } else {
                    v == u || ok[i]
                };
                if keep {
                    out[w] = out[i];
                    w += 1;
                }
            }
            kept.push(w as u32);
        }
        cand.truncate(w);
        scratch.starts = index.into_starts();
    }

    /// Whether vertex `i` is a transit network.
    fn is_network(&self, i: u32) -> bool {
        i as usize >= self.rids.len()
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.rids.len() + self.nets.len()
    }

    #[cfg_attr(not(any(test, feature = "unstable")), allow(dead_code))]
    /// Whether the graph has no vertex.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of a vertex.
    pub fn index_of(&self, v: VertexId) -> Option<u32> {
        match v {
            VertexId::Router(r) => self.rids.binary_search(&r).ok().map(|i| i as u32),
            VertexId::Network(d, i) => self
                .nets
                .binary_search(&(d, i))
                .ok()
                .map(|j| (self.rids.len() + j) as u32),
        }
    }

    /// The vertex at an index.
    pub fn vertex(&self, i: u32) -> VertexId {
        let i = i as usize;
        match self.rids.get(i) {
            Some(&r) => VertexId::Router(r),
            None => {
                let (d, ifid) = self.nets[i - self.rids.len()];
                VertexId::Network(d, ifid)
            }
        }
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
            let u_net = graph.is_network(u);
            for e in graph.edges(u) {
                let v = e.to as usize;
                let nd = d.saturating_add(e.cost);
                // A finished vertex has dist <= d <= nd: only a zero-cost edge can
                // tie with it, and it must not be merged into.
                if nd > tree.dist[v] || (nd == tree.dist[v] && done[v]) {
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
                } else if u_net
                    && !u_nh.as_slice().is_empty()
                    && let VertexId::Router(rid) = graph.vertex(e.to)
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

    /// A vertex with its usable edges (target, cost, interface ID).
    type Adjacency = (VertexId, Vec<(VertexId, u32, u32)>);

    /// Every vertex with its usable edges, for comparing two graphs.
    fn dump(g: &Graph) -> Vec<Adjacency> {
        (0..g.len() as u32)
            .map(|i| {
                let es = g.edges(i);
                let es = es
                    .iter()
                    .map(|e| (g.vertex(e.to), e.cost, e.interface_id))
                    .collect();
                (g.vertex(i), es)
            })
            .collect()
    }

    #[test]
    fn lsdb_build_matches_topology_build() {
        use crate::constants::MAX_AGE;
        use crate::lsa::{LsaHeader, NetworkLsa, RouterLsa};
        use std::net::Ipv4Addr;
        let now = Instant::now();
        let mut db = Lsdb::new();
        let mut put = |ls_type: LsaType, adv: u32, id: u32, age: u16, body: LsaBody| {
            let header = LsaHeader {
                age,
                ls_type,
                link_state_id: Ipv4Addr::from(id),
                advertising_router: Ipv4Addr::from(adv),
                seq_number: 0x8000_0001,
                checksum: 0,
                length: 0,
            };
            let e = crate::engine::lsdb::LsdbEntry {
                lsa: crate::Lsa { header, body },
                bytes: Vec::new(),
                installed: now,
            };
            db.insert(crate::engine::lsdb::LsaKey::new(Scope::Area, &header), e);
        };
        let link = |t: RouterLinkType, metric: u16, ifid: u32, nif: u32, nbr: u32| {
            crate::lsa::RouterLink {
                link_type: t,
                metric,
                interface_id: ifid,
                neighbor_interface_id: nif,
                neighbor_router_id: Ipv4Addr::from(nbr),
            }
        };
        let rlsa = |links| {
            LsaBody::Router(RouterLsa {
                links,
                ..RouterLsa::default()
            })
        };
        use RouterLinkType::{PointToPoint as P2p, Transit, VirtualLink};
        // Router 1 in two Router-LSAs: p2p to 2, and on network (3, 7).
        put(
            LsaType::ROUTER,
            1,
            0,
            1,
            rlsa(vec![link(P2p, 5, 10, 20, 2)]),
        );
        put(
            LsaType::ROUTER,
            1,
            1,
            1,
            rlsa(vec![link(Transit, 3, 11, 7, 3)]),
        );
        // Router 2: back to 1; one-way to 4; a virtual link (unused).
        put(
            LsaType::ROUTER,
            2,
            0,
            1,
            rlsa(vec![
                link(P2p, 6, 20, 10, 1),
                link(P2p, 1, 21, 40, 4),
                link(VirtualLink, 1, 22, 30, 3),
            ]),
        );
        // Router 3: the DR on (3, 7); a p2p link to an unknown router 9.
        put(
            LsaType::ROUTER,
            3,
            0,
            1,
            rlsa(vec![link(Transit, 2, 7, 7, 3), link(P2p, 1, 8, 1, 9)]),
        );
        put(LsaType::ROUTER, 4, 0, 1, rlsa(vec![]));
        // Router 5's only Router-LSA is at MaxAge: no vertex, no edge to it.
        put(
            LsaType::ROUTER,
            5,
            0,
            MAX_AGE,
            rlsa(vec![link(Transit, 1, 50, 7, 3)]),
        );
        let net = |ids: &[u32]| {
            LsaBody::Network(NetworkLsa {
                attached_routers: ids.iter().map(|&r| Ipv4Addr::from(r)).collect(),
                ..NetworkLsa::default()
            })
        };
        put(LsaType::NETWORK, 3, 7, 1, net(&[3, 1, 5]));
        // A MaxAge Network-LSA is no vertex.
        put(LsaType::NETWORK, 4, 1, MAX_AGE, net(&[4, 2]));
        let mut g = Graph::from_lsdb(&db, now);
        // A rebuild in place gives the same graph whatever the graph held before.
        let first = dump(&g);
        g.rebuild_from_lsdb(&Lsdb::new(), now);
        assert!(g.is_empty());
        g.rebuild_from_lsdb(&db, now);
        assert_eq!(dump(&g), first);

        let mut t = Topology::default();
        let tl =
            |kind, metric, interface_id, neighbor_interface_id, neighbor_router_id| RouterLink {
                kind,
                metric,
                interface_id,
                neighbor_interface_id,
                neighbor_router_id,
            };
        use LinkKind::{PointToPoint as P, Transit as T, Virtual as V};
        t.routers
            .insert(1, vec![tl(P, 5, 10, 20, 2), tl(T, 3, 11, 7, 3)]);
        t.routers.insert(
            2,
            vec![
                tl(P, 6, 20, 10, 1),
                tl(P, 1, 21, 40, 4),
                tl(V, 1, 22, 30, 3),
            ],
        );
        t.routers
            .insert(3, vec![tl(T, 2, 7, 7, 3), tl(P, 1, 8, 1, 9)]);
        t.routers.insert(4, vec![]);
        t.networks.insert((3, 7), vec![3, 1, 5]);
        assert_eq!(dump(&g), dump(&Graph::build(&t)));

        use VertexId::{Network as N, Router as R};
        assert_eq!(
            dump(&g),
            vec![
                (R(1), vec![(R(2), 5, 10), (N(3, 7), 3, 11)]),
                (R(2), vec![(R(1), 6, 20)]),
                (R(3), vec![(N(3, 7), 2, 7)]),
                (R(4), vec![]),
                (N(3, 7), vec![(R(3), 0, 0), (R(1), 0, 0)]),
            ]
        );
        let tree = SpfTree::compute(&g, R(2), &ll);
        assert_eq!(tree.distance(g.index_of(R(3)).unwrap()), Some(6 + 3));
        assert_eq!(tree.distance(g.index_of(R(4)).unwrap()), None);
    }

    /// The two-way rule written out naively, edge by edge, for comparison.
    fn reference(t: &Topology) -> Vec<Adjacency> {
        let mut rids: Vec<u32> = t.routers.keys().copied().collect();
        rids.sort();
        let mut nets: Vec<(u32, u32)> = t.networks.keys().copied().collect();
        nets.sort();
        let mut out = Vec::new();
        for &r in &rids {
            let mut es = Vec::new();
            for l in &t.routers[&r] {
                match l.kind {
                    LinkKind::PointToPoint => {
                        let v = l.neighbor_router_id;
                        let back = t.routers.get(&v).is_some_and(|ls| {
                            ls.iter().any(|b| {
                                b.kind == LinkKind::PointToPoint && b.neighbor_router_id == r
                            })
                        });
                        if back {
                            es.push((VertexId::Router(v), u32::from(l.metric), l.interface_id));
                        }
                    }
                    LinkKind::Transit => {
                        let k = (l.neighbor_router_id, l.neighbor_interface_id);
                        if t.networks.get(&k).is_some_and(|a| a.contains(&r)) {
                            es.push((
                                VertexId::Network(k.0, k.1),
                                u32::from(l.metric),
                                l.interface_id,
                            ));
                        }
                    }
                    LinkKind::Virtual => {}
                }
            }
            out.push((VertexId::Router(r), es));
        }
        for &k in &nets {
            let mut es = Vec::new();
            for &r in &t.networks[&k] {
                let back = t.routers.get(&r).is_some_and(|ls| {
                    ls.iter().any(|b| {
                        b.kind == LinkKind::Transit
                            && (b.neighbor_router_id, b.neighbor_interface_id) == k
                    })
                });
                if back {
                    es.push((VertexId::Router(r), 0, 0));
                }
            }
            out.push((VertexId::Network(k.0, k.1), es));
        }
        out
    }

    #[test]
    fn build_matches_the_naive_two_way_rule_on_random_areas() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as u32
        };
        for round in 0..200 {
            let nr = 1 + rnd(30);
            // Sparse, clustered or tiny router IDs, so the bucket index is exercised.
            let base = [0, 1, 0x0a00_0000, u32::MAX - 64][round % 4];
            let id = |i: u32| base.wrapping_add(i * (1 + (round as u32 % 3) * 7));
            let mut t = Topology::default();
            for i in 0..nr {
                t.routers.insert(id(i), Vec::new());
            }
            for _ in 0..rnd(4) {
                let dr = id(rnd(u64::from(nr) + 2));
                let ifid = rnd(3);
                let attached = (0..rnd(6)).map(|_| id(rnd(u64::from(nr) + 2))).collect();
                t.networks.insert((dr, ifid), attached);
            }
            let keys: Vec<(u32, u32)> = t.networks.keys().copied().collect();
            for i in 0..nr {
                for j in 0..rnd(6) {
                    let kind = match rnd(5) {
                        0 => LinkKind::Virtual,
                        1 | 2 if !keys.is_empty() => LinkKind::Transit,
                        _ => LinkKind::PointToPoint,
                    };
                    let (nbr, nif) = match kind {
                        LinkKind::Transit => keys[rnd(keys.len() as u64) as usize],
                        // Sometimes an unknown router, sometimes itself.
                        _ => (id(rnd(u64::from(nr) + 2)), j),
                    };
                    let l = RouterLink {
                        kind,
                        metric: rnd(5) as u16,
                        interface_id: j,
                        neighbor_interface_id: nif,
                        neighbor_router_id: nbr,
                    };
                    t.routers.get_mut(&id(i)).unwrap().push(l);
                }
            }
            assert_eq!(dump(&Graph::build(&t)), reference(&t), "round {round}");
        }
    }

    #[test]
    fn router_index_finds_exactly_the_ids() {
        for ids in [
            vec![],
            vec![7],
            vec![1, 2, 3, 4],
            vec![0, 1, u32::MAX],
            vec![5, 1_000, 1_001, 70_000, 0x0a00_0001, 0xfffe_0000],
        ] {
            let ix = RouterIndex::new(&ids, vec![9; 3]);
            for (i, &r) in ids.iter().enumerate() {
                assert_eq!(ix.get(r), Some(i));
            }
            for r in [0, 3, 6, 8, 999, 0x0a00_0002, u32::MAX - 1, u32::MAX] {
                assert_eq!(ix.get(r), ids.iter().position(|&x| x == r));
            }
        }
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
