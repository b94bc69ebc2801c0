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
//! header decode, connection lookup, digest check (before anything in the message
//! is used; a failure changes nothing), reliable delivery (duplicates re-acked,
//! out-of-order held), then for each message delivered in order: AVP unhiding,
//! validation (unknown mandatory or missing required AVP ends the session with a
//! CDN or the connection with a StopCCN), and the state machines.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use rand_core::RngCore;
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::auth::{self, DigestAlgorithm, Keys, Nonces};
use super::config::Config;
use super::connection::{ConnAction, ConnInput, ConnState, Connection, Outgoing};
use super::event::{DownReason, Event};
use super::reliable::{Reliable, Transmit};
use super::session::{Action, CallKind, CdnReason, Input, Msg, Session, SessionState};
use crate::avp::{
    Avp, AvpType, AvpValue, CircuitErrors, CircuitStatus, DataSequencing, L2SublayerType,
    MessageDigest, PwType, RawAvp, ResultCode, result,
};
use crate::data::{Cookie, CookieLen, DataHeader, DefaultSublayer, SessionConfig, SublayerKind};
use crate::header::{ControlHeader, Encapsulation};
use crate::message::{ControlMessage, MessageType};
use crate::validate::{Reply, validate};

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
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
}

/// What a data packet for an established session looks like after its header was
/// checked (cookie in constant time, sequence number if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataIn<'a> {
    /// Our Session ID.
    pub session_id: u32,
    /// The payload (an Ethernet frame for Ethernet pseudowires), borrowed.
    pub payload: &'a [u8],
    /// The sequence number from the Default L2-Specific Sublayer, if sequenced.
    pub sequence: Option<u32>,
}

/// A request to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Drop and error counters of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Control datagrams that did not decode.
    pub malformed: u64,
    /// Control messages whose digest did not verify (or that lacked one).
    pub auth_failed: u64,
    /// Control messages for a CCID we do not have.
    pub unknown_connection: u64,
    /// SCCRQs dropped at [`Config::max_connections`].
    pub connection_limit: u64,
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
    /// Data packets that did not decode.
    pub data_malformed: u64,
    /// Sequenced data packets dropped as old or duplicate.
    pub data_out_of_order: u64,
}

/// One LCCE: control connections, sessions, and the data path's session lookup.
///
/// ```
/// use l2tpv3::control::{Config, Endpoint, Event, SessionRequest};
/// use rand_core::SeedableRng;
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let rng = |s| rand_chacha::ChaCha8Rng::seed_from_u64(s);
/// let mut a = Endpoint::new(Config::default(), rng(1));
/// let mut b = Endpoint::new(Config::default(), rng(2));
/// let ccid = a.connect(now, "b").unwrap();
/// let sid = a.open_session(now, ccid, SessionRequest::ethernet("pw1")).unwrap();
/// // Shuttle datagrams until both sides are quiet.
/// loop {
///     let mut moved = false;
///     while let Some((_, d)) = a.poll_transmit() { b.handle_datagram(now, "a", &d); moved = true; }
///     while let Some((_, d)) = b.poll_transmit() { a.handle_datagram(now, "b", &d); moved = true; }
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
    conns: HashMap<u32, Connection<A>>,
    /// `(peer, peer's CCID) -> our CCID`, to route SCCRQ retransmissions.
    by_peer: HashMap<(A, u32), u32>,
    sessions: HashMap<u32, Session>,
    events: VecDeque<Event<A>>,
    transmits: VecDeque<(A, Vec<u8>)>,
    dirty: Vec<u32>,
    /// Sessions of connections dropped after a lost tie, by peer, waiting for the
    /// peer's connection to come up.
    orphans: Vec<(A, Vec<u32>)>,
    serial: u32,
    stats: EndpointStats,
}

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: RngCore,
{
    /// A new endpoint; all randomness (CCIDs, session IDs, cookies, nonces, tie
    /// breakers, random vectors) comes from `rng`.
    pub fn new(config: Config, rng: R) -> Self {
        let keys = config.secret.as_deref().map(Keys::derive);
        Endpoint {
            config,
            keys,
            rng,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            sessions: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            dirty: Vec::new(),
            orphans: Vec::new(),
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

    /// A control connection's reliable delivery state.
    pub fn reliable(&self, ccid: u32) -> Option<&Reliable<Outgoing, ControlMessage>> {
        self.conns.get(&ccid).map(|c| &c.reliable)
    }

    /// A session's negotiated parameters.
    pub fn session(&self, session_id: u32) -> Option<&Session> {
        self.sessions.get(&session_id)
    }

    /// Iterates over sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
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
        let established = match self.conns.get(&ccid) {
            Some(c) if c.state != ConnState::Closing => c.state == ConnState::Established,
            _ => return Err(CommandError::NoConnection(ccid)),
        };
        let queued = self.conns[&ccid].reliable.unacknowledged();
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
        let sid = self.new_session(
            ccid,
            kind,
            request.pw_type,
            request.remote_end_id,
            self.serial,
        );
        let open = if request.outgoing {
            Input::OpenOutgoing
        } else {
            Input::OpenIncoming
        };
        self.session_input(now, sid, open, None);
        if established {
            self.session_input(now, sid, Input::TunnelUp, None);
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
        self.session_input(now, session_id, Input::Close, Some(rc));
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
        let (ccid, avps) = (s.ccid, session_ids(s));
        let mut avps = avps;
        avps.push(Avp::new(AvpValue::CircuitStatus(CircuitStatus {
            active,
            new: false,
        })));
        self.queue(now, ccid, MessageType::Sli, avps)?;
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
        self.queue(now, ccid, MessageType::Wen, avps)?;
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

    // ---------------------------------------------------------------- data path

    /// The data header for the next packet we send on an established session, and
    /// where to send it: the peer's Session ID and cookie, and the Default
    /// L2-Specific Sublayer (with the next sequence number if the peer asked for
    /// sequencing) when the peer requires it. Write it with
    /// [`crate::data::encapsulate`] in front of the payload.
    pub fn data_header(&mut self, session_id: u32) -> Result<(A, DataHeader), CommandError> {
        let s = self
            .sessions
            .get_mut(&session_id)
            .filter(|s| s.state == SessionState::Established)
            .ok_or(CommandError::NotEstablished(session_id))?;
        let peer = self
            .conns
            .get(&s.ccid)
            .map(|c| c.peer.clone())
            .ok_or(CommandError::NoConnection(s.ccid))?;
        let sublayer = (s.remote_sublayer != L2SublayerType::NONE).then(|| {
            if s.remote_sequencing != DataSequencing::NONE {
                let seq = s.tx_sequence;
                s.tx_sequence = (seq + 1) & DefaultSublayer::MAX_SEQUENCE;
                DefaultSublayer::sequenced(seq)
            } else {
                DefaultSublayer::unsequenced()
            }
        });
        Ok((
            peer,
            DataHeader {
                session_id: s.remote_id,
                cookie: s.remote_cookie,
                sublayer,
            },
        ))
    }

    /// Encodes a data packet for an established session into a new buffer.
    pub fn encode_data(
        &mut self,
        session_id: u32,
        payload: &[u8],
    ) -> Result<(A, Vec<u8>), CommandError> {
        let (peer, header) = self.data_header(session_id)?;
        let encap = self.config.encapsulation;
        let mut out = Vec::with_capacity(header.len(encap) + payload.len());
        header
            .encode(encap, &mut out)
            .map_err(|_| CommandError::NotEstablished(session_id))?;
        out.extend_from_slice(payload);
        Ok((peer, out))
    }

    fn handle_data<'a>(&mut self, buf: &'a [u8]) -> Option<DataIn<'a>> {
        let encap = self.config.encapsulation;
        let at = match encap {
            Encapsulation::Udp => 4,
            Encapsulation::Ip => 0,
        };
        let Some(sid) = buf.get(at..at + 4) else {
            self.stats.data_malformed += 1;
            return None;
        };
        let sid = u32::from_be_bytes([sid[0], sid[1], sid[2], sid[3]]);
        let Some(s) = self
            .sessions
            .get_mut(&sid)
            .filter(|s| s.state == SessionState::Established)
        else {
            self.stats.data_unknown_session += 1;
            return None;
        };
        let config = SessionConfig {
            encapsulation: encap,
            cookie_len: CookieLen::from_bytes(s.local_cookie.len()).unwrap_or_default(),
            sublayer: if s.local_sublayer == L2SublayerType::NONE {
                SublayerKind::None
            } else {
                SublayerKind::Default
            },
        };
        let Ok((header, used)) = DataHeader::decode(buf, &config) else {
            self.stats.data_malformed += 1;
            return None;
        };
        // Section 4.1: the cookie is checked in constant time.
        if !bool::from(header.cookie.as_bytes().ct_eq(s.local_cookie.as_bytes())) {
            self.stats.data_bad_cookie += 1;
            return None;
        }
        let sequence = header.sublayer.filter(|l| l.sequenced).map(|l| l.sequence);
        if let Some(seq) = sequence {
            // Section 4.6: drop what is older than or equal to the last accepted.
            if let Some(expected) = s.rx_sequence {
                let ahead = seq.wrapping_sub(expected) & DefaultSublayer::MAX_SEQUENCE;
                if ahead >= 0x0080_0000 {
                    self.stats.data_out_of_order += 1;
                    return None;
                }
            }
            s.rx_sequence = Some((seq + 1) & DefaultSublayer::MAX_SEQUENCE);
        }
        Some(DataIn {
            session_id: sid,
            payload: &buf[used..],
            sequence,
        })
    }

    // ---------------------------------------------------------------- input

    /// Handles one received datagram (a UDP payload, or an IP payload of protocol
    /// 115). A data packet for an established session is returned with its payload
    /// borrowed; control messages are processed and yield transmits and events.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        from: A,
        datagram: &'a [u8],
    ) -> Option<DataIn<'a>> {
        let is_control = match self.config.encapsulation {
            Encapsulation::Udp => datagram.first().is_some_and(|b| b & 0x80 != 0),
            Encapsulation::Ip => datagram.get(..4) == Some(&[0, 0, 0, 0]),
        };
        if !is_control {
            return self.handle_data(datagram);
        }
        self.handle_control(now, from, datagram);
        self.flush(now);
        None
    }

    fn handle_control(&mut self, now: Instant, from: A, datagram: &[u8]) {
        let encap = self.config.encapsulation;
        let prefix = encap.control_prefix_len();
        let Ok((header, length)) = ControlHeader::decode(&datagram[prefix..], prefix) else {
            self.stats.malformed += 1;
            return;
        };
        let bytes = &datagram[prefix..prefix + usize::from(length)];
        let Ok(msg) = ControlMessage::decode(&datagram[..prefix + usize::from(length)], encap)
        else {
            self.stats.malformed += 1;
            return;
        };
        if header.ccid == 0 {
            self.handle_new(now, from, bytes, header, msg);
            return;
        }
        let Some(conn) = self.conns.get_mut(&header.ccid) else {
            self.stats.unknown_connection += 1;
            return;
        };
        if conn.peer != from {
            self.stats.unknown_connection += 1;
            return;
        }
        if let Some(keys) = &self.keys {
            // The SCCRP brings the peer's nonce; it is needed to check the SCCRP.
            let learned = match (&conn.remote_nonce, msg.find(AvpType::Nonce)) {
                (None, Some(AvpValue::Nonce(n))) if conn.state == ConnState::WaitCtlReply => {
                    Some(n.clone())
                }
                _ => None,
            };
            let remote = learned
                .as_deref()
                .or(conn.remote_nonce.as_deref())
                .unwrap_or(&[]);
            let nonces = Nonces {
                sender: remote,
                receiver: &conn.local_nonce,
            };
            if auth::verify(bytes, &[&keys.digest], nonces).is_err() {
                self.stats.auth_failed += 1;
                return;
            }
            if learned.is_some() {
                conn.remote_nonce = learned;
            }
        }
        self.receive_on(now, header.ccid, header, msg);
    }

    /// A message with CCID 0: only an SCCRQ may open a connection.
    fn handle_new(
        &mut self,
        now: Instant,
        from: A,
        bytes: &[u8],
        header: ControlHeader,
        msg: ControlMessage,
    ) {
        if msg.message_type() != Some(MessageType::Sccrq) {
            self.stats.unknown_connection += 1;
            return;
        }
        if let Some(keys) = &self.keys
            && auth::verify(bytes, &[&keys.digest], Nonces::NONE).is_err()
        {
            self.stats.auth_failed += 1;
            return;
        }
        let Some(&AvpValue::AssignedControlConnectionId(remote_ccid)) =
            msg.find(AvpType::AssignedControlConnectionId)
        else {
            self.stats.malformed += 1;
            return;
        };
        // A retransmitted SCCRQ goes to the connection it created.
        if let Some(&ccid) = self.by_peer.get(&(from.clone(), remote_ccid)) {
            self.receive_on(now, ccid, header, msg);
            return;
        }
        // Section 5.4.3: an SCCRQ while ours to the same peer is outstanding is a tie.
        let theirs = match msg.find(AvpType::TieBreaker) {
            Some(AvpValue::TieBreaker(t)) => Some(*t),
            _ => None,
        };
        let ours = self
            .conns
            .values()
            .find(|c| c.peer == from && c.state == ConnState::WaitCtlReply && c.initiator)
            .map(|c| (c.local_ccid, c.tie_breaker));
        let mut reject = false;
        let mut restart_after: Option<u32> = None;
        if let Some((our_ccid, ours)) = ours {
            match (ours, theirs) {
                (None, None) => {}
                (Some(_), None) => reject = true,
                (None, Some(_)) => self.lose_tie(now, our_ccid),
                (Some(o), Some(t)) if t < o => self.lose_tie(now, our_ccid),
                (Some(o), Some(t)) if o < t => reject = true,
                (Some(_), Some(_)) => {
                    // Equal: both discard and start again with a new tie breaker.
                    reject = true;
                    restart_after = Some(our_ccid);
                }
            }
        }
        if self.conns.len() >= self.config.max_connections {
            self.stats.connection_limit += 1;
            return;
        }
        let ccid = self.new_connection(now, from.clone(), false);
        let conn = self.conns.get_mut(&ccid).expect("just created");
        conn.remote_ccid = remote_ccid;
        if let Some(AvpValue::Nonce(n)) = msg.find(AvpType::Nonce) {
            conn.remote_nonce = Some(n.clone());
        }
        self.by_peer.insert((from, remote_ccid), ccid);
        if reject {
            self.conns.get_mut(&ccid).expect("exists").tie_rejected = true;
        }
        self.receive_on(now, ccid, header, msg);
        if let Some(old) = restart_after {
            self.restart_tie(now, old);
        }
    }

    /// We lost the tie: drop our connection silently, keeping its waiting sessions
    /// to move onto the peer's connection once it is up.
    fn lose_tie(&mut self, now: Instant, ccid: u32) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        let action = conn.apply(ConnInput::LoseTie);
        let sessions: Vec<u32> = std::mem::take(&mut conn.sessions).into_iter().collect();
        let peer = conn.peer.clone();
        self.remove_connection(ccid);
        self.emit(Event::ConnectionDown {
            ccid,
            reason: DownReason::LostTie,
        });
        debug_assert_eq!(action, ConnAction::Remove);
        // Sessions waiting for the tunnel are re-homed when the peer's SCCRQ has
        // created the replacement connection (see `rehome_waiting`).
        self.orphans.push((peer, sessions));
        let _ = now;
    }

    fn restart_tie(&mut self, now: Instant, old: u32) {
        let Some(conn) = self.conns.get(&old) else {
            return;
        };
        let peer = conn.peer.clone();
        let sessions: Vec<u32> = conn.sessions.iter().copied().collect();
        self.remove_connection(old);
        let ccid = self.new_connection(now, peer, true);
        for sid in sessions {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.ccid = ccid;
                self.conns.get_mut(&ccid).expect("new").sessions.insert(sid);
            }
        }
        self.conn_input(now, ccid, ConnInput::Open, None);
    }

    fn receive_on(&mut self, now: Instant, ccid: u32, header: ControlHeader, msg: ControlMessage) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        conn.last_heard = now;
        conn.next_hello = now + self.config.hello_interval;
        let ack_only = msg.is_zlb() || msg.message_type() == Some(MessageType::Ack);
        let body = (!ack_only).then_some(msg);
        conn.reliable.receive(now, header.ns, header.nr, body);
        self.mark_dirty(ccid);
        loop {
            let Some(conn) = self.conns.get_mut(&ccid) else {
                return;
            };
            let Some((ns, msg)) = conn.reliable.poll_delivered() else {
                return;
            };
            if self.config.report_messages {
                self.emit(Event::MessageDelivered {
                    ccid,
                    ns,
                    message_type: msg.message_type(),
                });
            }
            self.process(now, ccid, msg);
        }
    }

    /// Handles one message delivered in order on a connection.
    fn process(&mut self, now: Instant, ccid: u32, msg: ControlMessage) {
        let Some(conn) = self.conns.get(&ccid) else {
            return;
        };
        if conn.state == ConnState::Closing {
            // Only acknowledgements matter now (already done by reliable delivery).
            return;
        }
        let mt = msg.message_type();
        let msg = match self.unhide(msg) {
            Some(m) => m,
            None => {
                let rc = ResultCode::with_error(
                    result::GENERAL_ERROR,
                    result::ERROR_OUT_OF_RANGE,
                    "hidden AVP cannot be unhidden",
                );
                self.conn_input(now, ccid, ConnInput::Invalid, Some(rc));
                return;
            }
        };
        if let Err(e) = validate(&msg) {
            match e.reply(mt) {
                Reply::Ignore => {}
                Reply::StopCcn(rc) => {
                    let input = if mt == Some(MessageType::StopCcn) {
                        ConnInput::StopCcn
                    } else {
                        ConnInput::Invalid
                    };
                    self.conn_input(now, ccid, input, Some(rc));
                }
                Reply::Cdn(rc) => self.session_error(now, ccid, mt, &msg, rc),
            }
            return;
        }
        let Some(mt) = mt else { return };
        match mt {
            MessageType::Sccrq => {
                let verdict = self.check_sccrx(ccid, &msg);
                let rejected = self.conns.get(&ccid).is_some_and(|c| c.tie_rejected);
                match verdict {
                    Ok(()) if !rejected => {
                        self.conn_input(now, ccid, ConnInput::Sccrq { acceptable: true }, None)
                    }
                    Ok(()) => {
                        // We won the tie: reject the peer's SCCRQ with a StopCCN.
                        let rc = ResultCode::new(result::STOPCCN_ALREADY_EXISTS);
                        self.conn_input(now, ccid, ConnInput::Sccrq { acceptable: false }, Some(rc))
                    }
                    Err(rc) => {
                        self.conn_input(now, ccid, ConnInput::Sccrq { acceptable: false }, Some(rc))
                    }
                }
            }
            MessageType::Sccrp => {
                let verdict = self.check_sccrx(ccid, &msg);
                if let (Some(conn), Some(&AvpValue::AssignedControlConnectionId(id))) = (
                    self.conns.get_mut(&ccid),
                    msg.find(AvpType::AssignedControlConnectionId),
                ) && conn.state == ConnState::WaitCtlReply
                {
                    conn.remote_ccid = id;
                }
                let acceptable = verdict.is_ok();
                self.conn_input(now, ccid, ConnInput::Sccrp { acceptable }, verdict.err());
            }
            MessageType::Scccn => {
                self.conn_input(now, ccid, ConnInput::Scccn { acceptable: true }, None)
            }
            MessageType::StopCcn => {
                let rc = match msg.find(AvpType::ResultCode) {
                    Some(AvpValue::ResultCode(rc)) => Some(rc.clone()),
                    _ => None,
                };
                if let Some(c) = self.conns.get_mut(&ccid) {
                    c.peer_result = rc;
                }
                self.conn_input(now, ccid, ConnInput::StopCcn, None);
            }
            MessageType::Hello | MessageType::Ack | MessageType::Unknown(_) => {}
            MessageType::Icrq | MessageType::Ocrq => self.session_request(now, ccid, mt, &msg),
            MessageType::Icrp
            | MessageType::Iccn
            | MessageType::Ocrp
            | MessageType::Occn
            | MessageType::Cdn
            | MessageType::Sli
            | MessageType::Wen => self.session_message(now, ccid, mt, &msg),
        }
    }

    /// Checks an SCCRQ or SCCRP and records what it tells us (sections 5.4.3, 4.3).
    fn check_sccrx(&mut self, ccid: u32, msg: &ControlMessage) -> Result<(), ResultCode> {
        let ours = self.config.pw_types.clone();
        let authenticating = self.keys.is_some();
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return Ok(());
        };
        if let Some(AvpValue::HostName(h)) = msg.find(AvpType::HostName) {
            conn.peer_host_name = h.clone();
        }
        if let Some(&AvpValue::RouterId(r)) = msg.find(AvpType::RouterId) {
            conn.peer_router_id = r;
        }
        if let Some(&AvpValue::ReceiveWindowSize(w)) = msg.find(AvpType::ReceiveWindowSize) {
            conn.reliable.set_peer_window(w);
        }
        if let Some(AvpValue::PseudowireCapabilities(list)) =
            msg.find(AvpType::PseudowireCapabilities)
        {
            conn.pw_types = list.iter().copied().filter(|t| ours.contains(t)).collect();
        }
        let has_nonce = msg.find(AvpType::Nonce).is_some();
        if has_nonce != authenticating {
            // Section 4.3: authentication is on for both sides or for neither.
            return Err(ResultCode::with_error(
                result::STOPCCN_NOT_AUTHORIZED,
                result::ERROR_NONE,
                if authenticating {
                    "authentication required"
                } else {
                    "authentication not configured"
                },
            ));
        }
        if conn.pw_types.is_empty() {
            return Err(ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_OUT_OF_RANGE,
                "no common pseudowire type",
            ));
        }
        Ok(())
    }

    /// An ICRQ or OCRQ: a new session from the peer.
    fn session_request(&mut self, now: Instant, ccid: u32, mt: MessageType, msg: &ControlMessage) {
        if self.conns.get(&ccid).map(|c| c.state) != Some(ConnState::Established) {
            let rc = ResultCode::new(result::STOPCCN_FSM_ERROR);
            self.conn_input(now, ccid, ConnInput::Invalid, Some(rc));
            return;
        }
        let remote_id = match msg.find(AvpType::LocalSessionId) {
            Some(&AvpValue::LocalSessionId(id)) => id,
            _ => 0,
        };
        let pw_type = match msg.find(AvpType::PseudowireType) {
            Some(&AvpValue::PseudowireType(t)) => t,
            _ => PwType(0),
        };
        let serial = match msg.find(AvpType::SerialNumber) {
            Some(&AvpValue::SerialNumber(n)) => n,
            _ => 0,
        };
        let remote_end_id = match msg.find(AvpType::RemoteEndId) {
            Some(AvpValue::RemoteEndId(v)) => v.clone(),
            _ => Vec::new(),
        };
        if self.sessions.len() >= self.config.max_sessions {
            self.stats.session_limit += 1;
            let rc = ResultCode::with_error(
                result::CDN_TEMPORARY_NO_FACILITIES,
                result::ERROR_NO_RESOURCES,
                "session limit",
            );
            self.send_cdn_raw(now, ccid, 0, remote_id, rc);
            return;
        }
        let kind = if mt == MessageType::Icrq {
            CallKind::IncomingRecipient
        } else {
            CallKind::OutgoingRecipient
        };
        let sid = self.new_session(ccid, kind, pw_type, remote_end_id, serial);
        let s = self.sessions.get_mut(&sid).expect("just created");
        s.remote_id = remote_id;
        apply_session_avps(s, msg);
        let verdict = self.check_session(sid);
        let acceptable = verdict.is_ok();
        let input = if mt == MessageType::Icrq {
            Input::Icrq { acceptable }
        } else {
            Input::Ocrq { acceptable }
        };
        self.session_input(now, sid, input, verdict.err());
    }

    /// Checks what the peer asked of a session (sections 5.4.4, 4.6).
    fn check_session(&self, sid: u32) -> Result<(), ResultCode> {
        let s = &self.sessions[&sid];
        if !self.config.pw_types.contains(&s.pw_type) {
            return Err(ResultCode::new(result::CDN_UNSUPPORTED_PW_TYPE));
        }
        if s.remote_sublayer != L2SublayerType::NONE && s.remote_sublayer != L2SublayerType::DEFAULT
        {
            return Err(ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_OUT_OF_RANGE,
                "unsupported L2-Specific Sublayer",
            ));
        }
        if s.remote_sequencing != DataSequencing::NONE && s.remote_sublayer == L2SublayerType::NONE
        {
            return Err(ResultCode::new(result::CDN_SEQUENCING_WITHOUT_SUBLAYER));
        }
        Ok(())
    }

    /// ICRP, ICCN, OCRP, OCCN, CDN, SLI, WEN: find the session by the Remote
    /// Session ID AVP (our ID) and run its state machine.
    fn session_message(&mut self, now: Instant, ccid: u32, mt: MessageType, msg: &ControlMessage) {
        let our_id = match msg.find(AvpType::RemoteSessionId) {
            Some(&AvpValue::RemoteSessionId(id)) => id,
            _ => 0,
        };
        let sid = if our_id != 0 {
            Some(our_id)
        } else {
            // A CDN answering our ICRQ before the peer assigned an ID has Remote
            // Session ID 0... or names our ID; try the peer's Local Session ID too.
            None
        };
        let Some(sid) = sid.filter(|id| self.sessions.get(id).is_some_and(|s| s.ccid == ccid))
        else {
            self.stats.unknown_session += 1;
            return;
        };
        let s = self.sessions.get_mut(&sid).expect("checked");
        if let Some(&AvpValue::LocalSessionId(id)) = msg.find(AvpType::LocalSessionId)
            && s.remote_id == 0
        {
            s.remote_id = id;
        }
        let input = match mt {
            MessageType::Icrp | MessageType::Ocrp => {
                apply_session_avps(s, msg);
                let verdict = self.check_session(sid);
                let acceptable = verdict.is_ok();
                let input = if mt == MessageType::Icrp {
                    Input::Icrp { acceptable }
                } else {
                    Input::Ocrp { acceptable }
                };
                self.session_input(now, sid, input, verdict.err());
                return;
            }
            MessageType::Iccn | MessageType::Occn => {
                apply_session_avps(s, msg);
                if mt == MessageType::Iccn {
                    Input::Iccn { acceptable: true }
                } else {
                    Input::Occn { acceptable: true }
                }
            }
            MessageType::Cdn => {
                s.peer_result = match msg.find(AvpType::ResultCode) {
                    Some(AvpValue::ResultCode(rc)) => Some(rc.clone()),
                    _ => None,
                };
                Input::Cdn
            }
            MessageType::Sli => {
                if let Some(AvpValue::CircuitStatus(cs)) = msg.find(AvpType::CircuitStatus) {
                    s.remote_circuit_active = cs.active;
                }
                Input::Sli
            }
            MessageType::Wen => {
                if let Some(AvpValue::CircuitErrors(e)) = msg.find(AvpType::CircuitErrors) {
                    s.last_wan_errors = Some(*e);
                }
                Input::Wen
            }
            _ => return,
        };
        self.session_input(now, sid, input, None);
    }

    /// A session message failed validation: CDN for the session it names.
    fn session_error(
        &mut self,
        now: Instant,
        ccid: u32,
        mt: Option<MessageType>,
        msg: &ControlMessage,
        rc: ResultCode,
    ) {
        let our_id = match msg.find(AvpType::RemoteSessionId) {
            Some(&AvpValue::RemoteSessionId(id)) => id,
            _ => 0,
        };
        let peer_id = match msg.find(AvpType::LocalSessionId) {
            Some(&AvpValue::LocalSessionId(id)) => id,
            _ => 0,
        };
        if mt == Some(MessageType::Cdn) {
            // A broken CDN still ends the session.
            if self.sessions.get(&our_id).is_some_and(|s| s.ccid == ccid) {
                self.session_input(now, our_id, Input::Cdn, None);
            }
            return;
        }
        if self.sessions.get(&our_id).is_some_and(|s| s.ccid == ccid) {
            // Any message in error ends the session with the validator's result.
            self.session_input(now, our_id, Input::Close, Some(rc));
        } else {
            self.send_cdn_raw(now, ccid, 0, peer_id, rc);
        }
    }

    /// Replaces hidden AVPs by their values (section 5.3). `None` when a hidden AVP
    /// cannot be recovered (no secret, no Random Vector before it, bad length).
    fn unhide(&self, mut msg: ControlMessage) -> Option<ControlMessage> {
        if !msg.avps.iter().any(|a| a.value.is_hidden()) {
            return Some(msg);
        }
        let keys = self.keys.as_ref()?;
        let mut rv: Option<Vec<u8>> = None;
        for avp in &mut msg.avps {
            match &avp.value {
                AvpValue::RandomVector(v) => rv = Some(v.clone()),
                AvpValue::Raw(RawAvp {
                    vendor_id: 0,
                    attr_type,
                    hidden: true,
                    value,
                }) => {
                    let plain = auth::unhide(&keys.hiding, *attr_type, rv.as_ref()?, value).ok()?;
                    // Re-decode the clear value through the codec.
                    let len = 6 + plain.len();
                    let mut bytes = Vec::with_capacity(len);
                    bytes.extend_from_slice(&((len as u16) | 0x8000).to_be_bytes());
                    bytes.extend_from_slice(&0u16.to_be_bytes());
                    bytes.extend_from_slice(&attr_type.to_be_bytes());
                    bytes.extend_from_slice(&plain);
                    let (clear, _) = Avp::decode(&bytes, 0).ok()?;
                    avp.value = clear.value;
                }
                _ => {}
            }
        }
        Some(msg)
    }

    // ---------------------------------------------------------------- FSM glue

    fn conn_input(&mut self, now: Instant, ccid: u32, input: ConnInput, rc: Option<ResultCode>) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        let action = conn.apply(input);
        self.mark_dirty(ccid);
        match action {
            ConnAction::None => {}
            ConnAction::SendSccrq => {
                let avps = self.sccrx_avps(ccid, true);
                let _ = self.queue(now, ccid, MessageType::Sccrq, avps);
            }
            ConnAction::SendSccrp => {
                let avps = self.sccrx_avps(ccid, false);
                let _ = self.queue(now, ccid, MessageType::Sccrp, avps);
            }
            ConnAction::SendScccnAndUp => {
                let _ = self.queue(now, ccid, MessageType::Scccn, Vec::new());
                self.connection_up(now, ccid);
            }
            ConnAction::Up => self.connection_up(now, ccid),
            ConnAction::SendStopCcn => {
                let rc = rc.unwrap_or_else(|| ResultCode::new(result::STOPCCN_GENERAL_CLEAR));
                let avps = vec![
                    Avp::new(AvpValue::ResultCode(rc.clone())),
                    Avp::new(AvpValue::AssignedControlConnectionId(ccid)),
                ];
                let _ = self.queue(now, ccid, MessageType::StopCcn, avps);
                self.hold(now, ccid, DownReason::StopCcnSent(rc));
            }
            ConnAction::ClearAndHold => {
                let rc = self.conns.get_mut(&ccid).and_then(|c| c.peer_result.take());
                self.hold(now, ccid, DownReason::StopCcnReceived(rc));
            }
            ConnAction::Remove => {
                let reported = self.conns.get(&ccid).is_some_and(|c| c.down_reported);
                self.clear_sessions(ccid);
                self.remove_connection(ccid);
                if !reported {
                    self.emit(Event::ConnectionDown {
                        ccid,
                        reason: DownReason::Unreachable,
                    });
                }
            }
        }
    }

    fn hold(&mut self, now: Instant, ccid: u32, reason: DownReason) {
        self.clear_sessions(ccid);
        let cycle = self.config.reliable.retransmission_cycle();
        if let Some(c) = self.conns.get_mut(&ccid) {
            c.hold_until = Some(now + cycle);
            c.down_reported = true;
        }
        self.emit(Event::ConnectionDown { ccid, reason });
    }

    fn connection_up(&mut self, now: Instant, ccid: u32) {
        let Some(conn) = self.conns.get(&ccid) else {
            return;
        };
        let peer = conn.peer.clone();
        self.emit(Event::ConnectionUp {
            ccid,
            peer: peer.clone(),
            host_name: conn.peer_host_name.clone(),
            router_id: conn.peer_router_id,
        });
        // Sessions orphaned by a lost tie with this peer move here.
        if let Some(i) = self.orphans.iter().position(|(p, _)| *p == peer) {
            let (_, sids) = self.orphans.swap_remove(i);
            for sid in sids {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.ccid = ccid;
                    self.conns
                        .get_mut(&ccid)
                        .expect("exists")
                        .sessions
                        .insert(sid);
                }
            }
        }
        let waiting: VecDeque<u32> = self.conns[&ccid]
            .sessions
            .iter()
            .copied()
            .filter(|s| self.sessions.get(s).map(|s| s.state) == Some(SessionState::WaitTunnel))
            .collect();
        self.conns.get_mut(&ccid).expect("exists").waiting = waiting;
        self.admit_waiting(now, ccid);
    }

    /// Starts sessions that wait for the connection while the send queue is at most
    /// half full; the rest start as acknowledgements free it (see
    /// [`Endpoint::flush`]). The other half is kept for what the requests lead to
    /// (ICCN, CDN) and for answers to the peer.
    fn admit_waiting(&mut self, now: Instant, ccid: u32) {
        let limit = self.config.reliable.max_send_queue / 2;
        loop {
            let Some(conn) = self.conns.get_mut(&ccid) else {
                return;
            };
            if conn.state != ConnState::Established || conn.reliable.unacknowledged() >= limit {
                return;
            }
            let Some(sid) = conn.waiting.pop_front() else {
                return;
            };
            if self.sessions.get(&sid).map(|s| s.state) == Some(SessionState::WaitTunnel) {
                self.session_input(now, sid, Input::TunnelUp, None);
            }
        }
    }

    fn session_input(&mut self, now: Instant, sid: u32, input: Input, rc: Option<ResultCode>) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let was_live = s.state != SessionState::Closed;
        let action = s.apply(input);
        let ccid = s.ccid;
        match action {
            Action::None => {}
            Action::Send(m) => {
                let (mt, avps) = self.request_avps(sid, m);
                if self.queue(now, ccid, mt, avps).is_err() {
                    self.drop_session(sid, None, false);
                }
            }
            Action::SendOcrpAndOccn => {
                let (_, avps) = self.request_avps(sid, Msg::Icrp);
                let _ = self.queue(now, ccid, MessageType::Ocrp, avps);
                let avps = session_ids(&self.sessions[&sid]);
                let _ = self.queue(now, ccid, MessageType::Occn, avps);
                self.session_up(sid);
            }
            Action::SendIccnAndUp => {
                let avps = session_ids(&self.sessions[&sid]);
                let _ = self.queue(now, ccid, MessageType::Iccn, avps);
                self.session_up(sid);
            }
            Action::Up => self.session_up(sid),
            Action::ReportSli => {
                let active = self.sessions[&sid].remote_circuit_active;
                self.emit(Event::CircuitStatus {
                    session_id: sid,
                    active,
                });
            }
            Action::ReportWen => {
                if let Some(errors) = self.sessions[&sid].last_wan_errors {
                    self.emit(Event::WanError {
                        session_id: sid,
                        errors,
                    });
                }
            }
            Action::SendCdn(reason) => {
                let rc = rc.unwrap_or_else(|| match reason {
                    CdnReason::Admin => ResultCode::new(result::CDN_ADMIN),
                    CdnReason::FsmError => ResultCode::new(result::CDN_FSM_ERROR),
                    CdnReason::NotAcceptable => ResultCode::new(result::GENERAL_ERROR),
                });
                let s = &self.sessions[&sid];
                let (local, remote) = (s.local_id, s.remote_id);
                self.send_cdn_raw(now, ccid, local, remote, rc.clone());
                self.drop_session(sid, Some(rc), false);
            }
            Action::CleanUp => {
                if was_live {
                    let rc = self
                        .sessions
                        .get_mut(&sid)
                        .and_then(|s| s.peer_result.take());
                    let by_peer = matches!(input, Input::Cdn);
                    self.drop_session(sid, rc, by_peer);
                }
            }
        }
    }

    fn session_up(&mut self, sid: u32) {
        let s = &self.sessions[&sid];
        self.emit(Event::SessionUp {
            ccid: s.ccid,
            session_id: sid,
            remote_session_id: s.remote_id,
            pw_type: s.pw_type,
            remote_end_id: s.remote_end_id.clone(),
        });
    }

    fn drop_session(&mut self, sid: u32, result: Option<ResultCode>, by_peer: bool) {
        let Some(s) = self.sessions.remove(&sid) else {
            return;
        };
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

    fn send_cdn_raw(&mut self, now: Instant, ccid: u32, local: u32, remote: u32, rc: ResultCode) {
        let avps = vec![
            Avp::new(AvpValue::ResultCode(rc)),
            Avp::new(AvpValue::LocalSessionId(local)),
            Avp::new(AvpValue::RemoteSessionId(remote)),
        ];
        let _ = self.queue(now, ccid, MessageType::Cdn, avps);
    }

    // ---------------------------------------------------------------- building

    fn sccrx_avps(&mut self, ccid: u32, request: bool) -> Vec<Avp> {
        let conn = &self.conns[&ccid];
        let mut avps = vec![
            Avp::new(AvpValue::HostName(self.config.host_name.clone())),
            Avp::new(AvpValue::RouterId(self.config.router_id)),
            Avp::new(AvpValue::AssignedControlConnectionId(ccid)),
            Avp::new(AvpValue::PseudowireCapabilities(
                self.config.pw_types.clone(),
            )),
            Avp::new(AvpValue::ReceiveWindowSize(
                self.config.reliable.receive_window,
            )),
        ];
        if request && let Some(t) = conn.tie_breaker {
            avps.push(Avp::new(AvpValue::TieBreaker(t)));
        }
        if self.keys.is_some() {
            avps.push(Avp::new(AvpValue::Nonce(conn.local_nonce.clone())));
        }
        avps
    }

    fn request_avps(&mut self, sid: u32, m: Msg) -> (MessageType, Vec<Avp>) {
        let s = &self.sessions[&sid];
        let mut avps = session_ids(s);
        let mt = match m {
            Msg::Icrq => MessageType::Icrq,
            Msg::Ocrq => MessageType::Ocrq,
            Msg::Icrp => MessageType::Icrp,
        };
        if matches!(m, Msg::Icrq | Msg::Ocrq) {
            avps.push(Avp::new(AvpValue::SerialNumber(s.serial)));
            avps.push(Avp::new(AvpValue::PseudowireType(s.pw_type)));
            let end_id = s.remote_end_id.clone();
            match (&self.keys, self.config.hide_avps) {
                (Some(keys), true) => {
                    let mut rv = [0u8; 16];
                    self.rng.fill_bytes(&mut rv);
                    let hidden = auth::hide(
                        &keys.hiding,
                        AvpType::RemoteEndId.number(),
                        &rv,
                        &end_id,
                        &[],
                    );
                    avps.push(Avp::new(AvpValue::RandomVector(rv.to_vec())));
                    avps.push(Avp::with_mandatory(
                        AvpValue::Raw(RawAvp {
                            vendor_id: 0,
                            attr_type: AvpType::RemoteEndId.number(),
                            hidden: true,
                            value: hidden,
                        }),
                        true,
                    ));
                }
                _ => avps.push(Avp::new(AvpValue::RemoteEndId(end_id))),
            }
        }
        let s = &self.sessions[&sid];
        avps.push(Avp::new(AvpValue::CircuitStatus(CircuitStatus {
            active: true,
            new: true,
        })));
        if !s.local_cookie.is_empty() {
            avps.push(Avp::new(AvpValue::AssignedCookie(s.local_cookie)));
        }
        if s.local_sublayer != L2SublayerType::NONE {
            avps.push(Avp::new(AvpValue::L2SpecificSublayer(s.local_sublayer)));
        }
        if s.local_sequencing != DataSequencing::NONE {
            avps.push(Avp::new(AvpValue::DataSequencing(s.local_sequencing)));
        }
        (mt, avps)
    }

    fn queue(
        &mut self,
        _now: Instant,
        ccid: u32,
        message_type: MessageType,
        avps: Vec<Avp>,
    ) -> Result<(), CommandError> {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return Err(CommandError::NoConnection(ccid));
        };
        match conn.reliable.send(Outgoing { message_type, avps }) {
            Ok(ns) => {
                self.mark_dirty(ccid);
                if self.config.report_messages {
                    self.emit(Event::MessageQueued {
                        ccid,
                        ns,
                        message_type,
                    });
                }
                Ok(())
            }
            Err(_) => {
                self.stats.send_queue_full += 1;
                Err(CommandError::QueueFull(ccid))
            }
        }
    }

    fn encode(&self, conn: &Connection<A>, tx: Transmit<Outgoing>) -> Option<Vec<u8>> {
        let header = ControlHeader {
            ccid: conn.remote_ccid,
            ns: tx.ns,
            nr: tx.nr,
        };
        let encap = self.config.encapsulation;
        let (mt, avps) = match tx.message {
            Some(o) => (o.message_type, o.avps),
            None if self.keys.is_none() => {
                // Section 4.2 with authentication off: a Zero-Length Body.
                return ControlMessage::zlb(header).to_vec(encap).ok();
            }
            None => (MessageType::Ack, Vec::new()),
        };
        let mut all = Vec::with_capacity(avps.len() + 1);
        if self.keys.is_some() {
            let placeholder = match self.config.digest {
                DigestAlgorithm::HmacMd5 => MessageDigest::HmacMd5([0; 16]),
                DigestAlgorithm::HmacSha1 => MessageDigest::HmacSha1([0; 20]),
            };
            all.push(Avp::new(AvpValue::MessageDigest(placeholder)));
        }
        all.extend(avps);
        let mut bytes = ControlMessage::new(header, mt, all).to_vec(encap).ok()?;
        if let Some(keys) = &self.keys {
            let nonces = if mt == MessageType::Sccrq {
                Nonces::NONE
            } else {
                Nonces {
                    sender: &conn.local_nonce,
                    receiver: conn.remote_nonce.as_deref().unwrap_or(&[]),
                }
            };
            let prefix = encap.control_prefix_len();
            auth::sign(&mut bytes[prefix..], &keys.digest, nonces).ok()?;
        }
        Some(bytes)
    }

    // ---------------------------------------------------------------- output

    /// Admits waiting sessions and encodes what reliable delivery releases, for
    /// every connection touched since the last flush.
    fn flush(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.dirty);
        for ccid in dirty {
            if self.conns.get(&ccid).is_some_and(|c| !c.waiting.is_empty()) {
                self.admit_waiting(now, ccid);
            }
            let Some(mut conn) = self.conns.remove(&ccid) else {
                continue;
            };
            conn.dirty = false;
            while let Some(tx) = conn.reliable.poll_transmit(now) {
                if let Some(bytes) = self.encode(&conn, tx) {
                    if self.transmits.len() >= self.config.max_transmits {
                        self.stats.transmits_dropped += 1;
                    } else {
                        self.transmits.push_back((conn.peer.clone(), bytes));
                    }
                }
            }
            let failed = conn.reliable.is_failed();
            self.conns.insert(ccid, conn);
            if failed {
                self.conn_input(now, ccid, ConnInput::TransportFailed, None);
            }
        }
    }

    /// The next datagram to send and where to.
    pub fn poll_transmit(&mut self) -> Option<(A, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must next be called.
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
            if conn.state == ConnState::Established && conn.next_hello <= now {
                // Section 4.4: a HELLO after a period of silence; its reliable
                // delivery detects a dead peer.
                conn.next_hello = now + self.config.hello_interval;
                if conn.reliable.is_idle() {
                    let _ = self.queue(now, ccid, MessageType::Hello, Vec::new());
                }
            }
            self.mark_dirty(ccid);
        }
        self.flush(now);
    }

    // ---------------------------------------------------------------- tables

    fn emit(&mut self, event: Event<A>) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    fn mark_dirty(&mut self, ccid: u32) {
        if let Some(c) = self.conns.get_mut(&ccid)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(ccid);
        }
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
                last_heard: now,
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
            self.by_peer.remove(&(c.peer, c.remote_ccid));
        }
    }

    fn new_session(
        &mut self,
        ccid: u32,
        kind: CallKind,
        pw_type: PwType,
        remote_end_id: Vec<u8>,
        serial: u32,
    ) -> u32 {
        let sid = loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
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
                tx_sequence: 0,
                rx_sequence: None,
                remote_circuit_active: true,
                peer_result: None,
                last_wan_errors: None,
            },
        );
        if let Some(c) = self.conns.get_mut(&ccid) {
            c.sessions.insert(sid);
        }
        sid
    }
}

/// Local and Remote Session ID AVPs as we send them.
fn session_ids(s: &Session) -> Vec<Avp> {
    vec![
        Avp::new(AvpValue::LocalSessionId(s.local_id)),
        Avp::new(AvpValue::RemoteSessionId(s.remote_id)),
    ]
}

/// Records what the peer's ICRQ/ICRP/ICCN/OCRQ/OCRP/OCCN asks of the data path.
fn apply_session_avps(s: &mut Session, msg: &ControlMessage) {
    if let Some(AvpValue::AssignedCookie(c)) = msg.find(AvpType::AssignedCookie) {
        s.remote_cookie = *c;
    }
    if let Some(&AvpValue::L2SpecificSublayer(l)) = msg.find(AvpType::L2SpecificSublayer) {
        s.remote_sublayer = l;
    }
    if let Some(&AvpValue::DataSequencing(d)) = msg.find(AvpType::DataSequencing) {
        s.remote_sequencing = d;
    }
    if let Some(AvpValue::CircuitStatus(cs)) = msg.find(AvpType::CircuitStatus) {
        s.remote_circuit_active = cs.active;
    }
    if let Some(AvpValue::RemoteEndId(v)) = msg.find(AvpType::RemoteEndId)
        && s.remote_end_id.is_empty()
    {
        s.remote_end_id = v.clone();
    }
}
