//! Scenario tests of the story: east active, west standby; failover within the check
//! interval times the fall count (plus modelled propagation); recovery without and with
//! preemption (hold-down, sync gate); simultaneous starts; drain, shutdown, soft-fail,
//! damping, partition heal, active/active.

mod sim;

use anycast_failover::{
    Action, AdminCommand, Event, Mode, NodeConfig, Policy, Preempt, PrefixConfig, Role, RouterId,
    Scope, SoftFail,
};
use sim::{CmdKind, Sim, is_active_metric, prefix, prefix_config};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);
const RISE: u32 = 2;
const FALL: u32 = 3;
const DELAY: Duration = Duration::from_millis(200);
const DEAD: Duration = Duration::from_secs(3);
const EAST: usize = 0;
const WEST: usize = 1;

fn cfg(preference: u32) -> PrefixConfig {
    let mut c = prefix_config(INTERVAL, RISE, FALL);
    c.preference = preference;
    c
}

/// East (Router ID 1, preference 0) and west (Router ID 2, preference 1), fixed delay.
fn east_west(east: PrefixConfig, west: PrefixConfig) -> Sim {
    Sim::new(vec![east, west], 1, DELAY, DELAY, DEAD)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Brings east up as active and west as standby, and checks it.
fn settle_story(sim: &mut Sim) {
    sim.run_until(sim.at(30.0));
    assert_eq!(sim.role(EAST), Some(Role::Active));
    assert_eq!(sim.role(WEST), Some(Role::Standby));
    assert_eq!(sim.advertised(EAST), Some(10));
    assert_eq!(sim.advertised(WEST), Some(21));
}

fn withdraw_time(sim: &Sim, i: usize, since: Instant) -> Option<Instant> {
    sim.nodes[i]
        .actions
        .iter()
        .find(|l| l.at >= since && matches!(l.action, Action::Withdraw { .. }))
        .map(|l| l.at)
}

#[test]
fn east_fails_west_takes_over_within_interval_times_fall() {
    let mut sim = east_west(cfg(0), cfg(1));
    settle_story(&mut sim);
    let t_fail = sim.at(60.0);
    sim.schedule_truth(t_fail, EAST, false);
    sim.run_until(sim.at(90.0));

    let withdrawn = withdraw_time(&sim, EAST, t_fail).expect("east withdraws");
    assert!(
        withdrawn <= t_fail + INTERVAL * FALL,
        "east withdrew at +{:?}",
        withdrawn - t_fail
    );
    let west_active = sim
        .first_active_advert(WEST, t_fail)
        .expect("west becomes active");
    let bound = t_fail + INTERVAL * FALL + DELAY;
    assert!(
        west_active <= bound,
        "west active at +{:?}",
        west_active - t_fail
    );
    assert_eq!(sim.role(WEST), Some(Role::Active));
    assert_eq!(sim.advertised(WEST), Some(11));
    assert_eq!(sim.role(EAST), Some(Role::Withdrawn));
}

#[test]
fn east_recovers_and_stays_standby_without_preemption() {
    let mut sim = east_west(cfg(0), cfg(1));
    settle_story(&mut sim);
    sim.schedule_truth(sim.at(60.0), EAST, false);
    let t_recover = sim.at(120.0);
    sim.schedule_truth(t_recover, EAST, true);
    sim.run_until(sim.at(1200.0));
    assert_eq!(sim.role(EAST), Some(Role::Standby));
    assert_eq!(
        sim.advertised(EAST),
        Some(20),
        "east advertises its standby metric"
    );
    assert_eq!(sim.role(WEST), Some(Role::Active));
    assert_eq!(sim.first_active_advert(EAST, t_recover), None);
    // East's recovery was announced exactly once (no re-announcement on every probe).
    let adverts = sim.nodes[EAST]
        .actions
        .iter()
        .filter(|l| l.at >= t_recover && matches!(l.action, Action::Advertise { .. }))
        .count();
    assert_eq!(adverts, 1);
}

fn preemptive(sync_at: f64) -> (Sim, Instant, Instant) {
    let hold_down = secs(30.0);
    let mut east = cfg(0);
    east.preempt = Preempt::After { hold_down };
    east.sync_gate = true;
    let mut west = cfg(1);
    west.preempt = Preempt::After { hold_down };
    west.sync_gate = true;
    let mut sim = east_west(east, west);
    // East's data is confirmed by hand (the operator's replication check); west's on
    // every passing probe (a hot standby).
    sim.nodes[EAST].auto_sync = false;
    sim.schedule_command(sim.at(0.5), EAST, CmdKind::SyncConfirmed);
    settle_story(&mut sim);
    sim.schedule_truth(sim.at(60.0), EAST, false);
    sim.schedule_truth(sim.at(120.0), EAST, true);
    let sync = sim.at(sync_at);
    sim.schedule_command(sync, EAST, CmdKind::SyncConfirmed);
    sim.run_until(sim.at(400.0));
    // Healthy again after `rise` passing probes (at 120 and 121).
    let healthy = sim.at(120.0) + INTERVAL * (RISE - 1);
    (sim, healthy + hold_down, sync)
}

#[test]
fn preemption_waits_for_hold_down_then_sync_gate() {
    // The sync confirmation comes after the hold-down: it is what opens the way.
    let (sim, hold_end, sync) = preemptive(170.0);
    let t = sim
        .first_active_advert(EAST, sim.at(120.0))
        .expect("east preempts");
    assert_eq!(t, sync.max(hold_end));
    assert_eq!(t, sync);
    assert_eq!(sim.role(EAST), Some(Role::Active));
    assert_eq!(sim.role(WEST), Some(Role::Standby));
    // West steps down as soon as it sees east's better active metric.
    let west_down = sim.nodes[WEST]
        .roles
        .iter()
        .find(|(at, _, r)| *at > sim.at(120.0) && *r == Role::Standby)
        .map(|(at, _, _)| *at)
        .unwrap();
    assert_eq!(west_down, t + DELAY);
}

#[test]
fn preemption_waits_for_hold_down_when_sync_is_early() {
    let (sim, hold_end, _) = preemptive(125.0);
    let t = sim
        .first_active_advert(EAST, sim.at(120.0))
        .expect("east preempts");
    assert_eq!(t, hold_end);
    assert_eq!(sim.role(EAST), Some(Role::Active));
    assert_eq!(sim.role(WEST), Some(Role::Standby));
}

#[test]
fn preemption_never_happens_without_sync_confirmation() {
    let (sim, _, _) = preemptive(10_000.0);
    assert_eq!(sim.first_active_advert(EAST, sim.at(120.0)), None);
    assert_eq!(sim.role(EAST), Some(Role::Standby));
    assert!(
        sim.nodes[EAST]
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::SyncGateWaiting { .. }))
    );
}

/// Returns, for each instant at which some node's advertisement changed, how many nodes
/// then advertised an active metric.
fn max_simultaneous_actives(sim: &Sim) -> usize {
    let mut changes: Vec<(Instant, usize, Option<u32>)> = Vec::new();
    for (i, n) in sim.nodes.iter().enumerate() {
        for l in &n.actions {
            match l.action {
                Action::Advertise { metric, .. } => changes.push((l.at, i, Some(metric))),
                Action::Withdraw { .. } => changes.push((l.at, i, None)),
                _ => {}
            }
        }
    }
    changes.sort_by_key(|c| c.0);
    let mut cur = vec![None; sim.nodes.len()];
    let mut max = 0;
    for (_, i, m) in changes {
        cur[i] = m;
        let mode = sim.nodes[i].config.mode;
        max = max.max(
            cur.iter()
                .flatten()
                .filter(|&&m| is_active_metric(mode, m))
                .count(),
        );
    }
    max
}

#[test]
fn simultaneous_start_elects_exactly_one_deterministically() {
    for n in 2..=5 {
        for seed in 0..20 {
            // Equal preferences: the highest Router ID (node n-1) must win, every time.
            let configs = (0..n).map(|_| cfg(0)).collect();
            let mut sim = Sim::new(
                configs,
                seed,
                Duration::from_millis(10),
                Duration::from_secs(2),
                DEAD,
            );
            sim.run_until(sim.at(120.0));
            assert_eq!(sim.actives(), vec![n - 1], "n={n} seed={seed}");
            assert_eq!(
                max_simultaneous_actives(&sim),
                1,
                "n={n} seed={seed}: two actives at once"
            );
            for i in 0..n - 1 {
                assert_eq!(sim.role(i), Some(Role::Standby));
            }
        }
    }
}

#[test]
fn preference_beats_router_id() {
    let configs = vec![cfg(0), cfg(3), cfg(3)];
    let mut sim = Sim::new(configs, 7, DELAY, DELAY, DEAD);
    sim.run_until(sim.at(60.0));
    assert_eq!(sim.actives(), vec![0]);
    assert_eq!(sim.advertised(0), Some(10));
    assert_eq!(sim.advertised(1), Some(23));
}

#[test]
fn crash_of_active_is_covered_after_dead_interval() {
    let mut sim = east_west(cfg(0), cfg(1));
    settle_story(&mut sim);
    let t = sim.at(60.0);
    sim.schedule_crash(t, EAST);
    sim.run_until(sim.at(100.0));
    let west = sim.first_active_advert(WEST, t).unwrap();
    assert_eq!(west, t + DEAD + DELAY);
    // East restarts fresh and, non-preemptive, stays standby.
    sim.schedule_restart(sim.at(120.0), EAST);
    sim.run_until(sim.at(600.0));
    assert_eq!(sim.role(EAST), Some(Role::Standby));
    assert_eq!(sim.role(WEST), Some(Role::Active));
}

#[test]
fn best_standby_that_cannot_claim_is_skipped() {
    // Three nodes; node 0 is preferred but forced standby. Node 1 takes over one settle
    // step later than node 0 would have.
    let configs = vec![cfg(0), cfg(1), cfg(2)];
    let mut sim = Sim::new(configs, 3, DELAY, DELAY, DEAD);
    sim.schedule_command(sim.at(0.1), 0, CmdKind::ForceStandby);
    sim.run_until(sim.at(60.0));
    assert_eq!(sim.actives(), vec![1]);
    assert_eq!(max_simultaneous_actives(&sim), 1);
    // Clearing the force does not preempt (non-preemptive default).
    sim.schedule_command(sim.at(61.0), 0, CmdKind::ClearForce);
    sim.run_until(sim.at(200.0));
    assert_eq!(sim.actives(), vec![1]);
}

#[test]
fn drain_raises_metric_first_then_withdraws() {
    let mut sim = east_west(cfg(0), cfg(1));
    settle_story(&mut sim);
    let t = sim.at(60.0);
    sim.schedule_command(t, EAST, CmdKind::Drain);
    sim.run_until(sim.at(200.0));
    let acts: Vec<_> = sim.nodes[EAST]
        .actions
        .iter()
        .filter(|l| l.at >= t)
        .collect();
    assert_eq!(
        acts[0].action,
        Action::Advertise {
            prefix: prefix(),
            metric: 1000
        }
    );
    assert_eq!(acts[0].at, t);
    assert_eq!(acts[1].action, Action::Withdraw { prefix: prefix() });
    assert_eq!(acts[1].at, t + Duration::from_secs(30));
    assert_eq!(
        acts.len(),
        2,
        "the address stays on the loopback while drained"
    );
    assert_eq!(sim.first_active_advert(WEST, t), Some(t + DELAY));
    assert_eq!(sim.role(EAST), Some(Role::Drained));
    // Undrain: back as standby.
    sim.schedule_command(sim.at(210.0), EAST, CmdKind::Undrain);
    sim.run_until(sim.at(300.0));
    assert_eq!(sim.role(EAST), Some(Role::Standby));
    assert_eq!(sim.advertised(EAST), Some(20));
}

#[test]
fn shutdown_withdraws_then_removes_address_after_grace() {
    let mut sim = east_west(cfg(0), cfg(1));
    settle_story(&mut sim);
    let t = sim.at(60.0);
    sim.schedule_command(t, EAST, CmdKind::Shutdown);
    sim.run_until(sim.at(100.0));
    let acts: Vec<_> = sim.nodes[EAST]
        .actions
        .iter()
        .filter(|l| l.at >= t)
        .collect();
    assert_eq!(acts.len(), 2);
    assert_eq!(
        (acts[0].at, acts[0].action),
        (t, Action::Withdraw { prefix: prefix() })
    );
    assert_eq!(
        (acts[1].at, acts[1].action),
        (
            t + Duration::from_secs(5),
            Action::RemoveLoopbackAddress { prefix: prefix() }
        )
    );
    assert_eq!(sim.role(EAST), Some(Role::Stopped));
    assert_eq!(sim.first_active_advert(WEST, t), Some(t + DELAY));
}

#[test]
fn soft_fail_keeps_a_route_when_every_node_is_unhealthy() {
    let mut east = cfg(0);
    east.soft_fail = Some(SoftFail::new(500));
    let mut west = cfg(1);
    west.soft_fail = Some(SoftFail::new(500));
    let mut sim = east_west(east, west);
    settle_story(&mut sim);
    let t = sim.at(60.0);
    sim.schedule_truth(t, EAST, false);
    sim.schedule_truth(t, WEST, false);
    sim.run_until(sim.at(120.0));
    assert_eq!(sim.advertised(EAST), Some(500));
    assert_eq!(sim.advertised(WEST), Some(500));
    assert_eq!(sim.role(EAST), Some(Role::Degraded));
    for i in [EAST, WEST] {
        assert!(
            !sim.nodes[i]
                .actions
                .iter()
                .any(|l| matches!(l.action, Action::Withdraw { .. })),
            "soft-fail never withdraws"
        );
    }
    // West recovers first and takes the active role (after the settle delay).
    sim.schedule_truth(sim.at(130.0), WEST, true);
    sim.run_until(sim.at(200.0));
    assert_eq!(sim.actives(), vec![WEST]);
}

#[test]
fn flapping_check_is_damped_and_rate_limited() {
    let mut east = cfg(0);
    east.max_announcements_per_minute = 4;
    let mut sim = Sim::new(vec![east], 9, DELAY, DELAY, DEAD);
    sim.run_until(sim.at(20.0));
    assert_eq!(sim.role(EAST), Some(Role::Active));
    // Fail for 4 s, pass for 4 s, ten times.
    for k in 0..10 {
        let base = 30.0 + 8.0 * k as f64;
        sim.schedule_truth(sim.at(base), EAST, false);
        sim.schedule_truth(sim.at(base + 4.0), EAST, true);
    }
    sim.run_until(sim.at(115.0));
    let n_events = sim.nodes[EAST].events.len();
    assert!(
        sim.nodes[EAST]
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::Suppressed { .. }))
    );
    // While suppressed the node stays withdrawn although its check passes.
    assert_eq!(sim.role(EAST), Some(Role::Withdrawn));
    assert_eq!(sim.advertised(EAST), None);
    // It comes back by itself once the penalty has decayed.
    sim.run_until(sim.at(600.0));
    assert!(n_events < sim.nodes[EAST].events.len());
    assert!(
        sim.nodes[EAST]
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::Reused { .. }))
    );
    assert_eq!(sim.role(EAST), Some(Role::Active));
}

#[test]
fn rate_cap_defers_announcements_without_damping() {
    let mut east = cfg(0);
    east.damping = None;
    east.max_announcements_per_minute = 3;
    let mut sim = Sim::new(vec![east], 9, DELAY, DELAY, DEAD);
    for k in 0..10 {
        let base = 30.0 + 8.0 * k as f64;
        sim.schedule_truth(sim.at(base), EAST, false);
        sim.schedule_truth(sim.at(base + 4.0), EAST, true);
    }
    sim.run_until(sim.at(300.0));
    let adverts: Vec<Instant> = sim.nodes[EAST]
        .actions
        .iter()
        .filter(|l| matches!(l.action, Action::Advertise { .. }))
        .map(|l| l.at)
        .collect();
    for (k, &t) in adverts.iter().enumerate() {
        let in_window = adverts[k..]
            .iter()
            .take_while(|&&u| u < t + Duration::from_secs(60))
            .count();
        assert!(in_window <= 3, "{in_window} announcements within a minute");
    }
    assert!(
        sim.nodes[EAST]
            .events
            .iter()
            .any(|(_, _, e)| matches!(e, Event::RateLimited { .. }))
    );
    assert_eq!(
        sim.role(EAST),
        Some(Role::Active),
        "it ends up active once the flapping stops"
    );
    assert_eq!(sim.advertised(EAST), Some(10));
}

#[test]
fn partition_heal_leaves_the_better_node_active() {
    // Two nodes that could not see each other both became active.
    let t0 = Instant::now();
    let mk = |rid: u32| {
        Policy::new(
            t0,
            NodeConfig::new(RouterId(rid), vec![PrefixConfig::new(prefix())]),
        )
        .unwrap()
    };
    let (mut a, mut b) = (mk(1), mk(2));
    for p in [&mut a, &mut b] {
        p.handle_peer_advertisements(t0, prefix(), []).unwrap();
        let t = p.poll_timeout().unwrap();
        p.handle_timeout(t);
        assert_eq!(p.role(prefix()), Some(Role::Active));
        while p.poll_action().is_some() {}
    }
    let t = t0 + Duration::from_secs(60);
    a.handle_peer_advertisements(t, prefix(), [(RouterId(2), 10)])
        .unwrap();
    b.handle_peer_advertisements(t, prefix(), [(RouterId(1), 10)])
        .unwrap();
    assert_eq!(
        a.role(prefix()),
        Some(Role::Standby),
        "lower Router ID steps down"
    );
    assert_eq!(
        a.poll_action(),
        Some(Action::Advertise {
            prefix: prefix(),
            metric: 20
        })
    );
    assert_eq!(b.role(prefix()), Some(Role::Active));
    assert_eq!(b.poll_action(), None, "the winner re-announces nothing");
}

#[test]
fn own_advertisement_in_lsdb_is_ignored() {
    let t0 = Instant::now();
    let mut p = Policy::new(
        t0,
        NodeConfig::new(RouterId(7), vec![PrefixConfig::new(prefix())]),
    )
    .unwrap();
    let t = p.poll_timeout().unwrap();
    p.handle_timeout(t);
    assert_eq!(p.role(prefix()), Some(Role::Active));
    // The LSDB shows our own active advertisement: nothing changes.
    p.handle_peer_advertisements(t, prefix(), [(RouterId(7), 10)])
        .unwrap();
    assert_eq!(p.role(prefix()), Some(Role::Active));
}

#[test]
fn active_active_advertises_equal_metrics() {
    let mut c = cfg(0);
    c.mode = Mode::ActiveActive { metric: 10 };
    let mut sim = Sim::new(vec![c.clone(), c.clone(), c], 5, DELAY, DELAY, DEAD);
    sim.run_until(sim.at(10.0));
    for i in 0..3 {
        assert_eq!(sim.role(i), Some(Role::Active));
        assert_eq!(sim.advertised(i), Some(10));
    }
    sim.schedule_truth(sim.at(20.0), 1, false);
    sim.run_until(sim.at(40.0));
    assert_eq!(sim.advertised(1), None);
    assert_eq!(sim.advertised(0), Some(10));
    assert_eq!(sim.advertised(2), Some(10));
}

#[test]
fn sync_lost_makes_active_step_down() {
    let mut east = cfg(0);
    east.sync_gate = true;
    let mut sim = east_west(east, cfg(1));
    settle_story(&mut sim);
    // The daemon reports stale data on east.
    let now = sim.at(40.0);
    sim.run_until(now);
    sim.nodes[EAST].auto_sync = false;
    let p = sim.nodes[EAST].policy.as_mut().unwrap();
    p.handle_command(now, Scope::All, AdminCommand::SyncLost)
        .unwrap();
    assert_eq!(p.role(prefix()), Some(Role::Standby));
    assert_eq!(
        p.poll_action(),
        Some(Action::Advertise {
            prefix: prefix(),
            metric: 20
        })
    );
}

#[test]
fn hung_prober_withdraws_after_stale_window() {
    // East is active; then its prober hangs and no result arrives at all.
    let t0 = Instant::now();
    let mut c = cfg(0);
    c.checks[0].timeout = Duration::from_millis(500);
    let mut east = Policy::new(t0, NodeConfig::new(RouterId(1), vec![c])).unwrap();
    let (check, _, spec) = east.checks().next().unwrap();
    let stale_after = spec.stale_after();
    assert_eq!(stale_after, INTERVAL * FALL + Duration::from_millis(500));
    let mut now = t0;
    for _ in 0..20 {
        now += INTERVAL;
        let r = anycast_failover::ProbeResult {
            outcome: anycast_failover::ProbeOutcome::Pass,
            started: now,
        };
        east.handle_probe_result(now, check, r).unwrap();
    }
    assert_eq!(east.role(prefix()), Some(Role::Active));
    let last = now;
    while east.poll_action().is_some() {}
    // Only timeouts from now on.
    let t = east.poll_timeout().unwrap();
    assert_eq!(t, last + stale_after);
    east.handle_timeout(t);
    assert_eq!(
        east.poll_action(),
        Some(Action::Withdraw { prefix: prefix() })
    );
    assert_eq!(east.role(prefix()), Some(Role::Withdrawn));
    let mut stale_event = false;
    while let Some(e) = east.poll_event() {
        stale_event |= matches!(
            e,
            Event::CheckChanged {
                up: false,
                cause: anycast_failover::CheckTransition::Stale,
                ..
            }
        );
    }
    assert!(stale_event);
}

#[test]
fn weighted_checks_decide_together() {
    // Two checks, weights 2 and 1, threshold 2: only the heavy one matters.
    let t0 = Instant::now();
    let mut c = cfg(0);
    let mut light = c.checks[0].clone();
    light.name = "light".into();
    light.weight = 1;
    c.checks[0].weight = 2;
    c.checks.push(light);
    c.combine = anycast_failover::Combine::Weighted { threshold: 2 };
    let mut p = Policy::new(t0, NodeConfig::new(RouterId(1), vec![c])).unwrap();
    let ids: Vec<_> = p.checks().map(|(id, _, _)| id).collect();
    let mut now = t0;
    for _ in 0..RISE {
        now += INTERVAL;
        for (k, &id) in ids.iter().enumerate() {
            let outcome = if k == 0 {
                anycast_failover::ProbeOutcome::Pass
            } else {
                anycast_failover::ProbeOutcome::Fail
            };
            p.handle_probe_result(
                now,
                id,
                anycast_failover::ProbeResult {
                    outcome,
                    started: now,
                },
            )
            .unwrap();
        }
    }
    assert_eq!(
        p.role(prefix()),
        Some(Role::Standby),
        "heavy check alone is enough"
    );
}
