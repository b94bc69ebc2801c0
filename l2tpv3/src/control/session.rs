//! Session state machines (RFC 3931 sections 7.3 and 7.4): incoming calls (ICRQ,
//! ICRP, ICCN) and outgoing calls (OCRQ, OCRP, OCCN) from either side, torn down
//! with CDN; SLI and WEN on established sessions.
//!
//! [`transition`] is the whole table as one `match (state, input)`. The endpoint
//! decides whether a message is *acceptable* (required AVPs, pseudowire type,
//! sublayer and sequencing) before feeding it in, and carries out the returned
//! [`Action`].

use crate::avp::{DataSequencing, L2SublayerType, PwType};
use crate::data::Cookie;

/// Where a session stands (sections 7.3.1, 7.3.2, 7.4.1, 7.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// No call yet (the tables' `idle`).
    Idle,
    /// Opened locally; waiting for the control connection to come up.
    WaitTunnel,
    /// ICRQ or OCRQ sent; waiting for ICRP or OCRP.
    WaitReply,
    /// ICRP sent (waiting for ICCN), or OCRP received (waiting for OCCN).
    WaitConnect,
    /// The call is up and data may flow.
    Established,
    /// CDN sent or received; the session is gone.
    Closed,
}

/// Which call establishment the session uses and which side we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// We sent the ICRQ (7.3.1).
    IncomingSender,
    /// We received the ICRQ (7.3.2).
    IncomingRecipient,
    /// We sent the OCRQ (7.4.1).
    OutgoingSender,
    /// We received the OCRQ (7.4.2).
    OutgoingRecipient,
}

/// What happened to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A local request to open an incoming call (send ICRQ).
    OpenIncoming,
    /// A local request to open an outgoing call (send OCRQ).
    OpenOutgoing,
    /// The control connection is established.
    TunnelUp,
    /// ICRQ received; `acceptable` after the endpoint's checks.
    Icrq {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// ICRP received.
    Icrp {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// ICCN received.
    Iccn {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// OCRQ received.
    Ocrq {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// OCRP received.
    Ocrp {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// OCCN received.
    Occn {
        /// Whether we accept it.
        acceptable: bool,
    },
    /// CDN received.
    Cdn,
    /// SLI received.
    Sli,
    /// WEN received.
    Wen,
    /// Local close (administrative), or the control connection went away.
    Close,
}

/// What the endpoint must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Send the named message.
    Send(Msg),
    /// Send OCRP and then OCCN (the recipient places the call at once).
    SendOcrpAndOccn,
    /// Send ICCN and report the session up.
    SendIccnAndUp,
    /// Report the session up.
    Up,
    /// Report circuit status from an SLI.
    ReportSli,
    /// Report WAN errors from a WEN.
    ReportWen,
    /// Send CDN (with the given reason) and clean up.
    SendCdn(CdnReason),
    /// Clean up without sending anything (CDN received, or connection gone).
    CleanUp,
}

/// A session message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// Incoming-Call-Request.
    Icrq,
    /// Incoming-Call-Reply.
    Icrp,
    /// Outgoing-Call-Request.
    Ocrq,
}

/// Why we send a CDN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdnReason {
    /// The request was not acceptable (the endpoint names the result code).
    NotAcceptable,
    /// A message arrived in a state where it makes no sense (result 16).
    FsmError,
    /// Administrative close (result 3).
    Admin,
}

/// The session state table: one `match (state, input)` (sections 7.3, 7.4).
pub fn transition(kind: CallKind, state: SessionState, input: Input) -> (SessionState, Action) {
    use Action as A;
    use CallKind as K;
    use Input as I;
    use SessionState as S;
    match (kind, state, input) {
        // Closed sessions ignore everything.
        (_, S::Closed, _) => (S::Closed, A::None),
        // Local open: wait for the tunnel, or send the request at once.
        (K::IncomingSender | K::OutgoingSender, S::Idle, I::OpenIncoming | I::OpenOutgoing) => {
            (S::WaitTunnel, A::None)
        }
        (K::IncomingSender, S::WaitTunnel, I::TunnelUp) => (S::WaitReply, A::Send(Msg::Icrq)),
        (K::OutgoingSender, S::WaitTunnel, I::TunnelUp) => (S::WaitReply, A::Send(Msg::Ocrq)),
        // 7.3.2: ICRQ recipient.
        (K::IncomingRecipient, S::Idle, I::Icrq { acceptable: true }) => {
            (S::WaitConnect, A::Send(Msg::Icrp))
        }
        (K::IncomingRecipient, S::Idle, I::Icrq { acceptable: false }) => {
            (S::Closed, A::SendCdn(CdnReason::NotAcceptable))
        }
        (K::IncomingRecipient, S::WaitConnect, I::Iccn { acceptable: true }) => {
            (S::Established, A::Up)
        }
        (K::IncomingRecipient, S::WaitConnect, I::Iccn { acceptable: false }) => {
            (S::Closed, A::SendCdn(CdnReason::NotAcceptable))
        }
        // 7.3.1: ICRQ sender.
        (K::IncomingSender, S::WaitReply, I::Icrp { acceptable: true }) => {
            (S::Established, A::SendIccnAndUp)
        }
        (K::IncomingSender, S::WaitReply, I::Icrp { acceptable: false }) => {
            (S::Closed, A::SendCdn(CdnReason::NotAcceptable))
        }
        // 7.4.2: OCRQ recipient places the call at once.
        (K::OutgoingRecipient, S::Idle, I::Ocrq { acceptable: true }) => {
            (S::Established, A::SendOcrpAndOccn)
        }
        (K::OutgoingRecipient, S::Idle, I::Ocrq { acceptable: false }) => {
            (S::Closed, A::SendCdn(CdnReason::NotAcceptable))
        }
        // 7.4.1: OCRQ sender.
        (K::OutgoingSender, S::WaitReply, I::Ocrp { acceptable: true }) => {
            (S::WaitConnect, A::None)
        }
        (K::OutgoingSender, S::WaitReply | S::WaitConnect, I::Ocrp { acceptable: false })
        | (K::OutgoingSender, S::WaitConnect, I::Occn { acceptable: false }) => {
            (S::Closed, A::SendCdn(CdnReason::NotAcceptable))
        }
        (K::OutgoingSender, S::WaitConnect, I::Occn { acceptable: true }) => {
            (S::Established, A::Up)
        }
        // Established sessions: link info and WAN errors.
        (_, S::Established, I::Sli) => (S::Established, A::ReportSli),
        (_, S::Established, I::Wen) => (S::Established, A::ReportWen),
        // Teardown from any live state.
        (_, _, I::Cdn) => (S::Closed, A::CleanUp),
        (_, S::Idle | S::WaitTunnel, I::Close) => (S::Closed, A::CleanUp),
        (_, _, I::Close) => (S::Closed, A::SendCdn(CdnReason::Admin)),
        // A tunnel coming up again changes nothing for a session already past it.
        (_, _, I::TunnelUp) => (state, A::None),
        // Anything else is a message in the wrong state (7.1): tear the session down.
        (_, _, _) => (S::Closed, A::SendCdn(CdnReason::FsmError)),
    }
}

/// The parameters a session negotiated (section 5.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Our Session ID: the peer puts it in data packets to us.
    pub local_id: u32,
    /// The peer's Session ID: we put it in data packets to the peer (0 until known).
    pub remote_id: u32,
    /// The control connection (our CCID) carrying this session.
    pub ccid: u32,
    /// Which exchange and which side.
    pub kind: CallKind,
    /// Where the FSM stands.
    pub state: SessionState,
    /// Pseudowire type.
    pub pw_type: PwType,
    /// Remote End ID (the circuit name), as sent or received.
    pub remote_end_id: Vec<u8>,
    /// Serial number of the ICRQ/OCRQ.
    pub serial: u32,
    /// The cookie we assigned: data from the peer must carry it.
    pub local_cookie: Cookie,
    /// The cookie the peer assigned: our data to it carries it.
    pub remote_cookie: Cookie,
    /// The sublayer we require on data we receive.
    pub local_sublayer: L2SublayerType,
    /// The sublayer the peer requires on data we send.
    pub remote_sublayer: L2SublayerType,
    /// Whether we asked the peer to sequence its data to us.
    pub local_sequencing: DataSequencing,
    /// Whether the peer asked us to sequence our data.
    pub remote_sequencing: DataSequencing,
    /// Whether the peer last reported the circuit active (SLI/Circuit Status).
    pub remote_circuit_active: bool,
    /// Result code of a CDN received, for the down event.
    pub peer_result: Option<crate::avp::ResultCode>,
    /// The last WEN counters received.
    pub last_wan_errors: Option<crate::avp::CircuitErrors>,
}

impl Session {
    /// Applies an input through [`transition`] and returns the action.
    pub fn apply(&mut self, input: Input) -> Action {
        let (state, action) = transition(self.kind, self.state, input);
        self.state = state;
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallKind as K;
    use Input as I;
    use SessionState as S;

    #[test]
    fn incoming_call_both_sides() {
        let (s, a) = transition(K::IncomingSender, S::Idle, I::OpenIncoming);
        assert_eq!((s, a), (S::WaitTunnel, Action::None));
        let (s, a) = transition(K::IncomingSender, s, I::TunnelUp);
        assert_eq!((s, a), (S::WaitReply, Action::Send(Msg::Icrq)));
        let (r, b) = transition(K::IncomingRecipient, S::Idle, I::Icrq { acceptable: true });
        assert_eq!((r, b), (S::WaitConnect, Action::Send(Msg::Icrp)));
        let (s, a) = transition(K::IncomingSender, s, I::Icrp { acceptable: true });
        assert_eq!((s, a), (S::Established, Action::SendIccnAndUp));
        let (r, b) = transition(K::IncomingRecipient, r, I::Iccn { acceptable: true });
        assert_eq!((r, b), (S::Established, Action::Up));
    }

    #[test]
    fn outgoing_call_both_sides() {
        let (s, _) = transition(K::OutgoingSender, S::WaitTunnel, I::TunnelUp);
        let (r, b) = transition(K::OutgoingRecipient, S::Idle, I::Ocrq { acceptable: true });
        assert_eq!((r, b), (S::Established, Action::SendOcrpAndOccn));
        let (s, a) = transition(K::OutgoingSender, s, I::Ocrp { acceptable: true });
        assert_eq!((s, a), (S::WaitConnect, Action::None));
        let (s, a) = transition(K::OutgoingSender, s, I::Occn { acceptable: true });
        assert_eq!((s, a), (S::Established, Action::Up));
    }

    #[test]
    fn teardown_and_errors() {
        assert_eq!(
            transition(K::IncomingRecipient, S::Idle, I::Icrq { acceptable: false }),
            (S::Closed, Action::SendCdn(CdnReason::NotAcceptable))
        );
        assert_eq!(
            transition(K::IncomingSender, S::Established, I::Close),
            (S::Closed, Action::SendCdn(CdnReason::Admin))
        );
        assert_eq!(
            transition(K::IncomingSender, S::WaitReply, I::Cdn),
            (S::Closed, Action::CleanUp)
        );
        // ICCN to the ICRQ sender is out of place.
        assert_eq!(
            transition(
                K::IncomingSender,
                S::WaitReply,
                I::Iccn { acceptable: true }
            ),
            (S::Closed, Action::SendCdn(CdnReason::FsmError))
        );
        assert_eq!(
            transition(K::IncomingSender, S::Closed, I::Cdn),
            (S::Closed, Action::None)
        );
        assert_eq!(
            transition(K::IncomingSender, S::Established, I::Sli),
            (S::Established, Action::ReportSli)
        );
    }
}
