//! The control message header (RFC 3931 section 3.2.1) over UDP and over IP
//! (section 4.1.1.2).

use bytes::BufMut;
use nom::number::complete::{be_u16, be_u32};

use crate::error::ControlError;

/// How L2TPv3 packets are carried (RFC 3931 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// Directly over IP, protocol 115 (section 4.1.1). Control messages start with
    /// a 32-bit all-zero Session ID; data messages start with the Session ID.
    Ip,
    /// Over UDP, port 1701 by default (section 4.1.2). The T bit tells control
    /// from data; data messages start with a 4-byte flags/version word.
    Udp,
}

impl Encapsulation {
    /// Bytes in front of the control header: 4 (the zero Session ID) over IP, 0 over UDP.
    pub const fn control_prefix_len(self) -> usize {
        match self {
            Encapsulation::Ip => 4,
            Encapsulation::Udp => 0,
        }
    }
}

/// IP protocol number of L2TPv3 over IP (RFC 3931 section 4.1.1).
pub const IP_PROTOCOL: u8 = 115;
/// The UDP port registered for L2TP (RFC 3931 section 4.1.2.2).
pub const UDP_PORT: u16 = 1701;
/// The protocol version carried in the Ver field.
pub const VERSION: u8 = 3;
/// Length of the control message header proper (without the IP zero Session ID).
pub const CONTROL_HEADER_LEN: usize = 12;

/// T bit: control message.
pub(crate) const FLAG_T: u16 = 0x8000;
/// L bit: Length field present.
pub(crate) const FLAG_L: u16 = 0x4000;
/// S bit: Ns and Nr present.
pub(crate) const FLAG_S: u16 = 0x0800;
/// Mask of the Ver field in the first 16-bit word.
pub(crate) const VERSION_MASK: u16 = 0x000f;

/// The fields of a control message header (RFC 3931 figure 3.2.1).
///
/// The T, L and S bits are always set and the Ver field is always 3, so they are
/// not stored; reserved bits are ignored on receipt and sent as zero. The Length is
/// computed when encoding a [`crate::message::ControlMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ControlHeader {
    /// Control Connection ID of the *recipient* (0 before it has been assigned).
    pub ccid: u32,
    /// Sequence number of this message.
    pub ns: u16,
    /// Sequence number expected next from the peer.
    pub nr: u16,
}

impl ControlHeader {
    /// Decodes a control header and returns it with its Length field.
    ///
    /// `buf` starts at the control header (after the zero Session ID over IP);
    /// `base` is added to every offset reported in errors.
    pub(crate) fn decode(buf: &[u8], base: usize) -> Result<(ControlHeader, u16), ControlError> {
        if buf.len() < CONTROL_HEADER_LEN {
            return Err(ControlError::Truncated {
                offset: base,
                needed: CONTROL_HEADER_LEN,
                available: buf.len(),
            });
        }
        let (rest, flags) = be_u16::<_, ()>(buf).map_err(|_| truncated(base, buf.len()))?;
        let (rest, length) = be_u16::<_, ()>(rest).map_err(|_| truncated(base, buf.len()))?;
        let (rest, ccid) = be_u32::<_, ()>(rest).map_err(|_| truncated(base, buf.len()))?;
        let (rest, ns) = be_u16::<_, ()>(rest).map_err(|_| truncated(base, buf.len()))?;
        let (_, nr) = be_u16::<_, ()>(rest).map_err(|_| truncated(base, buf.len()))?;
        if flags & FLAG_T == 0 {
            return Err(ControlError::NotControl { offset: base });
        }
        let version = (flags & VERSION_MASK) as u8;
        if version != VERSION {
            return Err(ControlError::UnsupportedVersion {
                offset: base,
                version,
            });
        }
        if flags & FLAG_L == 0 {
            return Err(ControlError::LengthBitClear { offset: base });
        }
        if flags & FLAG_S == 0 {
            return Err(ControlError::SequenceBitClear { offset: base });
        }
        if usize::from(length) < CONTROL_HEADER_LEN || usize::from(length) > buf.len() {
            return Err(ControlError::BadLength {
                offset: base + 2,
                length,
                available: buf.len(),
            });
        }
        Ok((ControlHeader { ccid, ns, nr }, length))
    }

    /// Writes the 12-byte header with the given Length field.
    pub(crate) fn encode(&self, length: u16, out: &mut impl BufMut) {
        out.put_u16(FLAG_T | FLAG_L | FLAG_S | u16::from(VERSION));
        out.put_u16(length);
        out.put_u32(self.ccid);
        out.put_u16(self.ns);
        out.put_u16(self.nr);
    }
}

fn truncated(offset: usize, available: usize) -> ControlError {
    ControlError::Truncated {
        offset,
        needed: CONTROL_HEADER_LEN,
        available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figure 3.2.1 filled in by hand: T=1 L=1 S=1 Ver=3, Length 12, CCID 0x01020304,
    /// Ns 5, Nr 6.
    const ZLB: [u8; 12] = [
        0xc8, 0x03, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04, 0x00, 0x05, 0x00, 0x06,
    ];

    #[test]
    fn decodes_figure_3_2_1() {
        let (h, len) = ControlHeader::decode(&ZLB, 0).unwrap();
        assert_eq!(len, 12);
        assert_eq!(
            h,
            ControlHeader {
                ccid: 0x0102_0304,
                ns: 5,
                nr: 6
            }
        );
        let mut out = Vec::new();
        h.encode(12, &mut out);
        assert_eq!(out, ZLB);
    }

    #[test]
    fn ignores_reserved_bits() {
        let mut b = ZLB;
        b[0] |= 0x37; // x bits between L and S, and after S
        b[1] |= 0xf0;
        assert!(ControlHeader::decode(&b, 0).is_ok());
    }

    #[test]
    fn rejects_bad_flags() {
        let mut b = ZLB;
        b[0] &= !0x80;
        assert_eq!(
            ControlHeader::decode(&b, 4),
            Err(ControlError::NotControl { offset: 4 })
        );
        let mut b = ZLB;
        b[0] &= !0x40;
        assert_eq!(
            ControlHeader::decode(&b, 0),
            Err(ControlError::LengthBitClear { offset: 0 })
        );
        let mut b = ZLB;
        b[0] &= !0x08;
        assert_eq!(
            ControlHeader::decode(&b, 0),
            Err(ControlError::SequenceBitClear { offset: 0 })
        );
        let mut b = ZLB;
        b[1] = 0x02;
        assert_eq!(
            ControlHeader::decode(&b, 0),
            Err(ControlError::UnsupportedVersion {
                offset: 0,
                version: 2
            })
        );
    }

    #[test]
    fn rejects_bad_length() {
        let mut b = ZLB;
        b[3] = 11;
        assert!(matches!(
            ControlHeader::decode(&b, 0),
            Err(ControlError::BadLength { length: 11, .. })
        ));
        b[3] = 13;
        assert!(matches!(
            ControlHeader::decode(&b, 0),
            Err(ControlError::BadLength {
                offset: 2,
                length: 13,
                available: 12
            })
        ));
        assert!(matches!(
            ControlHeader::decode(&ZLB[..11], 0),
            Err(ControlError::Truncated { .. })
        ));
    }
}
