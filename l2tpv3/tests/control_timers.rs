//! RFC 3931 timer behaviour in virtual time: retransmission backoff and retry
//! limit (4.2), HELLO (4.4), the StopCCN hold (4.2, 7.1).

mod control_common;

use control_common::Lcce;
use l2tpv3::avp::{ResultCode, result};
use l2tpv3::{Config, DownReason, Event, SessionRequest};
use l2tpv3::{ControlMessage, Encapsulation, MessageType};
use netsim::{LinkConfig, Sim};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

fn types(sent: &[(Instant, Vec<u8>)], start: Instant) -> Vec<(u64, Option<MessageType>)> {
    sent.iter()
        .map(|(t, b)| {
            let m = ControlMessage::decode(b, Encapsulation::Udp).unwrap();
            ((*t - start).as_millis() as u64, m.message_type())
        })
        .collect()
}

fn pair(seed: u64) -> Sim<Lcce, StdRng> {
    let mut sim = Sim::new(StdRng::seed_from_u64(seed));
    let a = sim.add_node(Lcce::new(Config::default(), 1));
    let b = sim.add_node(Lcce::new(Config::default(), 2));
    sim.connect(
        &[(a, 0), (b, 0)],
        LinkConfig::with_latency(Duration::from_millis(10)),
    );
    sim
}

fn establish(sim: &mut Sim<Lcce, StdRng>) -> u32 {
    let now = sim.now();
    let ccid = sim.node_mut(0).ep.connect(now, 0).unwrap();
    sim.node_mut(0)
        .ep
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    assert!(
        sim.run_until_cond(Duration::from_secs(5), |s| s.node(1).sessions_up() == 1)
            .unwrap()
    );
    ccid
}

#[test]
fn sccrq_backoff_sequence_and_retry_limit() {
    let mut sim = pair(1);
    sim.set_link_up(0, false);
    let start = sim.now();
    sim.node_mut(0).ep.connect(start, 0).unwrap();
    sim.run_for(Duration::from_secs(200)).unwrap();
    let sent = types(&sim.node(0).sent, start);
    let at: Vec<u64> = sent.iter().map(|(t, _)| t / 1000).collect();
    // First transmission, then 1, 2, 4, 8, 8, ... seconds apart: 10 retransmissions.
    assert_eq!(at, [0, 1, 3, 7, 15, 23, 31, 39, 47, 55, 63]);
    assert!(sent.iter().all(|(_, t)| *t == Some(MessageType::Sccrq)));
    let down = sim.node(0).down();
    assert_eq!(down.len(), 1);
    assert_eq!((down[0].0 - start).as_secs(), 71);
    assert!(matches!(
        down[0].1,
        Event::ConnectionDown {
            reason: DownReason::Unreachable,
            ..
        }
    ));
    assert_eq!(sim.node(0).ep.connection_count(), 0);
}

#[test]
fn backoff_is_configurable() {
    let mut sim = Sim::new(StdRng::seed_from_u64(3));
    let mut cfg = Config::default();
    cfg.reliable.retransmit_initial = Duration::from_millis(500);
    cfg.reliable.retransmit_cap = Duration::from_secs(2);
    cfg.reliable.max_retransmissions = 4;
    let a = sim.add_node(Lcce::new(cfg, 1));
    let b = sim.add_node(Lcce::new(Config::default(), 2));
    let link = sim.connect(&[(a, 0), (b, 0)], LinkConfig::default());
    sim.set_link_up(link, false);
    let start = sim.now();
    sim.node_mut(a).ep.connect(start, 0).unwrap();
    sim.run_for(Duration::from_secs(60)).unwrap();
    let at: Vec<u64> = types(&sim.node(a).sent, start)
        .iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(at, [0, 500, 1500, 3500, 5500]);
    assert_eq!((sim.node(a).down()[0].0 - start).as_millis(), 7500);
}

#[test]
fn hello_after_silence_and_teardown_when_unanswered() {
    let mut sim = pair(2);
    establish(&mut sim);
    sim.run_for(Duration::from_secs(1)).unwrap();
    let quiet_from = sim.now();
    let before = [sim.node(0).sent.len(), sim.node(1).sent.len()];
    sim.run_for(Duration::from_secs(90)).unwrap();
    // One HELLO about 60 s after the last message (from whichever side fell silent
    // first; hearing it resets the other side's timer), and it is acknowledged.
    let hellos: Vec<_> = [0, 1]
        .into_iter()
        .flat_map(|n| types(&sim.node(n).sent[before[n]..], quiet_from))
        .filter(|(_, t)| *t == Some(MessageType::Hello))
        .collect();
    assert_eq!(hellos.len(), 1, "{hellos:?}");
    assert!((58_000..60_000).contains(&hellos[0].0), "{hellos:?}");
    assert!(sim.node(0).down().is_empty());
    // Now the peer goes silent: the next HELLO is never acknowledged.
    sim.set_link_up(0, false);
    let cut = sim.now();
    sim.run_for(Duration::from_secs(200)).unwrap();
    let down = sim.node(0).down();
    assert_eq!(down.len(), 1);
    assert!(matches!(
        down[0].1,
        Event::ConnectionDown {
            reason: DownReason::Unreachable,
            ..
        }
    ));
    // HELLO at most 60 s after the last message heard, then 71 s of retries.
    let took = (down[0].0 - cut).as_secs();
    assert!((71..=131).contains(&took), "{took}");
    assert!(
        sim.node(0)
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::SessionDown { .. }))
    );
}

#[test]
fn hello_interval_is_configurable() {
    let mut sim = Sim::new(StdRng::seed_from_u64(4));
    let cfg = {
        let mut c = Config::default();
        c.hello_interval = Duration::from_secs(5);
        c
    };
    let a = sim.add_node(Lcce::new(cfg.clone(), 1));
    let b = sim.add_node(Lcce::new(cfg, 2));
    sim.connect(&[(a, 0), (b, 0)], LinkConfig::default());
    establish(&mut sim);
    let from = sim.now();
    sim.run_for(Duration::from_secs(31)).unwrap();
    let n = types(&sim.node(a).sent, from)
        .iter()
        .filter(|(_, t)| *t == Some(MessageType::Hello))
        .count();
    // Each side's HELLO resets the other's silence timer, so between them
    // about one HELLO per 5 s goes out.
    let m = types(&sim.node(b).sent, from)
        .iter()
        .filter(|(_, t)| *t == Some(MessageType::Hello))
        .count();
    assert!((5..=7).contains(&(n + m)), "{n} + {m}");
}

#[test]
fn stopccn_is_held_for_a_full_retransmission_cycle() {
    let mut sim = pair(5);
    let ccid = establish(&mut sim);
    let now = sim.now();
    sim.node_mut(0)
        .ep
        .close_connection(now, ccid, ResultCode::new(result::STOPCCN_SHUTTING_DOWN))
        .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    // The peer learned why, and both ends still hold the connection.
    let b_down = sim.node(1).down();
    assert!(matches!(
        &b_down[0].1,
        Event::ConnectionDown {
            reason: DownReason::StopCcnReceived(Some(rc)),
            ..
        } if rc.result == result::STOPCCN_SHUTTING_DOWN
    ));
    assert_eq!(sim.node(0).ep.connection_count(), 1);
    assert_eq!(sim.node(1).ep.connection_count(), 1);
    sim.run_for(Duration::from_secs(69)).unwrap();
    assert_eq!(sim.node(0).ep.connection_count(), 1, "held 70 s");
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(sim.node(0).ep.connection_count(), 0, "gone after 71 s");
    assert_eq!(sim.node(1).ep.connection_count(), 0);
    assert_eq!(sim.node(0).down().len(), 1, "one down event only");
}

#[test]
fn stopccn_retransmitted_when_lost_and_reacked_during_hold() {
    let mut sim = pair(6);
    let ccid = establish(&mut sim);
    sim.set_link_up(0, false);
    let now = sim.now();
    sim.node_mut(0)
        .ep
        .close_connection(now, ccid, ResultCode::new(result::STOPCCN_GENERAL_CLEAR))
        .unwrap();
    sim.run_for(Duration::from_millis(3500)).unwrap();
    let stops = types(&sim.node(0).sent, now)
        .into_iter()
        .filter(|(_, t)| *t == Some(MessageType::StopCcn))
        .map(|(t, _)| t / 1000)
        .collect::<Vec<_>>();
    assert_eq!(stops, [0, 1, 3]);
    sim.set_link_up(0, true);
    sim.run_for(Duration::from_secs(10)).unwrap();
    // The retransmission at 7 s reaches the peer, which acknowledges it.
    assert_eq!(sim.node(1).down().len(), 1);
    assert!(sim.node(0).ep.connection(ccid).unwrap().unacknowledged == 0);
}
