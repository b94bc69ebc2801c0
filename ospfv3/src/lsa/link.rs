//! Link-LSA, LS type 0x0008 (RFC 5340 A.4.9): link-local scope; the router's
//! link-local address, priority and options on the link, and the link's prefixes.

use std::net::Ipv6Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::options::Options;
use crate::prefix::Prefix;
use crate::reader::Reader;

/// Smallest encoding of one prefix (PrefixLength 0).
const MIN_PREFIX_LEN: u64 = 4;

/// Link-LSA body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLsa {
    /// Router Priority on the link.
    pub priority: u8,
    /// Options the router sets in the Network-LSA of the link.
    pub options: Options,
    /// The router's link-local address on the link.
    pub link_local_address: Ipv6Addr,
    /// Prefixes to associate with the link.
    pub prefixes: Vec<Prefix>,
}

impl LinkLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let priority = r.u8("Rtr Priority")?;
        let options = Options::from_wire(r.u24("Link-LSA options")?);
        let link_local_address = r.ipv6("Link-local Interface Address")?;
        let count_at = r.offset();
        let count = r.u32("# prefixes")?;
        r.check_count("Link-LSA prefixes", count_at, count.into(), MIN_PREFIX_LEN)?;
        let mut prefixes = Vec::new();
        for _ in 0..count {
            let (p, _reserved) = Prefix::decode(r)?;
            prefixes.push(p);
        }
        Ok(Self {
            priority,
            options,
            link_local_address,
            prefixes,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        24 + self.prefixes.iter().map(Prefix::wire_len).sum::<usize>()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.priority);
        self.options.encode(buf);
        buf.put_slice(&self.link_local_address.octets());
        buf.put_u32(self.prefixes.len() as u32);
        for p in &self.prefixes {
            p.encode(0, buf);
        }
    }
}
