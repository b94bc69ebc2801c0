//! An LCCE endpoint: every control connection and session of one node, behind the
//! sans-IO contract (`handle_*` in, `poll_*` out).
//!
//! Control messages are demultiplexed by the Control Connection ID in their header
//! (0 only for an SCCRQ, which creates a connection); data messages by their
//! Session ID. Over UDP, `A` is a socket address; in tests it is whatever names a
//! peer. Every table and queue that input can grow has a limit in [`Config`] and a
//! drop counter in [`EndpointStats`].
//!
//! Processing order for a received control message (sections 4.2, 4.3, 5.4.1, 7):
//! one decode (header and AVPs), connection lookup, digest check (before anything
//! in the message is used; a failure changes nothing), reliable delivery
//! (duplicates re-acked, out-of-order held), then for each message delivered in
//! order: AVP unhiding, validation (unknown mandatory or missing required AVP ends
//! the session with a CDN or the connection with a StopCCN), and the state machines.
//!
//! The code is split along its seams:
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | the endpoint, its public types, commands, output and timers, tables |
//! | `receive.rs` | received control messages, connection state machine glue |
//! | `session_msgs.rs` | session messages and the session state machine glue |
//! | `build.rs` | building, queueing and encoding outgoing control messages |
//! | `data.rs` | the data path: per-session header templates, in place |

mod build;
mod data;
mod receive;
mod session_msgs;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

use rand_core::Rng;
use thiserror::Error;

use super::auth::{self, Keys};
use super::config::Config;
use super::connection::{ConnInput, ConnState, Connection};
use super::event::Event;
use super::reliable::{Reliable, ReliableStats};
use super::session::{CallKind, Input, Session, SessionState};
use crate::avp::{
    Avp, AvpValue, CircuitErrors, CircuitStatus, DataSequencing, L2SublayerType, PwType,
    ResultCode, result,
};
use crate::data::{Cookie, CookieLen};
use crate::error::EncodeError;
use crate::message::MessageType;

use build::session_ids;
use data::DataTable;
pub use data::SessionTemplates;

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// [`Config::max_connections`] connections exist already.
    #[error("connection limit of {0} reached")]
    ConnectionLimit(usize),
    /// [`Config::max_sessions`] sessions exist already.
    #[error("session limit of {0} reached")]
    SessionLimit(usize),
    /// No such control connection, or it is closing.
    #[error("no usable control connection {0:#010x}")]
    NoConnection(u32),
    /// No such session.
    #[error("no session {0:#010x}")]
    NoSession(u32),
    /// The session is not established.
    #[error("session {0:#010x} is not established")]
    NotEstablished(u32),
    /// The pseudowire type is not in [`Config::pw_types`].
    #[error("pseudowire type {0} is not configured")]
    PwType(PwType),
    /// The reliable send queue of the connection is full.
    #[error("send queue of connection {0:#010x} is full")]
    QueueFull(u32),
    /// A data packet could not be encapsulated (too little headroom).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// One datagram to send: where to, and its bytes.
///
/// [`Endpoint::poll_transmit`] yields control messages as `Transmit<A>` (owning
/// their bytes, `B = Vec<u8>`); [`Endpoint::encapsulate`] yields data packets as
/// `Transmit<&A, &[u8]>`, borrowing the peer's address from the endpoint and the
/// bytes from the caller's buffer (nothing is cloned per packet).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit<A, B = Vec<u8>> {
    /// The peer to send to (a socket address over UDP).
    pub destination: A,
    /// The UDP payload (or IP payload of protocol 115).
    pub contents: B,
}

/// A data packet for an established session, after its header was checked
/// against the session's receive template (Session ID, cookie in constant time,
/// sequence number if any). The payload is borrowed from the received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataIn<'a> {
    /// Our Session ID.
    pub session_id: u32,
    /// The payload (an Ethernet frame for Ethernet pseudowires), borrowed.
    pub payload: &'a [u8],
    /// The sequence number from the Default L2-Specific Sublayer, if sequenced.
    pub sequence: Option<u32>,
}

/// Why [`Endpoint::handle_data`] dropped a data packet; each reason has its
/// counter in [`EndpointStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum DataDrop {
    /// Too short for its session's header, or otherwise not a data packet
    /// ([`EndpointStats::data_malformed`]).
    #[error("malformed data packet")]
    Malformed,
    /// No established session has the packet's Session ID
    /// ([`EndpointStats::data_unknown_session`]).
    #[error("no established session for the Session ID")]
    UnknownSession,
    /// The session exists but the packet came from another address than the
    /// session's peer ([`EndpointStats::data_wrong_peer`]): each session is
    /// bound to its control connection's peer.
    #[error("data from another address than the session's peer")]
    WrongPeer,
    /// The cookie does not match ([`EndpointStats::data_bad_cookie`]).
    #[error("wrong cookie")]
    BadCookie,
    /// Sequenced and old or duplicate (section 4.6,
    /// [`EndpointStats::data_out_of_order`]).
    #[error("old or duplicate sequence number")]
    OutOfOrder,
}

/// A request to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRequest {
    /// Pseudowire type; must be in [`Config::pw_types`].
    pub pw_type: PwType,
    /// Remote End ID: names the circuit at the peer (section 5.4.4).
    pub remote_end_id: Vec<u8>,
    /// Outgoing call (OCRQ) instead of incoming call (ICRQ).
    pub outgoing: bool,
}

impl SessionRequest {
    /// An Ethernet pseudowire (RFC 4719) by incoming call.
    pub fn ethernet(remote_end_id: impl Into<Vec<u8>>) -> Self {
        SessionRequest {
            pw_type: PwType::ETHERNET,
            remote_end_id: remote_end_id.into(),
            outgoing: false,
        }
    }

    /// The same request by outgoing call (OCRQ) instead.
    pub fn outgoing(mut self) -> Self {
        self.outgoing = true;
        self
    }

    /// The same request with another pseudowire type.
    pub fn with_pw_type(mut self, pw_type: PwType) -> Self {
        self.pw_type = pw_type;
        self
    }
}

/// Drop and error counters of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Control datagrams that did not decode.
    pub malformed: u64,
    /// Control messages whose digest did not verify (or that lacked one).
    pub auth_failed: u64,
    /// Control messages for a CCID we do not have.
    pub unknown_connection: u64,
    /// SCCRQs dropped at [`Config::max_connections`].
    pub connection_limit: u64,
    /// SCCRQs dropped because their source already holds
    /// [`Config::max_connections_per_peer`] connections.
    pub peer_connection_limit: u64,
    /// SCCRQs dropped unanswered from a source not on the allow-list
    /// ([`Config::allowed_peers_only`], [`Endpoint::allow_peer`]).
    pub refused_peer: u64,
    /// Out-of-order control messages not held because the connection's byte
    /// budget ([`crate::ReliableConfig::max_held_bytes`]) was spent.
    pub held_budget_exceeded: u64,
    /// Session requests refused at [`Config::max_sessions`].
    pub session_limit: u64,
    /// Session messages naming a session we do not have.
    pub unknown_session: u64,
    /// Events dropped at [`Config::max_events`].
    pub events_dropped: u64,
    /// Datagrams dropped at [`Config::max_transmits`].
    pub transmits_dropped: u64,
    /// Messages refused by a full reliable send queue.
    pub send_queue_full: u64,
    /// Data packets for unknown or not established sessions.
    pub data_unknown_session: u64,
    /// Data packets with a wrong cookie.
    pub data_bad_cookie: u64,
    /// Data packets for an established session from another address than the
    /// session's peer (its control connection's peer): [`DataDrop::WrongPeer`].
    pub data_wrong_peer: u64,
    /// Data packets that did not decode.
    pub data_malformed: u64,
    /// Sequenced data packets dropped as old or duplicate.
    pub data_out_of_order: u64,
}

/// What the application may know about one control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo<A> {
    /// Our Control Connection ID.
    pub ccid: u32,
    /// The peer's Control Connection ID (0 until its SCCRQ/SCCRP arrived).
    pub remote_ccid: u32,
    /// The peer.
    pub peer: A,
    /// Where the state machine stands.
    pub state: ConnState,
    /// The peer's Host Name, once heard.
    pub peer_host_name: Vec<u8>,
    /// The peer's Router ID, once heard.
    pub peer_router_id: u32,
    /// Reliable delivery counters.
    pub reliable: ReliableStats,
    /// Ns of the next new message we send.
    pub next_ns: u16,
    /// Ns we expect next from the peer (our Nr).
    pub next_expected: u16,
    /// Messages sent or queued and not yet acknowledged.
    pub unacknowledged: usize,
}

/// What the application may know about one session: its IDs and what was
/// negotiated for the data path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Our Session ID: the peer puts it in data packets to us.
    pub local_id: u32,
    /// The peer's Session ID (0 until known).
    pub remote_id: u32,
    /// Our CCID of the control connection carrying the session.
    pub ccid: u32,
    /// Where the state machine stands.
    pub state: SessionState,
    /// Pseudowire type.
    pub pw_type: PwType,
    /// Remote End ID (the circuit name), as sent or received.
    pub remote_end_id: Vec<u8>,
    /// The cookie we assigned: data from the peer must carry it.
    pub local_cookie: Cookie,
    /// The cookie the peer assigned: our data to it carries it.
    pub remote_cookie: Cookie,
    /// Whether the peer last reported its circuit active.
    pub remote_circuit_active: bool,
}

impl SessionInfo {
    fn of(s: &Session) -> Self {
        SessionInfo {
            local_id: s.local_id,
            remote_id: s.remote_id,
            ccid: s.ccid,
            state: s.state,
            pw_type: s.pw_type,
            remote_end_id: s.remote_end_id.clone(),
            local_cookie: s.local_cookie,
            remote_cookie: s.remote_cookie,
            remote_circuit_active: s.remote_circuit_active,
        }
    }
}

/// Hashes the 32-bit IDs we choose at random (CCIDs, Session IDs) with one
/// multiplication: no attacker picks the keys stored, and a lookup of any key costs
/// a probe at most, so SipHash's cost buys nothing on the data path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

/// The events waiting for [`Endpoint::poll_event`], bounded by
/// [`Config::max_events`]. A field of its own so that code holding a connection or
/// session borrowed from the tables can still report.
struct EventQueue<A> {
    queue: VecDeque<Event<A>>,
    max: usize,
}

impl<A> EventQueue<A> {
    fn push(&mut self, stats: &mut EndpointStats, event: Event<A>) {
        if self.queue.len() >= self.max {
            stats.events_dropped += 1;
        } else {
            self.queue.push_back(event);
        }
    }
}

/// Queues `conn` for output processing at the next flush (once).
fn mark<A>(dirty: &mut Vec<u32>, conn: &mut Connection<A>) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(conn.local_ccid);
    }
}

/// A map keyed by an ID we chose.
pub(crate) type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// One LCCE: control connections, sessions, and the data path.
///
/// ```
/// use l2tpv3::{Config, Endpoint, Event, SessionRequest};
/// use rand::SeedableRng;
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let rng = |s| rand::rngs::StdRng::seed_from_u64(s);
/// let mut a = Endpoint::new(Config::default(), rng(1));
/// let mut b = Endpoint::new(Config::default(), rng(2));
/// let ccid = a.connect(now, "b").unwrap();
/// let sid = a.open_session(now, ccid, SessionRequest::ethernet("pw1")).unwrap();
/// // Shuttle datagrams until both sides are quiet.
/// loop {
///     let mut moved = false;
///     while let Some(t) = a.poll_transmit() { b.handle_datagram(now, "a", &t.contents); moved = true; }
///     while let Some(t) = b.poll_transmit() { a.handle_datagram(now, "b", &t.contents); moved = true; }
///     if !moved { break; }
/// }
/// let up = std::iter::from_fn(|| a.poll_event())
///     .any(|e| matches!(e, Event::SessionUp { session_id, .. } if session_id == sid));
/// assert!(up);
/// ```
pub struct Endpoint<A, R> {
    config: Config,
    keys: Option<Keys>,
    rng: R,
    conns: IdMap<Connection<A>>,
    /// `(peer, peer's CCID) -> our CCID`, to route SCCRQ retransmissions.
    by_peer: HashMap<(A, u32), u32>,
    sessions: IdMap<Session>,
    /// The data path of each established session, indexed by our Session ID.
    data: DataTable<A>,
    events: EventQueue<A>,
    transmits: VecDeque<Transmit<A>>,
    dirty: Vec<u32>,
    /// Connections held per peer address: `(all, initiated by us)`; an entry
    /// exists while a connection with the peer does (so it is bounded by the
    /// connection table).
    peer_conns: HashMap<A, (usize, usize)>,
    /// Peers whose SCCRQs are answered with [`Config::allowed_peers_only`]; set
    /// by the application.
    allowed: HashSet<A>,
    serial: u32,
    stats: EndpointStats,
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// A new endpoint; all randomness (CCIDs, session IDs, cookies, nonces, tie
    /// breakers, random vectors) comes from `rng`.
    pub fn new(config: Config, rng: R) -> Self {
        let keys = config.secret.as_deref().map(Keys::derive);
        let data = DataTable::new(config.max_sessions);
        let max_events = config.max_events;
        Endpoint {
            config,
            keys,
            rng,
            conns: IdMap::default(),
            by_peer: HashMap::new(),
            sessions: IdMap::default(),
            data,
            events: EventQueue {
                queue: VecDeque::new(),
                max: max_events,
            },
            transmits: VecDeque::new(),
            dirty: Vec::new(),
            peer_conns: HashMap::new(),
            allowed: HashSet::new(),
            serial: 0,
            stats: EndpointStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Drop and error counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Adds `peer` to the allow-list: with [`Config::allowed_peers_only`], SCCRQs
    /// are answered only from listed peers (and from peers we connected to).
    /// Returns whether it was not listed yet.
    pub fn allow_peer(&mut self, peer: A) -> bool {
        self.allowed.insert(peer)
    }

    /// Removes `peer` from the allow-list (its existing connections stay).
    /// Returns whether it was listed.
    pub fn disallow_peer(&mut self, peer: &A) -> bool {
        self.allowed.remove(peer)
    }

    /// Whether `peer` is on the allow-list.
    pub fn is_allowed_peer(&self, peer: &A) -> bool {
        self.allowed.contains(peer)
    }

    /// Number of control connections held (any state).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of sessions held (any state).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A control connection's state.
    pub fn connection_state(&self, ccid: u32) -> Option<ConnState> {
        self.conns.get(&ccid).map(|c| c.state)
    }

    /// What is known about a control connection.
    pub fn connection(&self, ccid: u32) -> Option<ConnectionInfo<A>> {
        self.conns.get(&ccid).map(|c| ConnectionInfo {
            ccid,
            remote_ccid: c.remote_ccid,
            peer: c.peer.clone(),
            state: c.state,
            peer_host_name: c.peer_host_name.clone(),
            peer_router_id: c.peer_router_id,
            reliable: c.reliable.stats(),
            next_ns: c.reliable.next_ns(),
            next_expected: c.reliable.next_expected(),
            unacknowledged: c.reliable.unacknowledged(),
        })
    }

    /// What is known about every control connection, in no particular order.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionInfo<A>> + '_ {
        self.conns.keys().filter_map(|&ccid| self.connection(ccid))
    }

    /// What is known about a session (its IDs and negotiated parameters).
    pub fn session(&self, session_id: u32) -> Option<SessionInfo> {
        self.sessions.get(&session_id).map(SessionInfo::of)
    }

    /// Every session, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.values().map(SessionInfo::of)
    }

    // ---------------------------------------------------------------- commands

    /// Opens a control connection to `peer` (sends SCCRQ). Returns our CCID.
    pub fn connect(&mut self, now: Instant, peer: A) -> Result<u32, CommandError> {
        if self.conns.len() >= self.config.max_connections {
            self.stats.connection_limit += 1;
            return Err(CommandError::ConnectionLimit(self.config.max_connections));
        }
        let ccid = self.new_connection(now, peer, true);
        self.conn_input(now, ccid, ConnInput::Open, None);
        self.flush(now);
        Ok(ccid)
    }

    /// Opens a session on a connection (ICRQ or OCRQ, once the connection is up).
    /// Returns our Session ID.
    pub fn open_session(
        &mut self,
        now: Instant,
        ccid: u32,
        request: SessionRequest,
    ) -> Result<u32, CommandError> {
        if !self.config.pw_types.contains(&request.pw_type) {
            return Err(CommandError::PwType(request.pw_type));
        }
        let (established, queued) = match self.conns.get(&ccid) {
            Some(c) if c.state != ConnState::Closing => (
                c.state == ConnState::Established,
                c.reliable.unacknowledged(),
            ),
            _ => return Err(CommandError::NoConnection(ccid)),
        };
        if established && queued >= self.config.reliable.max_send_queue {
            self.stats.send_queue_full += 1;
            return Err(CommandError::QueueFull(ccid));
        }
        if self.sessions.len() >= self.config.max_sessions {
            self.stats.session_limit += 1;
            return Err(CommandError::SessionLimit(self.config.max_sessions));
        }
        let kind = if request.outgoing {
            CallKind::OutgoingSender
        } else {
            CallKind::IncomingSender
        };
        self.serial = self.serial.wrapping_add(1);
        let Some(sid) = self.new_session(
            ccid,
            kind,
            request.pw_type,
            request.remote_end_id,
            self.serial,
        ) else {
            self.stats.session_limit += 1;
            return Err(CommandError::SessionLimit(self.sessions.len()));
        };
        let open = if request.outgoing {
            Input::OpenOutgoing
        } else {
            Input::OpenIncoming
        };
        self.session_input(sid, open, None);
        if established {
            self.session_input(sid, Input::TunnelUp, None);
        }
        self.flush(now);
        Ok(sid)
    }

    /// Closes a session (sends CDN with result 3, administrative).
    pub fn close_session(&mut self, now: Instant, session_id: u32) -> Result<(), CommandError> {
        if !self.sessions.contains_key(&session_id) {
            return Err(CommandError::NoSession(session_id));
        }
        let rc = ResultCode::new(result::CDN_ADMIN);
        self.session_input(session_id, Input::Close, Some(rc));
        self.flush(now);
        Ok(())
    }

    /// Closes a control connection with a StopCCN carrying `result` (for example
    /// [`result::STOPCCN_GENERAL_CLEAR`]); its sessions are cleared.
    pub fn close_connection(
        &mut self,
        now: Instant,
        ccid: u32,
        result: ResultCode,
    ) -> Result<(), CommandError> {
        if !self.conns.contains_key(&ccid) {
            return Err(CommandError::NoConnection(ccid));
        }
        self.conn_input(now, ccid, ConnInput::Close, Some(result));
        self.flush(now);
        Ok(())
    }

    /// Reports our circuit status to the peer (SLI with a Circuit Status AVP).
    pub fn set_circuit_status(
        &mut self,
        now: Instant,
        session_id: u32,
        active: bool,
    ) -> Result<(), CommandError> {
        let s = self.established(session_id)?;
        let (ccid, mut avps) = (s.ccid, session_ids(s));
        avps.push(Avp::new(AvpValue::CircuitStatus(CircuitStatus {
            active,
            new: false,
        })));
        self.queue(ccid, MessageType::Sli, avps)?;
        self.flush(now);
        Ok(())
    }

    /// Reports WAN errors to the peer (WEN with a Circuit Errors AVP).
    pub fn send_wan_error(
        &mut self,
        now: Instant,
        session_id: u32,
        errors: CircuitErrors,
    ) -> Result<(), CommandError> {
        let s = self.established(session_id)?;
        let (ccid, mut avps) = (s.ccid, session_ids(s));
        avps.push(Avp::new(AvpValue::CircuitErrors(errors)));
        self.queue(ccid, MessageType::Wen, avps)?;
        self.flush(now);
        Ok(())
    }

    fn established(&self, session_id: u32) -> Result<&Session, CommandError> {
        match self.sessions.get(&session_id) {
            None => Err(CommandError::NoSession(session_id)),
            Some(s) if s.state != SessionState::Established => {
                Err(CommandError::NotEstablished(session_id))
            }
            Some(s) => Ok(s),
        }
    }

    // ---------------------------------------------------------------- output

    /// Admits waiting sessions and encodes what reliable delivery releases, for
    /// every connection touched since the last flush.
    fn flush(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.dirty);
        for ccid in dirty {
            if self.conns.get(&ccid).is_some_and(|c| !c.waiting.is_empty()) {
                self.admit_waiting(ccid);
            }
            let Some(conn) = self.conns.get_mut(&ccid) else {
                continue;
            };
            conn.dirty = false;
            while let Some(tx) = conn.reliable.poll_transmit(now) {
                let Some(bytes) = build::encode(&self.config, self.keys.as_ref(), conn, tx) else {
                    continue;
                };
                if self.transmits.len() >= self.config.max_transmits {
                    self.stats.transmits_dropped += 1;
                } else {
                    self.transmits.push_back(Transmit {
                        destination: conn.peer.clone(),
                        contents: bytes,
                    });
                }
            }
            if conn.reliable.is_failed() {
                self.conn_input(now, ccid, ConnInput::TransportFailed, None);
            }
        }
    }

    /// The next control message to send, and where to. Drain after every input.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.transmits.pop_front()
    }

    /// The next event for the application. Drain after every input.
    pub fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.queue.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must next be called; `None` when no timer
    /// runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .values()
            .flat_map(|c| {
                let hello = (c.state == ConnState::Established).then_some(c.next_hello);
                [c.reliable.poll_timeout(), hello, c.hold_until]
            })
            .flatten()
            .min()
    }

    /// Runs every timer due at `now`: retransmissions, HELLO, StopCCN hold expiry.
    ///
    /// Calling it early (before [`Endpoint::poll_timeout`]) or more than once for
    /// the same `now` is harmless: only timers that are due fire, so an early call
    /// sends nothing, reports nothing and changes no state.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ccids: Vec<u32> = self.conns.keys().copied().collect();
        for ccid in ccids {
            let Some(conn) = self.conns.get_mut(&ccid) else {
                continue;
            };
            if conn.hold_until.is_some_and(|t| t <= now) {
                conn.hold_until = None;
                self.conn_input(now, ccid, ConnInput::HoldExpired, None);
                continue;
            }
            conn.reliable.handle_timeout(now);
            if conn.reliable.is_failed() {
                self.conn_input(now, ccid, ConnInput::TransportFailed, None);
                continue;
            }
            mark(&mut self.dirty, conn);
            if conn.state == ConnState::Established && conn.next_hello <= now {
                // Section 4.4: a HELLO after a period of silence; its reliable
                // delivery detects a dead peer.
                conn.next_hello = now + self.config.hello_interval;
                if conn.reliable.is_idle() {
                    let _ = self.queue(ccid, MessageType::Hello, Vec::new());
                }
            }
        }
        self.flush(now);
    }

    // ---------------------------------------------------------------- tables

    fn emit(&mut self, event: Event<A>) {
        self.events.push(&mut self.stats, event);
    }

    fn new_connection(&mut self, now: Instant, peer: A, initiator: bool) -> u32 {
        let ccid = loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.conns.contains_key(&id) {
                break id;
            }
        };
        let local_nonce = if self.keys.is_some() {
            auth::new_nonce(&mut self.rng).to_vec()
        } else {
            Vec::new()
        };
        let tie_breaker = (initiator && self.config.tie_breaker).then(|| self.rng.next_u64());
        let count = self.peer_conns.entry(peer.clone()).or_default();
        count.0 += 1;
        count.1 += usize::from(initiator);
        self.conns.insert(
            ccid,
            Connection {
                state: ConnState::Idle,
                local_ccid: ccid,
                remote_ccid: 0,
                peer,
                reliable: Reliable::new(self.config.reliable.clone()),
                local_nonce,
                remote_nonce: None,
                tie_breaker,
                peer_host_name: Vec::new(),
                peer_router_id: 0,
                pw_types: Vec::new(),
                sessions: Default::default(),
                next_hello: now + self.config.hello_interval,
                hold_until: None,
                peer_result: None,
                initiator,
                tie_rejected: false,
                down_reported: false,
                dirty: false,
                waiting: VecDeque::new(),
            },
        );
        ccid
    }

    fn remove_connection(&mut self, ccid: u32) {
        if let Some(c) = self.conns.remove(&ccid) {
            if let Some(count) = self.peer_conns.get_mut(&c.peer) {
                count.0 -= 1;
                count.1 -= usize::from(c.initiator);
                if count.0 == 0 {
                    self.peer_conns.remove(&c.peer);
                }
            }
            self.by_peer.remove(&(c.peer, c.remote_ccid));
        }
    }

    /// Connections held with `peer`: `(all, initiated by us)`.
    fn peer_connections(&self, peer: &A) -> (usize, usize) {
        self.peer_conns.get(peer).copied().unwrap_or_default()
    }

    fn new_session(
        &mut self,
        ccid: u32,
        kind: CallKind,
        pw_type: PwType,
        remote_end_id: Vec<u8>,
        serial: u32,
    ) -> Option<u32> {
        // The low bits of the ID index the data table (see `data.rs`); the rest
        // is random.
        let slot = self.data.free_slot()?;
        let sid = loop {
            let id = self.data.id(slot, self.rng.next_u32());
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.data.reserve(sid);
        let local_cookie = match self.config.cookie_len {
            CookieLen::Zero => Cookie::None,
            CookieLen::Four => {
                let mut c = [0u8; 4];
                self.rng.fill_bytes(&mut c);
                Cookie::Four(c)
            }
            CookieLen::Eight => {
                let mut c = [0u8; 8];
                self.rng.fill_bytes(&mut c);
                Cookie::Eight(c)
            }
        };
        self.sessions.insert(
            sid,
            Session {
                local_id: sid,
                remote_id: 0,
                ccid,
                kind,
                state: SessionState::Idle,
                pw_type,
                remote_end_id,
                serial,
                local_cookie,
                remote_cookie: Cookie::None,
                local_sublayer: self.config.sublayer,
                remote_sublayer: L2SublayerType::NONE,
                local_sequencing: self.config.data_sequencing,
                remote_sequencing: DataSequencing::NONE,
                remote_circuit_active: true,
                peer_result: None,
                last_wan_errors: None,
            },
        );
        if let Some(c) = self.conns.get_mut(&ccid) {
            c.sessions.insert(sid);
        }
        Some(sid)
    }

    fn drop_session(&mut self, sid: u32, result: Option<ResultCode>, by_peer: bool) {
        let Some(s) = self.sessions.remove(&sid) else {
            return;
        };
        self.data.release(sid);
        if let Some(c) = self.conns.get_mut(&s.ccid) {
            c.sessions.remove(&sid);
        }
        self.emit(Event::SessionDown {
            ccid: s.ccid,
            session_id: sid,
            result,
            by_peer,
        });
    }

    fn clear_sessions(&mut self, ccid: u32) {
        let Some(c) = self.conns.get_mut(&ccid) else {
            return;
        };
        let sids = std::mem::take(&mut c.sessions);
        for sid in sids {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.state = SessionState::Closed;
            }
            self.drop_session(sid, None, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    type Ep = Endpoint<&'static str, StdRng>;

    fn pair() -> (Ep, Ep, Instant) {
        let now = Instant::now();
        let a = Endpoint::new(Config::default(), StdRng::seed_from_u64(1));
        let b = Endpoint::new(Config::default(), StdRng::seed_from_u64(2));
        (a, b, now)
    }

    /// Everything observable from outside: timers, queues, counters, tables.
    fn snapshot(e: &Ep) -> (Option<Instant>, EndpointStats, usize, usize, usize, usize) {
        (
            e.poll_timeout(),
            e.stats(),
            e.connection_count(),
            e.session_count(),
            e.transmits.len(),
            e.events.queue.len(),
        )
    }

    #[test]
    fn early_or_repeated_handle_timeout_is_harmless() {
        let (mut a, _, now) = pair();
        // Nothing running: no timer, nothing happens.
        a.handle_timeout(now);
        assert!(a.poll_transmit().is_none() && a.poll_event().is_none());
        let ccid = a.connect(now, "b").unwrap();
        let sccrq = a.poll_transmit().expect("SCCRQ");
        let due = a.poll_timeout().expect("retransmission timer");
        assert!(due > now);
        let before = snapshot(&a);
        let info = a.connection(ccid);
        // Early, at `now` and just before the deadline, twice each.
        for t in [
            now,
            now,
            due - Duration::from_millis(1),
            due - Duration::from_millis(1),
        ] {
            a.handle_timeout(t);
            assert!(a.poll_transmit().is_none(), "early call sent something");
            assert!(a.poll_event().is_none(), "early call reported something");
            assert_eq!(snapshot(&a), before);
            assert_eq!(a.connection(ccid), info);
        }
        // At the deadline the SCCRQ is retransmitted, once.
        a.handle_timeout(due);
        let again = a.poll_transmit().expect("retransmitted SCCRQ");
        assert_eq!(again.contents, sccrq.contents);
        a.handle_timeout(due);
        assert!(
            a.poll_transmit().is_none(),
            "second call at the same instant"
        );
    }

    #[test]
    fn id_hasher_spreads_sequential_ids() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<IdHasher>::default();
        let tops: std::collections::HashSet<u64> =
            (0u32..128).map(|i| b.hash_one(i) >> 57).collect();
        assert!(tops.len() > 64, "top bits barely vary: {}", tops.len());
    }
}
