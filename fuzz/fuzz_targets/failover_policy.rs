//! Drives the failover policy with arbitrary configurations and input sequences.
//!
//! Beyond "never panics", it checks on every step the invariants the daemon relies on:
//! a deadline returned by `poll_timeout` is always in the future of the last input;
//! the address is added before any advertisement and removed only when nothing is
//! advertised; nothing is advertised once a prefix is stopped; the event queue stays
//! within its limit.
#![no_main]

use anycast_failover::{
    Action, AdminCommand, CheckKind, CheckSpec, Combine, DampingConfig, Mode, NodeConfig, Policy,
    Preempt, PrefixConfig, ProbeOutcome, ProbeResult, Role, RouterId, Scope, SoftFail,
};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Op {
    Probe {
        check: u8,
        outcome: u8,
        started_back_ms: u16,
    },
    Peers {
        prefix: u8,
        adverts: Vec<(u8, u16)>,
    },
    Command {
        prefix: Option<u8>,
        cmd: u8,
    },
    Advance {
        ms: u32,
    },
    FireTimeout,
}

/// Mostly small durations (up to `max_ms`), sometimes huge ones, to exercise the
/// saturating instant arithmetic.
fn dur(u: &mut Unstructured<'_>, max_ms: u64) -> arbitrary::Result<Duration> {
    Ok(if u.ratio(1, 16)? {
        Duration::from_secs(u.arbitrary()?)
    } else {
        Duration::from_millis(u.int_in_range(0..=max_ms)?)
    })
}

fn prefix_config(u: &mut Unstructured<'_>, i: u8) -> arbitrary::Result<PrefixConfig> {
    let mut c = PrefixConfig::new(format!("2001:db8::{i}/128").parse().unwrap());
    if u.arbitrary()? {
        c.mode = Mode::ActiveActive {
            metric: u.int_in_range(0..=100)?,
        };
    } else {
        let a = u.int_in_range(0..=100)?;
        c.mode = Mode::ActiveStandby {
            active_metric: a,
            standby_metric: a + u.int_in_range(0..=20)?,
        };
    }
    c.preference = u.int_in_range(0..=20)?;
    c.preempt = if u.arbitrary()? {
        Preempt::After {
            hold_down: dur(u, 60_000)?,
        }
    } else {
        Preempt::Never
    };
    c.sync_gate = u.arbitrary()?;
    c.settle_delay = dur(u, 10_000)?;
    c.drain_period = dur(u, 60_000)?;
    c.drain_metric = u.int_in_range(0..=2000)?;
    c.soft_fail = if u.arbitrary()? {
        Some(SoftFail::new(u.int_in_range(0..=2000)?))
    } else {
        None
    };
    c.damping = if u.arbitrary()? {
        let mut d = DampingConfig::default();
        d.penalty = u.int_in_range(0..=3000)?;
        d.half_life = dur(u, 120_000)?;
        d.suppress = u.int_in_range(0..=5000)?;
        d.reuse = u.int_in_range(0..=3000)?;
        d.max_penalty = u.int_in_range(0..=10_000)?;
        Some(d)
    } else {
        None
    };
    c.max_announcements_per_minute = u.int_in_range(0..=20)?;
    c.shutdown_grace = dur(u, 10_000)?;
    let n = u.int_in_range(0..=4)?;
    for k in 0..n {
        let mut s = CheckSpec::new(
            format!("c{k}"),
            CheckKind::TcpConnect {
                addr: "[::1]:80".parse().unwrap(),
            },
        );
        s.interval = dur(u, 5000)?;
        s.timeout = dur(u, 5000)?;
        s.rise = u.int_in_range(0..=5)?;
        s.fall = u.int_in_range(0..=5)?;
        s.weight = u.int_in_range(0..=5)?;
        c.checks.push(s);
    }
    c.combine = match u.int_in_range(0..=2)? {
        0 => Combine::All,
        1 => Combine::Any,
        _ => Combine::Weighted {
            threshold: u.int_in_range(0..=20)?,
        },
    };
    Ok(c)
}

fn run(data: &[u8]) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let n_prefixes = u.int_in_range(1..=3)?;
    let mut prefixes = Vec::new();
    for i in 0..n_prefixes {
        prefixes.push(prefix_config(&mut u, i)?);
    }
    let mut cfg = NodeConfig::new(RouterId(u.int_in_range(0..=8)?), prefixes);
    cfg.limits.max_peers_per_prefix = 4;
    cfg.limits.max_queued_events = 16;
    let t0 = Instant::now();
    let mut now = t0;
    let Ok(mut policy) = Policy::new(now, cfg.clone()) else {
        return Ok(());
    };
    let checks: Vec<_> = policy.checks().map(|(id, _, _)| id).collect();
    // Per prefix: (address installed, advertised).
    let mut installed: HashMap<_, (bool, bool)> = HashMap::new();
    let ops: Vec<Op> = u.arbitrary()?;
    for op in ops.into_iter().take(500) {
        let pfx = |i: u8| cfg.prefixes[usize::from(i) % cfg.prefixes.len()].prefix;
        match op {
            Op::Probe {
                check,
                outcome,
                started_back_ms,
            } if !checks.is_empty() => {
                let id = checks[usize::from(check) % checks.len()];
                let outcome = match outcome % 3 {
                    0 => ProbeOutcome::Pass,
                    1 => ProbeOutcome::Fail,
                    _ => ProbeOutcome::Timeout,
                };
                let started = now
                    .checked_sub(Duration::from_millis(started_back_ms.into()))
                    .unwrap_or(now);
                policy
                    .handle_probe_result(now, id, ProbeResult { outcome, started })
                    .unwrap();
            }
            Op::Probe { .. } => {}
            Op::Peers { prefix, adverts } => {
                let adverts = adverts
                    .into_iter()
                    .map(|(r, m)| (RouterId(r.into()), m.into()));
                policy
                    .handle_peer_advertisements(now, pfx(prefix), adverts)
                    .unwrap();
            }
            Op::Command { prefix, cmd } => {
                let scope = prefix.map_or(Scope::All, |p| Scope::Prefix(pfx(p)));
                let cmd = match cmd % 8 {
                    0 => AdminCommand::Drain,
                    1 => AdminCommand::Undrain,
                    2 => AdminCommand::SyncConfirmed,
                    3 => AdminCommand::SyncLost,
                    4 => AdminCommand::Shutdown,
                    5 => AdminCommand::ForceStandby,
                    6 => AdminCommand::ClearForce,
                    _ => AdminCommand::ClearDamping,
                };
                policy.handle_command(now, scope, cmd).unwrap();
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms % 600_000));
                policy.handle_timeout(now);
            }
            Op::FireTimeout => {
                if let Some(t) = policy.poll_timeout() {
                    now = now.max(t);
                    policy.handle_timeout(now);
                }
            }
        }
        if let Some(t) = policy.poll_timeout() {
            assert!(t > now, "deadline not in the future");
        }
        while let Some(a) = policy.poll_action() {
            match a {
                Action::AddLoopbackAddress { prefix } => {
                    let e = installed.entry(prefix).or_default();
                    assert!(!e.0, "address added twice");
                    e.0 = true;
                }
                Action::Advertise { prefix, .. } => {
                    let e = installed.entry(prefix).or_default();
                    assert!(e.0, "advertised before the address was added");
                    assert_ne!(policy.role(prefix), Some(Role::Stopped));
                    e.1 = true;
                }
                Action::Withdraw { prefix } => {
                    let e = installed.entry(prefix).or_default();
                    assert!(e.1, "withdrew what was not advertised");
                    e.1 = false;
                }
                Action::RemoveLoopbackAddress { prefix } => {
                    let e = installed.entry(prefix).or_default();
                    assert!(e.0 && !e.1, "address removed while advertised");
                    e.0 = false;
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
        let mut events = 0;
        while policy.poll_event().is_some() {
            events += 1;
        }
        assert!(events <= 16);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
