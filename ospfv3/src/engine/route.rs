//! The routing table (RFC 2328 16.1-16.4 as adapted by RFC 5340 4.8): intra-area
//! prefix routes from Intra-Area-Prefix-LSAs and AS-external routes, computed over an
//! [`SpfTree`]. The table indexes every advertised prefix by the LSAs that carry it,
//! so a change to one Intra-Area-Prefix- or AS-External-LSA recomputes only the
//! prefixes that LSA carried and carries (the partial recalculation of RFC 2328 16.5,
//! done without re-running Dijkstra).

use std::collections::{BTreeMap, HashMap};

use super::config::Ipv6Prefix;
use super::lsdb::LsaKey;
use super::spf::{Graph, MAX_ECMP, NextHop, SpfTree, VertexId};

/// Path type, best first (RFC 2328 11: intra-area before type 1 before type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RouteKind {
    /// Intra-area route.
    IntraArea,
    /// AS-external, type 1 metric (comparable with the internal cost).
    External1,
    /// AS-external, type 2 metric (larger than any internal cost).
    External2,
}

/// One route of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Destination.
    pub prefix: Ipv6Prefix,
    /// Path type.
    pub kind: RouteKind,
    /// Cost: internal distance plus prefix metric (type 2: distance to the ASBR).
    pub cost: u32,
    /// Type 2 external metric (0 for other kinds).
    pub type2_cost: u32,
    /// Equal-cost next hops, sorted.
    pub next_hops: Vec<NextHop>,
}

/// A change of the routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// A route appeared or changed (replaces any previous route to the prefix).
    Add(Route),
    /// The route to this prefix disappeared.
    Remove(Ipv6Prefix),
}

/// One LSA's advertisement of one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixSource {
    /// The vertex the prefix hangs off (referenced router or network, or the ASBR).
    pub vertex: VertexId,
    /// The prefix metric (the external metric for AS-external).
    pub metric: u32,
    /// Intra-area or external type.
    pub kind: RouteKind,
}

/// Prefix sources indexed both ways, and the current routes.
#[derive(Debug, Clone, Default)]
pub struct Rib {
    by_origin: HashMap<LsaKey, Vec<Ipv6Prefix>>,
    by_prefix: HashMap<Ipv6Prefix, Vec<(LsaKey, PrefixSource)>>,
    routes: BTreeMap<Ipv6Prefix, Route>,
}

impl Rib {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current routes.
    pub fn routes(&self) -> &BTreeMap<Ipv6Prefix, Route> {
        &self.routes
    }

    /// Every LSA's advertisement of `prefix` (empty when none carries it).
    pub fn sources(&self, prefix: &Ipv6Prefix) -> &[(LsaKey, PrefixSource)] {
        self.by_prefix.get(prefix).map_or(&[], Vec::as_slice)
    }

    /// Replaces what LSA `key` advertises (empty: the LSA is gone or at MaxAge).
    /// Returns the prefixes whose routes must be recomputed.
    pub fn set_origin(
        &mut self,
        key: LsaKey,
        entries: Vec<(Ipv6Prefix, PrefixSource)>,
    ) -> Vec<Ipv6Prefix> {
        let mut touched = self.by_origin.remove(&key).unwrap_or_default();
        for p in &touched {
            if let Some(v) = self.by_prefix.get_mut(p) {
                v.retain(|(k, _)| *k != key);
                if v.is_empty() {
                    self.by_prefix.remove(p);
                }
            }
        }
        let mut mine = Vec::with_capacity(entries.len());
        for (p, src) in entries {
            self.by_prefix.entry(p).or_default().push((key, src));
            mine.push(p);
            touched.push(p);
        }
        if !mine.is_empty() {
            self.by_origin.insert(key, mine);
        }
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Recomputes the routes of `prefixes` over `tree`; appends changes to `out`.
    pub fn recompute(
        &mut self,
        prefixes: &[Ipv6Prefix],
        graph: &Graph,
        tree: &SpfTree,
        root: VertexId,
        out: &mut Vec<RouteChange>,
    ) {
        for &p in prefixes {
            let best = self.best(p, graph, tree, root);
            match best {
                Some(r) => {
                    if self.routes.get(&p) != Some(&r) {
                        self.routes.insert(p, r.clone());
                        out.push(RouteChange::Add(r));
                    }
                }
                None => {
                    if self.routes.remove(&p).is_some() {
                        out.push(RouteChange::Remove(p));
                    }
                }
            }
        }
    }

    /// Recomputes every route (after a full SPF run).
    pub fn recompute_all(
        &mut self,
        graph: &Graph,
        tree: &SpfTree,
        root: VertexId,
        out: &mut Vec<RouteChange>,
    ) {
        let mut all: Vec<Ipv6Prefix> = self.by_prefix.keys().copied().collect();
        all.extend(self.routes.keys().copied());
        all.sort_unstable();
        all.dedup();
        self.recompute(&all, graph, tree, root, out);
    }

    fn best(&self, p: Ipv6Prefix, graph: &Graph, tree: &SpfTree, root: VertexId) -> Option<Route> {
        let sources = self.by_prefix.get(&p)?;
        let mut best: Option<Route> = None;
        for (_, s) in sources {
            if s.vertex == root {
                // We advertise it ourselves: it is local, not routed.
                return None;
            }
            let Some(i) = graph.index_of(s.vertex) else {
                continue;
            };
            let Some(d) = tree.distance(i) else {
                continue;
            };
            let hops: Vec<NextHop> = tree.next_hops(i).collect();
            if hops.is_empty() {
                continue;
            }
            let (cost, t2) = match s.kind {
                RouteKind::IntraArea | RouteKind::External1 => (d.saturating_add(s.metric), 0),
                RouteKind::External2 => (d, s.metric),
            };
            let cand = Route {
                prefix: p,
                kind: s.kind,
                cost,
                type2_cost: t2,
                next_hops: hops,
            };
            best = Some(match best {
                None => cand,
                Some(mut b) => {
                    let kb = (b.kind, b.type2_cost, b.cost);
                    let kc = (cand.kind, cand.type2_cost, cand.cost);
                    if kc < kb {
                        cand
                    } else {
                        if kc == kb {
                            for h in cand.next_hops {
                                if !b.next_hops.contains(&h) && b.next_hops.len() < MAX_ECMP {
                                    b.next_hops.push(h);
                                }
                            }
                        }
                        b
                    }
                }
            });
        }
        best.map(|mut r| {
            r.next_hops.sort_unstable();
            r
        })
    }
}
