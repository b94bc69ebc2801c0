//! Link State Request packet, type 3 (RFC 5340 A.3.4): asks for the newest instances
//! of LSAs seen in DD packets.

use std::net::Ipv4Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::lsa::LsaType;
use crate::reader::Reader;

/// Length of one request entry.
pub const LSR_ENTRY_LEN: usize = 12;

/// One requested LSA, identified by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LsRequestEntry {
    /// LS type.
    pub ls_type: LsaType,
    /// Link State ID.
    pub link_state_id: Ipv4Addr,
    /// Advertising Router.
    pub advertising_router: Ipv4Addr,
}

/// Link State Request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkStateRequest {
    /// The requested LSAs.
    pub entries: Vec<LsRequestEntry>,
}

impl LinkStateRequest {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut entries = Vec::new();
        while r.remaining() > 0 {
            let mut e = r.sub("LSR entry", LSR_ENTRY_LEN)?;
            let _reserved = e.u16("LSR reserved")?;
            entries.push(LsRequestEntry {
                ls_type: LsaType(e.u16("LS Type")?),
                link_state_id: e.ipv4("Link State ID")?,
                advertising_router: e.ipv4("Advertising Router")?,
            });
        }
        Ok(Self { entries })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        LSR_ENTRY_LEN * self.entries.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        for e in &self.entries {
            buf.put_u16(0);
            buf.put_u16(e.ls_type.0);
            buf.put_u32(e.link_state_id.into());
            buf.put_u32(e.advertising_router.into());
        }
    }
}
