//! Network-LSA, LS type 0x2002 (RFC 5340 A.4.4): originated by the DR of a transit
//! link, listing the routers fully adjacent to it.

use std::net::Ipv4Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::options::Options;
use crate::reader::Reader;

/// Network-LSA body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkLsa {
    /// Union of the options of the attached routers' Link-LSAs.
    pub options: Options,
    /// Router IDs of the attached routers, the DR included.
    pub attached_routers: Vec<Ipv4Addr>,
}

impl NetworkLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let _reserved = r.u8("Network-LSA reserved")?;
        let options = Options::from_wire(r.u24("Network-LSA options")?);
        let mut attached_routers = Vec::new();
        while r.remaining() > 0 {
            attached_routers.push(r.ipv4("Attached Router")?);
        }
        Ok(Self {
            options,
            attached_routers,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        4 + 4 * self.attached_routers.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(0);
        self.options.encode(buf);
        for a in &self.attached_routers {
            buf.put_u32((*a).into());
        }
    }
}
