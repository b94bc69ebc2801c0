//! Property tests over random timelines of health flaps, crashes, restarts, drains,
//! shutdowns and advertisement delays, with 2 to 5 simulated nodes.
//!
//! Properties checked on every timeline:
//! 1. once inputs settle, exactly one node is active (active/standby), or every node is
//!    (active/active), and every node's view agrees with the routing domain;
//! 2. a node never advertises a healthy metric past its fall window while failing;
//! 3. without preemption, a node never becomes active while another node has been
//!    advertising active for longer than the propagation delay;
//! 4. no node instance sends more advertisements in any 60 s than the cap;
//! 5. shutdown: the withdrawal goes out at once, the address is removed only after
//!    the grace period and after the withdrawal, and nothing is advertised after it;
//!    in general the address is never removed while advertised nor advertised before
//!    it is added.

mod sim;

use anycast_failover::{
    Action, DampingConfig, Metric, Mode, Preempt, PrefixConfig, Role, SoftFail,
};
use proptest::prelude::*;
use sim::{CmdKind, Sim, is_active_metric, is_healthy_metric, prefix_config};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);
const FALL: u32 = 3;
const RISE: u32 = 2;
const SETTLE_RUN: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, Copy)]
enum Step {
    Fail,
    Recover,
    Crash,
    Restart,
    Drain,
    Undrain,
    Shutdown,
}

#[derive(Debug, Clone)]
struct Timeline {
    n: usize,
    preferences: Vec<u32>,
    active_active: bool,
    preempt_hold_down: Option<u64>,
    sync_gate: bool,
    soft_fail: bool,
    damping: bool,
    cap: u32,
    min_delay_ms: u64,
    max_delay_ms: u64,
    dead_s: u64,
    seed: u64,
    steps: Vec<(u64, usize, Step)>,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Fail),
        6 => Just(Step::Recover),
        2 => Just(Step::Crash),
        2 => Just(Step::Restart),
        1 => Just(Step::Drain),
        1 => Just(Step::Undrain),
        1 => Just(Step::Shutdown),
    ]
}

fn timeline(active_active: bool) -> impl Strategy<Value = Timeline> {
    (
        2usize..=5,
        proptest::collection::vec(0u32..3, 5),
        proptest::option::of(5u64..60),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        2u32..=12,
        (1u64..500, 0u64..2500),
        1u64..10,
        any::<u64>(),
        proptest::collection::vec((0u64..20_000, 0usize..5, step()), 0..40),
    )
        .prop_map(
            move |(
                n,
                preferences,
                preempt_hold_down,
                sync_gate,
                soft_fail,
                damping,
                cap,
                (dmin, dspan),
                dead_s,
                seed,
                steps,
            )| {
                Timeline {
                    n,
                    preferences,
                    active_active,
                    preempt_hold_down,
                    sync_gate,
                    soft_fail,
                    damping,
                    cap,
                    min_delay_ms: dmin,
                    max_delay_ms: dmin + dspan,
                    dead_s,
                    seed,
                    steps: steps.into_iter().map(|(dt, i, s)| (dt, i % n, s)).collect(),
                }
            },
        )
}

fn config(tl: &Timeline, i: usize) -> PrefixConfig {
    let mut c = prefix_config(INTERVAL, RISE, FALL);
    c.preference = tl.preferences[i];
    if tl.active_active {
        c.mode = Mode::ActiveActive { metric: 10 };
    }
    c.preempt = tl
        .preempt_hold_down
        .map_or(Preempt::Never, |s| Preempt::After {
            hold_down: Duration::from_secs(s),
        });
    c.sync_gate = tl.sync_gate;
    c.soft_fail = tl.soft_fail.then_some(SoftFail::new(500));
    c.damping = tl.damping.then(DampingConfig::default);
    c.max_announcements_per_minute = tl.cap;
    c
}

/// A node's own advertisement over time: (instant, metric) at every change, including
/// crashes and restarts (which clear it).
fn advert_timeline(sim: &Sim, i: usize) -> Vec<(Instant, Option<Metric>)> {
    let node = &sim.nodes[i];
    let mut points: Vec<(Instant, u8, Option<Metric>)> = Vec::new();
    for l in &node.actions {
        match l.action {
            Action::Advertise { metric, .. } => points.push((l.at, 1, Some(metric))),
            Action::Withdraw { .. } => points.push((l.at, 1, None)),
            _ => {}
        }
    }
    for &(crash, restart) in &node.down {
        // A crash clears the node's own state (the LSA lingers in the domain, which
        // is the dead interval's business, not the policy's); so does a restart.
        points.push((crash, 0, None));
        if let Some(r) = restart {
            points.push((r, 0, None));
        }
    }
    // Stable sort: at one instant, crash/restart markers (0) before actions (1), and
    // actions in the order they were emitted.
    points.sort_by_key(|p| (p.0, p.1));
    points.into_iter().map(|(t, _, m)| (t, m)).collect()
}

fn state_at(tl: &[(Instant, Option<Metric>)], t: Instant) -> Option<Metric> {
    tl.iter().take_while(|p| p.0 <= t).last().and_then(|p| p.1)
}

fn check_fall_window(sim: &Sim, i: usize) -> Result<(), TestCaseError> {
    let node = &sim.nodes[i];
    let mode = node.config.mode;
    let adv = advert_timeline(sim, i);
    let log = &node.truth_log;
    for (k, &(b, up)) in log.iter().enumerate() {
        if up {
            continue;
        }
        let e = log.get(k + 1).map_or(sim.now, |p| p.0);
        let bound = b + INTERVAL * FALL;
        if e <= bound {
            continue;
        }
        if let Some(m) = state_at(&adv, bound) {
            prop_assert!(
                !is_healthy_metric(mode, m),
                "node {i} still advertises {m} at fall bound (bad since {:?})",
                b - sim.t0
            );
        }
        for &(t, m) in adv.iter().filter(|p| p.0 > bound && p.0 < e) {
            if let Some(m) = m {
                prop_assert!(
                    !is_healthy_metric(mode, m),
                    "node {i} advertised {m} at {:?} while failing since {:?}",
                    t - sim.t0,
                    b - sim.t0
                );
            }
        }
    }
    Ok(())
}

fn check_non_preemption(sim: &Sim, max_delay: Duration) -> Result<(), TestCaseError> {
    let tls: Vec<_> = (0..sim.nodes.len())
        .map(|i| advert_timeline(sim, i))
        .collect();
    for (x, tl) in tls.iter().enumerate() {
        let mode = sim.nodes[x].config.mode;
        let mut prev: Option<Metric> = None;
        for &(t, m) in tl {
            let was_active = prev.is_some_and(|p| is_active_metric(mode, p));
            prev = m;
            let Some(m) = m else { continue };
            if was_active || !is_active_metric(mode, m) {
                continue;
            }
            // X became active at t. No other node may have been active throughout
            // [t - max_delay - 1 ms, t].
            let from = t
                .checked_sub(max_delay + Duration::from_millis(1))
                .unwrap_or(sim.t0);
            for (y, tly) in tls.iter().enumerate() {
                if y == x {
                    continue;
                }
                let active_at =
                    |u: Instant| state_at(tly, u).is_some_and(|m| is_active_metric(mode, m));
                let continuous = active_at(from)
                    && tly
                        .iter()
                        .filter(|p| p.0 > from && p.0 <= t)
                        .all(|p| p.1.is_some_and(|m| is_active_metric(mode, m)));
                prop_assert!(
                    !continuous,
                    "node {x} became active at {:?} while node {y} was active",
                    t - sim.t0
                );
            }
        }
    }
    Ok(())
}

fn check_rate_and_order(sim: &Sim, cap: u32, grace: Duration) -> Result<(), TestCaseError> {
    for (i, node) in sim.nodes.iter().enumerate() {
        let generations: std::collections::BTreeSet<u32> =
            node.actions.iter().map(|l| l.generation).collect();
        for g in generations {
            let acts: Vec<_> = node.actions.iter().filter(|l| l.generation == g).collect();
            // 4. rate cap.
            let adverts: Vec<Instant> = acts
                .iter()
                .filter(|l| matches!(l.action, Action::Advertise { .. }))
                .map(|l| l.at)
                .collect();
            for (k, &t) in adverts.iter().enumerate() {
                let n = adverts[k..]
                    .iter()
                    .take_while(|&&u| u < t + Duration::from_secs(60))
                    .count();
                prop_assert!(
                    n as u32 <= cap,
                    "node {i}: {n} advertisements in a minute from {:?} (cap {cap})",
                    t - sim.t0
                );
            }
            // 5. order of address and advertisement.
            let (mut addr, mut adv) = (false, false);
            for l in &acts {
                match l.action {
                    Action::AddLoopbackAddress { .. } => {
                        prop_assert!(!addr);
                        addr = true;
                    }
                    Action::Advertise { .. } => {
                        prop_assert!(addr, "node {i} advertised before adding the address");
                        adv = true;
                    }
                    Action::Withdraw { .. } => {
                        prop_assert!(adv);
                        adv = false;
                    }
                    Action::RemoveLoopbackAddress { .. } => {
                        prop_assert!(
                            addr && !adv,
                            "node {i} removed the address while advertising"
                        );
                        addr = false;
                    }
                    other => prop_assert!(false, "node {i}: unexpected action {other:?}"),
                }
            }
            // 5. shutdown.
            // The first shutdown of this instance counts; later ones are no-ops.
            if let Some(&(ts, _, _)) = node
                .commands
                .iter()
                .find(|&&(_, cg, cmd)| cg == g && cmd == CmdKind::Shutdown)
            {
                let before = acts
                    .iter()
                    .filter(|l| l.at <= ts)
                    .fold(None, |s, l| match l.action {
                        Action::Advertise { metric, .. } => Some(metric),
                        Action::Withdraw { .. } => None,
                        _ => s,
                    });
                let after: Vec<_> = acts.iter().filter(|l| l.at >= ts).collect();
                if before.is_some() {
                    prop_assert!(
                        after
                            .iter()
                            .any(|l| l.at == ts && matches!(l.action, Action::Withdraw { .. })),
                        "node {i}: no immediate withdrawal on shutdown"
                    );
                }
                prop_assert!(
                    !after
                        .iter()
                        .any(|l| matches!(l.action, Action::Advertise { .. }) && l.at > ts),
                    "node {} advertised after shutdown",
                    i
                );
                for l in &after {
                    if matches!(l.action, Action::RemoveLoopbackAddress { .. }) {
                        prop_assert!(
                            l.at >= ts + grace,
                            "node {i}: address removed {:?} after shutdown",
                            l.at - ts
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn run(tl: &Timeline) -> Result<(), TestCaseError> {
    let configs: Vec<_> = (0..tl.n).map(|i| config(tl, i)).collect();
    let grace = configs[0].shutdown_grace;
    let max_delay = Duration::from_millis(tl.max_delay_ms);
    let mut sim = Sim::new(
        configs,
        tl.seed,
        Duration::from_millis(tl.min_delay_ms),
        max_delay,
        Duration::from_secs(tl.dead_s),
    );
    let mut t = sim.t0;
    for &(dt, i, s) in &tl.steps {
        t += Duration::from_millis(dt);
        match s {
            Step::Fail => sim.schedule_truth(t, i, false),
            Step::Recover => sim.schedule_truth(t, i, true),
            Step::Crash => sim.schedule_crash(t, i),
            Step::Restart => sim.schedule_restart(t, i),
            Step::Drain => sim.schedule_command(t, i, CmdKind::Drain),
            Step::Undrain => sim.schedule_command(t, i, CmdKind::Undrain),
            Step::Shutdown => sim.schedule_command(t, i, CmdKind::Shutdown),
        }
    }
    let end = t + Duration::from_secs(1);
    sim.run_until(end);
    // Inputs settle: every service healthy, every node undrained and running.
    for i in 0..tl.n {
        sim.schedule_truth(end, i, true);
        if sim.role(i) == Some(Role::Stopped) || sim.role(i) == Some(Role::ShuttingDown) {
            sim.schedule_crash(end, i);
            sim.schedule_restart(end + Duration::from_millis(1), i);
        } else if sim.role(i).is_none() {
            sim.schedule_restart(end, i);
        } else {
            sim.schedule_command(end, i, CmdKind::Undrain);
        }
    }
    sim.run_until(end + SETTLE_RUN);

    // 1. Convergence.
    let mode = sim.nodes[0].config.mode;
    let actives = sim.actives();
    if tl.active_active {
        prop_assert_eq!(
            actives.len(),
            tl.n,
            "roles: {:?}",
            (0..tl.n).map(|i| sim.role(i)).collect::<Vec<_>>()
        );
    } else {
        prop_assert_eq!(
            actives.len(),
            1,
            "roles: {:?}",
            (0..tl.n).map(|i| sim.role(i)).collect::<Vec<_>>()
        );
        for i in 0..tl.n {
            if i != actives[0] {
                prop_assert_eq!(sim.role(i), Some(Role::Standby));
            }
        }
        let in_domain = sim
            .lsdb
            .iter()
            .flatten()
            .filter(|&&m| is_active_metric(mode, m))
            .count();
        prop_assert_eq!(in_domain, 1, "routing domain: {:?}", sim.lsdb);
    }
    for i in 0..tl.n {
        prop_assert_eq!(sim.advertised(i), sim.lsdb[i]);
        for j in 0..tl.n {
            if j != i {
                prop_assert_eq!(
                    sim.nodes[i].view[j],
                    sim.lsdb[j],
                    "node {} sees node {} wrongly",
                    i,
                    j
                );
            }
        }
    }
    // 2.-5.
    for i in 0..tl.n {
        check_fall_window(&sim, i)?;
    }
    if tl.preempt_hold_down.is_none() && !tl.active_active {
        check_non_preemption(&sim, max_delay)?;
    }
    check_rate_and_order(&sim, tl.cap, grace)?;
    Ok(())
}

proptest! {
    // 256 cases by default; PROPTEST_CASES overrides (for longer local runs).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn active_standby_timelines(tl in timeline(false)) {
        run(&tl)?;
    }

    #[test]
    fn active_active_timelines(tl in timeline(true)) {
        run(&tl)?;
    }
}
