//! LSAs: the 20-byte header (RFC 5340 A.4.2), the LS type with its U bit, flooding
//! scope and function code (A.4.2.1), and the bodies of every LSA type RFC 5340 and
//! RFC 3101 define. Unknown types are kept as raw bytes, since they must still be
//! flooded according to their scope.
//!
//! Decoded LSAs are canonical: reserved fields and prefix bits past the prefix length
//! are ignored on receipt and written as zero (RFC 5340 A.4.1). LSAs that follow the
//! RFC, which is every one in the reference captures, re-encode to the bytes received,
//! checksum included. One that carries non-zero reserved bits would re-encode to other
//! bytes, which its kept checksum no longer matches, so flooding should forward the
//! received bytes ([`RawLsa::bytes`]) rather than a re-encoding.

pub mod as_external;
pub mod inter_area;
pub mod intra_area_prefix;
pub mod link;
pub mod network;
pub mod router;

use std::net::Ipv4Addr;

use bytes::BufMut;
use nom::number::complete::{be_u16, be_u32};

use crate::checksum::{self, LSA_CHECKSUM_OFFSET};
use crate::error::{DecodeError, Result};
use crate::reader::Reader;

pub use as_external::{AsExternalLsa, ExternalMetricType, ReferencedLs};
pub use inter_area::{InterAreaPrefixLsa, InterAreaRouterLsa};
pub use intra_area_prefix::{IntraAreaPrefix, IntraAreaPrefixLsa};
pub use link::LinkLsa;
pub use network::NetworkLsa;
pub use router::{RouterFlags, RouterLink, RouterLinkType, RouterLsa};

/// Length of the LSA header.
pub const LSA_HEADER_LEN: usize = 20;

/// The flooding scope encoded in bits S2 S1 of the LS type (RFC 5340 A.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FloodingScope {
    /// Flooded only on the originating link.
    LinkLocal,
    /// Flooded throughout the area.
    Area,
    /// Flooded throughout the routing domain.
    As,
    /// The reserved scope value 11.
    Reserved,
}

/// An LS type: U bit, two scope bits and a 13-bit function code (RFC 5340 A.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LsaType(pub u16);

impl LsaType {
    /// Router-LSA.
    pub const ROUTER: LsaType = LsaType(0x2001);
    /// Network-LSA.
    pub const NETWORK: LsaType = LsaType(0x2002);
    /// Inter-Area-Prefix-LSA.
    pub const INTER_AREA_PREFIX: LsaType = LsaType(0x2003);
    /// Inter-Area-Router-LSA.
    pub const INTER_AREA_ROUTER: LsaType = LsaType(0x2004);
    /// AS-External-LSA.
    pub const AS_EXTERNAL: LsaType = LsaType(0x4005);
    /// Group-membership-LSA (deprecated, never decoded).
    pub const GROUP_MEMBERSHIP: LsaType = LsaType(0x2006);
    /// NSSA-LSA (RFC 3101 via RFC 5340 A.4.8).
    pub const NSSA: LsaType = LsaType(0x2007);
    /// Link-LSA.
    pub const LINK: LsaType = LsaType(0x0008);
    /// Intra-Area-Prefix-LSA.
    pub const INTRA_AREA_PREFIX: LsaType = LsaType(0x2009);

    /// The U bit: how a router that does not know the function code handles it
    /// (set: flood by the encoded scope; clear: treat as link-local).
    pub fn u_bit(self) -> bool {
        self.0 & 0x8000 != 0
    }

    /// The flooding scope bits S2 S1.
    pub fn scope(self) -> FloodingScope {
        match (self.0 >> 13) & 0x3 {
            0 => FloodingScope::LinkLocal,
            1 => FloodingScope::Area,
            2 => FloodingScope::As,
            _ => FloodingScope::Reserved,
        }
    }

    /// The 13-bit LSA function code.
    pub fn function_code(self) -> u16 {
        self.0 & 0x1FFF
    }

    /// True for the types whose body this crate decodes.
    pub fn is_known(self) -> bool {
        matches!(
            self,
            Self::ROUTER
                | Self::NETWORK
                | Self::INTER_AREA_PREFIX
                | Self::INTER_AREA_ROUTER
                | Self::AS_EXTERNAL
                | Self::NSSA
                | Self::LINK
                | Self::INTRA_AREA_PREFIX
        )
    }

    /// The RFC's name for a known type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ROUTER => "Router-LSA",
            Self::NETWORK => "Network-LSA",
            Self::INTER_AREA_PREFIX => "Inter-Area-Prefix-LSA",
            Self::INTER_AREA_ROUTER => "Inter-Area-Router-LSA",
            Self::AS_EXTERNAL => "AS-External-LSA",
            Self::GROUP_MEMBERSHIP => "Group-membership-LSA",
            Self::NSSA => "NSSA-LSA",
            Self::LINK => "Link-LSA",
            Self::INTRA_AREA_PREFIX => "Intra-Area-Prefix-LSA",
            _ => return None,
        })
    }
}

impl core::fmt::Display for LsaType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

/// The LSA header (RFC 5340 A.4.2). `age`, `checksum` and `length` are kept as
/// received, so that a header re-encodes to the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LsaHeader {
    /// LS age in seconds (the top bit is DoNotAge, RFC 1793).
    pub age: u16,
    /// LS type.
    pub ls_type: LsaType,
    /// Link State ID.
    pub link_state_id: Ipv4Addr,
    /// Advertising Router.
    pub advertising_router: Ipv4Addr,
    /// LS sequence number; compare as signed (see [`crate::compare()`]).
    pub seq_number: u32,
    /// Fletcher checksum.
    pub checksum: u16,
    /// Length of the whole LSA, header included.
    pub length: u16,
}

impl LsaHeader {
    /// Decodes a header from the first 20 bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::new(buf, 0))
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let (age, ls_type, id, adv, seq, checksum, length) = r.parse(
            "LSA header",
            LSA_HEADER_LEN,
            (be_u16, be_u16, be_u32, be_u32, be_u32, be_u16, be_u16),
        )?;
        Ok(Self {
            age,
            ls_type: LsaType(ls_type),
            link_state_id: Ipv4Addr::from(id),
            advertising_router: Ipv4Addr::from(adv),
            seq_number: seq,
            checksum,
            length,
        })
    }

    /// Writes the 20 header bytes exactly as the fields hold them.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u16(self.age);
        buf.put_u16(self.ls_type.0);
        buf.put_u32(self.link_state_id.into());
        buf.put_u32(self.advertising_router.into());
        buf.put_u32(self.seq_number);
        buf.put_u16(self.checksum);
        buf.put_u16(self.length);
    }

    /// The key that identifies an LSA in the LSDB: (LS type, Link State ID,
    /// Advertising Router) (RFC 5340 4.4.3).
    pub fn key(&self) -> (LsaType, Ipv4Addr, Ipv4Addr) {
        (self.ls_type, self.link_state_id, self.advertising_router)
    }

    /// Checks the length field: at least a header, a multiple of 4, within `available`.
    pub(crate) fn check_length(&self, offset: usize, available: usize) -> Result<usize> {
        let length = usize::from(self.length);
        let reason = if length < LSA_HEADER_LEN {
            "shorter than the LSA header"
        } else if length % 4 != 0 {
            "not a multiple of 4"
        } else if length > available {
            "longer than the bytes present"
        } else {
            return Ok(length);
        };
        Err(DecodeError::BadLength {
            what: "LSA",
            offset,
            length,
            reason,
        })
    }
}

/// The body of an LSA, by LS type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LsaBody {
    /// 0x2001 Router-LSA.
    Router(RouterLsa),
    /// 0x2002 Network-LSA.
    Network(NetworkLsa),
    /// 0x2003 Inter-Area-Prefix-LSA.
    InterAreaPrefix(InterAreaPrefixLsa),
    /// 0x2004 Inter-Area-Router-LSA.
    InterAreaRouter(InterAreaRouterLsa),
    /// 0x4005 AS-External-LSA.
    AsExternal(AsExternalLsa),
    /// 0x2007 NSSA-LSA (same body as AS-External).
    Nssa(AsExternalLsa),
    /// 0x0008 Link-LSA.
    Link(LinkLsa),
    /// 0x2009 Intra-Area-Prefix-LSA.
    IntraAreaPrefix(IntraAreaPrefixLsa),
    /// Any other type: the body bytes as received.
    Unknown(Vec<u8>),
}

impl LsaBody {
    /// Decodes a body of type `ls_type` from all of `r`.
    fn read(ls_type: LsaType, r: &mut Reader<'_>) -> Result<Self> {
        let body = match ls_type {
            LsaType::ROUTER => Self::Router(RouterLsa::read(r)?),
            LsaType::NETWORK => Self::Network(NetworkLsa::read(r)?),
            LsaType::INTER_AREA_PREFIX => Self::InterAreaPrefix(InterAreaPrefixLsa::read(r)?),
            LsaType::INTER_AREA_ROUTER => Self::InterAreaRouter(InterAreaRouterLsa::read(r)?),
            LsaType::AS_EXTERNAL => Self::AsExternal(AsExternalLsa::read(r)?),
            LsaType::NSSA => Self::Nssa(AsExternalLsa::read(r)?),
            LsaType::LINK => Self::Link(LinkLsa::read(r)?),
            LsaType::INTRA_AREA_PREFIX => Self::IntraAreaPrefix(IntraAreaPrefixLsa::read(r)?),
            _ => {
                let n = r.remaining();
                Self::Unknown(r.bytes("LSA body", n)?.to_vec())
            }
        };
        r.finish("LSA body")?;
        Ok(body)
    }

    /// The LS type this body belongs to; `None` for an unknown (raw) body, whose
    /// type only the header knows.
    pub fn ls_type(&self) -> Option<LsaType> {
        Some(match self {
            Self::Router(_) => LsaType::ROUTER,
            Self::Network(_) => LsaType::NETWORK,
            Self::InterAreaPrefix(_) => LsaType::INTER_AREA_PREFIX,
            Self::InterAreaRouter(_) => LsaType::INTER_AREA_ROUTER,
            Self::AsExternal(_) => LsaType::AS_EXTERNAL,
            Self::Nssa(_) => LsaType::NSSA,
            Self::Link(_) => LsaType::LINK,
            Self::IntraAreaPrefix(_) => LsaType::INTRA_AREA_PREFIX,
            Self::Unknown(_) => return None,
        })
    }

    /// Bytes the body takes on the wire.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Router(b) => b.encoded_len(),
            Self::Network(b) => b.encoded_len(),
            Self::InterAreaPrefix(b) => b.encoded_len(),
            Self::InterAreaRouter(b) => b.encoded_len(),
            Self::AsExternal(b) | Self::Nssa(b) => b.encoded_len(),
            Self::Link(b) => b.encoded_len(),
            Self::IntraAreaPrefix(b) => b.encoded_len(),
            Self::Unknown(b) => b.len(),
        }
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            Self::Router(b) => b.encode(buf),
            Self::Network(b) => b.encode(buf),
            Self::InterAreaPrefix(b) => b.encode(buf),
            Self::InterAreaRouter(b) => b.encode(buf),
            Self::AsExternal(b) | Self::Nssa(b) => b.encode(buf),
            Self::Link(b) => b.encode(buf),
            Self::IntraAreaPrefix(b) => b.encode(buf),
            Self::Unknown(b) => buf.put_slice(b),
        }
    }
}

/// What [`Lsa::encode`] does with the header's checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// Compute the Fletcher checksum over the encoded LSA (origination).
    #[default]
    Compute,
    /// Write `header.checksum` as it is (re-sending a received LSA unchanged).
    Keep,
}

/// A whole LSA: header and decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsa {
    /// The header; `length` is recomputed from the body on encoding.
    pub header: LsaHeader,
    /// The body.
    pub body: LsaBody,
}

impl Lsa {
    /// Decodes one LSA that fills `buf` exactly, verifying its checksum.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, 0);
        let lsa = Self::read(&mut r, true)?;
        r.finish("LSA")?;
        Ok(lsa)
    }

    /// Decodes one LSA from the reader; with `verify`, a bad checksum is an error.
    pub(crate) fn read(r: &mut Reader<'_>, verify: bool) -> Result<Self> {
        let raw = RawLsa::read(r)?;
        raw.decode_inner(verify)
    }

    /// Bytes of the whole LSA, header included.
    pub fn encoded_len(&self) -> usize {
        LSA_HEADER_LEN + self.body.encoded_len()
    }

    /// Writes the LSA. The length field is always derived from the body; the checksum
    /// is computed or kept as `mode` says; LS age is written as it is. The 16-bit
    /// length field limits an LSA to 65,535 bytes; callers keep LSAs within the MTU.
    pub fn encode<B: BufMut>(&self, buf: &mut B, mode: ChecksumMode) {
        match mode {
            ChecksumMode::Keep => {
                let mut h = self.header;
                h.length = self.encoded_len() as u16;
                h.encode(buf);
                self.body.encode(buf);
            }
            ChecksumMode::Compute => buf.put_slice(&self.to_bytes(ChecksumMode::Compute)),
        }
    }

    /// Encodes the LSA into a new vector.
    pub fn to_bytes(&self, mode: ChecksumMode) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v, ChecksumMode::Keep);
        if mode == ChecksumMode::Compute {
            checksum::set_lsa_checksum(&mut v);
        }
        v
    }

    /// Recomputes `header.length` and `header.checksum` from the body, as an
    /// originating router does before installing and flooding a new instance.
    pub fn update_checksum(&mut self) {
        let v = self.to_bytes(ChecksumMode::Compute);
        self.header.length = self.encoded_len() as u16;
        self.header.checksum =
            u16::from_be_bytes([v[LSA_CHECKSUM_OFFSET], v[LSA_CHECKSUM_OFFSET + 1]]);
    }
}

/// An LSA not yet decoded: its header and the bytes of the whole LSA as received.
/// This is what flooding needs first (RFC 2328 13: checksum, type, comparison with
/// the LSDB copy) before the body is worth decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLsa<'a> {
    /// The header.
    pub header: LsaHeader,
    /// The whole LSA, `header.length` bytes.
    pub bytes: &'a [u8],
    /// Offset of the LSA inside the buffer it came from.
    pub offset: usize,
}

impl<'a> RawLsa<'a> {
    /// Splits the next LSA off the reader after checking its length field.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self> {
        let offset = r.offset();
        let header = LsaHeader::read(&mut r.clone())?;
        let length = header.check_length(offset, r.remaining())?;
        let bytes = r.bytes("LSA", length)?;
        Ok(Self {
            header,
            bytes,
            offset,
        })
    }

    /// Splits one LSA off the start of `buf`; returns it and the bytes after it.
    pub fn split(buf: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let mut r = Reader::new(buf, 0);
        let raw = Self::read(&mut r)?;
        Ok((raw, r.rest()))
    }

    /// True when the Fletcher checksum verifies.
    pub fn checksum_ok(&self) -> bool {
        checksum::verify_lsa_checksum(self.bytes)
    }

    /// Decodes the body, verifying the checksum first.
    pub fn decode(&self) -> Result<Lsa> {
        self.decode_inner(true)
    }

    /// Decodes the body without looking at the checksum (for inspection tools; a
    /// router discards an LSA whose checksum fails, RFC 2328 13 step 1).
    pub fn decode_unverified(&self) -> Result<Lsa> {
        self.decode_inner(false)
    }

    fn decode_inner(&self, verify: bool) -> Result<Lsa> {
        if verify && !self.checksum_ok() {
            return Err(DecodeError::LsaChecksum {
                offset: self.offset,
                checksum: self.header.checksum,
            });
        }
        let mut body = Reader::new(&self.bytes[LSA_HEADER_LEN..], self.offset + LSA_HEADER_LEN);
        let body = LsaBody::read(self.header.ls_type, &mut body)?;
        Ok(Lsa {
            header: self.header,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_type_bits() {
        assert_eq!(LsaType::AS_EXTERNAL.scope(), FloodingScope::As);
        assert_eq!(LsaType::LINK.scope(), FloodingScope::LinkLocal);
        assert_eq!(LsaType::ROUTER.scope(), FloodingScope::Area);
        assert_eq!(LsaType(0xE00A).scope(), FloodingScope::Reserved);
        assert!(LsaType(0xA00C).u_bit());
        assert!(!LsaType::ROUTER.u_bit());
        assert_eq!(LsaType(0xA00C).function_code(), 12);
        assert!(!LsaType(0xA00C).is_known());
    }

    #[test]
    fn unknown_lsa_is_kept_raw_and_reencodes() {
        let mut lsa = Lsa {
            header: LsaHeader {
                age: 7,
                ls_type: LsaType(0xA00C),
                link_state_id: Ipv4Addr::new(0, 0, 0, 1),
                advertising_router: Ipv4Addr::new(9, 9, 9, 9),
                seq_number: 0x8000_0003,
                checksum: 0,
                length: 0,
            },
            body: LsaBody::Unknown(vec![1, 2, 3, 4, 5, 6, 7, 8]),
        };
        lsa.update_checksum();
        let bytes = lsa.to_bytes(ChecksumMode::Keep);
        assert_eq!(bytes.len(), 28);
        assert_eq!(Lsa::decode(&bytes).unwrap(), lsa);
    }

    #[test]
    fn bad_lengths_are_typed_errors() {
        let mut b = vec![0u8; 24];
        b[18..20].copy_from_slice(&22u16.to_be_bytes());
        assert!(matches!(
            Lsa::decode(&b),
            Err(DecodeError::BadLength {
                reason: "not a multiple of 4",
                ..
            })
        ));
        b[18..20].copy_from_slice(&28u16.to_be_bytes());
        assert!(matches!(
            Lsa::decode(&b),
            Err(DecodeError::BadLength {
                reason: "longer than the bytes present",
                ..
            })
        ));
        b[18..20].copy_from_slice(&16u16.to_be_bytes());
        assert!(matches!(
            Lsa::decode(&b),
            Err(DecodeError::BadLength { .. })
        ));
        assert!(matches!(
            Lsa::decode(&b[..10]),
            Err(DecodeError::Truncated { offset: 0, .. })
        ));
    }
}
