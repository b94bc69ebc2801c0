//! Bidirectional Forwarding Detection (RFC 5880, single hop per RFC 5881) as a sans-IO
//! state machine: sub-second failure detection between two neighbors, for routing
//! protocols such as OSPFv3 to react to a dead path at once.
//!
//! A [`Session`] talks to one peer in asynchronous mode (demand mode off, no echo):
//!
//! * inputs, each with the current `now`: [`Session::handle_packet`] (a received UDP
//!   payload and its TTL / hop limit), [`Session::handle_timeout`],
//!   [`Session::admin_down`], [`Session::admin_up`], [`Session::set_timers`],
//!   [`Session::set_detect_mult`];
//! * outputs, drained after every input: [`Session::poll_transmit`] ([`Transmit`]: the
//!   payload to send to UDP port [`encap::CONTROL_PORT`] with TTL 255, in a fixed
//!   array), [`Session::poll_event`] ([`Event::StateChanged`]) and
//!   [`Session::poll_timeout`].
//!
//! The session never reads a clock, opens a socket or draws randomness of its own:
//! the local discriminator, the jitter of every interval (RFC 5880 6.8.7) and the
//! initial authentication sequence number come from the `rand_core` 0.10 `Rng` handed
//! to [`Session::new`].
//!
//! What it implements: the state table of RFC 5880 6.2/6.8.6 (AdminDown, Down, Init,
//! Up) in one `match`; the transmit interval max(Desired Min TX, remote Required Min
//! RX), at least 1 s until Up; the detection time remote Detect Mult x max(Required Min
//! RX, remote Desired Min TX); Poll/Final sequences for timer changes (and for the
//! switch from the 1 s interval to the configured one when the session comes Up);
//! diagnostics 1 (detection time expired), 3 (neighbor signaled down) and 7
//! (administratively down); authentication (Simple Password, Keyed and Meticulous Keyed
//! MD5 and SHA1) with constant-time digest checks and sequence windows (6.7).
//!
//! The codec is [`packet`]: [`ControlPacket`] with separate structural parsing and
//! RFC 5880 6.8.6 packet checks. [`encap`] holds the RFC 5881 facts; the TTL check is
//! done by [`Session::handle_packet`] itself. The `tokio` feature adds `tokio_udp::BfdSocket`,
//! the UDP adapter that sends with TTL 255 and reports the TTL of what it receives.
//!
//! # Example
//!
//! Two sessions wired back to back with a virtual clock come Up:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bfd::{Config, Event, Session, State};
//! use rand::SeedableRng;
//! use rand::rngs::StdRng;
//!
//! let mut now = Instant::now();
//! let mut a = Session::new(now, Config::default(), StdRng::seed_from_u64(1)).unwrap();
//! let mut b = Session::new(now, Config::default(), StdRng::seed_from_u64(2)).unwrap();
//! for _ in 0..100 {
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     // deliver at once, in both directions, until nothing is left to send
//!     loop {
//!         let mut sent = false;
//!         while let Some(t) = a.poll_transmit() {
//!             b.handle_packet(now, t.payload(), 255).unwrap();
//!             sent = true;
//!         }
//!         while let Some(t) = b.poll_transmit() {
//!             a.handle_packet(now, t.payload(), 255).unwrap();
//!             sent = true;
//!         }
//!         if !sent {
//!             break;
//!         }
//!     }
//!     now = a.poll_timeout().into_iter().chain(b.poll_timeout()).min().unwrap();
//! }
//! assert_eq!((a.state(), b.state()), (State::Up, State::Up));
//! let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
//! assert!(events.contains(&Event::StateChanged {
//!     from: State::Down,
//!     to: State::Up,
//!     diag: bfd::Diagnostic::None,
//! }) || events.iter().any(|e| matches!(e, Event::StateChanged { to: State::Up, .. })));
//! // Up, the sessions run at the configured 300 ms after a Poll/Final sequence.
//! assert_eq!(a.transmit_interval(), Some(Duration::from_millis(300)));
//! assert_eq!(a.detection_time(), Some(Duration::from_millis(900)));
//! ```

pub mod encap;
pub mod packet;
mod session;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio_udp;

pub use packet::{
    AuthSection, AuthType, ControlPacket, DecodeError, Diagnostic, EncodeError, State,
};
pub use session::{
    AuthConfig, Config, ConfigError, Event, RxError, SLOW_TX, Session, Stats, Transmit,
};

/// The README's example program, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
