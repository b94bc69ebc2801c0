//! The routing state of a [`super::Router`]: the prefix index and routing table, the
//! SPF graph and tree, the RFC 8405 throttle, the prefixes whose routes wait for a
//! partial recalculation, and the anycast query (which reachable routers advertise
//! a prefix, with which metric) with its watched prefixes.
//!
//! Everything it needs from the rest of the router (the LSDB, our router ID, the
//! neighbors' link-local addresses, the output queue) comes in as arguments.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use super::config::Ipv6Prefix;
use super::instance::{Event, Output};
use super::lsdb::{LsaKey, Lsdb};
use super::route::{PrefixSource, Rib, Route, RouteChange, RouteKind};
use super::spf::{Graph, SpfTree, VertexId};
use super::throttle::{SpfThrottle, ThrottleConfig};

/// One router advertising a prefix, as seen from this router's last SPF result:
/// an answer of [`super::Router::advertisers`] and of
/// [`Event::AdvertisersChanged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct Advertiser {
    /// The advertising router (for a transit network's prefix: the network's DR).
    pub router_id: Ipv4Addr,
    /// Intra-area (Intra-Area-Prefix-LSA) or external (AS-External-LSA).
    pub kind: RouteKind,
    /// The prefix metric in its LSA (the external metric for AS-external), the lowest
    /// when the router advertises the prefix in several LSAs of one kind.
    pub metric: u32,
    /// Our SPF distance to the vertex the prefix hangs off (0 for ourselves).
    pub distance: u32,
}

/// Routing table, SPF state, throttle and the anycast query.
#[derive(Debug)]
pub(super) struct Routing {
    rib: Rib,
    graph: Graph,
    tree: SpfTree,
    throttle: SpfThrottle,
    /// Whether `tree` reflects the LSDB (false until the first SPF run).
    spf_valid: bool,
    /// Prefixes whose advertisements changed since the last recalculation.
    touched: Vec<Ipv6Prefix>,
    /// Prefixes the user watches, with the answer last reported.
    watched: BTreeMap<Ipv6Prefix, Vec<Advertiser>>,
}

impl Routing {
    pub(super) fn new(throttle: ThrottleConfig) -> Self {
        Routing {
            rib: Rib::new(),
            graph: Graph::default(),
            tree: SpfTree::default(),
            throttle: SpfThrottle::new(throttle),
            spf_valid: false,
            touched: Vec::new(),
            watched: BTreeMap::new(),
        }
    }

    /// The current routes.
    pub(super) fn routes(&self) -> &BTreeMap<Ipv6Prefix, Route> {
        self.rib.routes()
    }

    /// When the throttle wants the next SPF run.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.throttle.poll_timeout()
    }

    /// A change of the topology (Router-, Network- or Link-LSA): schedules SPF.
    pub(super) fn topology_changed(&mut self, now: Instant) {
        self.throttle.igp_event(now);
    }

    /// LSA `key` now advertises `entries` (empty: it is gone or at MaxAge); the
    /// prefixes concerned wait for [`Routing::recompute_touched`].
    pub(super) fn set_prefix_origin(
        &mut self,
        key: LsaKey,
        entries: Vec<(Ipv6Prefix, PrefixSource)>,
    ) {
        let t = self.rib.set_origin(key, entries);
        self.touched.extend(t);
    }

    /// Runs SPF if the throttle says it is due at `now`.
    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        lsdb: &Lsdb,
        root: Ipv4Addr,
        link_local: &dyn Fn(u32, u32) -> Option<Ipv6Addr>,
        out: &mut Output,
    ) {
        if self.throttle.handle_timeout(now) {
            self.run_spf(now, lsdb, root, link_local, out);
        }
    }

    /// Full SPF: rebuild the graph from `lsdb`, run Dijkstra from `root`, recompute
    /// every route and every watched prefix's advertisers.
    pub(super) fn run_spf(
        &mut self,
        now: Instant,
        lsdb: &Lsdb,
        root: Ipv4Addr,
        link_local: &dyn Fn(u32, u32) -> Option<Ipv6Addr>,
        out: &mut Output,
    ) {
        self.graph.rebuild_from_lsdb(lsdb, now);
        let root = VertexId::Router(u32::from(root));
        self.tree = SpfTree::compute(&self.graph, root, link_local);
        self.spf_valid = true;
        self.touched.clear();
        out.counters.spf_runs += 1;
        let mut changes = Vec::new();
        self.rib
            .recompute_all(&self.graph, &self.tree, root, &mut changes);
        route_events(changes, out);
        let all: Vec<Ipv6Prefix> = self.watched.keys().copied().collect();
        self.refresh_watched(&all, out);
    }

    /// The partial recalculation (RFC 2328 16.5) of the prefixes whose
    /// advertisements changed, once SPF has run.
    pub(super) fn recompute_touched(&mut self, root: Ipv4Addr, out: &mut Output) {
        if self.touched.is_empty() || !self.spf_valid {
            return;
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        let mut changes = Vec::new();
        let root = VertexId::Router(u32::from(root));
        self.rib
            .recompute(&touched, &self.graph, &self.tree, root, &mut changes);
        out.counters.partial_runs += 1;
        route_events(changes, out);
        self.refresh_watched(&touched, out);
    }

    /// Which routers reachable in the last SPF tree advertise `prefix`; sorted by
    /// router ID, then kind. Empty before the first SPF run.
    pub(super) fn advertisers(&self, prefix: &Ipv6Prefix) -> Vec<Advertiser> {
        let mut found: Vec<Advertiser> = Vec::new();
        if !self.spf_valid {
            return found;
        }
        for (key, src) in self.rib.sources(prefix) {
            let Some(distance) = self
                .graph
                .index_of(src.vertex)
                .and_then(|i| self.tree.distance(i))
            else {
                continue;
            };
            let router_id = key.adv_router;
            match found
                .iter_mut()
                .find(|a| a.router_id == router_id && a.kind == src.kind)
            {
                Some(a) => {
                    a.metric = a.metric.min(src.metric);
                    a.distance = a.distance.min(distance);
                }
                None => found.push(Advertiser {
                    router_id,
                    kind: src.kind,
                    metric: src.metric,
                    distance,
                }),
            }
        }
        found.sort_unstable();
        found
    }

    /// Starts watching `prefix`; returns the current answer.
    pub(super) fn watch(&mut self, prefix: Ipv6Prefix) -> Vec<Advertiser> {
        let now = self.advertisers(&prefix);
        self.watched.insert(prefix, now.clone());
        now
    }

    /// Stops watching `prefix`; whether it was watched.
    pub(super) fn unwatch(&mut self, prefix: &Ipv6Prefix) -> bool {
        self.watched.remove(prefix).is_some()
    }

    /// Re-answers the watched prefixes among `prefixes`; reports changed answers.
    fn refresh_watched(&mut self, prefixes: &[Ipv6Prefix], out: &mut Output) {
        for p in prefixes {
            if !self.watched.contains_key(p) {
                continue;
            }
            let now = self.advertisers(p);
            let Some(last) = self.watched.get_mut(p) else {
                continue;
            };
            if *last != now {
                *last = now.clone();
                out.push_event(Event::AdvertisersChanged {
                    prefix: *p,
                    advertisers: now,
                });
            }
        }
    }
}

fn route_events(changes: Vec<RouteChange>, out: &mut Output) {
    for c in changes {
        match c {
            RouteChange::Add(r) => out.push_event(Event::RouteAdd(r)),
            RouteChange::Remove(p) => out.push_event(Event::RouteRemove(p)),
        }
    }
}
