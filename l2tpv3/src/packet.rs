//! Telling control from data messages on receipt (RFC 3931 sections 4.1.1.2 and
//! 4.1.2.1): over IP by the zero Session ID, over UDP by the T bit.

use thiserror::Error;

use crate::data::{DataPacket, SessionConfig};
use crate::error::{ControlError, DataError};
use crate::header::{Encapsulation, FLAG_T};
use crate::message::ControlMessage;

/// A received L2TPv3 packet (the IP payload or UDP payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A control message (or ZLB).
    Control(ControlMessage),
    /// A data message, its payload borrowed from the input.
    Data(DataPacket<'a>),
}

/// Why a received packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Too short to tell control from data.
    #[error("{available} bytes are too few to tell control from data (need {needed})")]
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The packet is a control message that failed to decode.
    #[error("control message: {0}")]
    Control(#[from] ControlError),
    /// The packet is a data message that failed to decode.
    #[error("data message: {0}")]
    Data(#[from] DataError),
}

impl<'a> Packet<'a> {
    /// Decodes a packet. `config` gives the encapsulation and, for data messages, the
    /// cookie length and sublayer presence (a real receiver looks the session up by
    /// its ID first; this is for single-session tools and tests).
    pub fn decode(buf: &'a [u8], config: &SessionConfig) -> Result<Packet<'a>, PacketError> {
        let is_control = match config.encapsulation {
            Encapsulation::Ip => match buf.get(..4) {
                Some(sid) => sid == [0, 0, 0, 0],
                None => {
                    return Err(PacketError::TooShort {
                        needed: 4,
                        available: buf.len(),
                    });
                }
            },
            Encapsulation::Udp => match buf.first() {
                Some(b) => u16::from(*b) << 8 & FLAG_T != 0,
                None => {
                    return Err(PacketError::TooShort {
                        needed: 1,
                        available: 0,
                    });
                }
            },
        };
        if is_control {
            Ok(Packet::Control(ControlMessage::decode(
                buf,
                config.encapsulation,
            )?))
        } else {
            Ok(Packet::Data(DataPacket::parse(buf, config)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{CookieLen, SublayerKind};

    #[test]
    fn classifies_by_t_bit_and_session_id() {
        let udp = SessionConfig {
            encapsulation: Encapsulation::Udp,
            cookie_len: CookieLen::Zero,
            sublayer: SublayerKind::None,
        };
        let zlb = [0xc8, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(Packet::decode(&zlb, &udp), Ok(Packet::Control(_))));
        let data = [0, 3, 0, 0, 0, 0, 0, 9, 0xee];
        assert!(matches!(Packet::decode(&data, &udp), Ok(Packet::Data(p)) if p.payload == [0xee]));

        let ip = SessionConfig {
            encapsulation: Encapsulation::Ip,
            ..udp
        };
        let mut zlb_ip = vec![0, 0, 0, 0];
        zlb_ip.extend(zlb);
        assert!(matches!(
            Packet::decode(&zlb_ip, &ip),
            Ok(Packet::Control(_))
        ));
        assert!(matches!(
            Packet::decode(&[0, 0, 0, 9, 1], &ip),
            Ok(Packet::Data(_))
        ));
        assert!(matches!(
            Packet::decode(&[0, 0], &ip),
            Err(PacketError::TooShort { .. })
        ));
    }
}
