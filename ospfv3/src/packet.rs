//! The OSPFv3 packet: the 16-byte common header (RFC 5340 A.3.1) and the five packet
//! bodies, plus [`Datagram`], the whole IPv6 upper-layer payload: the packet, an
//! optional link-local signalling block (RFC 5613) and an optional authentication
//! trailer (RFC 7166), neither of which the packet's length field counts.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;
use nom::number::complete::{be_u8, be_u16, be_u32};

use crate::auth::AuthTrailer;
use crate::checksum;
use crate::constants::VERSION;
use crate::dd::DatabaseDescription;
use crate::error::{DecodeError, Result};
use crate::hello::Hello;
use crate::lsack::LinkStateAck;
use crate::lsr::LinkStateRequest;
use crate::lsu::LinkStateUpdate;
use crate::options::Options;
use crate::reader::Reader;

/// Length of the common header.
pub const HEADER_LEN: usize = 16;

/// The packet type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// 1: Hello.
    Hello = 1,
    /// 2: Database Description.
    DatabaseDescription = 2,
    /// 3: Link State Request.
    LinkStateRequest = 3,
    /// 4: Link State Update.
    LinkStateUpdate = 4,
    /// 5: Link State Acknowledgment.
    LinkStateAck = 5,
}

impl PacketType {
    /// From the wire byte.
    pub fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Hello,
            2 => Self::DatabaseDescription,
            3 => Self::LinkStateRequest,
            4 => Self::LinkStateUpdate,
            5 => Self::LinkStateAck,
            _ => return None,
        })
    }

    /// A short name, as capture tools print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "Hello",
            Self::DatabaseDescription => "DatabaseDescription",
            Self::LinkStateRequest => "LinkStateRequest",
            Self::LinkStateUpdate => "LinkStateUpdate",
            Self::LinkStateAck => "LinkStateAck",
        }
    }
}

/// The fields of the common header that are not derived from the body (version,
/// type and length are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketHeader {
    /// The sender's Router ID.
    pub router_id: Ipv4Addr,
    /// The area the packet belongs to.
    pub area_id: Ipv4Addr,
    /// The packet checksum as received, or as it will be written; see
    /// [`crate::checksum`] to compute it over the pseudo-header.
    pub checksum: u16,
    /// Instance ID: lets several OSPFv3 instances share a link.
    pub instance_id: u8,
}

/// The body of a packet, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketBody {
    /// Hello.
    Hello(Hello),
    /// Database Description.
    DatabaseDescription(DatabaseDescription),
    /// Link State Request.
    LinkStateRequest(LinkStateRequest),
    /// Link State Update.
    LinkStateUpdate(LinkStateUpdate),
    /// Link State Acknowledgment.
    LinkStateAck(LinkStateAck),
}

/// How strictly [`Packet::decode_with`] treats LSAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Reject a Link State Update holding an LSA whose Fletcher checksum fails
    /// (default). Inspection tools turn this off and check each LSA themselves.
    pub verify_lsa_checksums: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            verify_lsa_checksums: true,
        }
    }
}

/// An OSPFv3 packet: common header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Header fields.
    pub header: PacketHeader,
    /// Body.
    pub body: PacketBody,
}

/// Reads and checks the common header; returns the type, the packet length (checked
/// against `buf`) and the header fields.
pub(crate) fn read_header(buf: &[u8]) -> Result<(PacketType, usize, PacketHeader)> {
    let mut r = Reader::new(buf, 0);
    let (version, ptype, length, router_id, area_id, checksum, instance_id, _reserved) = r.parse(
        "OSPFv3 header",
        HEADER_LEN,
        (be_u8, be_u8, be_u16, be_u32, be_u32, be_u16, be_u8, be_u8),
    )?;
    if version != VERSION {
        return Err(DecodeError::BadVersion { offset: 0, version });
    }
    let packet_type = PacketType::from_wire(ptype).ok_or(DecodeError::UnknownPacketType {
        offset: 1,
        value: ptype,
    })?;
    let len = usize::from(length);
    let reason = if len < HEADER_LEN {
        "shorter than the common header"
    } else if len % 4 != 0 {
        "not a multiple of 4"
    } else if len > buf.len() {
        "longer than the bytes present"
    } else {
        return Ok((
            packet_type,
            len,
            PacketHeader {
                router_id: Ipv4Addr::from(router_id),
                area_id: Ipv4Addr::from(area_id),
                checksum,
                instance_id,
            },
        ));
    };
    Err(DecodeError::BadLength {
        what: "OSPFv3 packet",
        offset: 2,
        length: len,
        reason,
    })
}

impl Packet {
    /// Decodes the packet at the start of `buf`, verifying every LSA checksum. Only
    /// the bytes the packet length covers are read; anything after them (an LLS
    /// block, an authentication trailer) is left to [`Datagram::decode`].
    pub fn decode(buf: &[u8]) -> Result<Self> {
        Self::decode_with(buf, &DecodeOptions::default())
    }

    /// Decodes with explicit options.
    pub fn decode_with(buf: &[u8], opts: &DecodeOptions) -> Result<Self> {
        let (packet_type, length, header) = read_header(buf)?;
        let mut r = Reader::new(&buf[HEADER_LEN..length], HEADER_LEN);
        let body = match packet_type {
            PacketType::Hello => PacketBody::Hello(Hello::read(&mut r)?),
            PacketType::DatabaseDescription => {
                PacketBody::DatabaseDescription(DatabaseDescription::read(&mut r)?)
            }
            PacketType::LinkStateRequest => {
                PacketBody::LinkStateRequest(LinkStateRequest::read(&mut r)?)
            }
            PacketType::LinkStateUpdate => PacketBody::LinkStateUpdate(LinkStateUpdate::read(
                &mut r,
                opts.verify_lsa_checksums,
            )?),
            PacketType::LinkStateAck => PacketBody::LinkStateAck(LinkStateAck::read(&mut r)?),
        };
        r.finish(packet_type.name())?;
        Ok(Self { header, body })
    }

    /// The packet type, from the body.
    pub fn packet_type(&self) -> PacketType {
        match self.body {
            PacketBody::Hello(_) => PacketType::Hello,
            PacketBody::DatabaseDescription(_) => PacketType::DatabaseDescription,
            PacketBody::LinkStateRequest(_) => PacketType::LinkStateRequest,
            PacketBody::LinkStateUpdate(_) => PacketType::LinkStateUpdate,
            PacketBody::LinkStateAck(_) => PacketType::LinkStateAck,
        }
    }

    /// The Options field, for the two packet types that carry one.
    pub fn options(&self) -> Option<Options> {
        match &self.body {
            PacketBody::Hello(h) => Some(h.options),
            PacketBody::DatabaseDescription(d) => Some(d.options),
            _ => None,
        }
    }

    /// Bytes of the whole packet (the value of its length field).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match &self.body {
                PacketBody::Hello(b) => b.encoded_len(),
                PacketBody::DatabaseDescription(b) => b.encoded_len(),
                PacketBody::LinkStateRequest(b) => b.encoded_len(),
                PacketBody::LinkStateUpdate(b) => b.encoded_len(),
                PacketBody::LinkStateAck(b) => b.encoded_len(),
            }
    }

    /// Writes the packet. The length is derived from the body; the checksum field is
    /// written as `header.checksum` holds it (see [`Packet::to_bytes_with_checksum`]).
    /// LSAs keep their age and checksum. The 16-bit length field limits a packet to
    /// 65,535 bytes; callers split LSAs and headers over packets that fit the MTU.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(VERSION);
        buf.put_u8(self.packet_type() as u8);
        buf.put_u16(self.encoded_len() as u16);
        buf.put_u32(self.header.router_id.into());
        buf.put_u32(self.header.area_id.into());
        buf.put_u16(self.header.checksum);
        buf.put_u8(self.header.instance_id);
        buf.put_u8(0);
        match &self.body {
            PacketBody::Hello(b) => b.encode(buf),
            PacketBody::DatabaseDescription(b) => b.encode(buf),
            PacketBody::LinkStateRequest(b) => b.encode(buf),
            PacketBody::LinkStateUpdate(b) => b.encode(buf),
            PacketBody::LinkStateAck(b) => b.encode(buf),
        }
    }

    /// Encodes into a new vector, checksum field as held.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Encodes into a new vector with the packet checksum computed over the IPv6
    /// pseudo-header for `src` and `dst`.
    pub fn to_bytes_with_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Vec<u8> {
        let mut v = self.to_bytes();
        checksum::set_packet_checksum(src, dst, &mut v);
        v
    }
}

/// Offset of the Options field for the packet types that have one.
fn options_offset(packet_type: PacketType) -> Option<usize> {
    match packet_type {
        PacketType::Hello => Some(HEADER_LEN + 5),
        PacketType::DatabaseDescription => Some(HEADER_LEN + 1),
        _ => None,
    }
}

/// The parts of an IPv6 upper-layer payload that carries OSPFv3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadParts<'a> {
    /// The OSPFv3 packet (its length field's worth of bytes).
    pub packet: &'a [u8],
    /// The LLS data block, present when a Hello or DD has the L bit.
    pub lls: Option<&'a [u8]>,
    /// Whatever follows: the authentication trailer, if any.
    pub trailer: Option<&'a [u8]>,
}

impl PayloadParts<'_> {
    /// Bytes covered by the authentication digest besides the trailer itself: the
    /// packet and the LLS block (RFC 7166 2.2).
    pub fn authenticated_len(&self) -> usize {
        self.packet.len() + self.lls.map_or(0, <[u8]>::len)
    }
}

/// Splits a payload into packet, LLS block and trailer, using the packet length, the
/// L bit and the LLS length field (RFC 5613 2.2).
pub fn split_payload(payload: &[u8]) -> Result<PayloadParts<'_>> {
    let (packet_type, length, _) = read_header(payload)?;
    let (packet, mut rest) = payload.split_at(length);
    let mut lls = None;
    let l_bit = options_offset(packet_type).is_some_and(|at| {
        packet.len() >= at + 3
            && Options::from_wire(u32::from_be_bytes([
                0,
                packet[at],
                packet[at + 1],
                packet[at + 2],
            ]))
            .contains(Options::L)
    });
    if l_bit {
        let mut r = Reader::new(rest, length);
        let _checksum = r.u16("LLS checksum")?;
        let words = usize::from(r.u16("LLS data length")?);
        if words == 0 || words * 4 > rest.len() {
            return Err(DecodeError::BadLength {
                what: "LLS data block",
                offset: length,
                length: words * 4,
                reason: "outside 4 bytes..bytes present",
            });
        }
        let (block, after) = rest.split_at(words * 4);
        lls = Some(block);
        rest = after;
    }
    Ok(PayloadParts {
        packet,
        lls,
        trailer: (!rest.is_empty()).then_some(rest),
    })
}

/// A whole OSPFv3 payload: packet, LLS block (kept raw) and authentication trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The packet.
    pub packet: Packet,
    /// The LLS data block as received (RFC 5613), if the L bit announced one.
    pub lls: Option<Vec<u8>>,
    /// The authentication trailer, if bytes follow the packet and LLS block.
    pub trailer: Option<AuthTrailer>,
}

impl Datagram {
    /// Decodes a whole IPv6 upper-layer payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        Self::decode_with(payload, &DecodeOptions::default())
    }

    /// Decodes with explicit options.
    pub fn decode_with(payload: &[u8], opts: &DecodeOptions) -> Result<Self> {
        let parts = split_payload(payload)?;
        let packet = Packet::decode_with(parts.packet, opts)?;
        let trailer = match parts.trailer {
            Some(t) => Some(AuthTrailer::decode_at(t, parts.authenticated_len())?),
            None => None,
        };
        Ok(Self {
            packet,
            lls: parts.lls.map(<[u8]>::to_vec),
            trailer,
        })
    }

    /// Bytes of the whole payload.
    pub fn encoded_len(&self) -> usize {
        self.packet.encoded_len()
            + self.lls.as_ref().map_or(0, Vec::len)
            + self.trailer.as_ref().map_or(0, AuthTrailer::encoded_len)
    }

    /// Writes packet, LLS block and trailer as held (no digest is computed here: see
    /// [`crate::auth::SecurityAssociation::append_trailer`]).
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.packet.encode(buf);
        if let Some(l) = &self.lls {
            buf.put_slice(l);
        }
        if let Some(t) = &self.trailer {
            t.encode(buf);
        }
    }

    /// Encodes into a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{HmacAlgorithm, SecurityAssociation};

    fn hello(options: Options) -> Packet {
        Packet {
            header: PacketHeader {
                router_id: Ipv4Addr::new(1, 1, 1, 1),
                area_id: Ipv4Addr::UNSPECIFIED,
                checksum: 0,
                instance_id: 0,
            },
            body: PacketBody::Hello(Hello {
                interface_id: 1,
                priority: 1,
                options,
                hello_interval: 10,
                dead_interval: 40,
                designated_router: Ipv4Addr::UNSPECIFIED,
                backup_designated_router: Ipv4Addr::UNSPECIFIED,
                neighbors: vec![],
            }),
        }
    }

    #[test]
    fn lls_block_and_trailer_are_split_and_authenticated() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let sa = SecurityAssociation::new(3, HmacAlgorithm::Sha1, b"k");
        let mut bytes = hello(Options::V6 | Options::L | Options::AT).to_bytes();
        // LLS block: checksum 0, 3 words, one Extended Options TLV (type 1, length 4).
        let lls = [0, 0, 0, 3, 0, 1, 0, 4, 0, 0, 0, 1];
        bytes.extend_from_slice(&lls);
        sa.append_trailer(&src, &mut bytes, 9);
        let parts = split_payload(&bytes).unwrap();
        assert_eq!(parts.packet.len(), 36);
        assert_eq!(parts.lls, Some(&lls[..]));
        assert_eq!(parts.trailer.map(<[u8]>::len), Some(16 + 20));
        let d = Datagram::decode(&bytes).unwrap();
        assert_eq!(d.lls.as_deref(), Some(&lls[..]));
        assert_eq!(d.to_bytes(), bytes);
        assert_eq!(sa.verify_payload(&src, &bytes), Ok(9));
        // The LLS block is covered by the digest.
        let mut bad = bytes.clone();
        bad[36 + 11] ^= 1;
        assert!(sa.verify_payload(&src, &bad).is_err());
    }

    #[test]
    fn lls_length_beyond_payload_is_an_error() {
        let mut bytes = hello(Options::V6 | Options::L).to_bytes();
        bytes.extend_from_slice(&[0, 0, 0, 9]);
        assert!(matches!(
            Datagram::decode(&bytes),
            Err(DecodeError::BadLength {
                what: "LLS data block",
                offset: 36,
                ..
            })
        ));
    }

    #[test]
    fn bytes_after_a_packet_must_form_a_trailer() {
        let mut bytes = hello(Options::V6).to_bytes();
        bytes.extend_from_slice(&[0, 1, 0, 8]);
        assert!(matches!(
            Datagram::decode(&bytes),
            Err(DecodeError::BadTrailer { offset: 36, .. })
        ));
        // Packet::decode alone reads only the packet's length.
        assert!(Packet::decode(&bytes).is_ok());
    }
}
