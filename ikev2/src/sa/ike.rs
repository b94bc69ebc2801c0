//! One IKE SA (RFC 7296): the IKE_SA_INIT / IKE_AUTH handshake, CREATE_CHILD_SA
//! (CHILD SA and IKE SA rekey, 1.3, 2.8), INFORMATIONAL (liveness, DELETE, 1.4), message
//! IDs with a window of one and retransmission (2.1-2.3).
//!
//! Every received message and every timer goes through an explicit
//! `match (state, input)` table: [`IkeSa::on_message`] and [`IkeSa::handle_timeout`].

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::Rng;

use crate::crypto::{
    ChildKeys, DhPrivate, EspSuite, Group, IkeKeys, IkeSuite, SkCipher, psk_auth, verify_psk_auth,
};
use crate::wire::{
    DeletePayload, ExchangeType, Flags, IkeHeader, KePayload, Message, NoncePayload, NotifyPayload,
    NotifyType, Payload, ProtocolId, SaPayload, TsPayload,
};

use super::child::{ChildSa, ChildState, Install};
use super::nat::nat_hash;
use super::{
    ChildMode, DownReason, EndpointConfig, Error, Event, IkeSaId, Outputs, PeerId, Transmit,
    earliest, ts,
};

/// Nonce length we send (RFC 7296 2.10: at least half the PRF key size; 32 covers
/// SHA2-512's 256 bits).
pub(crate) const NONCE_LEN: usize = 32;
/// IKE_SA_INIT retries after COOKIE or INVALID_KE_PAYLOAD answers, before giving up.
const MAX_INIT_RETRIES: u8 = 3;

/// State of an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IkeState {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitReplied,
    /// Authenticated.
    Established,
    /// Replaced by a rekeyed IKE SA; waits for the DELETE exchange on it.
    Rekeyed,
    /// We sent a DELETE for it.
    Deleting,
    /// Gone; the endpoint removes it.
    Dead,
}

/// What our outstanding request is for.
enum Pending {
    Init,
    Auth {
        child_spi: u32,
    },
    /// CREATE_CHILD_SA rekeying the CHILD SA whose inbound SPI is `old` (2.8).
    RekeyChild {
        old: u32,
        new_spi: u32,
        nonce: Vec<u8>,
        dh: Option<DhPrivate>,
    },
    /// CREATE_CHILD_SA rekeying this IKE SA (1.3.2).
    RekeyIke {
        new_spi: u64,
        nonce: Vec<u8>,
        dh: DhPrivate,
    },
    /// Empty INFORMATIONAL (liveness check, 1.4).
    Dpd,
    /// DELETE of these CHILD SAs (our inbound SPIs).
    DeleteChild(Vec<u32>),
    /// DELETE of this IKE SA.
    DeleteIke,
}

/// A request waiting for the window (size 1, RFC 7296 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    RekeyChild(u32),
    RekeyIke,
    DeleteChild(u32),
    DeleteIke,
    Dpd,
}

struct Outstanding {
    mid: u32,
    pending: Pending,
    bytes: Vec<u8>,
    tries: u32,
    next: Instant,
}

/// What a peer's rekey of a CHILD SA left behind while our own rekey of the same SA was
/// in flight (RFC 7296 2.8.1): their new SA and the nonces of their exchange.
struct ChildCollision {
    old: u32,
    their_new_in: u32,
    nonces: [Vec<u8>; 2],
}

/// The same for an IKE SA rekey collision (2.8.2): the SA their exchange created.
struct IkeCollision {
    new_sa: IkeSaId,
    nonces: [Vec<u8>; 2],
}

/// Shared, per-endpoint context handed to every SA call.
pub(crate) struct Ctx<'a, R> {
    pub rng: &'a mut R,
    pub cfg: &'a EndpointConfig,
    pub out: &'a mut Outputs,
    /// IKE SAs created by rekeys, inserted by the endpoint after the call.
    pub spawned: &'a mut Vec<IkeSa>,
    /// IKE SAs in the endpoint's table (for the limit on rekeys).
    pub total_sas: usize,
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    pub peer: PeerId,
    /// We are the original initiator (the I flag; SPIi is ours).
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub state: IkeState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// IKE runs on the NAT-T port (non-ESP marker).
    pub natt: bool,
    /// A NAT was detected (or encapsulation forced): ESP goes in UDP.
    pub nat: bool,
    pub suite: Option<IkeSuite>,
    keys: Option<IkeKeys>,
    sk: Option<SkCipher>,
    // handshake material
    dh: Option<DhPrivate>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    init_req: Vec<u8>,
    init_resp: Vec<u8>,
    cookie: Option<Vec<u8>>,
    init_retries: u8,
    group: Option<Group>,
    // message IDs (2.2)
    next_mid: u32,
    peer_mid: u32,
    last_response: Option<(u32, Vec<u8>)>,
    outstanding: Option<Outstanding>,
    queue: VecDeque<Command>,
    pub children: Vec<ChildSa>,
    last_heard: Instant,
    created: Instant,
    rekey_at: Option<Instant>,
    child_collision: Option<ChildCollision>,
    ike_collision: Option<IkeCollision>,
    /// A rekeyed SA is forgotten at this instant if the peer never deletes it.
    linger_until: Option<Instant>,
    /// After an IKE rekey collision the peer won: the SA (already in the endpoint's
    /// table) that takes this SA's CHILD SAs; the endpoint moves them.
    pub handoff: Option<IkeSaId>,
}

fn random_spi32<R: Rng>(rng: &mut R) -> u32 {
    loop {
        let s = rng.next_u32();
        if s > 255 {
            return s;
        }
    }
}

fn random_spi64<R: Rng>(rng: &mut R) -> u64 {
    loop {
        let s = rng.next_u64();
        if s != 0 {
            return s;
        }
    }
}

fn nonce<R: Rng>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&NotifyPayload> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}

macro_rules! get {
    ($payloads:expr, $variant:ident) => {
        $payloads.iter().find_map(|p| match p {
            Payload::$variant(x) => Some(x),
            _ => None,
        })
    };
}

fn nat_detect(
    payloads: &[Payload],
    spi_i: u64,
    spi_r: u64,
    from: SocketAddr,
    to: SocketAddr,
) -> bool {
    let src: Vec<&NotifyPayload> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP => Some(n),
            _ => None,
        })
        .collect();
    let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
    if src.is_empty() && dst.is_none() {
        return false;
    }
    let peer_natted =
        !src.is_empty() && !src.iter().any(|n| n.data == nat_hash(spi_i, spi_r, from));
    let we_natted = dst.is_some_and(|n| n.data != nat_hash(spi_i, spi_r, to));
    peer_natted || we_natted
}

impl IkeSa {
    fn blank(
        id: IkeSaId,
        peer: PeerId,
        initiator: bool,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> Self {
        IkeSa {
            id,
            peer,
            initiator,
            spi_i: 0,
            spi_r: 0,
            state: IkeState::InitSent,
            local,
            remote,
            natt: false,
            nat: false,
            suite: None,
            keys: None,
            sk: None,
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            cookie: None,
            init_retries: 0,
            group: None,
            next_mid: 0,
            peer_mid: 0,
            last_response: None,
            outstanding: None,
            queue: VecDeque::new(),
            children: Vec::new(),
            last_heard: now,
            created: now,
            rekey_at: None,
            child_collision: None,
            ike_collision: None,
            linger_until: None,
            handoff: None,
        }
    }

    /// Whether this SA counts as half-open (responder, before IKE_AUTH).
    pub(crate) fn half_open(&self) -> bool {
        self.state == IkeState::InitReplied
    }

    fn peer_cfg<'c, R>(&self, ctx: &'c Ctx<'_, R>) -> &'c super::PeerConfig {
        &ctx.cfg.peers[self.peer.0]
    }

    fn emit(&self, ctx: &mut Ctx<'_, impl Rng>, bytes: &[u8]) {
        let payload = if self.natt {
            let mut v = Vec::with_capacity(bytes.len() + 4);
            v.extend_from_slice(&[0, 0, 0, 0]);
            v.extend_from_slice(bytes);
            v
        } else {
            bytes.to_vec()
        };
        ctx.out.send(Transmit {
            local: self.local,
            remote: self.remote,
            payload,
        });
    }

    fn down(&mut self, ctx: &mut Ctx<'_, impl Rng>, reason: DownReason) {
        if self.state == IkeState::Dead {
            return;
        }
        let was_up = matches!(
            self.state,
            IkeState::Established | IkeState::Deleting | IkeState::Rekeyed
        ) || !self.children.is_empty();
        for c in self.children.drain(..) {
            ctx.out.event(Event::ChildSaDeleted {
                sa: self.id,
                inbound: c.in_spi,
                outbound: c.out_spi,
                superseded: c.state == ChildState::Superseded,
            });
        }
        if reason == DownReason::PeerDead {
            ctx.out.event(Event::PeerDead {
                sa: self.id,
                peer: self.peer,
            });
        }
        if was_up || !matches!(reason, DownReason::Timeout) {
            ctx.out.event(Event::IkeSaDown {
                sa: self.id,
                peer: self.peer,
                reason,
            });
        }
        self.state = IkeState::Dead;
        self.outstanding = None;
        self.queue.clear();
        self.dh = None;
    }

    // ------------------------------------------------------------------------------
    // IKE_SA_INIT (RFC 7296 1.2)

    /// A new initiator SA; sends the IKE_SA_INIT request.
    pub(crate) fn initiate<R: Rng>(
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        peer: PeerId,
    ) -> Result<IkeSa, Error> {
        let pc = ctx.cfg.peers.get(peer.0).ok_or(Error::NoSuchPeer(peer))?;
        let remote_ip = pc.remote_addr.ok_or(Error::NotInitiable(peer))?;
        let first = pc.ike_proposals.first().ok_or(Error::NotInitiable(peer))?;
        let spi = random_spi64(ctx.rng);
        let local = SocketAddr::new(pc.local_addr, ctx.cfg.ike_port);
        let remote = SocketAddr::new(remote_ip, ctx.cfg.ike_port);
        let mut sa = IkeSa::blank(IkeSaId(spi), peer, true, local, remote, now);
        sa.spi_i = spi;
        sa.ni = nonce(ctx.rng);
        sa.group = Some(first.group);
        sa.send_init(ctx, now)?;
        Ok(sa)
    }

    fn send_init<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) -> Result<(), Error> {
        let pc = &ctx.cfg.peers[self.peer.0];
        let group = self.group.ok_or(Error::Crypto)?;
        // A retry after COOKIE keeps its KE (RFC 7296 2.6: "all other payloads
        // unchanged"); a retry after INVALID_KE_PAYLOAD needs one in the new group.
        let dh = match self.dh.take() {
            Some(d) if d.group() == group => d,
            _ => DhPrivate::generate(group, ctx.rng).map_err(|_| Error::Crypto)?,
        };
        let mut payloads = Vec::new();
        if let Some(c) = &self.cookie {
            payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE,
                c.clone(),
            )));
        }
        // Proposals whose group is the KE group first (RFC 7296 2.7 leaves order to us).
        let mut suites: Vec<&IkeSuite> = pc
            .ike_proposals
            .iter()
            .filter(|s| s.group == group)
            .collect();
        suites.extend(pc.ike_proposals.iter().filter(|s| s.group != group));
        payloads.push(Payload::Sa(SaPayload {
            proposals: suites
                .iter()
                .enumerate()
                .map(|(i, s)| s.proposal(i as u8 + 1, Vec::new()))
                .collect(),
        }));
        payloads.push(Payload::Ke(KePayload {
            group: group.dh_group(),
            data: dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(NoncePayload {
            data: self.ni.clone(),
        }));
        payloads.push(Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_hash(self.spi_i, 0, self.local),
        )));
        payloads.push(Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(self.spi_i, 0, self.remote),
        )));
        let msg = Message {
            header: IkeHeader::new(
                self.spi_i,
                0,
                ExchangeType::IKE_SA_INIT,
                Flags::new(true, false),
                0,
            ),
            payloads,
        };
        let bytes = msg.encode().map_err(|_| Error::Crypto)?;
        if bytes.len() > ctx.cfg.limits.max_message {
            return Err(Error::MessageTooLarge(bytes.len()));
        }
        self.dh = Some(dh);
        self.init_req = bytes.clone();
        self.state = IkeState::InitSent;
        self.next_mid = 1;
        self.emit(ctx, &bytes);
        self.outstanding = Some(Outstanding {
            mid: 0,
            pending: Pending::Init,
            bytes,
            tries: 1,
            next: now + ctx.cfg.timers.retransmit_initial,
        });
        Ok(())
    }

    /// Responder: a new IKE_SA_INIT request, already checked for cookies and limits by
    /// the endpoint. Returns the new half-open SA, or `None` when the request was
    /// refused (with a stateless notify where the RFC asks for one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond_init<R: Rng>(
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        peer: PeerId,
        local: SocketAddr,
        remote: SocketAddr,
        natt: bool,
        msg: &Message,
        raw: &[u8],
    ) -> Option<IkeSa> {
        let pc = &ctx.cfg.peers[peer.0];
        let hdr = msg.header;
        let refuse = |ctx: &mut Ctx<'_, R>, n: NotifyPayload| {
            ctx.out.counters.errors_sent += 1;
            ctx.out.event(Event::Notify {
                sa: IkeSaId(0),
                notify: n.notify_type,
                sent: true,
            });
            let m = Message {
                header: IkeHeader::new(
                    hdr.spi_i,
                    0,
                    ExchangeType::IKE_SA_INIT,
                    Flags::new(false, true),
                    0,
                ),
                payloads: vec![Payload::Notify(n)],
            };
            if let Ok(b) = m.encode() {
                let mut sa = IkeSa::blank(IkeSaId(0), peer, false, local, remote, now);
                sa.natt = natt;
                sa.emit(ctx, &b);
            }
        };
        let (Some(sa_p), Some(ke), Some(n)) = (
            get!(msg.payloads, Sa),
            get!(msg.payloads, Ke),
            get!(msg.payloads, Nonce),
        ) else {
            refuse(
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
            return None;
        };
        let Some(sel) = IkeSuite::select(&pc.ike_proposals, sa_p, Some(ke.group)) else {
            refuse(
                ctx,
                NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            return None;
        };
        let suite = sel.suite;
        if suite.group.dh_group() != ke.group {
            // RFC 7296 1.2: tell the initiator which group we want.
            refuse(ctx, NotifyPayload::invalid_ke(suite.group.dh_group().0));
            return None;
        }
        let dh = DhPrivate::generate(suite.group, ctx.rng).ok()?;
        let Ok(shared) = dh.shared_secret(&ke.data) else {
            refuse(
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
            return None;
        };
        let spi_r = random_spi64(ctx.rng);
        let mut sa = IkeSa::blank(IkeSaId(spi_r), peer, false, local, remote, now);
        sa.state = IkeState::InitReplied;
        sa.spi_i = hdr.spi_i;
        sa.spi_r = spi_r;
        sa.natt = natt;
        sa.ni = n.data.clone();
        sa.nr = nonce(ctx.rng);
        sa.nat =
            ctx.cfg.force_encap || natt || nat_detect(&msg.payloads, hdr.spi_i, 0, remote, local);
        let keys =
            IkeKeys::derive(&suite, shared.expose(), &sa.ni, &sa.nr, sa.spi_i, spi_r).ok()?;
        sa.sk = Some(SkCipher::new(&suite, &keys, false).ok()?);
        sa.keys = Some(keys);
        sa.suite = Some(suite);
        sa.init_req = raw.to_vec();
        let payloads = vec![
            Payload::Sa(SaPayload {
                proposals: vec![suite.proposal(sel.number, Vec::new())],
            }),
            Payload::Ke(KePayload {
                group: suite.group.dh_group(),
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(NoncePayload {
                data: sa.nr.clone(),
            }),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                nat_hash(sa.spi_i, spi_r, local),
            )),
            Payload::Notify(NotifyPayload::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(sa.spi_i, spi_r, remote),
            )),
        ];
        let m = Message {
            header: IkeHeader::new(
                sa.spi_i,
                spi_r,
                ExchangeType::IKE_SA_INIT,
                Flags::new(false, true),
                0,
            ),
            payloads,
        };
        let bytes = m.encode().ok()?;
        sa.init_resp = bytes.clone();
        sa.peer_mid = 1;
        sa.last_response = Some((0, bytes.clone()));
        sa.emit(ctx, &bytes);
        Some(sa)
    }

    /// Responder: the same IKE_SA_INIT request again (our answer was lost).
    pub(crate) fn resend_init_response(&self, ctx: &mut Ctx<'_, impl Rng>, raw: &[u8]) {
        if self.state == IkeState::InitReplied && raw == self.init_req.as_slice() {
            ctx.out.counters.retransmitted_requests += 1;
            self.emit(ctx, &self.init_resp);
        }
    }

    fn on_init_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        raw: &[u8],
    ) {
        let Ok(msg) = Message::decode(raw) else {
            ctx.out.counters.malformed += 1;
            return;
        };
        if msg.validate().is_err() {
            ctx.out.counters.malformed += 1;
            return;
        }
        // COOKIE (2.6): retry with it, same SPI and nonce.
        if let Some(c) = find_notify(&msg.payloads, NotifyType::COOKIE) {
            if self.init_retries >= MAX_INIT_RETRIES {
                self.down(ctx, DownReason::Failed(NotifyType::COOKIE));
                return;
            }
            self.init_retries += 1;
            self.cookie = Some(c.data.clone());
            if self.send_init(ctx, now).is_err() {
                self.down(ctx, DownReason::Failed(NotifyType::COOKIE));
            }
            return;
        }
        // INVALID_KE_PAYLOAD (1.2): retry with the group the responder wants, if ours.
        if let Some(n) = find_notify(&msg.payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let pc = self.peer_cfg(ctx);
            let wanted = n
                .wanted_group()
                .and_then(|g| Group::from_dh_group(crate::wire::DhGroup(g)))
                .filter(|g| pc.ike_proposals.iter().any(|s| s.group == *g));
            match wanted {
                Some(g) if self.init_retries < MAX_INIT_RETRIES && Some(g) != self.group => {
                    self.init_retries += 1;
                    self.group = Some(g);
                    ctx.out.event(Event::Notify {
                        sa: self.id,
                        notify: NotifyType::INVALID_KE_PAYLOAD,
                        sent: false,
                    });
                    if self.send_init(ctx, now).is_err() {
                        self.down(ctx, DownReason::Failed(NotifyType::INVALID_KE_PAYLOAD));
                    }
                }
                _ => self.down(ctx, DownReason::Failed(NotifyType::INVALID_KE_PAYLOAD)),
            }
            return;
        }
        if let Some(err) = first_error(&msg.payloads) {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: err,
                sent: false,
            });
            self.down(ctx, DownReason::Failed(err));
            return;
        }
        let fail = |s: &mut Self, ctx: &mut Ctx<'_, R>| {
            s.down(ctx, DownReason::Failed(NotifyType::INVALID_SYNTAX))
        };
        let (Some(sa_p), Some(ke), Some(n)) = (
            get!(msg.payloads, Sa),
            get!(msg.payloads, Ke),
            get!(msg.payloads, Nonce),
        ) else {
            return fail(self, ctx);
        };
        let pc = self.peer_cfg(ctx);
        let Some(sel) = IkeSuite::from_accepted(&pc.ike_proposals, sa_p) else {
            return fail(self, ctx);
        };
        let suite = sel.suite;
        let Some(dh) = self.dh.take() else {
            return fail(self, ctx);
        };
        if ke.group != suite.group.dh_group() || dh.group() != suite.group || msg.header.spi_r == 0
        {
            return fail(self, ctx);
        }
        let Ok(shared) = dh.shared_secret(&ke.data) else {
            return fail(self, ctx);
        };
        self.spi_r = msg.header.spi_r;
        self.nr = n.data.clone();
        let Ok(keys) = IkeKeys::derive(
            &suite,
            shared.expose(),
            &self.ni,
            &self.nr,
            self.spi_i,
            self.spi_r,
        ) else {
            return fail(self, ctx);
        };
        let Ok(sk) = SkCipher::new(&suite, &keys, true) else {
            return fail(self, ctx);
        };
        self.nat =
            ctx.cfg.force_encap || nat_detect(&msg.payloads, self.spi_i, self.spi_r, from, to);
        if self.nat && !self.natt {
            // RFC 7296 2.23: move to port 4500 from IKE_AUTH on.
            self.natt = true;
            self.local.set_port(ctx.cfg.natt_port);
            self.remote.set_port(ctx.cfg.natt_port);
        }
        self.keys = Some(keys);
        self.sk = Some(sk);
        self.suite = Some(suite);
        self.init_resp = raw.to_vec();
        self.outstanding = None;
        self.last_heard = now;
        self.send_auth(ctx, now);
    }

    // ------------------------------------------------------------------------------
    // IKE_AUTH (1.2, 2.15)

    fn child_payloads(pc: &super::PeerConfig, spi: u32, with_pfs: bool) -> Vec<Payload> {
        let mut v = Vec::new();
        if pc.mode == ChildMode::Transport {
            v.push(Payload::Notify(NotifyPayload::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        v.push(Payload::Sa(SaPayload {
            proposals: pc
                .esp_proposals
                .iter()
                .enumerate()
                .map(|(i, s)| s.proposal(i as u8 + 1, spi, with_pfs))
                .collect(),
        }));
        v.push(Payload::TsI(TsPayload {
            selectors: pc.local_ts.clone(),
        }));
        v.push(Payload::TsR(TsPayload {
            selectors: pc.remote_ts.clone(),
        }));
        v
    }

    fn send_auth<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) {
        let pc = &ctx.cfg.peers[self.peer.0];
        let (Some(suite), Some(keys)) = (self.suite, self.keys.as_ref()) else {
            return;
        };
        let auth = psk_auth(
            suite.prf,
            &pc.psk,
            &self.init_req,
            &self.nr,
            &keys.sk_pi,
            &pc.local_id.body_bytes(),
        );
        let child_spi = random_spi32(ctx.rng);
        let mut payloads = vec![
            Payload::IdI(pc.local_id.clone()),
            Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, Vec::new())),
            Payload::IdR(pc.remote_id.clone()),
            Payload::Auth(crate::wire::AuthPayload {
                method: crate::wire::AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        payloads.extend(Self::child_payloads(pc, child_spi, false));
        self.state = IkeState::AuthSent;
        if let Err(e) = self.send_request(
            ctx,
            now,
            ExchangeType::IKE_AUTH,
            payloads,
            Pending::Auth { child_spi },
        ) {
            let _ = e;
            self.down(ctx, DownReason::Failed(NotifyType::INVALID_SYNTAX));
        }
    }

    fn on_auth_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        payloads: Vec<Payload>,
        child_spi: u32,
    ) {
        let pc = &ctx.cfg.peers[self.peer.0];
        if find_notify(&payloads, NotifyType::AUTHENTICATION_FAILED).is_some() {
            ctx.out.counters.auth_failed += 1;
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: NotifyType::AUTHENTICATION_FAILED,
                sent: false,
            });
            self.down(ctx, DownReason::AuthenticationFailed);
            return;
        }
        let (Some(suite), Some(keys)) = (self.suite, self.keys.as_ref()) else {
            return;
        };
        let ok = match (get!(payloads, IdR), get!(payloads, Auth)) {
            (Some(idr), Some(auth)) => {
                *idr == pc.remote_id
                    && auth.method == crate::wire::AuthMethod::SHARED_KEY_MIC
                    && verify_psk_auth(
                        suite.prf,
                        &pc.psk,
                        &self.init_resp,
                        &self.ni,
                        &keys.sk_pr,
                        &idr.body_bytes(),
                        &auth.data,
                    )
            }
            _ => false,
        };
        if !ok {
            // RFC 7296 2.21.2: the initiator deletes the SA (INFORMATIONAL may follow;
            // we just drop it: the responder never authenticated to us).
            ctx.out.counters.auth_failed += 1;
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: NotifyType::AUTHENTICATION_FAILED,
                sent: false,
            });
            self.down(ctx, DownReason::AuthenticationFailed);
            return;
        }
        self.establish(ctx, now);
        // The first CHILD SA.
        if let Some(err) = first_error(&payloads) {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: err,
                sent: false,
            });
            return;
        }
        let ni = self.ni.clone();
        let nr = self.nr.clone();
        if let Err(n) =
            self.accept_child_answer(ctx, now, &payloads, child_spi, None, None, &ni, &nr)
        {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: n,
                sent: false,
            });
            // RFC 7296 1.3: a CHILD SA we cannot accept is deleted at once.
        }
    }

    fn establish<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) {
        self.state = IkeState::Established;
        self.init_req = Vec::new();
        self.init_resp = Vec::new();
        self.last_heard = now;
        self.rekey_at = Some(now + ctx.cfg.timers.ike_rekey);
        if let Some(suite) = self.suite {
            ctx.out.event(Event::IkeSaUp {
                sa: self.id,
                peer: self.peer,
                remote: self.remote,
                suite,
                initiator: self.initiator,
            });
        }
    }

    /// Initiator side of a CHILD SA negotiation (IKE_AUTH or CREATE_CHILD_SA): checks
    /// the responder's SA, TS and mode, derives and installs the keys. `rekeys`: the
    /// inbound SPI of the CHILD SA this one replaces.
    #[allow(clippy::too_many_arguments)]
    fn accept_child_answer<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        payloads: &[Payload],
        our_spi: u32,
        pfs: Option<DhPrivate>,
        rekeys: Option<u32>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), NotifyType> {
        let pc = &ctx.cfg.peers[self.peer.0];
        let (Some(sa_p), Some(tsi), Some(tsr)) =
            (get!(payloads, Sa), get!(payloads, TsI), get!(payloads, TsR))
        else {
            return Err(NotifyType::INVALID_SYNTAX);
        };
        let with_pfs = pfs.is_some();
        let sel = EspSuite::from_accepted(&pc.esp_proposals, sa_p, with_pfs)
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let out_spi = sel
            .peer_spi
            .as_slice()
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| NotifyType::INVALID_SYNTAX)?;
        if !ts::subset(&tsi.selectors, &pc.local_ts) || !ts::subset(&tsr.selectors, &pc.remote_ts) {
            return Err(NotifyType::TS_UNACCEPTABLE);
        }
        let transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
        if transport != (pc.mode == ChildMode::Transport) {
            return Err(NotifyType::NO_PROPOSAL_CHOSEN);
        }
        let shared = match (&pfs, get!(payloads, Ke)) {
            (Some(dh), Some(ke)) if ke.group == dh.group().dh_group() => Some(
                dh.shared_secret(&ke.data)
                    .map_err(|_| NotifyType::INVALID_SYNTAX)?,
            ),
            (Some(_), _) => return Err(NotifyType::INVALID_KE_PAYLOAD),
            (None, _) => None,
        };
        let child = ChildSa {
            in_spi: our_spi,
            out_spi,
            suite: sel.suite,
            local_ts: tsi.selectors.clone(),
            remote_ts: tsr.selectors.clone(),
            mode: pc.mode,
            state: ChildState::Installed,
            rekey_at: now + ctx.cfg.timers.child_rekey,
            out_pending: false,
            replaces: rekeys,
            expire_at: None,
            rekey_failures: 0,
        };
        self.install_child(
            ctx,
            child,
            shared.as_ref().map(|s| s.expose()),
            true,
            rekeys,
            ni,
            nr,
        )
    }

    /// Derives the keys of `child`, emits the install/rekey event and stores it.
    #[allow(clippy::too_many_arguments)]
    fn install_child<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        child: ChildSa,
        pfs_shared: Option<&[u8]>,
        we_initiated: bool,
        rekeys: Option<u32>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), NotifyType> {
        let (Some(suite), Some(keys)) = (self.suite, self.keys.as_ref()) else {
            return Err(NotifyType::INVALID_SYNTAX);
        };
        let km = ChildKeys::derive(suite.prf, &keys.sk_d, &child.suite, pfs_shared, ni, nr)
            .map_err(|_| NotifyType::NO_PROPOSAL_CHOSEN)?;
        let encap = self.nat.then_some((self.local.port(), self.remote.port()));
        let built = Install {
            child: &child,
            keys: &km,
            we_initiated,
            local_ip: self.local.ip(),
            remote_ip: self.remote.ip(),
            encap,
        }
        .build()
        .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let old = rekeys.and_then(|o| self.children.iter_mut().find(|c| c.in_spi == o));
        match old {
            Some(o) => {
                o.state = ChildState::Superseded;
                ctx.out.event(Event::ChildSaRekeyed {
                    sa: self.id,
                    new: Box::new(built),
                    old_inbound: o.in_spi,
                    old_outbound: o.out_spi,
                    grace: ctx.cfg.timers.rekey_grace,
                });
            }
            None => ctx.out.event(Event::ChildSaInstalled {
                sa: self.id,
                keys: Box::new(built),
            }),
        }
        self.children.push(child);
        Ok(())
    }

    fn on_auth_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let (Some(suite), Some(keys)) = (self.suite, self.keys.as_ref()) else {
            return;
        };
        // Identity: the configured peer for this address whose remote_id matches IDi.
        let idi = get!(payloads, IdI).cloned();
        let auth = get!(payloads, Auth).cloned();
        let candidates = ctx.cfg.peers.iter().enumerate().filter(|(_, p)| {
            p.remote_addr.is_none_or(|a| a == self.remote.ip())
                && Some(&p.remote_id) == idi.as_ref()
        });
        let mut authed = None;
        if let (Some(idi), Some(auth)) = (&idi, &auth)
            && auth.method == crate::wire::AuthMethod::SHARED_KEY_MIC
        {
            for (i, p) in candidates {
                if p.ike_proposals.contains(&suite)
                    && verify_psk_auth(
                        suite.prf,
                        &p.psk,
                        &self.init_req,
                        &self.nr,
                        &keys.sk_pi,
                        &idi.body_bytes(),
                        &auth.data,
                    )
                {
                    authed = Some(i);
                    break;
                }
            }
        }
        let Some(peer) = authed else {
            ctx.out.counters.auth_failed += 1;
            ctx.out.counters.errors_sent += 1;
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: NotifyType::AUTHENTICATION_FAILED,
                sent: true,
            });
            self.send_response(
                ctx,
                mid,
                ExchangeType::IKE_AUTH,
                vec![Payload::Notify(NotifyPayload::new(
                    NotifyType::AUTHENTICATION_FAILED,
                    Vec::new(),
                ))],
            );
            self.down(ctx, DownReason::AuthenticationFailed);
            return;
        };
        self.peer = PeerId(peer);
        let pc = &ctx.cfg.peers[peer];
        let my_auth = psk_auth(
            suite.prf,
            &pc.psk,
            &self.init_resp,
            &self.ni,
            &keys.sk_pr,
            &pc.local_id.body_bytes(),
        );
        let mut resp = vec![
            Payload::IdR(pc.local_id.clone()),
            Payload::Auth(crate::wire::AuthPayload {
                method: crate::wire::AuthMethod::SHARED_KEY_MIC,
                data: my_auth,
            }),
        ];
        let ni = self.ni.clone();
        let nr = self.nr.clone();
        let child = self.select_child(ctx, now, &payloads, false);
        let mut install = None;
        match child {
            Ok((child, extra)) => {
                resp.extend(extra);
                install = Some(child);
            }
            Err(n) => {
                ctx.out.counters.errors_sent += 1;
                resp.push(Payload::Notify(NotifyPayload::new(n, Vec::new())));
            }
        }
        self.establish(ctx, now);
        if self.send_response(ctx, mid, ExchangeType::IKE_AUTH, resp)
            && let Some(c) = install
        {
            let _ = self.install_child(ctx, c, None, false, None, &ni, &nr);
        }
    }

    /// Responder side of a CHILD SA negotiation: proposal, TS narrowing (2.9), mode.
    /// Returns the new CHILD SA and the payloads answering for it.
    fn select_child<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        payloads: &[Payload],
        with_pfs: bool,
    ) -> Result<(ChildSa, Vec<Payload>), NotifyType> {
        let pc = &ctx.cfg.peers[self.peer.0];
        let (Some(sa_p), Some(tsi), Some(tsr)) =
            (get!(payloads, Sa), get!(payloads, TsI), get!(payloads, TsR))
        else {
            return Err(NotifyType::INVALID_SYNTAX);
        };
        let sel = EspSuite::select(&pc.esp_proposals, sa_p, with_pfs)
            .ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        let out_spi = sel
            .peer_spi
            .as_slice()
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| NotifyType::INVALID_SYNTAX)?;
        // TSi is the initiator's side = our remote side.
        let n_remote = ts::narrow(&tsi.selectors, &pc.remote_ts);
        let n_local = ts::narrow(&tsr.selectors, &pc.local_ts);
        if n_remote.is_empty() || n_local.is_empty() {
            return Err(NotifyType::TS_UNACCEPTABLE);
        }
        let transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
        let mode = match (transport, pc.mode) {
            (true, ChildMode::Transport) => ChildMode::Transport,
            (false, ChildMode::Tunnel) => ChildMode::Tunnel,
            // A mode we are not configured for: refuse rather than silently change it.
            _ => return Err(NotifyType::NO_PROPOSAL_CHOSEN),
        };
        if self.active_children() >= ctx.cfg.limits.max_child_sas {
            return Err(NotifyType::NO_ADDITIONAL_SAS);
        }
        let in_spi = random_spi32(ctx.rng);
        let mut out = Vec::new();
        if mode == ChildMode::Transport {
            out.push(Payload::Notify(NotifyPayload::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        out.push(Payload::Sa(SaPayload {
            proposals: vec![sel.suite.proposal(sel.number, in_spi, with_pfs)],
        }));
        out.push(Payload::TsI(TsPayload {
            selectors: n_remote.clone(),
        }));
        out.push(Payload::TsR(TsPayload {
            selectors: n_local.clone(),
        }));
        Ok((
            ChildSa {
                in_spi,
                out_spi,
                suite: sel.suite,
                local_ts: n_local,
                remote_ts: n_remote,
                mode,
                state: ChildState::Installed,
                rekey_at: now + ctx.cfg.timers.child_rekey,
                out_pending: true,
                replaces: None,
                expire_at: None,
                rekey_failures: 0,
            },
            out,
        ))
    }

    fn active_children(&self) -> usize {
        self.children
            .iter()
            .filter(|c| matches!(c.state, ChildState::Installed | ChildState::Rekeying))
            .count()
    }

    // ------------------------------------------------------------------------------
    // Requests and responses (2.1 - 2.3)

    fn send_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
        pending: Pending,
    ) -> Result<(), Error> {
        let sk = self.sk.as_mut().ok_or(Error::NotEstablished)?;
        let header = IkeHeader::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.initiator, false),
            self.next_mid,
        );
        let bytes = sk
            .seal(header, &payloads, ctx.rng)
            .map_err(|_| Error::Crypto)?;
        if bytes.len() > ctx.cfg.limits.max_message {
            return Err(Error::MessageTooLarge(bytes.len()));
        }
        self.emit(ctx, &bytes);
        self.outstanding = Some(Outstanding {
            mid: self.next_mid,
            pending,
            bytes,
            tries: 1,
            next: now + ctx.cfg.timers.retransmit_initial,
        });
        self.next_mid = self.next_mid.wrapping_add(1);
        Ok(())
    }

    /// Sends (and caches) the response to request `mid`. False if it could not be built.
    fn send_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        mid: u32,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
    ) -> bool {
        let Some(sk) = self.sk.as_mut() else {
            return false;
        };
        let header = IkeHeader::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.initiator, true),
            mid,
        );
        let Ok(bytes) = sk.seal(header, &payloads, ctx.rng) else {
            return false;
        };
        if bytes.len() > ctx.cfg.limits.max_message {
            // Never send what the peer may not accept; answer with an error instead.
            ctx.out.counters.errors_sent += 1;
            let n = vec![Payload::Notify(NotifyPayload::new(
                NotifyType::TEMPORARY_FAILURE,
                Vec::new(),
            ))];
            let Some(sk) = self.sk.as_mut() else {
                return false;
            };
            let Ok(bytes) = sk.seal(header, &n, ctx.rng) else {
                return false;
            };
            self.emit(ctx, &bytes);
            self.peer_mid = mid.wrapping_add(1);
            self.last_response = Some((mid, bytes));
            return false;
        }
        self.emit(ctx, &bytes);
        self.peer_mid = mid.wrapping_add(1);
        self.last_response = Some((mid, bytes));
        true
    }

    /// A protected message for this SA (anything but IKE_SA_INIT), or an IKE_SA_INIT
    /// response while in `InitSent`.
    pub(crate) fn on_datagram<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        raw: &[u8],
        hdr: IkeHeader,
    ) {
        let is_response = hdr.flags.response();
        // Table of (state, message kind) -> handler.
        match (self.state, hdr.exchange_type, is_response) {
            (IkeState::InitSent, ExchangeType::IKE_SA_INIT, true) => {
                if self.outstanding.as_ref().is_some_and(|o| o.mid == 0) && hdr.message_id == 0 {
                    self.on_init_response(ctx, now, from, to, raw);
                } else {
                    ctx.out.counters.unexpected_response += 1;
                }
                return;
            }
            (IkeState::InitReplied, ExchangeType::IKE_SA_INIT, false) => {
                self.resend_init_response(ctx, raw);
                return;
            }
            (IkeState::Dead, _, _)
            | (_, ExchangeType::IKE_SA_INIT, _)
            | (IkeState::InitSent, _, _) => {
                ctx.out.counters.wrong_state += 1;
                return;
            }
            _ => {}
        }
        // Message ID check before any crypto (2.3): requests must be the next one or a
        // retransmission of the last one; responses must match our outstanding request.
        if is_response {
            if self
                .outstanding
                .as_ref()
                .is_none_or(|o| o.mid != hdr.message_id)
            {
                ctx.out.counters.unexpected_response += 1;
                return;
            }
        } else if hdr.message_id != self.peer_mid {
            let retransmit = self
                .last_response
                .as_ref()
                .is_some_and(|(m, _)| m.wrapping_add(1) == self.peer_mid && *m == hdr.message_id);
            if retransmit {
                // Authenticate before answering, so forged copies cannot make us send.
                if self.sk.as_ref().is_some_and(|sk| sk.open(raw).is_ok()) {
                    ctx.out.counters.retransmitted_requests += 1;
                    if let Some((_, b)) = &self.last_response {
                        let b = b.clone();
                        self.emit(ctx, &b);
                    }
                } else {
                    ctx.out.counters.integrity += 1;
                }
            } else {
                ctx.out.counters.bad_message_id += 1;
            }
            return;
        }
        let Some(sk) = self.sk.as_ref() else {
            ctx.out.counters.wrong_state += 1;
            return;
        };
        let opened = match sk.open(raw) {
            Ok(o) => o,
            Err(_) => {
                ctx.out.counters.integrity += 1;
                return;
            }
        };
        let payloads = opened.payloads;
        if let Err(e) = crate::wire::validate_chain(&payloads) {
            ctx.out.counters.malformed += 1;
            if !is_response {
                let n = match e {
                    crate::wire::ValidationError::UnsupportedCriticalPayload(t) => {
                        NotifyPayload::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t])
                    }
                    _ => NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                };
                ctx.out.counters.errors_sent += 1;
                self.send_response(
                    ctx,
                    hdr.message_id,
                    hdr.exchange_type,
                    vec![Payload::Notify(n)],
                );
            }
            return;
        }
        self.last_heard = now;
        // RFC 7296 2.23: with a NAT, follow the peer's address of authenticated messages.
        if self.nat && from != self.remote && self.state != IkeState::InitReplied {
            self.remote = from;
        }
        if self.state == IkeState::InitReplied {
            self.remote = from;
            self.local = to;
            self.natt = to.port() == ctx.cfg.natt_port;
            if self.natt {
                self.nat = true;
            }
        }
        if is_response {
            let Some(o) = self.outstanding.take() else {
                return;
            };
            self.on_response(ctx, now, hdr.exchange_type, o.pending, payloads);
            self.pump(ctx, now);
        } else {
            self.on_request(ctx, now, hdr.message_id, hdr.exchange_type, payloads);
        }
    }

    /// Requests: (state, exchange) table.
    fn on_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        mid: u32,
        exchange: ExchangeType,
        payloads: Vec<Payload>,
    ) {
        match (self.state, exchange) {
            (IkeState::InitReplied, ExchangeType::IKE_AUTH) => {
                self.on_auth_request(ctx, now, mid, payloads)
            }
            (IkeState::Established, ExchangeType::CREATE_CHILD_SA) => {
                self.on_create_child_request(ctx, now, mid, payloads)
            }
            (IkeState::Rekeyed | IkeState::Deleting, ExchangeType::CREATE_CHILD_SA) => {
                // 2.25: the SA is going away.
                ctx.out.counters.errors_sent += 1;
                self.send_response(
                    ctx,
                    mid,
                    exchange,
                    vec![Payload::Notify(NotifyPayload::new(
                        NotifyType::TEMPORARY_FAILURE,
                        Vec::new(),
                    ))],
                );
            }
            (
                IkeState::Established | IkeState::Rekeyed | IkeState::Deleting,
                ExchangeType::INFORMATIONAL,
            ) => self.on_informational_request(ctx, now, mid, payloads),
            _ => ctx.out.counters.wrong_state += 1,
        }
    }

    /// Responses: (state, pending request) table.
    fn on_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        exchange: ExchangeType,
        pending: Pending,
        payloads: Vec<Payload>,
    ) {
        match (self.state, pending) {
            (IkeState::AuthSent, Pending::Auth { child_spi })
                if exchange == ExchangeType::IKE_AUTH =>
            {
                self.on_auth_response(ctx, now, payloads, child_spi)
            }
            (
                IkeState::Established,
                Pending::RekeyChild {
                    old,
                    new_spi,
                    nonce,
                    dh,
                },
            ) if exchange == ExchangeType::CREATE_CHILD_SA => {
                self.on_rekey_child_response(ctx, now, payloads, old, new_spi, nonce, dh)
            }
            (IkeState::Established, Pending::RekeyIke { new_spi, nonce, dh })
                if exchange == ExchangeType::CREATE_CHILD_SA =>
            {
                self.on_rekey_ike_response(ctx, now, payloads, new_spi, nonce, dh)
            }
            (_, Pending::Dpd) => {}
            (_, Pending::DeleteChild(spis)) => {
                for spi in spis {
                    if let Some(i) = self.children.iter().position(|c| c.in_spi == spi) {
                        let c = self.children.remove(i);
                        ctx.out.event(Event::ChildSaDeleted {
                            sa: self.id,
                            inbound: c.in_spi,
                            outbound: c.out_spi,
                            superseded: c.state == ChildState::Superseded,
                        });
                    }
                }
            }
            (_, Pending::DeleteIke) => {
                let reason = if self.state == IkeState::Rekeyed {
                    DownReason::Rekeyed
                } else {
                    DownReason::Deleted
                };
                self.down(ctx, reason);
            }
            _ => ctx.out.counters.wrong_state += 1,
        }
    }

    // ------------------------------------------------------------------------------
    // CREATE_CHILD_SA (1.3)

    fn on_create_child_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let refuse = |s: &mut Self, ctx: &mut Ctx<'_, R>, n: NotifyPayload| {
            ctx.out.counters.errors_sent += 1;
            ctx.out.event(Event::Notify {
                sa: s.id,
                notify: n.notify_type,
                sent: true,
            });
            s.send_response(
                ctx,
                mid,
                ExchangeType::CREATE_CHILD_SA,
                vec![Payload::Notify(n)],
            );
        };
        let Some(ni) = get!(payloads, Nonce).map(|n| n.data.clone()) else {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
        };
        let is_ike = get!(payloads, Sa).is_some_and(|s| {
            s.proposals
                .first()
                .is_some_and(|p| p.protocol == ProtocolId::IKE)
        });
        if is_ike {
            return self.on_rekey_ike_request(ctx, now, mid, payloads, ni);
        }
        let Some(rekey) = find_notify(&payloads, NotifyType::REKEY_SA).and_then(|n| n.spi_u32())
        else {
            // A new additional CHILD SA is not something a site-to-site peer needs.
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::NO_ADDITIONAL_SAS, Vec::new()),
            );
        };
        // The peer names the SA by its own inbound SPI = our outbound SPI.
        let Some(old_idx) = self.children.iter().position(|c| {
            c.out_spi == rekey && matches!(c.state, ChildState::Installed | ChildState::Rekeying)
        }) else {
            let mut n = NotifyPayload::new(NotifyType::CHILD_SA_NOT_FOUND, Vec::new());
            n.protocol = ProtocolId::ESP;
            n.spi = rekey.to_be_bytes().to_vec();
            return refuse(self, ctx, n);
        };
        let old_in = self.children[old_idx].in_spi;
        let pfs_ke = get!(payloads, Ke).cloned();
        let (mut child, mut extra) = match self.select_child(ctx, now, &payloads, pfs_ke.is_some())
        {
            Ok(x) => x,
            Err(n) => return refuse(self, ctx, NotifyPayload::new(n, Vec::new())),
        };
        // The old SA does not count against the limit it replaces.
        let nr = nonce(ctx.rng);
        let mut shared = None;
        if let Some(ke) = &pfs_ke {
            let want = child.suite.pfs;
            match want {
                Some(g) if g.dh_group() == ke.group => {
                    let Ok(dh) = DhPrivate::generate(g, ctx.rng) else {
                        return;
                    };
                    let Ok(s) = dh.shared_secret(&ke.data) else {
                        return refuse(
                            self,
                            ctx,
                            NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                        );
                    };
                    shared = Some(s);
                    extra.push(Payload::Ke(KePayload {
                        group: g.dh_group(),
                        data: dh.public_value().to_vec(),
                    }));
                }
                Some(g) => return refuse(self, ctx, NotifyPayload::invalid_ke(g.dh_group().0)),
                None => {
                    return refuse(
                        self,
                        ctx,
                        NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
                    );
                }
            }
        } else if child.suite.pfs.is_some()
            && ctx.cfg.peers[self.peer.0]
                .esp_proposals
                .iter()
                .all(|s| s.pfs.is_some())
        {
            // We require PFS and the request has no KE.
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
        }
        child.mode = self.children[old_idx].mode;
        let mut resp = vec![Payload::Nonce(NoncePayload { data: nr.clone() })];
        resp.append(&mut extra);
        // Collision (2.8.1): we are rekeying the same SA ourselves.
        let colliding = self.children[old_idx].state == ChildState::Rekeying;
        if !self.send_response(ctx, mid, ExchangeType::CREATE_CHILD_SA, resp) {
            return;
        }
        let new_in = child.in_spi;
        if colliding {
            self.child_collision = Some(ChildCollision {
                old: old_in,
                their_new_in: new_in,
                nonces: [ni.clone(), nr.clone()],
            });
            // Install their SA as an additional one; the old stays until resolved.
            let _ =
                self.install_child_plain(ctx, child, shared.as_ref().map(|s| s.expose()), &ni, &nr);
        } else {
            child.replaces = Some(old_in);
            let _ = self.install_child(
                ctx,
                child,
                shared.as_ref().map(|s| s.expose()),
                false,
                Some(old_in),
                &ni,
                &nr,
            );
        }
    }

    /// Installs a CHILD SA created by the peer's request without superseding anything.
    fn install_child_plain<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        child: ChildSa,
        pfs: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), NotifyType> {
        self.install_child(ctx, child, pfs, false, None, ni, nr)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rekey_child_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        payloads: Vec<Payload>,
        old: u32,
        new_spi: u32,
        ni: Vec<u8>,
        dh: Option<DhPrivate>,
    ) {
        let restore = |s: &mut Self| {
            if let Some(c) = s
                .children
                .iter_mut()
                .find(|c| c.in_spi == old && c.state == ChildState::Rekeying)
            {
                c.state = ChildState::Installed;
            }
        };
        if let Some(err) = first_error(&payloads) {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: err,
                sent: false,
            });
            restore(self);
            // Try again later (2.25: TEMPORARY_FAILURE), unless the SA is gone.
            // Back off: 2 s, 4 s, 8 s ... up to the rekey interval.
            let cap = ctx.cfg.timers.child_rekey;
            if let Some(c) = self.children.iter_mut().find(|c| c.in_spi == old) {
                c.rekey_failures = c.rekey_failures.saturating_add(1);
                let wait = Duration::from_secs(1u64 << c.rekey_failures.min(20));
                c.rekey_at = now + wait.min(cap);
            }
            self.child_collision = None;
            return;
        }
        let Some(nr) = get!(payloads, Nonce).map(|n| n.data.clone()) else {
            restore(self);
            return;
        };
        let collision = self.child_collision.take().filter(|c| c.old == old);
        // In a collision our exchange's SA may be the redundant one (2.8.1): still
        // install it, then delete whichever SA the nonce rule says we must.
        let old_alive = self
            .children
            .iter()
            .any(|c| c.in_spi == old && c.state == ChildState::Rekeying);
        let rekeys = if collision.is_none() && old_alive {
            Some(old)
        } else {
            None
        };
        if let Err(n) = self.accept_child_answer(ctx, now, &payloads, new_spi, dh, rekeys, &ni, &nr)
        {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: n,
                sent: false,
            });
            restore(self);
            return;
        }
        match collision {
            None => {
                if old_alive {
                    let _ = self.request(ctx, now, Command::DeleteChild(old));
                }
            }
            Some(c) => {
                // Lowest of the four nonces marks the redundant SA (RFC 7296 2.8.1).
                let ours_min = ni.as_slice().min(nr.as_slice()).to_vec();
                let theirs_min = c.nonces[0].as_slice().min(c.nonces[1].as_slice()).to_vec();
                if ours_min < theirs_min {
                    // Ours is redundant: delete it; the peer deletes the old one.
                    if let Some(o) = self.children.iter_mut().find(|x| x.in_spi == old) {
                        o.state = ChildState::Superseded;
                    }
                    let _ = self.request(ctx, now, Command::DeleteChild(new_spi));
                    self.supersede(ctx, old, c.their_new_in);
                } else {
                    // Theirs is redundant (they delete it); we delete the old one.
                    self.supersede(ctx, old, new_spi);
                    if let Some(o) = self
                        .children
                        .iter_mut()
                        .find(|x| x.in_spi == c.their_new_in)
                    {
                        o.state = ChildState::Superseded;
                    }
                    let _ = self.request(ctx, now, Command::DeleteChild(old));
                }
            }
        }
    }

    /// Reports that `new` replaces `old` (after a collision was resolved).
    fn supersede<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, old: u32, new: u32) {
        let (Some(o), Some(n)) = (
            self.children.iter().find(|c| c.in_spi == old).cloned(),
            self.children.iter().find(|c| c.in_spi == new).cloned(),
        ) else {
            return;
        };
        if let Some(x) = self.children.iter_mut().find(|c| c.in_spi == old) {
            x.state = ChildState::Superseded;
        }
        ctx.out.event(Event::ChildSaSwitched {
            sa: self.id,
            old_inbound: o.in_spi,
            old_outbound: o.out_spi,
            new_inbound: n.in_spi,
            new_outbound: n.out_spi,
            grace: ctx.cfg.timers.rekey_grace,
        });
    }

    fn start_rekey_child<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        old: u32,
    ) -> Result<(), Error> {
        let pc = &ctx.cfg.peers[self.peer.0];
        let c = self
            .children
            .iter()
            .find(|c| c.in_spi == old && c.state == ChildState::Installed)
            .ok_or(Error::NoSuchChild(old))?;
        let mode = c.mode;
        let local_ts = c.local_ts.clone();
        let remote_ts = c.remote_ts.clone();
        let new_spi = random_spi32(ctx.rng);
        let ni = nonce(ctx.rng);
        let pfs = pc.esp_proposals.first().and_then(|s| s.pfs);
        let dh = match pfs {
            Some(g) => Some(DhPrivate::generate(g, ctx.rng).map_err(|_| Error::Crypto)?),
            None => None,
        };
        // REKEY_SA names the SA by the SPI we receive on (RFC 7296 1.3.3, 3.10.1).
        let mut rekey = NotifyPayload::rekey_sa(old);
        rekey.protocol = ProtocolId::ESP;
        let mut payloads = vec![Payload::Notify(rekey)];
        if mode == ChildMode::Transport {
            payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        payloads.push(Payload::Sa(SaPayload {
            proposals: pc
                .esp_proposals
                .iter()
                .enumerate()
                .map(|(i, s)| s.proposal(i as u8 + 1, new_spi, dh.is_some()))
                .collect(),
        }));
        payloads.push(Payload::Nonce(NoncePayload { data: ni.clone() }));
        if let Some(dh) = &dh {
            payloads.push(Payload::Ke(KePayload {
                group: dh.group().dh_group(),
                data: dh.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(TsPayload {
            selectors: local_ts,
        }));
        payloads.push(Payload::TsR(TsPayload {
            selectors: remote_ts,
        }));
        self.send_request(
            ctx,
            now,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Pending::RekeyChild {
                old,
                new_spi,
                nonce: ni,
                dh,
            },
        )?;
        if let Some(c) = self.children.iter_mut().find(|c| c.in_spi == old) {
            c.state = ChildState::Rekeying;
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------
    // IKE SA rekey (1.3.2, 2.8.2)

    fn start_rekey_ike<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) -> Result<(), Error> {
        let pc = &ctx.cfg.peers[self.peer.0];
        let suite = self.suite.ok_or(Error::NotEstablished)?;
        // The new SA is one more in the table until the old one is deleted.
        if ctx.total_sas >= ctx.cfg.limits.max_ike_sas {
            return Err(Error::TooManySas);
        }
        let new_spi = random_spi64(ctx.rng);
        let ni = nonce(ctx.rng);
        let dh = DhPrivate::generate(suite.group, ctx.rng).map_err(|_| Error::Crypto)?;
        // Offer the current suite first, then the others.
        let mut suites = vec![suite];
        suites.extend(
            pc.ike_proposals
                .iter()
                .filter(|s| **s != suite && s.group == suite.group),
        );
        let payloads = vec![
            Payload::Sa(SaPayload {
                proposals: suites
                    .iter()
                    .enumerate()
                    .map(|(i, s)| s.proposal(i as u8 + 1, new_spi.to_be_bytes().to_vec()))
                    .collect(),
            }),
            Payload::Nonce(NoncePayload { data: ni.clone() }),
            Payload::Ke(KePayload {
                group: suite.group.dh_group(),
                data: dh.public_value().to_vec(),
            }),
        ];
        self.send_request(
            ctx,
            now,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Pending::RekeyIke {
                new_spi,
                nonce: ni,
                dh,
            },
        )
    }

    /// Builds the IKE SA that replaces this one; children are moved by the caller.
    #[allow(clippy::too_many_arguments)]
    fn spawn_rekeyed<R: Rng>(
        &self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        suite: IkeSuite,
        shared: &[u8],
        we_initiated: bool,
        our_spi: u64,
        peer_spi: u64,
        ni: &[u8],
        nr: &[u8],
    ) -> Option<IkeSa> {
        let old = self.keys.as_ref()?;
        let old_prf = self.suite?.prf;
        let (spi_i, spi_r) = if we_initiated {
            (our_spi, peer_spi)
        } else {
            (peer_spi, our_spi)
        };
        let keys =
            IkeKeys::derive_rekey(old_prf, &old.sk_d, &suite, shared, ni, nr, spi_i, spi_r).ok()?;
        let sk = SkCipher::new(&suite, &keys, we_initiated).ok()?;
        let mut sa = IkeSa::blank(
            IkeSaId(our_spi),
            self.peer,
            we_initiated,
            self.local,
            self.remote,
            now,
        );
        sa.spi_i = spi_i;
        sa.spi_r = spi_r;
        sa.natt = self.natt;
        sa.nat = self.nat;
        sa.suite = Some(suite);
        sa.keys = Some(keys);
        sa.sk = Some(sk);
        sa.state = IkeState::Established;
        sa.ni = ni.to_vec();
        sa.nr = nr.to_vec();
        sa.last_heard = now;
        sa.created = now;
        sa.rekey_at = Some(now + ctx.cfg.timers.ike_rekey);
        Some(sa)
    }

    fn on_rekey_ike_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        mid: u32,
        payloads: Vec<Payload>,
        ni: Vec<u8>,
    ) {
        let refuse = |s: &mut Self, ctx: &mut Ctx<'_, R>, n: NotifyPayload| {
            ctx.out.counters.errors_sent += 1;
            s.send_response(
                ctx,
                mid,
                ExchangeType::CREATE_CHILD_SA,
                vec![Payload::Notify(n)],
            );
        };
        if ctx.total_sas >= ctx.cfg.limits.max_ike_sas {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new()),
            );
        }
        // 2.25: while our own CHILD rekey (not an IKE rekey) is in flight, ask to retry.
        if matches!(
            self.outstanding.as_ref().map(|o| &o.pending),
            Some(Pending::RekeyChild { .. })
        ) {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new()),
            );
        }
        let pc = &ctx.cfg.peers[self.peer.0];
        let (Some(sa_p), Some(ke)) = (get!(payloads, Sa), get!(payloads, Ke)) else {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
        };
        let Some(sel) = IkeSuite::select(&pc.ike_proposals, sa_p, Some(ke.group)) else {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
        };
        if sel.suite.group.dh_group() != ke.group {
            return refuse(
                self,
                ctx,
                NotifyPayload::invalid_ke(sel.suite.group.dh_group().0),
            );
        }
        let Ok(peer_spi) = <[u8; 8]>::try_from(sel.peer_spi.as_slice()).map(u64::from_be_bytes)
        else {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
        };
        let Ok(dh) = DhPrivate::generate(sel.suite.group, ctx.rng) else {
            return;
        };
        let Ok(shared) = dh.shared_secret(&ke.data) else {
            return refuse(
                self,
                ctx,
                NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
        };
        let nr = nonce(ctx.rng);
        let our_spi = random_spi64(ctx.rng);
        let Some(mut new) = self.spawn_rekeyed(
            ctx,
            now,
            sel.suite,
            shared.expose(),
            false,
            our_spi,
            peer_spi,
            &ni,
            &nr,
        ) else {
            return;
        };
        let resp = vec![
            Payload::Sa(SaPayload {
                proposals: vec![
                    sel.suite
                        .proposal(sel.number, our_spi.to_be_bytes().to_vec()),
                ],
            }),
            Payload::Nonce(NoncePayload { data: nr.clone() }),
            Payload::Ke(KePayload {
                group: sel.suite.group.dh_group(),
                data: dh.public_value().to_vec(),
            }),
        ];
        if !self.send_response(ctx, mid, ExchangeType::CREATE_CHILD_SA, resp) {
            return;
        }
        if matches!(
            self.outstanding.as_ref().map(|o| &o.pending),
            Some(Pending::RekeyIke { .. })
        ) {
            // Collision (2.8.2): keep both until our exchange completes.
            self.ike_collision = Some(IkeCollision {
                new_sa: new.id,
                nonces: [ni, nr],
            });
            ctx.spawned.push(new);
            return;
        }
        // The peer drives this rekey: children move now, the peer deletes the old SA.
        new.children = core::mem::take(&mut self.children);
        self.state = IkeState::Rekeyed;
        ctx.out.event(Event::IkeSaRekeyed {
            old: self.id,
            new: new.id,
        });
        ctx.spawned.push(new);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rekey_ike_response<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        payloads: Vec<Payload>,
        new_spi: u64,
        ni: Vec<u8>,
        dh: DhPrivate,
    ) {
        let collision = self.ike_collision.take();
        if let Some(err) = first_error(&payloads) {
            ctx.out.event(Event::Notify {
                sa: self.id,
                notify: err,
                sent: false,
            });
            if let Some(c) = collision {
                // Their rekey succeeded; it wins.
                self.adopt_peer_rekey(ctx, c.new_sa);
            } else {
                self.rekey_at = Some(now + Duration::from_secs(2));
            }
            return;
        }
        let pc = &ctx.cfg.peers[self.peer.0];
        let (Some(sa_p), Some(ke), Some(nr)) = (
            get!(payloads, Sa),
            get!(payloads, Ke),
            get!(payloads, Nonce),
        ) else {
            return;
        };
        let Some(sel) = IkeSuite::from_accepted(&pc.ike_proposals, sa_p) else {
            return;
        };
        let Ok(peer_spi) = <[u8; 8]>::try_from(sel.peer_spi.as_slice()).map(u64::from_be_bytes)
        else {
            return;
        };
        if ke.group != dh.group().dh_group() || sel.suite.group != dh.group() {
            return;
        }
        let Ok(shared) = dh.shared_secret(&ke.data) else {
            return;
        };
        let nr = nr.data.clone();
        let Some(mut new) = self.spawn_rekeyed(
            ctx,
            now,
            sel.suite,
            shared.expose(),
            true,
            new_spi,
            peer_spi,
            &ni,
            &nr,
        ) else {
            return;
        };
        if let Some(c) = collision {
            let ours_min = ni.as_slice().min(nr.as_slice()).to_vec();
            let theirs_min = c.nonces[0].as_slice().min(c.nonces[1].as_slice()).to_vec();
            if ours_min < theirs_min {
                // Ours is redundant (2.8.2): delete it; theirs takes the children, and
                // the peer deletes the old SA.
                new.queue.push_back(Command::DeleteIke);
                new.state = IkeState::Rekeyed;
                let id = new.id;
                ctx.spawned.push(new);
                let _ = id;
                self.adopt_peer_rekey(ctx, c.new_sa);
                return;
            }
            // Ours wins: the peer deletes theirs; we delete the old one.
        }
        new.children = core::mem::take(&mut self.children);
        ctx.out.event(Event::IkeSaRekeyed {
            old: self.id,
            new: new.id,
        });
        ctx.spawned.push(new);
        self.state = IkeState::Rekeyed;
        let _ = self.request(ctx, now, Command::DeleteIke);
    }

    /// After a collision that the peer's rekey won: hand the children to its SA (the
    /// endpoint moves them, see [`IkeSa::take_children_for`]).
    fn adopt_peer_rekey<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, new_sa: IkeSaId) {
        if let Some(n) = ctx.spawned.iter_mut().find(|s| s.id == new_sa) {
            n.children = core::mem::take(&mut self.children);
        } else {
            self.handoff = Some(new_sa);
        }
        self.state = IkeState::Rekeyed;
        ctx.out.event(Event::IkeSaRekeyed {
            old: self.id,
            new: new_sa,
        });
    }

    // ------------------------------------------------------------------------------
    // INFORMATIONAL (1.4)

    fn on_informational_request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        mid: u32,
        payloads: Vec<Payload>,
    ) {
        let mut resp = Vec::new();
        let mut ike_deleted = false;
        let mut deleted_children = Vec::new();
        for p in &payloads {
            match p {
                Payload::Delete(d) if d.protocol == ProtocolId::IKE => ike_deleted = true,
                Payload::Delete(d) if d.protocol == ProtocolId::ESP => {
                    let mut ours = Vec::new();
                    for spi in d.spis_u32().take(64) {
                        // The peer names its inbound SPIs = our outbound SPIs.
                        if let Some(i) = self.children.iter().position(|c| c.out_spi == spi) {
                            let c = self.children.remove(i);
                            // Simultaneous delete (1.4.1): our own DELETE is in flight,
                            // do not repeat its SPI.
                            let ours_in_flight = matches!(
                                self.outstanding.as_ref().map(|o| &o.pending),
                                Some(Pending::DeleteChild(s)) if s.contains(&c.in_spi)
                            );
                            if !ours_in_flight {
                                ours.push(c.in_spi);
                            }
                            deleted_children.push(c);
                        }
                    }
                    if !ours.is_empty() {
                        resp.push(Payload::Delete(DeletePayload::esp(&ours)));
                    }
                }
                Payload::Notify(n) if n.notify_type.is_error() => ctx.out.event(Event::Notify {
                    sa: self.id,
                    notify: n.notify_type,
                    sent: false,
                }),
                _ => {}
            }
        }
        if ike_deleted {
            self.send_response(ctx, mid, ExchangeType::INFORMATIONAL, Vec::new());
            let reason = if self.state == IkeState::Rekeyed {
                DownReason::Rekeyed
            } else {
                DownReason::DeletedByPeer
            };
            self.down(ctx, reason);
            return;
        }
        self.send_response(ctx, mid, ExchangeType::INFORMATIONAL, resp);
        for c in deleted_children {
            ctx.out.event(Event::ChildSaDeleted {
                sa: self.id,
                inbound: c.in_spi,
                outbound: c.out_spi,
                superseded: c.state == ChildState::Superseded,
            });
            // 2.8: a request to close the replaced SA shows the peer installed the new.
            for n in self.children.iter_mut() {
                if n.out_pending && n.replaces == Some(c.in_spi) {
                    n.out_pending = false;
                    ctx.out.event(Event::ChildSaOutboundReady {
                        sa: self.id,
                        inbound: n.in_spi,
                        outbound: n.out_spi,
                    });
                }
            }
        }
        let _ = now;
    }

    // ------------------------------------------------------------------------------
    // Commands and timers

    /// Queues a request (window size 1, RFC 7296 2.3) and sends it if the window is free.
    pub(crate) fn request<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        cmd: Command,
    ) -> Result<(), Error> {
        if !matches!(self.state, IkeState::Established | IkeState::Rekeyed) {
            return Err(Error::NotEstablished);
        }
        if self.queue.contains(&cmd) {
            return Ok(());
        }
        if self.queue.len() >= ctx.cfg.limits.max_pending {
            return Err(Error::Busy);
        }
        if self.outstanding.is_none() && self.queue.is_empty() {
            // The window is free: run it now and report its failure to the caller.
            return self.run(ctx, now, cmd);
        }
        self.queue.push_back(cmd);
        self.pump(ctx, now);
        Ok(())
    }

    /// Sends the next queued request if the window is free.
    pub(crate) fn pump<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) {
        while self.outstanding.is_none() && self.state != IkeState::Dead {
            let Some(cmd) = self.queue.pop_front() else {
                return;
            };
            // A queued command that cannot run any more (its CHILD SA went away, the
            // table filled up) is dropped; the timers retry what matters.
            let _ = self.run(ctx, now, cmd);
        }
    }

    /// One command, window free: (state, command) table.
    fn run<R: Rng>(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        now: Instant,
        cmd: Command,
    ) -> Result<(), Error> {
        {
            match (self.state, cmd) {
                (IkeState::Established, Command::RekeyChild(spi)) => {
                    self.start_rekey_child(ctx, now, spi)
                }
                (IkeState::Established, Command::RekeyIke) => self.start_rekey_ike(ctx, now),
                (IkeState::Established | IkeState::Rekeyed, Command::DeleteChild(spi)) => {
                    if let Some(c) = self.children.iter_mut().find(|c| c.in_spi == spi) {
                        if c.state != ChildState::Superseded {
                            c.state = ChildState::Deleting;
                        }
                        self.send_request(
                            ctx,
                            now,
                            ExchangeType::INFORMATIONAL,
                            vec![Payload::Delete(DeletePayload::esp(&[spi]))],
                            Pending::DeleteChild(vec![spi]),
                        )
                    } else {
                        Err(Error::NoSuchChild(spi))
                    }
                }
                (IkeState::Established | IkeState::Rekeyed, Command::DeleteIke) => {
                    if self.state == IkeState::Established {
                        self.state = IkeState::Deleting;
                    }
                    self.send_request(
                        ctx,
                        now,
                        ExchangeType::INFORMATIONAL,
                        vec![Payload::Delete(DeletePayload::ike())],
                        Pending::DeleteIke,
                    )
                }
                (IkeState::Established, Command::Dpd) => self.send_request(
                    ctx,
                    now,
                    ExchangeType::INFORMATIONAL,
                    Vec::new(),
                    Pending::Dpd,
                ),
                _ => Err(Error::NotEstablished),
            }
        }
    }

    /// Arms the clean-up deadlines of superseded CHILD SAs and of a rekeyed IKE SA whose
    /// DELETE the peer owes us (RFC 7296 2.8 leaves it to the peer; we bound the wait).
    pub(crate) fn stamp_deadlines(&mut self, now: Instant, cfg: &EndpointConfig) {
        let wait = cfg.timers.delete_wait;
        for c in &mut self.children {
            if c.state == ChildState::Superseded && c.expire_at.is_none() {
                c.expire_at = Some(now + wait);
            }
        }
        if self.state == IkeState::Rekeyed && self.linger_until.is_none() {
            self.linger_until = Some(now + wait);
        }
    }

    pub(crate) fn poll_timeout(&self, cfg: &EndpointConfig) -> Option<Instant> {
        match self.state {
            IkeState::Dead => None,
            IkeState::InitReplied => Some(self.created + cfg.timers.half_open_timeout),
            _ => {
                let mut t = self.outstanding.as_ref().map(|o| o.next);
                // Only a rekeyed IKE SA lingers (`handle_timeout` acts on nothing else).
                if self.state == IkeState::Rekeyed {
                    t = earliest(t, self.linger_until);
                }
                for c in &self.children {
                    t = earliest(t, c.expire_at);
                }
                if self.state == IkeState::Established && self.outstanding.is_none() {
                    t = earliest(t, self.rekey_at);
                    t = earliest(t, cfg.timers.dpd_interval.map(|d| self.last_heard + d));
                    for c in &self.children {
                        if c.state == ChildState::Installed {
                            t = earliest(t, Some(c.rekey_at));
                        }
                    }
                }
                t
            }
        }
    }

    /// Fires what is due at `now` (calling it early is harmless).
    pub(crate) fn handle_timeout<R: Rng>(&mut self, ctx: &mut Ctx<'_, R>, now: Instant) {
        let cfg = ctx.cfg;
        match self.state {
            IkeState::Dead => return,
            IkeState::InitReplied => {
                if now >= self.created + cfg.timers.half_open_timeout {
                    self.down(ctx, DownReason::Timeout);
                }
                return;
            }
            _ => {}
        }
        // Retransmission with exponential back-off (2.1, 2.4).
        if let Some(o) = self.outstanding.as_mut()
            && now >= o.next
        {
            if o.tries >= cfg.timers.retransmit_tries {
                let reason = if self.state == IkeState::InitSent {
                    DownReason::Timeout
                } else {
                    DownReason::PeerDead
                };
                if reason == DownReason::Timeout {
                    ctx.out.event(Event::PeerDead {
                        sa: self.id,
                        peer: self.peer,
                    });
                }
                self.down(ctx, reason);
                return;
            }
            let backoff = cfg
                .timers
                .retransmit_initial
                .saturating_mul(1u32 << o.tries.min(16))
                .min(cfg.timers.retransmit_max);
            o.tries += 1;
            o.next = now + backoff;
            let bytes = o.bytes.clone();
            ctx.out.counters.retransmits += 1;
            self.emit(ctx, &bytes);
        }
        // Bounded waits for the peer's DELETE.
        if self.state == IkeState::Rekeyed && self.linger_until.is_some_and(|t| now >= t) {
            self.down(ctx, DownReason::Rekeyed);
            return;
        }
        let expired: Vec<u32> = self
            .children
            .iter()
            .filter(|c| c.expire_at.is_some_and(|t| now >= t))
            .map(|c| c.in_spi)
            .collect();
        for spi in expired {
            if let Some(i) = self.children.iter().position(|c| c.in_spi == spi) {
                let c = self.children.remove(i);
                ctx.out.event(Event::ChildSaDeleted {
                    sa: self.id,
                    inbound: c.in_spi,
                    outbound: c.out_spi,
                    superseded: true,
                });
            }
        }
        if self.state != IkeState::Established || self.outstanding.is_some() {
            return;
        }
        if self.rekey_at.is_some_and(|t| now >= t) {
            self.rekey_at = Some(now + cfg.timers.ike_rekey);
            // Sent: the CHILD rekeys and DPD wait for it (they are not due while an
            // exchange is outstanding). Refused: go on, so that nothing else due is
            // left behind `now` (found by the ikev2_sa fuzz target).
            if self.request(ctx, now, Command::RekeyIke).is_ok() || self.outstanding.is_some() {
                return;
            }
        }
        let due: Vec<u32> = self
            .children
            .iter()
            .filter(|c| c.state == ChildState::Installed && now >= c.rekey_at)
            .map(|c| c.in_spi)
            .collect();
        for spi in due {
            if let Some(c) = self.children.iter_mut().find(|c| c.in_spi == spi) {
                c.rekey_at = now + cfg.timers.child_rekey;
            }
            let _ = self.request(ctx, now, Command::RekeyChild(spi));
        }
        if self.outstanding.is_none()
            && let Some(d) = cfg.timers.dpd_interval
            && now >= self.last_heard + d
            && self.request(ctx, now, Command::Dpd).is_err()
        {
            // Could not even queue it: try again one interval later, never spin.
            self.last_heard = now;
        }
    }
}
