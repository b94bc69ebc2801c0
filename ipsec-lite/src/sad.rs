//! The security association database (RFC 4301 section 4.4.2) with the selectors of
//! the SPD entries that point at each SA (section 4.4.1).
//!
//! Inbound SAs are found by SPI; after decryption the inner packet must match the
//! SA's selector (section 5.2, step 4). Outbound SAs are found by selector. Rekeying
//! keeps the old inbound SA for a grace period that starts when the first packet on
//! the new SA authenticates, so packets the peer sent before it switched, or that were
//! reordered around the switch, are still accepted.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::error::{DropCounters, InboundError, OutboundError};
use crate::natt::NattPayload;
use crate::sa::{Direction, SaEvent, SecurityAssociation};

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub len: u8,
}

impl IpPrefix {
    /// A single host.
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        IpPrefix { addr, len }
    }

    /// Does the prefix contain `a`? Families never match each other.
    pub fn contains(&self, a: IpAddr) -> bool {
        fn pre(x: &[u8], y: &[u8], len: u8) -> bool {
            let (full, rem) = (usize::from(len / 8), len % 8);
            if x[..full] != y[..full] {
                return false;
            }
            if rem == 0 {
                return true;
            }
            let mask = 0xffu8 << (8 - rem);
            x[full] & mask == y[full] & mask
        }
        match (self.addr, a) {
            (IpAddr::V4(p), IpAddr::V4(x)) => pre(&p.octets(), &x.octets(), self.len.min(32)),
            (IpAddr::V6(p), IpAddr::V6(x)) => pre(&p.octets(), &x.octets(), self.len.min(128)),
            _ => false,
        }
    }
}

/// A traffic selector (RFC 4301 section 4.4.1.1), written from this node's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// Local addresses.
    pub local: IpPrefix,
    /// Remote addresses.
    pub remote: IpPrefix,
    /// Next-layer protocol (17 for UDP); `None` is any.
    pub protocol: Option<u8>,
    /// Local port (1701 for L2TPv3); `None` is any.
    pub local_port: Option<u16>,
    /// Remote port; `None` is any.
    pub remote_port: Option<u16>,
}

/// One packet's flow, from this node's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Local address.
    pub local: IpAddr,
    /// Remote address.
    pub remote: IpAddr,
    /// Next-layer protocol.
    pub protocol: u8,
    /// Local port (0 when the protocol has none).
    pub local_port: u16,
    /// Remote port (0 when the protocol has none).
    pub remote_port: u16,
}

impl Selector {
    /// Does the flow match?
    pub fn matches(&self, f: &Flow) -> bool {
        self.local.contains(f.local)
            && self.remote.contains(f.remote)
            && self.protocol.is_none_or(|p| p == f.protocol)
            && self.local_port.is_none_or(|p| p == f.local_port)
            && self.remote_port.is_none_or(|p| p == f.remote_port)
    }
}

/// ESP mode (RFC 4301 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// The payload is the upper-layer segment; the outer header is the flow's own.
    Transport,
    /// The payload is a whole IP packet; the outer header runs between the gateways.
    Tunnel {
        /// Local gateway address.
        local: IpAddr,
        /// Remote gateway address.
        remote: IpAddr,
    },
}

/// UDP encapsulation ports for NAT traversal (RFC 3948).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encap {
    /// Local UDP port (4500).
    pub local_port: u16,
    /// Remote UDP port (4500, or what the NAT mapped).
    pub remote_port: u16,
}

/// What traffic an SA carries and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Traffic selector.
    pub selector: Selector,
    /// Transport or tunnel.
    pub mode: Mode,
    /// ESP-in-UDP encapsulation, if any.
    pub encap: Option<Encap>,
}

impl Policy {
    /// Traffic matching `selector`, protected in `mode`, without UDP encapsulation.
    pub fn new(selector: Selector, mode: Mode) -> Self {
        Policy {
            selector,
            mode,
            encap: None,
        }
    }
}

/// The outer addresses of a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterAddrs {
    /// Source (the peer).
    pub src: IpAddr,
    /// Destination (us).
    pub dst: IpAddr,
}

/// Events from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SadEvent {
    /// An SA lifetime event.
    Sa(SaEvent),
    /// The first packet authenticated on `new`; `old` is accepted until `until`.
    GraceStarted {
        /// Superseded inbound SA.
        old: u32,
        /// Its replacement.
        new: u32,
        /// End of the grace period.
        until: Instant,
    },
    /// An SA was removed (grace ended or hard expiry).
    Removed {
        /// SA.
        spi: u32,
        /// Direction.
        direction: Direction,
    },
}

/// Why the database refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SadError {
    /// An SA with this SPI and direction exists.
    #[error("SPI {0:#010x} already in use")]
    DuplicateSpi(u32),
    /// No SA with this SPI.
    #[error("no SA with SPI {0:#010x}")]
    NoSuchSpi(u32),
    /// The database is full.
    #[error("database full ({0} SAs)")]
    Full(usize),
    /// The SA's direction does not fit the operation.
    #[error("SPI {0:#010x} has the wrong direction")]
    WrongDirection(u32),
}

/// Inbound SA lifecycle with respect to rekeying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InState {
    /// The current SA.
    Active,
    /// A newer SA exists; this one stays fully valid until the peer uses the new one.
    Superseded { grace: Duration },
    /// Accepted until `until`, then removed.
    Draining { until: Instant },
}

#[derive(Debug, Clone, Copy)]
enum InEvent {
    /// The replacement authenticated its first packet.
    ReplacementUsed(Instant),
    /// Time passed.
    Tick(Instant),
}

/// (state, event) -> (state, remove?)
fn in_transition(s: InState, e: InEvent) -> (InState, bool) {
    match (s, e) {
        (InState::Active, _) => (InState::Active, false),
        (InState::Superseded { grace }, InEvent::ReplacementUsed(now)) => {
            (InState::Draining { until: now + grace }, false)
        }
        (InState::Superseded { .. }, InEvent::Tick(_)) => (s, false),
        (InState::Draining { .. }, InEvent::ReplacementUsed(_)) => (s, false),
        (InState::Draining { until }, InEvent::Tick(now)) => (s, now >= until),
    }
}

#[derive(Debug)]
struct InEntry {
    sa: SecurityAssociation,
    policy: Policy,
    state: InState,
    /// The SA this one replaces, until its first packet authenticates.
    replaces: Option<u32>,
}

#[derive(Debug)]
struct OutEntry {
    sa: SecurityAssociation,
    policy: Policy,
}

/// A packet accepted by [`Sad::open`]; `payload` borrows the caller's buffer.
#[derive(Debug)]
pub struct Delivered<'a> {
    /// SA.
    pub spi: u32,
    /// Full sequence number.
    pub seq: u64,
    /// Next Header.
    pub next_header: u8,
    /// Mode of the SA (tunnel: `payload` is an IP packet).
    pub mode: Mode,
    /// The payload.
    pub payload: &'a mut [u8],
}

/// What a datagram received on the NAT-T port carried (see [`Sad::open_udp`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum UdpInbound<'a> {
    /// An ESP packet, opened.
    Esp(Delivered<'a>),
    /// An IKE message after the non-ESP marker, for the key-exchange daemon.
    Ike(&'a mut [u8]),
    /// A NAT-keepalive; nothing to do.
    Keepalive,
}

/// A packet protected by [`Sad::seal`].
#[derive(Debug)]
pub struct Sealed<'a> {
    /// SA used.
    pub spi: u32,
    /// Mode: in tunnel mode send between the gateway addresses.
    pub mode: Mode,
    /// Wrap in UDP with these ports (see [`crate::natt`]).
    pub encap: Option<Encap>,
    /// The ESP packet, a sub-slice of the caller's buffer.
    pub packet: &'a mut [u8],
}

/// Default maximum number of SAs (both directions).
pub const DEFAULT_MAX_SAS: usize = 1024;
const MAX_EVENTS: usize = 256;

/// The security association database.
#[derive(Debug)]
pub struct Sad {
    inbound: HashMap<u32, InEntry>,
    outbound: Vec<OutEntry>,
    max_sas: usize,
    drops: DropCounters,
    events: VecDeque<SadEvent>,
    events_dropped: u64,
}

impl Default for Sad {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SAS)
    }
}

impl Sad {
    /// An empty database holding at most `max_sas` SAs.
    pub fn new(max_sas: usize) -> Self {
        Sad {
            inbound: HashMap::new(),
            outbound: Vec::new(),
            max_sas,
            drops: DropCounters::default(),
            // Allocated up front so pushing an event from the packet path never allocates.
            events: VecDeque::with_capacity(MAX_EVENTS),
            events_dropped: 0,
        }
    }

    /// Inbound drops by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Events lost because the queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn len(&self) -> usize {
        self.inbound.len() + self.outbound.len()
    }

    fn push_event(&mut self, e: SadEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Add an SA under `policy`.
    pub fn add(&mut self, sa: SecurityAssociation, policy: Policy) -> Result<(), SadError> {
        if self.len() >= self.max_sas {
            return Err(SadError::Full(self.max_sas));
        }
        let spi = sa.spi();
        match sa.direction() {
            Direction::Inbound => {
                if self.inbound.contains_key(&spi) {
                    return Err(SadError::DuplicateSpi(spi));
                }
                self.inbound.insert(
                    spi,
                    InEntry {
                        sa,
                        policy,
                        state: InState::Active,
                        replaces: None,
                    },
                );
            }
            Direction::Outbound => {
                if self.outbound.iter().any(|e| e.sa.spi() == spi) {
                    return Err(SadError::DuplicateSpi(spi));
                }
                self.outbound.push(OutEntry { sa, policy });
            }
        }
        Ok(())
    }

    /// Remove an SA.
    pub fn remove(&mut self, spi: u32, direction: Direction) -> Result<(), SadError> {
        let found = match direction {
            Direction::Inbound => self.inbound.remove(&spi).is_some(),
            Direction::Outbound => {
                let before = self.outbound.len();
                self.outbound.retain(|e| e.sa.spi() != spi);
                before != self.outbound.len()
            }
        };
        if found {
            Ok(())
        } else {
            Err(SadError::NoSuchSpi(spi))
        }
    }

    /// Look up an inbound SA.
    pub fn inbound(&self, spi: u32) -> Option<&SecurityAssociation> {
        self.inbound.get(&spi).map(|e| &e.sa)
    }

    /// Look up an outbound SA.
    pub fn outbound(&self, spi: u32) -> Option<&SecurityAssociation> {
        self.outbound
            .iter()
            .find(|e| e.sa.spi() == spi)
            .map(|e| &e.sa)
    }

    /// Rekey inbound: add `new` with the old SA's policy. The old SA stays valid
    /// until the first packet on `new` authenticates, then for `grace`.
    pub fn rekey_inbound(
        &mut self,
        old_spi: u32,
        new: SecurityAssociation,
        grace: Duration,
    ) -> Result<(), SadError> {
        if new.direction() != Direction::Inbound {
            return Err(SadError::WrongDirection(new.spi()));
        }
        let policy = self
            .inbound
            .get(&old_spi)
            .ok_or(SadError::NoSuchSpi(old_spi))?
            .policy;
        let new_spi = new.spi();
        self.add(new, policy)?;
        if let Some(e) = self.inbound.get_mut(&new_spi) {
            e.replaces = Some(old_spi);
        }
        if let Some(old) = self.inbound.get_mut(&old_spi) {
            old.state = InState::Superseded { grace };
        }
        Ok(())
    }

    /// Rekey outbound: `new` takes over `old_spi`'s policy at once.
    pub fn rekey_outbound(
        &mut self,
        old_spi: u32,
        new: SecurityAssociation,
    ) -> Result<(), SadError> {
        if new.direction() != Direction::Outbound {
            return Err(SadError::WrongDirection(new.spi()));
        }
        if self.outbound.iter().any(|e| e.sa.spi() == new.spi()) {
            return Err(SadError::DuplicateSpi(new.spi()));
        }
        let e = self
            .outbound
            .iter_mut()
            .find(|e| e.sa.spi() == old_spi)
            .ok_or(SadError::NoSuchSpi(old_spi))?;
        e.sa = new;
        self.push_event(SadEvent::Removed {
            spi: old_spi,
            direction: Direction::Outbound,
        });
        Ok(())
    }

    /// Open an ESP packet received from `outer.src` to `outer.dst`, in place. Every
    /// rejection is counted in [`drops`](Self::drops).
    pub fn open<'a>(
        &mut self,
        now: Instant,
        outer: OuterAddrs,
        pkt: &'a mut [u8],
    ) -> Result<Delivered<'a>, InboundError> {
        let r = self.open_inner(now, outer, pkt);
        if let Err(e) = &r {
            self.drops.record(e.reason());
        }
        r
    }

    /// Open the payload of a UDP datagram received on the NAT-T port (RFC 3948
    /// section 3.2): ESP is opened in place; IKE and keepalives are handed back.
    /// A payload that is none of the three is counted as [`DropReason::NotEsp`].
    ///
    /// [`DropReason::NotEsp`]: crate::error::DropReason::NotEsp
    pub fn open_udp<'a>(
        &mut self,
        now: Instant,
        outer: OuterAddrs,
        udp_payload: &'a mut [u8],
    ) -> Result<UdpInbound<'a>, InboundError> {
        match crate::natt::classify(udp_payload) {
            Ok(NattPayload::Esp(esp)) => self.open(now, outer, esp).map(UdpInbound::Esp),
            Ok(NattPayload::NonEsp(ike)) => Ok(UdpInbound::Ike(ike)),
            Ok(NattPayload::Keepalive) => Ok(UdpInbound::Keepalive),
            Err(_) => {
                self.drops.record(crate::error::DropReason::NotEsp);
                Err(InboundError::NotEsp)
            }
        }
    }

    fn open_inner<'a>(
        &mut self,
        now: Instant,
        outer: OuterAddrs,
        pkt: &'a mut [u8],
    ) -> Result<Delivered<'a>, InboundError> {
        let hdr = crate::esp::EspHeader::parse(pkt)?;
        let entry = self
            .inbound
            .get_mut(&hdr.spi)
            .ok_or(InboundError::UnknownSpi { spi: hdr.spi })?;
        if let InState::Draining { until } = entry.state
            && now >= until
        {
            return Err(InboundError::Expired { spi: hdr.spi });
        }
        let policy = entry.policy;
        let opened = entry.sa.open(now, pkt)?;
        let replaced = entry.replaces.take();
        let flow = match policy.mode {
            Mode::Transport => transport_flow(outer, opened.next_header, opened.payload),
            Mode::Tunnel { .. } => tunnel_flow(opened.next_header, opened.payload),
        };
        if !opened.is_dummy() && !flow.is_some_and(|f| policy.selector.matches(&f)) {
            return Err(InboundError::Selector { spi: opened.spi });
        }
        if let Some(old) = replaced
            && let Some(o) = self.inbound.get_mut(&old)
        {
            let (next, _) = in_transition(o.state, InEvent::ReplacementUsed(now));
            o.state = next;
            if let InState::Draining { until } = next {
                self.push_event(SadEvent::GraceStarted {
                    old,
                    new: opened.spi,
                    until,
                });
            }
        }
        Ok(Delivered {
            spi: opened.spi,
            seq: opened.seq,
            next_header: opened.next_header,
            mode: policy.mode,
            payload: opened.payload,
        })
    }

    /// Protect `buf[payload]` for `flow` with the first outbound SA whose selector
    /// matches. In tunnel mode the payload is the inner IP packet and `next_header`
    /// is 4 or 41.
    pub fn seal<'a>(
        &mut self,
        now: Instant,
        flow: &Flow,
        buf: &'a mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Sealed<'a>, OutboundError> {
        let e = self
            .outbound
            .iter_mut()
            .find(|e| e.policy.selector.matches(flow))
            .ok_or(OutboundError::NoPolicy)?;
        let packet = e.sa.seal(now, buf, payload, next_header)?;
        Ok(Sealed {
            spi: e.sa.spi(),
            mode: e.policy.mode,
            encap: e.policy.encap,
            packet,
        })
    }

    /// Advance time: lifetime events, end of grace periods, removal of expired SAs.
    ///
    /// Calling it early (before [`poll_timeout`](Self::poll_timeout)) or twice is
    /// harmless: it only fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let events = &mut self.events;
        let events_dropped = &mut self.events_dropped;
        self.inbound.retain(|spi, e| {
            e.sa.handle_timeout(now);
            let (next, remove) = in_transition(e.state, InEvent::Tick(now));
            e.state = next;
            if remove {
                let ev = SadEvent::Removed {
                    spi: *spi,
                    direction: Direction::Inbound,
                };
                if events.len() >= MAX_EVENTS {
                    *events_dropped += 1;
                } else {
                    events.push_back(ev);
                }
            }
            !remove
        });
        for e in self.outbound.iter_mut() {
            e.sa.handle_timeout(now);
        }
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ins = self.inbound.values().flat_map(|e| {
            let grace = match e.state {
                InState::Draining { until } => Some(until),
                _ => None,
            };
            [e.sa.poll_timeout(), grace]
        });
        let outs = self.outbound.iter().map(|e| e.sa.poll_timeout());
        ins.chain(outs).flatten().min()
    }

    /// Next event: database events first, then SA lifetime events.
    pub fn poll_event(&mut self) -> Option<SadEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        for e in self.inbound.values_mut() {
            if let Some(ev) = e.sa.poll_event() {
                return Some(SadEvent::Sa(ev));
            }
        }
        for e in self.outbound.iter_mut() {
            if let Some(ev) = e.sa.poll_event() {
                return Some(SadEvent::Sa(ev));
            }
        }
        None
    }
}

fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    match proto {
        6 | 17 | 132 | 136 => {
            let b = l4.get(..4)?;
            Some((
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            ))
        }
        _ => Some((0, 0)),
    }
}

fn transport_flow(outer: OuterAddrs, proto: u8, payload: &[u8]) -> Option<Flow> {
    let (sport, dport) = ports(proto, payload)?;
    Some(Flow {
        local: outer.dst,
        remote: outer.src,
        protocol: proto,
        local_port: dport,
        remote_port: sport,
    })
}

/// The inner packet of a tunnel-mode SA (RFC 4301 section 5.2, step 4).
fn tunnel_flow(next_header: u8, p: &[u8]) -> Option<Flow> {
    match next_header {
        4 => {
            let ihl = usize::from(*p.first()? & 0x0f) * 4;
            if p.len() < 20 || ihl < 20 || *p.first()? >> 4 != 4 {
                return None;
            }
            let a = |o: usize| IpAddr::from([p[o], p[o + 1], p[o + 2], p[o + 3]]);
            let proto = p[9];
            let (sport, dport) = ports(proto, p.get(ihl..)?)?;
            Some(Flow {
                local: a(16),
                remote: a(12),
                protocol: proto,
                local_port: dport,
                remote_port: sport,
            })
        }
        41 => {
            if p.len() < 40 || p[0] >> 4 != 6 {
                return None;
            }
            let a = |o: usize| {
                let mut x = [0u8; 16];
                x.copy_from_slice(&p[o..o + 16]);
                IpAddr::from(x)
            };
            let proto = p[6];
            let (sport, dport) = ports(proto, &p[40..])?;
            Some(Flow {
                local: a(24),
                remote: a(8),
                protocol: proto,
                local_port: dport,
                remote_port: sport,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = IpPrefix {
            addr: "10.1.0.0".parse().unwrap(),
            len: 16,
        };
        assert!(p.contains("10.1.2.3".parse().unwrap()));
        assert!(!p.contains("10.2.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let p = IpPrefix {
            addr: "10.1.0.0".parse().unwrap(),
            len: 12,
        };
        assert!(p.contains("10.15.0.1".parse().unwrap()));
        assert!(!p.contains("10.16.0.1".parse().unwrap()));
        let any = IpPrefix {
            addr: "0.0.0.0".parse().unwrap(),
            len: 0,
        };
        assert!(any.contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn early_or_repeated_timeout_is_harmless() {
        use crate::sa::SaParams;
        use crate::suite::{Backend, Suite};
        let t0 = Instant::now();
        let any = IpPrefix {
            addr: "0.0.0.0".parse().unwrap(),
            len: 0,
        };
        let selector = Selector {
            local: any,
            remote: any,
            protocol: None,
            local_port: None,
            remote_port: None,
        };
        let mut sad = Sad::default();
        for (spi, direction) in [(0x300, Direction::Inbound), (0x301, Direction::Inbound)] {
            let mut p = SaParams::new(spi, direction, Suite::AesGcm128, vec![2; 20], vec![]);
            p.lifetimes.soft.time = Some(Duration::from_secs(30));
            let sa = SecurityAssociation::new(t0, &p, Backend::default()).unwrap();
            sad.add(sa, Policy::new(selector, Mode::Transport)).unwrap();
        }
        let due = sad.poll_timeout().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(30));
        for at in [
            t0,
            t0 + Duration::from_secs(29),
            t0 + Duration::from_secs(29),
        ] {
            sad.handle_timeout(at);
            assert_eq!(sad.poll_event(), None);
            assert_eq!(sad.poll_timeout(), Some(due));
            assert!(sad.inbound(0x300).is_some() && sad.inbound(0x301).is_some());
        }
        sad.handle_timeout(due);
        sad.handle_timeout(due);
        let mut soft = 0;
        while let Some(ev) = sad.poll_event() {
            assert!(matches!(ev, SadEvent::Sa(SaEvent::SoftExpired { .. })));
            soft += 1;
        }
        assert_eq!(soft, 2, "one soft expiry per SA, not one per call");
    }
}
