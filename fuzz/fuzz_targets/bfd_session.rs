//! Drives two BFD sessions joined back to back with arbitrary timers, commands, time
//! steps, losses and injected bytes.
//!
//! Beyond "never panics": after `handle_timeout(now)` the next deadline is later than
//! `now` and a repeated call sends nothing; an Up session knows its peer's
//! discriminator; every packet a session sends decodes and passes the RFC 5880 6.8.6
//! checks.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bfd::{AuthConfig, Config, ControlPacket, Session, State};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver (or drop) what one side has pending.
    Flush { from_b: bool, drop: bool },
    Advance { ms: u16 },
    FireTimeout,
    AdminDown { b: bool },
    AdminUp { b: bool },
    SetTimers { b: bool, tx_ms: u16, rx_ms: u16 },
    Inject { b: bool, ttl: u8, bytes: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    tx_ms: u16,
    rx_ms: u16,
    mult: u8,
    auth: u8,
    ops: Vec<Op>,
}

fn config(i: &Input) -> Config {
    let mut c = Config::new(
        Duration::from_millis(u64::from(i.tx_ms.max(1))),
        Duration::from_millis(u64::from(i.rx_ms)),
        i.mult.max(1),
    );
    match i.auth % 4 {
        1 => c = c.with_auth(AuthConfig::keyed_sha1(1, "k")),
        2 => c = c.with_auth(AuthConfig::meticulous_keyed_sha1(2, "k")),
        3 => c = c.with_auth(AuthConfig::new(bfd::AuthType::SimplePassword, 3, "pw")),
        _ => {}
    }
    c
}

fn check_timeout(s: &mut Session<StdRng>, now: Instant) {
    s.handle_timeout(now);
    let mut pending = Vec::new();
    while let Some(t) = s.poll_transmit() {
        pending.push(t);
    }
    s.handle_timeout(now);
    assert!(s.poll_transmit().is_none(), "repeated handle_timeout sent again");
    if let Some(next) = s.poll_timeout() {
        assert!(next > now, "deadline {next:?} not after {now:?}");
    }
    // Put nothing back: what was due is considered lost here.
    drop(pending);
}

fuzz_target!(|input: Input| {
    let t0 = Instant::now();
    let mut now = t0;
    let cfg = config(&input);
    let mut s = [
        Session::new(now, cfg.clone(), StdRng::seed_from_u64(input.seed)).unwrap(),
        Session::new(now, cfg, StdRng::seed_from_u64(input.seed ^ 1)).unwrap(),
    ];
    for op in input.ops.iter().take(256) {
        match op {
            Op::Flush { from_b, drop } => {
                let (from, to) = if *from_b { (1, 0) } else { (0, 1) };
                while let Some(t) = s[from].poll_transmit() {
                    let p = ControlPacket::decode(t.payload()).expect("sent packets decode");
                    assert_eq!(p.my_discriminator, s[from].local_discriminator());
                    if !drop {
                        let _ = s[to].handle_packet(now, t.payload(), 255);
                    }
                }
            }
            Op::Advance { ms } => now += Duration::from_millis(u64::from(*ms)),
            Op::FireTimeout => {
                for x in s.iter_mut() {
                    check_timeout(x, now);
                }
            }
            Op::AdminDown { b } => s[usize::from(*b)].admin_down(now),
            Op::AdminUp { b } => s[usize::from(*b)].admin_up(now),
            Op::SetTimers { b, tx_ms, rx_ms } => {
                let r = s[usize::from(*b)].set_timers(
                    now,
                    Duration::from_millis(u64::from(*tx_ms)),
                    Duration::from_millis(u64::from(*rx_ms)),
                );
                assert_eq!(r.is_err(), *tx_ms == 0);
            }
            Op::Inject { b, ttl, bytes } => {
                let x = &mut s[usize::from(*b)];
                let before = x.stats();
                if x.handle_packet(now, bytes, *ttl).is_err() {
                    assert_ne!(x.stats(), before, "a dropped packet is counted");
                }
            }
        }
        for x in s.iter_mut() {
            while x.poll_event().is_some() {}
            if x.state() == State::Up {
                assert_ne!(x.remote_discriminator(), 0);
            }
        }
    }
});
