//! One BFD session in asynchronous mode (RFC 5880 section 6): the state machine, the
//! timers, Poll/Final sequences and authentication.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::Rng;

use crate::encap;
use crate::packet::{
    self, AuthSection, AuthType, ControlPacket, DecodeError, Diagnostic, MAX_PACKET_LEN,
    MAX_PASSWORD_LEN, State,
};

/// The slowest a session transmits before it is Up (RFC 5880 6.8.3): one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// Authentication settings (RFC 5880 6.7). Both ends must agree on type, key ID and key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The authentication type sent and required.
    pub auth_type: AuthType,
    /// The key ID sent and required.
    pub key_id: u8,
    /// The secret: the password (1 to 16 bytes) for Simple Password, the key
    /// (zero-padded or cut to the digest length) for the keyed types.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AuthConfig {
    /// Authentication of `auth_type` with `key_id` and `key`.
    pub fn new(auth_type: AuthType, key_id: u8, key: impl Into<Vec<u8>>) -> Self {
        AuthConfig {
            auth_type,
            key_id,
            key: key.into(),
        }
    }

    /// Keyed SHA1 (RFC 5880 6.7.4).
    pub fn keyed_sha1(key_id: u8, key: impl Into<Vec<u8>>) -> Self {
        Self::new(AuthType::KeyedSha1, key_id, key)
    }

    /// Meticulous Keyed SHA1 (RFC 5880 6.7.4): the sequence number increases on every
    /// packet.
    pub fn meticulous_keyed_sha1(key_id: u8, key: impl Into<Vec<u8>>) -> Self {
        Self::new(AuthType::MeticulousKeyedSha1, key_id, key)
    }
}

/// Session configuration: the local timer parameters (RFC 5880 6.8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// bfd.DesiredMinTxInterval once Up (before Up at least [`SLOW_TX`]). Default 300 ms.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval. Default 300 ms.
    pub required_min_rx: Duration,
    /// bfd.DetectMult. Default 3.
    pub detect_mult: u8,
    /// Authentication, if any. Default none.
    pub auth: Option<AuthConfig>,
    /// Start in AdminDown. Default `false`.
    pub admin_down: bool,
    /// Events kept until [`Session::poll_event`] drains them; more are dropped and
    /// counted in [`Stats::events_dropped`]. Default 64.
    pub event_queue_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            auth: None,
            admin_down: false,
            event_queue_limit: 64,
        }
    }
}

impl Config {
    /// A configuration with these timers and the other defaults.
    pub fn new(desired_min_tx: Duration, required_min_rx: Duration, detect_mult: u8) -> Self {
        Config {
            desired_min_tx,
            required_min_rx,
            detect_mult,
            ..Config::default()
        }
    }

    /// The same configuration with authentication.
    pub fn with_auth(mut self, auth: AuthConfig) -> Self {
        self.auth = Some(auth);
        self
    }
}

/// A configuration the session refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Detect Mult 0 (RFC 5880 4.1 forbids it).
    #[error("detect mult must not be zero")]
    ZeroDetectMult,
    /// Desired Min TX zero (RFC 5880 4.1 forbids it) or an interval above the 32-bit
    /// microsecond field (about 71 minutes).
    #[error("interval zero or longer than 2^32-1 microseconds")]
    BadInterval,
    /// An empty key, or a Simple Password longer than 16 bytes.
    #[error("key empty, or password longer than 16 bytes")]
    BadKey,
}

/// What changed, for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session state changed; `diag` is the local diagnostic now sent.
    StateChanged {
        /// The previous state.
        from: State,
        /// The new state.
        to: State,
        /// Why (the local diagnostic).
        diag: Diagnostic,
    },
    /// A Poll Sequence ended with a Final: the advertised timers are now in use.
    PollComplete,
}

/// Why a received packet was dropped. Every variant is counted in [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RxError {
    /// Received TTL / hop limit not 255 (RFC 5881 5).
    #[error("TTL {0}, single-hop BFD requires 255")]
    BadTtl(u8),
    /// The packet failed decoding or the 6.8.6 packet checks.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Your Discriminator is not ours.
    #[error("your discriminator {0:#x} is not this session's")]
    WrongDiscriminator(u32),
    /// Authentication missing, unexpected, of the wrong type or key ID, or the digest
    /// or password is wrong.
    #[error("authentication failed")]
    AuthFailed,
    /// The sequence number is outside the window (a replay or a stale packet).
    #[error("sequence number {0} outside the accepted window")]
    BadSequence(u32),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Packets accepted.
    pub rx_accepted: u64,
    /// Packets dropped for their TTL / hop limit.
    pub rx_bad_ttl: u64,
    /// Packets dropped by decoding.
    pub rx_malformed: u64,
    /// Packets dropped for Your Discriminator.
    pub rx_wrong_discriminator: u64,
    /// Packets dropped by authentication.
    pub rx_auth_failed: u64,
    /// Packets dropped for their sequence number.
    pub rx_bad_sequence: u64,
    /// Valid packets ignored because the session is AdminDown.
    pub rx_admin_down: u64,
    /// Packets handed out by [`Session::poll_transmit`].
    pub tx_packets: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}

/// One encoded Control packet to send to the peer over UDP to port
/// [`encap::CONTROL_PORT`] with TTL / hop limit [`encap::TTL`]. No allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    buf: [u8; MAX_PACKET_LEN],
    len: usize,
}

impl Transmit {
    /// The UDP payload.
    pub fn payload(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmit")
            .field("payload", &self.payload())
            .finish()
    }
}

/// What drives the state table.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// A valid packet with this remote state.
    Rx(State),
    /// The detection time passed.
    DetectTimeout,
    /// The administrative command to take the session down.
    AdminCmdDown,
    /// The administrative command to bring it back.
    AdminCmdUp,
}

fn micros(d: Duration) -> Option<u32> {
    u32::try_from(d.as_micros()).ok()
}

fn us(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

/// A BFD session with one peer (RFC 5880 asynchronous mode, demand mode off).
///
/// Inputs: [`Session::handle_packet`], [`Session::handle_timeout`],
/// [`Session::admin_down`], [`Session::admin_up`], [`Session::set_timers`]. After each,
/// drain [`Session::poll_transmit`] and [`Session::poll_event`], then sleep until
/// [`Session::poll_timeout`].
pub struct Session<R> {
    rng: R,
    detect_mult: u8,
    auth: Option<AuthConfig>,
    event_limit: usize,

    state: State,
    diag: Diagnostic,
    local_discr: u32,
    remote_discr: u32,
    remote_state: State,
    remote_min_rx_us: u32,
    remote_desired_tx_us: u32,
    remote_detect_mult: u8,
    remote_demand: bool,

    /// Configured values (in use once Up).
    conf_tx_us: u32,
    conf_rx_us: u32,
    /// Values sent in packets.
    adv_tx_us: u32,
    adv_rx_us: u32,
    /// Values in use for our transmit interval and detection time.
    eff_tx_us: u32,
    eff_rx_us: u32,
    poll_active: bool,

    next_tx: Option<Instant>,
    detect_deadline: Option<Instant>,
    /// In AdminDown, periodic transmission stops at this instant.
    admin_tx_until: Option<Instant>,
    send_periodic: bool,
    send_final: bool,

    xmit_seq: u32,
    rcv_seq: u32,
    seq_known: bool,
    last_rx: Option<Instant>,

    events: VecDeque<Event>,
    stats: Stats,
}

impl<R> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("diag", &self.diag)
            .field("local_discr", &self.local_discr)
            .field("remote_discr", &self.remote_discr)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> Session<R> {
    /// A session starting at `now` in Down (or AdminDown if configured), with a
    /// non-zero local discriminator and an initial authentication sequence number drawn
    /// from `rng`. Its first packet is due at `now`.
    pub fn new(now: Instant, config: Config, mut rng: R) -> Result<Self, ConfigError> {
        if config.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        let conf_tx_us = micros(config.desired_min_tx)
            .filter(|&v| v > 0)
            .ok_or(ConfigError::BadInterval)?;
        let conf_rx_us = micros(config.required_min_rx).ok_or(ConfigError::BadInterval)?;
        if let Some(a) = &config.auth
            && (a.key.is_empty()
                || (a.auth_type == AuthType::SimplePassword && a.key.len() > MAX_PASSWORD_LEN))
        {
            return Err(ConfigError::BadKey);
        }
        let local_discr = loop {
            let d = rng.next_u32();
            if d != 0 {
                break d;
            }
        };
        let xmit_seq = rng.next_u32();
        let slow = conf_tx_us.max(micros(SLOW_TX).unwrap_or(1_000_000));
        Ok(Session {
            rng,
            detect_mult: config.detect_mult,
            auth: config.auth,
            event_limit: config.event_queue_limit,
            state: if config.admin_down {
                State::AdminDown
            } else {
                State::Down
            },
            diag: if config.admin_down {
                Diagnostic::AdministrativelyDown
            } else {
                Diagnostic::None
            },
            local_discr,
            remote_discr: 0,
            remote_state: State::Down,
            remote_min_rx_us: 1,
            remote_desired_tx_us: 0,
            remote_detect_mult: 0,
            remote_demand: false,
            conf_tx_us,
            conf_rx_us,
            adv_tx_us: slow,
            adv_rx_us: conf_rx_us,
            eff_tx_us: slow,
            eff_rx_us: conf_rx_us,
            poll_active: false,
            next_tx: (!config.admin_down).then_some(now),
            detect_deadline: None,
            admin_tx_until: None,
            send_periodic: false,
            send_final: false,
            xmit_seq,
            rcv_seq: 0,
            seq_known: false,
            last_rx: None,
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// The local session state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The local diagnostic (bfd.LocalDiag).
    pub fn local_diag(&self) -> Diagnostic {
        self.diag
    }

    /// bfd.LocalDiscr: the peer sends it as Your Discriminator; a caller running
    /// several sessions on one socket demultiplexes on it.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    /// bfd.RemoteDiscr, zero until a packet arrives and again after the detection time
    /// passes without one.
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }

    /// The last state the peer reported.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// Whether a Poll Sequence is in progress.
    pub fn poll_in_progress(&self) -> bool {
        self.poll_active
    }

    /// The interval between periodic packets before jitter:
    /// max(Desired Min TX in use, remote Required Min RX); `None` while the peer asks
    /// for no packets (Required Min RX 0).
    pub fn transmit_interval(&self) -> Option<Duration> {
        (self.remote_min_rx_us != 0).then(|| us(self.eff_tx_us.max(self.remote_min_rx_us)))
    }

    /// The detection time (RFC 5880 6.8.4): remote Detect Mult x max(Required Min RX
    /// in use, remote Desired Min TX); `None` before the first packet.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0).then(|| {
            us(self.eff_rx_us.max(self.remote_desired_tx_us)) * u32::from(self.remote_detect_mult)
        })
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A packet arrived from the peer with this received TTL / hop limit (RFC 5881 5:
    /// anything but 255 is dropped, so the session cannot be fed a packet whose TTL was
    /// never checked). Invalid packets change nothing and are counted.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8], ttl: u8) -> Result<(), RxError> {
        let r = self.receive(now, bytes, ttl);
        if let Err(e) = &r {
            let c = match e {
                RxError::BadTtl(_) => &mut self.stats.rx_bad_ttl,
                RxError::Decode(_) => &mut self.stats.rx_malformed,
                RxError::WrongDiscriminator(_) => &mut self.stats.rx_wrong_discriminator,
                RxError::AuthFailed => &mut self.stats.rx_auth_failed,
                RxError::BadSequence(_) => &mut self.stats.rx_bad_sequence,
            };
            *c += 1;
        }
        r
    }

    fn receive(&mut self, now: Instant, bytes: &[u8], ttl: u8) -> Result<(), RxError> {
        if !encap::ttl_ok(ttl) {
            return Err(RxError::BadTtl(ttl));
        }
        let p = ControlPacket::decode(bytes)?;
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return Err(RxError::WrongDiscriminator(p.your_discriminator));
        }
        self.check_auth(now, bytes, &p)?;
        if let Some(seq) = p.auth.and_then(|a| a.sequence()) {
            self.rcv_seq = seq;
            self.seq_known = true;
        }
        self.last_rx = Some(now);
        self.stats.rx_accepted += 1;

        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_min_rx_us = p.required_min_rx_us;
        self.remote_desired_tx_us = p.desired_min_tx_us;
        self.remote_detect_mult = p.detect_mult;
        self.remote_demand = p.demand;

        if p.final_ && self.poll_active {
            self.poll_active = false;
            self.eff_tx_us = self.adv_tx_us;
            self.eff_rx_us = self.adv_rx_us;
            self.push_event(Event::PollComplete);
        }

        if self.state == State::AdminDown {
            self.stats.rx_admin_down += 1;
            return Ok(());
        }
        self.step(now, Input::Rx(p.state));
        if p.poll {
            self.send_final = true;
        }
        self.detect_deadline = self.detection_time().map(|d| now + d);
        self.reschedule(now);
        Ok(())
    }

    fn check_auth(&mut self, now: Instant, bytes: &[u8], p: &ControlPacket) -> Result<(), RxError> {
        let (cfg, sec) = match (&self.auth, &p.auth) {
            (None, None) => return Ok(()),
            (Some(cfg), Some(sec)) => (cfg, sec),
            _ => return Err(RxError::AuthFailed),
        };
        if sec.auth_type() != cfg.auth_type || sec.key_id() != cfg.key_id {
            return Err(RxError::AuthFailed);
        }
        let ok = match cfg.auth_type {
            AuthType::SimplePassword => packet::verify_password(sec, &cfg.key),
            _ => packet::verify(bytes, &cfg.key),
        };
        if !ok {
            return Err(RxError::AuthFailed);
        }
        let Some(seq) = sec.sequence() else {
            return Ok(());
        };
        // bfd.AuthSeqKnown is reset after twice the detection time without a packet.
        if let (Some(last), Some(d)) = (self.last_rx, self.detection_time())
            && now.saturating_duration_since(last) > d * 2
        {
            self.seq_known = false;
        }
        if self.seq_known {
            let delta = seq.wrapping_sub(self.rcv_seq);
            let window = 3 * u32::from(p.detect_mult);
            let low = u32::from(cfg.auth_type.is_meticulous());
            if delta < low || delta > window {
                return Err(RxError::BadSequence(seq));
            }
        }
        Ok(())
    }

    /// Fire the timers due at `now`: periodic transmission and the detection time.
    /// Harmless when early or repeated.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_deadline.is_some_and(|d| d <= now) {
            self.detect_deadline = None;
            self.remote_discr = 0;
            self.remote_min_rx_us = 1;
            self.remote_desired_tx_us = 0;
            self.remote_detect_mult = 0;
            self.remote_demand = false;
            self.step(now, Input::DetectTimeout);
        }
        if self.admin_tx_until.is_some_and(|u| u <= now) {
            self.admin_tx_until = None;
            self.next_tx = None;
        }
        if let Some(at) = self.next_tx
            && at <= now
        {
            // RFC 5880 6.8.7: no periodic packets while the peer runs Demand mode with
            // both Up, except to carry a Poll Sequence.
            let quiet = self.remote_demand
                && self.state == State::Up
                && self.remote_state == State::Up
                && !self.poll_active;
            self.send_periodic = !quiet;
            self.next_tx = self.jittered_interval().map(|i| now + i);
        }
    }

    /// Take the session administratively down (RFC 5880 6.8.16): state AdminDown,
    /// diagnostic 7; packets saying so go out for a detection time, then stop.
    pub fn admin_down(&mut self, now: Instant) {
        self.step(now, Input::AdminCmdDown);
    }

    /// Leave AdminDown: the session restarts in Down and transmits again.
    pub fn admin_up(&mut self, now: Instant) {
        self.step(now, Input::AdminCmdUp);
    }

    /// Change the local timers. While Up they are advertised in a Poll Sequence and
    /// take full effect when the Final arrives (RFC 5880 6.8.3: until then the faster
    /// transmit interval and the longer detection time of old and new apply); otherwise
    /// at once (with the 1 s transmit floor before Up). A change during a Poll Sequence
    /// joins it: the Final that ends it puts the latest values in use.
    pub fn set_timers(
        &mut self,
        now: Instant,
        desired_min_tx: Duration,
        required_min_rx: Duration,
    ) -> Result<(), ConfigError> {
        let tx = micros(desired_min_tx)
            .filter(|&v| v > 0)
            .ok_or(ConfigError::BadInterval)?;
        let rx = micros(required_min_rx).ok_or(ConfigError::BadInterval)?;
        self.conf_tx_us = tx;
        self.conf_rx_us = rx;
        if self.state == State::Up {
            self.start_poll(tx, rx);
        } else {
            self.slow_timers();
        }
        self.reschedule(now);
        Ok(())
    }

    /// Change the Detect Mult sent to the peer (which multiplies it into its
    /// detection time of this session). It goes out with the next packet, without a
    /// Poll Sequence (RFC 5880 6.8.12). Zero is refused.
    pub fn set_detect_mult(&mut self, detect_mult: u8) -> Result<(), ConfigError> {
        if detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        self.detect_mult = detect_mult;
        Ok(())
    }

    fn start_poll(&mut self, tx: u32, rx: u32) {
        if (tx, rx) == (self.adv_tx_us, self.adv_rx_us) && !self.poll_active {
            return;
        }
        // In use during the sequence: the faster transmit interval and the longer
        // detection time of the old and new values.
        self.eff_tx_us = self.eff_tx_us.min(tx);
        self.eff_rx_us = self.eff_rx_us.max(rx);
        self.adv_tx_us = tx;
        self.adv_rx_us = rx;
        self.poll_active = true;
    }

    fn slow_timers(&mut self) {
        let slow = self.conf_tx_us.max(micros(SLOW_TX).unwrap_or(1_000_000));
        self.adv_tx_us = slow;
        self.eff_tx_us = slow;
        self.adv_rx_us = self.conf_rx_us;
        self.eff_rx_us = self.conf_rx_us;
        self.poll_active = false;
    }

    /// The state table (RFC 5880 6.2, 6.8.6, 6.8.4, 6.8.16), in one place.
    fn step(&mut self, now: Instant, input: Input) {
        use Diagnostic as D;
        use Input::*;
        use State::*;
        let next: Option<(State, Diagnostic)> = match (self.state, input) {
            (AdminDown, AdminCmdUp) => Some((Down, D::None)),
            (AdminDown, Rx(_) | DetectTimeout | AdminCmdDown) => None,
            (Down | Init | Up, AdminCmdDown) => Some((AdminDown, D::AdministrativelyDown)),
            (Down | Init | Up, AdminCmdUp) => None,
            (Down, DetectTimeout) => None,
            (Init | Up, DetectTimeout) => Some((Down, D::ControlDetectionTimeExpired)),
            (Down, Rx(AdminDown)) => None,
            (Init | Up, Rx(AdminDown)) => Some((Down, D::NeighborSignaledSessionDown)),
            (Down, Rx(Down)) => Some((Init, self.diag)),
            (Down, Rx(Init)) => Some((Up, D::None)),
            (Down, Rx(Up)) => None,
            (Init, Rx(Init | Up)) => Some((Up, D::None)),
            (Init, Rx(Down)) => None,
            (Up, Rx(Down)) => Some((Down, D::NeighborSignaledSessionDown)),
            (Up, Rx(Init | Up)) => None,
        };
        if let Some((to, diag)) = next {
            self.transition(now, to, diag);
        }
    }

    fn transition(&mut self, now: Instant, to: State, diag: Diagnostic) {
        let from = self.state;
        self.state = to;
        self.diag = diag;
        match to {
            State::Up => self.start_poll(self.conf_tx_us, self.conf_rx_us),
            State::AdminDown => {
                self.slow_timers();
                self.detect_deadline = None;
                let keep = self
                    .detection_time()
                    .or_else(|| {
                        self.transmit_interval()
                            .map(|t| t * u32::from(self.detect_mult))
                    })
                    .unwrap_or(SLOW_TX * u32::from(self.detect_mult));
                self.admin_tx_until = Some(now + keep);
            }
            State::Down | State::Init => {
                if from == State::Up {
                    self.slow_timers();
                }
                if from == State::AdminDown {
                    self.admin_tx_until = None;
                    self.next_tx = Some(now);
                }
            }
        }
        self.push_event(Event::StateChanged { from, to, diag });
    }

    /// After the transmit interval shrank, the next packet must not wait longer than
    /// the new interval.
    fn reschedule(&mut self, now: Instant) {
        if self.state == State::AdminDown && self.admin_tx_until.is_none() {
            return;
        }
        match (self.transmit_interval(), self.next_tx) {
            (None, _) => self.next_tx = None,
            (Some(i), Some(at)) if at <= now + i => {}
            (Some(_), _) => self.next_tx = self.jittered_interval().map(|i| now + i),
        }
    }

    /// The transmit interval reduced by 0 to 25% (10 to 25% with Detect Mult 1), RFC
    /// 5880 6.8.7.
    fn jittered_interval(&mut self) -> Option<Duration> {
        let i = u64::try_from(self.transmit_interval()?.as_micros()).unwrap_or(u64::MAX);
        let r = u64::from(self.rng.next_u32());
        let t = if self.detect_mult == 1 {
            i * 90 / 100 - (i * 15 / 100) * r / (1 << 32)
        } else {
            i - (i / 4) * r / (1 << 32)
        };
        Some(Duration::from_micros(t.max(1)))
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.event_limit {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// The next packet to send: a Final answering a Poll first, then a periodic packet
    /// (with the Poll bit during a Poll Sequence). At most two are ever pending.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let (poll, final_) = if self.send_final {
            self.send_final = false;
            (false, true)
        } else if self.send_periodic {
            self.send_periodic = false;
            (self.poll_active, false)
        } else {
            return None;
        };
        let auth = self.auth.as_ref().map(|a| {
            let seq = self.xmit_seq;
            match a.auth_type {
                AuthType::SimplePassword => {
                    let mut password = [0u8; MAX_PASSWORD_LEN];
                    password[..a.key.len()].copy_from_slice(&a.key);
                    AuthSection::SimplePassword {
                        key_id: a.key_id,
                        password,
                        len: a.key.len() as u8,
                    }
                }
                AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => AuthSection::Md5 {
                    meticulous: a.auth_type.is_meticulous(),
                    key_id: a.key_id,
                    sequence: seq,
                    digest: [0; 16],
                },
                _ => AuthSection::Sha1 {
                    meticulous: a.auth_type.is_meticulous(),
                    key_id: a.key_id,
                    sequence: seq,
                    digest: [0; 20],
                },
            }
        });
        if auth.is_some_and(|a| a.sequence().is_some()) {
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
        }
        let p = ControlPacket {
            diag: self.diag,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: self.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: self.adv_tx_us,
            required_min_rx_us: self.adv_rx_us,
            required_min_echo_rx_us: 0,
            auth,
        };
        let mut t = Transmit {
            buf: [0; MAX_PACKET_LEN],
            len: 0,
        };
        // The buffer holds the longest packet and passwords are checked in `new`.
        t.len = p.encode(&mut t.buf).ok()?;
        if let Some(a) = &self.auth
            && a.auth_type != AuthType::SimplePassword
        {
            packet::sign(&mut t.buf[..t.len], &a.key);
        }
        self.stats.tx_packets += 1;
        Some(t)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called; `None` when no timer is
    /// armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_tx, self.detect_deadline, self.admin_tx_until]
            .into_iter()
            .flatten()
            .min()
    }
}
