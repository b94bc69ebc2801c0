//! Session messages (ICRQ ... WEN) and the session state machine's actions.

use std::hash::Hash;
use std::time::Instant;

use rand_core::Rng;

use super::Endpoint;
use super::build::{request_avps, session_ids};
use super::data::DataPath;
use crate::avp::{
    Avp, AvpType, AvpValue, DataSequencing, L2SublayerType, PwType, ResultCode, result,
};
use crate::control::config::Config;
use crate::control::connection::{ConnInput, ConnState};
use crate::control::event::Event;
use crate::control::session::{Action, CallKind, CdnReason, Input, Msg, Session, SessionState};
use crate::message::{ControlMessage, MessageType};

impl<A, R> Endpoint<A, R>
where
    A: Clone + Eq + Hash,
    R: Rng,
{
    /// An ICRQ or OCRQ: a new session from the peer.
    pub(super) fn session_request(
        &mut self,
        now: Instant,
        ccid: u32,
        mt: MessageType,
        msg: &ControlMessage,
    ) {
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
        let slot_free = self.data.free_slot().is_some();
        if self.sessions.len() >= self.config.max_sessions || !slot_free {
            self.stats.session_limit += 1;
            let rc = ResultCode::with_error(
                result::CDN_TEMPORARY_NO_FACILITIES,
                result::ERROR_NO_RESOURCES,
                "session limit",
            );
            self.send_cdn_raw(ccid, 0, remote_id, rc);
            return;
        }
        let kind = if mt == MessageType::Icrq {
            CallKind::IncomingRecipient
        } else {
            CallKind::OutgoingRecipient
        };
        let Some(sid) = self.new_session(ccid, kind, pw_type, remote_end_id, serial) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.remote_id = remote_id;
        apply_session_avps(s, msg);
        let verdict = check_session(&self.config, s);
        let acceptable = verdict.is_ok();
        let input = if mt == MessageType::Icrq {
            Input::Icrq { acceptable }
        } else {
            Input::Ocrq { acceptable }
        };
        self.session_input(sid, input, verdict.err());
    }

    /// ICRP, ICCN, OCRP, OCCN, CDN, SLI, WEN: find the session by the Remote
    /// Session ID AVP (our ID) and run its state machine.
    pub(super) fn session_message(&mut self, ccid: u32, mt: MessageType, msg: &ControlMessage) {
        let our_id = match msg.find(AvpType::RemoteSessionId) {
            Some(&AvpValue::RemoteSessionId(id)) => id,
            _ => 0,
        };
        // Our IDs are never 0, so a message naming 0 finds no session.
        let Some(s) = self.sessions.get_mut(&our_id).filter(|s| s.ccid == ccid) else {
            self.stats.unknown_session += 1;
            return;
        };
        if let Some(&AvpValue::LocalSessionId(id)) = msg.find(AvpType::LocalSessionId)
            && s.remote_id == 0
        {
            s.remote_id = id;
        }
        let (input, rc) = match mt {
            MessageType::Icrp | MessageType::Ocrp => {
                apply_session_avps(s, msg);
                let verdict = check_session(&self.config, s);
                let acceptable = verdict.is_ok();
                let input = if mt == MessageType::Icrp {
                    Input::Icrp { acceptable }
                } else {
                    Input::Ocrp { acceptable }
                };
                (input, verdict.err())
            }
            MessageType::Iccn | MessageType::Occn => {
                apply_session_avps(s, msg);
                let input = if mt == MessageType::Iccn {
                    Input::Iccn { acceptable: true }
                } else {
                    Input::Occn { acceptable: true }
                };
                (input, None)
            }
            MessageType::Cdn => {
                s.peer_result = match msg.find(AvpType::ResultCode) {
                    Some(AvpValue::ResultCode(rc)) => Some(rc.clone()),
                    _ => None,
                };
                (Input::Cdn, None)
            }
            MessageType::Sli => {
                if let Some(AvpValue::CircuitStatus(cs)) = msg.find(AvpType::CircuitStatus) {
                    s.remote_circuit_active = cs.active;
                }
                (Input::Sli, None)
            }
            MessageType::Wen => {
                if let Some(AvpValue::CircuitErrors(e)) = msg.find(AvpType::CircuitErrors) {
                    s.last_wan_errors = Some(*e);
                }
                (Input::Wen, None)
            }
            _ => return,
        };
        self.session_input(our_id, input, rc);
    }

    /// A session message failed validation: CDN for the session it names.
    pub(super) fn session_error(
        &mut self,
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
        let ours = self.sessions.get(&our_id).is_some_and(|s| s.ccid == ccid);
        if mt == Some(MessageType::Cdn) {
            // A broken CDN still ends the session.
            if ours {
                self.session_input(our_id, Input::Cdn, None);
            }
            return;
        }
        if ours {
            // Any message in error ends the session with the validator's result.
            self.session_input(our_id, Input::Close, Some(rc));
        } else {
            self.send_cdn_raw(ccid, 0, peer_id, rc);
        }
    }

    /// Runs the session state machine on `input` and carries out its action.
    pub(super) fn session_input(&mut self, sid: u32, input: Input, rc: Option<ResultCode>) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let was_live = s.state != SessionState::Closed;
        let action = s.apply(input);
        if s.state != SessionState::Established {
            // Data flows on established sessions only.
            self.data.clear(sid);
        }
        let s = &*s;
        let ccid = s.ccid;
        match action {
            Action::None => {}
            Action::Send(m) => {
                let (mt, avps) =
                    request_avps(&self.config, self.keys.as_ref(), &mut self.rng, s, m);
                if self.queue(ccid, mt, avps).is_err() {
                    self.drop_session(sid, None, false);
                }
            }
            Action::SendOcrpAndOccn => {
                let (_, avps) = request_avps(
                    &self.config,
                    self.keys.as_ref(),
                    &mut self.rng,
                    s,
                    Msg::Icrp,
                );
                let ids = session_ids(s);
                let _ = self.queue(ccid, MessageType::Ocrp, avps);
                let _ = self.queue(ccid, MessageType::Occn, ids);
                self.session_up(sid);
            }
            Action::SendIccnAndUp => {
                let ids = session_ids(s);
                let _ = self.queue(ccid, MessageType::Iccn, ids);
                self.session_up(sid);
            }
            Action::Up => self.session_up(sid),
            Action::ReportSli => {
                let active = s.remote_circuit_active;
                self.emit(Event::CircuitStatus {
                    session_id: sid,
                    active,
                });
            }
            Action::ReportWen => {
                if let Some(errors) = s.last_wan_errors {
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
                let (local, remote) = (s.local_id, s.remote_id);
                self.send_cdn_raw(ccid, local, remote, rc.clone());
                self.drop_session(sid, Some(rc), false);
            }
            Action::CleanUp => {
                if was_live {
                    let rc = s.peer_result.clone();
                    let by_peer = matches!(input, Input::Cdn);
                    self.drop_session(sid, rc, by_peer);
                }
            }
        }
    }

    /// The session is established: its data path is laid out (receive and
    /// transmit header templates) and the application told.
    fn session_up(&mut self, sid: u32) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let peer = self.conns.get(&s.ccid).map(|c| c.peer.clone());
        if let Some(path) = peer.and_then(|p| DataPath::new(self.config.encapsulation, s, p)) {
            self.data.install(sid, path);
        }
        let event = Event::SessionUp {
            ccid: s.ccid,
            session_id: sid,
            remote_session_id: s.remote_id,
            pw_type: s.pw_type,
            remote_end_id: s.remote_end_id.clone(),
        };
        self.emit(event);
    }

    /// Queues a CDN naming the IDs given (the session may not exist).
    fn send_cdn_raw(&mut self, ccid: u32, local: u32, remote: u32, rc: ResultCode) {
        let avps = vec![
            Avp::new(AvpValue::ResultCode(rc)),
            Avp::new(AvpValue::LocalSessionId(local)),
            Avp::new(AvpValue::RemoteSessionId(remote)),
        ];
        let _ = self.queue(ccid, MessageType::Cdn, avps);
    }
}

/// Checks what the peer asked of a session (sections 5.4.4, 4.6).
fn check_session(config: &Config, s: &Session) -> Result<(), ResultCode> {
    if !config.pw_types.contains(&s.pw_type) {
        return Err(ResultCode::new(result::CDN_UNSUPPORTED_PW_TYPE));
    }
    if s.remote_sublayer != L2SublayerType::NONE && s.remote_sublayer != L2SublayerType::DEFAULT {
        return Err(ResultCode::with_error(
            result::GENERAL_ERROR,
            result::ERROR_OUT_OF_RANGE,
            "unsupported L2-Specific Sublayer",
        ));
    }
    if s.remote_sequencing != DataSequencing::NONE && s.remote_sublayer == L2SublayerType::NONE {
        return Err(ResultCode::new(result::CDN_SEQUENCING_WITHOUT_SUBLAYER));
    }
    Ok(())
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
