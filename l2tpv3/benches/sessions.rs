//! Time and memory to establish many sessions on one control connection, in the
//! netsim harness (virtual time, 1 ms links, no loss).
//!
//! Run: `cargo bench -p l2tpv3 --bench sessions`. Besides criterion's timing, it
//! prints how much the resident set grew while both endpoints established the
//! sessions (measured from `/proc/self/statm` before the timed runs, so it is an
//! upper bound on what the two endpoints and the harness hold) and the bytes per
//! session. The baseline in the same run is one connection with a single session.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use l2tpv3::{Config, Endpoint, Event, SessionRequest};
use netsim::{LinkConfig, Node, Sim, Transmit};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), or 0.
fn rss() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map_or(0, |pages| pages * 4096)
}

struct Lcce {
    ep: Endpoint<usize, StdRng>,
    up: usize,
}

impl Node for Lcce {
    fn handle_datagram(&mut self, now: Instant, port: usize, payload: Vec<u8>) {
        self.ep.handle_datagram(now, port, &payload);
        self.count();
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.count();
    }
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        let t = self.ep.poll_transmit()?;
        let (port, payload) = (t.destination, t.contents);
        Some(Transmit { port, payload })
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.ep.poll_timeout()
    }
}

impl Lcce {
    fn count(&mut self) {
        while let Some(e) = self.ep.poll_event() {
            if matches!(e, Event::SessionUp { .. }) {
                self.up += 1;
            }
        }
    }
}

fn establish(n: usize) -> Sim<Lcce, StdRng> {
    let mut sim = Sim::new(StdRng::seed_from_u64(1));
    let mut cfg = Config::default();
    cfg.reliable.receive_window = 64;
    let mk = |seed| Lcce {
        ep: Endpoint::new(cfg.clone(), StdRng::seed_from_u64(seed)),
        up: 0,
    };
    let a = sim.add_node(mk(1));
    let b = sim.add_node(mk(2));
    sim.connect(&[(a, 0), (b, 0)], LinkConfig::default());
    let now = sim.now();
    let ccid = sim.node_mut(a).ep.connect(now, 0).unwrap();
    for i in 0..n {
        sim.node_mut(a)
            .ep
            .open_session(now, ccid, SessionRequest::ethernet(format!("pw{i}")))
            .unwrap();
    }
    let ok = sim
        .run_until_cond(Duration::from_secs(36_000), |s| {
            s.node(a).up == n && s.node(b).up == n
        })
        .unwrap();
    assert!(ok);
    sim
}

fn bench(c: &mut Criterion) {
    for n in [1usize, 10_000] {
        let before = rss();
        let sim = establish(n);
        let held = rss() - before;
        println!(
            "sessions={n}: resident memory grew {held} bytes while establishing (both \
             endpoints and the harness), {} bytes per session, virtual time {:?}",
            held / n as isize,
            sim.elapsed()
        );
        drop(sim);
    }
    let mut g = c.benchmark_group("establish");
    g.sample_size(10);
    for n in [1usize, 10_000] {
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| establish(n))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
