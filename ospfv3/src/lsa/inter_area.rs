//! Inter-Area-Prefix-LSA (0x2003, RFC 5340 A.4.5) and Inter-Area-Router-LSA (0x2004,
//! A.4.6), originated by area border routers.

use std::net::Ipv4Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::options::Options;
use crate::prefix::Prefix;
use crate::reader::Reader;

/// Inter-Area-Prefix-LSA body: one prefix outside the area and its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterAreaPrefixLsa {
    /// Cost to the prefix (24 bits).
    pub metric: u32,
    /// The prefix.
    pub prefix: Prefix,
}

impl InterAreaPrefixLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let _reserved = r.u8("Inter-Area-Prefix-LSA reserved")?;
        let metric = r.u24("Inter-Area-Prefix-LSA metric")?;
        let (prefix, _reserved) = Prefix::decode(r)?;
        Ok(Self { metric, prefix })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        4 + self.prefix.wire_len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(0);
        buf.put_uint(u64::from(self.metric & 0x00FF_FFFF), 3);
        self.prefix.encode(0, buf);
    }
}

/// Inter-Area-Router-LSA body: one AS boundary router outside the area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterAreaRouterLsa {
    /// The destination router's options.
    pub options: Options,
    /// Cost to the router (24 bits).
    pub metric: u32,
    /// The destination router's Router ID.
    pub destination_router_id: Ipv4Addr,
}

impl InterAreaRouterLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let _reserved = r.u8("Inter-Area-Router-LSA reserved")?;
        let options = Options::from_wire(r.u24("Inter-Area-Router-LSA options")?);
        let _reserved = r.u8("Inter-Area-Router-LSA reserved")?;
        let metric = r.u24("Inter-Area-Router-LSA metric")?;
        let destination_router_id = r.ipv4("Destination Router ID")?;
        Ok(Self {
            options,
            metric,
            destination_router_id,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        12
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(0);
        self.options.encode(buf);
        buf.put_u8(0);
        buf.put_uint(u64::from(self.metric & 0x00FF_FFFF), 3);
        buf.put_u32(self.destination_router_id.into());
    }
}
