//! Sans-IO L2TPv3 (RFC 3931) with Ethernet pseudowires (RFC 4719).
//!
//! This crate holds the control and data message codec, the reliable control
//! transport, the control-connection and session state machines, message
//! authentication and an in-place data path. It opens no sockets, reads no clock
//! and draws no randomness of its own: [`Endpoint`] takes `handle_*(now, ...)`
//! inputs and is drained with `poll_transmit`, `poll_event` and `poll_timeout`.
//!
//! # Driving an endpoint
//!
//! Two endpoints, driven from the caller's own loop, bring up a control
//! connection and an Ethernet pseudowire and carry one frame:
//!
//! ```
//! use std::time::Instant;
//!
//! use l2tpv3::{Config, Endpoint, Event, MAX_DATA_HEADER_LEN, SessionRequest};
//! use rand::SeedableRng;
//! use rand::rngs::StdRng;
//!
//! fn main() {
//!     // Two LCCEs. A peer is named by whatever the caller uses as an address (a
//!     // SocketAddr over UDP); randomness comes from the caller's RNG.
//!     let mut a = Endpoint::new(Config::new("lcce-a", 1), StdRng::seed_from_u64(1));
//!     let mut b = Endpoint::new(Config::new("lcce-b", 2), StdRng::seed_from_u64(2));
//!     let mut now = Instant::now();
//!
//!     let ccid = a.connect(now, "b").expect("connect");
//!     let sid = a
//!         .open_session(now, ccid, SessionRequest::ethernet("pw-1"))
//!         .expect("open session");
//!
//!     // The user's event loop: after every input, drain transmits and events; when
//!     // nothing is in flight, move time to the next timer and call handle_timeout.
//!     // The pseudowire is up when both ends say so (the initiator first).
//!     let (mut a_up, mut b_up) = (false, false);
//!     while !(a_up && b_up) {
//!         let mut moved = false;
//!         while let Some(t) = a.poll_transmit() {
//!             b.handle_datagram(now, "a", &t.contents);
//!             moved = true;
//!         }
//!         while let Some(t) = b.poll_transmit() {
//!             a.handle_datagram(now, "b", &t.contents);
//!             moved = true;
//!         }
//!         while let Some(e) = a.poll_event() {
//!             println!("a: {e:?}");
//!             if let Event::SessionUp { session_id, .. } = e {
//!                 a_up |= session_id == sid;
//!             }
//!         }
//!         while let Some(e) = b.poll_event() {
//!             println!("b: {e:?}");
//!             b_up |= matches!(e, Event::SessionUp { .. });
//!         }
//!         if !moved && !(a_up && b_up) {
//!             now = [a.poll_timeout(), b.poll_timeout()]
//!                 .into_iter()
//!                 .flatten()
//!                 .min()
//!                 .expect("a timer runs while the session comes up");
//!             a.handle_timeout(now);
//!             b.handle_timeout(now);
//!         }
//!     }
//!
//!     // Data: a frame read behind MAX_DATA_HEADER_LEN bytes of headroom is
//!     // encapsulated in place; the receiver checks it (Session ID, cookie in constant
//!     // time) and hands back the frame borrowed from the datagram. No allocation.
//!     let mut buf = vec![0u8; MAX_DATA_HEADER_LEN + 64];
//!     buf[MAX_DATA_HEADER_LEN..].fill(0xab);
//!     let packet = a
//!         .encapsulate(sid, &mut buf, MAX_DATA_HEADER_LEN)
//!         .expect("session established");
//!     assert_eq!(*packet.destination, "b");
//!     let frame = b
//!         .handle_datagram(now, "a", packet.contents)
//!         .expect("a data packet for an established session");
//!     assert_eq!(frame.payload, &[0xab; 64][..]);
//!     println!(
//!         "{}-byte frame on session {:#010x}",
//!         frame.payload.len(),
//!         frame.session_id
//!     );
//! }
//! ```
//!
//! # Modules
//!
//! | module | RFC 3931 | what |
//! |---|---|---|
//! | [`header`] | 3.2.1, 4.1.1.2 | control header over UDP and over IP |
//! | [`avp`] | 5 | typed AVPs; unknown, vendor and hidden AVPs kept raw with their M bit |
//! | [`message`] | 3.1, 6 | message types, control messages, ZLB, Message Digest offsets |
//! | [`mod@validate`] | 5.2, 6, 7.1 | required AVPs per message type, mapped to Result/Error codes |
//! | [`data`] | 4.1, 4.6 | data header, cookies, Default L2-Specific Sublayer, in-place encap/decap |
//! | [`packet`] | 4.1 | telling control from data on receipt |
//! | [`error`] | | typed errors with offsets |
//! | [`control`] | 4.2, 4.3, 7 | the control plane: [`Endpoint`] and [`control::auth`] |
//!
//! Decoding never panics, never trusts a length beyond the bytes present and never
//! allocates more than the input holds; parsing uses `nom`, encoding writes into
//! caller buffers through `bytes::BufMut`. Parsing and validation are separate
//! steps: a message missing a required AVP still decodes, and [`validate::validate`]
//! says which AVP is missing and what to answer.
//!
//! Dependencies: `nom` for parsing (small combinators over byte slices, no unsafe
//! needed here), `bytes` for `BufMut` encoding and `BytesMut` headroom, so data
//! packets are encapsulated and decapsulated without copying, and `thiserror` for the
//! error enums. The optional `tokio` feature adds a `tokio_util::codec` adapter.
//!
//! # The wire layer
//!
//! ```
//! use bytes::BytesMut;
//! use l2tpv3::avp::{Avp, AvpValue, PwType};
//! use l2tpv3::data::{self, Cookie, DataHeader, DefaultSublayer};
//! use l2tpv3::header::{ControlHeader, Encapsulation};
//! use l2tpv3::message::{ControlMessage, MessageType};
//!
//! // An SCCRQ over UDP.
//! let sccrq = ControlMessage::new(
//!     ControlHeader { ccid: 0, ns: 0, nr: 0 },
//!     MessageType::Sccrq,
//!     vec![
//!         Avp::new(AvpValue::HostName(b"lcce-a".to_vec())),
//!         Avp::new(AvpValue::RouterId(0x0a00_0001)),
//!         Avp::new(AvpValue::AssignedControlConnectionId(0x2f5c_0001)),
//!         Avp::new(AvpValue::PseudowireCapabilities(vec![PwType::ETHERNET])),
//!     ],
//! );
//! let bytes = sccrq.to_vec(Encapsulation::Udp)?;
//! let back = ControlMessage::decode(&bytes, Encapsulation::Udp)?;
//! assert_eq!(back, sccrq);
//! l2tpv3::validate::validate(&back)?;
//!
//! // An Ethernet frame in a buffer with headroom, encapsulated in place.
//! let frame = [0xffu8; 60];
//! let mut buf = BytesMut::with_capacity(data::MAX_DATA_HEADER_LEN + frame.len());
//! buf.resize(data::MAX_DATA_HEADER_LEN, 0);
//! buf.extend_from_slice(&frame);
//! let header = DataHeader {
//!     session_id: 0x0000_1234,
//!     cookie: Cookie::Four(*b"\x01\x02\x03\x04"),
//!     sublayer: Some(DefaultSublayer::sequenced(7)),
//! };
//! data::encapsulate(&mut buf, data::MAX_DATA_HEADER_LEN, &header, Encapsulation::Ip)?;
//! assert_eq!(buf.len(), 12 + frame.len());
//! let got = data::decapsulate(&mut buf, &header.config(Encapsulation::Ip))?;
//! assert_eq!(got, header);
//! assert_eq!(&buf[..], &frame[..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod avp;
pub mod control;
pub mod data;
pub mod error;
pub mod header;
pub mod message;
pub mod packet;
pub mod validate;

pub use avp::{Avp, AvpType, AvpValue, CircuitErrors, PwType, ResultCode};
pub use control::{
    CommandError, Config, ConnState, ConnectionInfo, DataDrop, DataIn, DownReason, Endpoint,
    EndpointStats, Event, ReliableConfig, ReliableStats, SessionInfo, SessionRequest, SessionState,
    SessionTemplates, Transmit,
};
pub use data::{
    Cookie, CookieLen, DataHeader, DataPacket, DecapError, DefaultSublayer, HeaderTemplate,
    MAX_DATA_HEADER_LEN, OutOfOrder, SequenceCheck, SessionConfig,
};
pub use error::{AvpValueError, ControlError, DataError, EncodeError};
pub use header::{ControlHeader, Encapsulation};
pub use message::{ControlMessage, MessageType};
pub use packet::{Packet, PacketError};
pub use validate::{ValidationError, validate};
#[cfg(feature = "tokio")]
pub mod tokio_codec;
