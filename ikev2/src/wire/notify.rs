//! The Notify payload (RFC 7296 3.10) and the notify message types this crate uses
//! (RFC 7296 3.10.1, RFC 7383, RFC 7427).

use bytes::BufMut;

use super::error::{DecodeError, EncodeError, Part, ValidationError};
use super::reader::Reader;
use super::sa::ProtocolId;

/// Notify message type (RFC 7296 3.10.1). Values below 16384 are errors, the rest
/// status; unknown values survive a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotifyType(pub u16);

impl NotifyType {
    /// A critical payload of an unknown type was received (data: the type, one byte).
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: NotifyType = NotifyType(1);
    /// A message arrived for an unknown IKE SA.
    pub const INVALID_IKE_SPI: NotifyType = NotifyType(4);
    /// The major version is not supported (data: none; header carries our version).
    pub const INVALID_MAJOR_VERSION: NotifyType = NotifyType(5);
    /// The message was malformed.
    pub const INVALID_SYNTAX: NotifyType = NotifyType(7);
    /// The message ID is outside the window.
    pub const INVALID_MESSAGE_ID: NotifyType = NotifyType(9);
    /// An ESP or AH packet arrived for an unknown SPI.
    pub const INVALID_SPI: NotifyType = NotifyType(11);
    /// None of the proposals is acceptable.
    pub const NO_PROPOSAL_CHOSEN: NotifyType = NotifyType(14);
    /// The KE payload's group is not the one wanted (data: the wanted group, two bytes).
    pub const INVALID_KE_PAYLOAD: NotifyType = NotifyType(17);
    /// The AUTH payload did not verify.
    pub const AUTHENTICATION_FAILED: NotifyType = NotifyType(24);
    /// Only one pair of traffic selectors is accepted.
    pub const SINGLE_PAIR_REQUIRED: NotifyType = NotifyType(34);
    /// No more CHILD_SAs are accepted on this IKE SA.
    pub const NO_ADDITIONAL_SAS: NotifyType = NotifyType(35);
    /// No internal address could be assigned.
    pub const INTERNAL_ADDRESS_FAILURE: NotifyType = NotifyType(36);
    /// A CP payload was required.
    pub const FAILED_CP_REQUIRED: NotifyType = NotifyType(37);
    /// The traffic selectors are not acceptable.
    pub const TS_UNACCEPTABLE: NotifyType = NotifyType(38);
    /// A packet did not match the CHILD_SA's selectors.
    pub const INVALID_SELECTORS: NotifyType = NotifyType(39);
    /// Try again later (for example during a rekey collision, RFC 7296 2.25).
    pub const TEMPORARY_FAILURE: NotifyType = NotifyType(43);
    /// The CHILD_SA to rekey does not exist (RFC 7296 2.25).
    pub const CHILD_SA_NOT_FOUND: NotifyType = NotifyType(44);
    /// The sender has no state from before (RFC 7296 2.4).
    pub const INITIAL_CONTACT: NotifyType = NotifyType(16384);
    /// Window size (data: four bytes).
    pub const SET_WINDOW_SIZE: NotifyType = NotifyType(16385);
    /// More traffic selectors would have been possible.
    pub const ADDITIONAL_TS_POSSIBLE: NotifyType = NotifyType(16386);
    /// IP compression is supported.
    pub const IPCOMP_SUPPORTED: NotifyType = NotifyType(16387);
    /// Hash of SPIs, source address and port (RFC 7296 2.23).
    pub const NAT_DETECTION_SOURCE_IP: NotifyType = NotifyType(16388);
    /// Hash of SPIs, destination address and port (RFC 7296 2.23).
    pub const NAT_DETECTION_DESTINATION_IP: NotifyType = NotifyType(16389);
    /// A stateless cookie (RFC 7296 2.6).
    pub const COOKIE: NotifyType = NotifyType(16390);
    /// Transport mode is requested or accepted (RFC 7296 1.3.1).
    pub const USE_TRANSPORT_MODE: NotifyType = NotifyType(16391);
    /// HTTP certificate lookup is supported.
    pub const HTTP_CERT_LOOKUP_SUPPORTED: NotifyType = NotifyType(16392);
    /// The CHILD_SA being rekeyed (SPI field: its inbound SPI, RFC 7296 1.3.3).
    pub const REKEY_SA: NotifyType = NotifyType(16393);
    /// TFC padding is not supported.
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: NotifyType = NotifyType(16394);
    /// Non-first fragments are also sent on the SA.
    pub const NON_FIRST_FRAGMENTS_ALSO: NotifyType = NotifyType(16395);
    /// MOBIKE is supported (RFC 4555).
    pub const MOBIKE_SUPPORTED: NotifyType = NotifyType(16396);
    /// IKE fragmentation is supported (RFC 7383).
    pub const IKEV2_FRAGMENTATION_SUPPORTED: NotifyType = NotifyType(16430);
    /// Hash algorithms for signatures (RFC 7427).
    pub const SIGNATURE_HASH_ALGORITHMS: NotifyType = NotifyType(16431);

    /// An error type (below 16384): the exchange failed (RFC 7296 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

/// The Notify payload (RFC 7296 3.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotifyPayload {
    /// Protocol of the SA the notify is about (NONE or IKE when there is none).
    pub protocol: ProtocolId,
    /// SPI of that SA (usually empty; 4 bytes for REKEY_SA of an ESP SA).
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Type-specific data.
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// A notify with no SA, no SPI and the given data.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        NotifyPayload {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// INVALID_KE_PAYLOAD naming the wanted group (RFC 7296 1.2).
    pub fn invalid_ke(group: u16) -> Self {
        Self::new(NotifyType::INVALID_KE_PAYLOAD, group.to_be_bytes().to_vec())
    }

    /// The group named by an INVALID_KE_PAYLOAD notify.
    pub fn wanted_group(&self) -> Option<u16> {
        match (self.notify_type, self.data.as_slice()) {
            (NotifyType::INVALID_KE_PAYLOAD, [a, b]) => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// REKEY_SA for the ESP SA with the given inbound SPI (RFC 7296 1.3.3).
    pub fn rekey_sa(spi: u32) -> Self {
        NotifyPayload {
            protocol: ProtocolId::ESP,
            spi: spi.to_be_bytes().to_vec(),
            notify_type: NotifyType::REKEY_SA,
            data: Vec::new(),
        }
    }

    /// The SPI as a 32-bit ESP SPI, when it has four bytes.
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = ProtocolId(r.u8(Part::Notify)?);
        let spi_size = r.u8(Part::Notify)? as usize;
        let notify_type = NotifyType(r.u16(Part::Notify)?);
        let spi = r.take(spi_size, Part::Notify)?.to_vec();
        Ok(NotifyPayload {
            protocol,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        if self.spi.len() > u8::MAX as usize {
            return Err(EncodeError::Invalid {
                part: Part::Notify,
                reason: "SPI longer than 255 bytes",
            });
        }
        Ok(4 + self.spi.len() + self.data.len())
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.protocol.0);
        buf.put_u8(self.spi.len() as u8);
        buf.put_u16(self.notify_type.0);
        buf.put_slice(&self.spi);
        buf.put_slice(&self.data);
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let bad = |reason| {
            Err(ValidationError::InvalidSyntax {
                part: Part::Notify,
                reason,
            })
        };
        match self.notify_type {
            NotifyType::INVALID_KE_PAYLOAD if self.data.len() != 2 => {
                bad("INVALID_KE_PAYLOAD without a two-byte group")
            }
            NotifyType::NAT_DETECTION_SOURCE_IP | NotifyType::NAT_DETECTION_DESTINATION_IP
                if self.data.len() != 20 =>
            {
                bad("NAT detection hash is not 20 bytes (SHA-1)")
            }
            NotifyType::COOKIE if self.data.is_empty() || self.data.len() > 64 => {
                bad("cookie shorter than 1 or longer than 64 bytes")
            }
            NotifyType::REKEY_SA if self.spi.len() != 4 => bad("REKEY_SA without a 4-byte SPI"),
            _ => Ok(()),
        }
    }
}
