//! The session machine on the deterministic network harness (virtual time) and
//! back to back: coming Up, detection, Poll/Final, admin down, loss, authentication.

use std::time::{Duration, Instant};

use bfd::{
    AuthConfig, Config, ControlPacket, Diagnostic, Event, RxError, Session, State, Transmit,
};
use netsim::{LinkConfig, Node, Sim};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A BFD speaker on port 0 that records its events with their time.
struct Host {
    session: Session<StdRng>,
    events: Vec<(Instant, Event)>,
    rx_errors: Vec<RxError>,
}

impl Host {
    fn new(now: Instant, config: Config, seed: u64) -> Self {
        Host {
            session: Session::new(now, config, StdRng::seed_from_u64(seed)).unwrap(),
            events: Vec::new(),
            rx_errors: Vec::new(),
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.session.poll_event() {
            self.events.push((now, e));
        }
    }

    fn state_changes(&self) -> Vec<(Instant, State, State, Diagnostic)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match *e {
                Event::StateChanged { from, to, diag } => Some((*t, from, to, diag)),
                _ => None,
            })
            .collect()
    }
}

impl Node for Host {
    fn handle_datagram(&mut self, now: Instant, _port: usize, payload: Vec<u8>) {
        if let Err(e) = self.session.handle_packet(now, &payload, 255) {
            self.rx_errors.push(e);
        }
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<netsim::Transmit> {
        self.drain(now);
        self.session.poll_transmit().map(|t| netsim::Transmit {
            port: 0,
            payload: t.payload().to_vec(),
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.session.poll_timeout()
    }
}

fn pair(seed: u64, config: Config, link: LinkConfig) -> Sim<Host, StdRng> {
    let mut sim = Sim::new(StdRng::seed_from_u64(seed));
    let now = sim.start();
    let a = sim.add_node(Host::new(now, config.clone(), seed * 10 + 1));
    let b = sim.add_node(Host::new(now, config, seed * 10 + 2));
    sim.connect(&[(a, 0), (b, 0)], link);
    sim
}

fn both_up(sim: &Sim<Host, StdRng>) -> bool {
    sim.node(0).session.state() == State::Up && sim.node(1).session.state() == State::Up
}

fn up_and_settled(sim: &mut Sim<Host, StdRng>) {
    let ok = sim
        .run_until_cond(Duration::from_secs(10), |s| {
            both_up(s)
                && !s.node(0).session.poll_in_progress()
                && !s.node(1).session.poll_in_progress()
        })
        .unwrap();
    assert!(ok, "sessions did not come Up and finish the Poll Sequence");
}

#[test]
fn two_sessions_come_up_and_switch_to_fast_timers() {
    let mut sim = pair(
        1,
        Config::default(),
        LinkConfig::with_latency(Duration::from_millis(5)),
    );
    up_and_settled(&mut sim);
    // Down -> Init -> Up on one side or Down -> Up on the other, within a few seconds.
    assert!(
        sim.elapsed() < Duration::from_secs(3),
        "{:?}",
        sim.elapsed()
    );
    for n in 0..2 {
        let h = sim.node(n);
        assert_eq!(h.state_changes().last().unwrap().2, State::Up);
        assert!(h.events.iter().any(|(_, e)| *e == Event::PollComplete));
        assert_eq!(
            h.session.transmit_interval(),
            Some(Duration::from_millis(300))
        );
        assert_eq!(h.session.detection_time(), Some(Duration::from_millis(900)));
        assert!(h.rx_errors.is_empty(), "{:?}", h.rx_errors);
    }
    assert_eq!(
        sim.node(0).session.remote_discriminator(),
        sim.node(1).session.local_discriminator()
    );
    // Steady for a minute: no more state changes, about 3.3 to 4.4 packets a second.
    let tx0 = sim.node(0).session.stats().tx_packets;
    sim.run_for(Duration::from_secs(60)).unwrap();
    assert!(both_up(&sim));
    assert_eq!(
        sim.node(0).state_changes().len(),
        sim.node(1).state_changes().len()
    );
    let sent = sim.node(0).session.stats().tx_packets - tx0;
    assert!(
        (200..=267).contains(&sent),
        "{sent} packets in 60 s at 300 ms less 0-25%"
    );
}

#[test]
fn silent_peer_detected_within_the_detection_time() {
    let mut sim = pair(
        2,
        Config::default(),
        LinkConfig::with_latency(Duration::from_millis(5)),
    );
    up_and_settled(&mut sim);
    sim.run_for(Duration::from_secs(5)).unwrap();
    let stopped = sim.now();
    sim.set_node_up(1, false);
    let ok = sim
        .run_until_cond(Duration::from_secs(5), |s| {
            s.node(0).session.state() == State::Down
        })
        .unwrap();
    assert!(ok);
    let (at, from, to, diag) = *sim.node(0).state_changes().last().unwrap();
    assert_eq!(
        (from, to, diag),
        (
            State::Up,
            State::Down,
            Diagnostic::ControlDetectionTimeExpired
        )
    );
    // The last packet left b at most one transmit interval (300 ms) before it stopped
    // and took 5 ms; detection is 900 ms after it arrived.
    let took = at - stopped;
    assert!(took <= Duration::from_millis(900), "{took:?}");
    assert!(took >= Duration::from_millis(900 - 300), "{took:?}");
    assert_eq!(sim.node(0).session.remote_discriminator(), 0);
    // Down, a transmits at 1 s again.
    assert_eq!(
        sim.node(0).session.transmit_interval(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn poll_final_changes_timers() {
    let mut sim = pair(
        3,
        Config::default(),
        LinkConfig::with_latency(Duration::from_millis(5)),
    );
    up_and_settled(&mut sim);
    let now = sim.now();
    for n in 0..2 {
        sim.node_mut(n)
            .session
            .set_timers(now, Duration::from_millis(50), Duration::from_millis(50))
            .unwrap();
        assert!(sim.node(n).session.poll_in_progress());
        // Until the Final: the longer of old and new detection times.
        assert_eq!(
            sim.node(n).session.detection_time(),
            Some(Duration::from_millis(900))
        );
    }
    let ok = sim
        .run_until_cond(Duration::from_secs(2), |s| {
            !s.node(0).session.poll_in_progress() && !s.node(1).session.poll_in_progress()
        })
        .unwrap();
    assert!(ok, "poll sequence did not finish");
    sim.run_for(Duration::from_secs(1)).unwrap();
    for n in 0..2 {
        let s = &sim.node(n).session;
        assert_eq!(s.transmit_interval(), Some(Duration::from_millis(50)));
        assert_eq!(s.detection_time(), Some(Duration::from_millis(150)));
        assert_eq!(s.state(), State::Up);
    }
    let tx0 = sim.node(0).session.stats().tx_packets;
    sim.run_for(Duration::from_secs(10)).unwrap();
    let sent = sim.node(0).session.stats().tx_packets - tx0;
    assert!(
        (200..=267).contains(&sent),
        "{sent} packets in 10 s at 50 ms less 0-25%"
    );
    assert!(both_up(&sim));
}

#[test]
fn admin_down_is_signaled_and_admin_up_recovers() {
    let mut sim = pair(
        4,
        Config::default(),
        LinkConfig::with_latency(Duration::from_millis(5)),
    );
    up_and_settled(&mut sim);
    let now = sim.now();
    sim.node_mut(0).session.admin_down(now);
    assert_eq!(sim.node(0).session.state(), State::AdminDown);
    sim.run_for(Duration::from_secs(3)).unwrap();
    let (_, from, to, diag) = *sim.node(0).state_changes().last().unwrap();
    assert_eq!(
        (from, to, diag),
        (
            State::Up,
            State::AdminDown,
            Diagnostic::AdministrativelyDown
        )
    );
    let (_, from, to, diag) = *sim.node(1).state_changes().last().unwrap();
    assert_eq!(
        (from, to, diag),
        (
            State::Up,
            State::Down,
            Diagnostic::NeighborSignaledSessionDown
        )
    );
    // AdminDown packets go out for a detection time, then stop; b stays Down.
    let tx = sim.node(0).session.stats().tx_packets;
    sim.run_for(Duration::from_secs(10)).unwrap();
    assert_eq!(sim.node(0).session.stats().tx_packets, tx);
    assert_eq!(sim.node(1).session.state(), State::Down);
    assert!(sim.node(0).session.stats().rx_admin_down > 0);

    let now = sim.now();
    sim.node_mut(0).session.admin_up(now);
    up_and_settled(&mut sim);
}

#[test]
fn lossy_link_with_default_timers_does_not_flap() {
    // 5% loss: a false detection needs 3 or more packets in a row lost (about 1 in
    // 8000 per packet), so a minute (about 230 packets each way) rarely sees one; the
    // run is deterministic with its seed.
    let link = LinkConfig::with_latency(Duration::from_millis(10)).lossy(
        0.05,
        0.01,
        Duration::from_millis(3),
    );
    let mut sim = pair(5, Config::default(), link);
    up_and_settled(&mut sim);
    let changes = (
        sim.node(0).state_changes().len(),
        sim.node(1).state_changes().len(),
    );
    sim.run_for(Duration::from_secs(60)).unwrap();
    assert!(both_up(&sim));
    assert_eq!(
        (
            sim.node(0).state_changes().len(),
            sim.node(1).state_changes().len()
        ),
        changes
    );
    assert!(sim.link_stats(0).lost > 0, "the link lost packets");
}

#[test]
fn authenticated_sessions_come_up_over_the_harness() {
    for auth in [
        AuthConfig::keyed_sha1(1, "k"),
        AuthConfig::meticulous_keyed_sha1(9, "another key"),
    ] {
        let cfg = Config::default().with_auth(auth);
        let mut sim = pair(6, cfg, LinkConfig::with_latency(Duration::from_millis(5)));
        up_and_settled(&mut sim);
        sim.run_for(Duration::from_secs(5)).unwrap();
        let st = sim.node(0).session.stats();
        assert_eq!((st.rx_auth_failed, st.rx_bad_sequence), (0, 0));
        assert!(both_up(&sim));
    }
}

// Back to back, without the harness.

fn new_session(now: Instant, cfg: Config, seed: u64) -> Session<StdRng> {
    Session::new(now, cfg, StdRng::seed_from_u64(seed)).unwrap()
}

fn drain(s: &mut Session<StdRng>) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

#[test]
fn early_and_repeated_timeouts_are_harmless() {
    let t0 = Instant::now();
    let mut s = new_session(t0, Config::default(), 7);
    assert_eq!(s.poll_timeout(), Some(t0));
    s.handle_timeout(t0);
    assert_eq!(drain(&mut s).len(), 1);
    let next = s.poll_timeout().unwrap();
    // 1 s before Up, less 0 to 25% jitter.
    assert!(next - t0 >= Duration::from_millis(750) && next - t0 <= Duration::from_secs(1));
    for t in [
        t0,
        t0,
        t0 + Duration::from_millis(1),
        next - Duration::from_micros(1),
    ] {
        s.handle_timeout(t);
        assert!(s.poll_transmit().is_none());
        assert!(s.poll_event().is_none());
        assert_eq!(s.poll_timeout(), Some(next));
    }
    s.handle_timeout(next);
    assert_eq!(drain(&mut s).len(), 1);
    s.handle_timeout(next);
    assert!(s.poll_transmit().is_none());
}

#[test]
fn jitter_stays_within_rfc_bounds() {
    // Detect Mult 1: 75 to 90% of the interval; otherwise 75 to 100%.
    for (mult, max_pct) in [(1u8, 90u128), (3, 100)] {
        let t0 = Instant::now();
        let cfg = Config::new(Duration::from_secs(1), Duration::from_secs(1), mult);
        let mut s = new_session(t0, cfg, 8);
        let mut now = t0;
        s.handle_timeout(now);
        let (mut lo, mut hi) = (u128::MAX, 0);
        for _ in 0..500 {
            let next = s.poll_timeout().unwrap();
            let gap = (next - now).as_micros();
            lo = lo.min(gap);
            hi = hi.max(gap);
            now = next;
            s.handle_timeout(now);
            drain(&mut s);
        }
        assert!(
            lo >= 750_000 && hi <= max_pct * 10_000,
            "mult {mult}: {lo}..{hi}"
        );
        assert!(hi - lo > 100_000, "mult {mult}: jitter used: {lo}..{hi}");
    }
}

/// Brings a and b Up back to back; returns the instant reached and the sessions.
fn up_pair(cfg: Config) -> (Instant, Session<StdRng>, Session<StdRng>) {
    let t0 = Instant::now();
    let mut a = new_session(t0, cfg.clone(), 11);
    let mut b = new_session(t0, cfg, 12);
    let mut now = t0;
    for _ in 0..6 {
        a.handle_timeout(now);
        b.handle_timeout(now);
        for _ in 0..3 {
            for t in drain(&mut a) {
                b.handle_packet(now, t.payload(), 255).unwrap();
            }
            for t in drain(&mut b) {
                a.handle_packet(now, t.payload(), 255).unwrap();
            }
        }
        now = a.poll_timeout().unwrap().min(b.poll_timeout().unwrap());
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Up, State::Up),
        "{a:?} {b:?}"
    );
    assert!(!a.poll_in_progress() && !b.poll_in_progress());
    (now, a, b)
}

#[test]
fn bad_auth_and_replays_are_dropped_and_counted() {
    let cfg = Config::default().with_auth(AuthConfig::meticulous_keyed_sha1(3, "secret"));
    let (t0, mut a, mut b) = up_pair(cfg);
    let now = a
        .poll_timeout()
        .unwrap()
        .min(t0 + Duration::from_millis(300));
    a.handle_timeout(now);
    let t = drain(&mut a).pop().unwrap();
    b.handle_packet(now, t.payload(), 255).unwrap();
    // The same packet again: meticulous sequence numbers must increase.
    assert!(matches!(
        b.handle_packet(now, t.payload(), 255),
        Err(RxError::BadSequence(_))
    ));
    // A flipped bit in the digest, then in the body.
    for i in [40, 13] {
        let mut bad = t.payload().to_vec();
        bad[i] ^= 0x80;
        assert_eq!(
            b.handle_packet(now, &bad, 255),
            Err(RxError::AuthFailed),
            "byte {i}"
        );
    }
    // Wrong TTL.
    assert_eq!(
        b.handle_packet(now, t.payload(), 254),
        Err(RxError::BadTtl(254))
    );
    // An unauthenticated packet with the right discriminators.
    let mut plain = ControlPacket::decode(t.payload()).unwrap();
    plain.auth = None;
    let mut buf = [0u8; 64];
    let n = plain.encode(&mut buf).unwrap();
    assert_eq!(
        b.handle_packet(now, &buf[..n], 255),
        Err(RxError::AuthFailed)
    );
    let st = b.stats();
    assert_eq!(
        (st.rx_bad_sequence, st.rx_auth_failed, st.rx_bad_ttl),
        (1, 3, 1)
    );
    assert_eq!(b.state(), State::Up);
    // The next genuine packet is still accepted.
    let later = now + Duration::from_millis(500);
    a.handle_timeout(later);
    for t in drain(&mut a) {
        b.handle_packet(later, t.payload(), 255).unwrap();
    }
}

#[test]
fn keyed_sha1_window() {
    let cfg = Config::default().with_auth(AuthConfig::keyed_sha1(3, "secret"));
    let (t0, mut a, mut b) = up_pair(cfg);
    let mut now = a
        .poll_timeout()
        .unwrap()
        .min(t0 + Duration::from_millis(300));
    a.handle_timeout(now);
    let first = drain(&mut a).pop().unwrap();
    let first_at = now;
    b.handle_packet(now, first.payload(), 255).unwrap();
    // Keyed (not meticulous): the same sequence number again is inside the window.
    b.handle_packet(now, first.payload(), 255).unwrap();
    // Move a 3 x Detect Mult + 1 = 10 packets ahead without b seeing them.
    for _ in 0..10 {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        drain(&mut a);
    }
    now = a.poll_timeout().unwrap();
    a.handle_timeout(now);
    let ahead = drain(&mut a).pop().unwrap();
    // Delivered to b soon after the first (b's clock: the window is not reset).
    let b_now = first_at + Duration::from_millis(100);
    assert!(matches!(
        b.handle_packet(b_now, ahead.payload(), 255),
        Err(RxError::BadSequence(_))
    ));
    assert_eq!(b.stats().rx_bad_sequence, 1);
    // After twice the detection time without a packet the sequence is learned afresh.
    let late = first_at + Duration::from_secs(2);
    b.handle_packet(late, ahead.payload(), 255).unwrap();
}

#[test]
fn wrong_discriminator_and_malformed_are_counted() {
    let (t0, mut a, mut b) = up_pair(Config::default());
    let now = a
        .poll_timeout()
        .unwrap()
        .min(t0 + Duration::from_millis(300));
    a.handle_timeout(now);
    let t = drain(&mut a).pop().unwrap();
    let mut p = ControlPacket::decode(t.payload()).unwrap();
    p.your_discriminator ^= 1;
    let mut buf = [0u8; 64];
    let n = p.encode(&mut buf).unwrap();
    assert!(matches!(
        b.handle_packet(now, &buf[..n], 255),
        Err(RxError::WrongDiscriminator(_))
    ));
    assert!(matches!(
        b.handle_packet(now, &t.payload()[..20], 255),
        Err(RxError::Decode(_))
    ));
    let st = b.stats();
    assert_eq!((st.rx_wrong_discriminator, st.rx_malformed), (1, 1));
    assert_eq!(b.state(), State::Up);
}

#[test]
fn bad_configs_are_refused() {
    let t0 = Instant::now();
    let rng = || StdRng::seed_from_u64(1);
    let mut c = Config::default();
    c.detect_mult = 0;
    assert!(Session::new(t0, c, rng()).is_err());
    let c = Config::new(Duration::ZERO, Duration::ZERO, 3);
    assert!(Session::new(t0, c, rng()).is_err());
    let c = Config::default().with_auth(AuthConfig::keyed_sha1(1, ""));
    assert!(Session::new(t0, c, rng()).is_err());
}

#[test]
fn peer_in_demand_mode_silences_periodic_packets() {
    let (t0, mut a, mut b) = up_pair(Config::default());
    // b's packets, rewritten as a peer in Demand mode sends them.
    b.handle_timeout(b.poll_timeout().unwrap());
    let mut template = ControlPacket::decode(drain(&mut b)[0].payload()).unwrap();
    template.demand = true;
    let send = |a: &mut Session<StdRng>, now, p: &ControlPacket| {
        let mut buf = [0u8; 64];
        let n = p.encode(&mut buf).unwrap();
        a.handle_packet(now, &buf[..n], 255).unwrap();
    };
    let mut now = t0;
    send(&mut a, now, &template);
    let mut sent_by_a = 0;
    for _ in 0..50 {
        now += Duration::from_millis(100);
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        sent_by_a += drain(&mut a).len();
        send(&mut a, now, &template);
    }
    assert_eq!(sent_by_a, 0, "no periodic packets to a peer in Demand mode");
    assert_eq!(a.state(), State::Up);
    // A timer change still goes out as a Poll; the Final ends it.
    a.set_timers(now, Duration::from_millis(100), Duration::from_millis(100))
        .unwrap();
    let mut polls = 0;
    for _ in 0..20 {
        now += Duration::from_millis(100);
        a.handle_timeout(now);
        for t in drain(&mut a) {
            let p = ControlPacket::decode(t.payload()).unwrap();
            if p.poll {
                polls += 1;
                let mut fin = template;
                fin.final_ = true;
                send(&mut a, now, &fin);
            }
        }
        send(&mut a, now, &template);
    }
    assert_eq!(polls, 1);
    assert!(!a.poll_in_progress());
    assert_eq!(a.state(), State::Up);
}

#[test]
fn peer_restarting_in_down_takes_the_session_down_then_up_again() {
    let (now, mut a, mut b) = up_pair(Config::default());
    b.handle_timeout(b.poll_timeout().unwrap());
    let mut p = ControlPacket::decode(drain(&mut b)[0].payload()).unwrap();
    // The peer restarted: Down, no discriminator of ours yet.
    p.state = State::Down;
    p.your_discriminator = 0;
    let mut buf = [0u8; 64];
    let n = p.encode(&mut buf).unwrap();
    while a.poll_event().is_some() {}
    a.handle_packet(now, &buf[..n], 255).unwrap();
    assert_eq!(
        a.poll_event(),
        Some(Event::StateChanged {
            from: State::Up,
            to: State::Down,
            diag: Diagnostic::NeighborSignaledSessionDown
        })
    );
    // Down again at the 1 s floor; the peer's next Down moves a to Init, Init to Up.
    assert_eq!(a.transmit_interval(), Some(Duration::from_secs(1)));
    a.handle_packet(now, &buf[..n], 255).unwrap();
    assert_eq!(a.state(), State::Init);
    p.state = State::Init;
    p.your_discriminator = a.local_discriminator();
    let n = p.encode(&mut buf).unwrap();
    a.handle_packet(now, &buf[..n], 255).unwrap();
    assert_eq!(a.state(), State::Up);
    assert_eq!(a.local_diag(), Diagnostic::None);
}

#[test]
fn detect_mult_change_reaches_the_peer_and_zero_is_refused() {
    let cfg = Config::new(Duration::from_millis(100), Duration::from_millis(100), 3);
    let (now, mut a, mut b) = up_pair(cfg);
    assert_eq!(b.detection_time(), Some(Duration::from_millis(300)));
    assert_eq!(a.set_detect_mult(0), Err(bfd::ConfigError::ZeroDetectMult));
    a.set_detect_mult(5).unwrap();
    // The next packet carries it; b's detection time of a follows, both stay Up.
    let at = a.poll_timeout().unwrap().max(now);
    a.handle_timeout(at);
    let sent = drain(&mut a);
    assert!(!sent.is_empty());
    for t in &sent {
        assert_eq!(ControlPacket::decode(t.payload()).unwrap().detect_mult, 5);
        b.handle_packet(at, t.payload(), 255).unwrap();
    }
    assert_eq!(b.detection_time(), Some(Duration::from_millis(500)));
    assert_eq!((a.state(), b.state()), (State::Up, State::Up));
}
