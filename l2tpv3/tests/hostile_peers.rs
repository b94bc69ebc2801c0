//! Attacks from off-path senders and hostile peers, reproduced through the public
//! API (issue 13, findings 3, 4, 5, 9 and 10). Each test fails on the code before
//! its fix.
//!
//! Addresses are `u32`s: `A` and `B` are the honest LCCEs, anything else is a
//! spoofed or unknown source.

use std::time::Instant;

use l2tpv3::avp::{MessageDigest, RawAvp};
use l2tpv3::control::auth::{self, DigestAlgorithm, Keys, Nonces};
use l2tpv3::{
    Avp, AvpValue, Config, ConnState, ControlError, ControlHeader, ControlMessage, DataDrop,
    DownReason, Encapsulation, Endpoint, Event, MAX_DATA_HEADER_LEN, MessageType, PwType,
    SessionRequest,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Ep = Endpoint<u32, StdRng>;

const A: u32 = 1;
const B: u32 = 2;
const SECRET: &[u8] = b"shared secret";

fn ep(config: Config, seed: u64) -> Ep {
    Endpoint::new(config, StdRng::seed_from_u64(seed))
}

fn with_secret() -> Config {
    let mut c = Config::default();
    c.secret = Some(SECRET.to_vec());
    c
}

/// Moves datagrams between `a` (address `A`) and `b` (address `B`) until both
/// are quiet.
fn shuttle(a: &mut Ep, b: &mut Ep, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            assert_eq!(t.destination, B);
            b.handle_datagram(now, A, &t.contents);
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            assert_eq!(t.destination, A);
            a.handle_datagram(now, B, &t.contents);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn events(e: &mut Ep) -> Vec<Event<u32>> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn transmits(e: &mut Ep) -> usize {
    std::iter::from_fn(|| e.poll_transmit()).count()
}

/// What an off-path sender can forge: an SCCRQ with any tie breaker, pseudowire
/// types and nonce, signed with `key` (a digest AVP of `alg` right after the
/// Message Type AVP) or unsigned.
struct Forged {
    ccid: u32,
    tie_breaker: Option<u64>,
    pw_types: Vec<PwType>,
    host_name: bool,
    nonce: Option<Vec<u8>>,
    sign: Option<(DigestAlgorithm, [u8; 16])>,
}

impl Forged {
    fn new(ccid: u32) -> Self {
        Forged {
            ccid,
            tie_breaker: Some(0),
            pw_types: vec![PwType::ETHERNET],
            host_name: true,
            nonce: None,
            sign: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut avps = Vec::new();
        if let Some((alg, _)) = self.sign {
            avps.push(Avp::new(AvpValue::MessageDigest(match alg {
                DigestAlgorithm::HmacMd5 => MessageDigest::HmacMd5([0; 16]),
                DigestAlgorithm::HmacSha1 => MessageDigest::HmacSha1([0; 20]),
            })));
        }
        if self.host_name {
            avps.push(Avp::new(AvpValue::HostName(b"forged".to_vec())));
        }
        avps.push(Avp::new(AvpValue::RouterId(7)));
        avps.push(Avp::new(AvpValue::AssignedControlConnectionId(self.ccid)));
        avps.push(Avp::new(AvpValue::PseudowireCapabilities(
            self.pw_types.clone(),
        )));
        if let Some(t) = self.tie_breaker {
            avps.push(Avp::new(AvpValue::TieBreaker(t)));
        }
        if let Some(n) = &self.nonce {
            avps.push(Avp::new(AvpValue::Nonce(n.clone())));
        }
        let header = ControlHeader {
            ccid: 0,
            ns: 0,
            nr: 0,
        };
        let mut bytes = ControlMessage::new(header, MessageType::Sccrq, avps)
            .to_vec(Encapsulation::Udp)
            .unwrap();
        if let Some((_, key)) = self.sign {
            auth::sign(&mut bytes, &key, Nonces::NONE).unwrap();
        }
        bytes
    }
}

// ------------------------------------------------------------------ finding 3

/// A spoofed SCCRQ with tie breaker 0 that fails validation (here: no pseudowire
/// type in common; then: no Host Name) must not drop our outstanding SCCRQ. Before
/// the fix the tie was decided before validation and our connection was lost.
#[test]
fn invalid_spoofed_sccrq_with_lowest_tie_breaker_does_not_drop_our_connection() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let ccid = a.connect(now, B).unwrap();
    let sid = a
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    let sccrq = a.poll_transmit().expect("our SCCRQ");
    let mut no_common = Forged::new(0xbad);
    no_common.pw_types = vec![PwType(0x7777)];
    let mut no_host = Forged::new(0xbad2);
    no_host.host_name = false;
    for forged in [no_common, no_host] {
        a.handle_datagram(now, B, &forged.bytes());
        assert_eq!(
            a.connection_state(ccid),
            Some(ConnState::WaitCtlReply),
            "our connection survives"
        );
        assert!(
            !events(&mut a)
                .iter()
                .any(|e| matches!(e, Event::ConnectionDown { ccid: c, .. } if *c == ccid)),
            "no lost tie"
        );
    }
    // The real handshake still completes, with the session.
    b.handle_datagram(now, A, &sccrq.contents);
    // A answers the two forged SCCRQs with StopCCNs (to B, which drops them).
    shuttle(&mut a, &mut b, now);
    assert!(
        events(&mut a)
            .iter()
            .any(|e| matches!(e, Event::SessionUp { session_id, .. } if *session_id == sid))
    );
}

/// With a secret, an SCCRQ without a valid digest changes nothing: no connection,
/// nothing sent, no event, our own SCCRQ still outstanding.
#[test]
fn unauthenticated_sccrq_changes_nothing() {
    let now = Instant::now();
    let mut a = ep(with_secret(), 1);
    let ccid = a.connect(now, B).unwrap();
    assert_eq!(transmits(&mut a), 1);
    let _ = events(&mut a);
    let before = (a.connection(ccid), a.poll_timeout(), a.connection_count());
    let mut forged = Forged::new(0xbad);
    forged.nonce = Some(vec![0x11; 16]);
    // Unsigned, and signed with the wrong key.
    let unsigned = forged.bytes();
    forged.sign = Some((DigestAlgorithm::HmacMd5, Keys::derive(b"guess").digest));
    for bytes in [unsigned, forged.bytes()] {
        a.handle_datagram(now, B, &bytes);
        assert_eq!(
            (a.connection(ccid), a.poll_timeout(), a.connection_count()),
            before
        );
        assert_eq!(transmits(&mut a), 0);
        assert!(events(&mut a).is_empty());
    }
    assert_eq!(a.stats().auth_failed, 2);
}

/// 256 spoofed SCCRQs from one source used to fill the connection table (and each
/// made us retransmit an SCCRP for 71 s). Now one source holds at most
/// `max_connections_per_peer` connections, and the real peer still gets in.
#[test]
fn spoofed_sccrq_flood_from_one_source_is_capped_per_peer() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let spoofed = 66;
    for i in 0..256u32 {
        a.handle_datagram(now, spoofed, &Forged::new(0x1000 + i).bytes());
    }
    let per_peer = a.config().max_connections_per_peer;
    assert_eq!(per_peer, 4, "documented default");
    assert_eq!(a.connection_count(), per_peer);
    assert_eq!(a.stats().peer_connection_limit, 256 - per_peer as u64);
    assert_eq!(a.stats().connection_limit, 0);
    // Only the admitted ones were answered.
    assert_eq!(transmits(&mut a), per_peer);
    // B connects to A and opens a session: not blocked.
    let ccid = b.connect(now, A).unwrap();
    let sid = b
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    shuttle(&mut a, &mut b, now);
    assert!(
        events(&mut b)
            .iter()
            .any(|e| matches!(e, Event::SessionUp { session_id, .. } if *session_id == sid))
    );
}

/// With `allowed_peers_only`, SCCRQs from unknown sources are answered with
/// nothing and stored nowhere, however many; listed peers (and peers we connect
/// to ourselves) still get in, whatever the flood did.
#[test]
fn allow_list_answers_unknown_sources_with_nothing() {
    let now = Instant::now();
    let mut cfg = Config::default();
    cfg.allowed_peers_only = true;
    let mut a = ep(cfg.clone(), 1);
    assert!(a.allow_peer(B));
    assert!(a.is_allowed_peer(&B));
    for source in 100..1100u32 {
        a.handle_datagram(now, source, &Forged::new(source).bytes());
    }
    assert_eq!(a.connection_count(), 0);
    assert_eq!(transmits(&mut a), 0);
    assert!(events(&mut a).is_empty());
    assert_eq!(a.stats().refused_peer, 1000);
    // The listed peer connects.
    let mut b = ep(Config::default(), 2);
    let ccid = b.connect(now, A).unwrap();
    shuttle(&mut a, &mut b, now);
    assert_eq!(b.connection_state(ccid), Some(ConnState::Established));
    // Off the list: refused again. A peer we connect to ourselves is answered
    // (a tie must be decided), listed or not.
    assert!(a.disallow_peer(&B));
    let mut c = ep(cfg, 3);
    let c_addr = 3;
    a.connect(now, c_addr).unwrap();
    let c_ccid = c.connect(now, A).unwrap();
    let c_sccrq = c.poll_transmit().unwrap();
    let refused = a.stats().refused_peer;
    a.handle_datagram(now, c_addr, &c_sccrq.contents);
    assert_eq!(a.stats().refused_peer, refused);
    assert_eq!(a.connection_count(), 3, "b's, ours to c, c's (tie pending)");
    let _ = c_ccid;
}

/// Without an allow-list, a flood from many sources fills the table but cannot
/// evict an established connection, whose data keeps flowing.
#[test]
fn flood_from_many_sources_does_not_evict_an_established_connection() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let ccid = b.connect(now, A).unwrap();
    let sid = b
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    shuttle(&mut a, &mut b, now);
    for source in 100..1100u32 {
        a.handle_datagram(now, source, &Forged::new(source).bytes());
    }
    assert_eq!(a.connection_count(), a.config().max_connections);
    assert!(a.stats().connection_limit > 0);
    let _ = transmits(&mut a);
    let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + 64];
    let t = b.encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN).unwrap();
    assert!(a.handle_datagram(now, B, t.contents).is_some());
}

// ------------------------------------------------------------------ finding 10

/// Sessions waiting on a connection that lost a tie move to the peer's
/// connection. Before the fix they were parked on a list that grew by one per
/// lost tie and was only emptied when a connection with that peer came up: when
/// the winning connection failed instead, they stayed in the session table for
/// ever. Now they end with the connection they wait on.
#[test]
fn sessions_of_a_lost_tie_end_when_the_winning_connection_fails() {
    let mut now = Instant::now();
    let mut a = ep(Config::default(), 1);
    for round in 0..20u32 {
        let ccid = a.connect(now, B).unwrap();
        a.open_session(now, ccid, SessionRequest::ethernet("pw"))
            .unwrap();
        // A valid SCCRQ (spoofed or a real peer that then goes away) wins the tie.
        a.handle_datagram(now, B, &Forged::new(0x100 + round).bytes());
        assert!(events(&mut a).iter().any(|e| matches!(e,
            Event::ConnectionDown { ccid: c, reason: DownReason::LostTie } if *c == ccid)));
        // Nobody answers our SCCRP: the connection fails after its cycle.
        let _ = transmits(&mut a);
        while let Some(t) = a.poll_timeout() {
            now = t;
            a.handle_timeout(now);
            let _ = transmits(&mut a);
        }
        assert_eq!(a.connection_count(), 0);
        assert_eq!(a.session_count(), 0, "round {round}: session leaked");
        assert!(
            events(&mut a)
                .iter()
                .any(|e| matches!(e, Event::SessionDown { .. }))
        );
    }
}

/// The digest algorithm is the configured one, not the message's: an SCCRQ
/// signed with the right secret but HMAC-SHA-1 is refused by an MD5 endpoint, and
/// two endpoints configured with different algorithms never connect.
#[test]
fn digest_algorithm_is_pinned_to_the_configuration() {
    let now = Instant::now();
    let mut a = ep(with_secret(), 1);
    let mut forged = Forged::new(0x77);
    forged.nonce = Some(vec![0x22; 16]);
    forged.sign = Some((DigestAlgorithm::HmacSha1, Keys::derive(SECRET).digest));
    a.handle_datagram(now, B, &forged.bytes());
    assert_eq!(a.connection_count(), 0);
    assert_eq!(a.stats().auth_failed, 1);
    assert_eq!(transmits(&mut a), 0);
    // The same SCCRQ signed with MD5 is accepted.
    forged.sign = Some((DigestAlgorithm::HmacMd5, Keys::derive(SECRET).digest));
    a.handle_datagram(now, B, &forged.bytes());
    assert_eq!(a.connection_count(), 1);

    let mut sha = with_secret();
    sha.digest = DigestAlgorithm::HmacSha1;
    let mut a = ep(with_secret(), 1);
    let mut b = ep(sha, 2);
    let ccid = a.connect(now, B).unwrap();
    shuttle(&mut a, &mut b, now);
    assert_ne!(a.connection_state(ccid), Some(ConnState::Established));
    assert!(b.stats().auth_failed > 0);
}

// ------------------------------------------------------------------ finding 4

/// Two peers, each with a session to `a`: `c` knows b's Session ID and cookie
/// (say, from an earlier capture) and sends b's frames from its own address.
/// Before the fix `a` accepted them as b's.
#[test]
fn data_is_bound_to_the_session_peer() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let ccid = b.connect(now, A).unwrap();
    let sid = b
        .open_session(now, ccid, SessionRequest::ethernet("pw"))
        .unwrap();
    shuttle(&mut a, &mut b, now);
    let mut buf = vec![0x5a; MAX_DATA_HEADER_LEN + 64];
    let packet = b
        .encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN)
        .unwrap()
        .contents
        .to_vec();
    let mallory = 99;
    assert!(a.handle_datagram(now, mallory, &packet).is_none());
    assert_eq!(a.handle_data(&mallory, &packet), Err(DataDrop::WrongPeer));
    // Short packets take the slow path: the same check.
    let short = &packet[..MAX_DATA_HEADER_LEN - 1];
    assert_eq!(a.handle_data(&mallory, short), Err(DataDrop::WrongPeer));
    assert_eq!(a.stats().data_wrong_peer, 3);
    // From the peer it passes.
    let got = a.handle_data(&B, &packet).unwrap();
    assert_eq!(got.payload, &[0x5a; 64][..]);
    assert_eq!(a.stats().data_wrong_peer, 3);
}

/// Sessions we set up get 8-byte cookies from the RNG by default.
#[test]
fn default_cookies_are_eight_random_bytes() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let ccid = a.connect(now, B).unwrap();
    let s1 = a
        .open_session(now, ccid, SessionRequest::ethernet("1"))
        .unwrap();
    let s2 = a
        .open_session(now, ccid, SessionRequest::ethernet("2"))
        .unwrap();
    shuttle(&mut a, &mut b, now);
    let (c1, c2) = (
        a.session(s1).unwrap().local_cookie,
        a.session(s2).unwrap().local_cookie,
    );
    assert_eq!((c1.len(), c2.len()), (8, 8));
    assert_ne!(c1, c2);
    assert_eq!(a.session(s1).unwrap().remote_cookie.len(), 8);
}

// ------------------------------------------------------------------ finding 9

/// A control message of 6-byte AVPs used to decode to ~10,900 of them; the decoder
/// now refuses more than `MAX_AVPS`, and the endpoint counts it as malformed.
#[test]
fn avps_per_message_are_capped() {
    let many = |n: usize| {
        let avps = (0..n)
            .map(|_| {
                Avp::with_mandatory(
                    AvpValue::Raw(RawAvp {
                        vendor_id: 0,
                        attr_type: 0x7fff,
                        hidden: false,
                        value: Vec::new(),
                    }),
                    false,
                )
            })
            .collect();
        let header = ControlHeader {
            ccid: 0,
            ns: 0,
            nr: 0,
        };
        ControlMessage::new(header, MessageType::Hello, avps)
            .to_vec(Encapsulation::Udp)
            .unwrap()
    };
    let limit = l2tpv3::message::MAX_AVPS;
    assert_eq!(limit, 256, "documented limit");
    // The Message Type AVP counts: limit - 1 more fit, one more does not.
    let ok = ControlMessage::decode(&many(limit - 1), Encapsulation::Udp).unwrap();
    assert_eq!(ok.avps.len(), limit);
    let biggest = many(65_000 / 6);
    assert!(biggest.len() < 65_535);
    for bytes in [many(limit), biggest] {
        assert!(matches!(
            ControlMessage::decode(&bytes, Encapsulation::Udp),
            Err(ControlError::TooManyAvps { limit: 256, .. })
        ));
    }
    let mut a = ep(Config::default(), 1);
    a.handle_datagram(Instant::now(), B, &many(limit));
    assert_eq!(a.stats().malformed, 1);
}

/// Out-of-order messages are held as bytes within a per-connection budget: a
/// peer (or a spoofer who knows the CCID) sending 15 large messages ahead of the
/// expected Ns gets only what fits held; the rest is dropped and counted.
#[test]
fn held_out_of_order_messages_have_a_byte_budget() {
    let now = Instant::now();
    let mut a = ep(Config::default(), 1);
    let mut b = ep(Config::default(), 2);
    let ccid = b.connect(now, A).unwrap();
    shuttle(&mut a, &mut b, now);
    let a_ccid = b.connection(ccid).unwrap().remote_ccid;
    let next = b.connection(ccid).unwrap().next_ns;
    // HELLOs of ~4 KB (non-mandatory vendor AVPs as padding), 1..15 ahead.
    let hello = |ns: u16| {
        let pad = Avp::with_mandatory(
            AvpValue::Raw(RawAvp {
                vendor_id: 9,
                attr_type: 1,
                hidden: false,
                value: vec![0xee; 1000],
            }),
            false,
        );
        let header = ControlHeader {
            ccid: a_ccid,
            ns,
            nr: 1,
        };
        ControlMessage::new(header, MessageType::Hello, vec![pad; 4])
            .to_vec(Encapsulation::Udp)
            .unwrap()
    };
    for ahead in 1..16u16 {
        a.handle_datagram(now, B, &hello(next.wrapping_add(ahead)));
    }
    // The default budget is 16 KiB: four of these fit.
    let size = hello(0).len();
    let fits = 16 * 1024 / size;
    assert_eq!(fits, 4);
    assert_eq!(a.stats().held_budget_exceeded, (15 - fits) as u64);
    let reliable = a.connection(a_ccid).unwrap().reliable;
    assert_eq!(reliable.held, fits as u64);
    assert_eq!(reliable.held_budget_exceeded, (15 - fits) as u64);
    let budget = l2tpv3::ReliableConfig::default().max_held_bytes;
    assert_eq!(budget, 16 * 1024, "documented default");
}

// ------------------------------------------------------------------ finding 5

/// `Config`'s Debug never shows the secret.
#[test]
fn config_debug_redacts_the_secret() {
    let mut c = with_secret();
    c.secret = Some(b"correct horse battery staple".to_vec());
    let shown = format!("{c:?}");
    assert!(!shown.contains("horse"));
    assert!(!shown.contains(&format!("{:?}", b"correct horse battery staple".to_vec())));
    assert!(shown.contains("<redacted>"));
}
