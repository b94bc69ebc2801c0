//! Prints the timeline of the east/west story for one mode, so an operator can see
//! what each choice does before deploying it.
//!
//! ```text
//! cargo run -p anycast-failover --example timeline -- [non-preemptive|preemptive|active-active|soft-fail|drain]
//! ```
//!
//! Two nodes, one check each (interval 1 s, rise 3, fall 3), advertisements reach the
//! other node after 200 ms. East's service fails at t = 60 s and recovers at t = 120 s.
//! In the preemptive mode east's data is confirmed current at t = 150 s. In the drain
//! mode east does not fail: an operator drains it at t = 60 s and undrains it at 120 s.

use anycast_failover::{
    Action, AdminCommand, CheckKind, CheckSpec, Event, Metric, Mode, NodeConfig, Policy, Preempt,
    PrefixConfig, ProbeOutcome, ProbeResult, RouterId, Scope, SoftFail,
};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(200);

/// The failover mode whose timeline to print.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Story {
    /// Active/standby; a recovered east stays standby.
    NonPreemptive,
    /// Active/standby; east takes over again 20 s after recovering, once its data is
    /// confirmed current (sync gate).
    Preemptive,
    /// Both advertise the same metric while healthy (ECMP).
    ActiveActive,
    /// An unhealthy node advertises metric 500 instead of withdrawing.
    SoftFail,
    /// East stays healthy; an operator drains it at 60 s and undrains it at 120 s.
    Drain,
}

/// Prints the east/west failover timeline of one mode.
#[derive(clap::Parser)]
struct Args {
    /// Which story to tell.
    #[arg(value_enum, default_value = "non-preemptive")]
    mode: Story,
}

fn main() {
    let Args { mode } = clap::Parser::parse();
    let prefix = "2001:db8::53/128".parse().unwrap();
    let mut cfg = PrefixConfig::new(prefix);
    cfg.checks.push(CheckSpec::new(
        "dns",
        CheckKind::TcpConnect {
            addr: "[2001:db8::53]:53".parse().unwrap(),
        },
    ));
    match mode {
        Story::NonPreemptive | Story::Drain => {}
        Story::Preemptive => {
            cfg.preempt = Preempt::After {
                hold_down: Duration::from_secs(20),
            };
            cfg.sync_gate = true;
        }
        Story::ActiveActive => cfg.mode = Mode::ActiveActive { metric: 10 },
        Story::SoftFail => cfg.soft_fail = Some(SoftFail::new(500)),
    }
    let t0 = Instant::now();
    let names = ["east", "west"];
    let mut nodes: Vec<Policy> = (0..2)
        .map(|i| {
            let mut c = cfg.clone();
            c.preference = i;
            let node = NodeConfig::new(RouterId(i + 1), vec![c]);
            Policy::new(t0, node).expect("valid configuration")
        })
        .collect();
    let check = nodes[0].checks().next().unwrap().0;
    // In flight: (arrival, to, from, metric).
    let mut in_flight: Vec<(Instant, usize, usize, Option<Metric>)> = Vec::new();
    let mut seen: [Option<Metric>; 2] = [None, None];
    let mut views: [Option<Metric>; 2] = [None, None];

    let step = Duration::from_millis(100);
    let mut now = t0;
    while now <= t0 + Duration::from_secs(200) {
        let secs = now.duration_since(t0).as_secs_f64();
        for i in 0..2 {
            let p = &mut nodes[i];
            // Deliveries.
            for &(_, _, from, m) in in_flight.iter().filter(|f| f.0 <= now && f.1 == i) {
                views[i] = m;
                let adverts = m.map(|m| (RouterId(from as u32 + 1), m));
                p.handle_peer_advertisements(now, prefix, adverts).unwrap();
            }
            // Probes every second.
            if now.duration_since(t0).as_millis().is_multiple_of(1000) && now > t0 {
                let failing = i == 0 && mode != Story::Drain && (60.0..120.0).contains(&secs);
                let outcome = if failing {
                    ProbeOutcome::Fail
                } else {
                    ProbeOutcome::Pass
                };
                p.handle_probe_result(
                    now,
                    check,
                    ProbeResult {
                        outcome,
                        started: now,
                    },
                )
                .unwrap();
                if mode == Story::Preemptive && (i == 1 || !(60.0..150.0).contains(&secs)) {
                    p.handle_command(now, Scope::All, AdminCommand::SyncConfirmed)
                        .unwrap();
                }
            }
            if mode == Story::Drain && i == 0 && (secs == 60.0 || secs == 120.0) {
                let cmd = if secs == 60.0 {
                    AdminCommand::Drain
                } else {
                    AdminCommand::Undrain
                };
                p.handle_command(now, Scope::All, cmd).unwrap();
            }
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now);
            }
            while let Some(a) = p.poll_action() {
                println!("{secs:7.1}s {:5} {a}", names[i]);
                let m = match a {
                    Action::Advertise { metric, .. } => Some(metric),
                    Action::Withdraw { .. } => None,
                    _ => continue,
                };
                seen[i] = m;
                in_flight.push((now + DELAY, 1 - i, i, m));
            }
            while let Some(e) = p.poll_event() {
                if let Event::RoleChanged {
                    from, to, cause, ..
                } = e
                {
                    println!(
                        "{secs:7.1}s {:5}   role {from} -> {to} ({cause:?})",
                        names[i]
                    );
                }
            }
        }
        in_flight.retain(|f| f.0 > now);
        now += step;
    }
    println!(
        "final: east advertises {:?}, west advertises {:?}",
        seen[0], seen[1]
    );
}
