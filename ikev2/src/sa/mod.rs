//! The IKE SA and CHILD SA state machines (RFC 7296 sections 1, 2) and the types the
//! [`Endpoint`](crate::Endpoint) exchanges with its caller: configuration, events,
//! errors and drop counters.

pub(crate) mod child;
pub(crate) mod cookie;
pub(crate) mod ike;
pub(crate) mod nat;
pub(crate) mod ts;

use core::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::crypto::{Encr, EspSuite, IkeSuite, Integ};
use crate::wire::{IdPayload, NotifyType, TrafficSelector};

/// Identifies one IKE SA of an [`Endpoint`](crate::Endpoint): our own SPI of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

/// Identifies one configured peer: its index in [`EndpointConfig::peers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub usize);

/// CHILD SA encapsulation mode (RFC 7296 1.3.1, USE_TRANSPORT_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChildMode {
    /// Tunnel mode (the default of RFC 7296).
    #[default]
    Tunnel,
    /// Transport mode, requested with a USE_TRANSPORT_MODE notify.
    Transport,
}

/// One peer we protect traffic with, by pre-shared key (RFC 7296 2.15).
#[derive(Clone)]
#[non_exhaustive]
pub struct PeerConfig {
    /// The peer's IKE address (we initiate to `remote_addr:ike_port`; as responder a
    /// request from this address selects this configuration). `None`: any address
    /// (responder only).
    pub remote_addr: Option<IpAddr>,
    /// Our address towards it (the source of the IKE messages we initiate; it enters the
    /// NAT detection hash, RFC 7296 2.23).
    pub local_addr: IpAddr,
    /// Our identity (IDi or IDr).
    pub local_id: IdPayload,
    /// The identity the peer must present.
    pub remote_id: IdPayload,
    /// The pre-shared key; zeroized on drop.
    pub psk: Zeroizing<Vec<u8>>,
    /// IKE proposals in order of preference; the first one's group goes in our KE.
    pub ike_proposals: Vec<IkeSuite>,
    /// ESP proposals in order of preference; `pfs` groups apply to CREATE_CHILD_SA.
    pub esp_proposals: Vec<EspSuite>,
    /// Our side of the traffic (TSi when we initiate).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side (TSr when we initiate).
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport mode.
    pub mode: ChildMode,
}

impl PeerConfig {
    /// A peer at `remote_addr` reached from `local_addr`, with identities, key and the
    /// two proposal sets this crate is tested with (AES-GCM-16-128/Curve25519 and
    /// AES-CBC-128 + HMAC-SHA2-256/ECP-256), tunnel mode between the two addresses.
    pub fn new(
        local_addr: IpAddr,
        remote_addr: IpAddr,
        local_id: IdPayload,
        remote_id: IdPayload,
        psk: &[u8],
    ) -> Self {
        PeerConfig {
            remote_addr: Some(remote_addr),
            local_addr,
            local_id,
            remote_id,
            psk: Zeroizing::new(psk.to_vec()),
            ike_proposals: vec![
                IkeSuite::aes128gcm16_prfsha256_x25519(),
                IkeSuite::aes128_sha256_ecp256(),
            ],
            esp_proposals: vec![
                EspSuite {
                    encr: Encr::AesGcm16_128,
                    integ: None,
                    esn: false,
                    pfs: None,
                },
                EspSuite {
                    encr: Encr::AesCbc128,
                    integ: Some(Integ::HmacSha256_128),
                    esn: false,
                    pfs: None,
                },
            ],
            local_ts: vec![TrafficSelector::host(local_addr, 0, None)],
            remote_ts: vec![TrafficSelector::host(remote_addr, 0, None)],
            mode: ChildMode::Tunnel,
        }
    }
}

impl core::fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("remote_addr", &self.remote_addr)
            .field("local_addr", &self.local_addr)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("psk", &"<redacted>")
            .field("ike_proposals", &self.ike_proposals)
            .field("esp_proposals", &self.esp_proposals)
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Table and message size limits. Every table that input can grow is bounded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Half-open (responder, IKE_SA_INIT answered, no IKE_AUTH yet) SAs at which every
    /// new IKE_SA_INIT must carry a valid COOKIE (RFC 7296 2.6). Default 16.
    pub cookie_threshold: usize,
    /// Half-open SAs beyond which new IKE_SA_INIT requests are dropped even with a
    /// valid cookie. Default 256.
    pub max_half_open: usize,
    /// IKE SAs in total (any state). Default 1024.
    pub max_ike_sas: usize,
    /// CHILD SAs per IKE SA (a rekey in progress counts the new one). Default 8.
    pub max_child_sas: usize,
    /// Largest datagram accepted; larger ones are dropped and counted. Default 8192.
    pub max_datagram: usize,
    /// Largest message we send; an exchange that would need more fails with
    /// [`Error::MessageTooLarge`] (no fragmentation, RFC 7383 is not implemented).
    /// Default 3000 (RFC 7296 2: SHOULD accept 3000).
    pub max_message: usize,
    /// Queued transmits; beyond, the oldest is dropped and counted. Default 1024.
    pub max_transmits: usize,
    /// Queued events; beyond, new events are dropped and counted. Default 1024.
    pub max_events: usize,
    /// Commands waiting for the window of one IKE SA (window size 1). Default 8.
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cookie_threshold: 16,
            max_half_open: 256,
            max_ike_sas: 1024,
            max_child_sas: 8,
            max_datagram: 8192,
            max_message: 3000,
            max_transmits: 1024,
            max_events: 1024,
            max_pending: 8,
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timers {
    /// First retransmission of a request (RFC 7296 2.1). Default 1 s.
    pub retransmit_initial: Duration,
    /// Back-off cap. Default 16 s.
    pub retransmit_max: Duration,
    /// Transmissions of a request before the peer is declared dead (the first
    /// included). Default 6 (1+2+4+8+16+16 = 47 s).
    pub retransmit_tries: u32,
    /// Send a liveness check (empty INFORMATIONAL, RFC 7296 1.4) after this long without
    /// any message from the peer. `None` disables it. Default 30 s.
    pub dpd_interval: Option<Duration>,
    /// Responder half-open SAs are removed after this long without IKE_AUTH. Default 30 s.
    pub half_open_timeout: Duration,
    /// Rekey the IKE SA after this long (we initiate the rekey). Default 4 h.
    pub ike_rekey: Duration,
    /// Rekey a CHILD SA after this long. Default 1 h.
    pub child_rekey: Duration,
    /// How long the superseded inbound SA of a rekeyed CHILD SA stays valid after the
    /// first packet on the new one (passed on in [`Event::ChildSaRekeyed`]). Default 10 s.
    pub rekey_grace: Duration,
    /// Rotation period of the cookie secret (RFC 7296 2.6). Default 5 min.
    pub cookie_rotation: Duration,
    /// How long a rekeyed IKE SA or a superseded CHILD SA waits for the peer's DELETE
    /// before it is forgotten anyway (bounds the tables when a peer never deletes).
    /// Default 30 s.
    pub delete_wait: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(16),
            retransmit_tries: 6,
            dpd_interval: Some(Duration::from_secs(30)),
            half_open_timeout: Duration::from_secs(30),
            ike_rekey: Duration::from_secs(4 * 3600),
            child_rekey: Duration::from_secs(3600),
            rekey_grace: Duration::from_secs(10),
            cookie_rotation: Duration::from_secs(300),
            delete_wait: Duration::from_secs(30),
        }
    }
}

/// Configuration of an [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// The peers; [`PeerId`] indexes this list.
    pub peers: Vec<PeerConfig>,
    /// Limits.
    pub limits: Limits,
    /// Timers.
    pub timers: Timers,
    /// IKE port (500).
    pub ike_port: u16,
    /// NAT traversal port (4500); messages on it carry the non-ESP marker (RFC 3948).
    pub natt_port: u16,
    /// Always move to the NAT-T port after IKE_SA_INIT, as if a NAT had been detected
    /// (RFC 7296 2.23 allows it; strongSwan's kernel-libipsec always does it).
    pub force_encap: bool,
}

impl EndpointConfig {
    /// A configuration with these peers and default limits and timers.
    pub fn new(peers: Vec<PeerConfig>) -> Self {
        EndpointConfig {
            peers,
            limits: Limits::default(),
            timers: Timers::default(),
            ike_port: 500,
            natt_port: 4500,
            force_encap: false,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address and port to send from (500 or 4500).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The UDP payload, with the four-byte non-ESP marker already in front when sent on
    /// the NAT-T port (RFC 3948 2.2).
    pub payload: Vec<u8>,
}

/// Keys and parameters of one CHILD SA, both directions, ready for `ipsec-lite`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildSaKeys {
    /// Inbound SA (our SPI, the peer's keys towards us).
    pub inbound: ipsec_lite::SaParams,
    /// Outbound SA (the peer's SPI).
    pub outbound: ipsec_lite::SaParams,
    /// Selector and mode for `ipsec_lite::Sad::add`, when the negotiated traffic
    /// selectors are a single address prefix with one protocol/port (or any) on each
    /// side; `None` otherwise (see `local_ts`/`remote_ts`).
    pub policy: Option<ipsec_lite::Policy>,
    /// Negotiated traffic selectors, our side.
    pub local_ts: Vec<TrafficSelector>,
    /// Negotiated traffic selectors, the peer's side.
    pub remote_ts: Vec<TrafficSelector>,
    /// Mode.
    pub mode: ChildMode,
    /// ESP in UDP (RFC 3948) on these ports (local, remote), because a NAT was detected
    /// or encapsulation forced.
    pub encap: Option<(u16, u16)>,
    /// False when we answered the exchange that created this SA: the peer installs its
    /// inbound half only when our response arrives, so sending on `outbound` at once
    /// can lose packets (RFC 7296 2.8). Start sending on it after the first packet
    /// authenticated on `inbound`, or on [`Event::ChildSaOutboundReady`], whichever
    /// comes first; until then keep sending on the SA it replaces (if any).
    pub outbound_ready: bool,
}

impl Drop for ChildSaKeys {
    /// The key material is wiped when the event (or a clone) is dropped; `ipsec-lite`
    /// keeps its own keyed copy.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for p in [&mut self.inbound, &mut self.outbound] {
            p.enc_key.zeroize();
            p.auth_key.zeroize();
        }
    }
}

/// Why an IKE SA went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// We deleted it (command or rekey).
    Deleted,
    /// The peer deleted it.
    DeletedByPeer,
    /// Replaced by a rekeyed IKE SA.
    Rekeyed,
    /// The peer stopped answering (retransmissions exhausted).
    PeerDead,
    /// Authentication failed (either side).
    AuthenticationFailed,
    /// Negotiation failed with this notify (ours or the peer's).
    Failed(NotifyType),
    /// A half-open SA timed out.
    Timeout,
}

/// What changed, for the application. Drained with
/// [`Endpoint::poll_event`](crate::Endpoint::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// IKE SA established and authenticated (RFC 7296 1.2).
    IkeSaUp {
        /// The SA.
        sa: IkeSaId,
        /// Configured peer.
        peer: PeerId,
        /// Peer address (after any NAT-T port change).
        remote: SocketAddr,
        /// Negotiated algorithms.
        suite: IkeSuite,
        /// We initiated it.
        initiator: bool,
    },
    /// The IKE SA was rekeyed (RFC 7296 1.3.2); its CHILD SAs now belong to `new`.
    IkeSaRekeyed {
        /// Old SA (going away).
        old: IkeSaId,
        /// New SA.
        new: IkeSaId,
    },
    /// The IKE SA is gone; its CHILD SAs were reported deleted before this event.
    IkeSaDown {
        /// The SA.
        sa: IkeSaId,
        /// Configured peer.
        peer: PeerId,
        /// Why.
        reason: DownReason,
    },
    /// A new CHILD SA: install both directions.
    ChildSaInstalled {
        /// IKE SA it belongs to.
        sa: IkeSaId,
        /// Keys and policy.
        keys: Box<ChildSaKeys>,
    },
    /// A CHILD SA was rekeyed (RFC 7296 2.8): install `new`, switch outbound traffic to
    /// `new.outbound` now, keep accepting on `old_inbound` for `grace` after the first
    /// packet on the new inbound SA (what `ipsec_lite::Sad::rekey_inbound` does), then
    /// drop it. `old_outbound` is no longer used.
    ChildSaRekeyed {
        /// IKE SA.
        sa: IkeSaId,
        /// The new CHILD SA.
        new: Box<ChildSaKeys>,
        /// Our SPI of the superseded SA.
        old_inbound: u32,
        /// The peer's SPI of the superseded SA.
        old_outbound: u32,
        /// Grace period for `old_inbound`.
        grace: Duration,
    },
    /// The peer asked to delete the CHILD SA that `inbound`'s SA replaced, so it has
    /// installed the new one (RFC 7296 2.8): switch outbound traffic to it now, if a
    /// packet on `inbound` did not already prompt that.
    ChildSaOutboundReady {
        /// IKE SA.
        sa: IkeSaId,
        /// Our SPI of the new CHILD SA.
        inbound: u32,
        /// The peer's SPI of the new CHILD SA.
        outbound: u32,
    },
    /// Two CHILD SAs both replaced one old SA (simultaneous rekey, RFC 7296 2.8.1); both
    /// were reported with [`Event::ChildSaInstalled`] / [`Event::ChildSaRekeyed`]. The
    /// survivor is `new_*`: send on `new_outbound` from now on, keep accepting on
    /// `old_inbound` for `grace`. The redundant one is deleted by a later
    /// [`Event::ChildSaDeleted`].
    ChildSaSwitched {
        /// IKE SA.
        sa: IkeSaId,
        /// Our SPI of the replaced SA.
        old_inbound: u32,
        /// The peer's SPI of the replaced SA.
        old_outbound: u32,
        /// Our SPI of the surviving SA.
        new_inbound: u32,
        /// The peer's SPI of the surviving SA.
        new_outbound: u32,
        /// Grace period for `old_inbound`.
        grace: Duration,
    },
    /// A CHILD SA was deleted: remove both directions. When `superseded`, it had been
    /// replaced by a rekey ([`Event::ChildSaRekeyed`]) and its inbound half may be left
    /// to finish its grace period (packets still in flight on it), as
    /// `ipsec_lite::Sad::rekey_inbound` arranges.
    ChildSaDeleted {
        /// IKE SA.
        sa: IkeSaId,
        /// Our SPI.
        inbound: u32,
        /// The peer's SPI.
        outbound: u32,
        /// It had been replaced by a rekeyed CHILD SA.
        superseded: bool,
    },
    /// The peer did not answer a request after all retransmissions (RFC 7296 2.4); the
    /// IKE SA and its CHILD SAs are removed (events follow).
    PeerDead {
        /// The SA.
        sa: IkeSaId,
        /// Configured peer.
        peer: PeerId,
    },
    /// The peer answered with an error notify, or we refused its request with one.
    Notify {
        /// The SA (0 for a refused IKE_SA_INIT that created none).
        sa: IkeSaId,
        /// The notify.
        notify: NotifyType,
        /// True when we sent it.
        sent: bool,
    },
}

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No peer with this id.
    #[error("no peer {0:?}")]
    NoSuchPeer(PeerId),
    /// The peer has no remote address to initiate to, or no proposals.
    #[error("peer {0:?} cannot be initiated (no address or proposals)")]
    NotInitiable(PeerId),
    /// No such IKE SA.
    #[error("no IKE SA {0:?}")]
    NoSuchSa(IkeSaId),
    /// No CHILD SA with this inbound SPI.
    #[error("no CHILD SA with SPI {0:#010x}")]
    NoSuchChild(u32),
    /// The IKE SA is not established.
    #[error("IKE SA not established")]
    NotEstablished,
    /// [`Limits::max_ike_sas`] reached.
    #[error("too many IKE SAs")]
    TooManySas,
    /// [`Limits::max_child_sas`] reached.
    #[error("too many CHILD SAs")]
    TooManyChildren,
    /// [`Limits::max_pending`] commands already wait for the window.
    #[error("too many queued requests")]
    Busy,
    /// The message would exceed [`Limits::max_message`].
    #[error("message of {0} bytes exceeds the limit")]
    MessageTooLarge(usize),
    /// A cryptographic operation failed (key generation, encryption).
    #[error("cryptographic failure")]
    Crypto,
}

/// Things dropped or refused, by reason (never reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Datagrams larger than [`Limits::max_datagram`].
    pub oversized: u64,
    /// Datagrams on the NAT-T port without the non-ESP marker (ESP or keepalives:
    /// not for us).
    pub not_ike: u64,
    /// Undecodable headers or messages.
    pub malformed: u64,
    /// Messages for an unknown IKE SA.
    pub unknown_spi: u64,
    /// Messages whose integrity check or decryption failed.
    pub integrity: u64,
    /// Requests with an unexpected message ID (neither the next nor the last one).
    pub bad_message_id: u64,
    /// Responses that match no outstanding request.
    pub unexpected_response: u64,
    /// Retransmitted requests answered from the response cache.
    pub retransmitted_requests: u64,
    /// Messages not valid in the SA's current state.
    pub wrong_state: u64,
    /// IKE_SA_INIT answered with a COOKIE request.
    pub cookies_sent: u64,
    /// IKE_SA_INIT with an invalid cookie.
    pub bad_cookie: u64,
    /// IKE_SA_INIT dropped: half-open or IKE SA limit.
    pub table_full: u64,
    /// Our retransmissions.
    pub retransmits: u64,
    /// Authentication failures.
    pub auth_failed: u64,
    /// Transmits dropped from a full queue.
    pub transmits_dropped: u64,
    /// Events dropped from a full queue.
    pub events_dropped: u64,
    /// Requests answered with an error notify.
    pub errors_sent: u64,
}

/// The bounded output queues and counters shared by every SA of an endpoint.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub transmits: std::collections::VecDeque<Transmit>,
    pub events: std::collections::VecDeque<Event>,
    pub counters: Counters,
    pub max_transmits: usize,
    pub max_events: usize,
}

impl Outputs {
    pub(crate) fn send(&mut self, t: Transmit) {
        if self.transmits.len() >= self.max_transmits {
            self.transmits.pop_front();
            self.counters.transmits_dropped += 1;
        }
        self.transmits.push_back(t);
    }

    pub(crate) fn event(&mut self, e: Event) {
        if self.events.len() >= self.max_events {
            self.counters.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }
}

/// A deadline helper: the earliest of optional instants.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
#[cfg(test)]
mod tests;
