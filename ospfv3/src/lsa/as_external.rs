//! AS-External-LSA (0x4005, RFC 5340 A.4.7) and NSSA-LSA (0x2007, A.4.8), which share
//! one body: E/F/T flags, metric, prefix, and the optional forwarding address,
//! external route tag and referenced Link State ID.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use crate::error::Result;
use crate::lsa::LsaType;
use crate::prefix::Prefix;
use crate::reader::Reader;

const FLAG_T: u8 = 0x01;
const FLAG_F: u8 = 0x02;
const FLAG_E: u8 = 0x04;

/// The external metric type, from the E bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExternalMetricType {
    /// E clear: comparable with link-state metrics.
    #[default]
    Type1,
    /// E set: larger than any link-state path.
    Type2,
}

/// The LSA an external route refers to (Referenced LS Type non-zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReferencedLs {
    /// Referenced LS Type (non-zero).
    pub ls_type: LsaType,
    /// Referenced Link State ID.
    pub link_state_id: Ipv4Addr,
}

/// AS-External-LSA or NSSA-LSA body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsExternalLsa {
    /// E bit.
    pub metric_type: ExternalMetricType,
    /// Cost (24 bits).
    pub metric: u32,
    /// The external prefix.
    pub prefix: Prefix,
    /// Present when the F bit is set.
    pub forwarding_address: Option<Ipv6Addr>,
    /// Present when the T bit is set.
    pub route_tag: Option<u32>,
    /// Present when Referenced LS Type is not 0.
    pub referenced: Option<ReferencedLs>,
}

impl AsExternalLsa {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let flags = r.u8("AS-External-LSA flags")?;
        let metric = r.u24("AS-External-LSA metric")?;
        let (prefix, referenced_type) = Prefix::decode(r)?;
        let forwarding_address = if flags & FLAG_F != 0 {
            Some(r.ipv6("Forwarding Address")?)
        } else {
            None
        };
        let route_tag = if flags & FLAG_T != 0 {
            Some(r.u32("External Route Tag")?)
        } else {
            None
        };
        let referenced = if referenced_type != 0 {
            Some(ReferencedLs {
                ls_type: LsaType(referenced_type),
                link_state_id: r.ipv4("Referenced Link State ID")?,
            })
        } else {
            None
        };
        Ok(Self {
            metric_type: if flags & FLAG_E != 0 {
                ExternalMetricType::Type2
            } else {
                ExternalMetricType::Type1
            },
            metric,
            prefix,
            forwarding_address,
            route_tag,
            referenced,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        4 + self.prefix.wire_len()
            + self.forwarding_address.map_or(0, |_| 16)
            + self.route_tag.map_or(0, |_| 4)
            + self.referenced.map_or(0, |_| 4)
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let mut flags = 0;
        if self.metric_type == ExternalMetricType::Type2 {
            flags |= FLAG_E;
        }
        if self.forwarding_address.is_some() {
            flags |= FLAG_F;
        }
        if self.route_tag.is_some() {
            flags |= FLAG_T;
        }
        buf.put_u8(flags);
        buf.put_uint(u64::from(self.metric & 0x00FF_FFFF), 3);
        let referenced_type = self.referenced.map_or(0, |r| r.ls_type.0);
        self.prefix.encode(referenced_type, buf);
        if let Some(a) = self.forwarding_address {
            buf.put_slice(&a.octets());
        }
        if let Some(t) = self.route_tag {
            buf.put_u32(t);
        }
        if let Some(r) = self.referenced {
            buf.put_u32(r.link_state_id.into());
        }
    }
}
