//! Control connections and sessions over the netsim harness: lossy, duplicating,
//! reordering links in virtual time.

mod control_common;

use control_common::Lcce;
use l2tpv3::MessageType;
use l2tpv3::{Config, Event, SessionRequest};
use netsim::{LinkConfig, Sim};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;

fn config(name: &str, router_id: u32) -> Config {
    {
        let mut c = Config::default();
        c.host_name = name.as_bytes().to_vec();
        c.router_id = router_id;
        c.report_messages = true;
        c
    }
}

/// The messages one side queued, in Ns order, as `(ns, type)`.
fn queued(n: &Lcce) -> Vec<(u16, MessageType)> {
    n.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MessageQueued {
                ns, message_type, ..
            } => Some((*ns, *message_type)),
            _ => None,
        })
        .collect()
}

/// The messages one side delivered, in delivery order.
fn delivered(n: &Lcce) -> Vec<(u16, MessageType)> {
    n.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MessageDelivered {
                ns,
                message_type: Some(t),
                ..
            } => Some((*ns, *t)),
            _ => None,
        })
        .collect()
}

/// Brings up one connection and `sessions` sessions opened by A over a link with
/// the given faults; returns the simulation once both sides report every session up.
fn bring_up(
    seed: u64,
    link: LinkConfig,
    sessions: usize,
    a_cfg: Config,
    b_cfg: Config,
) -> Sim<Lcce, StdRng> {
    bring_up_with_outages(seed, link, sessions, a_cfg, b_cfg, &[])
}

/// As [`bring_up`], with the link taken down for `(after, for)` intervals: each
/// outage starts `after` the previous one ended and lasts `for`.
fn bring_up_with_outages(
    seed: u64,
    link: LinkConfig,
    sessions: usize,
    a_cfg: Config,
    b_cfg: Config,
    outages: &[(Duration, Duration)],
) -> Sim<Lcce, StdRng> {
    let mut sim = Sim::new(StdRng::seed_from_u64(seed));
    let a = sim.add_node(Lcce::new(a_cfg, seed ^ 0xa));
    let b = sim.add_node(Lcce::new(b_cfg, seed ^ 0xb));
    sim.connect(&[(a, 0), (b, 0)], link);
    let now = sim.now();
    let ccid = sim.node_mut(a).ep.connect(now, 0).unwrap();
    for i in 0..sessions {
        sim.node_mut(a)
            .ep
            .open_session(now, ccid, SessionRequest::ethernet(format!("pw{i}")))
            .unwrap();
    }
    let start = sim.now();
    for &(after, down) in outages {
        sim.run_for(after).unwrap();
        sim.set_link_up(0, false);
        sim.run_for(down).unwrap();
        sim.set_link_up(0, true);
    }
    let done = sim
        .run_until_cond(Duration::from_secs(3600), |s| {
            s.node(a).sessions_up() == sessions && s.node(b).sessions_up() == sessions
        })
        .unwrap();

    if !outages.is_empty() {
        // Outages may have ended the bring-up early or late; sessions must still all
        // be up (the retry cycle outlasts each outage).
        assert_eq!(
            sim.node(a).down().len(),
            0,
            "seed {seed} {:?} at {:?}",
            sim.node(a).down(),
            sim.now() - start
        );
    }
    assert!(
        done,
        "seed {seed}: A up {} B up {}, A down {:?}",
        sim.node(a).sessions_up(),
        sim.node(b).sessions_up(),
        sim.node(a).down()
    );
    sim
}

/// Every message queued on one side was delivered exactly once, in order, on the
/// other, once all acknowledgements have settled.
fn assert_exactly_once_in_order(sim: &mut Sim<Lcce, StdRng>) {
    // Let retransmissions and acknowledgements settle (no HELLO yet: < 60 s).
    sim.run_for(Duration::from_secs(30)).unwrap();
    for (from, to) in [(0, 1), (1, 0)] {
        let q = queued(sim.node(from));
        let d = delivered(sim.node(to));
        assert_eq!(q, d, "node {from} -> node {to}");
        for (i, (ns, _)) in d.iter().enumerate() {
            assert_eq!(*ns, i as u16);
        }
    }
}

#[test]
fn lossless_lock_step() {
    let mut sim = bring_up(
        1,
        LinkConfig::with_latency(Duration::from_millis(5)),
        1,
        config("a", 1),
        config("b", 2),
    );
    assert_exactly_once_in_order(&mut sim);
    let a = delivered(sim.node(0));
    let b = delivered(sim.node(1));
    assert_eq!(
        b,
        [
            (0, MessageType::Sccrq),
            (1, MessageType::Scccn),
            (2, MessageType::Icrq),
            (3, MessageType::Iccn)
        ]
    );
    assert_eq!(a, [(0, MessageType::Sccrp), (1, MessageType::Icrp)]);
    // Nothing was lost, so nothing was retransmitted.
    let ccid = sim.node(0).connection_up().unwrap();
    let stats = sim.node(0).ep.connection(ccid).unwrap().reliable;
    assert_eq!((stats.retransmitted, stats.duplicates), (0, 0), "{stats:?}");
    // The explicit acknowledgement closing the exchange is a ZLB (no authentication).
    let last_b = &sim.node(1).sent.last().unwrap().1;
    assert_eq!(last_b.len(), 12, "ZLB");
}

#[test]
fn hundred_sessions_through_30_percent_loss_duplication_and_reordering() {
    let link = LinkConfig::with_latency(Duration::from_millis(20)).lossy(
        0.3,
        0.1,
        Duration::from_millis(40),
    );
    let mut sim = bring_up(7, link, 100, config("a", 1), config("b", 2));
    assert_exactly_once_in_order(&mut sim);
    let stats = sim.link_stats(0);
    assert!(stats.lost > 100 && stats.duplicated > 10, "{stats:?}");
    let a = sim
        .node(0)
        .ep
        .connection(sim.node(0).connection_up().unwrap())
        .unwrap()
        .reliable;
    assert!(a.retransmitted > 0 && a.held + a.duplicates > 0, "{a:?}");
    // Both ends agree on every session's IDs and cookies.
    for s in sim.node(0).ep.sessions() {
        let peer = sim.node(1).ep.session(s.remote_id).expect("peer session");
        assert_eq!(peer.remote_id, s.local_id);
        assert_eq!(peer.remote_cookie, s.local_cookie);
        assert_eq!(peer.local_cookie, s.remote_cookie);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random fault schedules and seeds: the connection and its sessions come up
    /// and every control message is delivered exactly once and in order.
    #[test]
    fn exactly_once_in_order_under_random_faults(
        seed in any::<u64>(),
        loss in 0.0f64..0.3,
        duplicate in 0.0f64..0.3,
        latency_ms in 1u64..100,
        jitter_ms in 0u64..200,
        sessions in 1usize..20,
    ) {
        let link = LinkConfig::with_latency(Duration::from_millis(latency_ms))
            .lossy(loss, duplicate, Duration::from_millis(jitter_ms));
        let mut sim = bring_up(seed, link, sessions, config("a", 1), config("b", 2));
        assert_exactly_once_in_order(&mut sim);
    }

    /// The same with link outages at random times (each shorter than the 71 s
    /// retransmission cycle): nothing is lost or duplicated across them either.
    #[test]
    fn exactly_once_in_order_across_random_outages(
        seed in any::<u64>(),
        loss in 0.0f64..0.2,
        // Outages add up to at most 40 s, so a message first sent as the link goes
        // down still has retransmissions (at 47, 55 and 63 s) after they end. Up to
        // 55 s of outage in a 71 s cycle let a message and its last retransmission
        // both be lost (found with the rand 0.10 fault stream, seed
        // 1081350529913423304): the peer then gives up, as RFC 3931 says it must.
        outages in proptest::collection::vec((0u64..300, 100u64..20_000), 0..4)
            .prop_filter("outages add up to at most 40 s", |v| {
                v.iter().map(|&(_, d)| d).sum::<u64>() <= 40_000
            }),
    ) {
        let link = LinkConfig::with_latency(Duration::from_millis(10))
            .lossy(loss, 0.05, Duration::from_millis(20));
        let outages: Vec<_> = outages
            .into_iter()
            .map(|(a, d)| (Duration::from_millis(a), Duration::from_millis(d)))
            .collect();
        let mut sim = bring_up_with_outages(seed, link, 10, config("a", 1), config("b", 2), &outages);
        assert_exactly_once_in_order(&mut sim);
    }
}
