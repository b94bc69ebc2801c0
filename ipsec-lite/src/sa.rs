//! Security associations (RFC 4301 section 4.4.2, RFC 4303 section 3).
//!
//! One SA protects one direction. It holds the keyed [`Transform`], the sequence
//! number (64-bit; only the low half is sent, RFC 4303 section 2.2.1), the anti-replay
//! window for inbound SAs, and lifetime counters that raise a soft event (time to
//! rekey) and a hard event (the SA stops working), RFC 4301 section 4.4.2.1.

use core::ops::Range;
use std::time::{Duration, Instant};

use crate::error::{CryptoError, InboundError, OutboundError};
use crate::esp::{self, EspHeader};
use crate::replay::ReplayWindow;
use crate::suite::{Backend, Suite, Transform};

/// Which way an SA carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Packets we receive and open.
    Inbound,
    /// Packets we seal and send.
    Outbound,
}

/// One set of limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Packets processed.
    pub packets: Option<u64>,
    /// Payload bytes processed.
    pub bytes: Option<u64>,
    /// Time since the SA was added.
    pub time: Option<Duration>,
}

/// Soft and hard lifetimes (RFC 4301 section 4.4.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// Reaching any soft limit raises [`SaEvent::SoftExpired`] once.
    pub soft: Limits,
    /// Reaching any hard limit raises [`SaEvent::HardExpired`] and the SA stops.
    pub hard: Limits,
}

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// Packet count.
    Packets,
    /// Byte count.
    Bytes,
    /// Age.
    Time,
    /// Sequence number space (RFC 4303 section 3.3.3).
    Sequence,
}

/// Lifetime events, drained with [`SecurityAssociation::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaEvent {
    /// A soft limit was reached: start a rekey.
    SoftExpired {
        /// SA.
        spi: u32,
        /// Direction.
        direction: Direction,
        /// Which limit.
        limit: LimitKind,
    },
    /// A hard limit was reached: the SA no longer seals or opens.
    HardExpired {
        /// SA.
        spi: u32,
        /// Direction.
        direction: Direction,
        /// Which limit.
        limit: LimitKind,
    },
}

/// Lifecycle of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaState {
    /// In use, no limit reached.
    Mature,
    /// A soft limit was reached; still in use until replaced or hard-expired.
    Dying,
    /// A hard limit was reached; refuses all packets.
    Expired,
}

/// Everything needed to create an SA (manual keying).
///
/// Built with [`SaParams::new`] (ESN off, no lifetimes); set `esn` and `lifetimes` on
/// the result. New optional fields may be added, so the struct cannot be built with a
/// literal outside this crate.
///
/// The keys never show in `Debug` output, are wiped from memory when the parameters
/// are dropped, and are compared in constant time by `==`.
#[derive(Clone)]
#[non_exhaustive]
pub struct SaParams {
    /// SPI (chosen by the receiver; never 0..=255, RFC 4303 section 2.1).
    pub spi: u32,
    /// Direction.
    pub direction: Direction,
    /// Suite.
    pub suite: Suite,
    /// Encryption key, including the 4-byte salt for AEAD suites.
    pub enc_key: Vec<u8>,
    /// Integrity key (empty for AEAD suites).
    pub auth_key: Vec<u8>,
    /// Extended (64-bit) sequence numbers.
    pub esn: bool,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
}

impl SaParams {
    /// Parameters for SA `spi` running in `direction` with `suite`: `enc_key` includes
    /// the 4-byte salt for AEAD suites, `auth_key` is empty for AEAD suites. Extended
    /// sequence numbers are off and no lifetime is set.
    pub fn new(
        spi: u32,
        direction: Direction,
        suite: Suite,
        enc_key: Vec<u8>,
        auth_key: Vec<u8>,
    ) -> Self {
        SaParams {
            spi,
            direction,
            suite,
            enc_key,
            auth_key,
            esn: false,
            lifetimes: Lifetimes::default(),
        }
    }
}

impl PartialEq for SaParams {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        let keys = self.enc_key.ct_eq(&other.enc_key) & self.auth_key.ct_eq(&other.auth_key);
        self.spi == other.spi
            && self.direction == other.direction
            && self.suite == other.suite
            && self.esn == other.esn
            && self.lifetimes == other.lifetimes
            && bool::from(keys)
    }
}

impl Eq for SaParams {}

impl Drop for SaParams {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.enc_key);
        zeroize::Zeroize::zeroize(&mut self.auth_key);
    }
}

impl core::fmt::Debug for SaParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("suite", &self.suite)
            .field("esn", &self.esn)
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

/// A packet opened in place; `payload` borrows the caller's buffer.
#[derive(Debug)]
pub struct Opened<'a> {
    /// SA that opened it.
    pub spi: u32,
    /// Full sequence number.
    pub seq: u64,
    /// Next Header.
    pub next_header: u8,
    /// The decrypted payload.
    pub payload: &'a mut [u8],
    /// Range of the payload within the buffer passed to `open`.
    pub range: Range<usize>,
}

impl Opened<'_> {
    /// A dummy packet (Next Header 59), which the caller must discard (RFC 4303 2.6).
    pub fn is_dummy(&self) -> bool {
        self.next_header == esp::NEXT_HEADER_NONE
    }
}

/// A security association.
#[derive(Debug)]
pub struct SecurityAssociation {
    spi: u32,
    direction: Direction,
    esn: bool,
    transform: Transform,
    lifetimes: Lifetimes,
    /// Soft and hard time limits as instants.
    soft_at: Option<Instant>,
    hard_at: Option<Instant>,
    /// Outbound: last sequence number sent.
    seq: u64,
    replay: ReplayWindow,
    packets: u64,
    bytes: u64,
    state: SaState,
    pending: [Option<SaEvent>; 2],
}

/// Inputs to the lifecycle state machine.
#[derive(Debug, Clone, Copy)]
enum LimitEvent {
    Soft(LimitKind),
    Hard(LimitKind),
}

impl SecurityAssociation {
    /// Create an SA at `now` with the given backend.
    pub fn new(now: Instant, params: &SaParams, backend: Backend) -> Result<Self, CryptoError> {
        let transform = Transform::new(backend, params.suite, &params.enc_key, &params.auth_key)?;
        Ok(SecurityAssociation {
            spi: params.spi,
            direction: params.direction,
            esn: params.esn,
            transform,
            lifetimes: params.lifetimes,
            soft_at: params.lifetimes.soft.time.and_then(|d| now.checked_add(d)),
            hard_at: params.lifetimes.hard.time.and_then(|d| now.checked_add(d)),
            seq: 0,
            replay: ReplayWindow::new(),
            packets: 0,
            bytes: 0,
            state: SaState::Mature,
            pending: [None, None],
        })
    }

    /// SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }
    /// Direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// Suite.
    pub fn suite(&self) -> Suite {
        self.transform.suite()
    }
    /// Whether ESN is on.
    pub fn esn(&self) -> bool {
        self.esn
    }
    /// Lifecycle state.
    pub fn state(&self) -> SaState {
        self.state
    }
    /// Packets processed.
    pub fn packets(&self) -> u64 {
        self.packets
    }
    /// Payload bytes processed.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Outbound: last sequence number sent. Inbound: highest accepted.
    pub fn seq(&self) -> u64 {
        match self.direction {
            Direction::Outbound => self.seq,
            Direction::Inbound => self.replay.top(),
        }
    }
    /// Bytes needed before the payload.
    pub fn headroom(&self) -> usize {
        esp::headroom(self.suite())
    }
    /// Bytes needed after a payload of `len` bytes.
    pub fn tailroom(&self, len: usize) -> usize {
        esp::tailroom(self.suite(), len)
    }
    /// Bytes needed after a payload of any length (for sizing reusable buffers).
    pub fn max_tailroom(&self) -> usize {
        esp::max_tailroom(self.suite())
    }

    /// Set the next outbound sequence number to `next` (tests, or resuming a persisted
    /// SA). Sequence numbers must never repeat under one key.
    pub fn set_next_seq(&mut self, next: u64) {
        self.seq = next.saturating_sub(1);
    }

    /// Inbound: resume after `highest`, the last sequence number accepted before a
    /// restart; every number at or below it is refused from now on.
    pub fn resume_inbound_at(&mut self, highest: u64) {
        self.replay = ReplayWindow::resume_at(highest);
    }

    /// Lifecycle transitions as a table over (state, event).
    fn on(&mut self, ev: LimitEvent) {
        let (spi, direction) = (self.spi, self.direction);
        let (next, emit) = match (self.state, ev) {
            (SaState::Mature, LimitEvent::Soft(limit)) => (
                SaState::Dying,
                Some(SaEvent::SoftExpired {
                    spi,
                    direction,
                    limit,
                }),
            ),
            (SaState::Dying, LimitEvent::Soft(_)) => (SaState::Dying, None),
            (SaState::Mature | SaState::Dying, LimitEvent::Hard(limit)) => (
                SaState::Expired,
                Some(SaEvent::HardExpired {
                    spi,
                    direction,
                    limit,
                }),
            ),
            (SaState::Expired, _) => (SaState::Expired, None),
        };
        self.state = next;
        if let Some(e) = emit {
            let slot = usize::from(matches!(e, SaEvent::HardExpired { .. }));
            self.pending[slot] = Some(e);
        }
    }

    fn check_limits(&mut self, now: Instant) {
        let (packets, bytes) = (self.packets, self.bytes);
        // Time limits are kept as deadlines so the per-packet check is a comparison.
        let reached = |l: &Limits, at: Option<Instant>| -> Option<LimitKind> {
            if l.packets.is_some_and(|p| packets >= p) {
                Some(LimitKind::Packets)
            } else if l.bytes.is_some_and(|b| bytes >= b) {
                Some(LimitKind::Bytes)
            } else if at.is_some_and(|t| now >= t) {
                Some(LimitKind::Time)
            } else {
                None
            }
        };
        let soft = match self.state {
            SaState::Mature => reached(&self.lifetimes.soft, self.soft_at),
            SaState::Dying | SaState::Expired => None,
        };
        let hard = match self.state {
            SaState::Mature | SaState::Dying => reached(&self.lifetimes.hard, self.hard_at),
            SaState::Expired => None,
        };
        if let Some(k) = soft {
            self.on(LimitEvent::Soft(k));
        }
        if let Some(k) = hard {
            self.on(LimitEvent::Hard(k));
        }
    }

    /// Advance time: raises time-based lifetime events.
    ///
    /// Calling it early (before [`poll_timeout`](Self::poll_timeout)) or twice is
    /// harmless: it only acts on limits that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.check_limits(now);
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            SaState::Mature => [self.soft_at, self.hard_at].into_iter().flatten().min(),
            SaState::Dying => self.hard_at,
            SaState::Expired => None,
        }
    }

    /// Next lifetime event, soft before hard.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.pending.iter_mut().find_map(Option::take)
    }

    /// Protect `buf[payload]` in place; see [`esp::seal_in_place`] for the buffer layout.
    /// Returns the ESP packet (a sub-slice of `buf`).
    pub fn seal<'a>(
        &mut self,
        now: Instant,
        buf: &'a mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<&'a mut [u8], OutboundError> {
        let spi = self.spi;
        if self.direction != Direction::Outbound {
            return Err(OutboundError::WrongDirection { spi });
        }
        self.check_limits(now);
        if self.state == SaState::Expired {
            return Err(OutboundError::Expired { spi });
        }
        let max = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.seq >= max {
            self.on(LimitEvent::Hard(LimitKind::Sequence));
            return Err(OutboundError::SequenceExhausted { spi });
        }
        let seq = self.seq + 1;
        let len = payload.end.saturating_sub(payload.start) as u64;
        let pkt = esp::seal_in_place(
            &self.transform,
            spi,
            seq,
            self.esn,
            None,
            buf,
            payload,
            next_header,
        )?;
        self.seq = seq;
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(len);
        // Soft-expire near the end of the sequence space so a rekey starts in time.
        if max - seq <= max / 16 {
            self.on(LimitEvent::Soft(LimitKind::Sequence));
        }
        self.check_limits(now);
        Ok(pkt)
    }

    /// The full sequence number the packet claims, before any crypto.
    fn claimed_seq(&self, hdr: &EspHeader) -> Option<u64> {
        if self.esn {
            self.replay.infer_esn(hdr.seq_lo)
        } else {
            Some(u64::from(hdr.seq_lo))
        }
    }

    /// Check, decrypt and verify an ESP packet in place (RFC 4303 section 3.4):
    /// replay check, ICV check, window update, trailer check. On error nothing is
    /// delivered and the window is unchanged unless the ICV verified.
    pub fn open<'a>(
        &mut self,
        now: Instant,
        pkt: &'a mut [u8],
    ) -> Result<Opened<'a>, InboundError> {
        let spi = self.spi;
        let hdr = EspHeader::parse(pkt)?;
        if hdr.spi != spi || self.direction != Direction::Inbound {
            return Err(InboundError::UnknownSpi { spi: hdr.spi });
        }
        let min = esp::min_len(self.suite());
        if pkt.len() < min {
            return Err(InboundError::Truncated {
                len: pkt.len(),
                min,
            });
        }
        self.check_limits(now);
        if self.state == SaState::Expired {
            return Err(InboundError::Expired { spi });
        }
        let seq = self.claimed_seq(&hdr).ok_or(InboundError::Replay {
            spi,
            seq: u64::from(hdr.seq_lo),
            kind: crate::replay::ReplayError::TooOld,
        })?;
        self.replay
            .check(seq)
            .map_err(|kind| InboundError::Replay { spi, seq, kind })?;
        let res = esp::open_in_place(&self.transform, pkt, seq, self.esn);
        let dec = match res {
            Ok(d) => d,
            Err(e @ InboundError::Integrity { .. }) => return Err(e),
            Err(e) => {
                // Authentic but malformed: the sequence number is spent.
                let _ = self.replay.update(seq);
                return Err(e);
            }
        };
        self.replay
            .update(seq)
            .map_err(|kind| InboundError::Replay { spi, seq, kind })?;
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(dec.payload.len() as u64);
        self.check_limits(now);
        let range = dec.payload.clone();
        Ok(Opened {
            spi,
            seq,
            next_header: dec.next_header,
            payload: &mut pkt[dec.payload],
            range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed_sa(now: Instant) -> SecurityAssociation {
        let mut p = SaParams::new(
            0x1234,
            Direction::Outbound,
            Suite::AesGcm128,
            vec![1; 20],
            vec![],
        );
        p.lifetimes.soft.time = Some(Duration::from_secs(10));
        p.lifetimes.hard.time = Some(Duration::from_secs(20));
        SecurityAssociation::new(now, &p, Backend::default()).unwrap()
    }

    #[test]
    fn early_or_repeated_timeout_is_harmless() {
        let t0 = Instant::now();
        let mut sa = timed_sa(t0);
        let due = sa.poll_timeout().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(10));
        for at in [t0, t0 + Duration::from_secs(9), t0 + Duration::from_secs(9)] {
            sa.handle_timeout(at);
            assert_eq!(sa.state(), SaState::Mature);
            assert_eq!(sa.poll_event(), None);
            assert_eq!(sa.poll_timeout(), Some(due));
        }
        // At the deadline the soft limit fires exactly once, even when called twice.
        sa.handle_timeout(due);
        sa.handle_timeout(due);
        assert_eq!(sa.state(), SaState::Dying);
        assert!(matches!(
            sa.poll_event(),
            Some(SaEvent::SoftExpired {
                limit: LimitKind::Time,
                ..
            })
        ));
        assert_eq!(sa.poll_event(), None);
        assert_eq!(sa.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    }
}
