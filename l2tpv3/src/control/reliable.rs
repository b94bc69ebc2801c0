//! Reliable delivery of control messages (RFC 3931 section 4.2 and Appendix A).
//!
//! [`Reliable`] is the sliding-window transport under one control connection. It
//! knows nothing about message contents: the upper layer queues messages with
//! [`Reliable::send`], feeds received headers and bodies to [`Reliable::receive`],
//! drains in-order messages with [`Reliable::poll_delivered`] and what must go on
//! the wire with [`Reliable::poll_transmit`]. Messages are kept unencoded, so a
//! retransmission carries the current Nr (and, above this layer, a fresh digest).
//!
//! * Ns and Nr wrap modulo 2^16 ([`crate::control::seq`]).
//! * At most `min(cwnd, peer window)` messages are unacknowledged; the peer window
//!   is 4 until its Receive Window Size AVP says otherwise.
//! * Slow start and congestion avoidance follow Appendix A: cwnd starts at 1 and
//!   ssthresh at the peer window; a retransmission halves ssthresh and resets cwnd.
//! * The oldest unacknowledged message is retransmitted after
//!   [`ReliableConfig::retransmit_initial`], doubling up to
//!   [`ReliableConfig::retransmit_cap`]; after
//!   [`ReliableConfig::max_retransmissions`] unanswered retransmissions the
//!   transport reports [`Reliable::is_failed`].
//! * Duplicates are acknowledged again and not delivered; messages ahead of the
//!   expected Ns are held (inside our advertised window) until the gap fills.
//! * An explicit acknowledgement is produced only when nothing queued can carry Nr.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::seq;

/// The peer's window when it sends no Receive Window Size AVP (section 5.4.3).
pub const DEFAULT_PEER_WINDOW: u16 = 4;

/// Tunables of the reliable control transport (RFC 3931 section 4.2, [`crate::Config::reliable`]);
/// [`Default`] gives the RFC's recommendations. `#[non_exhaustive]`: change fields
/// on `ReliableConfig::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReliableConfig {
    /// Delay before the first retransmission. Default 1 s (section 4.2).
    pub retransmit_initial: Duration,
    /// Largest interval between retransmissions. Default 8 s; the RFC says a cap
    /// SHOULD be no less than 8 s.
    pub retransmit_cap: Duration,
    /// Unanswered retransmissions of one message before the connection is given
    /// up. Default 10.
    pub max_retransmissions: u32,
    /// Our Receive Window Size, advertised to the peer; also bounds how many
    /// out-of-order messages are held. Default 16.
    pub receive_window: u16,
    /// Bytes of out-of-order messages held on one control connection (their
    /// encoded size: messages are held as received bytes, not decoded). A message
    /// that would go beyond is dropped and counted
    /// ([`ReliableStats::held_budget_exceeded`]); the peer retransmits it. Default
    /// 16 KiB, against 15 held messages of up to 64 KiB each that the window alone
    /// would allow.
    pub max_held_bytes: usize,
    /// Messages queued for sending on one control connection (sent or not,
    /// unacknowledged) before more are refused. Default 4096.
    pub max_send_queue: usize,
}

impl Default for ReliableConfig {
    fn default() -> Self {
        ReliableConfig {
            retransmit_initial: Duration::from_secs(1),
            retransmit_cap: Duration::from_secs(8),
            max_retransmissions: 10,
            receive_window: 16,
            max_held_bytes: 16 * 1024,
            max_send_queue: 4096,
        }
    }
}

impl ReliableConfig {
    /// Interval before retransmission number `n` (0 = the first one).
    pub fn backoff(&self, n: u32) -> Duration {
        let mut d = self.retransmit_initial;
        for _ in 0..n {
            d = d.saturating_mul(2);
            if d >= self.retransmit_cap {
                return self.retransmit_cap.max(self.retransmit_initial);
            }
        }
        d.min(self.retransmit_cap.max(self.retransmit_initial))
    }

    /// A full retransmission cycle: the time from the first transmission until
    /// the transport gives up (1 + 2 + 4 + 8 + 8 + ... with the defaults). Section
    /// 4.2 keeps a closing connection alive this long after its StopCCN.
    pub fn retransmission_cycle(&self) -> Duration {
        (0..=self.max_retransmissions)
            .map(|n| self.backoff(n))
            .sum()
    }
}

/// What the transport wants sent: a queued message or an explicit acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<M> {
    /// Ns for the header.
    pub ns: u16,
    /// Nr for the header: the next Ns expected from the peer.
    pub nr: u16,
    /// The message, or `None` for an explicit acknowledgement (an ACK message, or
    /// a ZLB when authentication is off), which takes no sequence slot.
    pub message: Option<M>,
    /// Whether this is a retransmission.
    pub retransmission: bool,
}

/// How [`Reliable::receive`] classified a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// In order: delivered, possibly with held messages after it.
    InOrder,
    /// An explicit acknowledgement (no message body): only Nr was used.
    AckOnly,
    /// Already received: acknowledged again, not delivered.
    Duplicate,
    /// Ahead of the expected Ns and inside our window: held until the gap fills.
    Held,
    /// Ahead of our window, or the hold's byte budget is spent: dropped (the peer
    /// retransmits).
    OutOfWindow,
    /// Nr acknowledges something never sent: the message is invalid and ignored.
    BadNr,
}

/// Counters of the transport, for observability and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReliableStats {
    /// Messages queued for reliable delivery.
    pub queued: u64,
    /// Messages refused because the send queue was full.
    pub dropped_queue_full: u64,
    /// First transmissions.
    pub transmitted: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Explicit acknowledgements produced.
    pub explicit_acks: u64,
    /// Messages delivered in order to the upper layer.
    pub delivered: u64,
    /// Duplicates received (and re-acknowledged).
    pub duplicates: u64,
    /// Out-of-order messages held.
    pub held: u64,
    /// Messages dropped for lying outside the receive window.
    pub out_of_window: u64,
    /// Messages dropped for an impossible Nr.
    pub bad_nr: u64,
    /// Out-of-order messages dropped because holding them would exceed
    /// [`ReliableConfig::max_held_bytes`].
    pub held_budget_exceeded: u64,
}

/// What a held message costs against [`ReliableConfig::max_held_bytes`].
pub(crate) trait HeldSize {
    /// Bytes this message accounts for while held.
    fn held_size(&self) -> usize;
}

impl HeldSize for Vec<u8> {
    fn held_size(&self) -> usize {
        self.len()
    }
}

impl HeldSize for u32 {
    fn held_size(&self) -> usize {
        4
    }
}

struct Queued<M> {
    message: M,
    /// Not (re)transmitted since it was queued or since the last timeout.
    needs_send: bool,
    /// Transmitted at least once.
    ever_sent: bool,
}

/// The reliable delivery state of one control connection: messages of type `S` are
/// sent, messages of type `R` received.
pub struct Reliable<S, R = S> {
    config: ReliableConfig,
    /// Unacknowledged messages; the front has Ns `una`.
    queue: VecDeque<Queued<S>>,
    una: u16,
    /// One past the highest Ns ever transmitted.
    high_sent: u16,
    peer_window: u16,
    cwnd: u16,
    ssthresh: u16,
    /// New acknowledgements counted during congestion avoidance.
    ca_acked: u16,
    /// Retransmissions of the current front message.
    retries: u32,
    timer: Option<Instant>,
    /// Next Ns expected from the peer (our Nr).
    expected: u16,
    held: BTreeMap<u16, R>,
    /// Sum of [`HeldSize::held_size`] over `held`.
    held_bytes: usize,
    delivered: VecDeque<(u16, R)>,
    ack_due: bool,
    failed: bool,
    stats: ReliableStats,
}

impl<S: Clone, R: HeldSize> Reliable<S, R> {
    /// A fresh transport: Ns and Nr start at 0, the peer window at 4.
    pub fn new(config: ReliableConfig) -> Self {
        Reliable {
            config,
            queue: VecDeque::new(),
            una: 0,
            high_sent: 0,
            peer_window: DEFAULT_PEER_WINDOW,
            cwnd: 1,
            ssthresh: DEFAULT_PEER_WINDOW,
            ca_acked: 0,
            retries: 0,
            timer: None,
            expected: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            delivered: VecDeque::new(),
            ack_due: false,
            failed: false,
            stats: ReliableStats::default(),
        }
    }

    /// Applies the peer's Receive Window Size AVP (section 5.4.3). Zero is not a
    /// valid window and is ignored. ssthresh starts at the advertised window.
    pub fn set_peer_window(&mut self, window: u16) {
        if window == 0 {
            return;
        }
        self.peer_window = window;
        self.ssthresh = window;
        self.cwnd = self.cwnd.min(window);
    }

    #[cfg(test)]
    /// The congestion window (Appendix A).
    pub fn cwnd(&self) -> u16 {
        self.cwnd
    }

    #[cfg(test)]
    /// The slow-start threshold (Appendix A).
    pub fn ssthresh(&self) -> u16 {
        self.ssthresh
    }

    /// Counters.
    pub fn stats(&self) -> ReliableStats {
        self.stats
    }

    /// The Nr we would send now.
    pub fn next_expected(&self) -> u16 {
        self.expected
    }

    /// The Ns the next queued message gets.
    pub fn next_ns(&self) -> u16 {
        self.una.wrapping_add(self.queue.len() as u16)
    }

    /// Messages queued and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.queue.len()
    }

    #[cfg(test)]
    /// Out-of-order messages held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is waiting for an acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether the retry limit was reached: the connection must be cleared.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Queues a message and returns its Ns, or gives it back when the queue is full.
    pub fn send(&mut self, message: S) -> Result<u16, S> {
        if self.queue.len() >= self.config.max_send_queue
            || self.queue.len() >= usize::from(seq::HALF)
        {
            self.stats.dropped_queue_full += 1;
            return Err(message);
        }
        let ns = self.next_ns();
        self.queue.push_back(Queued {
            message,
            needs_send: true,
            ever_sent: false,
        });
        self.stats.queued += 1;
        Ok(ns)
    }

    /// Handles a received header and body (`None` for an explicit acknowledgement).
    pub fn receive(&mut self, now: Instant, ns: u16, nr: u16, message: Option<R>) -> Received {
        let in_flight = seq::distance(self.una, self.high_sent);
        let acked = seq::distance(self.una, nr);
        if acked > in_flight {
            self.stats.bad_nr += 1;
            return Received::BadNr;
        }
        if acked > 0 {
            self.on_ack(now, acked);
        }
        let Some(message) = message else {
            return Received::AckOnly;
        };
        if ns == self.expected {
            self.deliver(message);
            while let Some(next) = self.held.remove(&self.expected) {
                self.held_bytes -= next.held_size();
                self.deliver(next);
            }
            self.ack_due = true;
            Received::InOrder
        } else if seq::is_duplicate(ns, self.expected) {
            self.stats.duplicates += 1;
            self.ack_due = true;
            Received::Duplicate
        } else if seq::distance(self.expected, ns) < self.config.receive_window {
            self.ack_due = true;
            match self.held.entry(ns) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    self.stats.duplicates += 1;
                    Received::Duplicate
                }
                std::collections::btree_map::Entry::Vacant(_)
                    if self.held_bytes + message.held_size() > self.config.max_held_bytes =>
                {
                    self.stats.held_budget_exceeded += 1;
                    Received::OutOfWindow
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    self.held_bytes += message.held_size();
                    slot.insert(message);
                    self.stats.held += 1;
                    Received::Held
                }
            }
        } else {
            self.stats.out_of_window += 1;
            Received::OutOfWindow
        }
    }

    fn deliver(&mut self, message: R) {
        self.delivered.push_back((self.expected, message));
        self.expected = self.expected.wrapping_add(1);
        self.stats.delivered += 1;
    }

    fn on_ack(&mut self, now: Instant, acked: u16) {
        for _ in 0..acked {
            self.queue.pop_front();
            // Appendix A: +1 per acknowledgement in slow start, +1/cwnd after.
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
            } else {
                self.ca_acked += 1;
                if self.ca_acked >= self.cwnd {
                    self.ca_acked = 0;
                    self.cwnd = self.cwnd.saturating_add(1);
                }
            }
        }
        self.cwnd = self.cwnd.min(self.peer_window);
        self.una = self.una.wrapping_add(acked);
        self.retries = 0;
        self.timer = self
            .queue
            .front()
            .filter(|q| q.ever_sent)
            .map(|_| now + self.config.retransmit_initial);
    }

    /// The next message received in order, with its Ns, for the upper layer.
    pub fn poll_delivered(&mut self) -> Option<(u16, R)> {
        self.delivered.pop_front()
    }

    /// The next thing to put on the wire, if any. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<S>> {
        if self.failed {
            return None;
        }
        let window = usize::from(self.cwnd.min(self.peer_window).max(1));
        if let Some((index, q)) = self
            .queue
            .iter_mut()
            .take(window)
            .enumerate()
            .find(|(_, q)| q.needs_send)
        {
            let retransmission = q.ever_sent;
            q.needs_send = false;
            q.ever_sent = true;
            let ns = self.una.wrapping_add(index as u16);
            if seq::le(self.high_sent, ns) {
                self.high_sent = ns.wrapping_add(1);
            }
            if retransmission {
                self.stats.retransmitted += 1;
            } else {
                self.stats.transmitted += 1;
            }
            if self.timer.is_none() {
                self.timer = Some(now + self.config.backoff(self.retries));
            }
            self.ack_due = false;
            return Some(Transmit {
                ns,
                nr: self.expected,
                message: Some(q.message.clone()),
                retransmission,
            });
        }
        if self.ack_due {
            self.ack_due = false;
            self.stats.explicit_acks += 1;
            return Some(Transmit {
                ns: self.high_sent,
                nr: self.expected,
                message: None,
                retransmission: false,
            });
        }
        None
    }

    /// When [`Reliable::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Fires the retransmission timer if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.timer else { return };
        if now < at {
            return;
        }
        if self.retries >= self.config.max_retransmissions {
            self.failed = true;
            self.timer = None;
            return;
        }
        self.retries += 1;
        // Appendix A: congestion; half of cwnd to ssthresh, cwnd back to one.
        self.ssthresh = (self.cwnd / 2).max(1);
        self.cwnd = 1;
        self.ca_acked = 0;
        for q in self.queue.iter_mut().filter(|q| q.ever_sent) {
            q.needs_send = true;
        }
        self.timer = Some(now + self.config.backoff(self.retries));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Reliable<u32>, Reliable<u32>, Instant) {
        (
            Reliable::new(ReliableConfig::default()),
            Reliable::new(ReliableConfig::default()),
            Instant::now(),
        )
    }

    fn drain(r: &mut Reliable<u32>, now: Instant) -> Vec<Transmit<u32>> {
        std::iter::from_fn(|| r.poll_transmit(now)).collect()
    }

    #[test]
    fn backoff_sequence_and_cycle() {
        let c = ReliableConfig::default();
        let b: Vec<u64> = (0..6).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(b, [1, 2, 4, 8, 8, 8]);
        // 1 + 2 + 4 + 8 * 8
        assert_eq!(c.retransmission_cycle(), Duration::from_secs(71));
    }

    #[test]
    fn appendix_b1_lock_step() {
        let (mut a, mut b, t) = pair();
        a.send(1).unwrap(); // SCCRQ
        let tx = drain(&mut a, t);
        assert_eq!((tx[0].ns, tx[0].nr), (0, 0));
        assert_eq!(b.receive(t, 0, 0, Some(1)), Received::InOrder);
        assert_eq!(b.poll_delivered(), Some((0, 1)));
        b.send(2).unwrap(); // SCCRP piggybacks the acknowledgement
        let tx = drain(&mut b, t);
        assert_eq!(tx.len(), 1);
        assert_eq!((tx[0].ns, tx[0].nr), (0, 1));
        assert_eq!(a.receive(t, 0, 1, Some(2)), Received::InOrder);
        assert!(a.is_idle());
        a.send(3).unwrap(); // SCCCN
        let tx = drain(&mut a, t);
        assert_eq!((tx[0].ns, tx[0].nr), (1, 1));
        b.receive(t, 1, 1, Some(3));
        let tx = drain(&mut b, t);
        // Nothing to piggyback on: an explicit ACK with Nr 2, Ns 1.
        assert_eq!(
            tx,
            [Transmit {
                ns: 1,
                nr: 2,
                message: None,
                retransmission: false
            }]
        );
        assert!(b.is_idle());
    }

    #[test]
    fn appendix_b2_duplicate_is_reacked() {
        let (_, mut b, t) = pair();
        b.receive(t, 0, 0, Some(10));
        b.receive(t, 1, 0, Some(11));
        let _ = drain(&mut b, t);
        assert_eq!(b.receive(t, 1, 0, Some(11)), Received::Duplicate);
        assert_eq!(b.poll_delivered(), Some((0, 10)));
        assert_eq!(b.poll_delivered(), Some((1, 11)));
        assert_eq!(b.poll_delivered(), None);
        let tx = drain(&mut b, t);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].nr, 2);
        assert!(tx[0].message.is_none());
    }

    #[test]
    fn holds_out_of_order_then_delivers_in_order() {
        let (_, mut b, t) = pair();
        assert_eq!(b.receive(t, 2, 0, Some(2)), Received::Held);
        assert_eq!(b.receive(t, 1, 0, Some(1)), Received::Held);
        assert_eq!(b.receive(t, 2, 0, Some(2)), Received::Duplicate);
        assert_eq!(b.poll_delivered(), None);
        assert_eq!(b.receive(t, 0, 0, Some(0)), Received::InOrder);
        let got: Vec<u32> = std::iter::from_fn(|| b.poll_delivered().map(|d| d.1)).collect();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(b.held(), 0);
        assert_eq!(b.receive(t, 40, 0, Some(40)), Received::OutOfWindow);
    }

    #[test]
    fn held_messages_are_bounded_by_bytes() {
        let cfg = ReliableConfig {
            max_held_bytes: 10,
            ..ReliableConfig::default()
        };
        let mut b: Reliable<u32, Vec<u8>> = Reliable::new(cfg);
        let t = Instant::now();
        assert_eq!(b.receive(t, 1, 0, Some(vec![1; 6])), Received::Held);
        // 6 + 6 > 10: dropped and counted, not held.
        assert_eq!(b.receive(t, 2, 0, Some(vec![2; 6])), Received::OutOfWindow);
        assert_eq!(b.stats().held_budget_exceeded, 1);
        assert_eq!(b.receive(t, 2, 0, Some(vec![2; 4])), Received::Held);
        assert_eq!(b.held_bytes, 10);
        // Delivery releases the budget.
        assert_eq!(b.receive(t, 0, 0, Some(vec![0])), Received::InOrder);
        assert_eq!((b.held(), b.held_bytes), (0, 0));
        assert_eq!(b.receive(t, 4, 0, Some(vec![4; 10])), Received::Held);
    }

    #[test]
    fn rejects_nr_beyond_what_was_sent() {
        let (mut a, _, t) = pair();
        a.send(1).unwrap();
        let _ = drain(&mut a, t);
        assert_eq!(a.receive(t, 0, 2, Some(9)), Received::BadNr);
        assert_eq!(a.poll_delivered(), None);
        assert_eq!(a.unacknowledged(), 1);
    }

    #[test]
    fn window_of_four_by_default_and_slow_start() {
        let (mut a, _, t) = pair();
        for i in 0..10 {
            a.send(i).unwrap();
        }
        // cwnd starts at 1.
        assert_eq!(drain(&mut a, t).len(), 1);
        a.receive(t, 0, 1, None);
        assert_eq!(a.cwnd(), 2);
        assert_eq!(drain(&mut a, t).len(), 2);
        a.receive(t, 0, 3, None);
        // cwnd reaches ssthresh = peer window 4 and stays there.
        assert_eq!(a.cwnd(), 4);
        assert_eq!(drain(&mut a, t).len(), 4);
        a.receive(t, 0, 7, None);
        assert_eq!(a.cwnd(), 4);
    }

    #[test]
    fn congestion_avoidance_is_linear() {
        let (mut a, _, t) = pair();
        a.set_peer_window(64);
        a.ssthresh = 2;
        for i in 0..40 {
            a.send(i).unwrap();
        }
        let mut acked = 0u16;
        let mut sizes = Vec::new();
        for _ in 0..5 {
            let n = drain(&mut a, t).len() as u16;
            sizes.push(n);
            acked += n;
            a.receive(t, 0, acked, None);
        }
        // 1 (slow start) -> 2 (threshold) -> +1 per window of acks.
        assert_eq!(sizes, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn retransmits_with_backoff_then_fails() {
        let (mut a, _, t0) = pair();
        a.send(7).unwrap();
        assert_eq!(drain(&mut a, t0).len(), 1);
        let mut at = Vec::new();
        let mut now = t0;
        while let Some(deadline) = a.poll_timeout() {
            now = deadline;
            a.handle_timeout(now);
            for tx in drain(&mut a, now) {
                assert!(tx.retransmission);
                at.push((now - t0).as_secs());
            }
        }
        assert_eq!(at, [1, 3, 7, 15, 23, 31, 39, 47, 55, 63]);
        assert!(a.is_failed());
        assert_eq!((now - t0).as_secs(), 71);
    }

    #[test]
    fn timeout_halves_window() {
        let (mut a, _, t) = pair();
        a.set_peer_window(8);
        for i in 0..8 {
            a.send(i).unwrap();
        }
        let mut acked = 0u16;
        for _ in 0..3 {
            let n = drain(&mut a, t).len() as u16;
            acked += n;
            a.receive(t, 0, acked, None);
        }
        assert_eq!(a.cwnd(), 8);
        assert_eq!(drain(&mut a, t).len(), 1);
        let deadline = a.poll_timeout().unwrap();
        a.handle_timeout(deadline);
        assert_eq!((a.cwnd(), a.ssthresh()), (1, 4));
        let tx = drain(&mut a, deadline);
        assert_eq!(tx.len(), 1);
        assert!(tx[0].retransmission);
    }

    #[test]
    fn sequence_wraps_around() {
        let (mut a, mut b, t) = pair();
        a.una = 65534;
        a.high_sent = 65534;
        b.expected = 65534;
        for i in 0..6 {
            a.send(i).unwrap();
        }
        a.set_peer_window(16);
        a.cwnd = 16;
        for tx in drain(&mut a, t) {
            b.receive(t, tx.ns, tx.nr, tx.message);
        }
        let got: Vec<u32> = std::iter::from_fn(|| b.poll_delivered().map(|d| d.1)).collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        assert_eq!(b.next_expected(), 4);
        let ack = drain(&mut b, t).pop().unwrap();
        assert_eq!(a.receive(t, ack.ns, ack.nr, None), Received::AckOnly);
        assert!(a.is_idle());
    }
}
