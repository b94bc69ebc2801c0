//! Intra-Area-Prefix-LSA, LS type 0x2009 (RFC 5340 A.4.10): prefixes attached to a
//! router (referencing its Router-LSA) or to a transit network (referencing the
//! Network-LSA).

use std::net::Ipv4Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::lsa::LsaType;
use crate::prefix::Prefix;
use crate::reader::Reader;

/// Smallest encoding of one prefix (PrefixLength 0).
const MIN_PREFIX_LEN: u64 = 4;

/// One prefix with its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntraAreaPrefix {
    /// The prefix.
    pub prefix: Prefix,
    /// Cost of the prefix.
    pub metric: u16,
}

/// Intra-Area-Prefix-LSA body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntraAreaPrefixLsa {
    /// Referenced LS Type: Router-LSA or Network-LSA.
    pub referenced_ls_type: LsaType,
    /// Referenced Link State ID (0 for a Router-LSA, the DR's Interface ID otherwise).
    pub referenced_link_state_id: Ipv4Addr,
    /// Referenced Advertising Router.
    pub referenced_advertising_router: Ipv4Addr,
    /// The prefixes.
    pub prefixes: Vec<IntraAreaPrefix>,
}

impl IntraAreaPrefixLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let count_at = r.offset();
        let count = r.u16("# Prefixes")?;
        let referenced_ls_type = LsaType(r.u16("Referenced LS Type")?);
        let referenced_link_state_id = r.ipv4("Referenced Link State ID")?;
        let referenced_advertising_router = r.ipv4("Referenced Advertising Router")?;
        r.check_count(
            "Intra-Area-Prefix-LSA prefixes",
            count_at,
            count.into(),
            MIN_PREFIX_LEN,
        )?;
        let mut prefixes = Vec::new();
        for _ in 0..count {
            let (prefix, metric) = Prefix::decode(r)?;
            prefixes.push(IntraAreaPrefix { prefix, metric });
        }
        Ok(Self {
            referenced_ls_type,
            referenced_link_state_id,
            referenced_advertising_router,
            prefixes,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        12 + self
            .prefixes
            .iter()
            .map(|p| p.prefix.wire_len())
            .sum::<usize>()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u16(self.prefixes.len() as u16);
        buf.put_u16(self.referenced_ls_type.0);
        buf.put_u32(self.referenced_link_state_id.into());
        buf.put_u32(self.referenced_advertising_router.into());
        for p in &self.prefixes {
            p.prefix.encode(p.metric, buf);
        }
    }
}
