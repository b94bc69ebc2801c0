//! Cost of one input to the policy, to size how often `ha_node` may call it.
//!
//! `timeout_idle` (nothing due) is the baseline: the fixed cost of one evaluation.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use anycast_failover::{
    CheckKind, CheckSpec, NodeConfig, Policy, PrefixConfig, ProbeOutcome, ProbeResult, RouterId,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn setup(checks: usize) -> (Policy, Instant) {
    let mut cfg = PrefixConfig::new("2001:db8::53/128".parse().unwrap());
    for i in 0..checks {
        cfg.checks.push(CheckSpec::new(
            format!("c{i}"),
            CheckKind::TcpConnect {
                addr: "[::1]:53".parse().unwrap(),
            },
        ));
    }
    let t0 = Instant::now();
    let p = Policy::new(t0, NodeConfig::new(RouterId(100), vec![cfg])).unwrap();
    (p, t0)
}

fn bench(c: &mut Criterion) {
    let prefix = "2001:db8::53/128".parse().unwrap();
    c.bench_function("timeout_idle", |b| {
        let (mut p, t0) = setup(4);
        let mut now = t0;
        b.iter(|| {
            now += Duration::from_micros(1);
            p.handle_timeout(black_box(now));
        });
    });
    c.bench_function("probe_result_pass_4_checks", |b| {
        let (mut p, t0) = setup(4);
        let ids: Vec<_> = p.checks().map(|(id, _, _)| id).collect();
        let mut now = t0;
        let mut k = 0;
        b.iter(|| {
            now += Duration::from_micros(1);
            k = (k + 1) % ids.len();
            let r = ProbeResult {
                outcome: ProbeOutcome::Pass,
                started: now,
            };
            p.handle_probe_result(now, ids[k], black_box(r)).unwrap();
            while p.poll_action().is_some() {}
            while p.poll_event().is_some() {}
        });
    });
    c.bench_function("peer_update_64_peers", |b| {
        let (mut p, t0) = setup(0);
        let adverts: Vec<_> = (0..64u32).map(|i| (RouterId(i), 20 + i % 10)).collect();
        let mut now = t0;
        b.iter(|| {
            now += Duration::from_micros(1);
            p.handle_peer_advertisements(now, prefix, black_box(adverts.iter().copied()))
                .unwrap();
            while p.poll_action().is_some() {}
            while p.poll_event().is_some() {}
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
