//! Received datagrams: control messages up to the connection state machine, and
//! that state machine's actions.

use std::collections::VecDeque;
use std::hash::Hash;
use std::time::Instant;

use rand_core::Rng;

use super::build::sccrx_avps;
use super::{DataIn, Endpoint, IdMap, mark};
use crate::avp::{Avp, AvpType, AvpValue, RawAvp, ResultCode, result};
use crate::control::auth::{self, Nonces};
use crate::control::config::Config;
use crate::control::connection::{ConnAction, ConnInput, ConnState, Connection};
use crate::control::event::{DownReason, Event};
use crate::control::session::{Input, Session, SessionState};
use crate::data::MAX_DATA_HEADER_LEN;
use crate::header::{ControlHeader, Encapsulation};
use crate::message::{ControlMessage, MessageType};
use crate::validate::{Reply, validate};

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// Handles one received datagram (a UDP payload, or an IP payload of protocol
    /// 115).
    ///
    /// A data packet for an established session is checked against the session's
    /// receive template and its peer (`from` must be the address of the session's
    /// control connection peer) and returned with its payload borrowed from `datagram`
    /// (no copy, no allocation); anything else on the data path is counted in
    /// [`super::EndpointStats`] and dropped. Control messages are processed and
    /// yield transmits and events: drain them after the call.
    //
    // Inlined into the caller's receive loop: only the data fast path is here,
    // everything else is out of line in `handle_datagram_slow`.
    #[inline(always)]
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        from: A,
        datagram: &'a [u8],
    ) -> Option<DataIn<'a>> {
        // The fast path: data packets long enough for any data header (the T bit
        // clear over UDP, section 4.1.2.1; a non-zero Session ID over IP, section
        // 4.1.1.2), with the Session ID's offset a constant.
        if let Some(head) = datagram.first_chunk::<MAX_DATA_HEADER_LEN>() {
            match self.config.encapsulation {
                Encapsulation::Udp if head[0] & 0x80 == 0 => {
                    return self.handle_data_fast::<4>(&from, head, datagram).ok();
                }
                Encapsulation::Ip if head[..4] != [0; 4] => {
                    return self.handle_data_fast::<0>(&from, head, datagram).ok();
                }
                _ => {}
            }
        }
        self.handle_datagram_slow(now, from, datagram)
    }

    /// [`Endpoint::handle_datagram`] for control messages and short data packets.
    #[inline(never)]
    fn handle_datagram_slow<'a>(
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
            return self.handle_data_slow(&from, datagram).ok();
        }
        self.handle_control(now, from, datagram);
        None
    }

    /// One control message: decoded once (header and AVPs), its digest checked
    /// over the received bytes, then handed to its connection.
    #[inline(never)]
    fn handle_control(&mut self, now: Instant, from: A, datagram: &[u8]) {
        let encap = self.config.encapsulation;
        let Ok((msg, length)) = ControlMessage::decode_framed(datagram, encap) else {
            self.stats.malformed += 1;
            return;
        };
        self.handle_control_message(now, from, datagram, msg, length);
        self.flush(now);
    }

    /// [`Endpoint::handle_control`] after the decode.
    fn handle_control_message(
        &mut self,
        now: Instant,
        from: A,
        datagram: &[u8],
        msg: ControlMessage,
        length: u16,
    ) {
        let prefix = self.config.encapsulation.control_prefix_len();
        // The decoder checked that Length bytes are present.
        let Some(bytes) = datagram.get(prefix..prefix + usize::from(length)) else {
            self.stats.malformed += 1;
            return;
        };
        let header = msg.header;
        if header.ccid == 0 {
            self.handle_new(now, from, bytes, msg);
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
            if auth::verify_decoded(bytes, self.config.digest, &[&keys.digest], nonces).is_err() {
                self.stats.auth_failed += 1;
                return;
            }
            if learned.is_some() {
                conn.remote_nonce = learned;
            }
        }
        self.receive_on(now, header.ccid, header, bytes, ack_only(&msg));
    }

    /// A message with CCID 0: only an SCCRQ may open a connection.
    ///
    /// Nothing from the message is used before it passed, in this order: the
    /// allow-list ([`Config::allowed_peers_only`]), the digest (with a secret), the
    /// full validation of an SCCRQ (hidden AVPs, required AVPs, authentication on
    /// both sides, a common pseudowire type) and the connection limits. Only then
    /// may its tie breaker (section 5.4.3) drop our own outstanding SCCRQ: a
    /// message that would be refused never displaces a connection.
    fn handle_new(&mut self, now: Instant, from: A, bytes: &[u8], msg: ControlMessage) {
        if msg.message_type() != Some(MessageType::Sccrq) {
            self.stats.unknown_connection += 1;
            return;
        }
        let (total, initiated) = self.peer_connections(&from);
        if self.config.allowed_peers_only && initiated == 0 && !self.allowed.contains(&from) {
            self.stats.refused_peer += 1;
            return;
        }
        if let Some(keys) = &self.keys
            && auth::verify_decoded(bytes, self.config.digest, &[&keys.digest], Nonces::NONE)
                .is_err()
        {
            self.stats.auth_failed += 1;
            return;
        }
        let header = msg.header;
        let Some(&AvpValue::AssignedControlConnectionId(remote_ccid)) =
            msg.find(AvpType::AssignedControlConnectionId)
        else {
            self.stats.malformed += 1;
            return;
        };
        // A retransmitted SCCRQ goes to the connection it created.
        if let Some(&ccid) = self.by_peer.get(&(from.clone(), remote_ccid)) {
            self.receive_on(now, ccid, header, bytes, false);
            return;
        }
        let theirs = match msg.find(AvpType::TieBreaker) {
            Some(AvpValue::TieBreaker(t)) => Some(*t),
            _ => None,
        };
        let remote_nonce = match msg.find(AvpType::Nonce) {
            Some(AvpValue::Nonce(n)) => Some(n.clone()),
            _ => None,
        };
        // An SCCRQ that will be refused (StopCCN) takes part in no tie.
        let tie = if self.sccrq_acceptable(msg) {
            self.tie(&from, theirs)
        } else {
            Tie::None
        };
        // Losing the tie frees our connection for the peer's.
        let freed = usize::from(matches!(tie, Tie::Lose(_)));
        if self.conns.len() - freed >= self.config.max_connections {
            self.stats.connection_limit += 1;
            return;
        }
        if total - freed >= self.config.max_connections_per_peer {
            self.stats.peer_connection_limit += 1;
            return;
        }
        let lost_sessions = match tie {
            Tie::Lose(ours) => self.lose_tie(ours),
            _ => Vec::new(),
        };
        let ccid = self.new_connection(now, from.clone(), false);
        if let Some(conn) = self.conns.get_mut(&ccid) {
            conn.remote_ccid = remote_ccid;
            conn.remote_nonce = remote_nonce;
            conn.tie_rejected = matches!(tie, Tie::Win | Tie::Restart(_));
            // Sessions that waited on our lost connection wait on the peer's now;
            // they start when it comes up and end with it if it fails.
            rehome(conn, &mut self.sessions, lost_sessions);
        }
        self.by_peer.insert((from, remote_ccid), ccid);
        self.receive_on(now, ccid, header, bytes, false);
        if let Tie::Restart(old) = tie {
            self.restart_tie(now, old);
        }
    }

    /// Whether an SCCRQ passes everything [`Endpoint::process`] will check before
    /// accepting it: unhiding, validation, and [`check_sccrx`]'s rules.
    fn sccrq_acceptable(&self, msg: ControlMessage) -> bool {
        let Some(msg) = self.unhide(msg) else {
            return false;
        };
        if validate(&msg).is_err() {
            return false;
        }
        let has_nonce = msg.find(AvpType::Nonce).is_some();
        if has_nonce != self.config.secret.is_some() {
            return false;
        }
        matches!(
            msg.find(AvpType::PseudowireCapabilities),
            Some(AvpValue::PseudowireCapabilities(list))
                if list.iter().any(|t| self.config.pw_types.contains(t))
        )
    }

    /// Section 5.4.3: an SCCRQ from a peer to which our own SCCRQ is outstanding
    /// is a tie; the lower tie breaker wins, and a side that sent none loses to
    /// one that did.
    fn tie(&self, from: &A, theirs: Option<u64>) -> Tie {
        let ours = self
            .conns
            .values()
            .find(|c| c.peer == *from && c.state == ConnState::WaitCtlReply && c.initiator)
            .map(|c| (c.local_ccid, c.tie_breaker));
        let Some((our_ccid, ours)) = ours else {
            return Tie::None;
        };
        match (ours, theirs) {
            (None, None) => Tie::None,
            (Some(_), None) => Tie::Win,
            (None, Some(_)) => Tie::Lose(our_ccid),
            (Some(o), Some(t)) if t < o => Tie::Lose(our_ccid),
            (Some(o), Some(t)) if o < t => Tie::Win,
            // Equal: both discard and start again with a new tie breaker.
            (Some(_), Some(_)) => Tie::Restart(our_ccid),
        }
    }

    /// We lost the tie: drop our connection silently and return its sessions
    /// (waiting for the tunnel) to move onto the peer's connection.
    fn lose_tie(&mut self, ccid: u32) -> Vec<u32> {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return Vec::new();
        };
        let action = conn.apply(ConnInput::LoseTie);
        let sessions: Vec<u32> = std::mem::take(&mut conn.sessions).into_iter().collect();
        self.remove_connection(ccid);
        self.emit(Event::ConnectionDown {
            ccid,
            reason: DownReason::LostTie,
        });
        debug_assert_eq!(action, ConnAction::Remove);
        sessions
    }

    /// Equal tie breakers: our connection is replaced by a new one (with a new
    /// tie breaker) that carries its sessions.
    fn restart_tie(&mut self, now: Instant, old: u32) {
        let Some(conn) = self.conns.get(&old) else {
            return;
        };
        let peer = conn.peer.clone();
        let sessions: Vec<u32> = conn.sessions.iter().copied().collect();
        self.remove_connection(old);
        let ccid = self.new_connection(now, peer, true);
        if let Some(conn) = self.conns.get_mut(&ccid) {
            rehome(conn, &mut self.sessions, sessions);
        }
        self.conn_input(now, ccid, ConnInput::Open, None);
    }

    /// Reliable delivery of one message on `ccid` (`bytes`, from the control
    /// header, cut to its Length; `ack_only` for a ZLB or ACK), then every message
    /// it releases in order goes to [`Endpoint::process`].
    ///
    /// Messages are held out of order as their received bytes, within the
    /// connection's byte budget ([`crate::ReliableConfig::max_held_bytes`]), and
    /// decoded again when delivered: a held message costs its length, not its
    /// decoded AVPs.
    fn receive_on(
        &mut self,
        now: Instant,
        ccid: u32,
        header: ControlHeader,
        bytes: &[u8],
        ack_only: bool,
    ) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        conn.next_hello = now + self.config.hello_interval;
        let body = (!ack_only).then(|| bytes.to_vec());
        let over_budget = conn.reliable.stats().held_budget_exceeded;
        conn.reliable.receive(now, header.ns, header.nr, body);
        self.stats.held_budget_exceeded += conn.reliable.stats().held_budget_exceeded - over_budget;
        mark(&mut self.dirty, conn);
        loop {
            let Some(conn) = self.conns.get_mut(&ccid) else {
                return;
            };
            let Some((ns, raw)) = conn.reliable.poll_delivered() else {
                return;
            };
            // The bytes decoded once already (with the same decoder) when they
            // arrived.
            let Ok(msg) = ControlMessage::decode(&raw, Encapsulation::Udp) else {
                self.stats.malformed += 1;
                continue;
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
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        if conn.state == ConnState::Closing {
            // Only acknowledgements matter now (already done by reliable delivery).
            return;
        }
        let mt = msg.message_type();
        let Some(msg) = self.unhide(msg) else {
            let rc = ResultCode::with_error(
                result::GENERAL_ERROR,
                result::ERROR_OUT_OF_RANGE,
                "hidden AVP cannot be unhidden",
            );
            self.conn_input(now, ccid, ConnInput::Invalid, Some(rc));
            return;
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
                Reply::Cdn(rc) => self.session_error(ccid, mt, &msg, rc),
            }
            return;
        }
        let Some(mt) = mt else { return };
        match mt {
            MessageType::Sccrq => {
                let (verdict, rejected) = match self.conns.get_mut(&ccid) {
                    Some(conn) => (check_sccrx(&self.config, conn, &msg), conn.tie_rejected),
                    None => return,
                };
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
                let Some(conn) = self.conns.get_mut(&ccid) else {
                    return;
                };
                let verdict = check_sccrx(&self.config, conn, &msg);
                if let Some(&AvpValue::AssignedControlConnectionId(id)) =
                    msg.find(AvpType::AssignedControlConnectionId)
                    && conn.state == ConnState::WaitCtlReply
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
            | MessageType::Wen => self.session_message(ccid, mt, &msg),
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

    /// Runs the connection state machine on `input` and carries out its action.
    pub(super) fn conn_input(
        &mut self,
        now: Instant,
        ccid: u32,
        input: ConnInput,
        rc: Option<ResultCode>,
    ) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        let action = conn.apply(input);
        mark(&mut self.dirty, conn);
        match action {
            ConnAction::None => {}
            ConnAction::SendSccrq | ConnAction::SendSccrp => {
                let request = action == ConnAction::SendSccrq;
                let avps = sccrx_avps(&self.config, conn, request);
                let mt = if request {
                    MessageType::Sccrq
                } else {
                    MessageType::Sccrp
                };
                let _ = self.queue(ccid, mt, avps);
            }
            ConnAction::SendScccnAndUp => {
                let _ = self.queue(ccid, MessageType::Scccn, Vec::new());
                self.connection_up(ccid);
            }
            ConnAction::Up => self.connection_up(ccid),
            ConnAction::SendStopCcn => {
                let rc = rc.unwrap_or_else(|| ResultCode::new(result::STOPCCN_GENERAL_CLEAR));
                let avps = vec![
                    Avp::new(AvpValue::ResultCode(rc.clone())),
                    Avp::new(AvpValue::AssignedControlConnectionId(ccid)),
                ];
                let _ = self.queue(ccid, MessageType::StopCcn, avps);
                self.hold(now, ccid, DownReason::StopCcnSent(rc));
            }
            ConnAction::ClearAndHold => {
                let rc = conn.peer_result.take();
                self.hold(now, ccid, DownReason::StopCcnReceived(rc));
            }
            ConnAction::Remove => {
                let reported = conn.down_reported;
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

    /// Clears the connection's sessions and keeps it for a retransmission cycle.
    fn hold(&mut self, now: Instant, ccid: u32, reason: DownReason) {
        self.clear_sessions(ccid);
        let cycle = self.config.reliable.retransmission_cycle();
        if let Some(c) = self.conns.get_mut(&ccid) {
            c.hold_until = Some(now + cycle);
            c.down_reported = true;
        }
        self.emit(Event::ConnectionDown { ccid, reason });
    }

    fn connection_up(&mut self, ccid: u32) {
        let Some(conn) = self.conns.get_mut(&ccid) else {
            return;
        };
        let event = Event::ConnectionUp {
            ccid,
            peer: conn.peer.clone(),
            host_name: conn.peer_host_name.clone(),
            router_id: conn.peer_router_id,
        };
        self.events.push(&mut self.stats, event);
        let sessions = &self.sessions;
        conn.waiting = conn
            .sessions
            .iter()
            .copied()
            .filter(|s| sessions.get(s).map(|s| s.state) == Some(SessionState::WaitTunnel))
            .collect::<VecDeque<u32>>();
        self.admit_waiting(ccid);
    }

    /// Starts sessions that wait for the connection while the send queue is at most
    /// half full; the rest start as acknowledgements free it (see
    /// [`Endpoint::flush`]). The other half is kept for what the requests lead to
    /// (ICCN, CDN) and for answers to the peer.
    pub(super) fn admit_waiting(&mut self, ccid: u32) {
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
                self.session_input(sid, Input::TunnelUp, None);
            }
        }
    }
}

/// Whether an SCCRQ makes us lose, win or restart a tie (section 5.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tie {
    /// No tie: no SCCRQ of ours to the peer is outstanding, or neither side sent
    /// a tie breaker, or the SCCRQ is not acceptable.
    None,
    /// Ours (this CCID) is dropped; the peer's goes on.
    Lose(u32),
    /// The peer's is rejected with a StopCCN.
    Win,
    /// Equal tie breakers: the peer's is rejected and ours (this CCID) restarts.
    Restart(u32),
}

/// Whether a message is only an acknowledgement (a ZLB or an ACK).
fn ack_only(msg: &ControlMessage) -> bool {
    msg.is_zlb() || msg.message_type() == Some(MessageType::Ack)
}

/// Moves sessions (those that still exist) onto `conn`.
fn rehome<A>(conn: &mut Connection<A>, sessions: &mut IdMap<Session>, sids: Vec<u32>) {
    for sid in sids {
        if let Some(s) = sessions.get_mut(&sid) {
            s.ccid = conn.local_ccid;
            conn.sessions.insert(sid);
        }
    }
}

/// Checks an SCCRQ or SCCRP and records what it tells us (sections 5.4.3, 4.3).
fn check_sccrx<A>(
    config: &Config,
    conn: &mut Connection<A>,
    msg: &ControlMessage,
) -> Result<(), ResultCode> {
    let authenticating = config.secret.is_some();
    if let Some(AvpValue::HostName(h)) = msg.find(AvpType::HostName) {
        conn.peer_host_name = h.clone();
    }
    if let Some(&AvpValue::RouterId(r)) = msg.find(AvpType::RouterId) {
        conn.peer_router_id = r;
    }
    if let Some(&AvpValue::ReceiveWindowSize(w)) = msg.find(AvpType::ReceiveWindowSize) {
        conn.reliable.set_peer_window(w);
    }
    if let Some(AvpValue::PseudowireCapabilities(list)) = msg.find(AvpType::PseudowireCapabilities)
    {
        conn.pw_types = list
            .iter()
            .copied()
            .filter(|t| config.pw_types.contains(t))
            .collect();
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
