//! Router-LSA, LS type 0x2001 (RFC 5340 A.4.3): the router's flags, options and one
//! 16-byte description per point-to-point, transit or virtual link.

use std::net::Ipv4Addr;

use bitflags::bitflags;
use bytes::BufMut;

use crate::error::Result;
use crate::options::Options;
use crate::reader::Reader;

bitflags! {
    /// Router-LSA flags byte. Unknown bits are kept as received.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RouterFlags: u8 {
        /// Area border router.
        const B = 0x01;
        /// AS boundary router.
        const E = 0x02;
        /// Endpoint of a fully adjacent virtual link.
        const V = 0x04;
        /// Wild-card multicast receiver (deprecated).
        const W = 0x08;
        /// NSSA border router that translates unconditionally (RFC 3101).
        const NT = 0x10;
        /// Keep every other bit.
        const _ = 0xFF;
    }
}

/// The kind of a router link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouterLinkType {
    /// 1: point-to-point connection to another router.
    PointToPoint,
    /// 2: connection to a transit network.
    Transit,
    /// 4: virtual link.
    VirtualLink,
    /// Any other value, kept for re-encoding.
    Other(u8),
}

impl RouterLinkType {
    /// From the wire byte.
    pub fn from_wire(v: u8) -> Self {
        match v {
            1 => Self::PointToPoint,
            2 => Self::Transit,
            4 => Self::VirtualLink,
            o => Self::Other(o),
        }
    }

    /// To the wire byte.
    pub fn to_wire(self) -> u8 {
        match self {
            Self::PointToPoint => 1,
            Self::Transit => 2,
            Self::VirtualLink => 4,
            Self::Other(o) => o,
        }
    }
}

/// One link of a Router-LSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterLink {
    /// Link type.
    pub link_type: RouterLinkType,
    /// Cost of using this link.
    pub metric: u16,
    /// The originating router's Interface ID for the link.
    pub interface_id: u32,
    /// The neighbor's Interface ID (for transit links: the DR's).
    pub neighbor_interface_id: u32,
    /// The neighbor's Router ID (for transit links: the DR's).
    pub neighbor_router_id: Ipv4Addr,
}

/// Length of one link description.
pub const ROUTER_LINK_LEN: usize = 16;

/// Router-LSA body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterLsa {
    /// Flags (Nt, W, V, E, B).
    pub flags: RouterFlags,
    /// Options.
    pub options: Options,
    /// Link descriptions.
    pub links: Vec<RouterLink>,
}

impl RouterLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let flags = RouterFlags::from_bits_retain(r.u8("Router-LSA flags")?);
        let options = Options::from_wire(r.u24("Router-LSA options")?);
        let mut links = Vec::new();
        while r.remaining() > 0 {
            let mut l = r.sub("Router-LSA link", ROUTER_LINK_LEN)?;
            let link_type = RouterLinkType::from_wire(l.u8("link type")?);
            let _reserved = l.u8("link reserved")?;
            links.push(RouterLink {
                link_type,
                metric: l.u16("link metric")?,
                interface_id: l.u32("Interface ID")?,
                neighbor_interface_id: l.u32("Neighbor Interface ID")?,
                neighbor_router_id: l.ipv4("Neighbor Router ID")?,
            });
        }
        Ok(Self {
            flags,
            options,
            links,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        4 + ROUTER_LINK_LEN * self.links.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.flags.bits());
        self.options.encode(buf);
        for l in &self.links {
            buf.put_u8(l.link_type.to_wire());
            buf.put_u8(0);
            buf.put_u16(l.metric);
            buf.put_u32(l.interface_id);
            buf.put_u32(l.neighbor_interface_id);
            buf.put_u32(l.neighbor_router_id.into());
        }
    }
}
