//! The interface state machine (RFC 2328 9.1-9.3) and the Designated Router election
//! (RFC 2328 9.4; in OSPFv3 DR and BDR are named by router ID, RFC 5340 4.2.2).

use std::net::Ipv4Addr;

/// Interface states (RFC 2328 9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum InterfaceState {
    /// Lower layers down; no traffic.
    Down,
    /// A loopback interface: advertised as a host prefix, no packets.
    Loopback,
    /// Broadcast: waiting RouterDeadInterval for existing DR/BDR to show up.
    Waiting,
    /// Point-to-point: adjacency with the single neighbor.
    PointToPoint,
    /// Broadcast, neither DR nor BDR.
    DrOther,
    /// Broadcast, Backup Designated Router.
    Backup,
    /// Broadcast, Designated Router.
    Dr,
}

/// Interface events (RFC 2328 9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceEvent {
    /// The interface became usable.
    InterfaceUp,
    /// The Wait timer fired.
    WaitTimer,
    /// A neighbor declared itself BDR, or DR with no BDR.
    BackupSeen,
    /// Bidirectional communication with a neighbor appeared or ended, or a neighbor
    /// changed its DR/BDR/priority claims.
    NeighborChange,
    /// The interface was found looped back.
    LoopInd,
    #[allow(dead_code)] // an input of the RFC table this engine never raises
    /// The loop ended.
    UnloopInd,
    /// The interface went down.
    InterfaceDown,
}

/// What the caller must do after a transition, besides setting the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsmAction {
    /// Nothing.
    None,
    /// Start hellos; for broadcast in Waiting also start the Wait timer.
    Start,
    /// Run the DR election (RFC 2328 9.4) and set the state from its result.
    Elect,
    /// Reset everything: timers stop, every neighbor gets KillNbr.
    Reset,
}

/// The ISM table: `(state, event)` -> (next state, action). For `Elect` the next
/// state is provisional; the election result decides DR/Backup/DROther.
/// `broadcast` and `eligible` (priority > 0) select the InterfaceUp branch.
pub fn ism_transition(
    state: InterfaceState,
    event: InterfaceEvent,
    broadcast: bool,
    eligible: bool,
) -> (InterfaceState, IsmAction) {
    use InterfaceEvent as E;
    use InterfaceState as S;
    match (state, event) {
        (S::Down, E::InterfaceUp) if !broadcast => (S::PointToPoint, IsmAction::Start),
        (S::Down, E::InterfaceUp) if eligible => (S::Waiting, IsmAction::Start),
        (S::Down, E::InterfaceUp) => (S::DrOther, IsmAction::Start),
        (S::Waiting, E::BackupSeen | E::WaitTimer) => (S::DrOther, IsmAction::Elect),
        (S::DrOther | S::Backup | S::Dr, E::NeighborChange) => (state, IsmAction::Elect),
        (S::Down, E::InterfaceDown) => (S::Down, IsmAction::None),
        (_, E::InterfaceDown) => (S::Down, IsmAction::Reset),
        (S::Loopback, E::LoopInd) => (S::Loopback, IsmAction::None),
        (_, E::LoopInd) => (S::Loopback, IsmAction::Reset),
        (S::Loopback, E::UnloopInd) => (S::Down, IsmAction::None),
        // Every other pair leaves the state alone (RFC 2328 9.3 lists no transition).
        (s, _) => (s, IsmAction::None),
    }
}

/// One router taking part in an election: itself or a neighbor in state >= 2-Way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Router ID.
    pub router_id: Ipv4Addr,
    /// Router priority (routers with 0 are not passed in).
    pub priority: u8,
    /// The DR it declares in its hellos (0.0.0.0: none).
    pub dr: Ipv4Addr,
    /// The BDR it declares.
    pub bdr: Ipv4Addr,
}

fn best(cands: impl Iterator<Item = Candidate>) -> Option<Candidate> {
    cands.max_by_key(|c| (c.priority, u32::from(c.router_id)))
}

fn elect_once(all: &[Candidate]) -> (Ipv4Addr, Ipv4Addr) {
    let eligible = || all.iter().copied().filter(|c| c.priority > 0);
    // Step 2: BDR among those not claiming DR; claimants of BDR first.
    let not_dr = || eligible().filter(|c| c.dr != c.router_id);
    let bdr = best(not_dr().filter(|c| c.bdr == c.router_id))
        .or_else(|| best(not_dr()))
        .map_or(Ipv4Addr::UNSPECIFIED, |c| c.router_id);
    // Step 3: DR among claimants of DR, else the new BDR.
    let dr = best(eligible().filter(|c| c.dr == c.router_id)).map_or(bdr, |c| c.router_id);
    (dr, bdr)
}

/// The DR election of RFC 2328 9.4. `me` carries the interface's current DR and
/// BDR as its declarations; `neighbors` are the neighbors in state >= 2-Way.
/// Returns the new (DR, BDR), 0.0.0.0 meaning none.
pub fn elect(me: Candidate, neighbors: &[Candidate]) -> (Ipv4Addr, Ipv4Addr) {
    let mut all: Vec<Candidate> = Vec::with_capacity(neighbors.len() + 1);
    all.push(me);
    all.extend_from_slice(neighbors);
    let (dr, bdr) = elect_once(&all);
    // Step 4: if our own role changed, declare the new role and elect again.
    let was = (me.dr == me.router_id, me.bdr == me.router_id);
    let now = (dr == me.router_id, bdr == me.router_id);
    if was != now {
        all[0].dr = dr;
        all[0].bdr = bdr;
        let (dr2, mut bdr2) = elect_once(&all);
        if bdr2 == dr2 {
            bdr2 = Ipv4Addr::UNSPECIFIED;
        }
        return (dr2, bdr2);
    }
    let bdr = if bdr == dr {
        Ipv4Addr::UNSPECIFIED
    } else {
        bdr
    };
    (dr, bdr)
}

/// The state an election result puts the interface in.
pub fn state_after_election(me: Ipv4Addr, dr: Ipv4Addr, bdr: Ipv4Addr) -> InterfaceState {
    if dr == me {
        InterfaceState::Dr
    } else if bdr == me {
        InterfaceState::Backup
    } else {
        InterfaceState::DrOther
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u8, prio: u8, dr: u8, bdr: u8) -> Candidate {
        Candidate {
            router_id: Ipv4Addr::new(id, id, id, id),
            priority: prio,
            dr: if dr == 0 {
                Ipv4Addr::UNSPECIFIED
            } else {
                Ipv4Addr::new(dr, dr, dr, dr)
            },
            bdr: if bdr == 0 {
                Ipv4Addr::UNSPECIFIED
            } else {
                Ipv4Addr::new(bdr, bdr, bdr, bdr)
            },
        }
    }
    fn ip(id: u8) -> Ipv4Addr {
        Ipv4Addr::new(id, id, id, id)
    }

    #[test]
    fn fresh_lan_elects_highest_as_dr_and_next_as_bdr() {
        let (dr, bdr) = elect(
            c(1, 1, 0, 0),
            &[c(2, 1, 0, 0), c(3, 1, 0, 0), c(4, 1, 0, 0)],
        );
        // No one declared: BDR is the best (4), DR falls back to it, then step 4 does
        // not apply to router 1; the result must not name the same router twice.
        assert_eq!(dr, ip(4));
        assert_ne!(bdr, dr);
        // Router 4 itself runs step 4 and ends up DR with 3 as BDR.
        let (dr, bdr) = elect(
            c(4, 1, 0, 0),
            &[c(1, 1, 0, 0), c(2, 1, 0, 0), c(3, 1, 0, 0)],
        );
        assert_eq!((dr, bdr), (ip(4), ip(3)));
    }

    #[test]
    fn existing_dr_is_kept_and_bdr_takes_over_on_failure() {
        // 2 is DR, 3 BDR; a higher router 9 joins: no preemption.
        let (dr, bdr) = elect(c(9, 1, 2, 3), &[c(2, 1, 2, 3), c(3, 1, 2, 3)]);
        assert_eq!((dr, bdr), (ip(2), ip(3)));
        // DR 2 disappears: 9's first calculation promotes the BDR (3) to DR; once
        // 3 has run its own election and declares (3, 9), 9 takes the BDR role.
        let (dr, bdr) = elect(c(9, 1, 2, 3), &[c(3, 1, 2, 3)]);
        assert_eq!((dr, bdr), (ip(3), Ipv4Addr::UNSPECIFIED));
        let (dr, bdr) = elect(c(3, 1, 2, 3), &[c(9, 1, 2, 3)]);
        assert_eq!((dr, bdr), (ip(3), ip(9)));
        let (dr, bdr) = elect(c(9, 1, 3, 0), &[c(3, 1, 3, 9)]);
        assert_eq!((dr, bdr), (ip(3), ip(9)));
        // Priority 0 never wins.
        let (dr, _) = elect(c(1, 0, 0, 0), &[c(2, 0, 0, 0)]);
        assert_eq!(dr, Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn ism_table() {
        use InterfaceEvent as E;
        use InterfaceState as S;
        assert_eq!(
            ism_transition(S::Down, E::InterfaceUp, false, true).0,
            S::PointToPoint
        );
        assert_eq!(
            ism_transition(S::Down, E::InterfaceUp, true, true).0,
            S::Waiting
        );
        assert_eq!(
            ism_transition(S::Down, E::InterfaceUp, true, false).0,
            S::DrOther
        );
        assert_eq!(
            ism_transition(S::Waiting, E::WaitTimer, true, true).1,
            IsmAction::Elect
        );
        assert_eq!(
            ism_transition(S::Dr, E::InterfaceDown, true, true),
            (S::Down, IsmAction::Reset)
        );
        assert_eq!(
            ism_transition(S::PointToPoint, E::NeighborChange, false, true).1,
            IsmAction::None
        );
    }
}
