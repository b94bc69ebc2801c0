//! Hello packet, type 1 (RFC 5340 A.3.2): discovers neighbors, elects the DR and BDR.

use std::net::Ipv4Addr;

use bytes::BufMut;

use crate::error::Result;
use crate::options::Options;
use crate::reader::Reader;

/// Fixed part of the Hello body.
pub const HELLO_FIXED_LEN: usize = 20;

/// Hello body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sending interface's Interface ID.
    pub interface_id: u32,
    /// Router Priority, for DR election.
    pub priority: u8,
    /// Options.
    pub options: Options,
    /// Seconds between Hellos.
    pub hello_interval: u16,
    /// Seconds of silence before the neighbor is declared down.
    pub dead_interval: u16,
    /// Designated Router's Router ID (0.0.0.0 for none).
    pub designated_router: Ipv4Addr,
    /// Backup Designated Router's Router ID (0.0.0.0 for none).
    pub backup_designated_router: Ipv4Addr,
    /// Router IDs of the routers heard from recently on the link.
    pub neighbors: Vec<Ipv4Addr>,
}

impl Hello {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let interface_id = r.u32("Interface ID")?;
        let priority = r.u8("Rtr Priority")?;
        let options = Options::from_wire(r.u24("Hello options")?);
        let hello_interval = r.u16("HelloInterval")?;
        let dead_interval = r.u16("RouterDeadInterval")?;
        let designated_router = r.ipv4("Designated Router ID")?;
        let backup_designated_router = r.ipv4("Backup Designated Router ID")?;
        let mut neighbors = Vec::new();
        while r.remaining() > 0 {
            neighbors.push(r.ipv4("Neighbor ID")?);
        }
        Ok(Self {
            interface_id,
            priority,
            options,
            hello_interval,
            dead_interval,
            designated_router,
            backup_designated_router,
            neighbors,
        })
    }

    /// Bytes the body takes.
    pub fn encoded_len(&self) -> usize {
        HELLO_FIXED_LEN + 4 * self.neighbors.len()
    }

    /// Writes the body.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32(self.interface_id);
        buf.put_u8(self.priority);
        self.options.encode(buf);
        buf.put_u16(self.hello_interval);
        buf.put_u16(self.dead_interval);
        buf.put_u32(self.designated_router.into());
        buf.put_u32(self.backup_designated_router.into());
        for n in &self.neighbors {
            buf.put_u32((*n).into());
        }
    }
}
