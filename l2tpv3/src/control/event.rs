//! What an endpoint tells its application.

use crate::avp::{CircuitErrors, PwType, ResultCode};
use crate::message::MessageType;

/// Why a control connection went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// We sent a StopCCN with this result.
    StopCcnSent(ResultCode),
    /// The peer sent a StopCCN (with its result, if readable).
    StopCcnReceived(Option<ResultCode>),
    /// Reliable delivery reached its retry limit (including an unanswered HELLO).
    Unreachable,
    /// We lost the tie breaker; the peer's connection replaces ours.
    LostTie,
}

/// An event for the application, drained with
/// [`crate::Endpoint::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<A> {
    /// A control connection reached the established state.
    ConnectionUp {
        /// Our CCID.
        ccid: u32,
        /// The peer.
        peer: A,
        /// The peer's Host Name.
        host_name: Vec<u8>,
        /// The peer's Router ID.
        router_id: u32,
    },
    /// A control connection is down; its sessions are gone.
    ConnectionDown {
        /// Our CCID.
        ccid: u32,
        /// Why.
        reason: DownReason,
    },
    /// A session is established: data may flow.
    SessionUp {
        /// Our CCID.
        ccid: u32,
        /// Our Session ID.
        session_id: u32,
        /// The peer's Session ID.
        remote_session_id: u32,
        /// Pseudowire type.
        pw_type: PwType,
        /// Remote End ID.
        remote_end_id: Vec<u8>,
    },
    /// A session is gone (CDN sent or received, or its connection went down).
    SessionDown {
        /// Our CCID.
        ccid: u32,
        /// Our Session ID.
        session_id: u32,
        /// The result code of the CDN, if there was one.
        result: Option<ResultCode>,
        /// Whether the peer ended it.
        by_peer: bool,
    },
    /// The peer reported its circuit status (SLI, section 6.14).
    CircuitStatus {
        /// Our Session ID.
        session_id: u32,
        /// Whether the circuit is active.
        active: bool,
    },
    /// The peer reported WAN errors (WEN, section 6.13).
    WanError {
        /// Our Session ID.
        session_id: u32,
        /// The counters.
        errors: CircuitErrors,
    },
    /// A control message was queued for reliable delivery
    /// (with [`crate::Config::report_messages`]).
    MessageQueued {
        /// Our CCID.
        ccid: u32,
        /// Its Ns.
        ns: u16,
        /// Its type.
        message_type: MessageType,
    },
    /// A control message was delivered in order by reliable delivery
    /// (with [`crate::Config::report_messages`]).
    MessageDelivered {
        /// Our CCID.
        ccid: u32,
        /// Its Ns.
        ns: u16,
        /// Its type.
        message_type: Option<MessageType>,
    },
}
