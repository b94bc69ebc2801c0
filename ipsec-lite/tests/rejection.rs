//! Everything the inbound path must refuse, with a typed error and a counter, and
//! without delivering anything: replays, every single-byte tamper, a wrong SPI,
//! truncation, bad padding, bad alignment, selector mismatch; plus lifetimes, ESN
//! wrap and rekeying with a grace period.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipsec_lite::ReplayError;
use ipsec_lite::unstable::esp;
use ipsec_lite::unstable::suite::Transform;
use ipsec_lite::{Backend, Suite};
use ipsec_lite::{Direction, Lifetimes, LimitKind, Limits, SaEvent, SaParams, SecurityAssociation};
use ipsec_lite::{DropReason, InboundError, OutboundError};
use ipsec_lite::{Flow, IpPrefix, Mode, OuterAddrs, Policy, Sad, SadEvent, Selector};

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn params(spi: u32, direction: Direction, suite: Suite, esn: bool) -> SaParams {
    let mut p = SaParams::new(
        spi,
        direction,
        suite,
        (1..=suite.enc_key_len() as u8).collect(),
        (50..50 + suite.auth_key_len() as u8).collect(),
    );
    p.esn = esn;
    p
}

/// L2TPv3 over UDP 1701 from this node's side.
fn l2tp_policy(local: &str, remote: &str) -> Policy {
    Policy::new(
        Selector {
            local: IpPrefix::host(ip(local)),
            remote: IpPrefix::host(ip(remote)),
            protocol: Some(17),
            local_port: Some(1701),
            remote_port: Some(1701),
        },
        Mode::Transport,
    )
}

/// A sending SAD at A and a receiving SAD at B sharing SPI 0x1000.
fn pair(backend: Backend, suite: Suite, now: Instant) -> (Sad, Sad) {
    pair_esn(backend, suite, now, true)
}

fn pair_esn(backend: Backend, suite: Suite, now: Instant, esn: bool) -> (Sad, Sad) {
    let mut tx = Sad::default();
    let mut rx = Sad::default();
    tx.add(
        SecurityAssociation::new(
            now,
            &params(0x1000, Direction::Outbound, suite, esn),
            backend,
        )
        .unwrap(),
        l2tp_policy(A, B),
    )
    .unwrap();
    rx.add(
        SecurityAssociation::new(
            now,
            &params(0x1000, Direction::Inbound, suite, esn),
            backend,
        )
        .unwrap(),
        l2tp_policy(B, A),
    )
    .unwrap();
    (tx, rx)
}

fn udp_payload(sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(sport.to_be_bytes());
    v.extend(dport.to_be_bytes());
    v.extend(((8 + body.len()) as u16).to_be_bytes());
    v.extend([0, 0]);
    v.extend(body);
    v
}

fn flow() -> Flow {
    Flow {
        local: ip(A),
        remote: ip(B),
        protocol: 17,
        local_port: 1701,
        remote_port: 1701,
    }
}

fn seal(tx: &mut Sad, now: Instant, payload: &[u8]) -> Vec<u8> {
    let head = 64;
    let mut buf = vec![0u8; head + payload.len() + 64];
    buf[head..head + payload.len()].copy_from_slice(payload);
    tx.seal(now, &flow(), &mut buf, head..head + payload.len(), 17)
        .unwrap()
        .packet
        .to_vec()
}

fn outer() -> OuterAddrs {
    OuterAddrs {
        src: ip(A),
        dst: ip(B),
    }
}

#[test]
fn every_single_byte_tamper_is_rejected_and_counted() {
    let now = Instant::now();
    for &backend in Backend::available() {
        for suite in Suite::ALL {
            let (mut tx, mut rx) = pair(backend, suite, now);
            let pkt = seal(
                &mut tx,
                now,
                &udp_payload(1701, 1701, b"\x00\x03\x00\x00 L2TPv3 data"),
            );
            let mut expected_integrity = 0;
            let mut expected_spi = 0;
            let mut expected_replay = 0;
            for i in 0..pkt.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut bad = pkt.clone();
                    bad[i] ^= flip;
                    let e = rx.open(now, outer(), &mut bad).unwrap_err();
                    match e {
                        InboundError::UnknownSpi { .. } => {
                            assert!(i < 4, "{suite} byte {i}");
                            expected_spi += 1;
                        }
                        InboundError::Integrity { spi, .. } => {
                            assert_eq!(spi, 0x1000);
                            assert!(i >= 4);
                            expected_integrity += 1;
                        }
                        // A tampered sequence number of zero fails the replay check
                        // before any decryption.
                        InboundError::Replay {
                            kind: ReplayError::Zero,
                            ..
                        } => {
                            assert!((4..8).contains(&i));
                            expected_replay += 1;
                        }
                        other => panic!("{} {suite} byte {i}: unexpected {other}", backend.name()),
                    }
                }
            }
            assert_eq!(rx.drops().get(DropReason::Integrity), expected_integrity);
            assert_eq!(rx.drops().get(DropReason::UnknownSpi), expected_spi);
            // Forgeries did not move the window: the genuine packet still opens, once.
            let mut good = pkt.clone();
            let d = rx.open(now, outer(), &mut good).unwrap();
            assert_eq!(&d.payload[8..], b"\x00\x03\x00\x00 L2TPv3 data");
            let mut again = pkt.clone();
            assert!(matches!(
                rx.open(now, outer(), &mut again),
                Err(InboundError::Replay {
                    kind: ReplayError::Duplicate,
                    ..
                })
            ));
            assert_eq!(rx.drops().get(DropReason::Replay), expected_replay + 1);
        }
    }
}

#[test]
fn truncation_at_every_length_is_rejected() {
    let now = Instant::now();
    for &backend in Backend::available() {
        for suite in Suite::ALL {
            let (mut tx, mut rx) = pair(backend, suite, now);
            let pkt = seal(&mut tx, now, &udp_payload(1701, 1701, b"hello"));
            for n in 0..pkt.len() {
                let mut short = pkt[..n].to_vec();
                let e = rx.open(now, outer(), &mut short).unwrap_err();
                assert!(
                    matches!(
                        e,
                        InboundError::Truncated { .. }
                            | InboundError::Integrity { .. }
                            | InboundError::BadAlignment { .. }
                    ),
                    "{suite} len {n}: {e}"
                );
            }
            assert_eq!(rx.drops().total(), pkt.len() as u64);
            assert!(rx.drops().get(DropReason::Truncated) >= esp::min_len(suite) as u64 - 1);
        }
    }
}

#[test]
fn old_and_replayed_sequence_numbers() {
    let now = Instant::now();
    // Without ESN a number left of the window is "too old". (With ESN the receiver
    // reads it as the next 2^32 subspace, RFC 4303 appendix A, and the ICV fails.)
    let (mut tx, mut rx) = pair_esn(Backend::default(), Suite::AesGcm128, now, false);
    let pkts: Vec<Vec<u8>> = (0..1100)
        .map(|_| seal(&mut tx, now, &udp_payload(1701, 1701, b"x")))
        .collect();
    // Deliver the newest first; the oldest 76 fall left of the 1024-packet window.
    let mut p = pkts[1099].clone();
    rx.open(now, outer(), &mut p).unwrap();
    let mut old = pkts[0].clone();
    assert!(matches!(
        rx.open(now, outer(), &mut old),
        Err(InboundError::Replay {
            kind: ReplayError::TooOld,
            seq: 1,
            ..
        })
    ));
    let mut in_window = pkts[1100 - 1024].clone();
    rx.open(now, outer(), &mut in_window).unwrap();
    assert_eq!(rx.drops().get(DropReason::Replay), 1);
}

/// Build an authentic packet with a hand-made trailer (to test the receiver's checks).
fn forge_trailer(t: &Transform, seq: u64, body: &[u8]) -> Vec<u8> {
    let suite = t.suite();
    let mut pkt = vec![0u8; esp::headroom(suite)];
    pkt[..4].copy_from_slice(&0x1000u32.to_be_bytes());
    pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    t.fill_iv(seq, &mut pkt[8..]).unwrap();
    pkt.extend(body);
    pkt.extend(vec![0u8; suite.icv_len()]);
    t.seal(&mut pkt, Some((seq >> 32) as u32)).unwrap();
    pkt
}

#[test]
fn bad_padding_and_alignment_are_rejected_after_authentication() {
    let now = Instant::now();
    for &backend in Backend::available() {
        for suite in Suite::ALL {
            let p = params(0x1000, Direction::Inbound, suite, true);
            let t = Transform::new(backend, suite, &p.enc_key, &p.auth_key).unwrap();
            let mut rx = SecurityAssociation::new(now, &p, backend).unwrap();
            let a = suite.align();
            // Pad bytes not 1, 2, 3...
            let mut body = vec![0xaa; a * 2 - 5];
            body.extend([1, 2, 4, 3, 17]);
            let mut pkt = forge_trailer(&t, 1, &body);
            let e = rx.open(now, &mut pkt).unwrap_err();
            let off = esp::headroom(suite) + body.len() - 3;
            assert_eq!(
                e,
                InboundError::BadPadding {
                    spi: 0x1000,
                    offset: off
                },
                "{suite}"
            );
            // Pad length larger than the ciphertext.
            let mut body = vec![0u8; a * 2 - 2];
            body.extend([0xfe, 17]);
            let mut pkt = forge_trailer(&t, 2, &body);
            assert!(matches!(
                rx.open(now, &mut pkt),
                Err(InboundError::BadPadding { .. })
            ));
            // Ciphertext not a multiple of the block/alignment: authentic but malformed.
            if suite.is_aead() {
                let mut pkt = forge_trailer(&t, 3, &[0, 17, 0, 17, 0, 17, 0, 17, 0, 17]);
                assert!(matches!(
                    rx.open(now, &mut pkt),
                    Err(InboundError::BadAlignment { .. })
                ));
            }
        }
    }
}

#[test]
fn wrong_selector_is_rejected() {
    let now = Instant::now();
    let mut tx_sa = SecurityAssociation::new(
        now,
        &params(0x1000, Direction::Outbound, Suite::AesCbc128HmacSha1, true),
        Backend::default(),
    )
    .unwrap();
    let (_, mut rx) = pair(Backend::default(), Suite::AesCbc128HmacSha1, now);
    let payload = udp_payload(1701, 1702, b"not L2TP port");
    let mut buf = vec![0u8; 64 + payload.len() + 64];
    buf[64..64 + payload.len()].copy_from_slice(&payload);
    let mut pkt = tx_sa
        .seal(now, &mut buf, 64..64 + payload.len(), 17)
        .unwrap()
        .to_vec();
    assert_eq!(
        rx.open(now, outer(), &mut pkt).unwrap_err(),
        InboundError::Selector { spi: 0x1000 }
    );
    assert_eq!(rx.drops().get(DropReason::Selector), 1);
    // No outbound SA for another flow.
    let (mut tx, _) = pair(Backend::default(), Suite::AesGcm128, now);
    let mut other = flow();
    other.local_port = 500;
    let mut buf = vec![0u8; 128];
    assert_eq!(
        tx.seal(now, &other, &mut buf, 64..70, 17).unwrap_err(),
        OutboundError::NoPolicy
    );
}

#[test]
fn headroom_and_tailroom_are_checked() {
    let now = Instant::now();
    let mut sa = SecurityAssociation::new(
        now,
        &params(0x1000, Direction::Outbound, Suite::AesGcm256, false),
        Backend::default(),
    )
    .unwrap();
    let mut buf = vec![0u8; 100];
    assert_eq!(
        sa.seal(now, &mut buf, 10..50, 17).unwrap_err(),
        OutboundError::Headroom { need: 16, have: 10 }
    );
    assert_eq!(
        sa.seal(now, &mut buf, 16..95, 17).unwrap_err(),
        OutboundError::Tailroom { need: 21, have: 5 }
    );
    assert!(matches!(
        sa.seal(now, &mut buf, 16..200, 17).unwrap_err(),
        OutboundError::Range { .. }
    ));
    assert_eq!(sa.seq(), 0, "failed seals consume no sequence number");
}

#[test]
fn esn_wrap_and_non_esn_exhaustion() {
    let now = Instant::now();
    for suite in Suite::ALL {
        let backend = Backend::default();
        let mut tx = SecurityAssociation::new(
            now,
            &params(0x1000, Direction::Outbound, suite, true),
            backend,
        )
        .unwrap();
        let mut rx = SecurityAssociation::new(
            now,
            &params(0x1000, Direction::Inbound, suite, true),
            backend,
        )
        .unwrap();
        tx.set_next_seq(0xffff_fffd);
        for expect in 0xffff_fffdu64..0x1_0000_0003 {
            let mut buf = vec![0u8; 128];
            let pkt = tx.seal(now, &mut buf, 32..40, 17).unwrap();
            assert_eq!(&pkt[4..8], &(expect as u32).to_be_bytes());
            let got = rx.open(now, pkt).unwrap();
            assert_eq!(got.seq, expect);
        }
        // Without ESN the sender stops at 2^32 - 1.
        let mut tx = SecurityAssociation::new(
            now,
            &params(0x1000, Direction::Outbound, suite, false),
            backend,
        )
        .unwrap();
        tx.set_next_seq(0xffff_ffff);
        let mut buf = vec![0u8; 128];
        tx.seal(now, &mut buf, 32..40, 17).unwrap();
        assert_eq!(
            tx.seal(now, &mut buf, 32..40, 17).unwrap_err(),
            OutboundError::SequenceExhausted { spi: 0x1000 }
        );
        let evs: Vec<_> = std::iter::from_fn(|| tx.poll_event()).collect();
        assert!(evs.contains(&SaEvent::HardExpired {
            spi: 0x1000,
            direction: Direction::Outbound,
            limit: LimitKind::Sequence
        }));
    }
}

#[test]
fn lifetimes_raise_soft_then_hard() {
    let t0 = Instant::now();
    let mut p = params(0x1000, Direction::Outbound, Suite::AesGcm128, true);
    p.lifetimes = Lifetimes {
        soft: Limits {
            packets: Some(3),
            bytes: None,
            time: Some(Duration::from_secs(60)),
        },
        hard: Limits {
            packets: Some(5),
            bytes: Some(1_000_000),
            time: Some(Duration::from_secs(120)),
        },
    };
    let mut sa = SecurityAssociation::new(t0, &p, Backend::default()).unwrap();
    assert_eq!(sa.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let mut buf = vec![0u8; 128];
    for _ in 0..3 {
        sa.seal(t0, &mut buf, 32..40, 17).unwrap();
    }
    assert_eq!(
        sa.poll_event(),
        Some(SaEvent::SoftExpired {
            spi: 0x1000,
            direction: Direction::Outbound,
            limit: LimitKind::Packets
        })
    );
    assert_eq!(sa.poll_event(), None);
    assert_eq!(sa.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    sa.seal(t0, &mut buf, 32..40, 17).unwrap();
    sa.seal(t0, &mut buf, 32..40, 17).unwrap();
    assert!(matches!(
        sa.poll_event(),
        Some(SaEvent::HardExpired {
            limit: LimitKind::Packets,
            ..
        })
    ));
    assert_eq!(
        sa.seal(t0, &mut buf, 32..40, 17).unwrap_err(),
        OutboundError::Expired { spi: 0x1000 }
    );

    // Time-based: handle_timeout at poll_timeout raises the events.
    p.lifetimes.soft.packets = None;
    p.lifetimes.hard.packets = None;
    let mut sa = SecurityAssociation::new(t0, &p, Backend::default()).unwrap();
    let t = sa.poll_timeout().unwrap();
    sa.handle_timeout(t);
    assert!(matches!(
        sa.poll_event(),
        Some(SaEvent::SoftExpired {
            limit: LimitKind::Time,
            ..
        })
    ));
    let t = sa.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(120));
    sa.handle_timeout(t);
    assert!(matches!(
        sa.poll_event(),
        Some(SaEvent::HardExpired {
            limit: LimitKind::Time,
            ..
        })
    ));
    assert_eq!(sa.poll_timeout(), None);
}

#[test]
fn inbound_hard_expiry_drops_and_counts() {
    let t0 = Instant::now();
    let (mut tx, _) = pair(Backend::default(), Suite::AesGcm128, t0);
    let mut p = params(0x1000, Direction::Inbound, Suite::AesGcm128, true);
    p.lifetimes.hard.bytes = Some(10);
    let mut rx = Sad::default();
    rx.add(
        SecurityAssociation::new(t0, &p, Backend::default()).unwrap(),
        l2tp_policy(B, A),
    )
    .unwrap();
    let mut a = seal(&mut tx, t0, &udp_payload(1701, 1701, b"0123456789"));
    rx.open(t0, outer(), &mut a).unwrap();
    let mut b = seal(&mut tx, t0, &udp_payload(1701, 1701, b"x"));
    assert_eq!(
        rx.open(t0, outer(), &mut b).unwrap_err(),
        InboundError::Expired { spi: 0x1000 }
    );
    assert_eq!(rx.drops().get(DropReason::Expired), 1);
    assert!(matches!(
        rx.poll_event(),
        Some(SadEvent::Sa(SaEvent::HardExpired { .. }))
    ));
}

#[test]
fn rekey_keeps_old_inbound_for_grace_period() {
    let t0 = Instant::now();
    let backend = Backend::default();
    let suite = Suite::AesCbc128HmacSha1;
    let (mut tx, mut rx) = pair(backend, suite, t0);
    let early = seal(&mut tx, t0, &udp_payload(1701, 1701, b"old 1"));
    let late = seal(&mut tx, t0, &udp_payload(1701, 1701, b"old 2"));
    // New SA pair, SPI 0x2000.
    let mut newp = params(0x2000, Direction::Inbound, suite, true);
    newp.enc_key.reverse();
    rx.rekey_inbound(
        0x1000,
        SecurityAssociation::new(t0, &newp, backend).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    newp.direction = Direction::Outbound;
    tx.rekey_outbound(
        0x1000,
        SecurityAssociation::new(t0, &newp, backend).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        tx.poll_event(),
        Some(SadEvent::Removed { spi: 0x1000, .. })
    ));
    // Until the peer uses the new SA, the old one has no deadline.
    assert_eq!(rx.poll_timeout(), None);
    let mut e = early.clone();
    assert_eq!(rx.open(t0, outer(), &mut e).unwrap().spi, 0x1000);

    let t1 = t0 + Duration::from_secs(1);
    let mut n = seal(&mut tx, t1, &udp_payload(1701, 1701, b"new 1"));
    assert_eq!(&n[..4], &0x2000u32.to_be_bytes());
    assert_eq!(rx.open(t1, outer(), &mut n).unwrap().spi, 0x2000);
    assert_eq!(
        rx.poll_event(),
        Some(SadEvent::GraceStarted {
            old: 0x1000,
            new: 0x2000,
            until: t1 + Duration::from_secs(5)
        })
    );
    // A reordered old packet inside the grace period is still accepted.
    let mut l = late.clone();
    assert_eq!(
        rx.open(t1 + Duration::from_secs(2), outer(), &mut l)
            .unwrap()
            .spi,
        0x1000
    );
    // After the grace period the old SA is gone.
    let deadline = rx.poll_timeout().unwrap();
    assert_eq!(deadline, t1 + Duration::from_secs(5));
    rx.handle_timeout(deadline);
    assert_eq!(
        rx.poll_event(),
        Some(SadEvent::Removed {
            spi: 0x1000,
            direction: Direction::Inbound
        })
    );
    assert!(rx.inbound(0x1000).is_none());
    let mut e = early.clone();
    assert_eq!(
        rx.open(deadline, outer(), &mut e).unwrap_err(),
        InboundError::UnknownSpi { spi: 0x1000 }
    );
}

#[test]
fn tunnel_mode_selects_on_inner_header() {
    let now = Instant::now();
    let backend = Backend::default();
    let policy = |local: &str, remote: &str| {
        Policy::new(
            Selector {
                local: IpPrefix {
                    addr: ip(local),
                    len: 24,
                },
                remote: IpPrefix {
                    addr: ip(remote),
                    len: 24,
                },
                protocol: None,
                local_port: None,
                remote_port: None,
            },
            Mode::Tunnel {
                local: ip(A),
                remote: ip(B),
            },
        )
    };
    let mut tx = Sad::default();
    tx.add(
        SecurityAssociation::new(
            now,
            &params(0x3000, Direction::Outbound, Suite::ChaCha20Poly1305, false),
            backend,
        )
        .unwrap(),
        policy("10.1.0.0", "10.2.0.0"),
    )
    .unwrap();
    let mut rx = Sad::default();
    rx.add(
        SecurityAssociation::new(
            now,
            &params(0x3000, Direction::Inbound, Suite::ChaCha20Poly1305, false),
            backend,
        )
        .unwrap(),
        policy("10.2.0.0", "10.1.0.0"),
    )
    .unwrap();
    let inner = |src: [u8; 4], dst: [u8; 4]| {
        let mut v = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        v.extend(src);
        v.extend(dst);
        v.extend(udp_payload(1701, 1701, b""));
        v
    };
    let f = Flow {
        local: ip("10.1.0.5"),
        remote: ip("10.2.0.7"),
        protocol: 17,
        local_port: 1701,
        remote_port: 1701,
    };
    let ok = inner([10, 1, 0, 5], [10, 2, 0, 7]);
    let mut buf = vec![0u8; 200];
    buf[40..40 + ok.len()].copy_from_slice(&ok);
    let s = tx.seal(now, &f, &mut buf, 40..40 + ok.len(), 4).unwrap();
    assert_eq!(
        s.mode,
        Mode::Tunnel {
            local: ip(A),
            remote: ip(B)
        }
    );
    let mut pkt = s.packet.to_vec();
    let d = rx.open(now, outer(), &mut pkt).unwrap();
    assert_eq!(&*d.payload, &ok[..]);
    // An inner source outside the selector is refused after decryption.
    let bad = inner([10, 9, 0, 5], [10, 2, 0, 7]);
    let mut buf = vec![0u8; 200];
    buf[40..40 + bad.len()].copy_from_slice(&bad);
    let mut pkt = tx
        .seal(now, &f, &mut buf, 40..40 + bad.len(), 4)
        .unwrap()
        .packet
        .to_vec();
    assert_eq!(
        rx.open(now, outer(), &mut pkt).unwrap_err(),
        InboundError::Selector { spi: 0x3000 }
    );
}

#[test]
fn udp_encapsulated_inbound() {
    use ipsec_lite::UdpInbound;
    use ipsec_lite::natt;
    let now = Instant::now();
    let (mut tx, mut rx) = pair(Backend::default(), Suite::AesGcm256, now);
    let mut esp = seal(&mut tx, now, &udp_payload(1701, 1701, b"via NAT"));
    match rx.open_udp(now, outer(), &mut esp).unwrap() {
        UdpInbound::Esp(d) => assert_eq!(&d.payload[8..], b"via NAT"),
        other => panic!("{other:?}"),
    }
    let mut ka = natt::KEEPALIVE;
    assert!(matches!(
        rx.open_udp(now, outer(), &mut ka),
        Ok(UdpInbound::Keepalive)
    ));
    let mut ike = [0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
    assert!(
        matches!(rx.open_udp(now, outer(), &mut ike), Ok(UdpInbound::Ike(m)) if m == [0x11, 0x22, 0x33, 0x44])
    );
    let mut junk = [1, 2, 3];
    assert_eq!(
        rx.open_udp(now, outer(), &mut junk).unwrap_err(),
        InboundError::NotEsp
    );
    assert_eq!(rx.drops().get(DropReason::NotEsp), 1);
    assert_eq!(rx.drops().total(), 1);
}
