//! The neighbor state machine (RFC 2328 10.1-10.3), as one `match (state, event)`
//! table. The neighbor data (lists, DD sequence numbers, timers) lives in
//! [`super::neighbor`]; this module only decides transitions and actions.

/// Neighbor states (RFC 2328 10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum NeighborState {
    /// Nothing heard recently.
    Down,
    /// NBMA only: hellos are being sent to a configured neighbor (unused here).
    Attempt,
    /// A hello was heard, but it does not list us yet.
    Init,
    /// Bidirectional communication; no adjacency (yet).
    TwoWay,
    /// Negotiating master/slave and the initial DD sequence number.
    ExStart,
    /// Exchanging database descriptions.
    Exchange,
    /// Requesting the LSAs found newer during the exchange.
    Loading,
    /// Adjacency complete.
    Full,
}

/// Neighbor events (RFC 2328 10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborEvent {
    /// A valid hello arrived from the neighbor.
    HelloReceived,
    #[allow(dead_code)] // an input of the RFC table this engine never raises
    /// NBMA: start sending hellos (unused).
    Start,
    /// The neighbor's hello lists our router ID.
    TwoWayReceived,
    /// Master/slave and the DD sequence number are settled.
    NegotiationDone,
    /// Both sides have sent their last DD.
    ExchangeDone,
    /// A request for an LSA we do not have.
    BadLsReq,
    /// The request list emptied in Loading.
    LoadingDone,
    /// Re-check whether an adjacency should exist.
    AdjOk,
    /// A DD packet out of sequence or with wrong flags/options.
    SeqNumberMismatch,
    /// The neighbor's hello no longer lists us.
    OneWayReceived,
    /// Kill the neighbor (interface down, administrative).
    KillNbr,
    /// Nothing heard for RouterDeadInterval.
    InactivityTimer,
    /// The lower layer reports the neighbor unreachable (raised by
    /// `Router::neighbor_down`, for BFD as RFC 5882 describes).
    LlDown,
}

/// What the caller does on a transition (RFC 2328 10.3 actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsmAction {
    /// Nothing besides the state change.
    None,
    /// (Re)start the inactivity timer.
    RestartInactivity,
    /// Pick a DD sequence number, declare ourselves master, send empty DD with I/M/MS.
    StartExStart,
    /// Build the database summary list and continue the exchange.
    BeginExchange,
    /// Clear the summary, request and retransmission lists.
    ClearLists,
    /// Clear the lists, then act as StartExStart.
    RestartExchange,
}

/// Extra facts the table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NsmInput {
    /// Whether an adjacency should be formed (RFC 2328 10.4).
    pub adjacency_wanted: bool,
    /// Whether the link-state request list is empty.
    pub requests_empty: bool,
}

/// The NSM table: `(state, event)` -> (next state, action).
pub fn nsm_transition(
    state: NeighborState,
    event: NeighborEvent,
    input: NsmInput,
) -> (NeighborState, NsmAction) {
    use NeighborEvent as E;
    use NeighborState as S;
    match (state, event) {
        (S::Down, E::Start) => (S::Attempt, NsmAction::RestartInactivity),
        (S::Down | S::Attempt, E::HelloReceived) => (S::Init, NsmAction::RestartInactivity),
        (s, E::HelloReceived) => (s, NsmAction::RestartInactivity),
        (S::Init, E::TwoWayReceived) if input.adjacency_wanted => {
            (S::ExStart, NsmAction::StartExStart)
        }
        (S::Init, E::TwoWayReceived) => (S::TwoWay, NsmAction::None),
        (S::ExStart, E::NegotiationDone) => (S::Exchange, NsmAction::BeginExchange),
        (S::Exchange, E::ExchangeDone) if input.requests_empty => (S::Full, NsmAction::None),
        (S::Exchange, E::ExchangeDone) => (S::Loading, NsmAction::None),
        (S::Loading, E::LoadingDone) => (S::Full, NsmAction::None),
        (S::TwoWay, E::AdjOk) if input.adjacency_wanted => (S::ExStart, NsmAction::StartExStart),
        (S::ExStart | S::Exchange | S::Loading | S::Full, E::AdjOk) if !input.adjacency_wanted => {
            (S::TwoWay, NsmAction::ClearLists)
        }
        (S::Exchange | S::Loading | S::Full, E::SeqNumberMismatch | E::BadLsReq) => {
            (S::ExStart, NsmAction::RestartExchange)
        }
        (S::TwoWay | S::ExStart | S::Exchange | S::Loading | S::Full, E::OneWayReceived) => {
            (S::Init, NsmAction::ClearLists)
        }
        (_, E::KillNbr | E::InactivityTimer | E::LlDown) => (S::Down, NsmAction::ClearLists),
        // Everything else is ignored in that state (RFC 2328 10.3).
        (s, _) => (s, NsmAction::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NeighborEvent as E;
    use NeighborState as S;

    #[test]
    fn down_to_full() {
        let adj = NsmInput {
            adjacency_wanted: true,
            requests_empty: false,
        };
        let mut s = S::Down;
        for (ev, want) in [
            (E::HelloReceived, S::Init),
            (E::TwoWayReceived, S::ExStart),
            (E::NegotiationDone, S::Exchange),
            (E::ExchangeDone, S::Loading),
            (E::LoadingDone, S::Full),
        ] {
            s = nsm_transition(s, ev, adj).0;
            assert_eq!(s, want);
        }
        assert_eq!(
            nsm_transition(s, E::SeqNumberMismatch, adj),
            (S::ExStart, NsmAction::RestartExchange)
        );
        assert_eq!(nsm_transition(s, E::OneWayReceived, adj).0, S::Init);
        assert_eq!(nsm_transition(s, E::InactivityTimer, adj).0, S::Down);
        // DROther to DROther stays 2-Way; ExchangeDone in ExStart is ignored.
        assert_eq!(
            nsm_transition(S::Init, E::TwoWayReceived, NsmInput::default()).0,
            S::TwoWay
        );
        assert_eq!(
            nsm_transition(S::ExStart, E::ExchangeDone, adj).0,
            S::ExStart
        );
    }
}
