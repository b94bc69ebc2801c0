//! Roles of a node for one prefix, the transition table, and the election rules that
//! read roles from peers' metrics.
//!
//! # Election (active/standby mode)
//!
//! A node ranks candidates by **preference** (lower wins) and then by **Router ID**
//! (higher wins, as in OSPF's designated router election). A node's preference is
//! visible to every other node because it is added to the metrics it advertises (see
//! [`config`](crate::config)).
//!
//! * A node that becomes healthy always starts as **standby** and waits
//!   `settle_delay`, long enough to have heard every other node's advertisement.
//! * A standby claims the active role when no peer advertises an active metric, after
//!   a delay that grows with its position among standby candidates: the best waits
//!   `settle_delay` after entering standby (or not at all if it has been standby that
//!   long), the next one `settle_delay` more, and so on. If the best candidate cannot
//!   claim (sync gate not confirmed, forced standby), the next takes over one step
//!   later, so there is never a deadlock.
//! * When two nodes are active at once (simultaneous claims, a healed partition), the
//!   one that sees a better-ranked active peer steps down at once. Both compute the
//!   same ranking from the same metrics, so exactly one remains.
//! * With preemption, a standby whose preference is *strictly* better than every
//!   active peer's claims the active role after `hold_down` of good health; the old
//!   active then sees a better active peer and steps down. Equal preferences never
//!   preempt one another.

use crate::config::PeerRole;
use crate::prefix::RouterId;
use std::cmp::Ordering;
use std::fmt;

/// What the node is doing with a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Not advertising: not (yet) healthy, or undrained and waiting for health.
    Withdrawn,
    /// Healthy, advertising the standby metric.
    Standby,
    /// Healthy, advertising the active metric (or the shared metric in active/active).
    Active,
    /// Unhealthy with soft-fail configured: advertising the soft-fail metric.
    Degraded,
    /// Maintenance requested: advertising the drain metric until the drain period ends.
    Draining,
    /// Maintenance: withdrawn, address kept, waiting for undrain.
    Drained,
    /// Shutdown requested: withdrawn, address kept until the grace period ends.
    ShuttingDown,
    /// Shut down: withdrawn and address removed. Final.
    Stopped,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What can move a node from one role to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoleEvent {
    /// Health (checks, damping, and in active/active the sync gate) became good.
    HealthUp,
    /// Health became bad (checks failed or went stale, or damping suppressed).
    HealthDown,
    /// No peer is active and this node's turn to claim has come.
    Elected,
    /// Preemption: this node outranks the active peer and its hold-down has passed.
    Preempted,
    /// A better-ranked peer is active, or an operator forced standby.
    SteppedDown,
    /// The sync gate confirmation was withdrawn while active.
    SyncLost,
    /// Admin: begin maintenance.
    Drain,
    /// The drain period ended.
    DrainElapsed,
    /// Admin: end maintenance.
    Undrain,
    /// Admin: shut down.
    Shutdown,
    /// The shutdown grace period ended.
    GraceElapsed,
}

/// Facts about the prefix's configuration the table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableContext {
    /// Active/active mode (no standby role).
    pub active_active: bool,
    /// Soft-fail configured (unhealthy nodes keep advertising a high metric).
    pub soft_fail: bool,
}

/// The transition table. `None` means the event does not apply in that role.
pub fn transition(role: Role, event: RoleEvent, ctx: TableContext) -> Option<Role> {
    use Role::*;
    use RoleEvent::*;
    let unhealthy = if ctx.soft_fail { Degraded } else { Withdrawn };
    let healthy = if ctx.active_active { Active } else { Standby };
    match (role, event) {
        (Stopped, _) => None,
        (ShuttingDown, GraceElapsed) => Some(Stopped),
        (ShuttingDown, _) => None,
        (_, Shutdown) => Some(ShuttingDown),

        (Withdrawn | Degraded, HealthUp) => Some(healthy),
        (Standby | Active, HealthDown) => Some(unhealthy),
        (Standby, Elected | Preempted) => Some(Active),
        (Active, SteppedDown) if !ctx.active_active => Some(Standby),
        (Active, SyncLost) => Some(if ctx.active_active {
            Withdrawn
        } else {
            Standby
        }),

        (Withdrawn, Drain) => Some(Drained),
        (Standby | Active | Degraded, Drain) => Some(Draining),
        (Draining, DrainElapsed) => Some(Drained),
        (Draining | Drained, Undrain) => Some(Withdrawn),

        _ => None,
    }
}

/// A candidate's rank in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// Lower is better.
    pub preference: u32,
    /// Higher is better (tie breaker).
    pub router_id: RouterId,
}

impl Rank {
    /// Orders ranks so that `Less` means *better*.
    pub fn cmp_better_first(&self, other: &Rank) -> Ordering {
        self.preference
            .cmp(&other.preference)
            .then_with(|| other.router_id.cmp(&self.router_id))
    }

    /// True when `self` wins over `other`.
    pub fn beats(&self, other: &Rank) -> bool {
        self.cmp_better_first(other) == Ordering::Less
    }
}

/// What the election sees: this node's rank and every peer's classified advertisement.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// This node.
    pub me: Rank,
    /// Peers (never including this node).
    pub peers: &'a [(RouterId, PeerRole)],
}

impl View<'_> {
    fn actives(&self) -> impl Iterator<Item = Rank> + '_ {
        self.peers
            .iter()
            .filter_map(|&(router_id, role)| match role {
                PeerRole::Active { preference } => Some(Rank {
                    preference,
                    router_id,
                }),
                _ => None,
            })
    }

    /// Whether any peer advertises an active metric.
    pub fn any_active(&self) -> bool {
        self.actives().next().is_some()
    }

    /// Whether a peer that outranks this node is active (this node must step down).
    pub fn better_active(&self) -> bool {
        self.actives().any(|r| r.beats(&self.me))
    }

    /// This node's position among standby candidates: how many standby peers outrank it.
    pub fn position(&self) -> usize {
        self.peers
            .iter()
            .filter(|&&(router_id, role)| match role {
                PeerRole::Standby { preference } => Rank {
                    preference,
                    router_id,
                }
                .beats(&self.me),
                _ => false,
            })
            .count()
    }

    /// Whether this node may preempt: some peer is active, every active peer has a
    /// strictly worse preference, and no standby peer outranks this node.
    pub fn may_preempt(&self) -> bool {
        self.any_active()
            && self.actives().all(|r| r.preference > self.me.preference)
            && self.position() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AS: TableContext = TableContext {
        active_active: false,
        soft_fail: false,
    };

    #[test]
    fn table_basics() {
        use Role::*;
        use RoleEvent::*;
        assert_eq!(transition(Withdrawn, HealthUp, AS), Some(Standby));
        assert_eq!(transition(Standby, Elected, AS), Some(Active));
        assert_eq!(transition(Active, HealthDown, AS), Some(Withdrawn));
        let sf = TableContext {
            soft_fail: true,
            ..AS
        };
        assert_eq!(transition(Active, HealthDown, sf), Some(Degraded));
        assert_eq!(transition(Degraded, HealthUp, sf), Some(Standby));
        let aa = TableContext {
            active_active: true,
            ..AS
        };
        assert_eq!(transition(Withdrawn, HealthUp, aa), Some(Active));
        assert_eq!(transition(Active, SteppedDown, aa), None);
        assert_eq!(transition(Active, Drain, AS), Some(Draining));
        assert_eq!(transition(Withdrawn, Drain, AS), Some(Drained));
        assert_eq!(transition(Draining, DrainElapsed, AS), Some(Drained));
        assert_eq!(transition(Drained, Undrain, AS), Some(Withdrawn));
        assert_eq!(transition(Drained, HealthUp, AS), None);
        assert_eq!(transition(Draining, Shutdown, AS), Some(ShuttingDown));
        assert_eq!(transition(ShuttingDown, HealthUp, AS), None);
        assert_eq!(transition(ShuttingDown, GraceElapsed, AS), Some(Stopped));
        assert_eq!(transition(Stopped, Shutdown, AS), None);
    }

    #[test]
    fn ranking_prefers_low_preference_then_high_router_id() {
        let a = Rank {
            preference: 0,
            router_id: RouterId(1),
        };
        let b = Rank {
            preference: 1,
            router_id: RouterId(9),
        };
        let c = Rank {
            preference: 0,
            router_id: RouterId(2),
        };
        assert!(a.beats(&b));
        assert!(c.beats(&a));
        assert!(!a.beats(&a));
    }

    #[test]
    fn view_queries() {
        let peers = [
            (RouterId(5), PeerRole::Standby { preference: 0 }),
            (RouterId(1), PeerRole::Active { preference: 3 }),
            (RouterId(7), PeerRole::Other),
        ];
        let me = Rank {
            preference: 0,
            router_id: RouterId(3),
        };
        let v = View { me, peers: &peers };
        assert!(v.any_active());
        assert!(!v.better_active());
        assert_eq!(v.position(), 1);
        assert!(!v.may_preempt());
        let me = Rank {
            preference: 0,
            router_id: RouterId(6),
        };
        let v = View { me, peers: &peers };
        assert_eq!(v.position(), 0);
        assert!(v.may_preempt());
    }
}
