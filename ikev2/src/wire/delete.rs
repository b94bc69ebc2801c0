//! The Delete payload (RFC 7296 3.11).

use bytes::BufMut;

use super::error::{DecodeError, EncodeError, Part, ValidationError};
use super::reader::Reader;
use super::sa::ProtocolId;

/// The Delete payload (RFC 7296 3.11).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeletePayload {
    /// IKE (the SA carrying the message; no SPIs) or ESP/AH (the SPIs listed).
    pub protocol: ProtocolId,
    /// Size of each SPI: 0 for IKE, 4 for ESP and AH.
    pub spi_size: u8,
    /// The SPIs (for ESP: the sender's inbound SPIs), each `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Delete of the IKE SA the message travels on.
    pub fn ike() -> Self {
        DeletePayload {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Delete of ESP SAs, by the sender's inbound SPIs.
    pub fn esp(spis: &[u32]) -> Self {
        DeletePayload {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as 32-bit values (ESP/AH).
    pub fn spis_u32(&self) -> impl Iterator<Item = u32> + '_ {
        self.spis.iter().filter_map(|s| {
            <[u8; 4]>::try_from(s.as_slice())
                .ok()
                .map(u32::from_be_bytes)
        })
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let protocol = ProtocolId(r.u8(Part::Delete)?);
        let spi_size = r.u8(Part::Delete)?;
        let count = r.u16(Part::Delete)? as usize;
        // Never trust the count beyond the bytes present.
        if count.saturating_mul(spi_size as usize) != r.remaining() {
            return Err(DecodeError::Invalid {
                part: Part::Delete,
                offset: start,
                reason: "# of SPIs x SPI size does not match the payload length",
            });
        }
        let mut spis = Vec::new();
        if spi_size > 0 {
            while !r.is_empty() {
                spis.push(r.take(spi_size as usize, Part::Delete)?.to_vec());
            }
        } else if count != 0 {
            return Err(DecodeError::Invalid {
                part: Part::Delete,
                offset: start,
                reason: "SPIs counted with SPI size 0",
            });
        }
        Ok(DeletePayload {
            protocol,
            spi_size,
            spis,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        if self.spis.len() > u16::MAX as usize {
            return Err(EncodeError::TooLong {
                part: Part::Delete,
                length: self.spis.len(),
            });
        }
        if self.spis.iter().any(|s| s.len() != self.spi_size as usize) {
            return Err(EncodeError::Invalid {
                part: Part::Delete,
                reason: "an SPI differs from the SPI size",
            });
        }
        Ok(4 + self.spis.len() * self.spi_size as usize)
    }

    pub(crate) fn emit_body<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.protocol.0);
        buf.put_u8(self.spi_size);
        buf.put_u16(self.spis.len() as u16);
        for s in &self.spis {
            buf.put_slice(s);
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let ok = match self.protocol {
            ProtocolId::IKE => self.spi_size == 0 && self.spis.is_empty(),
            ProtocolId::ESP | ProtocolId::AH => self.spi_size == 4 && !self.spis.is_empty(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ValidationError::InvalidSyntax {
                part: Part::Delete,
                reason: "protocol, SPI size and SPIs do not agree",
            })
        }
    }
}
