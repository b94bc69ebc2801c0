//! Session types, teardown, errors, tie breaking, authentication and the data path,
//! with two endpoints wired back to back (lossless, instantaneous).

use l2tpv3::avp::{Avp, AvpValue, CircuitErrors, DataSequencing, L2SublayerType, RawAvp, result};
use l2tpv3::control::auth::DigestAlgorithm;
use l2tpv3::data::CookieLen;
use l2tpv3::{AvpType, ControlHeader, ControlMessage, Encapsulation, MessageType};
use l2tpv3::{Config, DownReason, Endpoint, Event, SessionRequest, Transmit};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

type Ep = Endpoint<&'static str, StdRng>;

struct Pair {
    a: Ep,
    b: Ep,
    now: Instant,
    a_events: Vec<Event<&'static str>>,
    b_events: Vec<Event<&'static str>>,
    /// Every datagram B sent, decoded.
    b_sent: Vec<ControlMessage>,
}

impl Pair {
    fn new(a: Config, b: Config) -> Pair {
        Pair {
            a: Endpoint::new(a, StdRng::seed_from_u64(1)),
            b: Endpoint::new(b, StdRng::seed_from_u64(2)),
            now: Instant::now(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            b_sent: Vec::new(),
        }
    }

    /// Moves datagrams both ways until both sides are quiet.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(Transmit { contents: d, .. }) = self.a.poll_transmit() {
                moved = true;
                self.b.handle_datagram(self.now, "a", &d);
            }
            while let Some(Transmit { contents: d, .. }) = self.b.poll_transmit() {
                moved = true;
                if let Ok(m) = ControlMessage::decode(&d, Encapsulation::Udp) {
                    self.b_sent.push(m);
                }
                self.a.handle_datagram(self.now, "b", &d);
            }
            self.a_events
                .extend(std::iter::from_fn(|| self.a.poll_event()));
            self.b_events
                .extend(std::iter::from_fn(|| self.b.poll_event()));
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn up(&mut self, req: SessionRequest) -> (u32, u32) {
        let ccid = self.a.connect(self.now, "b").unwrap();
        let sid = self.a.open_session(self.now, ccid, req).unwrap();
        self.settle();
        (ccid, sid)
    }
}

fn up_ids<A>(events: &[Event<A>]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionUp { session_id, .. } => Some(*session_id),
            _ => None,
        })
        .collect()
}

#[test]
fn outgoing_call_comes_up() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (_, sid) = p.up(SessionRequest::ethernet("vc").outgoing());
    assert_eq!(up_ids(&p.a_events), [sid]);
    assert_eq!(up_ids(&p.b_events).len(), 1);
    let types: Vec<_> = p.b_sent.iter().filter_map(|m| m.message_type()).collect();
    assert!(types.contains(&MessageType::Ocrp) && types.contains(&MessageType::Occn));
}

#[test]
fn incoming_call_from_the_responder_side_too() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (_, a_sid) = p.up(SessionRequest::ethernet("one"));
    // B opens a session on the connection A initiated.
    let b_ccid = p
        .b_events
        .iter()
        .find_map(|e| match e {
            Event::ConnectionUp { ccid, .. } => Some(*ccid),
            _ => None,
        })
        .unwrap();
    let b_sid =
        p.b.open_session(p.now, b_ccid, SessionRequest::ethernet("two"))
            .unwrap();
    p.settle();
    assert!(up_ids(&p.b_events).contains(&b_sid));
    assert_eq!(up_ids(&p.a_events).len(), 2);
    assert_ne!(a_sid, b_sid);
    assert_eq!(p.a.session_count(), 2);
}

#[test]
fn cdn_sli_wen() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (_, sid) = p.up(SessionRequest::ethernet("pw"));
    let b_sid = p.a.session(sid).unwrap().remote_id;
    p.a.set_circuit_status(p.now, sid, false).unwrap();
    let errors = CircuitErrors {
        hardware_overruns: 1,
        buffer_overruns: 2,
        timeout_errors: 3,
        alignment_errors: 4,
    };
    p.a.send_wan_error(p.now, sid, errors).unwrap();
    p.settle();
    assert!(p.b_events.contains(&Event::CircuitStatus {
        session_id: b_sid,
        active: false
    }));
    assert!(p.b_events.contains(&Event::WanError {
        session_id: b_sid,
        errors
    }));
    p.a.close_session(p.now, sid).unwrap();
    p.settle();
    assert!(p.b_events.iter().any(|e| matches!(e,
        Event::SessionDown { session_id, result: Some(rc), by_peer: true, .. }
            if *session_id == b_sid && rc.result == result::CDN_ADMIN)));
    assert_eq!((p.a.session_count(), p.b.session_count()), (0, 0));
}

#[test]
fn negotiates_cookies_sublayer_and_sequencing_and_carries_data() {
    let cfg = {
        let mut c = Config::default();
        c.cookie_len = CookieLen::Eight;
        c.sublayer = L2SublayerType::DEFAULT;
        c.data_sequencing = DataSequencing::ALL;
        c
    };
    // B assigns shorter cookies than the default 8 bytes: each side uses its own.
    let b_cfg = {
        let mut c = Config::default();
        c.cookie_len = CookieLen::Four;
        c
    };
    let mut p = Pair::new(cfg, b_cfg);
    let (_, sid) = p.up(SessionRequest::ethernet("pw"));
    let a_s = p.a.session(sid).unwrap().clone();
    assert_eq!(a_s.local_cookie.len(), 8);
    assert_eq!(a_s.remote_cookie.len(), 4);
    let b_sid = a_s.remote_id;
    // B sends to A: 8-byte cookie A assigned, Default sublayer with sequence numbers.
    let (to, pkt) = encode(&mut p.b, b_sid, b"frame-0");
    assert_eq!(to, "a");
    assert_eq!(pkt.len(), 4 + 4 + 8 + 4 + 7);
    let got = p.a.handle_datagram(p.now, "b", &pkt).unwrap();
    assert_eq!(
        (got.session_id, got.payload, got.sequence),
        (sid, &b"frame-0"[..], Some(0))
    );
    let (_, pkt1) = encode(&mut p.b, b_sid, b"frame-1");
    assert_eq!(
        p.a.handle_datagram(p.now, "b", &pkt1).unwrap().sequence,
        Some(1)
    );
    // A replayed (old) sequence number is dropped.
    assert!(p.a.handle_datagram(p.now, "b", &pkt).is_none());
    assert_eq!(p.a.stats().data_out_of_order, 1);
    // A wrong cookie is dropped.
    let mut bad = pkt1.clone();
    bad[9] ^= 1;
    assert!(p.a.handle_datagram(p.now, "b", &bad).is_none());
    assert_eq!(p.a.stats().data_bad_cookie, 1);
    // A to B: B's 4-byte cookie, no sublayer (B asked for none).
    let (_, pkt) = encode(&mut p.a, sid, b"x");
    assert_eq!(pkt.len(), 4 + 4 + 4 + 1);
    let got = p.b.handle_datagram(p.now, "a", &pkt).unwrap();
    assert_eq!((got.payload, got.sequence), (&b"x"[..], None));
    // Unknown session.
    let mut unknown = pkt.clone();
    unknown[4..8].copy_from_slice(&[9, 9, 9, 9]);
    assert!(p.b.handle_datagram(p.now, "a", &unknown).is_none());
    assert_eq!(p.b.stats().data_unknown_session, 1);
}

/// Over IP, with frames long enough for the endpoint's fast path and shorter
/// ones that take the field-by-field path: both deliver, sequence and drop alike.
#[test]
fn data_over_ip_long_and_short_packets_take_the_same_checks() {
    let cfg = {
        let mut c = Config::default();
        c.encapsulation = Encapsulation::Ip;
        c.cookie_len = CookieLen::Four;
        c.sublayer = L2SublayerType::DEFAULT;
        c.data_sequencing = DataSequencing::ALL;
        c
    };
    let mut p = Pair::new(cfg.clone(), cfg);
    let (_, sid) = p.up(SessionRequest::ethernet("pw"));
    let b_sid = p.a.session(sid).unwrap().remote_id;
    let long = [0x5a; 64];
    for (i, payload) in [&long[..], b"s", &long[..], b"t"].into_iter().enumerate() {
        let (_, pkt) = encode(&mut p.b, b_sid, payload);
        assert_eq!(pkt.len(), 4 + 4 + 4 + payload.len());
        let got = p.a.handle_datagram(p.now, "b", &pkt).unwrap();
        assert_eq!(
            (got.session_id, got.payload, got.sequence),
            (sid, payload, Some(i as u32))
        );
        // Replayed: old.
        assert!(p.a.handle_datagram(p.now, "b", &pkt).is_none());
        // Wrong cookie; unknown sessions, in another slot of the data table and
        // in this session's slot (the bits above the slot index differ).
        let mut bad = pkt.clone();
        bad[5] ^= 1;
        assert!(p.a.handle_datagram(p.now, "b", &bad).is_none());
        for other in [sid ^ 0x100, sid ^ 0x0100_0000] {
            bad[..4].copy_from_slice(&other.to_be_bytes());
            assert!(p.a.handle_datagram(p.now, "b", &bad).is_none());
        }
    }
    let s = p.a.stats();
    assert_eq!(
        (
            s.data_out_of_order,
            s.data_bad_cookie,
            s.data_unknown_session
        ),
        (4, 4, 8)
    );
    // And the other way.
    let (_, pkt) = encode(&mut p.a, sid, &long);
    let got = p.b.handle_datagram(p.now, "a", &pkt).unwrap();
    assert_eq!((got.session_id, got.sequence), (b_sid, Some(0)));
}

#[test]
fn sequencing_without_sublayer_is_refused_with_cdn_15() {
    let cfg = {
        let mut c = Config::default();
        c.data_sequencing = DataSequencing::ALL;
        c
    };
    let mut p = Pair::new(cfg, Config::default());
    p.up(SessionRequest::ethernet("pw"));
    let cdn = p
        .b_sent
        .iter()
        .find(|m| m.message_type() == Some(MessageType::Cdn))
        .expect("CDN");
    assert!(matches!(cdn.find(AvpType::ResultCode),
        Some(AvpValue::ResultCode(rc)) if rc.result == result::CDN_SEQUENCING_WITHOUT_SUBLAYER));
    assert!(up_ids(&p.a_events).is_empty());
    assert_eq!(p.a.session_count(), 0);
}

/// Sends a hand-made message from A to B in sequence, as if A's reliable layer had
/// queued it, and returns B's answers.
fn inject(p: &mut Pair, ccid: u32, mt: MessageType, avps: Vec<Avp>) -> Vec<ControlMessage> {
    let rel = p.a.connection(ccid).unwrap();
    let header = ControlHeader {
        ccid: p.b_remote_ccid(ccid),
        ns: rel.next_ns,
        nr: rel.next_expected,
    };
    let bytes = ControlMessage::new(header, mt, avps)
        .to_vec(Encapsulation::Udp)
        .unwrap();
    p.b.handle_datagram(p.now, "a", &bytes);
    p.b_events.extend(std::iter::from_fn(|| p.b.poll_event()));
    std::iter::from_fn(|| p.b.poll_transmit())
        .map(|Transmit { contents: d, .. }| ControlMessage::decode(&d, Encapsulation::Udp).unwrap())
        .collect()
}

impl Pair {
    fn b_remote_ccid(&self, _a_ccid: u32) -> u32 {
        self.b_events
            .iter()
            .find_map(|e| match e {
                Event::ConnectionUp { ccid, .. } => Some(*ccid),
                _ => None,
            })
            .unwrap()
    }
}

fn result_of(m: &ControlMessage) -> (u16, Option<u16>) {
    match m.find(AvpType::ResultCode) {
        Some(AvpValue::ResultCode(rc)) => (rc.result, rc.error.as_ref().map(|e| e.code)),
        _ => panic!("no result code in {m}"),
    }
}

fn icrq_avps(extra: Vec<Avp>, serial: bool) -> Vec<Avp> {
    let mut v = vec![
        Avp::new(AvpValue::LocalSessionId(0x1234)),
        Avp::new(AvpValue::RemoteSessionId(0)),
    ];
    if serial {
        v.push(Avp::new(AvpValue::SerialNumber(7)));
    }
    v.extend([
        Avp::new(AvpValue::PseudowireType(l2tpv3::avp::PwType::ETHERNET)),
        Avp::new(AvpValue::RemoteEndId(b"x".to_vec())),
        Avp::new(AvpValue::CircuitStatus(l2tpv3::avp::CircuitStatus {
            active: true,
            new: true,
        })),
    ]);
    v.extend(extra);
    v
}

#[test]
fn unknown_mandatory_avp_in_icrq_ends_the_session_with_cdn() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (ccid, _) = p.up(SessionRequest::ethernet("pw"));
    let unknown = Avp::with_mandatory(
        AvpValue::Raw(RawAvp {
            vendor_id: 0,
            attr_type: 999,
            hidden: false,
            value: vec![1, 2],
        }),
        true,
    );
    let out = inject(
        &mut p,
        ccid,
        MessageType::Icrq,
        icrq_avps(vec![unknown], true),
    );
    let cdn = out
        .iter()
        .find(|m| m.message_type() == Some(MessageType::Cdn))
        .expect("CDN");
    assert_eq!(
        result_of(cdn),
        (
            result::GENERAL_ERROR,
            Some(result::ERROR_UNKNOWN_MANDATORY_AVP)
        )
    );
    assert!(matches!(
        cdn.find(AvpType::RemoteSessionId),
        Some(AvpValue::RemoteSessionId(0x1234))
    ));
    // The connection survives.
    assert_eq!(p.b.connection_count(), 1);
    assert!(p.b.poll_event().is_none());
}

#[test]
fn missing_required_avp_in_icrq_ends_the_session_with_cdn() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (ccid, _) = p.up(SessionRequest::ethernet("pw"));
    let out = inject(&mut p, ccid, MessageType::Icrq, icrq_avps(vec![], false));
    let cdn = out
        .iter()
        .find(|m| m.message_type() == Some(MessageType::Cdn))
        .expect("CDN");
    assert_eq!(
        result_of(cdn),
        (result::GENERAL_ERROR, Some(result::ERROR_GENERIC))
    );
}

#[test]
fn unknown_mandatory_avp_in_hello_ends_the_connection_with_stopccn() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (ccid, _) = p.up(SessionRequest::ethernet("pw"));
    let unknown = Avp::with_mandatory(
        AvpValue::Raw(RawAvp {
            vendor_id: 0,
            attr_type: 1000,
            hidden: false,
            value: vec![],
        }),
        true,
    );
    let out = inject(&mut p, ccid, MessageType::Hello, vec![unknown]);
    let stop = out
        .iter()
        .find(|m| m.message_type() == Some(MessageType::StopCcn))
        .expect("StopCCN");
    assert_eq!(
        result_of(stop),
        (
            result::GENERAL_ERROR,
            Some(result::ERROR_UNKNOWN_MANDATORY_AVP)
        )
    );
    assert!(p.b_events.iter().any(|e| matches!(
        e,
        Event::ConnectionDown {
            reason: DownReason::StopCcnSent(_),
            ..
        }
    )));
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { .. }))
    );
}

#[test]
fn an_unknown_optional_avp_is_ignored() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (ccid, _) = p.up(SessionRequest::ethernet("pw"));
    let unknown = Avp::with_mandatory(
        AvpValue::Raw(RawAvp {
            vendor_id: 0,
            attr_type: 1000,
            hidden: false,
            value: vec![],
        }),
        false,
    );
    let out = inject(&mut p, ccid, MessageType::Hello, vec![unknown]);
    assert!(
        out.iter()
            .all(|m| m.message_type() != Some(MessageType::StopCcn))
    );
    assert_eq!(p.b.connection_count(), 1);
}

/// A data packet from `ep` on session `sid`, encapsulated in place behind
/// headroom, copied out for the test to tamper with.
fn encode(ep: &mut Ep, sid: u32, payload: &[u8]) -> (&'static str, Vec<u8>) {
    let mut buf = vec![0u8; l2tpv3::MAX_DATA_HEADER_LEN];
    buf.extend_from_slice(payload);
    let t = ep
        .encapsulate(sid, &mut buf, l2tpv3::MAX_DATA_HEADER_LEN)
        .unwrap();
    (t.destination, t.contents.to_vec())
}

fn secret(s: &str, digest: DigestAlgorithm, hide: bool) -> Config {
    {
        let mut c = Config::default();
        c.secret = Some(s.as_bytes().to_vec());
        c.digest = digest;
        c.hide_avps = hide;
        c
    }
}

#[test]
fn authenticated_connection_md5_and_sha1_with_hidden_avps() {
    for digest in [DigestAlgorithm::HmacMd5, DigestAlgorithm::HmacSha1] {
        let mut p = Pair::new(
            secret("s3cret", digest, true),
            secret("s3cret", digest, false),
        );
        let (_, sid) = p.up(SessionRequest::ethernet("hidden-end-id"));
        assert_eq!(up_ids(&p.a_events), [sid]);
        let b_sid = p.a.session(sid).unwrap().remote_id;
        // The hidden Remote End ID was unhidden by B.
        assert_eq!(p.b.session(b_sid).unwrap().remote_end_id, b"hidden-end-id");
        // Every message B sent carries a digest right after the Message Type, and the
        // final acknowledgement is an ACK message, not a ZLB.
        for m in &p.b_sent {
            assert!(
                matches!(m.avps[1].value, AvpValue::MessageDigest(d) if d.digest_type() == digest.digest_type())
            );
        }
        assert_eq!(
            p.b_sent.last().unwrap().message_type(),
            Some(MessageType::Ack)
        );
        assert_eq!((p.a.stats().auth_failed, p.b.stats().auth_failed), (0, 0));
    }
}

#[test]
fn wrong_secret_creates_no_state() {
    let mut p = Pair::new(
        secret("one", DigestAlgorithm::HmacMd5, false),
        secret("two", DigestAlgorithm::HmacMd5, false),
    );
    p.up(SessionRequest::ethernet("pw"));
    assert_eq!(p.b.connection_count(), 0);
    assert_eq!(p.b.stats().auth_failed, 1);
    assert!(p.b_events.is_empty());
}

#[test]
fn authentication_on_one_side_only_is_refused() {
    let mut p = Pair::new(
        Config::default(),
        secret("s", DigestAlgorithm::HmacMd5, false),
    );
    p.up(SessionRequest::ethernet("pw"));
    // Without a digest the SCCRQ fails authentication at B: no state.
    assert_eq!(p.b.connection_count(), 0);
    let mut p = Pair::new(
        secret("s", DigestAlgorithm::HmacMd5, false),
        Config::default(),
    );
    p.up(SessionRequest::ethernet("pw"));
    // B does not authenticate but A's SCCRQ carries a nonce: StopCCN, not authorized.
    let stop = p
        .b_sent
        .iter()
        .find(|m| m.message_type() == Some(MessageType::StopCcn))
        .expect("StopCCN");
    assert_eq!(result_of(stop).0, result::STOPCCN_NOT_AUTHORIZED);
}

#[test]
fn tampered_message_is_dropped_without_changing_state() {
    let mut p = Pair::new(
        secret("k", DigestAlgorithm::HmacMd5, false),
        secret("k", DigestAlgorithm::HmacMd5, false),
    );
    let (ccid, _) = p.up(SessionRequest::ethernet("pw"));
    let b_ccid = p.b_remote_ccid(ccid);
    let before = p.b.connection(b_ccid).unwrap().next_expected;
    // A valid-looking HELLO with a zero digest.
    let rel = p.a.connection(ccid).unwrap();
    let header = ControlHeader {
        ccid: b_ccid,
        ns: rel.next_ns,
        nr: rel.next_expected,
    };
    let msg = ControlMessage::new(
        header,
        MessageType::Hello,
        vec![Avp::new(AvpValue::MessageDigest(
            l2tpv3::avp::MessageDigest::HmacMd5([0; 16]),
        ))],
    );
    p.b.handle_datagram(p.now, "a", &msg.to_vec(Encapsulation::Udp).unwrap());
    assert_eq!(p.b.stats().auth_failed, 1);
    assert_eq!(p.b.connection(b_ccid).unwrap().next_expected, before);
    assert!(p.b.poll_transmit().is_none());
}

#[test]
fn simultaneous_open_resolved_by_tie_breaker() {
    for seed in 0..20u64 {
        let mut a = Endpoint::new(Config::default(), StdRng::seed_from_u64(seed));
        let mut b = Endpoint::new(Config::default(), StdRng::seed_from_u64(seed + 100));
        let now = Instant::now();
        let ca = a.connect(now, "b").unwrap();
        let cb = b.connect(now, "a").unwrap();
        let sa = a
            .open_session(now, ca, SessionRequest::ethernet("from-a"))
            .unwrap();
        let sb = b
            .open_session(now, cb, SessionRequest::ethernet("from-b"))
            .unwrap();
        // Both SCCRQs cross on the wire.
        let from_a: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
        let from_b: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
        for t in &from_a {
            b.handle_datagram(now, "a", &t.contents);
        }
        for t in &from_b {
            a.handle_datagram(now, "b", &t.contents);
        }
        let mut p = Pair {
            a,
            b,
            now,
            a_events: vec![],
            b_events: vec![],
            b_sent: vec![],
        };
        p.settle();
        // Give the winner's StopCCN to the loser's dropped connection time to expire.
        p.now += Duration::from_secs(100);
        p.a.handle_timeout(p.now);
        p.b.handle_timeout(p.now);
        p.settle();
        let ups = |ev: &[Event<&str>]| {
            ev.iter()
                .filter(|e| matches!(e, Event::ConnectionUp { .. }))
                .count()
        };
        assert_eq!((ups(&p.a_events), ups(&p.b_events)), (1, 1), "seed {seed}");
        assert_eq!((p.a.connection_count(), p.b.connection_count()), (1, 1));
        // Both sessions came up on the one surviving connection.
        assert!(up_ids(&p.a_events).contains(&sa), "seed {seed}");
        assert!(up_ids(&p.b_events).contains(&sb), "seed {seed}");
    }
}

#[test]
fn sessions_beyond_the_send_queue_wait_for_room() {
    let mut cfg = Config::default();
    cfg.reliable.max_send_queue = 16;
    let mut p = Pair::new(cfg, Config::default());
    let ccid = p.a.connect(p.now, "b").unwrap();
    let sids: Vec<u32> = (0..200)
        .map(|i| {
            p.a.open_session(p.now, ccid, SessionRequest::ethernet(format!("pw{i}")))
                .unwrap()
        })
        .collect();
    p.settle();
    let mut up = up_ids(&p.a_events);
    up.sort_unstable();
    let mut want = sids.clone();
    want.sort_unstable();
    assert_eq!(up, want);
    assert_eq!(up_ids(&p.b_events).len(), 200);
    assert_eq!(p.a.connection(ccid).unwrap().reliable.dropped_queue_full, 0);
    // Once up, a further request on a full queue is refused, not dropped later.
    for &sid in &sids[..16] {
        p.a.set_circuit_status(p.now, sid, false).unwrap();
    }
    assert!(matches!(
        p.a.open_session(p.now, ccid, SessionRequest::ethernet("one-more")),
        Err(l2tpv3::CommandError::QueueFull(_))
    ));
}
