//! Flooding (RFC 2328 13 with RFC 5340 4.5): Link State Update receipt, the flooding
//! procedure over link, area and AS scopes, retransmission lists, delayed and direct
//! acknowledgements, MinLSArrival, and installation into the LSDB (RFC 2328 13.2)
//! with its effects on SPF, the routing table and our own LSAs (13.4).

use rand_core::Rng;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::compare::{Freshness, compare};
use crate::constants::{DO_NOT_AGE, MAX_AGE, MAX_SEQUENCE_NUMBER};
use crate::lsa::{ExternalMetricType, Lsa, LsaBody, LsaHeader, LsaType};
use crate::lsack::LinkStateAck;
use crate::lsu::LinkStateUpdate;
use crate::packet::{Packet, PacketBody, PacketHeader};
use crate::prefix::PrefixOptions;

use super::config::{Ipv6Prefix, NetworkType};
use super::instance::Router;
use super::interface::InterfaceState;
use super::lsdb::{LsaKey, LsdbEntry, Scope};
use super::nsm::{NeighborEvent, NeighborState};
use super::route::{PrefixSource, RouteKind};
use super::spf::VertexId;

impl<R: Rng> Router<R> {
    /// Link State Update receipt (RFC 2328 13).
    pub(super) fn receive_lsu(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr, packet: &[u8]) {
        let me = self.cfg.router_id;
        match self.nbr_mut(ifindex, rid) {
            Some(n) if n.state >= NeighborState::Exchange => {}
            _ => {
                self.out.counters.rx_dropped += 1;
                return;
            }
        }
        let iter = match crate::lsu::raw_lsas(packet) {
            Ok(it) => it,
            Err(_) => {
                self.out.counters.rx_decode_errors += 1;
                return;
            }
        };
        let exchanging = self.ifaces.values().any(|i| {
            i.neighbors
                .values()
                .any(|n| matches!(n.state, NeighborState::Exchange | NeighborState::Loading))
        });
        let mut direct_acks: Vec<LsaHeader> = Vec::new();
        let mut send_back: Vec<LsaKey> = Vec::new();
        for item in iter {
            let raw = match item {
                Ok(r) => r,
                Err(_) => {
                    self.out.counters.rx_decode_errors += 1;
                    break;
                }
            };
            // (1) checksum, (2) known scope.
            if !raw.checksum_ok() {
                continue;
            }
            let mut h = raw.header;
            let Some(scope) = Scope::of(h.ls_type, ifindex) else {
                continue;
            };
            let Ok(mut lsa) = raw.decode_unverified() else {
                continue;
            };
            let mut bytes = raw.bytes;
            let cleared;
            // RFC 1793 2.3 / RFC 5340 4.5.1: DoNotAge is honoured only where demand
            // circuits were negotiated, which this engine never does; the LSA ages
            // from the age it carries (the bit is not covered by the checksum).
            if h.age & DO_NOT_AGE != 0 {
                self.out.counters.do_not_age_cleared += 1;
                h.age &= !DO_NOT_AGE;
                lsa.header.age = h.age;
                let mut b = raw.bytes.to_vec();
                b[0..2].copy_from_slice(&h.age.to_be_bytes());
                cleared = b;
                bytes = &cleared;
            }
            let key = LsaKey::new(scope, &h);
            let db_hdr = self.lsdb.get(&key).map(|e| (e.header(now), e.installed));
            // (4) MaxAge LSA we do not have: acknowledge and drop.
            if h.age >= MAX_AGE && db_hdr.is_none() && !exchanging {
                direct_acks.push(h);
                continue;
            }
            match db_hdr.map(|(d, inst)| (compare(&h, &d), d, inst)) {
                None | Some((Freshness::Newer, _, _)) => {
                    // (5a) MinLSArrival.
                    if let Some((_, _, inst)) = db_hdr.map(|(d, i)| ((), d, i))
                        && now.saturating_duration_since(inst) < self.cfg.min_ls_arrival
                        && h.advertising_router != me
                    {
                        continue;
                    }
                    // (5c) the old copy leaves every retransmission list.
                    self.remove_from_retransmit(&key);
                    // (5d) install; (5b) flood.
                    if !self.install(now, key, lsa, bytes.to_vec()) {
                        continue;
                    }
                    let back = self.flood(now, Some((ifindex, rid)), key);
                    // (5e) acknowledge unless flooded back out the receiving interface.
                    if !back {
                        self.push_delayed_ack(now, ifindex, h);
                    }
                }
                Some(_)
                    if self
                        .nbr_mut(ifindex, rid)
                        .is_some_and(|n| n.requests.contains_key(&key)) =>
                {
                    // (6) an LSA we requested is not newer than ours.
                    self.nsm(now, ifindex, rid, NeighborEvent::BadLsReq);
                    return;
                }
                Some((Freshness::Same, _, _)) => {
                    // (7) duplicate: implied acknowledgement, or a direct one.
                    let implied = self
                        .nbr_mut(ifindex, rid)
                        .is_some_and(|n| n.retransmit.remove(&key).is_some());
                    if implied {
                        let backup_from_dr = self
                            .ifaces
                            .get(&ifindex)
                            .is_some_and(|i| i.state == InterfaceState::Backup && i.dr == rid);
                        if backup_from_dr {
                            self.push_delayed_ack(now, ifindex, h);
                        }
                    } else {
                        direct_acks.push(h);
                    }
                }
                Some((_, d, _)) => {
                    // (8) ours is newer: send it back, unless it is being wrapped.
                    // At most once per MinLSArrival per LSA.
                    let min_arrival = self.cfg.min_ls_arrival;
                    let recent = self
                        .sent_back
                        .get(&key)
                        .is_some_and(|t| now.saturating_duration_since(*t) < min_arrival);
                    let wrapping = d.age >= MAX_AGE && d.seq_number == MAX_SEQUENCE_NUMBER;
                    if !wrapping && !recent {
                        if self.sent_back.len() >= self.cfg.limits.max_lsas {
                            self.sent_back.clear();
                        }
                        self.sent_back.insert(key, now);
                        send_back.push(key);
                    }
                }
            }
        }
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let Some(n) = i.neighbors.get(&rid) else {
            return;
        };
        let dst = i.unicast_dst(n);
        if !direct_acks.is_empty() {
            self.send_acks(ifindex, dst, direct_acks);
        }
        if !send_back.is_empty() {
            self.send_lsas(now, ifindex, dst, &send_back);
        }
        self.check_loading(now);
    }

    /// Neighbors whose request list emptied move on (LoadingDone) or get the next
    /// request.
    pub(super) fn check_loading(&mut self, now: Instant) {
        let mut done = Vec::new();
        let mut more = Vec::new();
        for (&ifindex, i) in &self.ifaces {
            for n in i.neighbors.values() {
                if n.state == NeighborState::Loading && n.requests.is_empty() {
                    done.push((ifindex, n.router_id));
                } else if matches!(n.state, NeighborState::Exchange | NeighborState::Loading)
                    && !n.requests.is_empty()
                {
                    more.push((ifindex, n.router_id));
                }
            }
        }
        for (ifindex, rid) in done {
            self.nsm(now, ifindex, rid, NeighborEvent::LoadingDone);
        }
        for (ifindex, rid) in more {
            // Only ask again when the outstanding request has been answered.
            let outstanding = self
                .nbr_mut(ifindex, rid)
                .is_some_and(|n| n.last_lsr.iter().any(|k| n.requests.contains_key(k)));
            if !outstanding {
                self.send_lsr(now, ifindex, rid);
            }
        }
    }

    fn remove_from_retransmit(&mut self, key: &LsaKey) {
        for i in self.ifaces.values_mut() {
            for n in i.neighbors.values_mut() {
                n.retransmit.remove(key);
            }
        }
    }

    /// The flooding procedure (RFC 2328 13.3). `from` is the interface and neighbor
    /// the LSA came from (`None` for our own). Returns whether it was sent back out
    /// the receiving interface.
    pub(super) fn flood(
        &mut self,
        now: Instant,
        from: Option<(u32, Ipv4Addr)>,
        key: LsaKey,
    ) -> bool {
        let Some(h) = self.lsdb.get(&key).map(|e| e.header(now)) else {
            return false;
        };
        let targets: Vec<u32> = match key.scope {
            Scope::Link(i) => vec![i],
            Scope::Area | Scope::As => self.ifaces.keys().copied().collect(),
        };
        let mut back = false;
        for ifindex in targets {
            let Some(i) = self.ifaces.get_mut(&ifindex) else {
                continue;
            };
            if !i.active() {
                continue;
            }
            let rxmt = Duration::from_secs(u64::from(i.cfg.retransmit_interval.max(1)));
            let mut added = false;
            for n in i.neighbors.values_mut() {
                if n.state < NeighborState::Exchange {
                    continue;
                }
                if matches!(n.state, NeighborState::Exchange | NeighborState::Loading)
                    && let Some(req) = n.requests.get(&key).copied()
                {
                    match compare(&h, &req) {
                        Freshness::Older => continue,
                        Freshness::Same => {
                            n.requests.remove(&key);
                            continue;
                        }
                        Freshness::Newer => {
                            n.requests.remove(&key);
                        }
                    }
                }
                if from == Some((ifindex, n.router_id)) {
                    continue;
                }
                n.retransmit.insert(key, h);
                n.rxmt_at.get_or_insert(now + rxmt);
                added = true;
            }
            if !added {
                continue;
            }
            if let Some((fi, fr)) = from
                && fi == ifindex
            {
                if i.cfg.network_type == NetworkType::Broadcast && (fr == i.dr || fr == i.bdr) {
                    continue;
                }
                if i.state == InterfaceState::Backup {
                    continue;
                }
                back = true;
            }
            let dst = i.flood_dst();
            self.send_lsas(now, ifindex, dst, &[key]);
        }
        back
    }

    /// Sends the given LSAs from the LSDB in as few Link State Updates as fit.
    pub(super) fn send_lsas(&mut self, now: Instant, ifindex: u32, dst: Ipv6Addr, keys: &[LsaKey]) {
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let delay = i.cfg.transmit_delay;
        let room = i.payload_room();
        let header = PacketHeader {
            router_id: self.cfg.router_id,
            area_id: self.cfg.area_id,
            checksum: 0,
            instance_id: i.cfg.instance_id,
        };
        let empty = Packet {
            header,
            body: PacketBody::LinkStateUpdate(LinkStateUpdate { lsas: Vec::new() }),
        }
        .to_bytes();
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cur = empty.clone();
        let mut count = 0u32;
        for k in keys {
            let Some(e) = self.lsdb.get(k) else {
                continue;
            };
            let b = e.bytes_for_tx(now, delay);
            if count > 0 && cur.len() + b.len() > room {
                out.push(finish_lsu(cur, count));
                cur = empty.clone();
                count = 0;
            }
            cur.extend_from_slice(&b);
            count += 1;
        }
        if count > 0 {
            out.push(finish_lsu(cur, count));
        }
        for p in out {
            self.send_bytes(ifindex, dst, p);
        }
    }

    fn send_acks(&mut self, ifindex: u32, dst: Ipv6Addr, headers: Vec<LsaHeader>) {
        let per = self
            .ifaces
            .get(&ifindex)
            .map_or(10, |i| (i.payload_room() / 20).max(1));
        for chunk in headers.chunks(per) {
            self.send_packet(
                ifindex,
                dst,
                PacketBody::LinkStateAck(LinkStateAck {
                    lsa_headers: chunk.to_vec(),
                }),
            );
        }
    }

    pub(super) fn push_delayed_ack(&mut self, now: Instant, ifindex: u32, h: LsaHeader) {
        let max = self.cfg.limits.max_delayed_acks;
        let delay = self.cfg.ack_delay;
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        if i.delayed_acks.len() >= max {
            self.out.counters.acks_dropped += 1;
            return;
        }
        i.delayed_acks.push(h);
        i.ack_at.get_or_insert(now + delay);
    }

    /// Sends the delayed acknowledgements of an interface (RFC 2328 13.5).
    pub(super) fn send_delayed_acks(&mut self, _now: Instant, ifindex: u32) {
        let Some(i) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        i.ack_at = None;
        let acks = std::mem::take(&mut i.delayed_acks);
        let dst = i.flood_dst();
        if !acks.is_empty() && i.active() {
            self.send_acks(ifindex, dst, acks);
        }
    }

    /// Link State Acknowledgment receipt (RFC 2328 13.7).
    pub(super) fn receive_ack(
        &mut self,
        _now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        a: LinkStateAck,
    ) {
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        if n.state < NeighborState::Exchange {
            return;
        }
        for h in &a.lsa_headers {
            let Some(scope) = Scope::of(h.ls_type, ifindex) else {
                continue;
            };
            let key = LsaKey::new(scope, h);
            if n.retransmit
                .get(&key)
                .is_some_and(|r| compare(h, r) == Freshness::Same)
            {
                n.retransmit.remove(&key);
            }
        }
        if n.retransmit.is_empty() {
            n.rxmt_at = None;
        }
    }

    /// The retransmission timer of one neighbor (RFC 2328 13.6).
    pub(super) fn retransmit(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let rxmt = Duration::from_secs(u64::from(i.cfg.retransmit_interval.max(1)));
        let Some(n) = i.neighbors.get(&rid) else {
            return;
        };
        let dst = i.unicast_dst(n);
        let keys: Vec<LsaKey> = n.retransmit.keys().copied().collect();
        let live: Vec<LsaKey> = keys
            .iter()
            .copied()
            .filter(|k| self.lsdb.get(k).is_some())
            .collect();
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        n.retransmit.retain(|k, _| live.contains(k));
        n.rxmt_at = if n.retransmit.is_empty() {
            None
        } else {
            Some(now + rxmt)
        };
        if !live.is_empty() {
            self.send_lsas(now, ifindex, dst, &live);
        }
    }

    /// Installs an LSA (RFC 2328 13.2). Returns false, counting why, when it would
    /// exceed a limit of the LSDB (see [`super::Limits`]); our own LSAs are always
    /// installed.
    pub(super) fn install(&mut self, now: Instant, key: LsaKey, lsa: Lsa, bytes: Vec<u8>) -> bool {
        let entry = LsdbEntry {
            lsa,
            bytes,
            installed: now,
        };
        if !self.orig.originating() && !self.room_for(&key, &entry) {
            return false;
        }
        let old = self.lsdb.insert(key, entry);
        self.lsa_changed(now, key, old.as_ref());
        true
    }

    /// Whether `entry` fits the LSDB limits in place of what `key` holds now,
    /// counting the refusal when it does not.
    fn room_for(&mut self, key: &LsaKey, entry: &LsdbEntry) -> bool {
        let l = self.cfg.limits;
        let (old_lsas, old_bytes) = self.lsdb.get(key).map_or((0, 0), |o| (1, o.charge()));
        let charge = entry.charge();
        let grows = charge.saturating_sub(old_bytes);
        let usage = self.lsdb.router_usage(key.adv_router);
        if old_lsas == 0 && self.lsdb.len() >= l.max_lsas {
            self.out.counters.lsdb_full += 1;
            return false;
        }
        if grows > 0 && self.lsdb.bytes().saturating_add(grows) > l.max_lsdb_bytes {
            self.out.counters.lsdb_bytes_full += 1;
            return false;
        }
        if (old_lsas == 0 && usage.lsas >= l.max_lsas_per_router)
            || (grows > 0 && usage.bytes.saturating_add(grows) > l.max_bytes_per_router)
        {
            self.out.counters.lsdb_router_full += 1;
            return false;
        }
        true
    }

    /// Effects of a changed LSA: SPF, routes, our own LSAs.
    pub(super) fn lsa_changed(&mut self, now: Instant, key: LsaKey, old: Option<&LsdbEntry>) {
        let Some(new) = self.lsdb.get(&key) else {
            return;
        };
        let new_max = new.is_max_age(now);
        let changed = match old {
            None => true,
            Some(o) => o.lsa.body != new.lsa.body || o.is_max_age(now) != new_max,
        };
        if key.adv_router == self.cfg.router_id && !self.orig.originating() {
            // RFC 2328 13.4: a self-originated LSA arrived; re-originate or flush.
            self.orig.request();
        }
        if !changed {
            return;
        }
        match key.ls_type {
            LsaType::ROUTER | LsaType::NETWORK => self.routing.topology_changed(now),
            LsaType::LINK => {
                self.routing.topology_changed(now);
                self.orig.request();
            }
            LsaType::INTRA_AREA_PREFIX | LsaType::AS_EXTERNAL => {
                let entries = if new_max {
                    Vec::new()
                } else {
                    prefix_entries(&key, &new.lsa)
                };
                self.routing.set_prefix_origin(key, entries);
            }
            _ => {}
        }
    }

    /// Effects of an LSA leaving the LSDB.
    pub(super) fn lsa_removed(&mut self, now: Instant, key: LsaKey) {
        match key.ls_type {
            LsaType::ROUTER | LsaType::NETWORK | LsaType::LINK => {
                self.routing.topology_changed(now)
            }
            LsaType::INTRA_AREA_PREFIX | LsaType::AS_EXTERNAL => {
                self.routing.set_prefix_origin(key, Vec::new());
            }
            _ => {}
        }
    }
}

/// Patches the count and length of an LSU built from an empty one.
fn finish_lsu(mut b: Vec<u8>, count: u32) -> Vec<u8> {
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b[16..20].copy_from_slice(&count.to_be_bytes());
    b
}

/// The prefixes an Intra-Area-Prefix- or AS-External-LSA contributes to routing.
pub(super) fn prefix_entries(key: &LsaKey, lsa: &Lsa) -> Vec<(Ipv6Prefix, PrefixSource)> {
    match &lsa.body {
        LsaBody::IntraAreaPrefix(p) => {
            let vertex = match p.referenced_ls_type {
                LsaType::ROUTER => VertexId::Router(u32::from(p.referenced_advertising_router)),
                LsaType::NETWORK => VertexId::Network(
                    u32::from(p.referenced_advertising_router),
                    u32::from(p.referenced_link_state_id),
                ),
                _ => return Vec::new(),
            };
            p.prefixes
                .iter()
                .filter(|x| !x.prefix.options.contains(PrefixOptions::NU))
                .map(|x| {
                    (
                        Ipv6Prefix::new(x.prefix.address, x.prefix.length),
                        PrefixSource {
                            vertex,
                            metric: u32::from(x.metric),
                            kind: RouteKind::IntraArea,
                        },
                    )
                })
                .collect()
        }
        LsaBody::AsExternal(e) if !e.prefix.options.contains(PrefixOptions::NU) => {
            vec![(
                Ipv6Prefix::new(e.prefix.address, e.prefix.length),
                PrefixSource {
                    vertex: VertexId::Router(u32::from(key.adv_router)),
                    metric: e.metric,
                    kind: match e.metric_type {
                        ExternalMetricType::Type1 => RouteKind::External1,
                        ExternalMetricType::Type2 => RouteKind::External2,
                    },
                },
            )]
        }
        _ => Vec::new(),
    }
}
