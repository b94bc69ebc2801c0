//! Neighbor data (RFC 2328 10) and the database exchange: ExStart negotiation,
//! Database Description packets with I/M/MS bits and sequence numbers, duplicates,
//! the link-state request list and Link State Request packets (RFC 2328 10.6-10.9).

use rand_core::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::compare::{Freshness, compare};
use crate::dd::{DatabaseDescription, DdFlags};
use crate::lsa::LsaHeader;
use crate::lsr::{LinkStateRequest, LsRequestEntry};
use crate::options::Options;
use crate::packet::PacketBody;

use super::instance::Router;
use super::lsdb::{LsaKey, Scope};
use super::nsm::{NeighborEvent, NeighborState};

/// One neighbor on one interface.
#[derive(Debug, Clone)]
pub struct Neighbor {
    /// Router ID.
    pub router_id: Ipv4Addr,
    /// NSM state.
    pub state: NeighborState,
    /// Link-local source address of its packets.
    pub addr: Ipv6Addr,
    /// Its Interface ID on the link.
    pub interface_id: u32,
    /// Its router priority.
    pub priority: u8,
    /// The DR it declares.
    pub dr: Ipv4Addr,
    /// The BDR it declares.
    pub bdr: Ipv4Addr,
    /// Options from its hellos / first DD.
    pub options: Options,
    pub(super) dd_options: Options,
    pub(super) inactivity_at: Instant,
    pub(super) dd_seq: u32,
    pub(super) master: bool,
    pub(super) last_rx_dd: Option<(DdFlags, Options, u32)>,
    pub(super) last_tx_dd: Option<(Ipv6Addr, Vec<u8>)>,
    pub(super) sent_more: bool,
    pub(super) dd_rxmt_at: Option<Instant>,
    pub(super) summary: VecDeque<LsaHeader>,
    pub(super) requests: BTreeMap<LsaKey, LsaHeader>,
    pub(super) lsr_rxmt_at: Option<Instant>,
    pub(super) last_lsr: Vec<LsaKey>,
    pub(super) retransmit: BTreeMap<LsaKey, LsaHeader>,
    pub(super) rxmt_at: Option<Instant>,
    /// Last accepted RFC 7166 sequence number per packet type (1..=5).
    pub(super) auth_seq: [Option<u64>; 5],
}

impl Neighbor {
    pub(super) fn new(router_id: Ipv4Addr, addr: Ipv6Addr, now: Instant) -> Self {
        Neighbor {
            router_id,
            state: NeighborState::Down,
            addr,
            interface_id: 0,
            priority: 0,
            dr: Ipv4Addr::UNSPECIFIED,
            bdr: Ipv4Addr::UNSPECIFIED,
            options: Options::empty(),
            dd_options: Options::empty(),
            inactivity_at: now,
            dd_seq: 0,
            master: false,
            last_rx_dd: None,
            last_tx_dd: None,
            sent_more: true,
            dd_rxmt_at: None,
            summary: VecDeque::new(),
            requests: BTreeMap::new(),
            lsr_rxmt_at: None,
            last_lsr: Vec::new(),
            retransmit: BTreeMap::new(),
            rxmt_at: None,
            auth_seq: [None; 5],
        }
    }

    /// Clears the summary, request and retransmission lists and their timers.
    pub(super) fn clear_lists(&mut self) {
        self.summary.clear();
        self.requests.clear();
        self.retransmit.clear();
        self.last_rx_dd = None;
        self.last_tx_dd = None;
        self.dd_rxmt_at = None;
        self.lsr_rxmt_at = None;
        self.rxmt_at = None;
        self.sent_more = true;
    }
}

impl<R: Rng> Router<R> {
    fn rxmt_interval(&self, ifindex: u32) -> Duration {
        Duration::from_secs(
            self.ifaces
                .get(&ifindex)
                .map_or(5, |i| u64::from(i.cfg.retransmit_interval.max(1))),
        )
    }

    /// ExStart: pick a sequence number, claim master, send the empty I/M/MS DD.
    pub(super) fn start_exstart(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let seq = self.random_u32();
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        if n.dd_seq == 0 {
            n.dd_seq = seq;
        } else {
            n.dd_seq = n.dd_seq.wrapping_add(1);
        }
        n.master = true;
        n.sent_more = true;
        n.last_rx_dd = None;
        self.send_dd(
            now,
            ifindex,
            rid,
            DdFlags::I | DdFlags::M | DdFlags::MS,
            Vec::new(),
        );
    }

    /// Builds the database summary list (RFC 2328 10.3, NegotiationDone).
    pub(super) fn begin_exchange(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let headers: Vec<LsaHeader> = self
            .lsdb
            .iter()
            .filter(|(k, _)| match k.scope {
                Scope::Link(i) => i == ifindex,
                _ => true,
            })
            .map(|(_, e)| e.header(now))
            .collect();
        if let Some(n) = self.nbr_mut(ifindex, rid) {
            n.summary = headers.into();
            n.dd_rxmt_at = None;
        }
    }

    pub(super) fn nbr_mut(
        &mut self,
        ifindex: u32,
        rid: Ipv4Addr,
    ) -> Option<&mut super::neighbor::Neighbor> {
        self.ifaces
            .get_mut(&ifindex)
            .and_then(|i| i.neighbors.get_mut(&rid))
    }

    /// Sends a DD packet with the given flags and headers; remembers it for
    /// retransmission (master) or duplicate answers (slave).
    fn send_dd(
        &mut self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        flags: DdFlags,
        headers: Vec<LsaHeader>,
    ) {
        let opts = self.options(Some(ifindex));
        let rxmt = self.rxmt_interval(ifindex);
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let mtu = i.cfg.mtu;
        let Some(n) = i.neighbors.get(&rid) else {
            return;
        };
        let dst = i.unicast_dst(n);
        let dd = DatabaseDescription {
            options: opts,
            interface_mtu: mtu,
            flags,
            seq_number: n.dd_seq,
            lsa_headers: headers,
        };
        let packet = crate::packet::Packet {
            header: crate::packet::PacketHeader {
                router_id: self.cfg.router_id,
                area_id: self.cfg.area_id,
                checksum: 0,
                instance_id: i.cfg.instance_id,
            },
            body: PacketBody::DatabaseDescription(dd),
        };
        let bytes = packet.to_bytes();
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        n.last_tx_dd = Some((dst, bytes.clone()));
        n.sent_more = flags.contains(DdFlags::M);
        if n.master {
            n.dd_rxmt_at = Some(now + rxmt);
        }
        self.send_bytes(ifindex, dst, bytes);
    }

    /// Sends the next DD of the exchange: as many summary headers as fit.
    fn send_next_dd(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let room = self.ifaces.get(&ifindex).map_or(200, |i| i.payload_room());
        let per = (room.saturating_sub(12) / 20).max(1);
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        let take = per.min(n.summary.len());
        let headers: Vec<LsaHeader> = n.summary.drain(..take).collect();
        let mut flags = DdFlags::empty();
        if !n.summary.is_empty() {
            flags |= DdFlags::M;
        }
        if n.master {
            flags |= DdFlags::MS;
        }
        self.send_dd(now, ifindex, rid, flags, headers);
    }

    /// Master's DD retransmission timer.
    pub(super) fn resend_dd(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let rxmt = self.rxmt_interval(ifindex);
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        n.dd_rxmt_at = None;
        if !n.master || !matches!(n.state, NeighborState::ExStart | NeighborState::Exchange) {
            return;
        }
        n.dd_rxmt_at = Some(now + rxmt);
        if let Some((dst, bytes)) = n.last_tx_dd.clone() {
            self.send_bytes(ifindex, dst, bytes);
        }
    }

    /// Database Description receipt (RFC 2328 10.6).
    pub(super) fn receive_dd(
        &mut self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        dd: DatabaseDescription,
    ) {
        let me = self.cfg.router_id;
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        if !i.cfg.mtu_ignore && dd.interface_mtu > i.cfg.mtu {
            self.out.counters.rx_dropped += 1;
            return;
        }
        let Some(n) = i.neighbors.get(&rid) else {
            return;
        };
        let mut state = n.state;
        if state == NeighborState::Init {
            self.nsm(now, ifindex, rid, NeighborEvent::TwoWayReceived);
            let Some(n) = self.nbr_mut(ifindex, rid) else {
                return;
            };
            state = n.state;
        }
        let key = (dd.flags, dd.options, dd.seq_number);
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        let dup = n.last_rx_dd == Some(key);
        match state {
            NeighborState::ExStart => {
                let init = DdFlags::I | DdFlags::M | DdFlags::MS;
                if dd.flags.contains(init) && dd.lsa_headers.is_empty() && rid > me {
                    n.master = false;
                    n.dd_seq = dd.seq_number;
                    n.dd_options = dd.options;
                    n.dd_rxmt_at = None;
                    self.nsm(now, ifindex, rid, NeighborEvent::NegotiationDone);
                    self.accept_dd(now, ifindex, rid, dd);
                } else if !dd.flags.intersects(DdFlags::I | DdFlags::MS)
                    && dd.seq_number == n.dd_seq
                    && rid < me
                {
                    n.master = true;
                    n.dd_options = dd.options;
                    self.nsm(now, ifindex, rid, NeighborEvent::NegotiationDone);
                    self.accept_dd(now, ifindex, rid, dd);
                }
            }
            NeighborState::Exchange => {
                if dup {
                    if !n.master
                        && let Some((dst, bytes)) = n.last_tx_dd.clone()
                    {
                        self.send_bytes(ifindex, dst, bytes);
                    }
                    return;
                }
                let ms_ok = dd.flags.contains(DdFlags::MS) != n.master;
                let seq_ok = if n.master {
                    dd.seq_number == n.dd_seq
                } else {
                    dd.seq_number == n.dd_seq.wrapping_add(1)
                };
                // RFC 2328 10.6: options must not change during the exchange.
                let opts_ok = dd.options == n.dd_options;
                if !ms_ok || dd.flags.contains(DdFlags::I) || !seq_ok || !opts_ok {
                    self.nsm(now, ifindex, rid, NeighborEvent::SeqNumberMismatch);
                    return;
                }
                self.accept_dd(now, ifindex, rid, dd);
            }
            NeighborState::Loading | NeighborState::Full => {
                if dup && !n.master {
                    if let Some((dst, bytes)) = n.last_tx_dd.clone() {
                        self.send_bytes(ifindex, dst, bytes);
                    }
                } else if !dup {
                    self.nsm(now, ifindex, rid, NeighborEvent::SeqNumberMismatch);
                }
            }
            _ => {}
        }
    }

    /// Processes an accepted DD: requests newer LSAs and answers (RFC 2328 10.6).
    fn accept_dd(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr, dd: DatabaseDescription) {
        let max_req = self.cfg.limits.max_requests;
        let mut wanted = Vec::new();
        for h in &dd.lsa_headers {
            let Some(scope) = Scope::of(h.ls_type, ifindex) else {
                self.nsm(now, ifindex, rid, NeighborEvent::SeqNumberMismatch);
                return;
            };
            let key = LsaKey::new(scope, h);
            let need = match self.lsdb.get(&key) {
                None => true,
                Some(e) => compare(h, &e.header(now)) == Freshness::Newer,
            };
            if need {
                wanted.push((key, *h));
            }
        }
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        n.last_rx_dd = Some((dd.flags, dd.options, dd.seq_number));
        let mut dropped = 0;
        for (k, h) in wanted {
            if n.requests.len() >= max_req && !n.requests.contains_key(&k) {
                dropped += 1;
            } else {
                n.requests.insert(k, h);
            }
        }
        let more = dd.flags.contains(DdFlags::M);
        if dropped > 0 {
            self.out.counters.requests_dropped += dropped;
        }
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        if n.master {
            n.dd_seq = n.dd_seq.wrapping_add(1);
            if !more && !n.sent_more {
                n.dd_rxmt_at = None;
                self.nsm(now, ifindex, rid, NeighborEvent::ExchangeDone);
            } else {
                self.send_next_dd(now, ifindex, rid);
            }
        } else {
            n.dd_seq = dd.seq_number;
            self.send_next_dd(now, ifindex, rid);
            let Some(n) = self.nbr_mut(ifindex, rid) else {
                return;
            };
            if !more && !n.sent_more {
                self.nsm(now, ifindex, rid, NeighborEvent::ExchangeDone);
            }
        }
    }

    /// Sends (or resends) a Link State Request for the head of the request list.
    pub(super) fn send_lsr(&mut self, now: Instant, ifindex: u32, rid: Ipv4Addr) {
        let rxmt = self.rxmt_interval(ifindex);
        let Some(i) = self.ifaces.get(&ifindex) else {
            return;
        };
        let per = (i.payload_room() / 12).max(1);
        let Some(n) = i.neighbors.get(&rid) else {
            return;
        };
        if !matches!(n.state, NeighborState::Exchange | NeighborState::Loading)
            || n.requests.is_empty()
        {
            if let Some(n) = self.nbr_mut(ifindex, rid) {
                n.lsr_rxmt_at = None;
            }
            return;
        }
        let dst = i.unicast_dst(n);
        let entries: Vec<LsRequestEntry> = n
            .requests
            .values()
            .take(per)
            .map(|h| LsRequestEntry {
                ls_type: h.ls_type,
                link_state_id: h.link_state_id,
                advertising_router: h.advertising_router,
            })
            .collect();
        let keys: Vec<LsaKey> = n.requests.keys().take(per).copied().collect();
        if let Some(n) = self.nbr_mut(ifindex, rid) {
            n.lsr_rxmt_at = Some(now + rxmt);
            n.last_lsr = keys;
        }
        self.send_packet(
            ifindex,
            dst,
            PacketBody::LinkStateRequest(LinkStateRequest { entries }),
        );
    }

    /// Link State Request receipt (RFC 2328 10.7).
    pub(super) fn receive_lsr(
        &mut self,
        now: Instant,
        ifindex: u32,
        rid: Ipv4Addr,
        r: LinkStateRequest,
    ) {
        let Some(n) = self.nbr_mut(ifindex, rid) else {
            return;
        };
        if n.state < NeighborState::Exchange {
            return;
        }
        let mut lsas = Vec::new();
        for e in &r.entries {
            let key = Scope::of(e.ls_type, ifindex).map(|scope| LsaKey {
                scope,
                ls_type: e.ls_type,
                adv_router: e.advertising_router,
                ls_id: e.link_state_id,
            });
            match key.and_then(|k| self.lsdb.get(&k).map(|x| (k, x))) {
                Some((k, _)) => lsas.push(k),
                None => {
                    self.nsm(now, ifindex, rid, NeighborEvent::BadLsReq);
                    return;
                }
            }
        }
        let dst = {
            let i = &self.ifaces[&ifindex];
            i.unicast_dst(&i.neighbors[&rid])
        };
        self.send_lsas(now, ifindex, dst, &lsas);
    }
}
