//! Fuzz the ESP inbound path: raw bytes (optionally as a UDP/4500 payload, RFC 3948,
//! through `Sad::open_udp`)
//! into the SA database, and authentic packets with fuzzer-chosen plaintext (so the
//! trailer, padding and selector checks behind the ICV are reached too). Any panic is
//! a bug; every rejection must be a typed error.
#![no_main]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ipsec_lite::unstable::suite::Transform;
use ipsec_lite::{
    Backend, Direction, IpPrefix, Lifetimes, Limits, Mode, OuterAddrs, Policy, SaParams, Sad,
    SecurityAssociation, Selector, Suite, UdpInbound,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes as received: ESP directly, or a UDP/4500 payload.
    Raw { natt: bool, data: Vec<u8> },
    /// An authentic packet for SA `sa` whose encrypted part is `body` verbatim.
    Authentic { sa: u8, seq: u64, body: Vec<u8> },
    /// Let time pass (lifetimes, grace periods).
    Tick { secs: u8 },
}

fn params(i: usize) -> SaParams {
    let suite = Suite::ALL[i % Suite::ALL.len()];
    let mut p = SaParams::new(
        0x100 + i as u32,
        Direction::Inbound,
        suite,
        (0..suite.enc_key_len())
            .map(|k| k as u8 ^ i as u8)
            .collect(),
        (0..suite.auth_key_len())
            .map(|k| (k as u8).wrapping_mul(3))
            .collect(),
    );
    p.esn = i % 2 == 0;
    p.lifetimes = Lifetimes {
        soft: Limits {
            packets: Some(5),
            bytes: None,
            time: Some(Duration::from_secs(30)),
        },
        hard: Limits {
            packets: Some(50),
            bytes: Some(4000),
            time: Some(Duration::from_secs(60)),
        },
    };
    p
}

fn policy(i: usize) -> Policy {
    let any = |a: &str| IpPrefix {
        addr: a.parse().unwrap(),
        len: 0,
    };
    let tunnel = i % 3 == 1;
    Policy::new(
        Selector {
            local: any("0.0.0.0"),
            remote: any("0.0.0.0"),
            protocol: if tunnel { None } else { Some(17) },
            local_port: if tunnel { None } else { Some(1701) },
            remote_port: None,
        },
        if tunnel {
            Mode::Tunnel {
                local: "192.0.2.2".parse().unwrap(),
                remote: "192.0.2.1".parse().unwrap(),
            }
        } else {
            Mode::Transport
        },
    )
}

fuzz_target!(|ops: Vec<Op>| {
    let t0 = Instant::now();
    let mut now = t0;
    let backend = Backend::default();
    let n = Suite::ALL.len();
    let mut sad = Sad::new(16);
    let mut forgers = Vec::new();
    for i in 0..n {
        let p = params(i);
        sad.add(
            SecurityAssociation::new(t0, &p, backend).unwrap(),
            policy(i),
        )
        .unwrap();
        forgers.push((
            p.spi,
            p.esn,
            Transform::new(backend, p.suite, &p.enc_key, &p.auth_key).unwrap(),
        ));
    }
    let outer = OuterAddrs {
        src: IpAddr::from([192, 0, 2, 1]),
        dst: IpAddr::from([192, 0, 2, 2]),
    };
    let mut delivered = 0u64;
    let mut rejected = 0u64;
    for op in ops.into_iter().take(32) {
        match op {
            Op::Raw { natt, mut data } => {
                let r = if natt {
                    sad.open_udp(now, outer, &mut data)
                        .map(|u| matches!(u, UdpInbound::Esp(_)))
                } else {
                    sad.open(now, outer, &mut data).map(|_| true)
                };
                match r {
                    Ok(true) => delivered += 1,
                    Ok(false) => {}
                    Err(_) => rejected += 1,
                }
            }
            Op::Authentic { sa, seq, mut body } => {
                body.truncate(2048);
                let (spi, esn, t) = &forgers[usize::from(sa) % n];
                let suite = t.suite();
                let mut pkt = vec![0u8; 8 + suite.iv_len()];
                pkt[..4].copy_from_slice(&spi.to_be_bytes());
                pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
                t.fill_iv(seq, &mut pkt[8..]).unwrap();
                pkt.extend(&body);
                pkt.extend(vec![0u8; suite.icv_len()]);
                let aligned = body.len() % suite.align() == 0;
                if t.seal(&mut pkt, esn.then_some((seq >> 32) as u32)).is_err() {
                    assert!(!aligned || pkt.len() < 8 + suite.iv_len() + suite.icv_len());
                    continue;
                }
                match sad.open(now, outer, &mut pkt) {
                    Ok(d) => {
                        delivered += 1;
                        assert!(d.payload.len() + 2 <= body.len());
                    }
                    Err(_) => rejected += 1,
                }
            }
            Op::Tick { secs } => {
                now += Duration::from_secs(u64::from(secs));
                sad.handle_timeout(now);
                while sad.poll_event().is_some() {}
            }
        }
    }
    assert_eq!(sad.drops().total(), rejected);
    let _ = delivered;
});
