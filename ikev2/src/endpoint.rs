//! The endpoint: every IKE SA of this node, the dispatch of datagrams to them, the
//! responder's defences (half-open limit, stateless cookies, RFC 7296 2.6) and the
//! sans-IO surface (handle / poll).

use core::net::SocketAddr;
use std::collections::HashMap;
use std::time::Instant;

use rand_core::Rng;

use crate::sa::cookie::CookieJar;
use crate::sa::ike::{Command, Ctx, IkeSa, IkeState};
use crate::sa::{
    Counters, EndpointConfig, Error, Event, IkeSaId, Outputs, PeerId, Transmit, earliest,
};
use crate::wire::{ExchangeType, Flags, IkeHeader, Message, NotifyPayload, NotifyType, Payload};

/// An IKEv2 node: initiator and responder for the configured peers.
///
/// Inputs: [`handle_datagram`](Self::handle_datagram) (every UDP datagram received on the
/// IKE port and every non-ESP-marked one on the NAT-T port), commands
/// ([`initiate`](Self::initiate), [`rekey_child`](Self::rekey_child), ...) and
/// [`handle_timeout`](Self::handle_timeout). Outputs, drained after every input:
/// [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
/// [`poll_timeout`](Self::poll_timeout).
pub struct Endpoint<R> {
    cfg: EndpointConfig,
    rng: R,
    sas: HashMap<u64, IkeSa>,
    /// Responder half-open SAs by (peer address, SPIi): retransmitted IKE_SA_INIT.
    init_index: HashMap<(SocketAddr, u64), u64>,
    out: Outputs,
    cookies: CookieJar,
    cookie_rotate_at: Option<Instant>,
}

impl<R: Rng> Endpoint<R> {
    /// A new endpoint; `rng` must be a cryptographic generator in production (it makes
    /// SPIs, nonces, Diffie-Hellman keys, IVs and the cookie secret).
    pub fn new(cfg: EndpointConfig, mut rng: R) -> Self {
        let cookies = CookieJar::new(&mut rng);
        let out = Outputs {
            max_transmits: cfg.limits.max_transmits,
            max_events: cfg.limits.max_events,
            ..Outputs::default()
        };
        Endpoint {
            cfg,
            rng,
            sas: HashMap::new(),
            init_index: HashMap::new(),
            out,
            cookies,
            cookie_rotate_at: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Drop and error counters.
    pub fn counters(&self) -> &Counters {
        &self.out.counters
    }

    /// IKE SAs in the table (any state).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Half-open responder SAs.
    pub fn half_open_count(&self) -> usize {
        self.sas.values().filter(|s| s.half_open()).count()
    }

    /// Established IKE SAs with the given peer.
    pub fn established(&self, peer: PeerId) -> Vec<IkeSaId> {
        let mut v: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| s.peer == peer && s.state == IkeState::Established)
            .map(|s| s.id)
            .collect();
        v.sort();
        v
    }

    /// Inbound SPIs of the CHILD SAs of an IKE SA that carry traffic (not superseded).
    pub fn child_sas(&self, sa: IkeSaId) -> Vec<u32> {
        self.sas.get(&sa.0).map_or_else(Vec::new, |s| {
            s.children
                .iter()
                .filter(|c| {
                    matches!(
                        c.state,
                        crate::sa::child::ChildState::Installed
                            | crate::sa::child::ChildState::Rekeying
                    )
                })
                .map(|c| c.in_spi)
                .collect()
        })
    }

    /// The IKE SA that owns the CHILD SA with inbound SPI `spi`.
    pub fn sa_of_child(&self, spi: u32) -> Option<IkeSaId> {
        self.sas
            .values()
            .find(|s| s.children.iter().any(|c| c.in_spi == spi))
            .map(|s| s.id)
    }

    fn ctx_run<T>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Ctx<'_, R>, &mut HashMap<u64, IkeSa>) -> T,
    ) -> T {
        let mut spawned = Vec::new();
        let total = self.sas.len();
        let r = {
            let mut ctx = Ctx {
                rng: &mut self.rng,
                cfg: &self.cfg,
                out: &mut self.out,
                spawned: &mut spawned,
                total_sas: total,
            };
            f(&mut ctx, &mut self.sas)
        };
        self.settle(now, spawned);
        r
    }

    /// After any call into an SA: insert SAs created by rekeys, move CHILD SAs after a
    /// lost rekey collision, drop dead SAs.
    fn settle(&mut self, now: Instant, spawned: Vec<IkeSa>) {
        let mut kick = Vec::new();
        for sa in spawned {
            kick.push(sa.id.0);
            self.sas.insert(sa.id.0, sa);
        }
        let handoffs: Vec<(u64, IkeSaId)> = self
            .sas
            .values_mut()
            .filter_map(|s| s.handoff.take().map(|h| (s.id.0, h)))
            .collect();
        for (from, to) in handoffs {
            let children = self
                .sas
                .get_mut(&from)
                .map(|s| core::mem::take(&mut s.children))
                .unwrap_or_default();
            if let Some(t) = self.sas.get_mut(&to.0) {
                t.children.extend(children);
            }
        }
        if !kick.is_empty() {
            let mut spawned = Vec::new();
            let total = self.sas.len();
            let mut ctx = Ctx {
                rng: &mut self.rng,
                cfg: &self.cfg,
                out: &mut self.out,
                spawned: &mut spawned,
                total_sas: total,
            };
            for id in kick {
                if let Some(sa) = self.sas.get_mut(&id) {
                    sa.pump(&mut ctx, now);
                }
            }
        }
        let cfg = &self.cfg;
        for sa in self.sas.values_mut() {
            sa.stamp_deadlines(now, cfg);
        }
        self.sas.retain(|_, s| s.state != IkeState::Dead);
        let sas = &self.sas;
        self.init_index.retain(|_, id| {
            sas.get(id)
                .is_some_and(|s| s.state == IkeState::InitReplied)
        });
    }

    /// Starts an IKE SA (and its first CHILD SA) with a configured peer.
    pub fn initiate(&mut self, now: Instant, peer: PeerId) -> Result<IkeSaId, Error> {
        if self.sas.len() >= self.cfg.limits.max_ike_sas {
            return Err(Error::TooManySas);
        }
        let sa = self.ctx_run(now, |ctx, _| IkeSa::initiate(ctx, now, peer))?;
        let id = sa.id;
        self.sas.insert(id.0, sa);
        Ok(id)
    }

    fn command(&mut self, now: Instant, sa: IkeSaId, cmd: Command) -> Result<(), Error> {
        if !self.sas.contains_key(&sa.0) {
            return Err(Error::NoSuchSa(sa));
        }
        self.ctx_run(now, |ctx, sas| match sas.get_mut(&sa.0) {
            Some(s) => s.request(ctx, now, cmd),
            None => Err(Error::NoSuchSa(sa)),
        })
    }

    /// Rekeys the CHILD SA whose inbound SPI is `spi` (RFC 7296 2.8), e.g. on
    /// `ipsec-lite`'s soft lifetime event.
    pub fn rekey_child(&mut self, now: Instant, spi: u32) -> Result<(), Error> {
        let sa = self.sa_of_child(spi).ok_or(Error::NoSuchChild(spi))?;
        self.command(now, sa, Command::RekeyChild(spi))
    }

    /// Rekeys an IKE SA (RFC 7296 1.3.2).
    pub fn rekey_ike(&mut self, now: Instant, sa: IkeSaId) -> Result<(), Error> {
        self.command(now, sa, Command::RekeyIke)
    }

    /// Deletes a CHILD SA (RFC 7296 1.4.1).
    pub fn delete_child(&mut self, now: Instant, spi: u32) -> Result<(), Error> {
        let sa = self.sa_of_child(spi).ok_or(Error::NoSuchChild(spi))?;
        self.command(now, sa, Command::DeleteChild(spi))
    }

    /// Deletes an IKE SA and its CHILD SAs (RFC 7296 1.4.1).
    pub fn delete_ike(&mut self, now: Instant, sa: IkeSaId) -> Result<(), Error> {
        self.command(now, sa, Command::DeleteIke)
    }

    /// Sends a liveness check now (RFC 7296 1.4), e.g. when traffic stopped arriving.
    pub fn check_liveness(&mut self, now: Instant, sa: IkeSaId) -> Result<(), Error> {
        self.command(now, sa, Command::Dpd)
    }

    /// A UDP datagram received on `local` (our IKE or NAT-T port) from `remote`. On the
    /// NAT-T port only datagrams behind the non-ESP marker are IKE; others are counted
    /// in [`Counters::not_ike`] and ignored (hand them to `ipsec-lite` first).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        if data.len() > self.cfg.limits.max_datagram {
            self.out.counters.oversized += 1;
            return;
        }
        let natt = local.port() == self.cfg.natt_port;
        let data = if natt {
            match data {
                [0, 0, 0, 0, rest @ ..] => rest,
                _ => {
                    self.out.counters.not_ike += 1;
                    return;
                }
            }
        } else {
            data
        };
        let hdr = match IkeHeader::decode(data) {
            Ok(h) if h.length as usize == data.len() => h,
            _ => {
                self.out.counters.malformed += 1;
                return;
            }
        };
        let request = !hdr.flags.response();
        if request && hdr.exchange_type == ExchangeType::IKE_SA_INIT && hdr.spi_r == 0 {
            self.on_init_request(now, local, remote, natt, data, hdr);
            return;
        }
        // The sender's I flag says which SPI is ours (RFC 7296 3.1).
        let ours = if hdr.flags.initiator() {
            hdr.spi_r
        } else {
            hdr.spi_i
        };
        if !self.sas.contains_key(&ours) {
            self.out.counters.unknown_spi += 1;
            return;
        }
        self.ctx_run(now, |ctx, sas| {
            if let Some(sa) = sas.get_mut(&ours) {
                sa.on_datagram(ctx, now, remote, local, data, hdr);
            }
        });
    }

    fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        data: &[u8],
        hdr: IkeHeader,
    ) {
        if let Some(id) = self.init_index.get(&(remote, hdr.spi_i)).copied() {
            self.ctx_run(now, |ctx, sas| {
                if let Some(sa) = sas.get(&id) {
                    sa.resend_init_response(ctx, data);
                }
            });
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) if m.validate().is_ok() => m,
            _ => {
                self.out.counters.malformed += 1;
                return;
            }
        };
        let Some(peer) = self
            .cfg
            .peers
            .iter()
            .position(|p| p.remote_addr.is_none_or(|a| a == remote.ip()))
        else {
            // Nobody configured at this address: silence (RFC 7296 2.21.1 allows it).
            self.out.counters.unknown_spi += 1;
            return;
        };
        let half_open = self.half_open_count();
        if half_open >= self.cfg.limits.max_half_open
            || self.sas.len() >= self.cfg.limits.max_ike_sas
        {
            self.out.counters.table_full += 1;
            return;
        }
        if half_open >= self.cfg.limits.cookie_threshold {
            // RFC 7296 2.6: the cookie must be the first payload.
            if self.cookie_rotate_at.is_none_or(|t| now >= t) {
                if self.cookie_rotate_at.is_some() {
                    self.cookies.rotate(&mut self.rng);
                }
                self.cookie_rotate_at = Some(now + self.cfg.timers.cookie_rotation);
            }
            let ni = msg.payloads.iter().find_map(|p| match p {
                Payload::Nonce(n) => Some(n.data.clone()),
                _ => None,
            });
            let Some(ni) = ni else {
                self.out.counters.malformed += 1;
                return;
            };
            let presented = match msg.payloads.first() {
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => {
                    Some(n.data.as_slice())
                }
                _ => None,
            };
            let valid =
                presented.is_some_and(|c| self.cookies.verify(c, &ni, remote.ip(), hdr.spi_i));
            if !valid {
                if presented.is_some() {
                    self.out.counters.bad_cookie += 1;
                }
                self.out.counters.cookies_sent += 1;
                let cookie = self.cookies.make(&ni, remote.ip(), hdr.spi_i);
                let m = Message {
                    header: IkeHeader::new(
                        hdr.spi_i,
                        0,
                        ExchangeType::IKE_SA_INIT,
                        Flags::new(false, true),
                        0,
                    ),
                    payloads: vec![Payload::Notify(NotifyPayload::new(
                        NotifyType::COOKIE,
                        cookie,
                    ))],
                };
                if let Ok(b) = m.encode() {
                    let payload = if natt {
                        [&[0u8, 0, 0, 0][..], &b].concat()
                    } else {
                        b
                    };
                    self.out.send(Transmit {
                        local,
                        remote,
                        payload,
                    });
                }
                return;
            }
        }
        let sa = self.ctx_run(now, |ctx, _| {
            IkeSa::respond_init(ctx, now, PeerId(peer), local, remote, natt, &msg, data)
        });
        if let Some(sa) = sa {
            self.init_index.insert((remote, hdr.spi_i), sa.id.0);
            self.sas.insert(sa.id.0, sa);
        }
    }

    /// Fires the timers due at `now` (retransmissions, liveness checks, rekeys,
    /// half-open expiry). Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<u64> = self.sas.keys().copied().collect();
        self.ctx_run(now, |ctx, sas| {
            for id in ids {
                if let Some(sa) = sas.get_mut(&id) {
                    sa.handle_timeout(ctx, now);
                }
            }
        });
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .fold(None, |t, sa| earliest(t, sa.poll_timeout(&self.cfg)))
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }
}

impl<R> core::fmt::Debug for Endpoint<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ike_sas", &self.sas.len())
            .field("counters", &self.out.counters)
            .finish_non_exhaustive()
    }
}
