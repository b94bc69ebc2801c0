//! Origination of our own LSAs (RFC 5340 4.4.3, RFC 2328 12.4): Router-LSA,
//! Network-LSA as DR, Link-LSA per interface, Intra-Area-Prefix-LSAs (our stub and
//! loopback prefixes on every router, with the LA bit on /128 host addresses; the
//! transit network's prefixes as DR), AS-External-LSAs for redistributed prefixes.
//! Also MinLSInterval, refresh at LSRefreshTime, premature aging (flushing),
//! sequence-number wrap, and the periodic aging housekeeping (RFC 2328 14).

use rand_core::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::constants::{INITIAL_SEQUENCE_NUMBER, LS_REFRESH_TIME, MAX_AGE, MAX_SEQUENCE_NUMBER};
use crate::lsa::{
    AsExternalLsa, ExternalMetricType, IntraAreaPrefix, IntraAreaPrefixLsa, LinkLsa, Lsa, LsaBody,
    LsaHeader, LsaType, NetworkLsa, RouterFlags, RouterLink, RouterLinkType, RouterLsa,
};
use crate::prefix::{Prefix, PrefixOptions};

use super::config::{Ipv6Prefix, NetworkType, OriginationThrottle};
use super::instance::Router;
use super::interface::InterfaceState;
use super::lsdb::{LsaKey, Scope};
use super::nsm::NeighborState;

/// What we advertise and the origination bookkeeping: the origination throttle per
/// LSA (MinLSInterval generalised, see [`OriginationThrottle`]), the
/// pending re-origination, sequence-number wraps in progress, AS-external LS IDs.
#[derive(Debug)]
pub(super) struct Origination {
    /// Prefixes given to `advertise_prefix`, with their metrics.
    advertised: BTreeMap<Ipv6Prefix, u16>,
    /// Prefixes given to `redistribute`.
    redistributed: BTreeMap<Ipv6Prefix, (u32, ExternalMetricType)>,
    /// The Link State ID of each redistributed prefix's AS-External-LSA (kept after
    /// a withdrawal, so a prefix keeps its ID).
    ext_ids: BTreeMap<Ipv6Prefix, u32>,
    next_ext_id: u32,
    /// When each of our LSAs was last originated, and the hold the next
    /// origination of it waits for (one entry per LSA we originate).
    last_originated: HashMap<LsaKey, (Instant, Duration)>,
    /// The throttle's configuration.
    throttle: OriginationThrottle,
    /// Something changed: compare what we originate with what we should.
    needed: bool,
    /// We are installing our own LSA (not a received copy of it).
    originating: bool,
    /// When the throttle lets a deferred origination go out.
    at: Option<Instant>,
    /// With an initial delay: when a change of an LSA after a quiet period was first
    /// seen (removed once originated).
    pending_since: HashMap<LsaKey, Instant>,
    /// Our LSAs flushed at MaxSequenceNumber, re-originated once gone.
    wrap_pending: BTreeSet<LsaKey>,
}

impl Origination {
    pub(super) fn new(throttle: OriginationThrottle) -> Self {
        Origination {
            throttle,
            advertised: BTreeMap::new(),
            redistributed: BTreeMap::new(),
            ext_ids: BTreeMap::new(),
            next_ext_id: 1,
            last_originated: HashMap::new(),
            needed: false,
            originating: false,
            at: None,
            pending_since: HashMap::new(),
            wrap_pending: BTreeSet::new(),
        }
    }

    /// Asks for our LSAs to be compared with what they should be.
    pub(super) fn request(&mut self) {
        self.needed = true;
    }

    /// Takes the pending request, if any.
    pub(super) fn take_request(&mut self) -> bool {
        std::mem::take(&mut self.needed)
    }

    /// Whether our own LSA is being installed right now.
    pub(super) fn originating(&self) -> bool {
        self.originating
    }

    /// Advertises `prefix` with `metric` (replacing an earlier metric).
    pub(super) fn advertise(&mut self, prefix: Ipv6Prefix, metric: u16) {
        self.advertised.insert(prefix, metric);
        self.needed = true;
    }

    /// Stops advertising `prefix`.
    pub(super) fn withdraw(&mut self, prefix: &Ipv6Prefix) {
        if self.advertised.remove(prefix).is_some() {
            self.needed = true;
        }
    }

    /// Redistributes `prefix` (metric capped at 24 bits).
    pub(super) fn redistribute(
        &mut self,
        prefix: Ipv6Prefix,
        metric: u32,
        metric_type: ExternalMetricType,
    ) {
        self.redistributed
            .insert(prefix, (metric.min(0x00FF_FFFF), metric_type));
        if !self.ext_ids.contains_key(&prefix) {
            self.ext_ids.insert(prefix, self.next_ext_id);
            self.next_ext_id = self.next_ext_id.wrapping_add(1);
        }
        self.needed = true;
    }

    /// Stops redistributing `prefix`.
    pub(super) fn withdraw_redistributed(&mut self, prefix: &Ipv6Prefix) {
        if self.redistributed.remove(prefix).is_some() {
            self.needed = true;
        }
    }

    /// When a deferred origination is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.at
    }

    /// Turns a due deferred origination into a request.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.at.is_some_and(|t| t <= now) {
            self.at = None;
            self.needed = true;
        }
    }

    /// The origination throttle (RFC 2328 12.4's MinLSInterval generalised):
    /// whether a change of `key` must wait; if so the retry is scheduled.
    fn must_wait(&mut self, key: &LsaKey, now: Instant) -> bool {
        let due = match self.last_originated.get(key) {
            Some(&(last, hold)) if now <= last + self.throttle.max_hold => last + hold,
            // First origination, or the first change after a quiet period. The
            // request is first seen now; with an initial delay it is noted as
            // pending so the retry finds it due.
            _ if self.throttle.initial.is_zero() => return false,
            _ => match self.pending_since.get(key) {
                Some(&since) => since + self.throttle.initial,
                None => {
                    self.pending_since.insert(*key, now);
                    now + self.throttle.initial
                }
            },
        };
        if now >= due {
            return false;
        }
        self.at = Some(self.at.map_or(due, |x| x.min(due)));
        true
    }

    /// Notes an origination of `key` at `now` for the throttle: the next hold is
    /// doubled (up to the maximum) unless the LSA had been quiet.
    fn originated(&mut self, key: LsaKey, now: Instant) {
        self.pending_since.remove(&key);
        let t = self.throttle;
        let hold = match self.last_originated.get(&key) {
            Some(&(last, hold)) if now <= last + t.max_hold => (hold * 2).min(t.max_hold),
            _ => t.hold,
        };
        self.last_originated.insert(key, (now, hold));
    }
}

impl<R: Rng> Router<R> {
    fn own_key(&self, scope: Scope, ls_type: LsaType, ls_id: u32) -> LsaKey {
        LsaKey {
            scope,
            ls_type,
            adv_router: self.cfg.router_id,
            ls_id: Ipv4Addr::from(ls_id),
        }
    }

    /// The LSAs we should be originating now, by key.
    pub(super) fn desired(&self) -> Vec<(LsaKey, LsaBody)> {
        let me = self.cfg.router_id;
        let opts = self.options(None);
        let mut out = Vec::new();
        let mut links = Vec::new();
        let mut stub = Vec::new();
        for (&ifindex, i) in &self.ifaces {
            let cost = i.cfg.cost;
            let host = |p: &super::config::Ipv6Prefix, metric: u16| {
                let mut o = PrefixOptions::empty();
                if p.len == 128 {
                    o |= PrefixOptions::LA;
                }
                IntraAreaPrefix {
                    prefix: Prefix::new(p.addr, p.len, o),
                    metric,
                }
            };
            if i.cfg.network_type == NetworkType::Loopback {
                if i.state != InterfaceState::Down {
                    stub.extend(i.cfg.prefixes.iter().map(|p| host(p, 0)));
                }
                continue;
            }
            if i.state == InterfaceState::Down {
                continue;
            }
            if i.cfg.passive {
                stub.extend(i.cfg.prefixes.iter().map(|p| host(p, cost)));
                continue;
            }
            let full: Vec<_> = i
                .neighbors
                .values()
                .filter(|n| n.state == NeighborState::Full)
                .collect();
            let mut transit = false;
            match i.cfg.network_type {
                NetworkType::PointToPoint => {
                    for n in &full {
                        links.push(RouterLink {
                            link_type: RouterLinkType::PointToPoint,
                            metric: cost,
                            interface_id: ifindex,
                            neighbor_interface_id: n.interface_id,
                            neighbor_router_id: n.router_id,
                        });
                    }
                }
                NetworkType::Broadcast => {
                    let dr_full = i.dr == me && !full.is_empty();
                    let to_dr = i
                        .neighbors
                        .get(&i.dr)
                        .filter(|n| n.state == NeighborState::Full);
                    if dr_full || to_dr.is_some() {
                        transit = true;
                        let dr_ifid = to_dr.map_or(ifindex, |n| n.interface_id);
                        links.push(RouterLink {
                            link_type: RouterLinkType::Transit,
                            metric: cost,
                            interface_id: ifindex,
                            neighbor_interface_id: dr_ifid,
                            neighbor_router_id: i.dr,
                        });
                    }
                    if dr_full {
                        let mut attached = vec![me];
                        attached.extend(full.iter().map(|n| n.router_id));
                        out.push((
                            self.own_key(Scope::Area, LsaType::NETWORK, ifindex),
                            LsaBody::Network(NetworkLsa {
                                options: opts,
                                attached_routers: attached,
                            }),
                        ));
                        // The transit network's prefixes: ours and those in the
                        // attached routers' Link-LSAs (RFC 5340 4.4.3.9).
                        let mut prefixes: Vec<IntraAreaPrefix> = i
                            .cfg
                            .prefixes
                            .iter()
                            .map(|p| IntraAreaPrefix {
                                prefix: Prefix::new(p.addr, p.len, PrefixOptions::empty()),
                                metric: 0,
                            })
                            .collect();
                        for n in &full {
                            for (_, e) in self.lsdb.of_type(
                                Scope::Link(ifindex),
                                LsaType::LINK,
                                Some(n.router_id),
                            ) {
                                if let LsaBody::Link(l) = &e.lsa.body {
                                    for p in &l.prefixes {
                                        if p.options
                                            .intersects(PrefixOptions::NU | PrefixOptions::LA)
                                        {
                                            continue;
                                        }
                                        let np = Prefix::new(
                                            p.address,
                                            p.length,
                                            PrefixOptions::empty(),
                                        );
                                        if !prefixes.iter().any(|x| x.prefix == np) {
                                            prefixes.push(IntraAreaPrefix {
                                                prefix: np,
                                                metric: 0,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                        if !prefixes.is_empty() {
                            out.push((
                                self.own_key(Scope::Area, LsaType::INTRA_AREA_PREFIX, ifindex),
                                LsaBody::IntraAreaPrefix(IntraAreaPrefixLsa {
                                    referenced_ls_type: LsaType::NETWORK,
                                    referenced_link_state_id: Ipv4Addr::from(ifindex),
                                    referenced_advertising_router: me,
                                    prefixes,
                                }),
                            ));
                        }
                    }
                }
                NetworkType::Loopback => {}
            }
            if !transit {
                stub.extend(i.cfg.prefixes.iter().map(|p| host(p, cost)));
            }
            out.push((
                self.own_key(Scope::Link(ifindex), LsaType::LINK, ifindex),
                LsaBody::Link(LinkLsa {
                    priority: i.cfg.priority,
                    options: opts,
                    link_local_address: i.cfg.link_local,
                    prefixes: i
                        .cfg
                        .prefixes
                        .iter()
                        .map(|p| Prefix::new(p.addr, p.len, PrefixOptions::empty()))
                        .collect(),
                }),
            ));
        }
        for (p, &metric) in &self.orig.advertised {
            let mut o = PrefixOptions::empty();
            if p.len == 128 {
                o |= PrefixOptions::LA;
            }
            let ip = IntraAreaPrefix {
                prefix: Prefix::new(p.addr, p.len, o),
                metric,
            };
            if let Some(x) = stub
                .iter_mut()
                .find(|x| x.prefix.address == p.addr && x.prefix.length == p.len)
            {
                x.metric = x.metric.min(metric);
            } else {
                stub.push(ip);
            }
        }
        let mut flags = RouterFlags::empty();
        if !self.orig.redistributed.is_empty() {
            flags |= RouterFlags::E;
        }
        out.push((
            self.own_key(Scope::Area, LsaType::ROUTER, 0),
            LsaBody::Router(RouterLsa {
                flags,
                options: opts,
                links,
            }),
        ));
        if !stub.is_empty() {
            out.push((
                self.own_key(Scope::Area, LsaType::INTRA_AREA_PREFIX, 0),
                LsaBody::IntraAreaPrefix(IntraAreaPrefixLsa {
                    referenced_ls_type: LsaType::ROUTER,
                    referenced_link_state_id: Ipv4Addr::UNSPECIFIED,
                    referenced_advertising_router: me,
                    prefixes: stub,
                }),
            ));
        }
        for (p, &(metric, metric_type)) in &self.orig.redistributed {
            let id = self.orig.ext_ids.get(p).copied().unwrap_or(0);
            out.push((
                self.own_key(Scope::As, LsaType::AS_EXTERNAL, id),
                LsaBody::AsExternal(AsExternalLsa {
                    metric_type,
                    metric,
                    prefix: Prefix::new(p.addr, p.len, PrefixOptions::empty()),
                    forwarding_address: None,
                    route_tag: None,
                    referenced: None,
                }),
            ));
        }
        out
    }

    /// Brings our LSAs in line with [`Router::desired`]: new instances for changed
    /// contents (as the origination throttle allows), flushes for LSAs no longer wanted.
    pub(super) fn originate(&mut self, now: Instant) {
        let desired = self.desired();
        let me = self.cfg.router_id;
        for (key, body) in &desired {
            let existing = self.lsdb.get(key);
            if let Some(e) = existing {
                if !e.is_max_age(now) && e.lsa.body == *body {
                    // A change that reverted before it went out is no longer pending.
                    self.orig.pending_since.remove(key);
                    continue;
                }
                if e.is_max_age(now) && self.orig.wrap_pending.contains(key) {
                    continue;
                }
            }
            if self.orig.must_wait(key, now) {
                continue;
            }
            let seq = match existing {
                None => INITIAL_SEQUENCE_NUMBER,
                Some(e) if e.lsa.header.seq_number == MAX_SEQUENCE_NUMBER => {
                    // RFC 2328 12.1.6: flush the instance, start over once it is gone.
                    self.orig.wrap_pending.insert(*key);
                    self.flush(now, *key);
                    continue;
                }
                Some(e) => e.lsa.header.seq_number.wrapping_add(1),
            };
            self.new_instance(now, *key, body.clone(), seq);
        }
        let own: Vec<LsaKey> = self
            .lsdb
            .iter()
            .filter(|(k, e)| k.adv_router == me && !e.is_max_age(now))
            .map(|(k, _)| *k)
            .filter(|k| !desired.iter().any(|(d, _)| d == k))
            .collect();
        for k in own {
            self.flush(now, k);
        }
    }

    /// Installs and floods a new instance of one of our LSAs.
    fn new_instance(&mut self, now: Instant, key: LsaKey, body: LsaBody, seq: u32) {
        let mut lsa = Lsa {
            header: LsaHeader {
                age: 0,
                ls_type: key.ls_type,
                link_state_id: key.ls_id,
                advertising_router: key.adv_router,
                seq_number: seq,
                checksum: 0,
                length: 0,
            },
            body,
        };
        lsa.update_checksum();
        let bytes = lsa.to_bytes(crate::lsa::ChecksumMode::Keep);
        self.orig.originating = true;
        let ok = self.install(now, key, lsa, bytes);
        self.orig.originating = false;
        if ok {
            self.orig.originated(key, now);
            self.flood(now, None, key);
        }
    }

    /// Premature aging (RFC 2328 14.1): set the age to MaxAge and flood.
    pub(super) fn flush(&mut self, now: Instant, key: LsaKey) {
        let Some(mut e) = self.lsdb.get(&key).cloned() else {
            return;
        };
        let old = e.clone();
        e.lsa.header.age = MAX_AGE;
        e.bytes[0..2].copy_from_slice(&MAX_AGE.to_be_bytes());
        e.installed = now;
        self.lsdb.insert(key, e);
        self.orig.originating = true;
        self.lsa_changed(now, key, Some(&old));
        self.orig.originating = false;
        self.flood(now, None, key);
    }

    /// Once a second: refresh our LSAs at LSRefreshTime, flood LSAs that aged to
    /// MaxAge, and remove MaxAge LSAs nobody still needs (RFC 2328 14).
    pub(super) fn housekeeping(&mut self, now: Instant) {
        let me = self.cfg.router_id;
        let mut refresh = Vec::new();
        let mut aged = Vec::new();
        let mut remove = Vec::new();
        let exchanging = self.ifaces.values().any(|i| {
            i.neighbors
                .values()
                .any(|n| matches!(n.state, NeighborState::Exchange | NeighborState::Loading))
        });
        for (k, e) in self.lsdb.iter() {
            let age = e.age(now);
            if age >= MAX_AGE {
                if e.lsa.header.age < MAX_AGE {
                    aged.push(*k);
                } else if !exchanging
                    && !self
                        .ifaces
                        .values()
                        .any(|i| i.neighbors.values().any(|n| n.retransmit.contains_key(k)))
                {
                    remove.push(*k);
                }
            } else if k.adv_router == me && age >= LS_REFRESH_TIME {
                refresh.push(*k);
            }
        }
        for k in aged {
            self.flush(now, k);
        }
        for k in remove {
            self.lsdb.remove(&k);
            self.lsa_removed(now, k);
            if self.orig.wrap_pending.remove(&k) || k.adv_router == me {
                self.orig.request();
            }
        }
        for k in refresh {
            let Some(e) = self.lsdb.get(&k) else {
                continue;
            };
            let (body, seq) = (e.lsa.body.clone(), e.lsa.header.seq_number);
            if seq == MAX_SEQUENCE_NUMBER {
                self.orig.wrap_pending.insert(k);
                self.flush(now, k);
            } else {
                self.new_instance(now, k, body, seq.wrapping_add(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{InterfaceConfig, RouterConfig};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::net::Ipv6Addr;

    #[test]
    fn sequence_number_wrap_flushes_then_restarts_at_initial() {
        let t0 = Instant::now();
        let me = Ipv4Addr::new(1, 1, 1, 1);
        let mut r = Router::new(RouterConfig::new(me), StdRng::seed_from_u64(1));
        let p = Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 128);
        r.add_interface(t0, 1, InterfaceConfig::loopback(vec![p]));
        let key = LsaKey {
            scope: Scope::Area,
            ls_type: LsaType::INTRA_AREA_PREFIX,
            adv_router: me,
            ls_id: Ipv4Addr::UNSPECIFIED,
        };
        assert_eq!(
            r.lsdb.get(&key).unwrap().lsa.header.seq_number,
            INITIAL_SEQUENCE_NUMBER
        );
        // Pretend the instance reached the largest sequence number.
        let mut e = r.lsdb.get(&key).unwrap().clone();
        e.lsa.header.seq_number = MAX_SEQUENCE_NUMBER;
        e.lsa.update_checksum();
        e.bytes = e.lsa.to_bytes(crate::lsa::ChecksumMode::Keep);
        r.lsdb.insert(key, e);
        // A change needs a new instance: it cannot wrap, so the LSA is flushed first.
        let t1 = t0 + Duration::from_secs(10);
        let anycast = Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9), 128);
        r.advertise_prefix(t1, anycast, 1);
        let e = r.lsdb.get(&key).unwrap();
        assert!(e.is_max_age(t1));
        assert_eq!(e.lsa.header.seq_number, MAX_SEQUENCE_NUMBER);
        // Nobody needs the MaxAge copy (no neighbors): it is removed, and the LSA is
        // originated again from the initial sequence number with the new contents.
        r.handle_timeout(t1 + Duration::from_secs(1));
        let e = r.lsdb.get(&key).unwrap();
        assert!(!e.is_max_age(t1 + Duration::from_secs(1)));
        assert_eq!(e.lsa.header.seq_number, INITIAL_SEQUENCE_NUMBER);
        let LsaBody::IntraAreaPrefix(b) = &e.lsa.body else {
            panic!("not an Intra-Area-Prefix-LSA");
        };
        assert_eq!(b.prefixes.len(), 2);
        assert!(
            b.prefixes
                .iter()
                .all(|x| x.prefix.options.contains(PrefixOptions::LA))
        );
    }
}
