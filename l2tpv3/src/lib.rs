//! Sans-IO L2TPv3 (RFC 3931) with Ethernet pseudowires (RFC 4719): the wire layer.
//!
//! This crate holds the control and data message codec. It opens no sockets and
//! reads no clock. The reliable control transport, the control-connection and
//! session state machines and message authentication build on these types.
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
//! | [`control`] | 4.2, 4.3, 7 | the control plane built on these types |
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
//! # Example
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
    CommandError, Config, ConnState, ConnectionInfo, DataIn, DownReason, Endpoint, EndpointStats,
    Event, ReliableConfig, ReliableStats, SessionInfo, SessionRequest, SessionState, Transmit,
};
pub use data::{
    Cookie, CookieLen, DataHeader, DataPacket, DecapError, DefaultSublayer, HeaderTemplate,
    MAX_DATA_HEADER_LEN, SessionConfig,
};
pub use error::{AvpValueError, ControlError, DataError, EncodeError};
pub use header::{ControlHeader, Encapsulation};
pub use message::{ControlMessage, MessageType};
pub use packet::{Packet, PacketError};
pub use validate::{ValidationError, validate};
#[cfg(feature = "tokio")]
pub mod tokio_codec;
