//! The control connection state machine (RFC 3931 section 7.2) and the state kept
//! per control connection.
//!
//! [`transition`] is the table of section 7.2 as one `match (state, input)`. One
//! state is added: [`ConnState::Closing`], where a connection that sent or received
//! a StopCCN keeps its reliable delivery running for a full retransmission cycle
//! (sections 4.2 and 7.1) so the StopCCN is delivered and its retransmissions are
//! acknowledged, before it is removed.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use super::reliable::Reliable;
use crate::avp::{Avp, PwType};
use crate::message::MessageType;

/// The states of section 7.2 plus the StopCCN hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnState {
    /// Nothing sent or received yet.
    Idle,
    /// SCCRQ sent, waiting for SCCRP.
    WaitCtlReply,
    /// SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    /// Up: sessions may be created.
    Established,
    /// StopCCN sent or received; delivery runs until the hold expires.
    Closing,
}

/// The events of section 7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnInput {
    /// Local open request.
    Open,
    /// SCCRQ received (with the endpoint's verdict on it).
    Sccrq {
        /// Acceptable (pseudowire types, authentication agreement, resources).
        acceptable: bool,
    },
    /// SCCRP received.
    Sccrp {
        /// Acceptable.
        acceptable: bool,
    },
    /// SCCCN received.
    Scccn {
        /// Acceptable.
        acceptable: bool,
    },
    /// StopCCN received.
    StopCcn,
    /// Administrative close.
    Close,
    /// We lost the tie breaker against the peer's SCCRQ: discard silently.
    LoseTie,
    /// A message that this state cannot take (section 7.1), or a fatal AVP error.
    Invalid,
    /// Reliable delivery gave up, or HELLO went unanswered.
    TransportFailed,
    /// The StopCCN hold ended.
    HoldExpired,
}

/// What the endpoint must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAction {
    /// Nothing.
    None,
    /// Send SCCRQ.
    SendSccrq,
    /// Send SCCRP.
    SendSccrp,
    /// Send SCCCN and report the connection up.
    SendScccnAndUp,
    /// Report the connection up.
    Up,
    /// Send StopCCN, clear sessions, and hold.
    SendStopCcn,
    /// Clear sessions and hold (StopCCN received).
    ClearAndHold,
    /// Forget the connection now.
    Remove,
}

/// The control connection table (section 7.2), as one `match (state, input)`.
pub fn transition(state: ConnState, input: ConnInput) -> (ConnState, ConnAction) {
    use ConnAction as A;
    use ConnInput as I;
    use ConnState as S;
    match (state, input) {
        (S::Idle, I::Open) => (S::WaitCtlReply, A::SendSccrq),
        (S::Idle, I::Sccrq { acceptable: true }) => (S::WaitCtlConn, A::SendSccrp),
        (S::WaitCtlReply, I::Sccrp { acceptable: true }) => (S::Established, A::SendScccnAndUp),
        (S::WaitCtlConn, I::Scccn { acceptable: true }) => (S::Established, A::Up),
        (S::WaitCtlReply, I::LoseTie) => (S::Idle, A::Remove),
        // Any StopCCN: clean up (and keep acknowledging for a while).
        (S::Idle | S::WaitCtlReply | S::WaitCtlConn | S::Established, I::StopCcn) => {
            (S::Closing, A::ClearAndHold)
        }
        // Reliable delivery failed: nothing can be delivered any more.
        (_, I::TransportFailed) => (S::Idle, A::Remove),
        (S::Closing, I::HoldExpired) => (S::Idle, A::Remove),
        (S::Closing, _) => (S::Closing, A::None),
        // Unacceptable or out-of-place messages and local close: StopCCN.
        (S::Idle | S::WaitCtlReply | S::WaitCtlConn | S::Established, _) => {
            (S::Closing, A::SendStopCcn)
        }
    }
}

/// A message queued on a control connection, encoded at each (re)transmission so
/// that Nr and the digest are current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The message type.
    pub message_type: MessageType,
    /// The AVPs after Message Type (and after the Message Digest, added on encoding).
    pub avps: Vec<Avp>,
}

/// One control connection: FSM state, reliable delivery and negotiated parameters.
pub struct Connection<A> {
    /// Where the FSM stands.
    pub state: ConnState,
    /// Our Control Connection ID (the peer puts it in headers to us).
    pub local_ccid: u32,
    /// The peer's Control Connection ID (0 until its SCCRQ/SCCRP arrives).
    pub remote_ccid: u32,
    /// The peer's address.
    pub peer: A,
    /// Reliable delivery.
    pub reliable: Reliable<Outgoing, Vec<u8>>,
    /// Our nonce, when authentication is on.
    pub local_nonce: Vec<u8>,
    /// The peer's nonce, once received.
    pub remote_nonce: Option<Vec<u8>>,
    /// Our tie breaker, if we initiated with one.
    pub tie_breaker: Option<u64>,
    /// The peer's Host Name.
    pub peer_host_name: Vec<u8>,
    /// The peer's Router ID.
    pub peer_router_id: u32,
    /// Pseudowire types both sides support.
    pub pw_types: Vec<PwType>,
    /// Local session IDs carried by this connection.
    pub sessions: BTreeSet<u32>,
    /// When the next HELLO is due if nothing is heard (section 4.4).
    pub next_hello: Instant,
    /// When the StopCCN hold ends, in [`ConnState::Closing`].
    pub hold_until: Option<Instant>,
    /// Result code of a StopCCN received, for the down event.
    pub peer_result: Option<crate::avp::ResultCode>,
    /// Whether we initiated (sent the SCCRQ).
    pub initiator: bool,
    /// We won a tie breaker against this connection's SCCRQ: reject it.
    pub tie_rejected: bool,
    /// The application was told the connection is down.
    pub down_reported: bool,
    /// Queued for output processing.
    pub dirty: bool,
    /// Sessions waiting for room in the send queue before their ICRQ/OCRQ.
    pub waiting: VecDeque<u32>,
}

impl<A> Connection<A> {
    /// Applies an input through [`transition`] and returns the action.
    pub fn apply(&mut self, input: ConnInput) -> ConnAction {
        let (state, action) = transition(self.state, input);
        self.state = state;
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnAction as A;
    use ConnInput as I;
    use ConnState as S;

    #[test]
    fn lock_step_establishment() {
        assert_eq!(
            transition(S::Idle, I::Open),
            (S::WaitCtlReply, A::SendSccrq)
        );
        assert_eq!(
            transition(S::WaitCtlReply, I::Sccrp { acceptable: true }),
            (S::Established, A::SendScccnAndUp)
        );
        assert_eq!(
            transition(S::Idle, I::Sccrq { acceptable: true }),
            (S::WaitCtlConn, A::SendSccrp)
        );
        assert_eq!(
            transition(S::WaitCtlConn, I::Scccn { acceptable: true }),
            (S::Established, A::Up)
        );
    }

    #[test]
    fn section_7_2_error_rows() {
        for s in [S::Idle, S::WaitCtlReply, S::WaitCtlConn, S::Established] {
            assert_eq!(transition(s, I::Invalid), (S::Closing, A::SendStopCcn));
            assert_eq!(transition(s, I::StopCcn), (S::Closing, A::ClearAndHold));
        }
        assert_eq!(
            transition(S::Idle, I::Sccrq { acceptable: false }),
            (S::Closing, A::SendStopCcn)
        );
        assert_eq!(
            transition(S::WaitCtlConn, I::Sccrp { acceptable: true }),
            (S::Closing, A::SendStopCcn)
        );
        assert_eq!(
            transition(S::Established, I::Close),
            (S::Closing, A::SendStopCcn)
        );
        assert_eq!(
            transition(S::WaitCtlReply, I::LoseTie),
            (S::Idle, A::Remove)
        );
        assert_eq!(transition(S::Closing, I::Close), (S::Closing, A::None));
        assert_eq!(transition(S::Closing, I::HoldExpired), (S::Idle, A::Remove));
    }
}
